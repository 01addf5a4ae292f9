//! Reading `evalgit.toml` into [`Settings`], with the selected `[profile.NAME]` merged over
//! the base. Every profile is checked, selected or not, so a typo in `[profile.ci]` is found
//! on a laptop before CI trips over it.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::PathBuf;

use super::walker::{FileCx, Node, NodeKind, SourceFile, get, join};
use super::{Diagnostics, Price, ProviderConfig, ProviderKind, Settings};

const TOP_KEYS: &[&str] = &[
    "judge",
    "evals_dir",
    "snapshots_dir",
    "providers",
    "prices",
    "budget",
    "gate",
    "redact",
    "profile",
];
const PROFILE_KEYS: &[&str] = &["judge", "budget", "gate", "prices", "redact", "providers"];
const PROVIDER_KEYS: &[&str] = &[
    "kind",
    "model",
    "base_url",
    "api_key_env",
    "temperature",
    "max_tokens",
    "top_p",
    "seed",
    "stop",
    "response_format",
    "tools",
    "extra",
    "max_concurrency",
    "requests_per_minute",
    "timeout_secs",
    "max_retries",
    "headers",
    "body",
    "response_path",
    "usage_input_path",
    "usage_output_path",
    "command",
];
const HTTP_ONLY_KEYS: &[&str] = &[
    "body",
    "response_path",
    "usage_input_path",
    "usage_output_path",
];
const BUDGET_KEYS: &[&str] = &[
    "max_run_usd",
    "max_cost_increase_pct",
    "max_cost_increase_usd",
    "warn_cost_increase_pct",
    "warn_cost_increase_usd",
];
const GATE_KEYS: &[&str] = &[
    "min_pass_rate",
    "min_mean_score",
    "tolerance",
    "alpha",
    "fail_on_error",
];
const REDACT_KEYS: &[&str] = &["emails", "phones", "cards", "patterns"];
const KINDS: &str = "`openai`, `anthropic`, `http` or `exec`";

/// Where a setting came from, for diagnostics raised after merging (kind requirements,
/// unknown judge).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Origin {
    /// A span in `evalgit.toml` and its key path.
    File(Range<usize>, String),
    /// An `EVALGIT_*` variable.
    Env(String),
}

/// `evalgit.toml` as read: the merged settings plus what later checks need to point at.
#[derive(Debug, Clone, Default)]
pub(crate) struct SettingsFile {
    pub settings: Settings,
    /// Where each provider was declared (its table header).
    pub provider_origins: BTreeMap<String, Origin>,
    /// Every provider name written in the file, valid or not: a suite naming one of them is
    /// not also reported as naming an unknown provider.
    pub declared_providers: BTreeSet<String>,
    pub judge_origin: Option<Origin>,
    /// Where `budget.max_run_usd` was set, for errors about the cap (unpriced models).
    pub max_run_usd_origin: Option<Origin>,
    /// Where the first cost-increase gate key (`budget.max_cost_increase_pct` ...) was set,
    /// for errors about comparing costs of unpriced models.
    pub cost_gate_origin: Option<Origin>,
    /// Per provider, every string of its `body` with where it is written, for locating a
    /// body template that fails to render for some scenario.
    pub body_sites: BTreeMap<String, Vec<BodySite>>,
    pub profile_names: Vec<String>,
}

/// One string of an `http` provider's `body`, as written in `evalgit.toml`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BodySite {
    pub template: String,
    pub span: Range<usize>,
    pub key_path: String,
}

/// Every string in a `body` value, with its span and key path.
fn body_sites(node: &Node, path: &str, out: &mut Vec<BodySite>) {
    match &node.kind {
        NodeKind::Str(s) => out.push(BodySite {
            template: s.to_string(),
            span: node.span.clone(),
            key_path: path.to_string(),
        }),
        NodeKind::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                body_sites(item, &super::walker::index(path, i), out);
            }
        }
        NodeKind::Table(entries) => {
            for e in entries {
                body_sites(&e.value, &join(path, &e.key), out);
            }
        }
        _ => {}
    }
}

