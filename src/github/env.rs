//! What the GitHub Actions runner tells a step through its environment: the repository, the
//! pull request, the API URL, and the files a step writes its summary and outputs to.
//!
//! Every function takes the environment as a map, so tests never depend on (or change) the
//! process environment; [`process_env`] captures the real one once.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::github::comment::CommentTarget;

/// An environment, as a map from variable name to value.
pub type EnvMap = HashMap<String, String>;

/// The process environment (variables that are not valid Unicode are left out).
pub fn process_env() -> EnvMap {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// What evalgit reads from a GitHub Actions environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitHubEnv {
    /// `GITHUB_ACTIONS=true`: running inside a workflow.
    pub in_actions: bool,
    /// `GITHUB_REPOSITORY`, split into owner and name.
    pub repository: Option<(String, String)>,
    /// The pull request number, from the event payload or from `GITHUB_REF`.
    pub pr: Option<u64>,
    /// `GITHUB_API_URL` (GitHub Enterprise Server has its own).
    pub api_url: Option<String>,
    /// `GITHUB_STEP_SUMMARY`: the file whose Markdown becomes the job summary.
    pub step_summary: Option<PathBuf>,
    /// `GITHUB_OUTPUT`: the file a step writes its outputs to.
    pub output: Option<PathBuf>,
    /// `GITHUB_EVENT_NAME`, e.g. `pull_request`, `workflow_run`.
    pub event_name: Option<String>,
}

impl GitHubEnv {
    /// Reads the environment; the event payload is read from the file `GITHUB_EVENT_PATH`
    /// names (a missing or unreadable payload only means no PR number from it).
    pub fn from_env(env: &EnvMap) -> Self {
        let event =
            non_empty(env, "GITHUB_EVENT_PATH").and_then(|p| std::fs::read_to_string(p).ok());
        Self::from_env_and_event(env, event.as_deref())
    }

    /// As [`GitHubEnv::from_env`], with the event payload given: no I/O at all.
    pub fn from_env_and_event(env: &EnvMap, event_json: Option<&str>) -> Self {
        let pr = event_json
            .and_then(pr_from_event)
            .or_else(|| non_empty(env, "GITHUB_REF").and_then(pr_from_ref));
        GitHubEnv {
            in_actions: env.get("GITHUB_ACTIONS").is_some_and(|v| v == "true"),
            repository: non_empty(env, "GITHUB_REPOSITORY").and_then(split_repository),
            pr,
            api_url: non_empty(env, "GITHUB_API_URL").map(str::to_string),
            step_summary: non_empty(env, "GITHUB_STEP_SUMMARY").map(PathBuf::from),
            output: non_empty(env, "GITHUB_OUTPUT").map(PathBuf::from),
            event_name: non_empty(env, "GITHUB_EVENT_NAME").map(str::to_string),
        }
    }

    /// Where to post the comment: flags first (`--repo owner/name`, `--pr N`), then the
    /// environment. The error says which one is missing and how to give it.
    pub fn comment_target(
        &self,
        repo_flag: Option<&str>,
        pr_flag: Option<u64>,
    ) -> Result<CommentTarget, crate::Error> {
        let (owner, repo) = match repo_flag {
            Some(flag) => split_repository(flag).ok_or_else(|| {
                crate::Error::Usage(format!(
                    "--repo {flag:?} is not of the form owner/name, e.g. --repo octo-org/support-bot"
                ))
            })?,
            None => self.repository.clone().ok_or_else(|| {
                crate::Error::Usage(
                    "no repository to comment on: GITHUB_REPOSITORY is not set; pass --repo owner/name"
                        .to_string(),
                )
            })?,
        };
        let pr = pr_flag.or(self.pr).ok_or_else(|| {
            crate::Error::Usage(
                "no pull request to comment on: this event carries no pull request number \
                 (run on `pull_request`, or pass --pr N, e.g. from the artifact in a \
                 `workflow_run` job)"
                    .to_string(),
            )
        })?;
        Ok(CommentTarget {
            owner,
            repo,
            pr,
            api_url: self.api_url.clone(),
        })
    }
}

/// The token for the GitHub API: `GITHUB_TOKEN`, else `GH_TOKEN`. Never print it.
pub fn token(env: &EnvMap) -> Option<String> {
    non_empty(env, "GITHUB_TOKEN")
        .or_else(|| non_empty(env, "GH_TOKEN"))
        .map(str::to_string)
}

fn non_empty<'a>(env: &'a EnvMap, key: &str) -> Option<&'a str> {
    env.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// `owner/name` into its two parts; `None` unless both are non-empty and there is no other `/`.
pub fn split_repository(s: &str) -> Option<(String, String)> {
    let (owner, name) = s.trim().split_once('/')?;
    if owner.is_empty() || name.is_empty() || name.contains('/') {
        return None;
    }
    Some((owner.to_string(), name.to_string()))
}

/// The PR number in an event payload: `pull_request.number` (pull_request,
/// pull_request_target, pull_request_review), `number` (the same events, top level), `issue.number`
/// when the issue is a pull request (issue_comment), or the first of
/// `workflow_run.pull_requests` (empty for pull requests from forks).
pub fn pr_from_event(json: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    if let Some(n) = v.pointer("/pull_request/number").and_then(|n| n.as_u64()) {
        return Some(n);
    }
    if let Some(n) = v.get("number").and_then(|n| n.as_u64()) {
        return Some(n);
    }
    if v.pointer("/issue/pull_request").is_some()
        && let Some(n) = v.pointer("/issue/number").and_then(|n| n.as_u64())
    {
        return Some(n);
    }
    v.pointer("/workflow_run/pull_requests/0/number")
        .and_then(|n| n.as_u64())
}

