//! The content-addressed response cache under `<project>/.evalgit/cache/`.
//!
//! # Layout, version 1 ([`CACHE_LAYOUT_VERSION`]); also in `docs/cache.md`
//!
//! ```text
//! .evalgit/cache/
//!   .gitignore              "*": the cache is never committed
//!   CACHEDIR.TAG            so backup tools skip it
//!   v1/responses/ab/<64 hex>.entry    one model output, keyed by scenario fingerprint
//!   v1/judgments/ab/<64 hex>.entry    one judge verdict, keyed by judgment fingerprint
//! ```
//!
//! `ab` is the first two hex characters of the fingerprint (at most 256 entries per directory
//! level, so 10,000 scenarios make directories of ~40 files). An entry file is two parts:
//!
//! ```text
//! {"checksum":"<blake3 hex of PAYLOAD>","fingerprint":"<64 hex>","kind":"response","version":1}\n
//! PAYLOAD (JSON of CachedResponse or CachedJudgment)
//! ```
//!
//! Reading verifies the version, the kind, that the fingerprint is the one asked for (the file
//! name is not trusted) and the checksum of the payload bytes; any mismatch, truncation or
//! garbage is reported as [`CacheLookup::Corrupt`] (a miss with a reason), never a panic.
//!
//! Writes are atomic: the entry is written to a uniquely named temporary file in the same
//! directory (`.tmp-<pid>-<random>`) and renamed over the final name. Two processes sharing
//! the cache may write the same fingerprint at once: both write complete files and the last
//! rename wins; a reader sees one complete entry or none. No fsync: after a power loss an
//! entry may be missing or truncated, which reads as a miss or as corrupt and is re-recorded.
//!
//! What is stored is exactly the fields of [`CachedResponse`] / [`CachedJudgment`]: no request
//! headers, no keys. Errors are never cached: callers only `put` successful answers (a failed
//! call must be retried by the next run). Outputs are stored as given: redaction is applied
//! by the caller before `put`.

use std::collections::HashSet;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::Fingerprint;
use crate::Error;
use crate::provider::Usage;

/// Version of the on-disk layout and entry format. A new version lives in a new `vN`
/// directory; old ones are simply not read (and `evalgit cache clear` removes them).
pub const CACHE_LAYOUT_VERSION: u32 = 1;

/// Temporary files older than this are leftovers of a killed process.
const STRAY_TEMP_AGE: Duration = Duration::from_secs(3600);

/// One recorded model output, with what it cost when it was produced (a replay reports this
/// cost, and spends nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedResponse {
    pub output: String,
    pub model: String,
    pub usage: Usage,
    /// `None` when the model's price was unknown.
    pub cost_usd: Option<f64>,
    pub latency_ms: u64,
    pub created_unix: u64,
}

/// One recorded judge verdict for a model-graded check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedJudgment {
    pub pass: bool,
    pub score: f64,
    pub reason: String,
    pub usage: Usage,
    /// `None` when the judge model's price was unknown.
    pub cost_usd: Option<f64>,
    pub model: String,
}

/// The answer to a cache read.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheLookup<T = CachedResponse> {
    Hit(T),
    Miss,
    /// The entry exists but cannot be trusted; why, naming the file. Treat as a miss (the
    /// next `put` replaces it).
    Corrupt(String),
}

impl<T> CacheLookup<T> {
    /// The entry, if there is a trustworthy one.
    pub fn hit(self) -> Option<T> {
        match self {
            CacheLookup::Hit(t) => Some(t),
            _ => None,
        }
    }
}

/// What `evalgit cache stats` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    pub responses: u64,
    pub judgments: u64,
    /// Bytes of entry files (not directories, not temporary files).
    pub bytes: u64,
    /// Modification times of the oldest and newest entry (seconds since the epoch).
    pub oldest_unix: Option<u64>,
    pub newest_unix: Option<u64>,
}

/// What `prune` and `clear` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    pub removed_responses: u64,
    pub removed_judgments: u64,
    /// Temporary files left behind by killed processes.
    pub removed_temp_files: u64,
    pub freed_bytes: u64,
    pub kept: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Response,
    Judgment,
}

impl EntryKind {
    const ALL: [EntryKind; 2] = [EntryKind::Response, EntryKind::Judgment];

