//! Reading a git repository with gix: resolving revisions and reading files as they are in a
//! commit, straight from the object database (no checkout, no `git` binary).

use std::cell::RefCell;
use std::path::{Component, Path, PathBuf};

use gix::ObjectId;
use gix::bstr::{BStr, BString, ByteSlice};

use crate::Error;

/// Symlinks followed when reading a file at a revision, as a filesystem would (bounded).
const MAX_SYMLINK_HOPS: usize = 8;

/// One repository, safe to share between threads (the config loader reads through it from
/// behind `&dyn Source`, which is `Send + Sync`).
///
/// gix's `Repository` is neither `Send` nor `Sync` without gix's `parallel` feature (it uses
/// `Rc` internally), and that feature pulls a thread pool we do not need. So this holds only
/// paths, and each thread opens the repository once and keeps it in a small thread-local
/// table: opening parses the git config (about a millisecond), reads then cost nothing extra.
#[derive(Debug, Clone)]
pub struct GitRepo {
    git_dir: PathBuf,
    workdir: PathBuf,
}

/// Repositories opened by this thread, most recent last.
const OPEN_PER_THREAD: usize = 8;

thread_local! {
    static OPEN: RefCell<Vec<(PathBuf, gix::Repository)>> = const { RefCell::new(Vec::new()) };
}

fn prepare(mut repo: gix::Repository) -> gix::Repository {
    // Trees and commits are looked up repeatedly while a project loads.
    repo.object_cache_size_if_unset(4 * 1024 * 1024);
    repo
}

fn remember(open: &mut Vec<(PathBuf, gix::Repository)>, git_dir: PathBuf, repo: gix::Repository) {
    open.retain(|(dir, _)| *dir != git_dir);
    if open.len() >= OPEN_PER_THREAD {
        open.remove(0);
    }
    open.push((git_dir, repo));
}

fn git_err(context: impl std::fmt::Display, e: impl std::fmt::Display) -> Error {
    Error::Git(format!("{context}: {e}"))
}

impl GitRepo {
    /// The repository containing `path` (searching upwards).
    pub fn discover(path: &Path) -> Result<GitRepo, Error> {
        let repo = gix::discover(path).map_err(|e| {
            Error::Usage(format!(
                "not a git repository: {} ({e}): `evalgit plan`, `evalgit diff` and `run --affected-since` compare git revisions; run `git init` and commit, or use `evalgit diff --base-results FILE`",
                path.display()
            ))
        })?;
        let git_dir =
            std::fs::canonicalize(repo.git_dir()).unwrap_or_else(|_| repo.git_dir().to_path_buf());
        let dir = repo
            .workdir()
            .unwrap_or_else(|| repo.git_dir())
            .to_path_buf();
        let workdir = std::fs::canonicalize(&dir).unwrap_or(dir);
        let this = GitRepo { git_dir, workdir };
        OPEN.with(|open| {
            if let Ok(mut open) = open.try_borrow_mut() {
                remember(&mut open, this.git_dir.clone(), prepare(repo));
            }
        });
        Ok(this)
    }

    /// The root of the working tree (the `.git` directory of a bare repository), absolute.
    pub fn workdir(&self) -> PathBuf {
        self.workdir.clone()
    }

    /// Runs `f` with this thread's handle on the repository, opening it on first use.
    fn with_repo<T>(
        &self,
        f: impl FnOnce(&gix::Repository) -> Result<T, Error>,
    ) -> Result<T, Error> {
        OPEN.with(|open| {
            let cached = open
                .try_borrow()
                .ok()
                .and_then(|o| o.iter().position(|(dir, _)| *dir == self.git_dir));
            if cached.is_none() {
                let repo = prepare(self.open()?);
                match open.try_borrow_mut() {
                    Ok(mut o) => remember(&mut o, self.git_dir.clone(), repo),
                    // Called from inside another `with_repo` on this thread: use a private handle.
                    Err(_) => return f(&repo),
                }
            }
            let o = open.borrow();
            match o.iter().find(|(dir, _)| *dir == self.git_dir) {
                Some((_, repo)) => f(repo),
                None => f(&prepare(self.open()?)),
            }
        })
    }

    fn open(&self) -> Result<gix::Repository, Error> {
        gix::open(&self.git_dir).map_err(|e| {
            git_err(
                format_args!("cannot open the git repository {}", self.git_dir.display()),
                e,
            )
        })
    }

