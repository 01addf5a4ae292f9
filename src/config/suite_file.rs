//! One `evals/NAME.toml` into a [`Suite`]: its prompt (inline, a file, or messages), its
//! scenarios (inline and from a data file) and its thresholds, checked against
//! `evalgit.toml`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::assertion_table::{AssertCtx, known_providers};
use super::price_check::{unpriced_error, unpriced_providers};
use super::render_check::{BodyCheck, PromptAt, RenderCheck};
use super::scenario_table::{
    IdRule, ScenarioDefaults, ScenarioSink, read_assert_list, read_pass_rule, read_repeat,
};
use super::settings_file::{BodySite, clean_relative};
use super::template::{CompiledPrompt, TemplateError};
use super::walker::{Entry, FileCx, Kp, Node, NodeKind, SourceFile, get, index, join, parse_toml};
use super::{
    Diagnostic, Diagnostics, Message, PassRule, Prompt, ProviderKind, Role, Settings, Severity,
    Source, Suite,
};

const SUITE_KEYS: &[&str] = &[
    "provider",
    "description",
    "prompt",
    "prompt_file",
    "messages",
    "min_pass_rate",
    "min_mean_score",
    "repeat",
    "pass_rule",
    "max_usd",
    "judge",
    "defaults",
    "scenario",
    "scenarios_file",
];
const DEFAULTS_KEYS: &[&str] = &["vars", "assert"];
const MESSAGE_KEYS: &[&str] = &["role", "content"];

/// What a suite is checked against.
pub(crate) struct SuiteCtx<'a> {
    pub settings: &'a Settings,
    pub declared_providers: &'a BTreeSet<String>,
    /// False when `evalgit.toml` could not be parsed: cross-file checks are skipped.
    pub settings_ok: bool,
    pub source: &'a dyn Source,
    /// `evalgit.toml`, for locating problems in a provider's `body` template.
    pub settings_file: &'a SourceFile,
    /// Where each string of each provider's `body` is written.
    pub body_sites: &'a std::collections::BTreeMap<String, Vec<BodySite>>,
}

/// Why a file could not be used as text.
#[derive(Debug)]
pub(crate) enum TextError {
    /// The bytes are not UTF-8: the file as decoded with U+FFFD for invalid bytes, and the
    /// byte offset of the first invalid one (the same offset in both).
    NotUtf8 {
        lossy: String,
        offset: usize,
    },
    Unreadable(std::io::Error),
}

impl TextError {
    fn not_utf8(bytes: &[u8], offset: usize) -> Self {
        TextError::NotUtf8 {
            lossy: String::from_utf8_lossy(bytes).into_owned(),
            offset,
        }
    }

    /// An error about file `path`, located at the first invalid byte when there is one.
    pub fn diagnostic(&self, path: &Path, message: String) -> Diagnostic {
        match self {
            TextError::NotUtf8 { lossy, offset } => {
                SourceFile::new(path, lossy.as_str())
                    .diagnostic(Severity::Error, &(*offset..*offset + 1), "", message)
                    .with_help("save the file as UTF-8; the first byte that is not UTF-8 is marked (shown as �)")
            }
            TextError::Unreadable(_) => Diagnostic::whole_file(Severity::Error, path, message),
        }
    }
}

impl std::fmt::Display for TextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextError::NotUtf8 { lossy, offset } => {
                let d = SourceFile::new("", lossy.as_str()).diagnostic(
                    Severity::Error,
                    &(*offset..*offset + 1),
                    "",
                    "",
                );
                write!(
                    f,
                    "is not valid UTF-8 text (the first invalid byte is at line {}, column {})",
                    d.line, d.column
                )
            }
            TextError::Unreadable(e) => write!(f, "cannot be read: {e}"),
        }
    }
}

