//! Prompt templates: minijinja with strict undefined variables, no auto-escaping, and the
//! trailing newline kept (a prompt is sent byte for byte as written).
//!
//! A variable's value is inserted literally: a value containing `{{` is text, never
//! evaluated again, so scenario data cannot inject template code.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::OnceLock;

use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};

use super::{Message, Prompt, Role, Scenario, Suite};

/// What went wrong with a template, and where in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TemplateError {
    pub kind: TemplateErrorKind,
    /// Lowercase, without location.
    pub message: String,
    /// Which template of the prompt: `prompt` or `messages[1]`.
    pub part: String,
    /// The prompt file, when the template came from `prompt_file`.
    pub file: Option<PathBuf>,
    /// 1-based line inside the template.
    pub line: Option<usize>,
}

impl TemplateError {
    /// The index of the `[[messages]]` table the error is in (`messages[1]` is 1); 0 for a
    /// part that names none.
    pub fn message_index(&self) -> usize {
        self.part
            .trim_start_matches("messages[")
            .trim_end_matches(']')
            .parse::<usize>()
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateErrorKind {
    /// The template does not parse.
    Syntax,
    /// A variable (or attribute) the template uses has no value.
    Undefined,
    /// Anything else while rendering (a filter failed, a type mismatch).
    Render,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        let line = self.line.map(|l| format!(" line {l}")).unwrap_or_default();
        match &self.file {
            Some(file) => write!(f, " (in {}{line})", crate::error::display_rel(file)),
            None => write!(f, " (in {}{line})", self.part),
        }
    }
}

impl TemplateError {
    pub(crate) fn from_minijinja(
        err: &minijinja::Error,
        source: &str,
        part: &str,
        file: Option<&PathBuf>,
    ) -> Self {
        let kind = match err.kind() {
            ErrorKind::SyntaxError | ErrorKind::BadEscape => TemplateErrorKind::Syntax,
            ErrorKind::UndefinedError => TemplateErrorKind::Undefined,
            _ => TemplateErrorKind::Render,
        };
        // The failing expression, when minijinja knows it: "undefined value `user.nme`".
        let expr = err
            .range()
            .and_then(|r| source.get(r))
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() < 80);
        let mut message = match kind {
            TemplateErrorKind::Syntax => "template syntax error".to_string(),
            TemplateErrorKind::Undefined => "undefined value".to_string(),
            TemplateErrorKind::Render => "template error".to_string(),
        };
        if let Some(detail) = err.detail() {
            message.push_str(": ");
            message.push_str(detail);
        } else if kind == TemplateErrorKind::Render {
            message.push_str(": ");
            message.push_str(&err.kind().to_string());
        }
        // "undefined value: `user.nme` is undefined" names the expression already.
        if let Some(expr) = expr
            && kind != TemplateErrorKind::Syntax
            && !err.detail().is_some_and(|d| d.contains(expr))
        {
            message.push_str(&format!(" in `{expr}`"));
        }
        TemplateError {
            kind,
            message,
            part: part.to_string(),
            file: file.cloned(),
            line: err.line(),
        }
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    let mut syntax = minijinja::syntax::SyntaxConfig::builder();
    syntax.keep_trailing_newline(true);
    if let Ok(syntax) = syntax.build() {
        env.set_syntax(syntax);
    }
    env
}

/// Names the template engine itself provides (`range`, `namespace`, ...): using them is not
/// using a scenario variable.
fn builtin_names() -> &'static BTreeSet<String> {
    static NAMES: OnceLock<BTreeSet<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        environment()
            .globals()
            .map(|(name, _)| name.to_string())
            .collect()
    })
}

