//! Snapshots: the accepted output of every scenario, committed under `snapshots/` and reviewed
//! in pull requests like code (format and workflow: `docs/snapshots.md`).
//!
//! `format` is the `.snap` file (version 1), `store` the directory layout and the pending
//! `.snap.new` workflow, `filter` selects scenarios for `accept`/`reject`/`review`, and
//! `review` is the interactive walk through pending changes.

mod filter;
mod format;
mod review;
mod revision;
mod store;

pub use filter::{Filter, glob_match};
pub use format::{SNAPSHOT_FORMAT, Snapshot, SnapshotError, SnapshotSample, SnapshotVerdict};
pub use review::{NOT_A_TERMINAL, ReviewSummary, review, review_interactive};
pub use revision::{ReplaySource, SourceSnapshots};
pub use store::{
    Pending, SnapshotStatus, SnapshotStore, StoreError, WriteMode, decode_name, encode_name,
};