/// Reads a file through the source as UTF-8 text. `Ok(None)` when it does not exist.
/// Text files are read with CRLF line endings as LF: a Windows checkout (git's default
/// `core.autocrlf`) and Linux CI must render the same prompts, or no recording would ever
/// be shared between them.
pub(crate) fn read_text(source: &dyn Source, rel: &Path) -> Result<Option<String>, TextError> {
    match source.read(rel) {
        Ok(Some(bytes)) => match String::from_utf8(bytes) {
            Ok(text) => Ok(Some(if text.contains("\r\n") {
                text.replace("\r\n", "\n")
            } else {
                text
            })),
            Err(e) => {
                let offset = e.utf8_error().valid_up_to();
                Err(TextError::not_utf8(e.as_bytes(), offset))
            }
        },
        Ok(None) => Ok(None),
        Err(e) => Err(TextError::Unreadable(e)),
    }
}

/// A suite name is the file stem and appears in paths and reports.
pub(crate) fn valid_suite_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Reads one suite file; `None` when it has errors (all of them recorded in `diags`).
pub(crate) fn read_suite(
    file: &SourceFile,
    ctx: &SuiteCtx<'_>,
    diags: &mut Diagnostics,
) -> Option<Suite> {
    let errors_before = diags.errors().count();
    let name = file
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !valid_suite_name(&name) {
        diags.push(
            Diagnostic::whole_file(Severity::Error, file.path.clone(), format!("suite name `{name}` may only use a-z, 0-9, `_` and `-`"))
                .with_help("rename the file: the suite name is its file stem and appears in snapshot paths and reports"),
        );
    }
    let (top_span, entries) = parse_toml(file, diags)?;
    let mut cx = FileCx::new(file, diags);

    for e in &entries {
        if SUITE_KEYS.contains(&e.key()) {
            continue;
        }
        match e.key() {
            "assert" | "vars" => {
                cx.error(&e.key_span, &e.key, format!("`{}` is not a suite key", e.key))
                    .help("to apply it to every scenario, put it under `[defaults]`; for one scenario, inside its `[[scenario]]`");
            }
            _ => cx.unknown_key(e, SUITE_KEYS, ""),
        }
    }

    // The provider: named, or the only one there is.
    let provider = match get(&entries, "provider") {
        Some(e) => cx.non_empty_str(&e.value, "provider").and_then(|p| {
            if ctx.settings_ok && !ctx.declared_providers.contains(p) {
                cx.error(&e.value.span, "provider", format!("unknown provider `{p}`"))
                    .help(known_list(ctx.declared_providers));
                None
            } else {
                Some(p.to_string())
            }
        }),
        None if ctx.settings.providers.len() == 1 => ctx.settings.providers.keys().next().cloned(),
        None => {
            if ctx.settings_ok {
                let msg = if ctx.declared_providers.is_empty() {
                    "the suite has no `provider`, and evalgit.toml declares none"
                } else {
                    "the suite has no `provider`, and evalgit.toml declares several"
                };
                cx.error(&(top_span.start..top_span.start), "provider", msg)
                    .help(format!(
                        "add `provider = \"NAME\"` at the top; {}",
                        known_list(ctx.declared_providers)
                    ));
            }
            None
        }
    };

    let judge = get(&entries, "judge").and_then(|e| {
        let j = cx.non_empty_str(&e.value, "judge")?;
        if ctx.settings_ok && !ctx.declared_providers.contains(j) {
            cx.error(
                &e.value.span,
                "judge",
                format!("unknown judge provider `{j}`"),
            )
            .help(known_list(ctx.declared_providers));
            return None;
        }
        Some(j.to_string())
    });

    let min_pass_rate =
        get(&entries, "min_pass_rate").and_then(|e| cx.fraction(&e.value, "min_pass_rate"));
    let min_mean_score =
        get(&entries, "min_mean_score").and_then(|e| cx.fraction(&e.value, "min_mean_score"));
    let max_usd = get(&entries, "max_usd").and_then(|e| cx.non_negative(&e.value, "max_usd"));
    let repeat = get(&entries, "repeat")
        .map(|e| read_repeat(&mut cx, &e.value, Kp::S("repeat")))
        .unwrap_or(Some(1));
    let pass_rule = get(&entries, "pass_rule")
        .map(|e| read_pass_rule(&mut cx, &e.value, "pass_rule", repeat.unwrap_or(1)))
        .unwrap_or(Some(PassRule::All));
    if let Some(e) = get(&entries, "description") {
        cx.str(&e.value, "description");
    }

    let prompt = read_prompt(&mut cx, &entries, &top_span, ctx);
    let compiled = prompt
        .as_ref()
        .and_then(|(prompt, at)| match CompiledPrompt::new(prompt) {
            Ok(c) => Some(c),
            Err(err) => {
                template_error(&mut cx, &err, at);
                None
            }
        });

    let actx = AssertCtx {
        providers: ctx.declared_providers,
        has_default_judge: judge.is_some() || ctx.settings.judge.is_some(),
        check_providers: ctx.settings_ok,
        regexes: Default::default(),
    };
    // Every scenario is rendered as the run will render it, and so is the request body of an
    // `http` provider.
    let body = provider.as_deref().and_then(|p| {
        let config = ctx.settings.providers.get(p)?;
        if config.kind != ProviderKind::Http || !ctx.settings_ok {
            return None;
        }
        Some(BodyCheck {
            provider: &config.name,
            body: config.body.as_ref()?,
            settings_file: ctx.settings_file,
            sites: ctx.body_sites.get(p).map(Vec::as_slice).unwrap_or_default(),
        })
    });
    let render = match (&compiled, &prompt) {
        (Some(compiled), Some((_, at))) => Some(RenderCheck::new(compiled, at, file, &name, body)),
        _ => None,
    };
    let mut sink = ScenarioSink {
        render,
        defaults: ScenarioDefaults::default(),
        actx,
        referenced: compiled
            .as_ref()
            .map(|c| c.referenced_variables().clone())
            .unwrap_or_default(),
        check_vars: compiled.is_some(),
        suite_repeat: repeat.unwrap_or(1),
        seen: Default::default(),
        scenarios: Vec::new(),
        without_asserts: 0,
        zero_weight_defaults: false,
    };
    if let Some(e) = get(&entries, "defaults")
        && let Some(t) = cx.table(&e.value, "defaults")
    {
        cx.check_keys(t, DEFAULTS_KEYS, "defaults");
        if let Some(v) = get(t, "vars") {
            match sink.read_vars(&mut cx, &v.value, Kp::S("defaults.vars")) {
                Some((vars, _)) => sink.defaults.vars = vars,
                // Unknown defaults would make every scenario miss its variables.
                None => sink.check_vars = false,
            }
        }
        if let Some(a) = get(t, "assert")
            && let Some(list) =
                read_assert_list(&mut cx, &a.value, Kp::S("defaults.assert"), &sink.actx)
        {
            sink.defaults.asserts = list;
        }
    }

    if let Some(e) = get(&entries, "scenario") {
        match &e.value.kind {
            NodeKind::Array(items) => {
                let base = Kp::S("scenario");
                for (i, item) in items.iter().enumerate() {
                    let path = Kp::At(&base, i);
                    if let Some(t) = cx.table(item, path) {
                        sink.read(&mut cx, t, &item.span, path, IdRule::Required);
                    }
                }
            }
            NodeKind::Table(_) => {
                cx.error(
                    &e.value.span,
                    "scenario",
                    "`scenario` must be an array of tables",
                )
                .help("write `[[scenario]]` (double brackets) for each scenario");
            }
            _ => {
                cx.error(
                    &e.value.span,
                    "scenario",
                    format!(
                        "`scenario` must be an array of tables, found {}",
                        e.value.type_name()
                    ),
                );
            }
        }
    }

    let data_file = get(&entries, "scenarios_file")
        .and_then(|e| read_scenarios_file(&mut cx, &e.value, ctx.source));
    cx.finish();

    if let Some(data) = &data_file {
        let mut dcx = FileCx::new(data, diags);
        match data.path.extension().and_then(|e| e.to_str()) {
            Some("csv") => super::scenarios_file::read_csv(&mut dcx, &mut sink),
            _ => super::scenarios_file::read_jsonl(&mut dcx, &mut sink),
        }
        dcx.finish();
    }
    if let Some(render) = sink.render.take() {
        render.finish(diags);
    }
    // Done with the sink, which borrows the prompt and the name.
    let scenarios = sink.scenarios;
    let without_asserts = sink.without_asserts;

    if let Some((prompt, _)) = &prompt
        && prompt_is_blank(prompt)
        && !scenarios.is_empty()
        && let Some(e) = ["prompt", "prompt_file", "messages"]
            .iter()
            .find_map(|k| get(&entries, k))
    {
        let at = if e.key() == "messages" {
            &e.key_span
        } else {
            &e.value.span
        };
        diags.push(
            file.diagnostic(
                Severity::Warning,
                at,
                &e.key,
                format!("suite `{name}` has an empty prompt"),
            )
            .with_help("every scenario sends the model nothing but whitespace; write the prompt"),
        );
    }

    let hidden = without_asserts.saturating_sub(10);
    if hidden > 0 {
        diags.push(
            Diagnostic::whole_file(
                Severity::Warning,
                file.path.clone(),
                format!("{hidden} more scenarios have no assertions, so they always pass"),
            )
            .with_help("checks for every scenario go under `[defaults] assert`"),
        );
    }
    if scenarios.is_empty() && diags.errors().count() == errors_before {
        diags.push(
            Diagnostic::whole_file(
                Severity::Warning,
                file.path.clone(),
                format!("suite `{name}` has no scenarios"),
            )
            .with_help("add `[[scenario]]` tables or `scenarios_file = \"data/NAME.jsonl\"`"),
        );
    }

    if diags.errors().count() > errors_before {
        return None;
    }
    let suite = Suite {
        name,
        file: file.path.clone(),
        provider: provider?,
        prompt: prompt?.0,
        scenarios: {
            // Growth by doubling leaves up to half the room unused, for the whole run.
            let mut scenarios = scenarios;
            scenarios.shrink_to_fit();
            scenarios
        },
        min_pass_rate,
        min_mean_score,
        repeat: repeat?,
        pass_rule: pass_rule?,
        max_usd,
        judge,
    };
    // A suite cap needs prices for what the suite calls; under a run cap, that is reported
    // once at `budget.max_run_usd` instead.
    if ctx.settings_ok
        && ctx.settings.budget.max_run_usd.is_none()
        && let Some(e) = get(&entries, "max_usd")
    {
        let problems = unpriced_providers(&suite, ctx.settings);
        for u in &problems {
            let d = file.diagnostic(Severity::Error, &e.value.span, "max_usd", String::new());
            diags.push(unpriced_error(d, "max_usd", u, &[&suite.name]));
        }
        if !problems.is_empty() {
            return None;
        }
    }
    Some(suite)
}

