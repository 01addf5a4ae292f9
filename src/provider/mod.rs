//! Model providers: OpenAI chat completions (and compatible servers), Anthropic messages,
//! a user's own HTTP JSON endpoint, and a local command.
//!
//! Async lives here and in `runner` only. A provider turns one [`ChatRequest`] into one
//! [`Completion`] or one [`ProviderError`]; retries, rate limits and concurrency are applied
//! around it by the runner.

mod anthropic;
mod client;
mod concurrency;
mod exec;
mod http;
mod openai;
pub mod price;
#[cfg(unix)]
mod process_group;
mod rate;
mod wire;

pub use client::{Client, ClientStats, DEFAULT_BACKOFF_BASE, MAX_BACKOFF};
pub use price::{PriceOrigin, PriceTable, cost_usd, estimate_message_tokens, estimate_tokens};

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Message, ProviderConfig};

/// What the runner asks of a provider: rendered messages plus the provider's settings.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    /// Scenario variables, for `http` body templates.
    pub vars: std::collections::BTreeMap<String, serde_json::Value>,
}

/// Token counts as reported by the provider (or estimated, when `estimated`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, rhs: Usage) {
        self.input_tokens += rhs.input_tokens;
        self.output_tokens += rhs.output_tokens;
    }
}

/// One answer from a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub usage: Usage,
    /// The model that answered, as the provider reports it (falls back to the configured one).
    pub model: String,
    pub latency: Duration,
}

/// Why a call failed. `retryable` errors are retried by the runner with backoff.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub message: String,
    pub retryable: bool,
    /// From a `Retry-After` header, when the provider sent one.
    pub retry_after: Option<Duration>,
    /// HTTP status, when there was one.
    pub status: Option<u16>,
    /// A 429: the runner lowers its concurrency for this provider.
    pub rate_limited: bool,
}

impl ProviderError {
    pub fn fatal(message: impl Into<String>) -> Self {
        ProviderError {
            message: message.into(),
            retryable: false,
            retry_after: None,
            status: None,
            rate_limited: false,
        }
    }
    pub fn transient(message: impl Into<String>) -> Self {
        ProviderError {
            message: message.into(),
            retryable: true,
            retry_after: None,
            status: None,
            rate_limited: false,
        }
    }
}

/// Reads the API key named by `api_key_env`. `Ok(None)` when no variable is configured or
/// it is unset: the key is optional (local servers need none), and a server that wants one
/// answers 401, which is reported naming the unset variable, never a value.
pub fn api_key(config: &ProviderConfig) -> Result<Option<String>, ProviderError> {
    Ok(config
        .api_key_env
        .as_ref()
        .and_then(|var| std::env::var(var).ok())
        .filter(|v| !v.is_empty()))
}
