//! Accepted snapshots as they are at a git revision (or any [`Source`]), for replaying a
//! base revision's outputs without a checkout and without a model call.

use std::path::PathBuf;
use std::sync::Arc;

use super::store::encode_name;
use super::{Snapshot, SnapshotSample, SnapshotStore};
use crate::config::Source;

/// Where the runner finds accepted outputs by fingerprint.
pub trait ReplaySource: Send + Sync {
    /// The accepted sample of `suite`/`id` whose fingerprint is `fingerprint` (hex): what
    /// the runner replays first, before the cache.
    fn replay(&self, suite: &str, id: &str, fingerprint: &str) -> Option<SnapshotSample>;

    /// An accepted sample with this fingerprint under any name (a renamed scenario); only
    /// asked when [`Self::replay`] finds nothing.
    fn replay_renamed(&self, _fingerprint: &str) -> Option<SnapshotSample> {
        None
    }
}

impl ReplaySource for SnapshotStore {
    fn replay(&self, suite: &str, id: &str, fingerprint: &str) -> Option<SnapshotSample> {
        self.accepted_sample(suite, id, fingerprint)
    }

    fn replay_renamed(&self, fingerprint: &str) -> Option<SnapshotSample> {
        self.sample_by_fingerprint(fingerprint)
    }
}

/// The snapshots directory read through a [`Source`] (e.g. `git::RevisionSource`).
pub struct SourceSnapshots {
    source: Arc<dyn Source>,
    dir: String,
}

impl SourceSnapshots {
    pub fn new(source: Arc<dyn Source>, dir: &str) -> Self {
        SourceSnapshots {
            source,
            dir: dir.to_string(),
        }
    }

    /// The accepted snapshot of a scenario at this source; `None` when missing or unreadable.
    pub fn accepted(&self, suite: &str, id: &str) -> Option<Snapshot> {
        let path = PathBuf::from(&self.dir)
            .join(encode_name(suite))
            .join(format!("{}.snap", encode_name(id)));
        let bytes = self.source.read(&path).ok()??;
        let text = String::from_utf8(bytes).ok()?;
        Snapshot::parse(&text).ok()
    }
}

impl ReplaySource for SourceSnapshots {
    fn replay(&self, suite: &str, id: &str, fingerprint: &str) -> Option<SnapshotSample> {
        self.accepted(suite, id)?
            .samples
            .into_iter()
            .find(|s| s.fingerprint == fingerprint)
    }
}