fn prompt_is_blank(prompt: &Prompt) -> bool {
    match prompt {
        Prompt::Text { template, .. } => template.trim().is_empty(),
        Prompt::Messages(m) => m.iter().all(|m| m.content.trim().is_empty()),
    }
}

fn known_list(declared: &BTreeSet<String>) -> String {
    let actx = AssertCtx {
        providers: declared,
        has_default_judge: false,
        check_providers: true,
        regexes: Default::default(),
    };
    known_providers(&actx)
}

fn read_prompt(
    cx: &mut FileCx<'_>,
    entries: &[Entry],
    top: &std::ops::Range<usize>,
    ctx: &SuiteCtx<'_>,
) -> Option<(Prompt, PromptAt)> {
    let given: Vec<&Entry> = ["prompt", "prompt_file", "messages"]
        .iter()
        .filter_map(|k| get(entries, k))
        .collect();
    match given.as_slice() {
        [] => {
            cx.error(&(top.start..top.start), "prompt", "the suite has no prompt")
                .help("add `prompt = \"...\"`, `prompt_file = \"prompts/NAME.txt\"` or `[[messages]]` tables");
            None
        }
        [e] => match e.key() {
            "prompt" => {
                let t = cx.str(&e.value, "prompt")?;
                Some((
                    Prompt::Text {
                        template: t.to_string(),
                        file: None,
                    },
                    PromptAt::Inline(e.value.span.clone()),
                ))
            }
            "prompt_file" => {
                let rel = cx.non_empty_str(&e.value, "prompt_file")?;
                let Some(clean) = clean_relative(rel) else {
                    cx.error(&e.value.span, "prompt_file", format!("`{rel}` must be a relative path inside the project"))
                        .help("paths are relative to the project root (the directory holding evalgit.toml) and may not use `..`");
                    return None;
                };
                let path = PathBuf::from(&clean);
                match read_text(ctx.source, &path) {
                    Ok(Some(text)) => {
                        let pf = SourceFile::new(path.clone(), text.clone());
                        Some((
                            Prompt::Text {
                                template: text,
                                file: Some(path),
                            },
                            PromptAt::File(pf),
                        ))
                    }
                    Ok(None) => {
                        cx.error(&e.value.span, "prompt_file", format!("prompt file `{clean}` not found in {}", ctx.source.describe()))
                            .help("the path is relative to the project root (the directory holding evalgit.toml), not to the suite file");
                        None
                    }
                    Err(why) => {
                        cx.error(
                            &e.value.span,
                            "prompt_file",
                            format!("prompt file `{clean}` {why}"),
                        );
                        None
                    }
                }
            }
            _ => read_messages(cx, &e.value),
        },
        [_, second, ..] => {
            let names: Vec<String> = given.iter().map(|e| format!("`{}`", e.key)).collect();
            cx.error(
                &second.key_span,
                &second.key,
                format!(
                    "the suite sets both {}: use exactly one",
                    names.join(" and ")
                ),
            )
            .help("a suite has one prompt: `prompt`, `prompt_file` or `[[messages]]`");
            None
        }
    }
}