/// Converts scenario variables for the template engine.
fn to_value(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::from(()),
        J::Bool(b) => Value::from(*b),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        J::String(s) => Value::from(s.as_str()),
        J::Array(items) => Value::from(items.iter().map(to_value).collect::<Vec<_>>()),
        J::Object(map) => Value::from(
            map.iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}

fn context(vars: &BTreeMap<String, serde_json::Value>) -> Value {
    Value::from(
        vars.iter()
            .map(|(k, v)| (k.clone(), to_value(v)))
            .collect::<BTreeMap<String, Value>>(),
    )
}

/// Renders one template with `vars`. Compiles the template on every call: for many
/// scenarios, build a [`CompiledPrompt`] once instead.
pub fn render(
    template: &str,
    vars: &BTreeMap<String, serde_json::Value>,
) -> Result<String, TemplateError> {
    let env = environment();
    let tmpl = env
        .template_from_str(template)
        .map_err(|e| TemplateError::from_minijinja(&e, template, "prompt", None))?;
    tmpl.render(context(vars))
        .map_err(|e| TemplateError::from_minijinja(&e, template, "prompt", None))
}

/// The top-level variable names a template uses (`{{ user.name }}` uses `user`), excluding
/// the engine's own globals and names the template sets itself.
pub fn referenced_variables(template: &str) -> Result<BTreeSet<String>, TemplateError> {
    let env = environment();
    let tmpl = env
        .template_from_str(template)
        .map_err(|e| TemplateError::from_minijinja(&e, template, "prompt", None))?;
    Ok(undeclared(&tmpl))
}

fn undeclared(tmpl: &minijinja::Template<'_, '_>) -> BTreeSet<String> {
    let builtins = builtin_names();
    tmpl.undeclared_variables(false)
        .into_iter()
        .filter(|n| !builtins.contains(n))
        .collect()
}

/// A suite's prompt, compiled once and rendered for each scenario.
pub struct CompiledPrompt {
    env: Environment<'static>,
    /// Template name and the role of the message it renders, in order.
    parts: Vec<(String, Role)>,
    file: Option<PathBuf>,
    referenced: BTreeSet<String>,
}

impl fmt::Debug for CompiledPrompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledPrompt")
            .field("parts", &self.parts)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl CompiledPrompt {
    /// Compiles every template of `prompt`; the first syntax error is returned.
    pub fn new(prompt: &Prompt) -> Result<Self, TemplateError> {
        let mut env = environment();
        let mut parts = Vec::new();
        let mut sources = Vec::new();
        let file = match prompt {
            Prompt::Text { template, file } => {
                sources.push(("prompt".to_string(), Role::User, template.clone()));
                file.clone()
            }
            Prompt::Messages(messages) => {
                for (i, m) in messages.iter().enumerate() {
                    sources.push((format!("messages[{i}]"), m.role.clone(), m.content.clone()));
                }
                None
            }
        };
        for (name, role, source) in sources {
            env.add_template_owned(name.clone(), source.clone())
                .map_err(|e| TemplateError::from_minijinja(&e, &source, &name, file.as_ref()))?;
            parts.push((name, role));
        }
        let mut referenced = BTreeSet::new();
        for (name, _) in &parts {
            if let Ok(tmpl) = env.get_template(name) {
                referenced.extend(undeclared(&tmpl));
            }
        }
        Ok(CompiledPrompt {
            env,
            parts,
            file,
            referenced,
        })
    }

    /// Top-level variables used by any of the prompt's templates.
    pub fn referenced_variables(&self) -> &BTreeSet<String> {
        &self.referenced
    }

    /// The messages for one scenario (`Prompt::Text` gives one user message).
    pub fn render(
        &self,
        vars: &BTreeMap<String, serde_json::Value>,
    ) -> Result<Vec<Message>, TemplateError> {
        let ctx = context(vars);
        let mut out = Vec::with_capacity(self.parts.len());
        for (name, role) in &self.parts {
            let tmpl = self
                .env
                .get_template(name)
                .map_err(|e| TemplateError::from_minijinja(&e, "", name, self.file.as_ref()))?;
            let content = tmpl.render(&ctx).map_err(|e| {
                TemplateError::from_minijinja(&e, tmpl.source(), name, self.file.as_ref())
            })?;
            out.push(Message {
                role: role.clone(),
                content,
            });
        }
        Ok(out)
    }
}

/// The messages of one scenario. Compiles the suite's prompt on each call; loops over many
/// scenarios should build one [`CompiledPrompt`] per suite.
pub fn render_messages(suite: &Suite, scenario: &Scenario) -> Result<Vec<Message>, TemplateError> {
    CompiledPrompt::new(&suite.prompt)?.render(&scenario.vars.to_map())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: serde_json::Value) -> BTreeMap<String, serde_json::Value> {
        match v {
            serde_json::Value::Object(m) => m.into_iter().collect(),
            _ => BTreeMap::new(),
        }
    }

    #[test]
    fn renders_table() {
        let cases: &[(&str, serde_json::Value, &str)] = &[
            (
                "Capital of {{ country }}?",
                json!({"country": "France"}),
                "Capital of France?",
            ),
            // A value that looks like template code is inserted as text, never evaluated.
            (
                "say {{ x }}",
                json!({"x": "{{ secret }} {% if %} {# c #}"}),
                "say {{ secret }} {% if %} {# c #}",
            ),
            (
                "{{ user.name }} is {{ user.age }}",
                json!({"user": {"name": "Ada", "age": 36}}),
                "Ada is 36",
            ),
            ("{{ name | upper }}", json!({"name": "ada"}), "ADA"),
            (
                "{% for i in items %}{{ i }},{% endfor %}",
                json!({"items": [1, 2]}),
                "1,2,",
            ),
            (
                "a <b> & \"c\"{{ x }}",
                json!({"x": "<i>"}),
                "a <b> & \"c\"<i>",
            ),
            ("line\n", json!({}), "line\n"),
            ("{{ n }}", json!({"n": 1.5}), "1.5"),
        ];
        for (template, v, want) in cases {
            assert_eq!(
                render(template, &vars(v.clone())).as_deref(),
                Ok(*want),
                "{template}"
            );
        }
    }

    #[test]
    fn undefined_variables_are_errors() {
        let err = render("Hi {{ name }}", &BTreeMap::new()).err();
        assert_eq!(
            err.as_ref().map(|e| e.kind),
            Some(TemplateErrorKind::Undefined)
        );
        let err = render("Hi {{ user.nme }}", &vars(json!({"user": {"name": "x"}}))).err();
        assert_eq!(
            err.as_ref().map(|e| e.kind),
            Some(TemplateErrorKind::Undefined)
        );
        assert!(
            err.map(|e| e.to_string())
                .unwrap_or_default()
                .starts_with("undefined value")
        );
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let err = render("ok\n{{ x ", &BTreeMap::new()).err();
        assert_eq!(
            err.as_ref().map(|e| (e.kind, e.line)),
            Some((TemplateErrorKind::Syntax, Some(2)))
        );
        assert!(referenced_variables("{% if %}").is_err());
    }

    #[test]
    fn referenced_variables_are_top_level_and_skip_builtins() {
        let got = referenced_variables(
            "{{ user.name }} {{ country }} {% for i in range(3) %}{{ i }}{% endfor %}{% set y = 1 %}{{ y }}",
        );
        let want: BTreeSet<String> = ["country", "user"].iter().map(|s| s.to_string()).collect();
        assert_eq!(got, Ok(want));
    }

    #[test]
    fn compiled_prompt_renders_messages() {
        let prompt = Prompt::Messages(vec![
            Message {
                role: Role::System,
                content: "You are {{ persona }}.".into(),
            },
            Message {
                role: Role::User,
                content: "{{ q }}".into(),
            },
        ]);
        let compiled = CompiledPrompt::new(&prompt).map_err(|e| e.to_string());
        let Ok(compiled) = compiled else {
            panic!("{compiled:?}")
        };
        assert_eq!(compiled.referenced_variables().len(), 2);
        let out = compiled.render(&vars(json!({"persona": "terse", "q": "why?"})));
        assert_eq!(
            out,
            Ok(vec![
                Message {
                    role: Role::System,
                    content: "You are terse.".into()
                },
                Message {
                    role: Role::User,
                    content: "why?".into()
                },
            ])
        );
        let err = compiled.render(&vars(json!({"persona": "terse"}))).err();
        assert_eq!(err.map(|e| e.part), Some("messages[1]".to_string()));
    }
}