    /// Where `path` (a directory inside the working tree, e.g. the project root) is,
    /// relative to the working tree root; empty for the root itself.
    pub fn prefix_of(&self, path: &Path) -> Result<PathBuf, Error> {
        let abs = std::fs::canonicalize(path).map_err(|e| Error::io_path("resolve", path, e))?;
        abs.strip_prefix(&self.workdir)
            .map(Path::to_path_buf)
            .map_err(|_| {
                Error::Git(format!(
                    "{} is not inside the git working tree {}",
                    path.display(),
                    self.workdir.display()
                ))
            })
    }

    /// The commit a revision names (`origin/main`, a SHA or a prefix of one, `HEAD~1`, a tag,
    /// annotated or not), as 40 hex characters.
    pub fn resolve(&self, rev: &str) -> Result<String, Error> {
        self.with_repo(|repo| resolve_commit(repo, rev).map(|id| id.to_string()))
    }

    /// The commit checked out, `None` on an unborn branch (a repository with no commit yet).
    pub fn head_commit(&self) -> Option<String> {
        self.with_repo(|repo| Ok(repo.head_id().ok().map(|id| id.to_string())))
            .ok()
            .flatten()
    }

    /// The best common ancestor of two revisions, as 40 hex characters.
    pub fn merge_base(&self, a: &str, b: &str) -> Result<String, Error> {
        const SHALLOW: &str =
            "in a shallow clone, run `git fetch --unshallow` or check out with `fetch-depth: 0`";
        self.with_repo(|repo| {
            let one = resolve_commit(repo, a)?;
            let two = resolve_commit(repo, b)?;
            match repo.merge_base(one, two) {
                Ok(Some(id)) => Ok(id.to_string()),
                Ok(None) => Err(Error::Git(format!(
                    "`{a}` and `{b}` have no common ancestor ({SHALLOW})"
                ))),
                Err(e) => Err(Error::Git(format!(
                    "cannot find the merge base of `{a}` and `{b}`: {e} ({SHALLOW})"
                ))),
            }
        })
    }

    /// The branch pull requests usually target, as a revision `resolve` accepts: the target of
    /// `refs/remotes/origin/HEAD`, else the first of `origin/main`, `origin/master`, `main`,
    /// `master` that exists.
    pub fn default_branch(&self) -> Option<String> {
        self.with_repo(|repo| Ok(default_branch(repo)))
            .ok()
            .flatten()
    }

    /// The tree of a commit (or of any revision).
    pub(crate) fn tree_of(&self, commit: &str) -> Result<ObjectId, Error> {
        self.with_repo(|repo| {
            let id = resolve_commit(repo, commit)?;
            let commit_obj = repo
                .find_commit(id)
                .map_err(|e| git_err(format_args!("cannot read commit {commit}"), e))?;
            let tree = commit_obj
                .tree_id()
                .map_err(|e| git_err(format_args!("cannot read the tree of {commit}"), e))?;
            Ok(tree.detach())
        })
    }

    /// A file's contents at a commit; `None` when there is no file there (missing, a
    /// directory, a submodule, a symlink pointing outside the repository). `rel` is relative
    /// to the repository root.
    pub fn read_file_at(&self, commit: &str, rel: &Path) -> Result<Option<Vec<u8>>, Error> {
        let tree = self.tree_of(commit)?;
        self.read_in_tree(tree, Path::new(""), rel)
    }

    /// The files (not directories, not symlinks, as `WorkTree` lists them) directly inside
    /// `rel_dir` at a commit, as `rel_dir/<name>`, sorted. Empty when there is no such
    /// directory.
    pub fn list_dir_at(&self, commit: &str, rel_dir: &Path) -> Result<Vec<PathBuf>, Error> {
        let tree = self.tree_of(commit)?;
        self.list_in_tree(tree, Path::new(""), rel_dir)
    }

    /// `read_file_at` on an already resolved tree, with `rel` relative to `prefix`.
    pub(crate) fn read_in_tree(
        &self,
        tree: ObjectId,
        prefix: &Path,
        rel: &Path,
    ) -> Result<Option<Vec<u8>>, Error> {
        let Some(components) = normalize(&prefix.join(rel)) else {
            return Ok(None);
        };
        self.with_repo(|repo| read_in_tree(repo, tree, components))
    }