/// Reads `evalgit.toml` entries. `profile` is the profile to apply, already known to exist
/// or reported by the caller when it does not (see [`profile_names`]).
pub(crate) fn read_settings(
    cx: &mut FileCx<'_>,
    entries: &[super::walker::Entry],
    profile: Option<&str>,
) -> SettingsFile {
    let mut out = SettingsFile::default();
    out.settings.evals_dir = "evals".to_string();
    out.settings.snapshots_dir = "snapshots".to_string();
    for e in entries {
        if !TOP_KEYS.contains(&e.key()) {
            if e.key == "provider" || e.key == "scenario" || e.key == "prompt" {
                cx.error(&e.key_span, &e.key, format!("unknown key `{}` in evalgit.toml", e.key))
                    .help("suites live in `evals/*.toml`; evalgit.toml declares providers as `[providers.NAME]`");
            } else {
                cx.unknown_key(e, TOP_KEYS, "");
            }
        }
    }
    if let Some(e) = get(entries, "evals_dir")
        && let Some(p) = relative_path(cx, &e.value, "evals_dir")
    {
        out.settings.evals_dir = p;
    }
    if let Some(e) = get(entries, "snapshots_dir")
        && let Some(p) = relative_path(cx, &e.value, "snapshots_dir")
    {
        out.settings.snapshots_dir = p;
    }
    if let Some(e) = get(entries, "judge")
        && let Some(j) = cx.non_empty_str(&e.value, "judge")
    {
        out.settings.judge = Some(j.to_string());
        out.judge_origin = Some(Origin::File(e.value.span.clone(), "judge".into()));
    }
    if let Some(e) = get(entries, "providers")
        && let Some(providers) = cx.table(&e.value, "providers")
    {
        for p in providers {
            out.declared_providers.insert(p.key.to_string());
            let path = join("providers", &p.key);
            if !valid_name(&p.key) {
                cx.error(
                    &p.key_span,
                    &path,
                    format!(
                        "provider name `{}` may only use letters, digits, `_` and `-`",
                        p.key
                    ),
                )
                .help("the name is used in EVALGIT_PROVIDER_<NAME>_* variables and in reports");
                continue;
            }
            let Some(table) = cx.table(&p.value, &path) else {
                continue;
            };
            let kind = match get(table, "kind") {
                Some(k) => read_kind(cx, &k.value, &join(&path, "kind")),
                None => {
                    cx.error(
                        &p.value.span,
                        &path,
                        format!("provider `{}` has no `kind`", p.key),
                    )
                    .help(format!("add `kind = \"openai\"` (one of {KINDS})"));
                    None
                }
            };
            let Some(kind) = kind else { continue };
            let mut config = ProviderConfig::new(p.key.to_string(), kind);
            apply_provider(cx, table, &path, &mut config);
            if let Some(b) = get(table, "body") {
                let mut sites = Vec::new();
                body_sites(&b.value, &join(&path, "body"), &mut sites);
                out.body_sites.insert(p.key.to_string(), sites);
            }
            out.provider_origins
                .insert(p.key.to_string(), Origin::File(p.value.span.clone(), path));
            out.settings.providers.insert(p.key.to_string(), config);
        }
    }
    if let Some(e) = get(entries, "prices") {
        apply_prices(cx, &e.value, "prices", &mut out.settings.prices);
    }
    if let Some(e) = get(entries, "budget") {
        apply_budget(cx, &e.value, "budget", &mut out);
    }
    if let Some(e) = get(entries, "gate") {
        apply_gate(cx, &e.value, "gate", &mut out.settings);
    }
    if let Some(e) = get(entries, "redact") {
        apply_redact(cx, &e.value, "redact", &mut out.settings);
    }
    if let Some(e) = get(entries, "profile")
        && let Some(profiles) = cx.table(&e.value, "profile")
    {
        out.profile_names = profiles.iter().map(|p| p.key.to_string()).collect();
        let base = out.clone();
        for p in profiles {
            let path = join("profile", &p.key);
            let Some(table) = cx.table(&p.value, &path) else {
                continue;
            };
            // Every profile is applied to a copy of the base, so all are checked; only
            // the selected one is kept.
            let mut merged = base.clone();
            apply_profile(cx, table, &path, &mut merged);
            if profile == Some(p.key()) {
                out = merged;
            }
        }
    }
    out.settings.profile = profile.map(str::to_string);
    out
}