    fn name(self) -> &'static str {
        match self {
            EntryKind::Response => "response",
            EntryKind::Judgment => "judgment",
        }
    }
    fn dir(self) -> &'static str {
        match self {
            EntryKind::Response => "responses",
            EntryKind::Judgment => "judgments",
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    checksum: Fingerprint,
    fingerprint: Fingerprint,
    kind: String,
    version: u32,
}

/// The response and judgment cache of one project.
#[derive(Debug, Clone)]
pub struct ResponseCache {
    /// `<root>/.evalgit/cache`.
    dir: PathBuf,
}

impl ResponseCache {
    /// The cache of the project at `root`. Creates nothing until the first `put`.
    pub fn open(root: &Path) -> Result<Self, Error> {
        Self::at(root.join(super::local_dir::LOCAL_DIR).join("cache"))
    }

    /// A cache in an explicit directory (tests, benchmarks).
    pub fn at(dir: PathBuf) -> Result<Self, Error> {
        match fs::metadata(&dir) {
            Ok(m) if !m.is_dir() => Err(Error::Other(format!(
                "the cache path {} exists but is not a directory: remove it or run `evalgit cache clear`",
                dir.display()
            ))),
            Ok(_) => Ok(ResponseCache { dir }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ResponseCache { dir }),
            Err(e) => Err(Error::io_path("read the cache directory", &dir, e)),
        }
    }

