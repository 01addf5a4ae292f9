//! [`Client`]: one provider, with everything a well-behaved caller does around each request:
//! a concurrency limit that backs off on 429, an optional requests-per-minute pace, a
//! per-request timeout, and retries with exponential backoff and full jitter that honour
//! `Retry-After`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::anthropic::Anthropic;
use super::concurrency::AdaptiveLimit;
use super::exec::Exec;
use super::http::HttpJson;
use super::openai::OpenAi;
use super::rate::RateLimit;
use super::wire::MAX_RETRY_AFTER;
use super::{ChatRequest, Completion, ProviderError};
use crate::config::{ProviderConfig, ProviderKind};

/// First retry waits up to this long (full jitter: a uniform draw in `[0, delay]`).
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_millis(500);
/// No exponential backoff step waits longer than this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Used when `timeout_secs` is not a positive number.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A provider ready to answer [`ChatRequest`]s. Cheap to clone and share between tasks: the
/// clones share one connection pool, one concurrency limit and one rate limit.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    backend: Backend,
    concurrency: AdaptiveLimit,
    rate: Option<RateLimit>,
    timeout: Duration,
    max_retries: u32,
    backoff_base_nanos: AtomicU64,
    stats: Counters,
}

enum Backend {
    OpenAi(OpenAi),
    Anthropic(Anthropic),
    /// Boxed: the template environment makes it much larger than the others.
    Http(Box<HttpJson>),
    Exec(Exec),
}

#[derive(Default)]
struct Counters {
    attempts: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    timeouts: AtomicU64,
}