/// The profile names of a parsed `evalgit.toml`, for selecting one before reading.
pub(crate) fn profile_names(entries: &[super::walker::Entry]) -> Vec<String> {
    get(entries, "profile")
        .and_then(|e| e.value.as_table())
        .map(|t| t.iter().map(|p| p.key.to_string()).collect())
        .unwrap_or_default()
}

fn apply_profile(
    cx: &mut FileCx<'_>,
    table: &[super::walker::Entry],
    base: &str,
    out: &mut SettingsFile,
) {
    cx.check_keys(table, PROFILE_KEYS, base);
    let profile = base.trim_start_matches("profile.");
    if let Some(e) = get(table, "judge") {
        let path = join(base, "judge");
        if let Some(j) = cx.non_empty_str(&e.value, &path) {
            out.settings.judge = Some(j.to_string());
            out.judge_origin = Some(Origin::File(e.value.span.clone(), path));
        }
    }
    if let Some(e) = get(table, "providers") {
        let ppath = join(base, "providers");
        if let Some(providers) = cx.table(&e.value, &ppath) {
            for p in providers {
                let path = join(&ppath, &p.key);
                out.declared_providers.insert(p.key.to_string());
                let Some(ptable) = cx.table(&p.value, &path) else {
                    continue;
                };
                let kind =
                    get(ptable, "kind").map(|k| read_kind(cx, &k.value, &join(&path, "kind")));
                let mut config = match (out.settings.providers.get(p.key()), kind) {
                    (_, Some(None)) => continue,
                    (Some(existing), Some(Some(kind))) => ProviderConfig {
                        kind,
                        ..existing.clone()
                    },
                    (Some(existing), None) => existing.clone(),
                    (None, Some(Some(kind))) => {
                        if !valid_name(&p.key) {
                            cx.error(
                                &p.key_span,
                                &path,
                                format!(
                                    "provider name `{}` may only use letters, digits, `_` and `-`",
                                    p.key
                                ),
                            );
                            continue;
                        }
                        out.provider_origins.insert(
                            p.key.to_string(),
                            Origin::File(p.value.span.clone(), path.clone()),
                        );
                        ProviderConfig::new(p.key.to_string(), kind)
                    }
                    (None, None) => {
                        cx.error(&p.key_span, &path, format!("profile `{profile}` introduces provider `{}` without a `kind`", p.key))
                            .help(format!(
                                "a profile overrides providers declared in `[providers]`; declare `[providers.{}]` there, or add `kind` here",
                                p.key
                            ));
                        continue;
                    }
                };
                apply_provider(cx, ptable, &path, &mut config);
                if let Some(b) = get(ptable, "body") {
                    let mut sites = Vec::new();
                    body_sites(&b.value, &join(&path, "body"), &mut sites);
                    out.body_sites.insert(p.key.to_string(), sites);
                }
                out.settings.providers.insert(p.key.to_string(), config);
            }
        }
    }
    if let Some(e) = get(table, "prices") {
        apply_prices(
            cx,
            &e.value,
            &join(base, "prices"),
            &mut out.settings.prices,
        );
    }
    if let Some(e) = get(table, "budget") {
        apply_budget(cx, &e.value, &join(base, "budget"), out);
    }
    if let Some(e) = get(table, "gate") {
        apply_gate(cx, &e.value, &join(base, "gate"), &mut out.settings);
    }
    if let Some(e) = get(table, "redact") {
        apply_redact(cx, &e.value, &join(base, "redact"), &mut out.settings);
    }
}

