//! The sticky pull-request comment: one comment per pull request and tag, found again by a
//! hidden marker and edited in place, so a PR that is pushed ten times has one comment that
//! shows the latest verdict, not ten.
//!
//! Async by exception (the rest of the reporters are synchronous): octocrab is async, and
//! this file is the only one that talks to GitHub.

use octocrab::Octocrab;
use serde::Deserialize;

/// GitHub refuses comment bodies over 65,536 characters.
pub const MAX_COMMENT_CHARS: usize = 65_536;

/// The pull request to comment on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentTarget {
    pub owner: String,
    pub repo: String,
    pub pr: u64,
    /// `GITHUB_API_URL`; `None` for api.github.com.
    pub api_url: Option<String>,
}

/// How `evalgit comment` posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommentMode {
    /// Edit this tag's comment when there is one, else create it (the default).
    #[default]
    Update,
    /// Always create a new comment.
    New,
    /// Post nothing.
    Off,
}

impl CommentMode {
    /// Parses `update`, `new` or `off`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "update" => Some(CommentMode::Update),
            "new" => Some(CommentMode::New),
            "off" => Some(CommentMode::Off),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CommentMode::Update => "update",
            CommentMode::New => "new",
            CommentMode::Off => "off",
        }
    }
}

/// What [`post_comment`] did. The ids are GitHub's comment ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentOutcome {
    Created(u64),
    Updated(u64),
    /// The comment already had this exact body: nothing was written.
    Unchanged(u64),
    /// Mode `off`.
    Skipped,
    /// The token may not write comments (pull requests from forks get a read-only token).
    /// The message says so and what to do; the caller reports it and exits 0.
    NoPermission(String),
}

/// The hidden line that identifies evalgit's comment for `tag`.
pub fn marker(tag: &str) -> String {
    format!("<!-- evalgit:comment tag={tag} -->")
}

/// A tag is part of an HTML comment and a search: keep it to a plain name.
fn validate_tag(tag: &str) -> Result<(), crate::Error> {
    let ok = !tag.is_empty()
        && tag.len() <= 64
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok {
        Ok(())
    } else {
        Err(crate::Error::Usage(format!(
            "invalid comment tag {tag:?}: use 1 to 64 letters, digits, '-', '_', '.' or '/', e.g. --tag evals-nightly"
        )))
    }
}

/// `owner` and `repo` go into URL paths: refuse anything that could change the path.
fn validate_target(target: &CommentTarget) -> Result<(), crate::Error> {
    for (what, value) in [("owner", &target.owner), ("repository", &target.repo)] {
        let ok = !value.is_empty()
            && value != "."
            && value != ".."
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(crate::Error::Usage(format!(
                "invalid GitHub {what} name {value:?}: expected letters, digits, '-', '_' or '.'"
            )));
        }
    }
    Ok(())
}

/// The body as posted: the text (cut to fit GitHub's limit, saying so), then the marker.
pub fn body_with_marker(body: &str, tag: &str) -> String {
    let marker = marker(tag);
    let body = body.trim_end();
    let note =
        "\n\n_… cut here: GitHub allows 65,536 characters in a comment; see the job summary._";
    let room = MAX_COMMENT_CHARS - marker.chars().count() - 2;
    let text = if body.chars().count() <= room {
        body.to_string()
    } else {
        let keep = room - note.chars().count();
        let cut: String = body.chars().take(keep).collect();
        format!("{cut}{note}")
    };
    format!("{text}\n\n{marker}")
}

/// GitHub returns bodies edited in the browser with CRLF; compare without that difference.
fn same_body(a: &str, b: &str) -> bool {
    a.replace("\r\n", "\n").trim_end() == b.replace("\r\n", "\n").trim_end()
}

#[derive(Debug, Deserialize)]
struct IssueComment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<CommentAuthor>,
}

#[derive(Debug, Deserialize)]
struct CommentAuthor {
    login: String,
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(serde::Serialize)]
struct ListParams {
    per_page: u8,
}