/// What a client has done so far, for progress output and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientStats {
    /// Calls made to the provider, retries included.
    pub attempts: u64,
    /// Calls that were retries of an earlier failed attempt.
    pub retries: u64,
    /// Answers that were HTTP 429.
    pub rate_limited: u64,
    /// Attempts cut off by `timeout_secs`.
    pub timeouts: u64,
    /// The effective concurrency limit now (`max_concurrency`, or lower after 429s).
    pub concurrency_limit: usize,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No field that could hold a key is printed; the key is never stored here anyway.
        f.debug_struct("Client")
            .field("provider", &self.inner.name)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Client {
    /// Builds the client for one `[providers.NAME]`. `root` is the project root: the working
    /// directory of `exec` commands. The API key is read from its environment variable at
    /// each request, so building a client never fails for a missing key.
    pub fn new(config: &ProviderConfig, root: &Path) -> Result<Client, ProviderError> {
        let backend = match config.kind {
            ProviderKind::Openai => Backend::OpenAi(OpenAi::new(config)?),
            ProviderKind::Anthropic => Backend::Anthropic(Anthropic::new(config)?),
            ProviderKind::Http => Backend::Http(Box::new(HttpJson::new(config)?)),
            ProviderKind::Exec => Backend::Exec(Exec::new(config, root)?),
        };
        let timeout = Duration::try_from_secs_f64(config.timeout_secs)
            .ok()
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_TIMEOUT);
        Ok(Client {
            inner: Arc::new(Inner {
                name: config.name.clone(),
                backend,
                concurrency: AdaptiveLimit::new(config.max_concurrency),
                rate: config.requests_per_minute.and_then(RateLimit::per_minute),
                timeout,
                max_retries: config.max_retries,
                backoff_base_nanos: AtomicU64::new(DEFAULT_BACKOFF_BASE.as_nanos() as u64),
                stats: Counters::default(),
            }),
        })
    }

    /// Sets the first backoff step (default 500 ms); tests use a few milliseconds.
    /// `Retry-After` from the server still wins.
    pub fn with_backoff_base(self, base: Duration) -> Client {
        self.inner.backoff_base_nanos.store(
            base.as_nanos().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
        self
    }

    /// The provider's name in `evalgit.toml`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn stats(&self) -> ClientStats {
        let s = &self.inner.stats;
        ClientStats {
            attempts: s.attempts.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
            rate_limited: s.rate_limited.load(Ordering::Relaxed),
            timeouts: s.timeouts.load(Ordering::Relaxed),
            concurrency_limit: self.inner.concurrency.limit(),
        }
    }

    /// Calls made to the provider so far, retries included.
    pub fn attempts(&self) -> u64 {
        self.inner.stats.attempts.load(Ordering::Relaxed)
    }

    /// One answer, after up to `max_retries` retries of transient failures (429, 5xx,
    /// timeouts, connection errors). Other failures return at once. `latency` is the time of
    /// the successful attempt.
    pub async fn complete(&self, req: &ChatRequest) -> Result<Completion, ProviderError> {
        let inner = &*self.inner;
        let mut retries = 0u32;
        loop {
            let slot = inner.concurrency.acquire().await;
            if let Some(rate) = &inner.rate {
                rate.wait().await;
            }
            inner.stats.attempts.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let outcome = match tokio::time::timeout(inner.timeout, inner.backend.complete(req))
                .await
            {
                Ok(outcome) => outcome,
                Err(_) => {
                    inner.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                    Err(ProviderError::transient(format!(
                        "provider `{}` did not answer within {:.1} s: raise `timeout_secs` or check the server",
                        inner.name,
                        inner.timeout.as_secs_f64()
                    )))
                }
            };
            match outcome {
                Ok(mut completion) => {
                    slot.succeeded();
                    completion.latency = started.elapsed();
                    return Ok(completion);
                }
                Err(mut error) => {
                    if error.rate_limited {
                        inner.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                        slot.rate_limited();
                    }
                    drop(slot);
                    // A server that asks for a longer wait than evalgit would ever sleep
                    // (an hourly quota) is not retried: waiting silently would stall the
                    // run, and a shorter wait would only be refused again.
                    if let Some(wait) = error.retry_after.filter(|w| *w > MAX_RETRY_AFTER) {
                        error.message.push_str(&format!(
                            " (the server asks to retry after {} s, longer than the {} s evalgit waits: try later, or lower max_concurrency / requests_per_minute)",
                            wait.as_secs(),
                            MAX_RETRY_AFTER.as_secs()
                        ));
                        return Err(error);
                    }
                    if !error.retryable || retries >= inner.max_retries {
                        if retries > 0 {
                            error
                                .message
                                .push_str(&format!(" (gave up after {} attempts)", retries + 1));
                        }
                        return Err(error);
                    }
                    retries += 1;
                    inner.stats.retries.fetch_add(1, Ordering::Relaxed);
                    let base =
                        Duration::from_nanos(inner.backoff_base_nanos.load(Ordering::Relaxed));
                    tokio::time::sleep(backoff(retries, base, error.retry_after)).await;
                }
            }
        }
    }
}

impl Backend {
    async fn complete(&self, req: &ChatRequest) -> Result<Completion, ProviderError> {
        match self {
            Backend::OpenAi(b) => b.complete(req).await,
            Backend::Anthropic(b) => b.complete(req).await,
            Backend::Http(b) => b.complete(req).await,
            Backend::Exec(b) => b.complete(req).await,
        }
    }
}

