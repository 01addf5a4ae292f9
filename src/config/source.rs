//! Where configuration files are read from: the working tree, or a git revision (see
//! `git::RevisionSource`). The loader only ever reads through this trait, so the same code
//! loads the project as it is now and as it was at `origin/main`.

use std::path::{Path, PathBuf};

pub trait Source: Send + Sync {
    /// Reads a file by its path relative to the project root. `Ok(None)` when it does not
    /// exist.
    fn read(&self, rel: &Path) -> std::io::Result<Option<Vec<u8>>>;

    /// Lists the files (not directories) directly inside `rel_dir`, as root-relative paths,
    /// sorted. Empty when the directory does not exist.
    fn list(&self, rel_dir: &Path) -> std::io::Result<Vec<PathBuf>>;

    /// Lists the directories directly inside `rel_dir`, as root-relative paths, sorted
    /// (used to warn about suite files in subdirectories, which are not read).
    fn list_dirs(&self, rel_dir: &Path) -> std::io::Result<Vec<PathBuf>>;

    /// A short description for messages: `working tree` or `origin/main (3f2a9c1)`.
    fn describe(&self) -> String;
}

/// The files on disk under a root directory.
#[derive(Debug, Clone)]
pub struct WorkTree {
    pub root: PathBuf,
}

impl WorkTree {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        WorkTree { root: root.into() }
    }
}

impl WorkTree {
    /// The files (or directories) directly inside `rel_dir`, sorted; symlinks are followed.
    fn entries(&self, rel_dir: &Path, dirs: bool) -> std::io::Result<Vec<PathBuf>> {
        let dir = self.root.join(rel_dir);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            let wanted = if dirs { kind.is_dir() } else { kind.is_file() };
            if wanted {
                out.push(rel_dir.join(entry.file_name()));
            }
        }
        out.sort();
        Ok(out)
    }
}

impl Source for WorkTree {
    fn read(&self, rel: &Path) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.root.join(rel)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn list(&self, rel_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        self.entries(rel_dir, false)
    }

    fn list_dirs(&self, rel_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        self.entries(rel_dir, true)
    }

    fn describe(&self) -> String {
        "working tree".to_string()
    }
}

/// Files held in memory, keyed by root-relative path: for tests (of any module) that need a
/// project without touching the disk.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    pub files: std::collections::BTreeMap<PathBuf, String>,
}

impl MemorySource {
    pub fn new() -> Self {
        MemorySource::default()
    }

    /// Adds (or replaces) a file; builder style for table-driven tests.
    pub fn with(mut self, rel: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        self.insert(rel, text);
        self
    }

    pub fn insert(&mut self, rel: impl Into<PathBuf>, text: impl Into<String>) {
        self.files.insert(rel.into(), text.into());
    }
}

impl Source for MemorySource {
    fn read(&self, rel: &Path) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.files.get(rel).map(|text| text.clone().into_bytes()))
    }

    fn list(&self, rel_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        // BTreeMap keys are sorted, so the listing is too.
        Ok(self
            .files
            .keys()
            .filter(|p| p.parent() == Some(rel_dir))
            .cloned()
            .collect())
    }

    fn list_dirs(&self, rel_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        let mut dirs: Vec<PathBuf> = self
            .files
            .keys()
            .filter_map(|p| {
                let rest = p.strip_prefix(rel_dir).ok()?;
                let mut parts = rest.components();
                let first = parts.next()?;
                // Only a directory when something is below it.
                parts.next()?;
                Some(rel_dir.join(first))
            })
            .collect();
        dirs.dedup();
        Ok(dirs)
    }

    fn describe(&self) -> String {
        "memory".to_string()
    }
}
