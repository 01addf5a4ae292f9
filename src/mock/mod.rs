//! A mock model server for tests, demos and benchmarks: speaks OpenAI chat completions
//! (`POST /v1/chat/completions`), Anthropic messages (`POST /v1/messages`) and a generic JSON
//! endpoint (`POST /http`, answering `{"answer", "tokens": {"in", "out"}}`), including their
//! errors: 429 with `Retry-After`, 5xx, malformed bodies, slow answers, a wrong key.
//!
//! The answer is a pure function of the request: the first matching [`Rule`], else
//! `echo: <last user message>`. Usage is deterministic too: input tokens are the words of all
//! messages plus one per message, output tokens the words of the answer.
//!
//! `GET /stats` returns `{"requests", "by_path", "by_prompt", "in_flight", "max_in_flight"}`;
//! `POST /reset` zeroes them. Library code (not a test helper) so that tests start it
//! in-process and the `evalgit-mock` binary is a thin wrapper.

mod config;
mod handler;
mod state;

pub use config::{MockConfig, Rule};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use state::MockState;

/// A running mock; it stops (listener and open connections) when dropped.
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<MockState>,
    task: JoinHandle<()>,
}

/// Binds 127.0.0.1 (`config.port`, 0 for any free port) and serves until the returned
/// [`MockServer`] is dropped. Must be called inside a tokio runtime.
pub async fn start(config: MockConfig) -> std::io::Result<MockServer> {
    let listener = TcpListener::bind(("127.0.0.1", config.port)).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(MockState::new(config));
    let task = tokio::spawn(serve(listener, Arc::clone(&state)));
    Ok(MockServer { addr, state, task })
}

async fn serve(listener: TcpListener, state: Arc<MockState>) {
    // Connections live in this set so that dropping the server (which aborts this task)
    // closes them too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let state = Arc::clone(&state);
                    connections.spawn(async move {
                        let service = service_fn(move |req| handler::handle(Arc::clone(&state), req));
                        let _ = http1::Builder::new()
                            .timer(TokioTimer::new())
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                // Out of file descriptors under a benchmark, say: wait and keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

impl MockServer {
    /// `http://127.0.0.1:PORT`. OpenAI clients use `{url}/v1` as their base URL, Anthropic
    /// clients `{url}`, the generic endpoint is `{url}/http`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Model requests received so far (`/stats` and `/reset` are not counted).
    pub fn requests(&self) -> u64 {
        self.state.requests()
    }

    /// Model requests whose last user message contains `substring`.
    pub fn requests_for(&self, substring: &str) -> u64 {
        self.state.requests_for(substring)
    }

    /// The most model requests that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight()
    }

    /// What `GET /stats` returns.
    pub fn stats(&self) -> serde_json::Value {
        self.state.stats()
    }

    /// What `POST /reset` does: zero the counters and the rules' uses.
    pub fn reset(&self) {
        self.state.reset();
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
            .finish()
    }
}
