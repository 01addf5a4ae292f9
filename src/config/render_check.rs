//! Rendering every scenario while loading, as a run does before its first call: the suite's
//! prompt with the scenario's variables, then, for an `http` provider with a `body`, the
//! request body. A template problem that only shows with some scenario's values (`{{ y.z }}`
//! where `y` is a string, `{{ x[5] }}` on a shorter list, an unknown filter in one branch,
//! an `{% include %}`) is then a located configuration error in `validate`, not a failed
//! run.
//!
//! A generated suite can have the same problem in 10,000 scenarios: problems are grouped,
//! one diagnostic per distinct problem, naming the first scenario and how many more share it.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use minijinja::Environment;

use super::settings_file::BodySite;
use super::template::{CompiledPrompt, TemplateError, TemplateErrorKind};
use super::walker::SourceFile;
use super::{Diagnostic, Diagnostics, Severity, body_template};

/// Distinct problems reported one by one per suite; scenarios with other problems beyond
/// these are counted in one summary line.
const MAX_PROBLEMS: usize = 10;

/// Further scenario ids named in a problem's note.
const MORE_IDS_SHOWN: usize = 3;

/// Where a suite's prompt templates are written.
pub(crate) enum PromptAt {
    /// The value of `prompt = "..."` in the suite file.
    Inline(Range<usize>),
    /// A prompt file (the value of `prompt_file` names it).
    File(SourceFile),
    /// The `content` value of each `[[messages]]` table in the suite file.
    Messages(Vec<Range<usize>>),
}

impl PromptAt {
    /// `evals/s.toml:2:10 (prompt)`, `prompts/p.txt:3` or
    /// `evals/s.toml:7:11 (messages[1].content)`: where the template of `err` is written.
    pub fn describe(&self, suite_file: &SourceFile, err: &TemplateError) -> String {
        let line = err.line.unwrap_or(1);
        let of_template = if line > 1 {
            format!(", line {line} of the template")
        } else {
            String::new()
        };
        match self {
            PromptAt::Inline(span) => {
                let d = suite_file.diagnostic(Severity::Error, span, "prompt", "");
                format!("{} (prompt{of_template})", d.location())
            }
            PromptAt::File(pf) => {
                format!("{}:{line}", crate::error::display_rel(&pf.path))
            }
            PromptAt::Messages(spans) => {
                let i = err.message_index();
                let span = spans.get(i).cloned().unwrap_or(0..0);
                let d = suite_file.diagnostic(Severity::Error, &span, "", "");
                format!("{} (messages[{i}].content{of_template})", d.location())
            }
        }
    }
}

/// The request body of an `http` provider, rendered for each scenario of a suite using it.
pub(crate) struct BodyCheck<'a> {
    pub provider: &'a str,
    pub body: &'a serde_json::Value,
    /// `evalgit.toml` and where each string of the body is written in it.
    pub settings_file: &'a SourceFile,
    pub sites: &'a [BodySite],
}

/// One distinct problem: its diagnostic (the message is completed in [`RenderCheck::finish`])
/// and the other scenarios that have it.
struct Problem {
    diagnostic: Diagnostic,
    /// The message before and after the first scenario's id.
    head: String,
    first: String,
    tail: String,
    /// A note that comes before the list of other scenarios.
    note: Option<String>,
    more_ids: Vec<String>,
    more: usize,
}

/// Renders the scenarios of one suite and collects what fails, grouped.
pub(crate) struct RenderCheck<'a> {
    prompt: &'a CompiledPrompt,
    prompt_at: &'a PromptAt,
    suite_file: &'a SourceFile,
    suite: &'a str,
    body: Option<(BodyCheck<'a>, Environment<'static>)>,
    problems: Problems,
}

/// The distinct problems found so far.
#[derive(Default)]
struct Problems {
    list: Vec<Problem>,
    by_key: HashMap<String, usize>,
    /// Scenarios whose problem is not among the first [`MAX_PROBLEMS`].
    unlisted: usize,
}

impl Problems {
    /// Counts scenario `id` under an already recorded problem; false when `key` is new and
    /// should be added.
    fn seen(&mut self, key: &str, id: &str) -> bool {
        let Some(&i) = self.by_key.get(key) else {
            if self.list.len() >= MAX_PROBLEMS {
                self.unlisted += 1;
                return true;
            }
            return false;
        };
        let p = &mut self.list[i];
        p.more += 1;
        if p.more_ids.len() < MORE_IDS_SHOWN {
            p.more_ids.push(id.to_string());
        }
        true
    }

    fn add(&mut self, key: String, problem: Problem) {
        self.by_key.insert(key, self.list.len());
        self.list.push(problem);
    }
}

