//! Where snapshots live and how they change: `<snapshots_dir>/<suite>/<scenario>.snap` is the
//! accepted (committed) output; a new or changed result is written beside it as
//! `<scenario>.snap.new`, never over it, until someone accepts or rejects it.
//!
//! File names (stable, part of the layout): the suite and the scenario id each keep
//! `A-Z a-z 0-9 . _ -` and percent-encode every other byte of their UTF-8 as `%XX` (uppercase
//! hex), and a leading `.` is encoded too, so no name is hidden or walks out of its
//! directory (`..`). A name whose encoding exceeds 200 bytes keeps its first 183 bytes,
//! then `~` and 16 hex digits of the blake3 hash of the whole name; `~` never appears
//! otherwise, so such names cannot collide with plain ones. The true suite and id are always
//! in the file's header. On case-insensitive file systems, ids that differ only in case share
//! a file: avoid them.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::filter::Filter;
use super::format::{Snapshot, SnapshotSample};
use crate::runner::ScenarioResult;

const ACCEPTED_EXT: &str = ".snap";
const PENDING_EXT: &str = ".snap.new";
const MAX_ENCODED: usize = 200;

/// Whether a run may write pending snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Local runs: write `<id>.snap.new` for every new or changed result, and remove a stale
    /// one when the result matches again.
    Write,
    /// CI (`CI` set) and `run --check`: compare only; touch no file.
    Check,
}

impl WriteMode {
    /// `Check` when the `CI` environment variable is set to anything but empty, `0` or
    /// `false` (every major CI service sets `CI=true`), else `Write`.
    pub fn for_environment() -> Self {
        Self::from_ci_variable(std::env::var_os("CI").as_deref())
    }

    fn from_ci_variable(value: Option<&std::ffi::OsStr>) -> Self {
        match value.map(|v| v.to_str()) {
            None => WriteMode::Write,
            Some(Some(v)) if v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false") => {
                WriteMode::Write
            }
            Some(_) => WriteMode::Check,
        }
    }
}

/// How a result compares with its accepted snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotStatus {
    /// Same bytes as the accepted file (or the same content in a CRLF checkout).
    Matches,
    /// No accepted snapshot yet.
    New,
    /// Differs from the accepted snapshot (or the accepted file is unreadable).
    Changed,
    /// Nothing to snapshot: a provider error or a skipped scenario.
    NoOutput,
}

/// One `.snap.new` waiting for review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub suite: String,
    pub id: String,
    /// The `.snap.new` file.
    pub path: PathBuf,
    /// The accepted file's text, when there is one.
    pub accepted: Option<String>,
    /// The pending file's text.
    pub new: String,
}

impl Pending {
    /// The `.snap` file that accepting replaces.
    pub fn accepted_path(&self) -> PathBuf {
        accepted_path_of(&self.path)
    }

    pub fn key(&self) -> (String, String) {
        (self.suite.clone(), self.id.clone())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {action} {}: {source}", crate::error::display_rel(path))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A `.snap` file that does not parse. Callers treat the snapshot as missing and warn.
    #[error(
        "{}:{line}: {message}; fix the file, or delete it and run again to record a new snapshot",
        crate::error::display_rel(path)
    )]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

impl From<StoreError> for crate::Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Io {
                action,
                path,
                source,
            } => crate::Error::io_path(action, &path, source),
            corrupt @ StoreError::Corrupt { .. } => crate::Error::Other(corrupt.to_string()),
        }
    }
}

/// What `accept` did: the (suite, id) accepted, and the pending files it refused.
pub type Accepted = (Vec<(String, String)>, Vec<StoreError>);

/// The snapshots directory of one project.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    /// The project root; paths in errors are shown relative to it.
    pub root: PathBuf,
    /// The snapshots directory relative to the root (`snapshots` by default).
    pub dir: String,
    /// Accepted snapshot files by the fingerprints they hold, built on the first lookup that
    /// misses by name (see [`Self::sample_by_fingerprint`]).
    by_fingerprint: Arc<OnceLock<HashMap<String, PathBuf>>>,
}