fn read_messages(cx: &mut FileCx<'_>, node: &Node) -> Option<(Prompt, PromptAt)> {
    let items = match &node.kind {
        NodeKind::Array(items) => items,
        _ => {
            cx.error(
                &node.span,
                "messages",
                format!(
                    "`messages` must be an array of tables, found {}",
                    node.type_name()
                ),
            )
            .help("write one `[[messages]]` table per message, with `role` and `content`");
            return None;
        }
    };
    if items.is_empty() {
        cx.error(&node.span, "messages", "`messages` is empty")
            .help("add at least one `[[messages]]` table with `role` and `content`");
        return None;
    }
    let mut ok = true;
    let mut messages = Vec::with_capacity(items.len());
    let mut spans = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = index("messages", i);
        let Some(t) = cx.table(item, &path) else {
            ok = false;
            continue;
        };
        cx.check_keys(t, MESSAGE_KEYS, &path);
        if t.iter().any(|e| !MESSAGE_KEYS.contains(&e.key())) {
            ok = false;
        }
        let role = match get(t, "role") {
            Some(r) => {
                let rpath = join(&path, "role");
                match cx.str(&r.value, &rpath) {
                    Some("system") => Some(Role::System),
                    Some("user") => Some(Role::User),
                    Some("assistant") => Some(Role::Assistant),
                    Some(other) => {
                        cx.error(&r.value.span, &rpath, format!("unknown role `{other}`"))
                            .help("use `system`, `user` or `assistant`");
                        None
                    }
                    None => None,
                }
            }
            None => {
                cx.error(&item.span, &path, "message has no `role`")
                    .help("add `role = \"user\"` (or `system`, `assistant`)");
                None
            }
        };
        let content = match get(t, "content") {
            Some(c) => cx
                .str(&c.value, &join(&path, "content"))
                .map(|s| (s.to_string(), c.value.span.clone())),
            None => {
                cx.error(&item.span, &path, "message has no `content`");
                None
            }
        };
        match (role, content) {
            (Some(role), Some((content, span))) => {
                messages.push(Message { role, content });
                spans.push(span);
            }
            _ => ok = false,
        }
    }
    ok.then_some((Prompt::Messages(messages), PromptAt::Messages(spans)))
}

