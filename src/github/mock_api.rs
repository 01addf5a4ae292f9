//! A small in-memory GitHub API for tests: the three issue-comment endpoints evalgit uses,
//! with `Link` pagination, token checking, and switches for the failures that matter (a
//! read-only token, a server that echoes credentials back).
//!
//! Public (hidden from the docs) so integration tests of `evalgit comment` can point
//! `GITHUB_API_URL` at it.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};

/// The token's own login: what GitHub shows as the author of comments made with a
/// workflow's `GITHUB_TOKEN`.
pub const BOT_LOGIN: &str = "github-actions[bot]";

#[derive(Debug, Clone)]
struct Comment {
    issue: u64,
    id: u64,
    body: String,
    /// `None`: written with the token (the bot).
    author: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    /// Comments in creation order.
    comments: Vec<Comment>,
    next_id: u64,
    /// Largest page the server returns, whatever `per_page` asks (GitHub's is 100).
    page_size: usize,
    forbid_writes: bool,
    echo_auth_error: bool,
    /// `METHOD path?query` of every request.
    requests: Vec<String>,
}

/// A running mock; it serves until the runtime that started it shuts down.
#[derive(Debug, Clone)]
pub struct MockGitHub {
    /// `http://127.0.0.1:PORT`, for `GITHUB_API_URL`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl MockGitHub {
    /// Starts a server on a free port of 127.0.0.1 that accepts only `Bearer token`.
    pub async fn start(token: &str) -> MockGitHub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1 for the mock GitHub API");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let state = Arc::new(Mutex::new(State {
            next_id: 1000,
            page_size: 100,
            ..State::default()
        }));
        let (serve_state, serve_url, token) = (state.clone(), url.clone(), token.to_string());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (state, url, token) = (serve_state.clone(), serve_url.clone(), token.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (state, url, token) = (state.clone(), url.clone(), token.clone());
                        async move { Ok::<_, Infallible>(handle(req, &state, &url, &token).await) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        MockGitHub { url, state }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `(id, body)` of the comments on `issue`, oldest first.
    pub fn comments(&self, issue: u64) -> Vec<(u64, String)> {
        self.lock()
            .comments
            .iter()
            .filter(|c| c.issue == issue)
            .map(|c| (c.id, c.body.clone()))
            .collect()
    }

    /// Adds a comment as if someone else wrote it (a person, `login`): the token may not
    /// edit it, as on GitHub.
    pub fn insert_comment(&self, issue: u64, body: &str) -> u64 {
        self.insert(issue, body, Some("someone"))
    }

    /// Adds a comment as `login` (`None`: the token's own bot user).
    pub fn insert(&self, issue: u64, body: &str, login: Option<&str>) -> u64 {
        let mut s = self.lock();
        s.next_id += 1;
        let id = s.next_id;
        s.comments.push(Comment {
            issue,
            id,
            body: body.to_string(),
            author: login.map(str::to_string),
        });
        id
    }

    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    pub fn set_page_size(&self, n: usize) {
        self.lock().page_size = n.max(1);
    }

    /// Answer 403 to every write, as GitHub does for a fork's read-only token.
    pub fn set_forbid_writes(&self, on: bool) {
        self.lock().forbid_writes = on;
    }

    /// Answer 500 to every request with the Authorization header in the message.
    pub fn set_echo_auth_error(&self, on: bool) {
        self.lock().echo_auth_error = on;
    }
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(
        status,
        serde_json::json!({ "message": message, "documentation_url": "https://docs.github.com/rest" }),
    )
}

fn comment_json(url: &str, c: &Comment) -> serde_json::Value {
    let (issue, id, body) = (c.issue, c.id, &c.body);
    let user = match &c.author {
        None => serde_json::json!({ "login": BOT_LOGIN, "id": 41898282, "type": "Bot" }),
        Some(login) => serde_json::json!({
            "login": login,
            "id": 1,
            "type": if login.ends_with("[bot]") { "Bot" } else { "User" },
        }),
    };
    serde_json::json!({
        "id": id,
        "node_id": format!("IC_{id}"),
        "url": format!("{url}/repos/o/r/issues/comments/{id}"),
        "html_url": format!("https://github.com/o/r/pull/{issue}#issuecomment-{id}"),
        "body": body,
        "user": user,
        "created_at": "2026-12-01T10:00:00Z",
        "updated_at": "2026-12-01T10:00:00Z",
    })
}

async fn handle(
    req: Request<Incoming>,
    state: &Mutex<State>,
    url: &str,
    token: &str,
) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    s.requests.push(if query.is_empty() {
        format!("{method} {path}")
    } else {
        format!("{method} {path}?{query}")
    });

    if s.echo_auth_error {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("internal error for {auth}"),
        );
    }
    if auth != format!("Bearer {token}") {
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    let is_write = method == Method::POST || method == Method::PATCH;
    if is_write && s.forbid_writes {
        return error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        );
    }
    let new_body = || -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
        v.get("body")?.as_str().map(str::to_string)
    };

    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.clone(), parts.as_slice()) {
        (Method::GET, ["repos", o, r, "issues", n, "comments"]) => {
            let Ok(issue) = n.parse::<u64>() else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            let param = |k: &str| {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                    .and_then(|v| v.parse::<usize>().ok())
            };
            let per_page = param("per_page").unwrap_or(30).clamp(1, s.page_size);
            let page = param("page").unwrap_or(1).max(1);
            let all: Vec<&Comment> = s.comments.iter().filter(|c| c.issue == issue).collect();
            let items: Vec<serde_json::Value> = all
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|c| comment_json(url, c))
                .collect();
            let mut response = json(StatusCode::OK, serde_json::Value::Array(items));
            if page * per_page < all.len() {
                let next = format!(
                    "<{url}/repos/{o}/{r}/issues/{issue}/comments?per_page={per_page}&page={}>; rel=\"next\"",
                    page + 1
                );
                if let Ok(v) = hyper::header::HeaderValue::from_str(&next) {
                    response.headers_mut().insert("link", v);
                }
            }
            response
        }
        (Method::POST, ["repos", _, _, "issues", n, "comments"]) => {
            let (Ok(issue), Some(text)) = (n.parse::<u64>(), new_body()) else {
                return error(StatusCode::UNPROCESSABLE_ENTITY, "Invalid request");
            };
            s.next_id += 1;
            let comment = Comment {
                issue,
                id: s.next_id,
                body: text,
                author: None,
            };
            s.comments.push(comment.clone());
            json(StatusCode::CREATED, comment_json(url, &comment))
        }
        (Method::PATCH, ["repos", _, _, "issues", "comments", id]) => {
            let (Ok(id), Some(text)) = (id.parse::<u64>(), new_body()) else {
                return error(StatusCode::UNPROCESSABLE_ENTITY, "Invalid request");
            };
            match s.comments.iter_mut().find(|c| c.id == id) {
                // Only its author may edit a comment.
                Some(c) if c.author.is_some() => error(
                    StatusCode::FORBIDDEN,
                    "Resource not accessible by integration",
                ),
                Some(c) => {
                    c.body = text;
                    let c = c.clone();
                    json(StatusCode::OK, comment_json(url, &c))
                }
                None => error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        // A workflow's installation token may not read its own user.
        (Method::GET, ["user"]) => error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        ),
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}
