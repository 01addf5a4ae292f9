//! OpenAI chat completions, and every server that speaks it (vLLM, llama.cpp, Ollama, LiteLLM,
//! OpenRouter): `POST {base_url}/chat/completions`.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};

use super::wire::{self, CallContext};
use super::{ChatRequest, Completion, ProviderError, Usage, api_key};
use crate::config::ProviderConfig;

pub(super) const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

pub(super) struct OpenAi {
    http: reqwest::Client,
    url: String,
    headers: HeaderMap,
    config: ProviderConfig,
}

impl OpenAi {
    pub fn new(config: &ProviderConfig) -> Result<Self, ProviderError> {
        let base = config.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        Ok(OpenAi {
            http: wire::http_client(&config.name)?,
            url: wire::join_url(base, "/chat/completions"),
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
            .headers(self.headers.clone())
            .json(&request_body(&self.config, req));
        if let Some(key) = &key {
            request = request.bearer_auth(key);
        }
        let body = ctx.send(request).await?;
        let json = ctx.parse_json(&body)?;
        parse_response(&json, &self.config).map_err(|what| ctx.unexpected(what, &body))
    }
}

/// The request body: model, messages, the sampling parameters that are set, then every
/// `extra` key (last, so it would win; loading rejects `extra` keys that evalgit sets).
pub(super) fn request_body(config: &ProviderConfig, req: &ChatRequest) -> Value {
    let p = &config.params;
    let mut body = Map::new();
    body.insert("model".into(), json!(config.model_name()));
    body.insert("messages".into(), json!(req.messages));
    let optional = [
        ("temperature", p.temperature.map(|v| json!(v))),
        ("max_tokens", p.max_tokens.map(|v| json!(v))),
        ("top_p", p.top_p.map(|v| json!(v))),
        ("seed", p.seed.map(|v| json!(v))),
        ("stop", (!p.stop.is_empty()).then(|| json!(p.stop))),
        ("response_format", p.response_format.clone()),
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

/// `choices[0].message.content`; when the content is null and the model called tools, the
/// output is the JSON of `tool_calls`. Missing usage counts as zero tokens.
pub(super) fn parse_response(
    json: &Value,
    config: &ProviderConfig,
) -> Result<Completion, &'static str> {
    let message = json
        .pointer("/choices/0/message")
        .ok_or("no choices[0].message")?;
    let text = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        // Some compatible servers return content parts.
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        Some(Value::Null) | None => match message.get("tool_calls") {
            Some(calls) if !calls.is_null() => calls.to_string(),
            _ => match message.get("refusal").and_then(Value::as_str) {
                Some(refusal) => refusal.to_string(),
                None => String::new(),
            },
        },
        Some(_) => return Err("choices[0].message.content is neither a string nor null"),
    };
    let count = |name: &str| {
        json.pointer(&format!("/usage/{name}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok(Completion {
        text,
        usage: Usage {
            input_tokens: count("prompt_tokens"),
            output_tokens: count("completion_tokens"),
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
    use crate::config::{Message, ProviderKind, Role};

    fn config() -> ProviderConfig {
        let mut c = ProviderConfig::new("gpt", ProviderKind::Openai);
        c.model = Some("gpt-4o-mini".into());
        c
    }

    fn req(text: &str) -> ChatRequest {
        ChatRequest {
            messages: vec![Message {
                role: Role::User,
                content: text.into(),
            }],
            vars: Default::default(),
        }
    }

    #[test]
    fn body_has_only_set_params_and_extra_last() {
        let mut c = config();
        c.params.temperature = Some(0.0);
        c.params.max_tokens = Some(64);
        c.params.stop = vec!["\n".into()];
        c.params.extra.insert("max_tokens".into(), json!(32));
        c.params.extra.insert("logprobs".into(), json!(true));
        let body = request_body(&c, &req("hi"));
        assert_eq!(
            body,
            json!({
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "hi"}],
                "temperature": 0.0,
                "max_tokens": 32,
                "stop": ["\n"],
                "logprobs": true,
            })
        );
        assert!(body.get("seed").is_none() && body.get("tools").is_none());
    }

    #[test]
    fn parse_reads_content_tool_calls_and_usage() {
        let c = config();
        let cases = [
            (
                json!({"model": "m1", "choices": [{"message": {"content": "Paris"}}], "usage": {"prompt_tokens": 5, "completion_tokens": 1}}),
                Ok(("Paris".to_string(), 5, 1, "m1")),
            ),
            (
                json!({"choices": [{"message": {"content": "0"}}]}),
                Ok(("0".to_string(), 0, 0, "gpt-4o-mini")),
            ),
            (
                json!({"choices": [{"message": {"content": ""}}]}),
                Ok((String::new(), 0, 0, "gpt-4o-mini")),
            ),
            (
                json!({"choices": [{"message": {"content": null, "tool_calls": [{"id": "1", "type": "function"}]}}]}),
                Ok((
                    r#"[{"id":"1","type":"function"}]"#.to_string(),
                    0,
                    0,
                    "gpt-4o-mini",
                )),
            ),
            (json!({"choices": []}), Err("no choices[0].message")),
            (
                json!({"choices": [{"message": {"content": 3}}]}),
                Err("choices[0].message.content is neither a string nor null"),
            ),
        ];
        for (json, want) in cases {
            let got = parse_response(&json, &c)
                .map(|c| (c.text, c.usage.input_tokens, c.usage.output_tokens, c.model));
            let want = want.map(|(t, i, o, m)| (t, i, o, m.to_string()));
            assert_eq!(got, want, "{json}");
        }
    }
}
