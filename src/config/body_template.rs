//! The `body` of an `http` provider: a JSON template whose strings are rendered for each
//! scenario with `prompt` (the last user message), `messages` (`[{role, content}]`),
//! `system` (system messages joined, or empty) and the scenario's variables (which cannot
//! shadow those three). A string that is exactly `{{ messages }}` becomes the JSON array
//! itself. Without a `body`, the default is `{"prompt": ..., "messages": [...]}`.
//!
//! It lives in `config`, not in `provider`, so that loading renders every scenario's body
//! exactly as the request will be built, and `validate` reports what a run would reject.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Value, json};

use super::template::TemplateError;
use super::{Message, Role};

/// Strict: a template that names a variable the scenario does not define is an error, not
/// an empty string sent to the user's app.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// A body template string that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError {
    /// The template string as written in `body`.
    pub template: String,
    pub error: TemplateError,
}

/// Whether a body string is a template (anything else is sent as written).
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// The syntax error of one body template string, if it has one.
pub fn syntax_error(env: &Environment<'static>, template: &str) -> Option<TemplateError> {
    if !is_template(template) || is_exactly(template, "messages") {
        return None;
    }
    env.template_from_str(template)
        .err()
        .map(|e| TemplateError::from_minijinja(&e, template, "body", None))
}

/// The request body for one scenario's `messages` and `vars`.
pub fn render_body(
    env: &Environment<'static>,
    body: Option<&Value>,
    messages: &[Message],
    vars: &BTreeMap<String, Value>,
) -> Result<Value, BodyError> {
    let messages_json = json!(messages);
    let prompt = messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.content.as_str())
        .unwrap_or("");
    let Some(template) = body else {
        return Ok(json!({"prompt": prompt, "messages": messages_json}));
    };
    let system: Vec<&str> = messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    let mut context: BTreeMap<String, minijinja::Value> =
        vars.iter().map(|(k, v)| (k.clone(), to_jinja(v))).collect();
    context.insert("prompt".into(), prompt.into());
    context.insert("system".into(), system.join("\n\n").into());
    context.insert("messages".into(), to_jinja(&messages_json));
    let context = minijinja::Value::from_object(context);
    render(env, template, &context, &messages_json).map_err(|(template, e)| BodyError {
        error: TemplateError::from_minijinja(&e, &template, "body", None),
        template,
    })
}

fn render(
    env: &Environment<'static>,
    template: &Value,
    context: &minijinja::Value,
    messages: &Value,
) -> Result<Value, (String, minijinja::Error)> {
    Ok(match template {
        Value::String(s) if is_exactly(s, "messages") => messages.clone(),
        Value::String(s) if is_template(s) => Value::String(
            env.render_str(s, context.clone())
                .map_err(|e| (s.clone(), e))?,
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render(env, v, context, messages))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render(env, v, context, messages)?)))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

/// `{{ name }}` and nothing else, spaces allowed.
fn is_exactly(s: &str, name: &str) -> bool {
    s.trim()
        .strip_prefix("{{")
        .and_then(|rest| rest.strip_suffix("}}"))
        .is_some_and(|inner| inner.trim() == name)
}

fn to_jinja(value: &Value) -> minijinja::Value {
    match value {
        Value::Null => minijinja::Value::from(()),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into(),
            (None, Some(u)) => u.into(),
            _ => n.as_f64().unwrap_or(0.0).into(),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(items) => items.iter().map(to_jinja).collect(),
        Value::Object(map) => minijinja::Value::from_object(
            map.iter()
                .map(|(k, v)| (k.clone(), to_jinja(v)))
                .collect::<BTreeMap<String, minijinja::Value>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TemplateErrorKind;

    fn messages() -> Vec<Message> {
        vec![
            Message {
                role: Role::System,
                content: "be kind".into(),
            },
            Message {
                role: Role::User,
                content: "What is 2+2?".into(),
            },
        ]
    }

    #[test]
    fn body_errors_name_the_template_string_and_the_problem() {
        let vars: BTreeMap<String, Value> = [("lang".to_string(), json!("fr"))].into();
        let cases = [
            (
                json!({"q": "{{ prompt }}", "n": "{{ undefinedvar }}"}),
                Some(("{{ undefinedvar }}", TemplateErrorKind::Undefined)),
            ),
            (
                json!({"q": ["{{ lang | nosuchfilter }}"]}),
                Some(("{{ lang | nosuchfilter }}", TemplateErrorKind::Render)),
            ),
            (json!({"q": "{{ lang }}", "m": "{{ messages }}"}), None),
        ];
        for (body, want) in cases {
            let got = render_body(&environment(), Some(&body), &messages(), &vars)
                .err()
                .map(|e| (e.template, e.error.kind));
            let want = want.map(|(t, k)| (t.to_string(), k));
            assert_eq!(got, want, "{body}");
        }
    }

    #[test]
    fn syntax_errors_are_found_without_rendering() {
        let env = environment();
        assert!(syntax_error(&env, "{{ x ").is_some());
        assert!(syntax_error(&env, "{{ messages }}").is_none());
        assert!(syntax_error(&env, "plain {text}").is_none());
    }
}