/// Posts `body` on the pull request as evalgit's comment for `tag`.
///
/// `Update` edits the newest comment carrying the tag's marker (all pages of comments are
/// searched), skipping the write when the body is the same; `New` always creates; `Off` does
/// nothing. A 403 or 404 on a write is [`CommentOutcome::NoPermission`], not an error. The
/// token never appears in an error.
pub async fn post_comment(
    target: &CommentTarget,
    token: &str,
    tag: &str,
    mode: CommentMode,
    body: &str,
) -> Result<CommentOutcome, crate::Error> {
    if mode == CommentMode::Off {
        return Ok(CommentOutcome::Skipped);
    }
    validate_tag(tag)?;
    validate_target(target)?;
    if token.trim().is_empty() {
        return Err(crate::Error::Usage(
            "no GitHub token: set GITHUB_TOKEN (in a workflow: `env: GITHUB_TOKEN: ${{ github.token }}`)"
                .to_string(),
        ));
    }
    let crab = client(target, token)?;
    let full = body_with_marker(body, tag);
    let issue_comments = format!(
        "/repos/{}/{}/issues/{}/comments",
        target.owner, target.repo, target.pr
    );
    let fail =
        |action: &str, write: bool, e: octocrab::Error| classify(e, action, write, target, token);

    if mode == CommentMode::Update {
        let existing = match find_comment(&crab, &issue_comments, &marker(tag)).await {
            Ok(found) => found,
            Err(e) => return fail("list the comments", false, e),
        };
        if let Some(comment) = existing {
            if same_body(comment.body.as_deref().unwrap_or(""), &full) {
                return Ok(CommentOutcome::Unchanged(comment.id));
            }
            let route = format!(
                "/repos/{}/{}/issues/comments/{}",
                target.owner, target.repo, comment.id
            );
            let payload = serde_json::json!({ "body": full });
            match crab
                .patch::<IssueComment, _, _>(route, Some(&payload))
                .await
            {
                Ok(updated) => return Ok(CommentOutcome::Updated(updated.id)),
                Err(e) => match fail("update the comment", true, e) {
                    // Not ours to edit after all: post our own below (a read-only token
                    // fails there too, and says so).
                    Ok(CommentOutcome::NoPermission(_)) => {}
                    other => return other,
                },
            }
        }
    }
    let payload = serde_json::json!({ "body": full });
    match crab
        .post::<_, IssueComment>(issue_comments, Some(&payload))
        .await
    {
        Ok(created) => Ok(CommentOutcome::Created(created.id)),
        Err(e) => fail("create the comment", true, e),
    }
}

fn client(target: &CommentTarget, token: &str) -> Result<Octocrab, crate::Error> {
    // octocrab builds its TLS config with ring explicitly; installing the process default as
    // well keeps any other rustls user in the process working. Already installed is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = Octocrab::builder()
        .personal_token(token.to_string())
        .set_connect_timeout(Some(std::time::Duration::from_secs(10)))
        .set_read_timeout(Some(std::time::Duration::from_secs(30)));
    if let Some(url) = target.api_url.as_deref().filter(|u| !u.is_empty()) {
        builder = builder.base_uri(url.trim_end_matches('/')).map_err(|_| {
            crate::Error::Usage(format!("GITHUB_API_URL {url:?} is not a valid URL"))
        })?;
    }
    builder.build().map_err(|e| {
        crate::Error::GitHub(redact(
            &format!("cannot set up the GitHub client: {e}"),
            token,
        ))
    })
}

/// The newest comment whose body carries `marker` and that the token may have written,
/// searching every page.
///
/// Anyone who can comment on a pull request can paste the marker; taking their comment would
/// let them pin the PR to a stale verdict (the edit is refused, the old comment stays). So
/// only the token's own user's comments count when the API tells who that is (a personal
/// token), else comments by a bot account (a workflow's `GITHUB_TOKEN` may not ask; it posts
/// as `github-actions[bot]`, an app's token as `<app>[bot]`). Should the edit still be
/// refused (another bot's comment), a new comment is created instead.
async fn find_comment(
    crab: &Octocrab,
    route: &str,
    marker: &str,
) -> Result<Option<IssueComment>, octocrab::Error> {
    // A personal token knows its user; a workflow's installation token may not ask (403).
    let me: Option<String> = crab
        .get::<serde_json::Value, _, ()>("/user", None)
        .await
        .ok()
        .and_then(|u| u.get("login")?.as_str().map(str::to_string));
    let mut page: octocrab::Page<IssueComment> =
        crab.get(route, Some(&ListParams { per_page: 100 })).await?;
    let mut found = None;
    loop {
        for comment in page.take_items() {
            // With a known user, only that user's comments; else (a workflow token) a bot's.
            let ours = comment.user.as_ref().is_some_and(|u| match me.as_deref() {
                Some(me) => u.login == me,
                None => u.kind == "Bot",
            });
            if ours
                && comment
                    .body
                    .as_deref()
                    .is_some_and(|b| b.lines().any(|l| l.trim() == marker))
            {
                found = Some(comment);
            }
        }
        match crab.get_page::<IssueComment>(&page.next).await? {
            Some(next) => page = next,
            None => return Ok(found),
        }
    }
}