/// The PR number in `refs/pull/N/merge` (or `refs/pull/N/head`).
pub fn pr_from_ref(git_ref: &str) -> Option<u64> {
    let rest = git_ref.strip_prefix("refs/pull/")?;
    let (n, tail) = rest.split_once('/')?;
    if tail != "merge" && tail != "head" {
        return None;
    }
    n.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pr_number_from_event_payloads() {
        let cases: &[(&str, Option<u64>)] = &[
            (
                r#"{"pull_request": {"number": 42}, "number": 42}"#,
                Some(42),
            ),
            (r#"{"number": 7}"#, Some(7)),
            (r#"{"issue": {"number": 9, "pull_request": {}}}"#, Some(9)),
            (r#"{"issue": {"number": 9}}"#, None),
            (
                r#"{"workflow_run": {"pull_requests": [{"number": 5}]}}"#,
                Some(5),
            ),
            (r#"{"workflow_run": {"pull_requests": []}}"#, None),
            (r#"{"ref": "refs/heads/main"}"#, None),
            ("not json", None),
        ];
        for (json, want) in cases {
            assert_eq!(pr_from_event(json), *want, "{json}");
        }
    }

    #[test]
    fn pr_number_from_ref() {
        let cases: &[(&str, Option<u64>)] = &[
            ("refs/pull/123/merge", Some(123)),
            ("refs/pull/4/head", Some(4)),
            ("refs/pull/x/merge", None),
            ("refs/heads/main", None),
            ("refs/pull/12", None),
        ];
        for (r, want) in cases {
            assert_eq!(pr_from_ref(r), *want, "{r}");
        }
    }

    #[test]
    fn repository_must_be_owner_slash_name() {
        assert_eq!(split_repository("o/r"), Some(("o".into(), "r".into())));
        for bad in ["", "o", "/r", "o/", "o/r/x"] {
            assert_eq!(split_repository(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reads_the_actions_environment() {
        let e = env(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "octo/bot"),
            ("GITHUB_REF", "refs/pull/17/merge"),
            ("GITHUB_API_URL", "https://ghe.example/api/v3"),
            ("GITHUB_STEP_SUMMARY", "/tmp/summary.md"),
            ("GITHUB_OUTPUT", "/tmp/out"),
            ("GITHUB_EVENT_NAME", "pull_request"),
        ]);
        let gh = GitHubEnv::from_env_and_event(&e, None);
        assert!(gh.in_actions);
        assert_eq!(gh.repository, Some(("octo".into(), "bot".into())));
        assert_eq!(gh.pr, Some(17), "from GITHUB_REF when there is no payload");
        assert_eq!(gh.step_summary, Some(PathBuf::from("/tmp/summary.md")));
        assert_eq!(gh.output, Some(PathBuf::from("/tmp/out")));

        let with_event =
            GitHubEnv::from_env_and_event(&e, Some(r#"{"pull_request":{"number":99}}"#));
        assert_eq!(with_event.pr, Some(99), "the payload wins over the ref");

        let target = gh.comment_target(None, None).expect("target");
        assert_eq!(target.owner, "octo");
        assert_eq!(target.pr, 17);
        assert_eq!(
            target.api_url.as_deref(),
            Some("https://ghe.example/api/v3")
        );
        let flagged = gh.comment_target(Some("a/b"), Some(3)).expect("target");
        assert_eq!(
            (flagged.owner.as_str(), flagged.repo.as_str(), flagged.pr),
            ("a", "b", 3)
        );
    }

    #[test]
    fn reads_the_event_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("event.json");
        std::fs::write(&path, r#"{"pull_request":{"number":8}}"#).expect("write");
        let e = env(&[("GITHUB_EVENT_PATH", path.to_str().expect("utf-8 path"))]);
        assert_eq!(GitHubEnv::from_env(&e).pr, Some(8));
        let missing = env(&[("GITHUB_EVENT_PATH", "/nonexistent/event.json")]);
        assert_eq!(GitHubEnv::from_env(&missing).pr, None);
    }

    #[test]
    fn missing_target_errors_say_what_to_pass() {
        let gh = GitHubEnv::from_env_and_event(&env(&[]), None);
        let err = gh
            .comment_target(None, Some(1))
            .expect_err("no repo")
            .to_string();
        assert!(
            err.contains("GITHUB_REPOSITORY") && err.contains("--repo"),
            "{err}"
        );
        let err = gh
            .comment_target(Some("o/r"), None)
            .expect_err("no pr")
            .to_string();
        assert!(err.contains("--pr N"), "{err}");
        let err = gh
            .comment_target(Some("nope"), Some(1))
            .expect_err("bad repo")
            .to_string();
        assert!(err.contains("owner/name"), "{err}");
    }

    #[test]
    fn token_prefers_github_token_and_ignores_empty() {
        assert_eq!(
            token(&env(&[("GITHUB_TOKEN", "a"), ("GH_TOKEN", "b")])),
            Some("a".into())
        );
        assert_eq!(
            token(&env(&[("GITHUB_TOKEN", ""), ("GH_TOKEN", "b")])),
            Some("b".into())
        );
        assert_eq!(token(&env(&[])), None);
    }
}
