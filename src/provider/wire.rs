//! What the HTTP backends share: one `reqwest::Client` per provider, sending a request,
//! and turning every HTTP failure into a [`ProviderError`] that names the provider and what to
//! do next, and never the API key.

use std::error::Error as _;
use std::sync::Once;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::ProviderError;
use crate::config::ProviderConfig;

/// Server error bodies are cut to this many characters before they reach a message.
const MAX_BODY_CHARS: usize = 500;

/// Installs ring as rustls' crypto provider. reqwest is built with `rustls-no-provider`, so
/// this must happen before the first client is built; a second install (by another module or
/// a test) is harmless and its error is ignored.
pub(super) fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// One connection pool per provider: keep-alive, and HTTP/2 when the server offers it.
pub(super) fn http_client(provider: &str) -> Result<reqwest::Client, ProviderError> {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .user_agent(concat!("evalgit/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            ProviderError::fatal(format!(
                "provider `{provider}`: cannot build an HTTP client: {e}"
            ))
        })
}

/// `headers` from the provider's table, validated once when the client is built.
pub(super) fn extra_headers(config: &ProviderConfig) -> Result<HeaderMap, ProviderError> {
    let mut map = HeaderMap::new();
    for (name, value) in &config.headers {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            ProviderError::fatal(format!(
                "provider `{}`: `{name}` is not a valid HTTP header name: fix `headers` in evalgit.toml",
                config.name
            ))
        })?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            ProviderError::fatal(format!(
                "provider `{}`: the value of header `{name}` is not a valid HTTP header value: fix `headers` in evalgit.toml",
                config.name
            ))
        })?;
        map.insert(header, value);
    }
    Ok(map)
}

/// The base URL without its trailing slash, so `{base}/path` never doubles it.
pub(super) fn join_url(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// Who is calling, for error messages and redaction.
pub(super) struct CallContext<'a> {
    pub provider: &'a str,
    pub api_key_env: Option<&'a str>,
    /// The key in use, only so it can be scrubbed from anything a server echoes back.
    pub key: Option<&'a str>,
    pub url: &'a str,
}

impl CallContext<'_> {
    /// Removes the key from `text` (servers echo it back in 401 bodies) and cuts it to
    /// [`MAX_BODY_CHARS`]. The key is replaced before cutting, so no prefix of it survives.
    pub fn scrub(&self, text: &str) -> String {
        scrub(text, self.key)
    }

    /// Sends the request and returns the body of a 2xx answer; any other answer, and any
    /// transport failure, becomes a [`ProviderError`].
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<String, ProviderError> {
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let body = response
            .text()
            .await
            .map_err(|e| self.transport_error(&e))?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(self.status_error(status, retry_after, &body))
        }
    }

    /// Parses a 2xx body as JSON. A malformed body is fatal: a retry would not change it.
    pub fn parse_json(&self, body: &str) -> Result<serde_json::Value, ProviderError> {
        serde_json::from_str(body).map_err(|e| {
            ProviderError::fatal(format!(
                "provider `{}`: the response from {} is not valid JSON ({e}): {}",
                self.provider,
                self.url,
                self.scrub(snippet(body))
            ))
        })
    }

    /// A well-formed answer that lacks what the wire format promises.
    pub fn unexpected(&self, what: &str, body: &str) -> ProviderError {
        ProviderError::fatal(format!(
            "provider `{}`: unexpected response from {}: {what}: {}",
            self.provider,
            self.url,
            self.scrub(snippet(body))
        ))
    }

    fn transport_error(&self, error: &reqwest::Error) -> ProviderError {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        let what = if error.is_connect() {
            "cannot connect to"
        } else if error.is_timeout() {
            "timed out talking to"
        } else {
            "request failed to"
        };
        let mut err = ProviderError::transient(format!(
            "provider `{}`: {what} {} ({}): check base_url and that the server is running",
            self.provider,
            self.url,
            self.scrub(&text)
        ));
        err.retryable = !error.is_builder();
        err
    }

    pub fn status_error(
        &self,
        status: u16,
        retry_after: Option<Duration>,
        body: &str,
    ) -> ProviderError {
        let detail = server_message(body)
            .map(|m| format!(" (server said: {})", self.scrub(&m)))
            .unwrap_or_default();
        let p = self.provider;
        let mut err = match status {
            401 | 403 => ProviderError::fatal(match self.api_key_env {
                Some(var) if std::env::var(var).map_or(true, |v| v.is_empty()) => format!(
                    "provider `{p}` requires an API key (HTTP {status}): the environment variable {var} named by `api_key_env` is not set{detail}"
                ),
                Some(var) => format!(
                    "provider `{p}` rejected the API key from {var} (HTTP {status}): check the key{detail}"
                ),
                None => format!(
                    "provider `{p}` requires an API key (HTTP {status}): set `api_key_env` to the environment variable that holds it{detail}"
                ),
            }),
            429 => {
                let mut e = ProviderError::transient(format!(
                    "provider `{p}` is rate limiting requests (HTTP 429): lower `max_concurrency` or set `requests_per_minute`{detail}"
                ));
                e.rate_limited = true;
                e
            }
            408 => ProviderError::transient(format!(
                "provider `{p}` timed out on the request (HTTP 408){detail}"
            )),
            500..=599 => ProviderError::transient(format!(
                "provider `{p}` had a server error (HTTP {status}){detail}"
            )),
            404 => ProviderError::fatal(format!(
                "provider `{p}`: {} answered HTTP 404: check base_url and the model name{detail}",
                self.url
            )),
            _ => ProviderError::fatal(format!(
                "provider `{p}` refused the request (HTTP {status}): check the provider's parameters in evalgit.toml{detail}"
            )),
        };
        err.status = Some(status);
        err.retry_after = retry_after;
        err
    }
}

