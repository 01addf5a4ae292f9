//! Loading the project as it is at a git revision, straight from git objects.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::workspace::Global;
use crate::Error;
use crate::config::{self, Project, Source};
use crate::git::{GitRepo, RevisionSource};

/// A project read at a revision, with the source it was read through.
pub struct AtRevision {
    pub rev: String,
    pub commit: String,
    pub source: Arc<dyn Source>,
    /// `None` when the revision has no evalgit.toml (everything on head is new).
    pub project: Option<Project>,
}

/// The project root relative to the repository's work tree (a project may live in a
/// subdirectory).
fn prefix(repo: &GitRepo, root: &Path) -> PathBuf {
    let workdir = repo.workdir();
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let workdir = workdir.canonicalize().unwrap_or(workdir);
    root.strip_prefix(&workdir)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The default base: the merge-base of HEAD with the default branch.
pub fn default_base(repo: &GitRepo) -> Result<String, Error> {
    let branch = repo.default_branch().ok_or_else(|| {
        Error::Usage("cannot tell the default branch (no origin/HEAD, origin/main, main or master): pass the base revision, e.g. `--base main`".into())
    })?;
    let head = repo.head_commit().ok_or_else(|| {
        Error::Usage(
            "the repository has no commits yet: commit first, or pass a base revision".into(),
        )
    })?;
    repo.merge_base(&head, &branch)
}

pub fn load_at(global: &Global, root: &Path, rev: &str) -> Result<AtRevision, Error> {
    let repo = GitRepo::discover(root)?;
    let commit = repo.resolve(rev)?;
    let prefix = prefix(&repo, root);
    let source: Arc<dyn Source> = Arc::new(RevisionSource::new(Arc::new(repo), rev, prefix)?);
    let has_settings = source
        .read(Path::new(config::SETTINGS_FILE))
        .map_err(|e| Error::Git(e.to_string()))?
        .is_some();
    let project = if has_settings {
        let mut opts = global.load_options(root);
        opts.root = root.to_path_buf();
        match config::load(source.as_ref(), &opts) {
            Ok(p) => Some(p),
            Err(d) => {
                return Err(Error::Usage(format!(
                    "the configuration at {rev} does not load, so it cannot be the baseline:\n{d}\nchoose another base revision"
                )));
            }
        }
    } else {
        None
    };
    Ok(AtRevision {
        rev: rev.to_string(),
        commit,
        source,
        project,
    })
}
