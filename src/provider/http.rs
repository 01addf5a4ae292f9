//! The user's own HTTP JSON endpoint: `POST base_url` with a body built from the provider's
//! `body` template, the answer read at `response_path`.

use std::time::Duration;

use minijinja::Environment;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::wire::{self, CallContext};
use super::{ChatRequest, Completion, ProviderError, Usage, api_key};
use crate::config::{ProviderConfig, body_template};

pub(super) struct HttpJson {
    http: reqwest::Client,
    url: String,
    headers: HeaderMap,
    config: ProviderConfig,
    /// Strict: a template that names a variable the scenario does not define is an error,
    /// not an empty string sent to the user's app.
    env: Environment<'static>,
}

impl HttpJson {
    pub fn new(config: &ProviderConfig) -> Result<Self, ProviderError> {
        let url = config.base_url.clone().ok_or_else(|| {
            ProviderError::fatal(format!(
                "provider `{}` (kind = \"http\") has no base_url: set it to the URL of your endpoint",
                config.name
            ))
        })?;
        let env = body_template::environment();
        Ok(HttpJson {
            http: wire::http_client(&config.name)?,
            url,
            headers: wire::extra_headers(config)?,
            config: config.clone(),
            env,
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
        let body = render_body(&self.env, &self.config, req)?;
        let mut request = self
            .http
            .post(&self.url)
            .headers(self.headers.clone())
            .json(&body);
        if let Some(key) = &key {
            request = request.bearer_auth(key);
        }
        let text = ctx.send(request).await?;
        let output = match &self.config.response_path {
            None => text.clone(),
            Some(path) => {
                let json = ctx.parse_json(&text)?;
                match lookup(&json, path) {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => {
                        return Err(ctx.unexpected(
                            &format!("no value at response_path `{path}` (check response_path in evalgit.toml)"),
                            &text,
                        ));
                    }
                }
            }
        };
        let usage = usage(&self.config, &text);
        Ok(Completion {
            text: output,
            usage,
            model: self.config.model_name().to_string(),
            latency: Duration::ZERO,
        })
    }
}

/// Token counts at `usage_input_path` / `usage_output_path`, as numbers or numeric strings;
/// a path that is not set or not found counts as zero.
fn usage(config: &ProviderConfig, body: &str) -> Usage {
    if config.usage_input_path.is_none() && config.usage_output_path.is_none() {
        return Usage::default();
    }
    let Ok(json) = serde_json::from_str::<Value>(body) else {
        return Usage::default();
    };
    let count = |path: &Option<String>| {
        path.as_deref()
            .and_then(|p| lookup(&json, p))
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_f64().map(|f| f.max(0.0) as u64))
                    .or_else(|| v.as_str()?.trim().parse().ok())
            })
            .unwrap_or(0)
    };
    Usage {
        input_tokens: count(&config.usage_input_path),
        output_tokens: count(&config.usage_output_path),
    }
}

/// A dotted path into JSON: object keys, and numeric segments that index arrays
/// (`choices.0.text`). An empty path is the whole document.
pub(super) fn lookup<'a>(json: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(json);
    }
    path.split('.')
        .try_fold(json, |value, segment| match value {
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?),
            Value::Object(map) => map.get(segment),
            _ => None,
        })
}

/// The request body (see `config::body_template`), or a fatal error naming the template
/// string that failed. Loading renders every scenario's body the same way, so this fails
/// only when the project was not validated with the same settings.
pub(super) fn render_body(
    env: &Environment<'static>,
    config: &ProviderConfig,
    req: &ChatRequest,
) -> Result<Value, ProviderError> {
    body_template::render_body(env, config.body.as_ref(), &req.messages, &req.vars).map_err(|e| {
        ProviderError::fatal(format!(
            "provider `{}`: cannot render the body template string {:?}: {} (check `body` in evalgit.toml and the scenario's vars)",
            config.name, e.template, e.error.message
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Message, ProviderKind, Role};
    use serde_json::json;

    fn env() -> Environment<'static> {
        body_template::environment()
    }

    fn req() -> ChatRequest {
        ChatRequest {
            messages: vec![
                Message {
                    role: Role::System,
                    content: "be kind".into(),
                },
                Message {
                    role: Role::User,
                    content: "What is 2+2?".into(),
                },
            ],
            vars: [
                ("lang".to_string(), json!("fr")),
                ("n".to_string(), json!(3)),
            ]
            .into_iter()
            .collect(),
        }
    }

    fn config(body: Option<Value>) -> ProviderConfig {
        let mut c = ProviderConfig::new("app", ProviderKind::Http);
        c.base_url = Some("http://127.0.0.1:1/http".into());
        c.body = body;
        c
    }

    #[test]
    fn body_template_renders_strings_and_inlines_messages() {
        let c = config(Some(json!({
            "q": "{{ prompt }}",
            "sys": "{{ system }}",
            "opts": {"lang": "{{ lang }}", "n": "{{ n * 2 }}", "fixed": 1, "list": ["{{ lang | upper }}"]},
            "history": "{{ messages }}",
            "count": "{{ messages | length }}",
        })));
        let body = render_body(&env(), &c, &req()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            body,
            json!({
                "q": "What is 2+2?",
                "sys": "be kind",
                "opts": {"lang": "fr", "n": "6", "fixed": 1, "list": ["FR"]},
                "history": [{"role": "system", "content": "be kind"}, {"role": "user", "content": "What is 2+2?"}],
                "count": "2",
            })
        );
    }

    #[test]
    fn undefined_variable_is_an_error_naming_the_template() {
        let c = config(Some(json!({"q": "{{ missing }}"})));
        let err = render_body(&env(), &c, &req())
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(
            err.contains("provider `app`")
                && err.contains("{{ missing }}")
                && err.contains("undefined"),
            "{err}"
        );
    }

    #[test]
    fn default_body_has_prompt_and_messages() {
        let body = render_body(&env(), &config(None), &req()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body["prompt"], json!("What is 2+2?"));
        assert_eq!(body["messages"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn lookup_follows_keys_and_indexes() {
        let doc = json!({"choices": [{"text": "a"}, {"text": "b"}], "n": 0, "ok": false});
        let cases = [
            ("choices.1.text", Some(json!("b"))),
            ("choices.0", Some(json!({"text": "a"}))),
            ("n", Some(json!(0))),
            ("ok", Some(json!(false))),
            ("choices.9.text", None),
            ("choices.x", None),
            ("n.deeper", None),
        ];
        for (path, want) in cases {
            assert_eq!(lookup(&doc, path).cloned(), want, "{path}");
        }
    }

    #[test]
    fn usage_reads_numbers_and_numeric_strings() {
        let mut c = config(None);
        c.usage_input_path = Some("tokens.in".into());
        c.usage_output_path = Some("tokens.out".into());
        assert_eq!(
            usage(&c, r#"{"tokens":{"in":7,"out":"3"}}"#),
            Usage {
                input_tokens: 7,
                output_tokens: 3
            }
        );
        assert_eq!(usage(&c, r#"{"other":1}"#), Usage::default());
        assert_eq!(usage(&c, "not json"), Usage::default());
    }
}
