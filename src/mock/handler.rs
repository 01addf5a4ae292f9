//! One HTTP request to the mock: routing, the scripted behaviour, and the three wire formats
//! (OpenAI chat completions, Anthropic messages, a generic JSON endpoint).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::state::{MODEL_PATHS, MockState};

type Reply = Response<Full<Bytes>>;

#[derive(Clone, Copy, PartialEq)]
enum Wire {
    OpenAi,
    Anthropic,
    Http,
}

pub(super) async fn handle(
    state: Arc<MockState>,
    req: Request<Incoming>,
) -> Result<Reply, Infallible> {
    let path = req.uri().path().to_string();
    let wire = match (req.method(), path.as_str()) {
        (&Method::GET, "/stats") => return Ok(json_reply(StatusCode::OK, &state.stats())),
        (&Method::POST, "/reset") => {
            state.reset();
            return Ok(json_reply(StatusCode::OK, &json!({"ok": true})));
        }
        (&Method::POST, "/v1/chat/completions") => Wire::OpenAi,
        (&Method::POST, "/v1/messages") => Wire::Anthropic,
        (&Method::POST, "/http") => Wire::Http,
        _ => {
            let body = json!({"error": {"message": format!("mock: no route for {} {path}", req.method())}});
            return Ok(json_reply(StatusCode::NOT_FOUND, &body));
        }
    };
    Ok(model_call(&state, wire, &path, req).await)
}

async fn model_call(state: &MockState, wire: Wire, path: &str, req: Request<Incoming>) -> Reply {
    let path_index = MODEL_PATHS
        .iter()
        .position(|p| *p == path)
        .unwrap_or(usize::MAX);
    let (number, _in_flight) = state.begin(path_index);

    if let Some(required) = &state.config.require_key {
        let given = presented_key(&req);
        if given.as_deref() != Some(required.as_str()) {
            let message = format!("Incorrect API key provided: {}", given.unwrap_or_default());
            return error_reply(wire, StatusCode::UNAUTHORIZED, &message, None);
        }
    }

    let body = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return error_reply(
                wire,
                StatusCode::BAD_REQUEST,
                &format!("mock: cannot read the body: {e}"),
                None,
            );
        }
    };
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error_reply(
                wire,
                StatusCode::BAD_REQUEST,
                &format!("mock: the body is not JSON: {e}"),
                None,
            );
        }
    };
    let prompt = Prompt::read(wire, &request);
    state.count_prompt(&prompt.last_user);

    if state.config.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(state.config.latency_ms)).await;
    }
    let rule = state.pick_rule(path, &prompt.last_user);
    if rule.is_none() && state.random_failure(number) {
        return error_reply(
            wire,
            StatusCode::INTERNAL_SERVER_ERROR,
            "mock: random failure (fail_rate)",
            None,
        );
    }
    if let Some(ms) = rule.and_then(|r| r.delay_ms) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let status = rule
        .and_then(|r| r.status)
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let retry_after = rule.and_then(|r| r.retry_after.as_deref());
    if let Some(raw) = rule.and_then(|r| r.raw_body.as_deref()) {
        return with_retry_after(raw_reply(status, raw.to_string()), retry_after);
    }
    if !status.is_success() {
        let message = rule
            .and_then(|r| r.reply.clone())
            .unwrap_or_else(|| format!("mock: scripted HTTP {}", status.as_u16()));
        return error_reply(wire, status, &message, retry_after);
    }

    let reply = match rule.and_then(|r| r.reply.clone()) {
        Some(text) => text,
        None => format!("echo: {}", prompt.last_user),
    };
    let input_tokens = prompt.input_tokens();
    let output_tokens = words(&reply);
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("mock-model");
    let body = match wire {
        Wire::OpenAi => {
            let message = match rule.and_then(|r| r.tool_calls.clone()) {
                Some(calls) => json!({"role": "assistant", "content": null, "tool_calls": calls}),
                None => json!({"role": "assistant", "content": reply}),
            };
            json!({
                "id": format!("chatcmpl-mock-{number}"),
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens, "total_tokens": input_tokens + output_tokens},
            })
        }
        Wire::Anthropic => json!({
            "id": format!("msg_mock_{number}"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": reply}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }),
        Wire::Http => {
            json!({"answer": reply, "tokens": {"in": input_tokens, "out": output_tokens}})
        }
    };
    with_retry_after(json_reply(status, &body), retry_after)
}

/// The prompt as the mock understands it, whatever the wire format.
struct Prompt {
    last_user: String,
    /// Text of every message, the system prompt counted as one.
    messages: Vec<String>,
}

impl Prompt {
    fn read(wire: Wire, request: &Value) -> Prompt {
        let mut messages = Vec::new();
        let mut last_user = None;
        if wire == Wire::Anthropic
            && let Some(system) = request.get("system")
        {
            messages.push(text_of(system));
        }
        if let Some(list) = request.get("messages").and_then(Value::as_array) {
            for m in list {
                let text = m.get("content").map(text_of).unwrap_or_default();
                if m.get("role").and_then(Value::as_str) == Some("user") {
                    last_user = Some(text.clone());
                }
                messages.push(text);
            }
        }
        if wire == Wire::Http && last_user.is_none() {
            let field = ["prompt", "input", "question", "query"]
                .iter()
                .find_map(|k| request.get(*k));
            let text = match field {
                Some(v) => text_of(v),
                None => request.to_string(),
            };
            messages.push(text.clone());
            last_user = Some(text);
        }
        Prompt {
            last_user: last_user.unwrap_or_default(),
            messages,
        }
    }

    /// Words in all messages plus one per message: deterministic, so tests can assert it.
    fn input_tokens(&self) -> u64 {
        self.messages.iter().map(|m| words(m) + 1).sum()
    }
}

/// A content value as text: a string, or the `text` of content blocks.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn presented_key(req: &Request<Incoming>) -> Option<String> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    header("x-api-key").or_else(|| {
        header("authorization").map(|v| v.strip_prefix("Bearer ").unwrap_or(&v).to_string())
    })
}