    /// `list_dir_at` on an already resolved tree, with `rel_dir` relative to `prefix`; the
    /// returned paths are `rel_dir/<name>`.
    pub(crate) fn list_in_tree(
        &self,
        tree: ObjectId,
        prefix: &Path,
        rel_dir: &Path,
    ) -> Result<Vec<PathBuf>, Error> {
        let Some(components) = normalize(&prefix.join(rel_dir)) else {
            return Ok(Vec::new());
        };
        self.with_repo(|repo| list_in_tree(repo, tree, &components, rel_dir, false))
    }

    /// Like [`Self::list_in_tree`], for the subdirectories (trees) instead of the files.
    pub(crate) fn list_dirs_in_tree(
        &self,
        tree: ObjectId,
        prefix: &Path,
        rel_dir: &Path,
    ) -> Result<Vec<PathBuf>, Error> {
        let Some(components) = normalize(&prefix.join(rel_dir)) else {
            return Ok(Vec::new());
        };
        self.with_repo(|repo| list_in_tree(repo, tree, &components, rel_dir, true))
    }
}

fn default_branch(repo: &gix::Repository) -> Option<String> {
    if let Ok(Some(head)) = repo.try_find_reference("refs/remotes/origin/HEAD")
        && let gix::refs::TargetRef::Symbolic(name) = head.target()
    {
        let full = name.as_bstr().to_str_lossy().into_owned();
        if repo
            .try_find_reference(full.as_str())
            .ok()
            .flatten()
            .is_some()
        {
            return Some(
                full.strip_prefix("refs/remotes/")
                    .unwrap_or(&full)
                    .to_string(),
            );
        }
    }
    [
        ("refs/remotes/origin/main", "origin/main"),
        ("refs/remotes/origin/master", "origin/master"),
        ("refs/heads/main", "main"),
        ("refs/heads/master", "master"),
    ]
    .into_iter()
    .find(|(full, _)| repo.try_find_reference(*full).ok().flatten().is_some())
    .map(|(_, short)| short.to_string())
}

fn read_in_tree(
    repo: &gix::Repository,
    tree: ObjectId,
    mut components: Vec<BString>,
) -> Result<Option<Vec<u8>>, Error> {
    let root = repo
        .find_tree(tree)
        .map_err(|e| git_err(format_args!("cannot read tree {tree}"), e))?;
    for _ in 0..=MAX_SYMLINK_HOPS {
        if components.is_empty() {
            return Ok(None);
        }
        let entry = root
            .lookup_entry(components.iter().map(|c| c.as_slice()))
            .map_err(|e| {
                git_err(
                    format_args!("cannot read {} at {tree}", display(&components)),
                    e,
                )
            })?;
        let Some(entry) = entry else { return Ok(None) };
        let mode = entry.mode();
        if !mode.is_blob_or_symlink() {
            return Ok(None);
        }
        let blob = entry.object().map_err(|e| {
            git_err(
                format_args!("cannot read {} at {tree}", display(&components)),
                e,
            )
        })?;
        if mode.is_blob() {
            return Ok(Some(blob.detach().data));
        }
        // A symlink: its content is the target path, relative to the link's directory.
        let target = blob.data.as_bstr().to_owned();
        components.pop();
        match resolve_link(components, target.as_ref()) {
            Some(next) => components = next,
            None => return Ok(None),
        }
    }
    Ok(None)
}