/// Turns an octocrab error into an outcome or an error whose message names the pull request,
/// says what to do, and never contains the token.
fn classify(
    err: octocrab::Error,
    action: &str,
    write: bool,
    target: &CommentTarget,
    token: &str,
) -> Result<CommentOutcome, crate::Error> {
    let pr = format!("{}/{}#{}", target.owner, target.repo, target.pr);
    if let octocrab::Error::GitHub { source, .. } = &err {
        let status = source.status_code.as_u16();
        let detail = format!("HTTP {status}: {}", source.message);
        let rate_limited = source.message.to_ascii_lowercase().contains("rate limit");
        let denied = match status {
            403 => !rate_limited,
            404 => write,
            _ => false,
        };
        if denied {
            return Ok(CommentOutcome::NoPermission(redact(
                &format!(
                    "cannot {action} on {pr} ({detail}): the token may not write pull request \
                     comments. Pull requests from forks get a read-only token: post the comment \
                     from a `workflow_run` job (docs/github-actions.md), or give the job \
                     `permissions: pull-requests: write`"
                ),
                token,
            )));
        }
        let hint = match status {
            401 => ": the token is invalid or expired",
            404 => {
                ": check the repository and pull request number, and that the token can read them"
            }
            _ if rate_limited => ": wait for the rate limit to reset",
            _ => "",
        };
        return Err(crate::Error::GitHub(redact(
            &format!("cannot {action} on {pr} ({detail}){hint}"),
            token,
        )));
    }
    Err(crate::Error::GitHub(redact(
        &format!("cannot {action} on {pr}: {}", describe(&err)),
        token,
    )))
}