impl<'a> RenderCheck<'a> {
    pub fn new(
        prompt: &'a CompiledPrompt,
        prompt_at: &'a PromptAt,
        suite_file: &'a SourceFile,
        suite: &'a str,
        body: Option<BodyCheck<'a>>,
    ) -> Self {
        RenderCheck {
            prompt,
            prompt_at,
            suite_file,
            suite,
            body: body.map(|b| (b, body_template::environment())),
            problems: Problems::default(),
        }
    }

    /// Renders scenario `id` with `vars`; false when its prompt or request body cannot be
    /// rendered (the problem is recorded). `at` makes a diagnostic at the scenario (its
    /// `vars`, else its `id`) with the given message.
    pub fn check(
        &mut self,
        id: &str,
        vars: &BTreeMap<String, serde_json::Value>,
        at: &dyn Fn(String) -> Diagnostic,
    ) -> bool {
        let messages = match self.prompt.render(vars) {
            Ok(m) => m,
            Err(err) => {
                let key = format!("prompt\0{}\0{}", err.part, err.message);
                if self.problems.seen(&key, id) {
                    return false;
                }
                let help = match err.kind {
                    TemplateErrorKind::Undefined => {
                        "give this scenario the value in its `vars` (or all of them in `[defaults] vars`), or test it in the template with `{% if x is defined %}`"
                    }
                    _ => {
                        "templates use minijinja (Jinja2) syntax and its built-in filters; a prompt cannot `{% include %}` other files"
                    }
                };
                let note = format!(
                    "the template is at {}",
                    self.prompt_at.describe(self.suite_file, &err)
                );
                self.problems.add(
                    key,
                    Problem {
                        diagnostic: at(String::new()).with_help(help),
                        head: "cannot render the prompt for scenario".into(),
                        first: id.to_string(),
                        tail: format!(": {}", err.message),
                        note: Some(note),
                        more_ids: Vec::new(),
                        more: 0,
                    },
                );
                return false;
            }
        };
        let Some((body, env)) = &self.body else {
            return true;
        };
        let Err(failed) = body_template::render_body(env, Some(body.body), &messages, vars) else {
            return true;
        };
        let key = format!("body\0{}\0{}", failed.template, failed.error.message);
        if self.problems.seen(&key, id) {
            return false;
        }
        let scenario = at(String::new());
        let site = body.sites.iter().find(|s| s.template == failed.template);
        let diagnostic = match site {
            Some(site) => body.settings_file.diagnostic(
                Severity::Error,
                &site.span,
                &site.key_path,
                String::new(),
            ),
            None => Diagnostic::whole_file(
                Severity::Error,
                body.settings_file.path.clone(),
                String::new(),
            ),
        }
        .with_help(
            "a body template can use `prompt`, `messages`, `system` and the scenario's vars: define the value in every scenario of the suites using this provider, or fix the template",
        );
        let where_scenario = if scenario.key_path.is_empty() {
            scenario.location()
        } else {
            format!("{} ({})", scenario.location(), scenario.key_path)
        };
        self.problems.add(
            key,
            Problem {
                diagnostic,
                head: format!(
                    "the body template of provider `{}` cannot be rendered for scenario",
                    body.provider
                ),
                first: id.to_string(),
                tail: format!(" of suite `{}`: {}", self.suite, failed.error.message),
                note: Some(format!("scenario `{id}` is at {where_scenario}")),
                more_ids: Vec::new(),
                more: 0,
            },
        );
        false
    }

    /// Records the grouped problems.
    pub fn finish(self, diags: &mut Diagnostics) {
        for p in self.problems.list {
            let mut d = p.diagnostic;
            let more = match p.more {
                0 => String::new(),
                1 => " and 1 more".to_string(),
                n => format!(" and {n} more"),
            };
            d.message = format!("{} `{}`{more}{}", p.head, p.first, p.tail);
            let mut notes: Vec<String> = p.note.into_iter().collect();
            if p.more > 0 {
                let mut ids: Vec<String> = p.more_ids.iter().map(|i| format!("`{i}`")).collect();
                if p.more > p.more_ids.len() {
                    ids.push("…".to_string());
                }
                notes.push(format!("the same problem in {}", ids.join(", ")));
            }
            if !notes.is_empty() {
                d.note = Some(notes.join("; "));
            }
            diags.push(d);
        }
        let unlisted = self.problems.unlisted;
        if unlisted > 0 {
            diags.push(
                Diagnostic::whole_file(
                    Severity::Error,
                    self.suite_file.path.clone(),
                    format!(
                        "{} more scenario{} of suite `{}` cannot be rendered, for other reasons",
                        unlisted,
                        if unlisted == 1 { "" } else { "s" },
                        self.suite
                    ),
                )
                .with_help("fix the problems above and run `evalgit validate` again"),
            );
        }
    }
}