fn list_in_tree(
    repo: &gix::Repository,
    tree: ObjectId,
    components: &[BString],
    rel_dir: &Path,
    dirs: bool,
) -> Result<Vec<PathBuf>, Error> {
    let root = repo
        .find_tree(tree)
        .map_err(|e| git_err(format_args!("cannot read tree {tree}"), e))?;
    let dir = if components.is_empty() {
        root
    } else {
        let entry = root
            .lookup_entry(components.iter().map(|c| c.as_slice()))
            .map_err(|e| {
                git_err(
                    format_args!("cannot read {} at {tree}", display(components)),
                    e,
                )
            })?;
        match entry {
            Some(entry) if entry.mode().is_tree() => entry
                .object()
                .map_err(|e| {
                    git_err(
                        format_args!("cannot read {} at {tree}", display(components)),
                        e,
                    )
                })?
                .into_tree(),
            _ => return Ok(Vec::new()),
        }
    };
    let mut out = Vec::new();
    for entry in dir.iter() {
        let entry = entry.map_err(|e| {
            git_err(
                format_args!("cannot list {} at {tree}", display(components)),
                e,
            )
        })?;
        let wanted = if dirs {
            entry.mode().is_tree()
        } else {
            entry.mode().is_blob()
        };
        if wanted {
            // Names that are not valid paths on this platform cannot be read anyway.
            if let Ok(name) = gix::path::from_bstr(entry.filename()) {
                out.push(rel_dir.join(name.as_ref()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `rev` peeled to a commit, with an error that says what to do.
fn resolve_commit(repo: &gix::Repository, rev: &str) -> Result<ObjectId, Error> {
    // A revision the user typed that does not resolve is a usage error (exit 2), not an
    // internal one.
    let unknown = |e: &dyn std::fmt::Display| {
        Error::Usage(format!(
            "unknown revision `{rev}`: {e} (if it is a remote branch or a commit you do not have yet, run `git fetch`; in GitHub Actions check out with `fetch-depth: 0`)"
        ))
    };
    let trimmed = rev.trim();
    if trimmed.is_empty() {
        return Err(Error::Usage(
            "empty revision: name a branch, tag or commit (e.g. origin/main)".into(),
        ));
    }
    let id = repo.rev_parse_single(trimmed).map_err(|e| unknown(&e))?;
    let object = id.object().map_err(|e| unknown(&e))?;
    let commit = object
        .peel_to_commit()
        .map_err(|e| Error::Usage(format!("revision `{rev}` does not name a commit: {e}")))?;
    Ok(commit.id)
}

/// Repository-relative path components, `.` dropped and `..` applied; `None` when the path is
/// absolute or climbs out of the repository.
fn normalize(path: &Path) -> Option<Vec<BString>> {
    let mut out: Vec<BString> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => out.push(gix::path::into_bstr(Path::new(s)).ok()?.into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The target of a symlink living in directory `dir` (components), normalized.
fn resolve_link(mut dir: Vec<BString>, target: &BStr) -> Option<Vec<BString>> {
    if target.starts_with(b"/") {
        return None;
    }
    for part in target.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                dir.pop()?;
            }
            name => dir.push(BString::from(name)),
        }
    }
    Some(dir)
}

fn display(components: &[BString]) -> String {
    components
        .iter()
        .map(|c| c.to_str_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
pub(crate) mod test_repo {
    //! Real repositories made with the `git` command line, for tests.

    use std::path::{Path, PathBuf};
    use std::process::Command;

    pub struct TestRepo {
        pub dir: tempfile::TempDir,
    }

    impl TestRepo {
        pub fn new() -> TestRepo {
            let dir = tempfile::tempdir().expect("tempdir");
            let repo = TestRepo { dir };
            repo.git(&["init", "-q", "-b", "main"]);
            repo
        }

        pub fn path(&self) -> PathBuf {
            self.dir.path().to_path_buf()
        }

        /// Runs git with a fixed identity and no user or system configuration.
        pub fn git(&self, args: &[&str]) -> String {
            let out = Command::new("git")
                .args([
                    "-c",
                    "user.name=evalgit test",
                    "-c",
                    "user.email=test@example.invalid",
                ])
                .args([
                    "-c",
                    "commit.gpgsign=false",
                    "-c",
                    "tag.gpgsign=false",
                    "-c",
                    "init.defaultBranch=main",
                ])
                .args(args)
                .current_dir(self.dir.path())
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env_remove("GIT_DIR")
                .env_remove("GIT_WORK_TREE")
                .output()
                .expect("git runs");
            assert!(
                out.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        }

        pub fn write(&self, rel: &str, text: &str) {
            let path = self.dir.path().join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }

        pub fn commit(&self, message: &str) -> String {
            self.git(&["add", "-A"]);
            self.git(&["commit", "-q", "--allow-empty", "-m", message]);
            self.git(&["rev-parse", "HEAD"])
        }

        pub fn file(&self, rel: &str) -> PathBuf {
            self.dir.path().join(Path::new(rel))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_repo::TestRepo;
    use super::*;

    fn text(bytes: Option<Vec<u8>>) -> Option<String> {
        bytes.map(|b| String::from_utf8(b).expect("utf-8"))
    }

    #[test]
    fn reads_files_at_revisions() {
        let t = TestRepo::new();
        t.write("evalgit.toml", "v1");
        t.write("prompts/a.txt", "prompt one");
        let first = t.commit("first");
        t.git(&["tag", "v1.0"]);
        t.git(&["tag", "-a", "v1.0-annotated", "-m", "annotated"]);
        t.write("evalgit.toml", "v2");
        t.write("prompts/b.txt", "prompt two");
        let second = t.commit("second");
        t.git(&["checkout", "-q", "-b", "feature"]);
        t.write("evalgit.toml", "v3");
        let third = t.commit("third");
        t.write("evalgit.toml", "uncommitted");

        let repo = GitRepo::discover(&t.file("prompts")).expect("discover from a subdirectory");
        assert_eq!(
            repo.workdir(),
            std::fs::canonicalize(t.path()).expect("canonical")
        );
        assert_eq!(repo.head_commit(), Some(third.clone()));
        let cases: &[(&str, &str, &str)] = &[
            ("HEAD", &third, "v3"),
            ("HEAD~1", &second, "v2"),
            ("HEAD~2", &first, "v1"),
            ("main", &second, "v2"),
            ("feature", &third, "v3"),
            (&first, &first, "v1"),
            (&first[..10], &first, "v1"),
            ("v1.0", &first, "v1"),
            ("v1.0-annotated", &first, "v1"),
        ];
        for (rev, commit, content) in cases {
            assert_eq!(&repo.resolve(rev).expect(rev), commit, "resolve {rev}");
            let got = text(
                repo.read_file_at(rev, Path::new("evalgit.toml"))
                    .expect(rev),
            );
            assert_eq!(got.as_deref(), Some(*content), "evalgit.toml at {rev}");
        }
        assert_eq!(
            text(
                repo.read_file_at("HEAD~1", Path::new("prompts/b.txt"))
                    .expect("read")
            )
            .as_deref(),
            Some("prompt two")
        );
        assert_eq!(
            repo.read_file_at(&first, Path::new("prompts/b.txt"))
                .expect("read"),
            None,
            "not yet added"
        );
        assert_eq!(
            repo.read_file_at("HEAD", Path::new("prompts"))
                .expect("read"),
            None,
            "a directory"
        );
        assert_eq!(
            repo.read_file_at("HEAD", Path::new("nope/x.txt"))
                .expect("read"),
            None
        );
        assert_eq!(
            repo.read_file_at("HEAD", Path::new("/etc/passwd"))
                .expect("read"),
            None,
            "absolute"
        );
        assert_eq!(
            repo.read_file_at("HEAD", Path::new("../x")).expect("read"),
            None,
            "outside"
        );
        assert_eq!(
            text(
                repo.read_file_at("HEAD", Path::new("prompts/../evalgit.toml"))
                    .expect("read")
            )
            .as_deref(),
            Some("v3")
        );
        assert_eq!(
            repo.list_dir_at("HEAD", Path::new("prompts"))
                .expect("list"),
            vec![
                PathBuf::from("prompts/a.txt"),
                PathBuf::from("prompts/b.txt")
            ]
        );
        assert_eq!(
            repo.list_dir_at(&first, Path::new("prompts"))
                .expect("list"),
            vec![PathBuf::from("prompts/a.txt")]
        );
        assert_eq!(
            repo.list_dir_at("HEAD", Path::new("")).expect("list"),
            vec![PathBuf::from("evalgit.toml")]
        );
        assert!(
            repo.list_dir_at("HEAD", Path::new("missing"))
                .expect("list")
                .is_empty()
        );
        assert!(
            repo.list_dir_at("HEAD", Path::new("evalgit.toml"))
                .expect("list")
                .is_empty()
        );
    }

    #[test]
    fn unknown_revisions_say_what_to_do() {
        let t = TestRepo::new();
        t.write("a", "a");
        t.commit("first");
        let repo = GitRepo::discover(&t.path()).expect("discover");
        for rev in [
            "origin/main",
            "no-such-branch",
            "HEAD~5",
            "0000000000000000000000000000000000000000",
        ] {
            let err = repo.resolve(rev).expect_err(rev).to_string();
            assert!(
                err.contains(rev) && err.contains("git fetch"),
                "{rev}: {err}"
            );
        }
        assert!(repo.read_file_at("origin/main", Path::new("a")).is_err());
        assert!(repo.resolve("").is_err());
    }

    #[test]
    fn discover_outside_a_repository_fails_clearly() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Keep the search from finding a repository above the temp dir.
        let err = match gix::discover(dir.path()) {
            Ok(_) => return, // a repository encloses /tmp on this machine; nothing to test
            Err(_) => GitRepo::discover(dir.path())
                .expect_err("not a repo")
                .to_string(),
        };
        assert!(
            err.contains("not a git repository") && err.contains("git init"),
            "{err}"
        );
    }

    #[test]
    fn merge_base_and_default_branch() {
        let t = TestRepo::new();
        t.write("f", "0");
        let root = t.commit("root");
        t.write("f", "1");
        let fork = t.commit("fork point");
        t.git(&["checkout", "-q", "-b", "feature"]);
        t.write("f", "feature");
        let feature = t.commit("on feature");
        t.git(&["checkout", "-q", "main"]);
        t.write("f", "main moves on");
        let main = t.commit("on main");
        let repo = GitRepo::discover(&t.path()).expect("discover");
        assert_eq!(
            repo.merge_base("main", "feature").expect("merge base"),
            fork
        );
        assert_eq!(repo.merge_base(&feature, &main).expect("merge base"), fork);
        assert_eq!(repo.merge_base("main", "main~1").expect("merge base"), fork);
        assert_eq!(repo.merge_base(&root, "feature").expect("merge base"), root);
        assert_eq!(repo.default_branch().as_deref(), Some("main"));

        // An unrelated history has no merge base.
        t.git(&["checkout", "-q", "--orphan", "island"]);
        t.write("g", "x");
        t.commit("island");
        let err = repo
            .merge_base("island", "main")
            .expect_err("unrelated")
            .to_string();
        assert!(err.contains("no common ancestor"), "{err}");
    }

    #[test]
    fn default_branch_prefers_origin_head() {
        let upstream = TestRepo::new();
        upstream.write("f", "0");
        upstream.commit("root");
        upstream.git(&["branch", "-m", "main", "trunk"]);
        let clone_parent = tempfile::tempdir().expect("tempdir");
        let clone_dir = clone_parent.path().join("clone");
        let out = std::process::Command::new("git")
            .args(["clone", "-q"])
            .arg(upstream.path())
            .arg(&clone_dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git clone");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let repo = GitRepo::discover(&clone_dir).expect("discover");
        assert_eq!(repo.default_branch().as_deref(), Some("origin/trunk"));
        assert_eq!(
            repo.resolve("origin/trunk").expect("resolve"),
            repo.head_commit().expect("head")
        );

        let bare = TestRepo::new();
        assert_eq!(
            GitRepo::discover(&bare.path())
                .expect("discover")
                .default_branch(),
            None,
            "no commit yet"
        );
        assert_eq!(
            GitRepo::discover(&bare.path())
                .expect("discover")
                .head_commit(),
            None
        );
    }

    #[test]
    fn symlinks_are_followed_inside_the_repository() {
        let t = TestRepo::new();
        t.write("prompts/real.txt", "real prompt");
        std::os::unix::fs::symlink("real.txt", t.file("prompts/link.txt")).expect("symlink");
        std::fs::create_dir_all(t.file("docs")).expect("mkdir");
        std::os::unix::fs::symlink("../prompts/real.txt", t.file("docs/up.txt")).expect("symlink");
        std::os::unix::fs::symlink("../outside.txt", t.file("escape.txt")).expect("symlink");
        std::os::unix::fs::symlink("/etc/hostname", t.file("abs.txt")).expect("symlink");
        std::os::unix::fs::symlink("loop2", t.file("loop1")).expect("symlink");
        std::os::unix::fs::symlink("loop1", t.file("loop2")).expect("symlink");
        t.commit("links");
        let repo = GitRepo::discover(&t.path()).expect("discover");
        let read = |p: &str| text(repo.read_file_at("HEAD", Path::new(p)).expect(p));
        assert_eq!(read("prompts/link.txt").as_deref(), Some("real prompt"));
        assert_eq!(read("docs/up.txt").as_deref(), Some("real prompt"));
        assert_eq!(read("escape.txt"), None, "climbs out of the repository");
        assert_eq!(read("abs.txt"), None);
        assert_eq!(read("loop1"), None);
        // Listed like WorkTree lists them: regular files only.
        assert_eq!(
            repo.list_dir_at("HEAD", Path::new("prompts"))
                .expect("list"),
            vec![PathBuf::from("prompts/real.txt")]
        );
    }

    #[test]
    fn prefix_of_a_subdirectory() {
        let t = TestRepo::new();
        t.write("services/bot/evalgit.toml", "x");
        t.commit("sub");
        let repo = GitRepo::discover(&t.file("services/bot")).expect("discover");
        assert_eq!(
            repo.prefix_of(&t.file("services/bot")).expect("prefix"),
            PathBuf::from("services/bot")
        );
        assert_eq!(repo.prefix_of(&t.path()).expect("prefix"), PathBuf::new());
        let elsewhere = tempfile::tempdir().expect("tempdir");
        assert!(repo.prefix_of(elsewhere.path()).is_err());
    }
}