/// The error and its sources, one line (octocrab's own display is often only a variant name).
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Removes the token from a message, whatever a server or library put in it.
fn redact(message: &str, token: &str) -> String {
    let token = token.trim();
    if token.len() < 4 {
        return message.to_string();
    }
    message.replace(token, "***")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::mock_api::MockGitHub;

    const TOKEN: &str = "ghs_s3cr3tT0kenValue0123456789";

    fn target(mock: &MockGitHub, pr: u64) -> CommentTarget {
        CommentTarget {
            owner: "octo".into(),
            repo: "bot".into(),
            pr,
            api_url: Some(mock.url.clone()),
        }
    }

    #[test]
    fn marker_and_body() {
        assert_eq!(marker("evals"), "<!-- evalgit:comment tag=evals -->");
        assert_eq!(
            body_with_marker("hello\n\n", "t"),
            "hello\n\n<!-- evalgit:comment tag=t -->"
        );
        let huge = "é".repeat(MAX_COMMENT_CHARS * 2);
        let fitted = body_with_marker(&huge, "t");
        assert!(fitted.chars().count() <= MAX_COMMENT_CHARS);
        assert!(fitted.ends_with("see the job summary._\n\n<!-- evalgit:comment tag=t -->"));
    }

    #[test]
    fn tags_and_names_are_validated() {
        for ok in ["evals", "a-b_c.d/e", "X1"] {
            assert!(validate_tag(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "x-->", "a\nb", &"x".repeat(65)] {
            let err = validate_tag(bad).expect_err(bad).to_string();
            assert!(err.contains("--tag"), "{err}");
        }
        let t = |owner: &str, repo: &str| CommentTarget {
            owner: owner.into(),
            repo: repo.into(),
            pr: 1,
            api_url: None,
        };
        assert!(validate_target(&t("octo-org", "my.repo_1")).is_ok());
        for (o, r) in [("..", "r"), ("o", "r/../x"), ("o", ""), ("o?x", "r")] {
            assert!(validate_target(&t(o, r)).is_err(), "{o}/{r}");
        }
    }

    #[test]
    fn comment_mode_names_round_trip() {
        for mode in [CommentMode::Update, CommentMode::New, CommentMode::Off] {
            assert_eq!(CommentMode::parse(mode.name()), Some(mode));
        }
        assert_eq!(CommentMode::parse("sticky"), None);
    }

    #[test]
    fn redaction_removes_the_token() {
        assert_eq!(
            redact(&format!("bad {TOKEN} here {TOKEN}"), TOKEN),
            "bad *** here ***"
        );
    }

    #[tokio::test]
    async fn update_twice_keeps_one_comment() {
        let mock = MockGitHub::start(TOKEN).await;
        let t = target(&mock, 7);
        let first = post_comment(&t, TOKEN, "evals", CommentMode::Update, "run 1")
            .await
            .expect("post");
        assert!(matches!(first, CommentOutcome::Created(_)), "{first:?}");
        let second = post_comment(&t, TOKEN, "evals", CommentMode::Update, "run 2")
            .await
            .expect("post");
        let CommentOutcome::Created(id) = first else {
            unreachable!()
        };
        assert_eq!(second, CommentOutcome::Updated(id));
        let comments = mock.comments(7);
        assert_eq!(comments.len(), 1, "{comments:?}");
        assert!(
            comments[0]
                .1
                .starts_with("run 2\n\n<!-- evalgit:comment tag=evals -->")
        );
    }

    /// Regression: a commenter who pasted the marker got their comment chosen; the edit was
    /// refused (403) and the stale evalgit verdict stayed up.
    #[tokio::test]
    async fn a_marker_pasted_by_someone_else_is_not_taken() {
        let mock = MockGitHub::start(TOKEN).await;
        let t = target(&mock, 5);
        let ours = post_comment(&t, TOKEN, "evals", CommentMode::Update, "run 1")
            .await
            .expect("post");
        let CommentOutcome::Created(ours) = ours else {
            panic!("{ours:?}")
        };
        let theirs = mock.insert(
            5,
            &format!("gotcha\n\n{}", marker("evals")),
            Some("mallory"),
        );
        let second = post_comment(&t, TOKEN, "evals", CommentMode::Update, "run 2")
            .await
            .expect("post");
        assert_eq!(second, CommentOutcome::Updated(ours));
        let comments = mock.comments(5);
        assert_eq!(comments.len(), 2, "{comments:?}");
        assert!(comments[0].1.starts_with("run 2"), "{comments:?}");
        assert_eq!(
            comments[1],
            (theirs, format!("gotcha\n\n{}", marker("evals")))
        );

        // Only the pasted marker on the PR: a comment of our own is created.
        let t = target(&mock, 6);
        mock.insert(
            6,
            &format!("gotcha\n\n{}", marker("evals")),
            Some("mallory"),
        );
        let first = post_comment(&t, TOKEN, "evals", CommentMode::Update, "run 1")
            .await
            .expect("post");
        assert!(matches!(first, CommentOutcome::Created(_)), "{first:?}");
        assert_eq!(mock.comments(6).len(), 2);
    }

    /// Another bot's comment carrying the marker cannot be edited: a comment of our own is
    /// posted instead of giving up, and updated from then on.
    #[tokio::test]
    async fn another_bots_marked_comment_gets_a_comment_of_our_own() {
        let mock = MockGitHub::start(TOKEN).await;
        let t = target(&mock, 8);
        mock.insert(
            8,
            &format!("x\n\n{}", marker("evals")),
            Some("renovate[bot]"),
        );
        let first = post_comment(&t, TOKEN, "evals", CommentMode::Update, "run 1")
            .await
            .expect("post");
        let CommentOutcome::Created(ours) = first else {
            panic!("{first:?}")
        };
        let second = post_comment(&t, TOKEN, "evals", CommentMode::Update, "run 2")
            .await
            .expect("post");
        assert_eq!(second, CommentOutcome::Updated(ours));
        assert_eq!(mock.comments(8).len(), 2);
    }

    #[tokio::test]
    async fn identical_body_is_not_written() {
        let mock = MockGitHub::start(TOKEN).await;
        let t = target(&mock, 7);
        let first = post_comment(&t, TOKEN, "evals", CommentMode::Update, "same")
            .await
            .expect("post");
        let second = post_comment(&t, TOKEN, "evals", CommentMode::Update, "same")
            .await
            .expect("post");
        let CommentOutcome::Created(id) = first else {
            panic!("{first:?}")
        };
        assert_eq!(second, CommentOutcome::Unchanged(id));
        let log = mock.requests();
        assert!(!log.iter().any(|r| r.starts_with("PATCH")), "{log:?}");
        assert_eq!(
            log.iter().filter(|r| r.starts_with("POST")).count(),
            1,
            "{log:?}"
        );
    }

    #[tokio::test]
    async fn two_tags_keep_two_comments_and_new_always_creates() {
        let mock = MockGitHub::start(TOKEN).await;
        let t = target(&mock, 3);
        post_comment(&t, TOKEN, "fast", CommentMode::Update, "a")
            .await
            .expect("post");
        post_comment(&t, TOKEN, "nightly", CommentMode::Update, "b")
            .await
            .expect("post");
        post_comment(&t, TOKEN, "fast", CommentMode::Update, "a2")
            .await
            .expect("post");
        post_comment(&t, TOKEN, "nightly", CommentMode::Update, "b2")
            .await
            .expect("post");
        let bodies: Vec<String> = mock.comments(3).into_iter().map(|(_, b)| b).collect();
        assert_eq!(bodies.len(), 2, "{bodies:?}");
        assert!(
            bodies[0].starts_with("a2\n") && bodies[1].starts_with("b2\n"),
            "{bodies:?}"
        );

        let n = target(&mock, 4);
        post_comment(&n, TOKEN, "evals", CommentMode::New, "x")
            .await
            .expect("post");
        post_comment(&n, TOKEN, "evals", CommentMode::New, "x")
            .await
            .expect("post");
        assert_eq!(mock.comments(4).len(), 2);
    }

    #[tokio::test]
    async fn finds_the_comment_on_a_later_page() {
        let mock = MockGitHub::start(TOKEN).await;
        mock.set_page_size(2);
        for i in 0..5 {
            mock.insert_comment(9, &format!("someone else {i}"));
        }
        let t = target(&mock, 9);
        let first = post_comment(&t, TOKEN, "evals", CommentMode::Update, "v1")
            .await
            .expect("post");
        for i in 5..8 {
            mock.insert_comment(9, &format!("someone else {i}"));
        }
        let second = post_comment(&t, TOKEN, "evals", CommentMode::Update, "v2")
            .await
            .expect("post");
        let CommentOutcome::Created(id) = first else {
            panic!("{first:?}")
        };
        assert_eq!(second, CommentOutcome::Updated(id));
        assert_eq!(mock.comments(9).len(), 9);
        assert!(
            mock.requests().iter().any(|r| r.contains("page=3")),
            "{:?}",
            mock.requests()
        );
    }

    #[tokio::test]
    async fn forbidden_writes_are_no_permission_without_the_token() {
        let mock = MockGitHub::start(TOKEN).await;
        mock.set_forbid_writes(true);
        let t = target(&mock, 5);
        for mode in [CommentMode::Update, CommentMode::New] {
            let outcome = post_comment(&t, TOKEN, "evals", mode, "body")
                .await
                .expect("not an error");
            let CommentOutcome::NoPermission(message) = outcome else {
                panic!("{outcome:?}")
            };
            assert!(
                message.contains("HTTP 403") && message.contains("workflow_run"),
                "{message}"
            );
            assert!(!message.contains(TOKEN));
        }
        assert!(mock.comments(5).is_empty());
    }

    #[tokio::test]
    async fn mode_off_does_nothing() {
        let mock = MockGitHub::start(TOKEN).await;
        let outcome = post_comment(&target(&mock, 1), TOKEN, "evals", CommentMode::Off, "x").await;
        assert_eq!(outcome.expect("ok"), CommentOutcome::Skipped);
        assert!(mock.requests().is_empty());
    }

    /// A server that echoes the Authorization header in its error must not leak the token.
    #[tokio::test]
    async fn token_never_appears_in_errors() {
        let mock = MockGitHub::start(TOKEN).await;
        mock.set_echo_auth_error(true);
        let err = post_comment(&target(&mock, 2), TOKEN, "evals", CommentMode::Update, "x")
            .await
            .expect_err("server error");
        let text = format!("{err} {err:?}");
        assert!(!text.contains(TOKEN), "{text}");
        assert!(text.contains("HTTP 500") && text.contains("***"), "{text}");

        mock.set_echo_auth_error(false);
        let bad = post_comment(
            &target(&mock, 2),
            "wrong-token-value",
            "evals",
            CommentMode::Update,
            "x",
        )
        .await
        .expect_err("unauthorized");
        assert!(bad.to_string().contains("HTTP 401"), "{bad}");
        assert!(!bad.to_string().contains("wrong-token-value"), "{bad}");

        let closed = CommentTarget {
            api_url: Some("http://127.0.0.1:9".into()),
            ..target(&mock, 2)
        };
        let err = post_comment(&closed, TOKEN, "evals", CommentMode::Update, "x")
            .await
            .expect_err("refused");
        assert!(!format!("{err} {err:?}").contains(TOKEN), "{err}");
        assert!(
            err.to_string()
                .starts_with("github: cannot list the comments on octo/bot#2"),
            "{err}"
        );
    }
}