impl SnapshotStore {
    pub fn new(root: &Path, dir: &str) -> Self {
        SnapshotStore {
            root: root.to_path_buf(),
            dir: dir.to_string(),
            by_fingerprint: Arc::default(),
        }
    }

    /// The snapshots directory itself.
    pub fn dir_path(&self) -> PathBuf {
        self.root.join(&self.dir)
    }

    /// The accepted file of a scenario.
    pub fn path(&self, suite: &str, id: &str) -> PathBuf {
        self.dir_path()
            .join(encode_name(suite))
            .join(format!("{}{ACCEPTED_EXT}", encode_name(id)))
    }

    /// The pending file of a scenario.
    pub fn new_path(&self, suite: &str, id: &str) -> PathBuf {
        self.dir_path()
            .join(encode_name(suite))
            .join(format!("{}{PENDING_EXT}", encode_name(id)))
    }

    /// A path as shown to users: relative to the project root.
    pub fn display(&self, path: &Path) -> String {
        crate::error::display_rel(path.strip_prefix(&self.root).unwrap_or(path))
    }

    /// The accepted snapshot, `None` when there is none. A file that does not parse is a
    /// [`StoreError::Corrupt`] naming the file and line.
    pub fn accepted(&self, suite: &str, id: &str) -> Result<Option<Snapshot>, StoreError> {
        let path = self.path(suite, id);
        match self.read_text(&path)? {
            None => Ok(None),
            Some(text) => Snapshot::parse(&text)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    path: self.rel(&path),
                    line: e.line,
                    message: e.message,
                }),
        }
    }

    /// The accepted sample with this fingerprint, so the runner can replay it without a model
    /// call (a fresh clone with an empty cache). Reads one small file; an unreadable or
    /// corrupt snapshot gives `None` (call [`Self::accepted`] to report why). For repeats,
    /// call `accepted` once and search its samples instead of calling this per sample.
    pub fn accepted_sample(
        &self,
        suite: &str,
        id: &str,
        fingerprint: &str,
    ) -> Option<SnapshotSample> {
        let snapshot = self.accepted(suite, id).ok()??;
        snapshot
            .samples
            .into_iter()
            .find(|s| s.fingerprint == fingerprint)
    }

    /// The accepted sample with this fingerprint in any accepted snapshot file. A fingerprint
    /// covers everything the model sees and nothing of the scenario's name, so a renamed
    /// scenario or suite replays the output accepted under its old name (whose file is still
    /// there until someone removes it) on a machine with an empty cache, as `plan` promises.
    /// The first call reads every accepted file once; unreadable files are left out.
    pub fn sample_by_fingerprint(&self, fingerprint: &str) -> Option<SnapshotSample> {
        let index = self
            .by_fingerprint
            .get_or_init(|| self.index_fingerprints());
        let text = self.read_text(index.get(fingerprint)?).ok()??;
        super::revision::sample_of(Snapshot::parse(&text).ok()?, fingerprint)
    }

    fn index_fingerprints(&self) -> HashMap<String, PathBuf> {
        let files = self
            .scan()
            .unwrap_or_default()
            .into_iter()
            .flat_map(|(_, files)| files)
            .filter(|f| file_name(f).ends_with(ACCEPTED_EXT));
        super::revision::index_by_fingerprint(files, |f| {
            Snapshot::parse(&self.read_text(f).ok()??).ok()
        })
    }

    /// Compares a result with its accepted snapshot and, in [`WriteMode::Write`], writes the
    /// pending `.snap.new` for a new or changed one (or removes a stale one when it matches
    /// again). [`WriteMode::Check`] writes and removes nothing.
    pub fn record(
        &self,
        result: &ScenarioResult,
        mode: WriteMode,
    ) -> Result<SnapshotStatus, StoreError> {
        let Some(snapshot) = Snapshot::from_result(result) else {
            return Ok(SnapshotStatus::NoOutput);
        };
        let rendered = snapshot.render();
        let path = self.path(&result.suite, &result.id);
        let status = match self.read_text(&path) {
            Ok(None) => SnapshotStatus::New,
            Ok(Some(text)) if text == rendered => SnapshotStatus::Matches,
            // The same content in other bytes (a CRLF checkout) is not a change, and neither
            // is a renamed provider: the name is a label in evalgit.toml, not part of the
            // fingerprint, and renaming it changes no output.
            Ok(Some(text)) => match Snapshot::parse(&text) {
                Ok(mut accepted) => {
                    accepted.provider.clone_from(&snapshot.provider);
                    if accepted.render() == rendered {
                        SnapshotStatus::Matches
                    } else {
                        SnapshotStatus::Changed
                    }
                }
                Err(_) => SnapshotStatus::Changed,
            },
            Err(StoreError::Corrupt { .. }) => SnapshotStatus::Changed,
            Err(e) => return Err(e),
        };
        if mode == WriteMode::Write {
            let new_path = self.new_path(&result.suite, &result.id);
            match status {
                SnapshotStatus::Matches => self.remove_if_exists(&new_path)?,
                SnapshotStatus::New | SnapshotStatus::Changed => {
                    if std::fs::read(&new_path).ok().as_deref() != Some(rendered.as_bytes()) {
                        self.write_atomic(&new_path, &rendered)?;
                    }
                }
                SnapshotStatus::NoOutput => {}
            }
        }
        Ok(status)
    }

    /// Every `.snap.new`, sorted by suite then id.
    pub fn pending(&self) -> Result<Vec<Pending>, StoreError> {
        let mut out = Vec::new();
        for (suite_dir, files) in self.scan()? {
            for file in files {
                let name = file_name(&file);
                let Some(stem) = name.strip_suffix(PENDING_EXT) else {
                    continue;
                };
                let new = self.read_lossy(&file)?.unwrap_or_default();
                let accepted = self.read_lossy(&accepted_path_of(&file))?;
                let (suite, id) = match Snapshot::parse(&new) {
                    Ok(s) => (s.suite, s.id),
                    Err(_) => (
                        decode_name(&file_name(&suite_dir))
                            .unwrap_or_else(|| file_name(&suite_dir)),
                        decode_name(stem).unwrap_or_else(|| stem.to_string()),
                    ),
                };
                out.push(Pending {
                    suite,
                    id,
                    path: file,
                    accepted,
                    new,
                });
            }
        }
        out.sort_by(|a, b| (&a.suite, &a.id, &a.path).cmp(&(&b.suite, &b.id, &b.path)));
        Ok(out)
    }

    /// Accepts the pending snapshots the filter selects; returns their (suite, id), and the
    /// pending files refused because they are not what a run writes (see [`Self::accept_one`]).
    pub fn accept(&self, filter: &Filter) -> Result<Accepted, StoreError> {
        let mut done = Vec::new();
        let mut refused = Vec::new();
        for p in self
            .pending()?
            .into_iter()
            .filter(|p| filter.matches(&p.suite, &p.id))
        {
            match self.accept_one(&p) {
                Ok(()) => done.push(p.key()),
                Err(e @ StoreError::Corrupt { .. }) => refused.push(e),
                Err(e) => return Err(e),
            }
        }
        Ok((done, refused))
    }

    /// Rejects (deletes) the pending snapshots the filter selects; returns their (suite, id).
    pub fn reject(&self, filter: &Filter) -> Result<Vec<(String, String)>, StoreError> {
        let mut done = Vec::new();
        for p in self
            .pending()?
            .into_iter()
            .filter(|p| filter.matches(&p.suite, &p.id))
        {
            self.reject_one(&p)?;
            done.push(p.key());
        }
        Ok(done)
    }

    /// Moves the `.snap.new` over the `.snap` in one rename, so the accepted file is never
    /// half-written. A pending file that does not parse, or whose header names a scenario
    /// that belongs in another file (a stray or hand-edited file), is refused as
    /// [`StoreError::Corrupt`]: an accepted snapshot is the baseline every later run trusts.
    pub fn accept_one(&self, pending: &Pending) -> Result<(), StoreError> {
        let snapshot = Snapshot::parse(&pending.new).map_err(|e| StoreError::Corrupt {
            path: self.rel(&pending.path),
            line: e.line,
            message: format!("not accepted: {}", e.message),
        })?;
        let expected = self.new_path(&snapshot.suite, &snapshot.id);
        if expected != pending.path {
            return Err(StoreError::Corrupt {
                path: self.rel(&pending.path),
                line: 1,
                message: format!(
                    "not accepted: its header names scenario {}/{}, whose pending file is {}",
                    snapshot.suite,
                    snapshot.id,
                    self.display(&expected)
                ),
            });
        }
        std::fs::rename(&pending.path, pending.accepted_path())
            .map_err(|e| self.io("accept", &pending.path, e))
    }

    pub fn reject_one(&self, pending: &Pending) -> Result<(), StoreError> {
        self.remove_if_exists(&pending.path)
    }

    /// Snapshot files (accepted and pending) whose scenario is not in `known` any more,
    /// sorted. Other files in the directory are left alone.
    pub fn unreferenced(
        &self,
        known: &BTreeSet<(String, String)>,
    ) -> Result<Vec<PathBuf>, StoreError> {
        let expected: HashSet<PathBuf> = known
            .iter()
            .map(|(suite, id)| self.path(suite, id))
            .collect();
        let mut out = Vec::new();
        for (_, files) in self.scan()? {
            for file in files {
                let name = file_name(&file);
                let accepted = if name.ends_with(PENDING_EXT) {
                    accepted_path_of(&file)
                } else if name.ends_with(ACCEPTED_EXT) {
                    file.clone()
                } else {
                    continue;
                };
                if !expected.contains(&accepted) {
                    out.push(file);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Deletes these files, then any suite directory left empty.
    pub fn delete(&self, paths: &[PathBuf]) -> Result<(), StoreError> {
        let mut dirs = BTreeSet::new();
        for path in paths {
            self.remove_if_exists(path)?;
            if let Some(parent) = path.parent() {
                dirs.insert(parent.to_path_buf());
            }
        }
        for dir in dirs {
            // Fails when the directory still holds files, which is what we want.
            let _ = std::fs::remove_dir(dir);
        }
        Ok(())
    }

    /// Suite directories and their files, sorted. A missing snapshots directory is empty.
    fn scan(&self) -> Result<Vec<(PathBuf, Vec<PathBuf>)>, StoreError> {
        let root = self.dir_path();
        let mut out = Vec::new();
        for dir in self.list(&root, true)? {
            let files = self.list(&dir, false)?;
            out.push((dir, files));
        }
        Ok(out)
    }

    fn list(&self, dir: &Path, dirs: bool) -> Result<Vec<PathBuf>, StoreError> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io("list", dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.io("list", dir, e))?;
            let kind = entry.file_type().map_err(|e| self.io("list", dir, e))?;
            if (dirs && kind.is_dir()) || (!dirs && kind.is_file()) {
                out.push(entry.path());
            }
        }
        out.sort();
        Ok(out)
    }

    fn read_text(&self, path: &Path) -> Result<Option<String>, StoreError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io("read", path, e)),
        };
        String::from_utf8(bytes).map(Some).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            StoreError::Corrupt {
                path: self.rel(path),
                line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
                message: "the file is not valid UTF-8".to_string(),
            }
        })
    }

    fn read_lossy(&self, path: &Path) -> Result<Option<String>, StoreError> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("read", path, e)),
        }
    }

    /// Writes through a temporary file and a rename, so a crash never leaves half a snapshot.
    fn write_atomic(&self, path: &Path, text: &str) -> Result<(), StoreError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let parent = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| self.io("create", parent, e))?;
        let tmp = parent.join(format!(
            ".{}.tmp{}-{}",
            file_name(path),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&tmp, text).map_err(|e| self.io("write", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            self.io("write", path, e)
        })
    }

    fn remove_if_exists(&self, path: &Path) -> Result<(), StoreError> {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io("delete", path, e)),
        }
    }

    fn rel(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.root).unwrap_or(path).to_path_buf()
    }

    fn io(&self, action: &'static str, path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            action,
            path: self.rel(path),
            source,
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn accepted_path_of(pending: &Path) -> PathBuf {
    let name = file_name(pending);
    let accepted = name.strip_suffix(".new").unwrap_or(&name);
    pending.with_file_name(accepted)
}

/// A suite name or scenario id as a file name (see the module docs; part of the layout).
pub fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.len() > MAX_ENCODED {
        let hash = blake3::hash(name.as_bytes()).to_hex();
        out.truncate(MAX_ENCODED - 17);
        out.push('~');
        out.push_str(&hash[..16]);
    }
    out
}