/// Names that end up in environment variable names and file names.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn read_kind(cx: &mut FileCx<'_>, node: &Node, path: &str) -> Option<ProviderKind> {
    let s = cx.str(node, path)?;
    match ProviderKind::from_name(s) {
        Some(k) => Some(k),
        None => {
            let names = ["openai", "anthropic", "http", "exec"];
            let msg = match super::walker::did_you_mean(s, &names) {
                Some(m) => format!("unknown provider kind `{s}` (did you mean `{m}`?)"),
                None => format!("unknown provider kind `{s}`"),
            };
            cx.error(&node.span, path, msg).help(format!(
                "use one of {KINDS}; any OpenAI-compatible server is `openai`"
            ));
            None
        }
    }
}

/// A root-relative path that stays inside the project.
pub(crate) fn relative_path(cx: &mut FileCx<'_>, node: &Node, path: &str) -> Option<String> {
    let s = cx.non_empty_str(node, path)?;
    match clean_relative(s) {
        Some(p) => Some(p),
        None => {
            cx.error(&node.span, path, format!("`{s}` must be a relative path inside the project"))
                .help("paths are relative to the project root (the directory holding evalgit.toml) and may not use `..`");
            None
        }
    }
}

/// `./a/b` -> `a/b`; `None` for absolute paths and paths using `..`.
pub(crate) fn clean_relative(s: &str) -> Option<String> {
    use std::path::Component;
    let p = PathBuf::from(s);
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Applies every key of a provider table except `kind` (already handled) over `config`.
pub(crate) fn apply_provider(
    cx: &mut FileCx<'_>,
    table: &[super::walker::Entry],
    base: &str,
    config: &mut ProviderConfig,
) {
    let kind = config.kind;
    for e in table {
        let path = join(base, &e.key);
        let v = &e.value;
        match e.key() {
            "kind" => {}
            "model" => {
                if let Some(s) = cx.non_empty_str(v, &path) {
                    config.model = Some(s.to_string());
                }
            }
            "base_url" => {
                if kind == ProviderKind::Exec {
                    cx.error(
                        &e.key_span,
                        &path,
                        "`base_url` does not apply to an `exec` provider",
                    )
                    .help("an exec provider runs `command`");
                } else if let Some(s) = cx.non_empty_str(v, &path) {
                    if s.starts_with("http://") || s.starts_with("https://") {
                        config.base_url = Some(s.trim_end_matches('/').to_string());
                    } else {
                        cx.error(
                            &v.span,
                            &path,
                            format!("`base_url` must start with http:// or https://, found `{s}`"),
                        );
                    }
                }
            }
            "api_key_env" => {
                if let Some(s) = api_key_env(cx, v, &path) {
                    config.api_key_env = Some(s);
                }
            }
            "temperature" => {
                config.params.temperature = cx
                    .number_in(v, &path, 0.0, 2.0, "between 0 and 2")
                    .or(config.params.temperature)
            }
            "top_p" => config.params.top_p = cx.fraction(v, &path).or(config.params.top_p),
            "max_tokens" => {
                config.params.max_tokens = cx.count(v, &path, 1).or(config.params.max_tokens)
            }
            "seed" => config.params.seed = cx.int(v, &path).or(config.params.seed),
            "stop" => {
                if let Some(list) = cx.string_list(v, &path) {
                    config.params.stop = list;
                }
            }
            "response_format" => config.params.response_format = Some(v.to_json()),
            "tools" => {
                if cx.array(v, &path).is_some() {
                    config.params.tools = Some(v.to_json());
                }
            }
            "extra" if !matches!(kind, ProviderKind::Openai | ProviderKind::Anthropic) => {
                cx.error(
                    &e.key_span,
                    &path,
                    format!(
                        "`extra` only applies to `openai` and `anthropic` providers, not `{}`",
                        kind.name()
                    ),
                )
                .help(if kind == ProviderKind::Http {
                    "an http provider sends `body`: put the fields there"
                } else {
                    "an exec provider sends nothing over HTTP: pass settings in `command`"
                });
            }
            "extra" => {
                if let Some(t) = cx.table(v, &path) {
                    for x in t {
                        if let Some((message, help)) = reserved_extra(kind, base, &x.key) {
                            cx.error(&x.key_span, &join(&path, &x.key), message)
                                .help(help);
                            continue;
                        }
                        config
                            .params
                            .extra
                            .insert(x.key.to_string(), x.value.to_json());
                    }
                }
            }
            "max_concurrency" => {
                if let Some(n) = cx.count(v, &path, 1) {
                    config.max_concurrency = n as usize;
                }
            }
            "requests_per_minute" => {
                config.requests_per_minute = cx.count(v, &path, 1).or(config.requests_per_minute)
            }
            "timeout_secs" => {
                if let Some(n) = cx.number(v, &path) {
                    if n > 0.0 {
                        config.timeout_secs = n;
                    } else {
                        cx.error(
                            &v.span,
                            &path,
                            format!("`timeout_secs` must be more than 0, found {n}"),
                        );
                    }
                }
            }
            "max_retries" => {
                if let Some(n) = cx.count(v, &path, 0) {
                    config.max_retries = n;
                }
            }
            "headers" if kind == ProviderKind::Exec => {
                cx.error(
                    &e.key_span,
                    &path,
                    "`headers` does not apply to an `exec` provider",
                )
                .help("an exec provider runs `command`; it makes no HTTP request");
            }
            "headers" => {
                if let Some(t) = cx.table(v, &path) {
                    for h in t {
                        let hpath = join(&path, &h.key);
                        let Some(s) = cx.str(&h.value, &hpath) else {
                            continue;
                        };
                        // The same parsers the HTTP client uses: what passes here is sent.
                        if reqwest::header::HeaderName::from_bytes(h.key.as_bytes()).is_err() {
                            cx.error(&h.key_span, &hpath, format!("`{}` is not a valid HTTP header name", h.key))
                                .help("header names are letters, digits and !#$%&'*+-.^_`|~, without spaces or `:`, e.g. `X-Team`");
                        } else if reqwest::header::HeaderValue::from_str(s).is_err() {
                            cx.error(&h.value.span, &hpath, format!("the value of header `{}` is not a valid HTTP header value", h.key))
                                .help("a header value may not contain line breaks or other control characters");
                        } else {
                            config.headers.insert(h.key.to_string(), s.to_string());
                        }
                    }
                }
            }
            key if HTTP_ONLY_KEYS.contains(&key) && kind != ProviderKind::Http => {
                cx.error(
                    &e.key_span,
                    &path,
                    format!(
                        "`{key}` only applies to an `http` provider, not `{}`",
                        kind.name()
                    ),
                );
            }
            "body" => {
                let env = super::body_template::environment();
                let mut sites = Vec::new();
                body_sites(v, &path, &mut sites);
                let mut ok = true;
                for site in &sites {
                    if let Some(err) = super::body_template::syntax_error(&env, &site.template) {
                        ok = false;
                        cx.error(&site.span, &site.key_path, format!("{} in the body template", err.message))
                            .help("body strings are minijinja templates: `{{ prompt }}`, `{{ messages }}`, `{{ system }}` or a scenario variable");
                    }
                }
                if ok {
                    config.body = Some(v.to_json());
                }
            }
            "response_path" => {
                config.response_path = cx
                    .non_empty_str(v, &path)
                    .map(str::to_string)
                    .or(config.response_path.take())
            }
            "usage_input_path" => {
                config.usage_input_path = cx
                    .non_empty_str(v, &path)
                    .map(str::to_string)
                    .or(config.usage_input_path.take())
            }
            "usage_output_path" => {
                config.usage_output_path = cx
                    .non_empty_str(v, &path)
                    .map(str::to_string)
                    .or(config.usage_output_path.take())
            }
            "command" => {
                if kind != ProviderKind::Exec {
                    cx.error(
                        &e.key_span,
                        &path,
                        format!(
                            "`command` only applies to an `exec` provider, not `{}`",
                            kind.name()
                        ),
                    );
                    continue;
                }
                let parts = match &v.kind {
                    NodeKind::Str(s) => {
                        Some(s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                    }
                    _ => cx.string_list(v, &path),
                };
                match parts {
                    Some(p) if !p.is_empty() && !p[0].is_empty() => config.command = p,
                    Some(_) => {
                        cx.error(&v.span, &path, "`command` must not be empty")
                            .help("e.g. command = [\"python3\", \"app.py\"]");
                    }
                    None => {}
                }
            }
            _ => cx.unknown_key(e, PROVIDER_KEYS, base),
        }
    }
}

/// Request fields `extra` may not set, because evalgit sets them itself: the model (prices
/// and budgets are looked up by it), the messages (each scenario's prompt), streaming (one
/// complete reply is read), and the parameters that have their own key (the budget reserves
/// by `max_tokens`; one value should not silently override another). The message and help
/// for `key`, or `None` when `extra` may set it.
fn reserved_extra(kind: ProviderKind, base: &str, key: &str) -> Option<(String, String)> {
    let own_keys: &[(&str, &str)] = match kind {
        ProviderKind::Openai => &[
            ("temperature", "temperature"),
            ("max_tokens", "max_tokens"),
            ("top_p", "top_p"),
            ("seed", "seed"),
            ("stop", "stop"),
            ("response_format", "response_format"),
            ("tools", "tools"),
        ],
        ProviderKind::Anthropic => &[
            ("temperature", "temperature"),
            ("max_tokens", "max_tokens"),
            ("top_p", "top_p"),
            ("stop_sequences", "stop"),
            ("tools", "tools"),
        ],
        ProviderKind::Http | ProviderKind::Exec => &[],
    };
    let table = format!("[{base}]");
    let found = match key {
        "model" => (
            format!("`extra` may not set `model`: evalgit sends `{base}.model`"),
            format!(
                "set `model = \"...\"` in {table}; prices and budgets are looked up by that name"
            ),
        ),
        "messages" => (
            "`extra` may not set `messages`: evalgit sends each scenario's rendered prompt there"
                .to_string(),
            "write the prompt in the suite (`prompt`, `prompt_file` or `[[messages]]`)".to_string(),
        ),
        "system" if kind == ProviderKind::Anthropic => (
            "`extra` may not set `system`: evalgit sends the suite's system messages there"
                .to_string(),
            "write a `[[messages]]` table with `role = \"system\"` in the suite".to_string(),
        ),
        "stream" => (
            "`extra` may not set `stream`: evalgit reads one complete reply, not a stream"
                .to_string(),
            "remove `stream` from `extra`".to_string(),
        ),
        _ => {
            let (_, own) = own_keys.iter().find(|(field, _)| *field == key)?;
            (
                format!("`extra` may not set `{key}`: it would override `{base}.{own}`"),
                if *own == "max_tokens" {
                    format!(
                        "set `max_tokens` in {table} instead: the budget reserves the cost of that many output tokens"
                    )
                } else {
                    format!("set `{own}` in {table} instead")
                },
            )
        }
    };
    Some(found)
}

/// `api_key_env` names a variable; a value that looks like a key itself is an error whose
/// diagnostic omits the source line, so the key is not printed into a CI log.
fn api_key_env(cx: &mut FileCx<'_>, v: &Node, path: &str) -> Option<String> {
    let s = cx.non_empty_str(v, path)?;
    let is_name = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if is_name {
        return Some(s.to_string());
    }
    let mut d = cx.file.diagnostic(
        super::Severity::Error,
        &v.span,
        path,
        "`api_key_env` must be the name of an environment variable",
    );
    d.source_line = None;
    d.help = Some("write the variable's name (e.g. `OPENAI_API_KEY`), never the key itself; if this was a real key, revoke it".into());
    cx.push(d);
    None
}

fn apply_prices(
    cx: &mut FileCx<'_>,
    node: &Node,
    base: &str,
    prices: &mut BTreeMap<String, Price>,
) {
    let Some(models) = cx.table(node, base) else {
        return;
    };
    for m in models {
        let path = join(base, &m.key);
        let Some(t) = cx.table(&m.value, &path) else {
            continue;
        };
        cx.check_keys(t, &["input", "output"], &path);
        let read = |key: &str, cx: &mut FileCx<'_>| match get(t, key) {
            Some(e) => cx.non_negative(&e.value, &join(&path, key)),
            None => {
                cx.error(
                    &m.value.span,
                    &path,
                    format!("price for `{}` has no `{key}`", m.key),
                )
                .help("give both `input` and `output`, in USD per million tokens");
                None
            }
        };
        let input = read("input", cx);
        let output = read("output", cx);
        if let (Some(input), Some(output)) = (input, output) {
            prices.insert(m.key.to_string(), Price { input, output });
        }
    }
}

/// The budget keys that gate on cost against the baseline.
pub(crate) const COST_GATE_KEYS: [&str; 4] = [
    "max_cost_increase_pct",
    "max_cost_increase_usd",
    "warn_cost_increase_pct",
    "warn_cost_increase_usd",
];

fn apply_budget(cx: &mut FileCx<'_>, node: &Node, base: &str, out: &mut SettingsFile) {
    let Some(t) = cx.table(node, base) else {
        return;
    };
    cx.check_keys(t, BUDGET_KEYS, base);
    if let Some(e) = get(t, "max_run_usd") {
        out.max_run_usd_origin = Some(Origin::File(
            e.value.span.clone(),
            join(base, "max_run_usd"),
        ));
    }
    for key in COST_GATE_KEYS {
        if out.cost_gate_origin.is_none()
            && let Some(e) = get(t, key)
        {
            out.cost_gate_origin = Some(Origin::File(e.value.span.clone(), join(base, key)));
        }
    }
    let b = &mut out.settings.budget;
    for (key, slot) in [
        ("max_run_usd", &mut b.max_run_usd),
        ("max_cost_increase_pct", &mut b.max_cost_increase_pct),
        ("max_cost_increase_usd", &mut b.max_cost_increase_usd),
        ("warn_cost_increase_pct", &mut b.warn_cost_increase_pct),
        ("warn_cost_increase_usd", &mut b.warn_cost_increase_usd),
    ] {
        if let Some(e) = get(t, key)
            && let Some(n) = cx.non_negative(&e.value, &join(base, key))
        {
            *slot = Some(n);
        }
    }
}

fn apply_gate(cx: &mut FileCx<'_>, node: &Node, base: &str, settings: &mut Settings) {
    let Some(t) = cx.table(node, base) else {
        return;
    };
    cx.check_keys(t, GATE_KEYS, base);
    let g = &mut settings.gate;
    if let Some(e) = get(t, "min_pass_rate") {
        g.min_pass_rate = cx
            .fraction(&e.value, &join(base, "min_pass_rate"))
            .or(g.min_pass_rate);
    }
    if let Some(e) = get(t, "min_mean_score") {
        g.min_mean_score = cx
            .fraction(&e.value, &join(base, "min_mean_score"))
            .or(g.min_mean_score);
    }
    if let Some(e) = get(t, "tolerance")
        && let Some(n) = cx.fraction(&e.value, &join(base, "tolerance"))
    {
        g.tolerance = n;
    }
    if let Some(e) = get(t, "alpha") {
        let path = join(base, "alpha");
        if let Some(n) = cx.number(&e.value, &path) {
            if n > 0.0 && n < 1.0 {
                g.alpha = n;
            } else {
                cx.error(
                    &e.value.span,
                    &path,
                    format!("`alpha` must be between 0 and 1 (exclusive), found {n}"),
                )
                .help("0.05 is usual");
            }
        }
    }
    if let Some(e) = get(t, "fail_on_error")
        && let Some(b) = cx.bool(&e.value, &join(base, "fail_on_error"))
    {
        g.fail_on_error = b;
    }
}

fn apply_redact(cx: &mut FileCx<'_>, node: &Node, base: &str, settings: &mut Settings) {
    let Some(t) = cx.table(node, base) else {
        return;
    };
    cx.check_keys(t, REDACT_KEYS, base);
    let r = &mut settings.redact;
    for (key, slot) in [
        ("emails", &mut r.emails),
        ("phones", &mut r.phones),
        ("cards", &mut r.cards),
    ] {
        if let Some(e) = get(t, key)
            && let Some(b) = cx.bool(&e.value, &join(base, key))
        {
            *slot = b;
        }
    }
    if let Some(e) = get(t, "patterns") {
        let path = join(base, "patterns");
        if let Some(items) = cx.array(&e.value, &path) {
            let mut patterns = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let ipath = super::walker::index(&path, i);
                let Some(p) = cx.non_empty_str(item, &ipath) else {
                    continue;
                };
                match regex::Regex::new(p) {
                    Ok(_) => patterns.push(p.to_string()),
                    Err(err) => {
                        cx.error(
                            &item.span,
                            &ipath,
                            format!("invalid regex: {}", one_line(&err.to_string())),
                        )
                        .help("patterns use Rust regex syntax (https://docs.rs/regex)");
                    }
                }
            }
            r.patterns = patterns;
        }
    }
}