/// A template syntax error at the prompt's location: the line inside a prompt file, or the
/// inline value.
fn template_error(cx: &mut FileCx<'_>, err: &TemplateError, at: &PromptAt) {
    let help =
        "templates use minijinja (Jinja2) syntax: `{{ variable }}`, `{% if %}...{% endif %}`";
    match at {
        PromptAt::File(pf) => {
            let line = err.line.unwrap_or(1);
            let r = pf.line_range(line);
            let d = pf
                .diagnostic(
                    Severity::Error,
                    &(r.start..r.end.max(r.start + 1)),
                    "",
                    err.message.clone(),
                )
                .with_help(help);
            cx.push(d);
        }
        PromptAt::Inline(span) => {
            let line = err
                .line
                .map(|l| format!(" (line {l} of the prompt)"))
                .unwrap_or_default();
            cx.error(span, "prompt", format!("{}{line}", err.message))
                .help(help);
        }
        PromptAt::Messages(spans) => {
            let i = err.message_index();
            let span = spans.get(i).cloned().unwrap_or(0..0);
            let path = join(&index("messages", i), "content");
            let line = err
                .line
                .map(|l| format!(" (line {l} of the message)"))
                .unwrap_or_default();
            cx.error(&span, &path, format!("{}{line}", err.message))
                .help(help);
        }
    }
}