/// The inverse of [`encode_name`]; `None` for a shortened (hashed) or malformed name.
pub fn decode_name(encoded: &str) -> Option<String> {
    if encoded.contains('~') {
        return None;
    }
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = encoded.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::ScenarioStatus;
    use crate::snapshot::format::tests::result;

    fn store() -> (tempfile::TempDir, SnapshotStore) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = SnapshotStore::new(tmp.path(), "snapshots");
        (tmp, store)
    }

    fn scenario(suite: &str, id: &str, output: &str) -> ScenarioResult {
        let mut r = result(&[output]);
        r.suite = suite.into();
        r.id = id.into();
        r
    }

    fn files(store: &SnapshotStore) -> Vec<String> {
        let mut out = Vec::new();
        for (_, fs) in store.scan().expect("scan") {
            out.extend(fs.iter().map(|f| store.display(f)));
        }
        out
    }

    #[test]
    fn names_are_encoded_reversibly_and_safely() {
        let cases = [
            ("france", "france"),
            ("v1.2_final-x", "v1.2_final-x"),
            ("a b/c", "a%20b%2Fc"),
            ("..", "%2E."),
            (".hidden", "%2Ehidden"),
            ("東京", "%E6%9D%B1%E4%BA%AC"),
            ("100%", "100%25"),
            ("a~b", "a%7Eb"),
        ];
        for (name, encoded) in cases {
            assert_eq!(encode_name(name), encoded);
            assert_eq!(decode_name(encoded).as_deref(), Some(name));
        }
        let long = "東".repeat(100);
        let encoded = encode_name(&long);
        assert_eq!(encoded.len(), MAX_ENCODED);
        assert!(encoded.contains('~'));
        assert_ne!(encoded, encode_name(&format!("{long}x")));
        assert_eq!(decode_name(&encoded), None);
    }

    #[test]
    fn ci_variable_selects_check_mode() {
        let cases = [
            (None, WriteMode::Write),
            (Some(""), WriteMode::Write),
            (Some("0"), WriteMode::Write),
            (Some("false"), WriteMode::Write),
            (Some("true"), WriteMode::Check),
            (Some("1"), WriteMode::Check),
        ];
        for (value, mode) in cases {
            assert_eq!(
                WriteMode::from_ci_variable(value.map(std::ffi::OsStr::new)),
                mode,
                "{value:?}"
            );
        }
    }

    #[test]
    fn record_writes_pending_files_and_never_the_accepted_one() {
        let (_tmp, store) = store();
        let r = scenario("capitals", "france", "Paris");
        assert_eq!(
            store.record(&r, WriteMode::Write).expect("record"),
            SnapshotStatus::New
        );
        assert_eq!(files(&store), ["snapshots/capitals/france.snap.new"]);
        assert_eq!(
            store.accept(&Filter::all()).expect("accept").0,
            [("capitals".to_string(), "france".to_string())]
        );
        assert_eq!(files(&store), ["snapshots/capitals/france.snap"]);
        let accepted = std::fs::read(store.path("capitals", "france")).expect("accepted");

        assert_eq!(
            store.record(&r, WriteMode::Write).expect("record"),
            SnapshotStatus::Matches
        );
        let changed = scenario("capitals", "france", "Lyon");
        assert_eq!(
            store.record(&changed, WriteMode::Write).expect("record"),
            SnapshotStatus::Changed
        );
        assert_eq!(
            files(&store),
            [
                "snapshots/capitals/france.snap",
                "snapshots/capitals/france.snap.new"
            ]
        );
        assert_eq!(
            std::fs::read(store.path("capitals", "france")).expect("accepted"),
            accepted
        );

        // Back to the accepted answer: the stale pending file goes away.
        assert_eq!(
            store.record(&r, WriteMode::Write).expect("record"),
            SnapshotStatus::Matches
        );
        assert_eq!(files(&store), ["snapshots/capitals/france.snap"]);

        let mut error = r.clone();
        error.status = ScenarioStatus::Error;
        assert_eq!(
            store.record(&error, WriteMode::Write).expect("record"),
            SnapshotStatus::NoOutput
        );
        assert_eq!(files(&store), ["snapshots/capitals/france.snap"]);
    }

    // Regression: renaming a provider (no output changes, no calls) made CI fail with "N
    // outputs differ from the accepted snapshot".
    #[test]
    fn a_renamed_provider_is_not_a_changed_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SnapshotStore::new(dir.path(), "snapshots");
        let mut result = result(&["Paris"]);
        store.record(&result, WriteMode::Write).expect("record");
        store.accept(&Filter::all()).expect("accept");
        result.provider = "renamed".into();
        assert_eq!(
            store.record(&result, WriteMode::Check).expect("check"),
            SnapshotStatus::Matches
        );
        result.samples[0].output = Some("different".into());
        assert_eq!(
            store.record(&result, WriteMode::Check).expect("check"),
            SnapshotStatus::Changed
        );
    }

    #[test]
    fn check_mode_writes_nothing() {
        let (tmp, store) = store();
        let r = scenario("capitals", "france", "Paris");
        assert_eq!(
            store.record(&r, WriteMode::Check).expect("record"),
            SnapshotStatus::New
        );
        assert!(!tmp.path().join("snapshots").exists());

        store.record(&r, WriteMode::Write).expect("record");
        store.accept(&Filter::all()).expect("accept");
        store
            .record(&scenario("capitals", "france", "Lyon"), WriteMode::Write)
            .expect("record");
        let before = files(&store);
        // A stale pending file stays too: CI touches nothing.
        assert_eq!(
            store.record(&r, WriteMode::Check).expect("record"),
            SnapshotStatus::Matches
        );
        assert_eq!(
            store
                .record(&scenario("capitals", "france", "Nice"), WriteMode::Check)
                .expect("record"),
            SnapshotStatus::Changed
        );
        assert_eq!(files(&store), before);
        assert!(store.pending().expect("pending")[0].new.contains("Lyon"));
    }

    #[test]
    fn a_crlf_checkout_of_the_accepted_file_still_matches() {
        let (_tmp, store) = store();
        let r = scenario("capitals", "france", "Paris\nFrance");
        store.record(&r, WriteMode::Write).expect("record");
        store.accept(&Filter::all()).expect("accept");
        let path = store.path("capitals", "france");
        let crlf = std::fs::read_to_string(&path)
            .expect("read")
            .replace('\n', "\r\n");
        std::fs::write(&path, crlf).expect("write");
        assert_eq!(
            store.record(&r, WriteMode::Write).expect("record"),
            SnapshotStatus::Matches
        );
    }

    #[test]
    fn pending_accept_and_reject_follow_the_filter() {
        let (_tmp, store) = store();
        for (suite, id) in [
            ("capitals", "france"),
            ("capitals", "spain"),
            ("sentiment", "happy"),
            ("sentiment", "a/b c"),
        ] {
            store
                .record(&scenario(suite, id, "x"), WriteMode::Write)
                .expect("record");
        }
        let keys: Vec<_> = store
            .pending()
            .expect("pending")
            .iter()
            .map(|p| format!("{}/{}", p.suite, p.id))
            .collect();
        assert_eq!(
            keys,
            [
                "capitals/france",
                "capitals/spain",
                "sentiment/a/b c",
                "sentiment/happy"
            ]
        );
        assert!(
            store
                .pending()
                .expect("pending")
                .iter()
                .all(|p| p.accepted.is_none())
        );

        let accepted = store
            .accept(&Filter::new(vec![], vec![], vec!["capitals/f*".into()]))
            .expect("accept")
            .0;
        assert_eq!(accepted, [("capitals".to_string(), "france".to_string())]);
        let rejected = store
            .reject(&Filter::new(
                vec!["sentiment".into()],
                vec!["a/b c".into()],
                vec![],
            ))
            .expect("reject");
        assert_eq!(rejected, [("sentiment".to_string(), "a/b c".to_string())]);
        assert_eq!(
            files(&store),
            [
                "snapshots/capitals/france.snap",
                "snapshots/capitals/spain.snap.new",
                "snapshots/sentiment/happy.snap.new"
            ]
        );

        // A change to an accepted snapshot carries the accepted text for the diff.
        store
            .record(&scenario("capitals", "france", "y"), WriteMode::Write)
            .expect("record");
        let pending = store.pending().expect("pending");
        let france = pending
            .iter()
            .find(|p| p.id == "france")
            .expect("france pending");
        assert!(
            france
                .accepted
                .as_deref()
                .is_some_and(|a| a.ends_with("\nx\n"))
        );
        assert!(france.new.ends_with("\ny\n"));
        assert_eq!(france.accepted_path(), store.path("capitals", "france"));

        assert_eq!(store.accept(&Filter::all()).expect("accept").0.len(), 3);
        assert!(store.pending().expect("pending").is_empty());
        assert_eq!(
            store
                .accepted("capitals", "france")
                .expect("read")
                .expect("exists")
                .samples[0]
                .output,
            "y"
        );
    }

    /// Regression: `accept` renamed any `.snap.new` over the accepted file, garbage or a
    /// stray file whose header named another scenario.
    #[test]
    fn accept_refuses_pending_files_a_run_did_not_write() {
        let (tmp, store) = store();
        store
            .record(&scenario("capitals", "france", "Paris"), WriteMode::Write)
            .expect("record");
        let good = std::fs::read_to_string(store.new_path("capitals", "france")).expect("read");
        std::fs::write(store.new_path("capitals", "peru"), "garbage\n").expect("write");
        std::fs::write(store.new_path("capitals", "ghost"), &good).expect("write");
        let (done, refused) = store.accept(&Filter::all()).expect("accept");
        assert_eq!(done, [("capitals".to_string(), "france".to_string())]);
        let messages: Vec<String> = refused.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages.iter().any(|m| m.contains(
                "ghost.snap.new:1: not accepted: its header names scenario capitals/france"
            )),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("snapshots/capitals/peru.snap.new:1: not accepted")),
            "{messages:?}"
        );
        assert!(!store.path("capitals", "peru").exists());
        assert!(!store.path("capitals", "ghost").exists());
        assert!(tmp.path().join("snapshots/capitals/peru.snap.new").exists());
    }

    #[test]
    fn unreferenced_snapshots_are_found_and_deleted() {
        let (tmp, store) = store();
        for (suite, id) in [
            ("capitals", "france"),
            ("capitals", "gone"),
            ("removed", "x"),
        ] {
            store
                .record(&scenario(suite, id, "x"), WriteMode::Write)
                .expect("record");
        }
        store
            .accept(&Filter::new(
                vec![],
                vec![],
                vec!["*/x".into(), "france".into()],
            ))
            .expect("accept");
        std::fs::write(tmp.path().join("snapshots/capitals/README.md"), "notes").expect("write");
        let known: BTreeSet<_> = [("capitals".to_string(), "france".to_string())]
            .into_iter()
            .collect();
        let stale = store.unreferenced(&known).expect("unreferenced");
        let shown: Vec<_> = stale.iter().map(|p| store.display(p)).collect();
        assert_eq!(
            shown,
            [
                "snapshots/capitals/gone.snap.new",
                "snapshots/removed/x.snap"
            ]
        );
        store.delete(&stale).expect("delete");
        assert_eq!(
            files(&store),
            [
                "snapshots/capitals/README.md",
                "snapshots/capitals/france.snap"
            ]
        );
        assert!(!tmp.path().join("snapshots/removed").exists());
    }

    #[test]
    fn replay_finds_the_accepted_sample_by_fingerprint() {
        let (_tmp, store) = store();
        let mut r = result(&["Paris", "Paris!"]);
        r.samples[1].usage.output_tokens = 11;
        store.record(&r, WriteMode::Write).expect("record");
        assert!(
            store
                .accepted_sample("capitals", "france", &r.samples[1].fingerprint)
                .is_none(),
            "pending is not accepted"
        );
        store.accept(&Filter::all()).expect("accept");
        let sample = store
            .accepted_sample("capitals", "france", &r.samples[1].fingerprint)
            .expect("replayable");
        assert_eq!(
            (
                sample.output.as_str(),
                sample.usage.output_tokens,
                sample.model.as_deref()
            ),
            ("Paris!", 11, Some("smollm2-135m"))
        );
        assert_eq!(sample.cost_usd, Some(0.00000245));
        assert!(
            store
                .accepted_sample("capitals", "france", "0000")
                .is_none()
        );
        assert!(
            store
                .accepted_sample("capitals", "spain", &r.samples[0].fingerprint)
                .is_none()
        );
    }

    #[test]
    fn a_corrupt_snapshot_names_the_file_and_line() {
        let (_tmp, store) = store();
        let r = scenario("capitals", "france", "Paris");
        store.record(&r, WriteMode::Write).expect("record");
        store.accept(&Filter::all()).expect("accept");
        let path = store.path("capitals", "france");
        let text = std::fs::read_to_string(&path)
            .expect("read")
            .replace("tokens: 31 in, 9 out", "tokens: lots");
        std::fs::write(&path, text).expect("write");

        let err = store.accepted("capitals", "france").expect_err("corrupt");
        let message = err.to_string();
        assert!(
            message.starts_with("snapshots/capitals/france.snap:9: `tokens` must look like"),
            "{message}"
        );
        assert!(matches!(err, StoreError::Corrupt { line: 9, .. }));
        assert!(
            store
                .accepted_sample("capitals", "france", &r.samples[0].fingerprint)
                .is_none()
        );
        // The runner re-records it as a change to review.
        assert_eq!(
            store.record(&r, WriteMode::Write).expect("record"),
            SnapshotStatus::Changed
        );

        std::fs::write(&path, b"---\nformat: 1\n\xff\n").expect("write");
        let err = store.accepted("capitals", "france").expect_err("not utf-8");
        assert!(
            err.to_string()
                .starts_with("snapshots/capitals/france.snap:3: the file is not valid UTF-8"),
            "{err}"
        );
    }
}