/// Regex errors span several lines (pattern, caret, message); a diagnostic wants one.
pub(crate) fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.chars().all(|c| c == '^' || c == ' '))
        .unwrap_or(s)
        .to_string()
}

/// Requirements that hold per kind, checked on the final (merged) provider.
pub(crate) fn kind_problems(p: &ProviderConfig) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let need = |what: &str, help: &str| {
        (
            format!("provider `{}` ({}) needs `{what}`", p.name, p.kind.name()),
            help.to_string(),
        )
    };
    match p.kind {
        ProviderKind::Openai | ProviderKind::Anthropic if p.model.is_none() => {
            out.push(need("model", "add e.g. `model = \"gpt-4o-mini\"`"));
        }
        ProviderKind::Http => {
            if p.base_url.is_none() {
                out.push(need(
                    "base_url",
                    "the URL evalgit POSTs the request body to",
                ));
            }
            if p.response_path.is_none() {
                out.push(need(
                    "response_path",
                    "the dotted path of the answer in the response JSON, e.g. `choices.0.text`",
                ));
            }
        }
        ProviderKind::Exec if p.command.is_empty() => {
            out.push(need(
                "command",
                "e.g. command = [\"python3\", \"app.py\"]; the prompt goes to its stdin",
            ));
        }
        _ => {}
    }
    out
}

/// Provider requirement diagnostics for the merged settings.
pub(crate) fn check_kinds(file: &SourceFile, sf: &SettingsFile, diags: &mut Diagnostics) {
    for (name, p) in &sf.settings.providers {
        for (msg, help) in kind_problems(p) {
            let d = match sf.provider_origins.get(name) {
                Some(Origin::File(span, path)) => {
                    file.diagnostic(super::Severity::Error, span, path, msg)
                }
                _ => super::Diagnostic::whole_file(super::Severity::Error, file.path.clone(), msg),
            };
            diags.push(d.with_help(help));
        }
    }
}