/// The wait before retry number `retry` (1-based). With `Retry-After`, that wait (capped at
/// 60 s) plus a little jitter so that many waiting requests do not return at the same
/// instant; without, full jitter over `base * 2^(retry-1)`, capped at 30 s.
pub(super) fn backoff(retry: u32, base: Duration, retry_after: Option<Duration>) -> Duration {
    match retry_after {
        Some(wait) => wait.min(MAX_RETRY_AFTER) + base.mul_f64(fastrand::f64() / 4.0),
        None => {
            let factor = 2u32.saturating_pow(retry.saturating_sub(1));
            base.saturating_mul(factor)
                .min(MAX_BACKOFF)
                .mul_f64(fastrand::f64())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::config::{Message, Role};
    use crate::mock::{self, MockConfig, MockServer, Rule};
    use crate::provider::Usage;

    async fn mock(rules: Vec<Rule>) -> MockServer {
        mock_with(MockConfig {
            rules,
            ..MockConfig::default()
        })
        .await
    }

    async fn mock_with(config: MockConfig) -> MockServer {
        mock::start(config)
            .await
            .unwrap_or_else(|e| panic!("mock: {e}"))
    }

    fn provider(kind: ProviderKind, server: &MockServer) -> ProviderConfig {
        let mut c = ProviderConfig::new("test", kind);
        c.base_url = Some(match kind {
            ProviderKind::Openai => format!("{}/v1", server.url()),
            ProviderKind::Http => format!("{}/http", server.url()),
            _ => server.url(),
        });
        c.model = Some("mock-1".into());
        c.timeout_secs = 5.0;
        c
    }

    fn client(config: &ProviderConfig) -> Client {
        Client::new(config, Path::new("."))
            .unwrap_or_else(|e| panic!("{e}"))
            .with_backoff_base(Duration::from_millis(2))
    }

    fn ask(text: &str) -> ChatRequest {
        ChatRequest {
            messages: vec![Message {
                role: Role::User,
                content: text.into(),
            }],
            vars: BTreeMap::new(),
        }
    }

    async fn ok(client: &Client, req: &ChatRequest) -> Completion {
        client.complete(req).await.unwrap_or_else(|e| panic!("{e}"))
    }

    async fn err(client: &Client, req: &ChatRequest) -> ProviderError {
        client
            .complete(req)
            .await
            .err()
            .unwrap_or_else(|| panic!("expected an error"))
    }

    /// An environment variable that is already set, so key tests never call `set_var`
    /// (unsafe while other test threads read the environment).
    fn existing_var() -> (&'static str, String) {
        ["HOME", "PATH", "USER", "PWD"]
            .into_iter()
            .find_map(|name| {
                std::env::var(name)
                    .ok()
                    .filter(|v| v.len() >= 2)
                    .map(|v| (name, v))
            })
            .unwrap_or_else(|| panic!("no usable environment variable"))
    }

    #[tokio::test]
    async fn openai_happy_path_reports_text_usage_and_model() {
        let server = mock(vec![]).await;
        let c = client(&provider(ProviderKind::Openai, &server));
        let got = ok(&c, &ask("capital of France")).await;
        assert_eq!(got.text, "echo: capital of France");
        // Mock usage: words + 1 per message in, words of the answer out.
        assert_eq!(
            got.usage,
            Usage {
                input_tokens: 4,
                output_tokens: 4
            }
        );
        assert_eq!(got.model, "mock-1");
        assert_eq!((c.attempts(), server.requests()), (1, 1));
    }

    #[tokio::test]
    async fn openai_outputs_zero_empty_and_tool_calls_are_real_outputs() {
        let calls = json!([{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]);
        let server = mock(vec![
            Rule::matching("zero").reply("0"),
            Rule::matching("empty").reply(""),
            Rule::matching("tool").tool_calls(calls.clone()),
        ])
        .await;
        let c = client(&provider(ProviderKind::Openai, &server));
        assert_eq!(ok(&c, &ask("zero")).await.text, "0");
        assert_eq!(ok(&c, &ask("empty")).await.text, "");
        assert_eq!(ok(&c, &ask("tool")).await.text, calls.to_string());
    }

    #[tokio::test]
    async fn anthropic_happy_path_sends_system_and_reads_usage() {
        let server = mock(vec![]).await;
        let c = client(&provider(ProviderKind::Anthropic, &server));
        let mut req = ask("hello there");
        req.messages.insert(
            0,
            Message {
                role: Role::System,
                content: "be brief".into(),
            },
        );
        let got = ok(&c, &req).await;
        assert_eq!(got.text, "echo: hello there");
        assert_eq!(
            got.usage,
            Usage {
                input_tokens: 3 + 3,
                output_tokens: 3
            }
        );
        assert_eq!(server.stats()["by_path"]["/v1/messages"], json!(1));
    }

    #[tokio::test]
    async fn rate_limited_429_honours_retry_after_then_succeeds() {
        let server = mock(vec![
            Rule::matching("busy").status(429).retry_after("1").times(1),
        ])
        .await;
        let c = client(&provider(ProviderKind::Openai, &server));
        let started = Instant::now();
        let got = ok(&c, &ask("busy day")).await;
        assert_eq!(got.text, "echo: busy day");
        let stats = c.stats();
        assert_eq!(
            (stats.attempts, stats.retries, stats.rate_limited),
            (2, 1, 1)
        );
        assert_eq!(server.requests_for("busy"), 2);
        // A lower bound only: the backoff base is 2 ms, so only Retry-After explains a wait.
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "{:?}",
            started.elapsed()
        );
    }

    /// Regression: `Retry-After: 3600` stalled the run silently (a minute per attempt, then
    /// again) instead of saying the server wants an hour.
    #[tokio::test]
    async fn a_retry_after_longer_than_evalgit_waits_fails_at_once() {
        let server = mock(vec![
            Rule::matching("quota").status(429).retry_after("3600"),
        ])
        .await;
        let c = client(&provider(ProviderKind::Openai, &server));
        let started = Instant::now();
        let err = c.complete(&ask("quota")).await.expect_err("rate limited");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(
            err.message
                .contains("retry after 3600 s, longer than the 60 s evalgit waits"),
            "{}",
            err.message
        );
        assert_eq!(server.requests_for("quota"), 1);
    }

    #[tokio::test]
    async fn anthropic_overloaded_529_and_server_500_are_retried() {
        let server = mock(vec![
            Rule::matching("a").status(529).times(2),
            Rule::matching("b").status(500).times(1),
        ])
        .await;
        let c = client(&provider(ProviderKind::Anthropic, &server));
        assert_eq!(ok(&c, &ask("a")).await.text, "echo: a");
        assert_eq!(c.attempts(), 3);
        let c = client(&provider(ProviderKind::Openai, &server));
        assert_eq!(ok(&c, &ask("b")).await.text, "echo: b");
        assert_eq!(c.attempts(), 2);
    }

    #[tokio::test]
    async fn persistent_server_error_gives_up_after_max_retries() {
        let server = mock(vec![
            Rule::matching("").status(503).reply("down for maintenance"),
        ])
        .await;
        let mut config = provider(ProviderKind::Openai, &server);
        config.max_retries = 2;
        let e = err(&client(&config), &ask("x")).await;
        assert!(e.retryable && e.status == Some(503), "{e:?}");
        assert!(
            e.message.contains("HTTP 503") && e.message.contains("down for maintenance"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("gave up after 3 attempts"),
            "{}",
            e.message
        );
        assert_eq!(server.requests(), 3);
    }

    #[tokio::test]
    async fn malformed_json_is_an_error_and_not_retried() {
        let server = mock(vec![Rule::matching("").raw_body("not json {")]).await;
        for kind in [ProviderKind::Openai, ProviderKind::Anthropic] {
            server.reset();
            let c = client(&provider(kind, &server));
            let e = err(&c, &ask("x")).await;
            assert!(!e.retryable, "{e:?}");
            assert!(e.message.contains("not valid JSON"), "{}", e.message);
            assert_eq!((c.attempts(), server.requests()), (1, 1));
        }
    }

    #[tokio::test]
    async fn other_4xx_is_not_retried() {
        let server = mock(vec![
            Rule::matching("")
                .status(400)
                .reply("unknown parameter: foo"),
        ])
        .await;
        let c = client(&provider(ProviderKind::Openai, &server));
        let e = err(&c, &ask("x")).await;
        assert!(
            !e.retryable && e.message.contains("unknown parameter: foo"),
            "{}",
            e.message
        );
        assert_eq!(c.attempts(), 1);
    }

    #[tokio::test]
    async fn slow_answer_times_out_after_retries() {
        let server = mock(vec![Rule::matching("slow").delay_ms(3_000)]).await;
        let mut config = provider(ProviderKind::Openai, &server);
        config.timeout_secs = 0.1;
        config.max_retries = 2;
        let c = client(&config);
        let e = err(&c, &ask("slow")).await;
        assert!(
            e.retryable && e.message.contains("did not answer within"),
            "{}",
            e.message
        );
        let stats = c.stats();
        assert_eq!((stats.attempts, stats.timeouts), (3, 3));
    }

    #[tokio::test]
    async fn connection_refused_is_retried_then_reported() {
        let server = mock(vec![]).await;
        let mut config = provider(ProviderKind::Openai, &server);
        drop(server);
        // Give the aborted listener a moment to close.
        tokio::time::sleep(Duration::from_millis(20)).await;
        config.max_retries = 1;
        let c = client(&config);
        let e = err(&c, &ask("x")).await;
        assert!(
            e.retryable && e.message.contains("cannot connect"),
            "{}",
            e.message
        );
        assert_eq!(c.attempts(), 2);
    }

    #[tokio::test]
    async fn wrong_key_names_the_variable_and_never_the_key() {
        let (var, value) = existing_var();
        let server = mock_with(MockConfig {
            require_key: Some("the-right-key".into()),
            ..MockConfig::default()
        })
        .await;
        for kind in [ProviderKind::Openai, ProviderKind::Anthropic] {
            let mut config = provider(kind, &server);
            config.api_key_env = Some(var.into());
            let c = client(&config);
            let e = err(&c, &ask("x")).await;
            assert_eq!((e.status, e.retryable), (Some(401), false));
            // The mock echoes the key it was sent, as OpenAI partly does.
            assert!(
                e.message.contains(&format!(
                    "rejected the API key from {var} (HTTP 401): check the key"
                )),
                "{}",
                e.message
            );
            assert!(
                !e.message.contains(&value) && !format!("{e:?}").contains(&value),
                "key leaked: {}",
                e.message
            );
            assert!(!format!("{c:?}").contains(&value));
            assert_eq!(c.attempts(), 1);
        }
    }

    #[tokio::test]
    async fn right_key_is_accepted_by_both_wire_formats() {
        let (var, value) = existing_var();
        let server = mock_with(MockConfig {
            require_key: Some(value),
            ..MockConfig::default()
        })
        .await;
        for kind in [
            ProviderKind::Openai,
            ProviderKind::Anthropic,
            ProviderKind::Http,
        ] {
            let mut config = provider(kind, &server);
            config.api_key_env = Some(var.into());
            config.response_path = Some("answer".into());
            assert_eq!(ok(&client(&config), &ask("hi")).await.text, "echo: hi");
        }
    }

    #[tokio::test]
    async fn unset_key_variable_is_optional_and_named_when_the_server_wants_a_key() {
        // A local server needs no key: the request goes out without one.
        let open = mock(vec![]).await;
        let mut config = provider(ProviderKind::Openai, &open);
        config.api_key_env = Some("EVALGIT_TEST_VARIABLE_THAT_IS_NOT_SET".into());
        ok(&client(&config), &ask("x")).await;
        assert_eq!(open.requests(), 1);
        // A server that wants one answers 401, and the error names the unset variable.
        let locked = mock_with(MockConfig {
            require_key: Some("k".into()),
            ..MockConfig::default()
        })
        .await;
        let mut config = provider(ProviderKind::Openai, &locked);
        config.api_key_env = Some("EVALGIT_TEST_VARIABLE_THAT_IS_NOT_SET".into());
        let e = err(&client(&config), &ask("x")).await;
        assert!(
            !e.retryable
                && e.message.contains("EVALGIT_TEST_VARIABLE_THAT_IS_NOT_SET")
                && e.message.contains("not set"),
            "{}",
            e.message
        );
    }

    #[tokio::test]
    async fn http_provider_renders_body_and_reads_response_path() {
        let server = mock(vec![]).await;
        let mut config = provider(ProviderKind::Http, &server);
        config.body =
            Some(json!({"prompt": "{{ prompt }} ({{ lang }})", "history": "{{ messages }}"}));
        config.response_path = Some("answer".into());
        config.usage_input_path = Some("tokens.in".into());
        config.usage_output_path = Some("tokens.out".into());
        config.headers.insert("x-team".into(), "evals".into());
        let mut req = ask("What is 2+2?");
        req.vars.insert("lang".into(), json!("fr"));
        let got = ok(&client(&config), &req).await;
        assert_eq!(got.text, "echo: What is 2+2? (fr)");
        assert_eq!(
            got.usage,
            Usage {
                input_tokens: 5,
                output_tokens: 5
            }
        );

        config.response_path = Some("tokens".into());
        assert_eq!(ok(&client(&config), &req).await.text, r#"{"in":5,"out":5}"#);
        config.response_path = Some("nope.0".into());
        let e = err(&client(&config), &req).await;
        assert!(
            !e.retryable && e.message.contains("no value at response_path `nope.0`"),
            "{}",
            e.message
        );
    }

    #[tokio::test]
    async fn exec_provider_runs_through_the_client() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("bot.sh"), "read -r q; echo \"bot: $q\"")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut config = ProviderConfig::new("bot", ProviderKind::Exec);
        config.command = vec!["sh".into(), "bot.sh".into()];
        let c = Client::new(&config, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let got = ok(&c, &ask("hi")).await;
        assert_eq!((got.text.as_str(), got.model.as_str()), ("bot: hi", "bot"));
    }

    #[tokio::test]
    async fn exec_timeout_kills_the_command() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("hang.sh"), "echo $$ > pid; exec sleep 30")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut config = ProviderConfig::new("hang", ProviderKind::Exec);
        config.command = vec!["sh".into(), "hang.sh".into()];
        config.timeout_secs = 0.3;
        config.max_retries = 0;
        let c = Client::new(&config, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let e = err(&c, &ask("x")).await;
        assert!(e.message.contains("did not answer within"), "{}", e.message);
        let pid = std::fs::read_to_string(dir.path().join("pid")).unwrap_or_default();
        // Killed on drop; gone, or a zombie until tokio reaps it.
        assert!(exits_soon(&pid).await, "the command outlived its timeout");
    }

    /// Whether `/proc/PID` is gone or a zombie within two seconds.
    async fn exits_soon(pid: &str) -> bool {
        let stat = format!("/proc/{}/stat", pid.trim());
        for _ in 0..100 {
            let state = std::fs::read_to_string(&stat).unwrap_or_default();
            if state.is_empty() || state.contains(") Z") {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    // Regression: with `command = ["sh", "scripts/bot.sh"]` running `sleep 37` and a timeout,
    // the shell was killed and the `sleep` kept running, re-parented to init.
    #[tokio::test]
    async fn exec_timeout_kills_what_the_command_started() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // The inner shell writes its pid and becomes the sleep; the outer one waits for it.
        std::fs::write(
            dir.path().join("bot.sh"),
            "sh -c 'echo $$ > sleeper.pid; exec sleep 37'\necho done\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut config = ProviderConfig::new("bot", ProviderKind::Exec);
        config.command = vec!["sh".into(), "bot.sh".into()];
        config.timeout_secs = 0.5;
        config.max_retries = 0;
        let c = Client::new(&config, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let e = err(&c, &ask("x")).await;
        assert!(e.message.contains("did not answer within"), "{}", e.message);
        let pid = std::fs::read_to_string(dir.path().join("sleeper.pid")).unwrap_or_default();
        assert!(!pid.trim().is_empty(), "the script never started its sleep");
        assert!(exits_soon(&pid).await, "sleep {pid} outlived the timeout");
    }

    #[tokio::test]
    async fn concurrency_limit_is_respected() {
        let server = mock_with(MockConfig {
            latency_ms: 40,
            ..MockConfig::default()
        })
        .await;
        let mut config = provider(ProviderKind::Openai, &server);
        config.max_concurrency = 3;
        let c = client(&config);
        let calls: Vec<_> = (0..12)
            .map(|i| {
                let c = c.clone();
                tokio::spawn(async move { c.complete(&ask(&format!("q{i}"))).await })
            })
            .collect();
        for call in calls {
            assert!(matches!(call.await, Ok(Ok(_))));
        }
        assert_eq!(server.requests(), 12);
        assert!(
            (1..=3).contains(&server.max_in_flight()),
            "max in flight {}",
            server.max_in_flight()
        );
    }

    #[tokio::test]
    async fn rate_limits_lower_the_concurrency() {
        // The first eight requests (all in flight together) get 429; later ones are slow
        // successes, so in-flight counts are visible.
        let server = mock(vec![
            Rule::matching("")
                .status(429)
                .retry_after("0")
                .times(8)
                .delay_ms(20),
            Rule::matching("").delay_ms(30),
        ])
        .await;
        let mut config = provider(ProviderKind::Openai, &server);
        config.max_concurrency = 8;
        let c = client(&config);
        let run = |n: usize, tag: &'static str| {
            let c = c.clone();
            async move {
                let calls: Vec<_> = (0..n)
                    .map(|i| {
                        let c = c.clone();
                        tokio::spawn(async move { c.complete(&ask(&format!("{tag}{i}"))).await })
                    })
                    .collect();
                for call in calls {
                    assert!(matches!(call.await, Ok(Ok(_))));
                }
            }
        };
        run(8, "first").await;
        let stats = c.stats();
        assert_eq!(stats.rate_limited, 8);
        // Eight 429s from one burst halve the limit once, not three times.
        assert_eq!(stats.concurrency_limit, 4);

        server.reset();
        run(8, "second").await;
        assert!(
            server.max_in_flight() <= 5,
            "max in flight {}",
            server.max_in_flight()
        );
    }

    #[test]
    fn backoff_is_jittered_exponential_capped_and_honours_retry_after() {
        let base = Duration::from_millis(500);
        for _ in 0..200 {
            assert!(backoff(1, base, None) <= base);
            assert!(backoff(3, base, None) <= base * 4);
            assert!(backoff(30, base, None) <= MAX_BACKOFF);
            let wait = backoff(1, base, Some(Duration::from_secs(2)));
            assert!(wait >= Duration::from_secs(2) && wait <= Duration::from_secs(2) + base / 4);
            assert!(backoff(1, base, Some(Duration::from_secs(600))) <= MAX_RETRY_AFTER + base / 4);
        }
    }

    #[test]
    fn building_a_client_validates_the_provider() {
        let root = Path::new(".");
        let cases = [
            (
                ProviderConfig::new("h", ProviderKind::Http),
                "has no base_url",
            ),
            (
                ProviderConfig::new("e", ProviderKind::Exec),
                "has no command",
            ),
            (
                {
                    let mut c = ProviderConfig::new("o", ProviderKind::Openai);
                    c.headers.insert("bad header".into(), "v".into());
                    c
                },
                "not a valid HTTP header name",
            ),
        ];
        for (config, want) in cases {
            let e = Client::new(&config, root)
                .err()
                .map(|e| e.message)
                .unwrap_or_default();
            assert!(e.contains(want), "{e}");
        }
    }
}