    /// The cache directory (`<root>/.evalgit/cache`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn version_dir(&self) -> PathBuf {
        self.dir.join(format!("v{CACHE_LAYOUT_VERSION}"))
    }

    fn path_of(&self, kind: EntryKind, fp: &Fingerprint) -> PathBuf {
        let hex = fp.to_hex();
        self.version_dir()
            .join(kind.dir())
            .join(&hex[..2])
            .join(format!("{hex}.entry"))
    }

    pub fn get(&self, fp: &Fingerprint) -> CacheLookup<CachedResponse> {
        self.read_entry(EntryKind::Response, fp)
    }

    /// Whether a response entry exists for `fp`, without reading or verifying it: cheap
    /// enough for `plan` to ask about 10,000 fingerprints. A corrupt entry counts as present
    /// here and as a miss on `get`.
    pub fn contains(&self, fp: &Fingerprint) -> bool {
        self.path_of(EntryKind::Response, fp).is_file()
    }

    /// Records a successful answer. Never call it with an error.
    pub fn put(&self, fp: &Fingerprint, entry: &CachedResponse) -> Result<(), Error> {
        self.write_entry(EntryKind::Response, fp, entry)
    }

    pub fn get_judgment(&self, fp: &Fingerprint) -> CacheLookup<CachedJudgment> {
        self.read_entry(EntryKind::Judgment, fp)
    }

    /// Records a valid judge verdict. Never call it with an error or an unparsable reply.
    pub fn put_judgment(&self, fp: &Fingerprint, entry: &CachedJudgment) -> Result<(), Error> {
        self.write_entry(EntryKind::Judgment, fp, entry)
    }

    fn read_entry<T: DeserializeOwned>(&self, kind: EntryKind, fp: &Fingerprint) -> CacheLookup<T> {
        let path = self.path_of(kind, fp);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return CacheLookup::Miss,
            Err(e) => return CacheLookup::Corrupt(format!("{}: cannot read: {e}", path.display())),
        };
        match decode::<T>(kind, fp, &bytes) {
            Ok(t) => CacheLookup::Hit(t),
            Err(why) => CacheLookup::Corrupt(format!("{}: {why}", path.display())),
        }
    }

    fn write_entry<T: Serialize>(
        &self,
        kind: EntryKind,
        fp: &Fingerprint,
        entry: &T,
    ) -> Result<(), Error> {
        let payload = serde_json::to_vec(entry)
            .map_err(|e| Error::Other(format!("cannot encode a cache entry: {e}")))?;
        let header = Header {
            checksum: Fingerprint::of_bytes(&payload),
            fingerprint: *fp,
            kind: kind.name().to_string(),
            version: CACHE_LAYOUT_VERSION,
        };
        let mut bytes = serde_json::to_vec(&header)
            .map_err(|e| Error::Other(format!("cannot encode a cache entry: {e}")))?;
        bytes.push(b'\n');
        bytes.extend_from_slice(&payload);

        let path = self.path_of(kind, fp);
        let dir = path.parent().unwrap_or(&self.dir).to_path_buf();
        if !dir.is_dir() {
            self.init_root()?;
            fs::create_dir_all(&dir)
                .map_err(|e| Error::io_path("create the cache directory", &dir, e))?;
        }
        let tmp = dir.join(format!(
            ".tmp-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let written = fs::File::create_new(&tmp).and_then(|mut f| f.write_all(&bytes));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io_path("write the cache entry", &tmp, e));
        }
        if let Err(e) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io_path("write the cache entry", &path, e));
        }
        Ok(())
    }

    /// Creates the cache directory with its `.gitignore` and `CACHEDIR.TAG`.
    fn init_root(&self) -> Result<(), Error> {
        super::local_dir::create_dir_all(&self.dir)
            .map_err(|e| Error::io_path("create the cache directory", &self.dir, e))?;
        let ignore = self.dir.join(".gitignore");
        if !ignore.exists() {
            fs::write(
                &ignore,
                "# written by evalgit: the response cache is local, never committed\n*\n",
            )
            .map_err(|e| Error::io_path("write", &ignore, e))?;
        }
        let tag = self.dir.join("CACHEDIR.TAG");
        if !tag.exists() {
            fs::write(
                &tag,
                "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by evalgit.\n",
            )
            .map_err(|e| Error::io_path("write", &tag, e))?;
        }
        Ok(())
    }

    /// Counts entries and their size.
    pub fn stats(&self) -> Result<CacheStats, Error> {
        let mut stats = CacheStats::default();
        for kind in EntryKind::ALL {
            self.walk(kind, |file| {
                if let FileKind::Entry(_) = file.kind {
                    match kind {
                        EntryKind::Response => stats.responses += 1,
                        EntryKind::Judgment => stats.judgments += 1,
                    }
                    stats.bytes += file.len;
                    if let Some(t) = file.modified_unix {
                        stats.oldest_unix = Some(stats.oldest_unix.map_or(t, |o| o.min(t)));
                        stats.newest_unix = Some(stats.newest_unix.map_or(t, |n| n.max(t)));
                    }
                }
                Ok(())
            })?;
        }
        Ok(stats)
    }

    /// Removes entries last written more than `older_than` ago, and, when `keep` is given
    /// (the scenario fingerprints still in use), every response whose fingerprint is not in
    /// it. Judgments are removed by age only: their keys depend on outputs, so which ones are
    /// still in use cannot be known without the outputs, and re-judging costs money. Also
    /// removes temporary files older than an hour.
    pub fn prune(
        &self,
        older_than: Option<Duration>,
        keep: Option<&HashSet<Fingerprint>>,
    ) -> Result<PruneReport, Error> {
        let now = unix_now();
        let cutoff = older_than.map(|d| now.saturating_sub(d.as_secs()));
        let temp_cutoff = now.saturating_sub(STRAY_TEMP_AGE.as_secs());
        let mut report = PruneReport::default();
        for kind in EntryKind::ALL {
            self.walk(kind, |file| {
                let remove = match file.kind {
                    FileKind::Temp => file.modified_unix.is_some_and(|t| t < temp_cutoff),
                    FileKind::Entry(fp) => {
                        let too_old = match (cutoff, file.modified_unix) {
                            (Some(c), Some(t)) => t < c,
                            _ => false,
                        };
                        let unused =
                            kind == EntryKind::Response && keep.is_some_and(|k| !k.contains(&fp));
                        too_old || unused
                    }
                    FileKind::Other => false,
                };
                if !remove {
                    if let FileKind::Entry(_) = file.kind {
                        report.kept += 1;
                    }
                    return Ok(());
                }
                match fs::remove_file(file.path) {
                    Ok(()) => {}
                    // Another process pruned it first.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                    Err(e) => return Err(Error::io_path("remove the cache file", file.path, e)),
                }
                report.freed_bytes += file.len;
                match (file.kind, kind) {
                    (FileKind::Temp, _) => report.removed_temp_files += 1,
                    (_, EntryKind::Response) => report.removed_responses += 1,
                    (_, EntryKind::Judgment) => report.removed_judgments += 1,
                }
                Ok(())
            })?;
        }
        Ok(report)
    }

    /// Removes the whole cache directory (every layout version), reporting what it held.
    pub fn clear(&self) -> Result<PruneReport, Error> {
        let stats = self.stats()?;
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io_path("remove the cache directory", &self.dir, e)),
        }
        Ok(PruneReport {
            removed_responses: stats.responses,
            removed_judgments: stats.judgments,
            removed_temp_files: 0,
            freed_bytes: stats.bytes,
            kept: 0,
        })
    }

    /// Visits every file under `v1/<kind>/<ab>/`. Directories that vanish meanwhile (another
    /// process clearing the cache) are skipped.
    fn walk(
        &self,
        kind: EntryKind,
        mut visit: impl FnMut(WalkedFile<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let base = self.version_dir().join(kind.dir());
        for shard in read_dir_sorted(&base)? {
            if !shard.is_dir() {
                continue;
            }
            for path in read_dir_sorted(&shard)? {
                let Ok(meta) = fs::symlink_metadata(&path) else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let kind = if name.starts_with(".tmp-") {
                    FileKind::Temp
                } else if let Some(fp) = name
                    .strip_suffix(".entry")
                    .and_then(|h| h.parse::<Fingerprint>().ok())
                {
                    FileKind::Entry(fp)
                } else {
                    FileKind::Other
                };
                let modified_unix = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map(|d| d.as_secs());
                visit(WalkedFile {
                    path: &path,
                    kind,
                    len: meta.len(),
                    modified_unix,
                })?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum FileKind {
    Entry(Fingerprint),
    Temp,
    Other,
}

struct WalkedFile<'a> {
    path: &'a Path,
    kind: FileKind,
    len: u64,
    modified_unix: Option<u64>,
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io_path("read the cache directory", dir, e)),
    };
    let mut out: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    out.sort();
    Ok(out)
}

fn decode<T: DeserializeOwned>(
    kind: EntryKind,
    fp: &Fingerprint,
    bytes: &[u8],
) -> Result<T, String> {
    let newline = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("truncated entry (no header line)")?;
    let header: Header = serde_json::from_slice(&bytes[..newline])
        .map_err(|e| format!("unreadable entry header: {e}"))?;
    if header.version != CACHE_LAYOUT_VERSION {
        return Err(format!(
            "entry format version {} (expected {CACHE_LAYOUT_VERSION})",
            header.version
        ));
    }
    if header.kind != kind.name() {
        return Err(format!(
            "entry is a {} (expected a {})",
            header.kind,
            kind.name()
        ));
    }
    if header.fingerprint != *fp {
        return Err(format!(
            "entry holds fingerprint {} (expected {})",
            header.fingerprint.short(),
            fp.short()
        ));
    }
    let payload = &bytes[newline + 1..];
    if Fingerprint::of_bytes(payload) != header.checksum {
        return Err("checksum mismatch (truncated or modified entry)".to_string());
    }
    serde_json::from_slice(payload).map_err(|e| format!("unreadable entry payload: {e}"))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn fp(n: u8) -> Fingerprint {
        Fingerprint::of_bytes(&[n])
    }

    fn response(text: &str) -> CachedResponse {
        CachedResponse {
            output: text.to_string(),
            model: "smollm2-135m".into(),
            usage: Usage {
                input_tokens: 12,
                output_tokens: 3,
            },
            cost_usd: Some(0.0000009),
            latency_ms: 104,
            created_unix: 1_790_000_000,
        }
    }

    fn judgment() -> CachedJudgment {
        CachedJudgment {
            pass: true,
            score: 0.75,
            reason: "mentions Paris".into(),
            usage: Usage {
                input_tokens: 100,
                output_tokens: 20,
            },
            cost_usd: None,
            model: "judge-model".into(),
        }
    }

    fn cache() -> (tempfile::TempDir, ResponseCache) {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ResponseCache::open(dir.path()).expect("open");
        (dir, cache)
    }

    #[test]
    fn round_trip() {
        let (dir, cache) = cache();
        assert_eq!(cache.get(&fp(1)), CacheLookup::Miss);
        assert!(
            !dir.path().join(".evalgit").exists(),
            "open creates nothing"
        );
        let entry = response("Paris.\n\"quoted\" ünïcode");
        cache.put(&fp(1), &entry).expect("put");
        assert_eq!(cache.get(&fp(1)), CacheLookup::Hit(entry.clone()));
        assert_eq!(cache.get(&fp(2)), CacheLookup::Miss);
        assert!(cache.contains(&fp(1)) && !cache.contains(&fp(2)));
        // Judgments live apart from responses, even under the same fingerprint.
        assert_eq!(cache.get_judgment(&fp(1)), CacheLookup::Miss);
        cache
            .put_judgment(&fp(1), &judgment())
            .expect("put judgment");
        assert_eq!(cache.get_judgment(&fp(1)), CacheLookup::Hit(judgment()));
        assert_eq!(cache.get(&fp(1)), CacheLookup::Hit(entry));
        // An empty output is a real output.
        cache.put(&fp(3), &response("")).expect("put");
        assert_eq!(
            cache.get(&fp(3)).hit().map(|r| r.output),
            Some(String::new())
        );
        let hex = fp(1).to_hex();
        let file = dir.path().join(format!(
            ".evalgit/cache/v1/responses/{}/{hex}.entry",
            &hex[..2]
        ));
        assert!(file.is_file(), "layout: {}", file.display());
        assert!(dir.path().join(".evalgit/cache/.gitignore").is_file());
        assert!(dir.path().join(".evalgit/cache/CACHEDIR.TAG").is_file());
    }

    #[test]
    fn corrupt_entries_are_reported_not_fatal() {
        let (dir, cache) = cache();
        cache.put(&fp(1), &response("Paris")).expect("put");
        cache.put(&fp(2), &response("Tokyo")).expect("put");
        cache.put_judgment(&fp(1), &judgment()).expect("put");
        let path = |f: Fingerprint, kind: &str| {
            let hex = f.to_hex();
            dir.path().join(format!(
                ".evalgit/cache/v1/{kind}/{}/{hex}.entry",
                &hex[..2]
            ))
        };
        let good = fs::read(path(fp(1), "responses")).expect("read");
        let other = fs::read(path(fp(2), "responses")).expect("read");
        let newline = good.iter().position(|&b| b == b'\n').expect("header");
        let mut flipped = good.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0x01;
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("garbage", b"\x00\x01garbage\xff".to_vec(), "no header line"),
            ("empty", Vec::new(), "no header line"),
            (
                "truncated payload",
                good[..good.len() - 5].to_vec(),
                "checksum mismatch",
            ),
            (
                "truncated header",
                good[..newline / 2].to_vec(),
                "no header line",
            ),
            ("modified payload", flipped, "checksum mismatch"),
            ("wrong fingerprint", other, "holds fingerprint"),
            (
                "wrong version",
                String::from_utf8_lossy(&good)
                    .replace("\"version\":1", "\"version\":9")
                    .into_bytes(),
                "version 9",
            ),
            (
                "wrong kind",
                fs::read(path(fp(1), "judgments")).expect("read"),
                "is a judgment",
            ),
            (
                "header is not json",
                [b"{nope\n".as_slice(), &good[newline + 1..]].concat(),
                "unreadable entry header",
            ),
        ];
        for (name, bytes, want) in cases {
            fs::write(path(fp(1), "responses"), &bytes).expect("write");
            match cache.get(&fp(1)) {
                CacheLookup::Corrupt(why) => {
                    assert!(why.contains(want), "{name}: {why}");
                    assert!(why.contains(".entry"), "{name}: names the file: {why}");
                }
                other => panic!("{name}: expected Corrupt, got {other:?}"),
            }
        }
        // The next put replaces a corrupt entry.
        cache.put(&fp(1), &response("Paris")).expect("put");
        assert_eq!(cache.get(&fp(1)), CacheLookup::Hit(response("Paris")));
    }

    #[test]
    fn payload_with_valid_checksum_but_wrong_shape_is_corrupt() {
        let (_dir, cache) = cache();
        // A judgment stored, then read back as if it were written for a response's
        // fingerprint under the judgment kind: shape mismatch must not panic.
        cache.put_judgment(&fp(5), &judgment()).expect("put");
        let path = cache.path_of(EntryKind::Judgment, &fp(5));
        let payload = b"{\"pass\":\"yes\"}".to_vec();
        let header = Header {
            checksum: Fingerprint::of_bytes(&payload),
            fingerprint: fp(5),
            kind: "judgment".into(),
            version: 1,
        };
        let mut bytes = serde_json::to_vec(&header).expect("json");
        bytes.push(b'\n');
        bytes.extend_from_slice(&payload);
        fs::write(&path, bytes).expect("write");
        assert!(
            matches!(cache.get_judgment(&fp(5)), CacheLookup::Corrupt(why) if why.contains("payload"))
        );
    }

    #[test]
    fn concurrent_writers_on_the_same_fingerprint() {
        let (_dir, cache) = cache();
        let cache = Arc::new(cache);
        let entry = response("the same answer from every writer");
        let mut handles = Vec::new();
        for t in 0..6 {
            let cache = Arc::clone(&cache);
            let entry = entry.clone();
            handles.push(std::thread::spawn(move || {
                for _ in 0..40 {
                    if t % 2 == 0 {
                        cache.put(&fp(7), &entry).expect("put");
                    } else {
                        match cache.get(&fp(7)) {
                            CacheLookup::Hit(got) => assert_eq!(got, entry),
                            CacheLookup::Miss => {}
                            CacheLookup::Corrupt(why) => {
                                panic!("a reader saw a partial entry: {why}")
                            }
                        }
                    }
                }
            }));
        }
        for h in handles {
            h.join().expect("thread");
        }
        assert_eq!(cache.get(&fp(7)), CacheLookup::Hit(entry));
        let stats = cache.stats().expect("stats");
        assert_eq!(
            stats.responses, 1,
            "no temp files are left or counted: {stats:?}"
        );
        let shard = cache.path_of(EntryKind::Response, &fp(7));
        let files = fs::read_dir(shard.parent().expect("parent"))
            .expect("dir")
            .count();
        assert_eq!(files, 1, "temporary files were cleaned up by rename");
    }

    #[test]
    fn stats_and_prune() {
        let (_dir, cache) = cache();
        assert_eq!(cache.stats().expect("stats"), CacheStats::default());
        for n in 0..5 {
            cache.put(&fp(n), &response("x")).expect("put");
        }
        cache.put_judgment(&fp(100), &judgment()).expect("put");
        let stats = cache.stats().expect("stats");
        assert_eq!((stats.responses, stats.judgments), (5, 1));
        assert!(stats.bytes > 0);
        assert!(stats.oldest_unix.is_some() && stats.oldest_unix <= stats.newest_unix);

        // A stray temporary file, two hours old, and a fresh one (a writer in progress).
        let shard = cache.path_of(EntryKind::Response, &fp(0));
        let shard = shard.parent().expect("parent");
        let stray = shard.join(".tmp-1-00000000000000aa");
        let fresh = shard.join(".tmp-2-00000000000000bb");
        fs::write(&stray, b"partial").expect("write");
        fs::write(&fresh, b"partial").expect("write");
        let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
        fs::File::options()
            .write(true)
            .open(&stray)
            .expect("open")
            .set_modified(two_hours_ago)
            .expect("mtime");

        // Nothing is old enough: only the stray temp file goes.
        let report = cache
            .prune(Some(Duration::from_secs(3600)), None)
            .expect("prune");
        assert_eq!(report.removed_temp_files, 1);
        assert_eq!(
            (
                report.removed_responses,
                report.removed_judgments,
                report.kept
            ),
            (0, 0, 6)
        );
        assert!(!stray.exists() && fresh.exists());

        // Age out one entry.
        let old = cache.path_of(EntryKind::Response, &fp(4));
        fs::File::options()
            .write(true)
            .open(&old)
            .expect("open")
            .set_modified(two_hours_ago)
            .expect("mtime");
        let report = cache
            .prune(Some(Duration::from_secs(3600)), None)
            .expect("prune");
        assert_eq!(report.removed_responses, 1);
        assert_eq!(cache.get(&fp(4)), CacheLookup::Miss);

        // Keep only some fingerprints (judgments are pruned by age only).
        let keep: HashSet<Fingerprint> = [fp(0), fp(1)].into_iter().collect();
        let report = cache.prune(None, Some(&keep)).expect("prune");
        assert_eq!(
            (
                report.removed_responses,
                report.removed_judgments,
                report.kept
            ),
            (2, 0, 3)
        );
        assert!(report.freed_bytes > 0);
        assert!(cache.get(&fp(0)).hit().is_some());
        assert_eq!(cache.get(&fp(2)), CacheLookup::Miss);
        assert!(cache.get_judgment(&fp(100)).hit().is_some());

        let report = cache.clear().expect("clear");
        assert_eq!((report.removed_responses, report.removed_judgments), (2, 1));
        assert_eq!(cache.stats().expect("stats"), CacheStats::default());
        assert!(!cache.dir().exists());
        // Usable again after clear.
        cache.put(&fp(9), &response("y")).expect("put");
        assert!(cache.get(&fp(9)).hit().is_some());
    }

    #[test]
    fn a_file_where_the_cache_should_be_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join(".evalgit")).expect("mkdir");
        fs::write(dir.path().join(".evalgit/cache"), b"not a dir").expect("write");
        let err = ResponseCache::open(dir.path()).expect_err("must fail");
        assert!(err.to_string().contains("not a directory"), "{err}");
    }
}
