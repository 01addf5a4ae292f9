//! Accepted snapshots as they are at a git revision (or any [`Source`]), for replaying a
//! base revision's outputs without a checkout and without a model call.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

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
    /// Accepted snapshot files by the fingerprints they hold, built on the first lookup of
    /// a renamed scenario (see [`SnapshotStore::sample_by_fingerprint`] for the working tree).
    by_fingerprint: OnceLock<HashMap<String, PathBuf>>,
}

impl SourceSnapshots {
    pub fn new(source: Arc<dyn Source>, dir: &str) -> Self {
        SourceSnapshots {
            source,
            dir: dir.to_string(),
            by_fingerprint: OnceLock::new(),
        }
    }

    fn read(&self, path: &std::path::Path) -> Option<Snapshot> {
        let bytes = self.source.read(path).ok()??;
        let text = String::from_utf8(bytes).ok()?;
        Snapshot::parse(&text).ok()
    }

    fn index_fingerprints(&self) -> HashMap<String, PathBuf> {
        let root = PathBuf::from(&self.dir);
        let files = self
            .source
            .list_dirs(&root)
            .unwrap_or_default()
            .into_iter()
            .flat_map(|dir| self.source.list(&dir).unwrap_or_default())
            .filter(|f| f.extension().is_some_and(|e| e == "snap"));
        index_by_fingerprint(files, |f| self.read(f))
    }

    /// The accepted snapshot of a scenario at this source; `None` when missing or unreadable.
    pub fn accepted(&self, suite: &str, id: &str) -> Option<Snapshot> {
        let path = PathBuf::from(&self.dir)
            .join(encode_name(suite))
            .join(format!("{}.snap", encode_name(id)));
        self.read(&path)
    }
}

impl ReplaySource for SourceSnapshots {
    fn replay(&self, suite: &str, id: &str, fingerprint: &str) -> Option<SnapshotSample> {
        self.accepted(suite, id)?
            .samples
            .into_iter()
            .find(|s| s.fingerprint == fingerprint)
    }

    fn replay_renamed(&self, fingerprint: &str) -> Option<SnapshotSample> {
        let index = self
            .by_fingerprint
            .get_or_init(|| self.index_fingerprints());
        sample_of(self.read(index.get(fingerprint)?)?, fingerprint)
    }
}

/// Accepted snapshot files by the fingerprints of their samples (the first file wins), for
/// finding a renamed scenario's recording; files that cannot be read are left out. Shared by
/// the working tree ([`SnapshotStore`]) and a revision ([`SourceSnapshots`]).
pub(super) fn index_by_fingerprint(
    files: impl Iterator<Item = PathBuf>,
    read: impl Fn(&std::path::Path) -> Option<Snapshot>,
) -> HashMap<String, PathBuf> {
    let mut index = HashMap::new();
    for file in files {
        let Some(snapshot) = read(&file) else {
            continue;
        };
        for sample in snapshot.samples {
            index
                .entry(sample.fingerprint)
                .or_insert_with(|| file.clone());
        }
    }
    index
}

/// The sample of `snapshot` with this fingerprint.
pub(super) fn sample_of(snapshot: Snapshot, fingerprint: &str) -> Option<SnapshotSample> {
    snapshot
        .samples
        .into_iter()
        .find(|s| s.fingerprint == fingerprint)
}
