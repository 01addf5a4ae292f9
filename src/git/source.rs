//! [`RevisionSource`]: the project as it is in a commit, for the config loader.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gix::ObjectId;

use super::GitRepo;
use crate::Error;
use crate::config::Source;

/// The files of a project at one commit, read from git objects (no checkout). The project
/// may live in a subdirectory of the repository (`prefix`); paths given to [`Source`] are
/// relative to the project root, as with `WorkTree`.
#[derive(Debug, Clone)]
pub struct RevisionSource {
    repo: Arc<GitRepo>,
    /// The revision as the user named it (`origin/main`).
    rev: String,
    /// The commit it resolved to, 40 hex characters.
    commit: String,
    tree: ObjectId,
    /// The project root relative to the repository's working tree root.
    prefix: PathBuf,
}

impl RevisionSource {
    /// The project at `prefix` (relative to the repository root; empty for the root) as it is
    /// at `rev`.
    pub fn new(repo: Arc<GitRepo>, rev: &str, prefix: impl Into<PathBuf>) -> Result<Self, Error> {
        let commit = repo.resolve(rev)?;
        let tree = repo.tree_of(&commit)?;
        Ok(RevisionSource {
            repo,
            rev: rev.to_string(),
            commit,
            tree,
            prefix: prefix.into(),
        })
    }

    /// The project whose root is the directory `project_root` (in the working tree) as it is
    /// at `rev`.
    pub fn for_project(repo: Arc<GitRepo>, rev: &str, project_root: &Path) -> Result<Self, Error> {
        let prefix = repo.prefix_of(project_root)?;
        Self::new(repo, rev, prefix)
    }

    /// The commit read, 40 hex characters.
    pub fn commit(&self) -> &str {
        &self.commit
    }

    /// The revision as it was named.
    pub fn rev(&self) -> &str {
        &self.rev
    }

    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    pub fn repo(&self) -> &Arc<GitRepo> {
        &self.repo
    }
}

impl Source for RevisionSource {
    fn read(&self, rel: &Path) -> std::io::Result<Option<Vec<u8>>> {
        self.repo
            .read_in_tree(self.tree, &self.prefix, rel)
            .map_err(std::io::Error::other)
    }

    fn list(&self, rel_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        self.repo
            .list_in_tree(self.tree, &self.prefix, rel_dir)
            .map_err(std::io::Error::other)
    }

    fn list_dirs(&self, rel_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        self.repo
            .list_dirs_in_tree(self.tree, &self.prefix, rel_dir)
            .map_err(std::io::Error::other)
    }

    fn describe(&self) -> String {
        let short = self.commit.get(..7).unwrap_or(&self.commit);
        if self.rev == self.commit || self.commit.starts_with(&self.rev) {
            short.to_string()
        } else {
            format!("{} ({short})", self.rev)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::repo::test_repo::TestRepo;
    use super::*;
    use crate::config::WorkTree;

    fn read(source: &dyn Source, rel: &str) -> Option<String> {
        source
            .read(Path::new(rel))
            .expect("read")
            .map(|b| String::from_utf8(b).expect("utf-8"))
    }

    #[test]
    fn a_project_in_a_subdirectory_at_several_revisions() {
        let t = TestRepo::new();
        t.write("README.md", "repo root");
        t.write(
            "services/bot/evalgit.toml",
            "[providers.local]\nkind = \"openai\"\n",
        );
        t.write("services/bot/evals/capitals.toml", "prompt = \"v1\"");
        t.write("services/bot/prompts/p.txt", "prompt v1");
        t.write("services/shared/common.txt", "shared");
        let first = t.commit("first");
        t.write("services/bot/evals/capitals.toml", "prompt = \"v2\"");
        t.write("services/bot/evals/refunds.toml", "prompt = \"r\"");
        let second = t.commit("second");
        t.git(&["checkout", "-q", "-b", "feature"]);
        t.write("services/bot/prompts/p.txt", "prompt v3");
        t.commit("third");

        let repo = Arc::new(GitRepo::discover(&t.file("services/bot")).expect("discover"));
        let project = t.file("services/bot");
        let at =
            |rev: &str| RevisionSource::for_project(Arc::clone(&repo), rev, &project).expect(rev);

        let head1 = at("HEAD~1");
        assert_eq!(head1.commit(), second);
        assert_eq!(
            read(&head1, "evals/capitals.toml").as_deref(),
            Some("prompt = \"v2\"")
        );
        assert_eq!(read(&head1, "prompts/p.txt").as_deref(), Some("prompt v1"));
        assert_eq!(read(&head1, "README.md"), None, "outside the project");
        assert_eq!(
            read(&head1, "../shared/common.txt").as_deref(),
            Some("shared"),
            "a sibling, as on disk"
        );
        assert_eq!(
            head1.list(Path::new("evals")).expect("list"),
            vec![
                PathBuf::from("evals/capitals.toml"),
                PathBuf::from("evals/refunds.toml")
            ]
        );
        assert_eq!(head1.describe(), format!("HEAD~1 ({})", &second[..7]));

        let sha = at(&first);
        assert_eq!(
            read(&sha, "evals/capitals.toml").as_deref(),
            Some("prompt = \"v1\"")
        );
        assert_eq!(
            sha.list(Path::new("evals")).expect("list"),
            vec![PathBuf::from("evals/capitals.toml")]
        );
        assert_eq!(sha.describe(), first[..7].to_string());

        let main = at("main");
        assert_eq!(read(&main, "prompts/p.txt").as_deref(), Some("prompt v1"));
        let feature = at("feature");
        assert_eq!(
            read(&feature, "prompts/p.txt").as_deref(),
            Some("prompt v3")
        );
        assert!(feature.list(Path::new("missing")).expect("list").is_empty());

        // The revision source lists exactly what the working tree lists for committed files.
        let work = WorkTree::new(&project);
        for dir in ["", "evals", "prompts"] {
            assert_eq!(
                feature.list(Path::new(dir)).expect("list"),
                work.list(Path::new(dir)).expect("list"),
                "{dir:?}"
            );
        }
        assert_eq!(read(&feature, "evalgit.toml"), read(&work, "evalgit.toml"));
    }

    #[test]
    fn an_unknown_revision_is_an_error() {
        let t = TestRepo::new();
        t.write("evalgit.toml", "");
        t.commit("first");
        let repo = Arc::new(GitRepo::discover(&t.path()).expect("discover"));
        let err = RevisionSource::new(repo, "origin/main", "")
            .expect_err("unknown")
            .to_string();
        assert!(
            err.contains("origin/main") && err.contains("git fetch"),
            "{err}"
        );
    }

    #[test]
    fn usable_behind_a_shared_reference_from_threads() {
        let t = TestRepo::new();
        t.write("a.txt", "a");
        t.commit("first");
        let repo = Arc::new(GitRepo::discover(&t.path()).expect("discover"));
        let source: Arc<dyn Source> =
            Arc::new(RevisionSource::new(repo, "HEAD", "").expect("source"));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let source = Arc::clone(&source);
                std::thread::spawn(move || source.read(Path::new("a.txt")).expect("read"))
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().expect("thread"), Some(b"a".to_vec()));
        }
    }
}