fn error_reply(wire: Wire, status: StatusCode, message: &str, retry_after: Option<&str>) -> Reply {
    let code = status.as_u16();
    let body = match wire {
        Wire::OpenAi => {
            let kind = match code {
                401 => "invalid_request_error",
                429 => "rate_limit_error",
                500.. => "server_error",
                _ => "invalid_request_error",
            };
            let code_field = if code == 401 {
                json!("invalid_api_key")
            } else {
                Value::Null
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": code_field}})
        }
        Wire::Anthropic => {
            let kind = match code {
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                500.. => "api_error",
                _ => "invalid_request_error",
            };
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
        Wire::Http => json!({"error": message}),
    };
    with_retry_after(json_reply(status, &body), retry_after)
}

fn json_reply(status: StatusCode, body: &Value) -> Reply {
    let mut reply = raw_reply(status, body.to_string());
    if let Ok(value) = "application/json".parse() {
        reply
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    reply
}

fn raw_reply(status: StatusCode, body: String) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    reply
}

fn with_retry_after(mut reply: Reply, retry_after: Option<&str>) -> Reply {
    if let Some(value) = retry_after.and_then(|v| v.parse().ok()) {
        reply
            .headers_mut()
            .insert(hyper::header::RETRY_AFTER, value);
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_reads_each_wire_format() {
        let openai = json!({"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "capital of France"}]});
        let p = Prompt::read(Wire::OpenAi, &openai);
        assert_eq!(
            (p.last_user.as_str(), p.input_tokens()),
            ("capital of France", 3 + 1 + 2 + 1)
        );

        let anthropic = json!({"system": "be brief", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi there"}]}]});
        let p = Prompt::read(Wire::Anthropic, &anthropic);
        assert_eq!(
            (p.last_user.as_str(), p.input_tokens()),
            ("hi there", 3 + 3)
        );

        let http = json!({"prompt": "one two"});
        let p = Prompt::read(Wire::Http, &http);
        assert_eq!((p.last_user.as_str(), p.input_tokens()), ("one two", 3));
    }
}
