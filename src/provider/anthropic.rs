//! Anthropic messages: `POST {base_url}/v1/messages`, with the system prompt as a top-level
//! field and `max_tokens` always sent (the API requires it).

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};

use super::wire::{self, CallContext};
use super::{ChatRequest, Completion, ProviderError, Usage, api_key};
use crate::config::{ProviderConfig, Role};

pub(super) const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
const API_VERSION: &str = "2023-06-01";
/// Sent when the provider sets no `max_tokens`, because the API rejects a request without it.
pub(super) const DEFAULT_MAX_TOKENS: u32 = 1024;

pub(super) struct Anthropic {
    http: reqwest::Client,
    url: String,
    headers: HeaderMap,
    config: ProviderConfig,
}

impl Anthropic {
    pub fn new(config: &ProviderConfig) -> Result<Self, ProviderError> {
        let base = config.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        Ok(Anthropic {
            http: wire::http_client(&config.name)?,
            url: wire::join_url(base, "/v1/messages"),
            headers: wire::extra_headers(config)?,
            config: config.clone(),
        })
    }

    pub async fn complete(&self, req: &ChatRequest) -> Result<Completion, ProviderError> {
        let key = api_key(&self.config)?;
        let ctx = CallContext {
            provider: &self.config.name,
            api_key_env: self.config.api_key_env.as_deref(),
            key: key.as_deref(),
            url: &self.url,
        };
        let mut request = self
            .http
            .post(&self.url)
            .header("anthropic-version", API_VERSION)
            .headers(self.headers.clone())
            .json(&request_body(&self.config, req));
        if let Some(key) = &key {
            request = request.header("x-api-key", key.as_str());
        }
        let body = ctx.send(request).await?;
        let json = ctx.parse_json(&body)?;
        parse_response(&json, &self.config).map_err(|what| ctx.unexpected(what, &body))
    }
}

/// System messages are joined into the top-level `system`; `seed` and `response_format` have
/// no Anthropic equivalent and are not sent (use `extra` for Anthropic-only parameters).
pub(super) fn request_body(config: &ProviderConfig, req: &ChatRequest) -> Value {
    let p = &config.params;
    let system: Vec<&str> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    let messages: Vec<Value> = req
        .messages
        .iter()
        .filter(|m| m.role != Role::System)
        .map(|m| json!({"role": m.role.name(), "content": m.content}))
        .collect();
    let mut body = Map::new();
    body.insert("model".into(), json!(config.model_name()));
    body.insert(
        "max_tokens".into(),
        json!(p.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    body.insert("messages".into(), Value::Array(messages));
    let optional = [
        ("temperature", p.temperature.map(|v| json!(v))),
        ("top_p", p.top_p.map(|v| json!(v))),
        (
            "stop_sequences",
            (!p.stop.is_empty()).then(|| json!(p.stop)),
        ),
        ("tools", p.tools.clone()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            body.insert(name.into(), value);
        }
    }
    for (name, value) in &p.extra {
        body.insert(name.clone(), value.clone());
    }
    Value::Object(body)
}

/// The concatenated `text` blocks; when there are none but the model used tools, the JSON of
/// the `tool_use` blocks.
pub(super) fn parse_response(
    json: &Value,
    config: &ProviderConfig,
) -> Result<Completion, &'static str> {
    let blocks = json
        .get("content")
        .and_then(Value::as_array)
        .ok_or("no content array")?;
    let is = |b: &&Value, kind: &str| b.get("type").and_then(Value::as_str) == Some(kind);
    let texts: Vec<&str> = blocks
        .iter()
        .filter(|b| is(b, "text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    let text = if texts.is_empty() {
        let tools: Vec<&Value> = blocks.iter().filter(|b| is(b, "tool_use")).collect();
        if tools.is_empty() {
            String::new()
        } else {
            json!(tools).to_string()
        }
    } else {
        texts.concat()
    };
    let count = |name: &str| {
        json.pointer(&format!("/usage/{name}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok(Completion {
        text,
        usage: Usage {
            input_tokens: count("input_tokens"),
            output_tokens: count("output_tokens"),
        },
        model: json
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(config.model_name())
            .to_string(),
        latency: Duration::ZERO,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Message, ProviderKind};

    fn config() -> ProviderConfig {
        let mut c = ProviderConfig::new("claude", ProviderKind::Anthropic);
        c.model = Some("claude-sonnet-4-5".into());
        c
    }

    #[test]
    fn body_moves_system_to_top_level_and_defaults_max_tokens() {
        let mut c = config();
        c.params.temperature = Some(0.2);
        c.params.seed = Some(7);
        c.params.stop = vec!["END".into()];
        let req = ChatRequest {
            messages: vec![
                Message {
                    role: Role::System,
                    content: "be brief".into(),
                },
                Message {
                    role: Role::User,
                    content: "hi".into(),
                },
                Message {
                    role: Role::Assistant,
                    content: "hello".into(),
                },
                Message {
                    role: Role::User,
                    content: "bye".into(),
                },
            ],
            vars: Default::default(),
        };
        assert_eq!(
            request_body(&c, &req),
            json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": 1024,
                "system": "be brief",
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello"},
                    {"role": "user", "content": "bye"},
                ],
                "temperature": 0.2,
                "stop_sequences": ["END"],
            })
        );
    }

    #[test]
    fn parse_concatenates_text_blocks() {
        let c = config();
        let cases = [
            (
                json!({"model": "claude-x", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "usage": {"input_tokens": 3, "output_tokens": 2}}),
                Ok(("ab".to_string(), 3, 2, "claude-x".to_string())),
            ),
            (
                json!({"content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}),
                Ok((
                    r#"[{"type":"tool_use","id":"t","name":"f","input":{}}]"#.to_string(),
                    0,
                    0,
                    "claude-sonnet-4-5".to_string(),
                )),
            ),
            (
                json!({"content": []}),
                Ok((String::new(), 0, 0, "claude-sonnet-4-5".to_string())),
            ),
            (json!({"type": "message"}), Err("no content array")),
        ];
        for (json, want) in cases {
            let got = parse_response(&json, &c)
                .map(|c| (c.text, c.usage.input_tokens, c.usage.output_tokens, c.model));
            assert_eq!(got, want, "{json}");
        }
    }
}