fn read_scenarios_file(
    cx: &mut FileCx<'_>,
    node: &Node,
    source: &dyn Source,
) -> Option<SourceFile> {
    let rel = cx.non_empty_str(node, "scenarios_file")?;
    let Some(clean) = clean_relative(rel) else {
        cx.error(&node.span, "scenarios_file", format!("`{rel}` must be a relative path inside the project"))
            .help("paths are relative to the project root (the directory holding evalgit.toml) and may not use `..`");
        return None;
    };
    let path = PathBuf::from(&clean);
    match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl" | "csv") => {}
        _ => {
            cx.error(&node.span, "scenarios_file", format!("`{clean}` is neither a .jsonl nor a .csv file"))
                .help("scenarios files are JSON Lines (one object per line, `.jsonl`) or CSV with a header row (`.csv`)");
            return None;
        }
    }
    match read_text(source, &path) {
        Ok(Some(text)) => Some(SourceFile::new(path, text)),
        Ok(None) => {
            cx.error(&node.span, "scenarios_file", format!("scenarios file `{clean}` not found in {}", source.describe()))
                .help("the path is relative to the project root (the directory holding evalgit.toml), not to the suite file");
            None
        }
        Err(why) => {
            cx.error(
                &node.span,
                "scenarios_file",
                format!("scenarios file `{clean}` {why}"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MemorySource;

    // Regression: a prompt file with Windows line endings sent `\r` to the model, so every
    // scenario using it got a new fingerprint on Windows checkouts.
    #[test]
    fn crlf_is_read_as_lf() {
        let source = MemorySource::new().with("prompts/p.txt", "line one\r\nline two\r\n");
        let text = read_text(&source, Path::new("prompts/p.txt"))
            .expect("reads")
            .expect("exists");
        assert_eq!(text, "line one\nline two\n");
    }

    // Regression: "suite file is not valid UTF-8 text" named the file only.
    #[test]
    fn text_that_is_not_utf8_is_located_at_its_first_invalid_byte() {
        let bytes = b"prompt = \"hi\"\nid = \"caf\xe9\"\n";
        let offset = String::from_utf8(bytes.to_vec())
            .err()
            .map(|e| e.utf8_error().valid_up_to())
            .unwrap_or_default();
        let err = TextError::not_utf8(bytes, offset);
        assert_eq!(
            err.to_string(),
            "is not valid UTF-8 text (the first invalid byte is at line 2, column 10)"
        );
        let d = err.diagnostic(
            Path::new("evals/s.toml"),
            "suite file is not valid UTF-8 text".into(),
        );
        assert_eq!(d.location(), "evals/s.toml:2:10");
        assert_eq!(d.source_line.as_deref(), Some("id = \"caf\u{fffd}\""));
    }
}