/// Replaces every occurrence of `key` by `***`, then cuts to [`MAX_BODY_CHARS`] characters.
pub(super) fn scrub(text: &str, key: Option<&str>) -> String {
    let clean = match key {
        Some(k) if !k.is_empty() => text.replace(k, "***"),
        _ => text.to_string(),
    };
    match clean.char_indices().nth(MAX_BODY_CHARS) {
        Some((cut, _)) => format!("{}...", &clean[..cut]),
        None => clean,
    }
}

/// The start of a body, for messages about bodies that cannot be read.
fn snippet(body: &str) -> &str {
    match body.char_indices().nth(200) {
        Some((cut, _)) => &body[..cut],
        None => body,
    }
}

/// The human-readable part of an error body: OpenAI `{"error":{"message"}}`, Anthropic
/// `{"type":"error","error":{"type","message"}}`, `{"error":"..."}`, `{"message":"..."}`,
/// else the raw text. `None` for an empty body.
pub(super) fn server_message(body: &str) -> Option<String> {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return None;
    }
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(trimmed) {
        let found = json
            .pointer("/error/message")
            .or_else(|| json.get("error").filter(|e| e.is_string()))
            .or_else(|| json.get("message"))
            .or_else(|| json.get("detail"))
            .and_then(|m| m.as_str());
        if let Some(m) = found {
            return Some(m.to_string());
        }
    }
    Some(trimmed.to_string())
}

/// The longest wait evalgit sleeps before a retry; a server asking for more is not retried.
pub(super) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// `Retry-After` as seconds (integer or decimal) or an HTTP-date, else OpenAI's
/// `retry-after-ms`, as the server said (the client decides what to do with a long one).
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let parsed = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
        .or_else(|| {
            let ms = headers
                .get("retry-after-ms")?
                .to_str()
                .ok()?
                .trim()
                .parse::<f64>()
                .ok()?;
            Duration::try_from_secs_f64(ms / 1000.0).ok()
        })?;
    Some(parsed)
}

pub(super) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_replaces_the_key_before_cutting() {
        let key = "sk-secret-123";
        let long = format!("{}{key}", "x".repeat(495));
        let out = scrub(&long, Some(key));
        assert!(!out.contains("sk-"), "{out}");
        assert_eq!(scrub("bad key sk-secret-123!", Some(key)), "bad key ***!");
        assert_eq!(scrub("no key here", None), "no key here");
        assert!(scrub(&"é".repeat(600), None).ends_with("..."));
    }

    #[test]
    fn server_message_reads_every_error_shape() {
        let cases = [
            (
                r#"{"error":{"message":"bad model","type":"invalid_request_error"}}"#,
                Some("bad model"),
            ),
            (
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                Some("Overloaded"),
            ),
            (r#"{"error":"nope"}"#, Some("nope")),
            (r#"{"message":"m"}"#, Some("m")),
            ("plain text", Some("plain text")),
            ("  ", None),
        ];
        for (body, want) in cases {
            assert_eq!(server_message(body).as_deref(), want, "{body}");
        }
    }

    #[test]
    fn retry_after_accepts_seconds_dates_and_ms() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let d = parse_retry_after(&future).unwrap_or_default();
        assert!(
            d > Duration::from_secs(25) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);

        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("3600"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3600)));
        let mut headers = HeaderMap::new();
        headers.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
    }

    #[test]
    fn status_errors_classify_and_name_the_variable() {
        let ctx = CallContext {
            provider: "p",
            api_key_env: Some("OPENAI_API_KEY"),
            key: Some("sk-k"),
            url: "http://x",
        };
        let cases: [(u16, bool, bool); 8] = [
            (400, false, false),
            (401, false, false),
            (404, false, false),
            (408, true, false),
            (429, true, true),
            (500, true, false),
            (503, true, false),
            (529, true, false),
        ];
        for (status, retryable, rate_limited) in cases {
            let e = ctx.status_error(status, None, "");
            assert_eq!(
                (e.retryable, e.rate_limited, e.status),
                (retryable, rate_limited, Some(status)),
                "{status}"
            );
        }
        let e = ctx.status_error(
            401,
            None,
            r#"{"error":{"message":"Incorrect API key provided: sk-k"}}"#,
        );
        assert!(
            e.message.contains("OPENAI_API_KEY") && !e.message.contains("sk-k"),
            "{}",
            e.message
        );
    }
}
