//! One assertion table (`{ type = "icontains", value = "paris" }`) into an
//! [`AssertionSpec`], with the keys each kind needs checked here so evaluation can rely on
//! them.

use std::collections::BTreeSet;

use crate::assert::{AssertKind, AssertionSpec};

use super::settings_file::one_line;
use super::walker::{FileCx, Kp, Node, NodeKind, did_you_mean, get, join};

/// What assertion checks need to know about the project.
pub(crate) struct AssertCtx<'a> {
    /// Every provider name declared in `evalgit.toml` (a judge must be one of them).
    pub providers: &'a BTreeSet<String>,
    /// Whether a suite or project judge is set, so model-graded checks without their own
    /// `provider` have a judge.
    pub has_default_judge: bool,
    /// False when `evalgit.toml` could not be read: provider names are then not checked,
    /// to avoid a cascade of "unknown provider" errors.
    pub check_providers: bool,
    /// Regexes already compiled in this suite: the same pattern on 10,000 scenarios is
    /// compiled once (compiling dominated loading large suites).
    pub regexes: std::cell::RefCell<std::collections::HashMap<String, regex::Regex>>,
}

const COMMON: &[&str] = &["type", "weight"];

/// The keys a kind accepts besides `type` and `weight`.
fn kind_keys(kind: AssertKind) -> &'static [&'static str] {
    use AssertKind::*;
    match kind {
        Equals | Contains | Icontains | StartsWith | ContainsAny | ContainsAll | Regex
        | MaxLatencyMs | MaxCost => &["value"],
        IsJson | ContainsJson | JsonSchema => &["value"],
        JsonPath => &["path", "value"],
        WordCount | Length => &["min", "max"],
        Similar => &["value", "threshold", "metric"],
        LlmRubric | Factuality | ClosedQa => &["value", "threshold", "provider"],
    }
}

fn type_list() -> String {
    AssertKind::ALL
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads one assertion; `None` (with diagnostics recorded) when it is unusable.
pub(crate) fn read_assertion(
    cx: &mut FileCx<'_>,
    node: &Node,
    path: Kp<'_>,
    actx: &AssertCtx<'_>,
) -> Option<AssertionSpec> {
    let table = cx.table(node, path)?;
    let Some(type_entry) = get(table, "type") else {
        cx.error(&node.span, path, "assertion has no `type`")
            .help(format!(
                "add e.g. `type = \"contains\"`; types: {}",
                type_list()
            ));
        return None;
    };
    let type_path = Kp::Sub(&path, "type");
    let type_name = cx.str(&type_entry.value, type_path)?;
    let (negate, base) = match type_name.strip_prefix("not-") {
        Some(rest) => (true, rest),
        None => (false, type_name),
    };
    let Some(kind) = AssertKind::from_name(base) else {
        let names: Vec<&str> = AssertKind::ALL.iter().map(|k| k.name()).collect();
        let msg = match did_you_mean(base, &names) {
            Some(m) => format!(
                "unknown assertion type `{type_name}` (did you mean `{}{m}`?)",
                if negate { "not-" } else { "" }
            ),
            None => format!("unknown assertion type `{type_name}`"),
        };
        cx.error(&type_entry.value.span, type_path, msg)
            .help(format!(
                "valid types: {}; any of them can be negated with a `not-` prefix",
                type_list()
            ));
        return None;
    };
    let mut spec = AssertionSpec::new(kind);
    spec.negate = negate;
    let mut ok = true;

    let allowed = kind_keys(kind);
    for e in table {
        if COMMON.contains(&e.key()) || allowed.contains(&e.key()) {
            continue;
        }
        ok = false;
        let mut all: Vec<&str> = COMMON.to_vec();
        all.extend_from_slice(allowed);
        let known_anywhere = [
            "value",
            "weight",
            "threshold",
            "min",
            "max",
            "path",
            "metric",
            "provider",
        ];
        if known_anywhere.contains(&e.key()) {
            cx.error(
                &e.key_span,
                &join(&path.render(), &e.key),
                format!(
                    "`{}` does not apply to a `{}` assertion",
                    e.key,
                    kind.name()
                ),
            )
            .help(format!("`{}` takes: {}", kind.name(), all.join(", ")));
        } else {
            cx.unknown_key(e, &all, path);
        }
    }

    if let Some(e) = get(table, "weight") {
        match cx.non_negative(&e.value, Kp::Sub(&path, "weight")) {
            Some(w) => spec.weight = w,
            None => ok = false,
        }
    }

    let value = get(table, "value");
    let value_path = Kp::Sub(&path, "value");
    let need_value = |cx: &mut FileCx<'_>, what: &str| {
        cx.error(
            &node.span,
            path,
            format!("`{}` assertion needs a `value`", kind.name()),
        )
        .help(format!("add `value = {what}`"));
    };
    use AssertKind::*;
    match kind {
        Equals | Contains | Icontains | StartsWith => match value {
            None => {
                need_value(cx, "\"...\"");
                ok = false;
            }
            Some(v) => match &v.value.kind {
                NodeKind::Str(s) => spec.value = Some(serde_json::Value::String(s.to_string())),
                // A number or boolean means its text: `value = 42` checks for "42".
                NodeKind::Int(i) => spec.value = Some(serde_json::Value::String(i.to_string())),
                NodeKind::BigInt(t) => spec.value = Some(serde_json::Value::String(t.clone())),
                NodeKind::Float(f) => spec.value = Some(serde_json::Value::String(f.to_string())),
                NodeKind::Bool(b) => spec.value = Some(serde_json::Value::String(b.to_string())),
                _ => {
                    cx.error(
                        &v.value.span,
                        value_path,
                        format!("`value` must be a string, found {}", v.value.type_name()),
                    )
                    .help(format!(
                        "to match any of several strings use `type = \"{}contains-any\"`",
                        if negate { "not-" } else { "" }
                    ));
                    ok = false;
                }
            },
        },
        ContainsAny | ContainsAll => {
            match value {
                None => {
                    need_value(cx, "[\"a\", \"b\"]");
                    ok = false;
                }
                Some(v) => {
                    match cx.string_list(&v.value, value_path) {
                        Some(list) if !matches!(v.value.kind, NodeKind::Array(_)) => {
                            let _ = list;
                            cx.error(
                                &v.value.span,
                                value_path,
                                format!("`value` of `{}` must be an array of strings", kind.name()),
                            )
                            .help(format!(
                                "write `value = [{:?}]`",
                                v.value.as_str().unwrap_or_default()
                            ));
                            ok = false;
                        }
                        Some(list) if list.is_empty() => {
                            cx.error(&v.value.span, value_path, format!("`value` of `{}` must not be empty", kind.name()))
                        .help("list the strings to look for, e.g. `value = [\"refund\", \"return\"]`");
                            ok = false;
                        }
                        Some(list) => spec.value = Some(serde_json::Value::from(list)),
                        None => ok = false,
                    }
                }
            }
        }
        Regex => match value {
            None => {
                need_value(cx, "\"^\\\\d+$\"");
                ok = false;
            }
            Some(v) => match cx.str(&v.value, value_path) {
                Some(pattern) => match compile_regex(actx, pattern) {
                    Ok(re) => {
                        spec.value = Some(serde_json::Value::String(pattern.to_string()));
                        spec.regex = Some(re);
                    }
                    Err(err) => {
                        cx.error(&v.value.span, value_path, format!("invalid regex: {}", one_line(&err.to_string())))
                            .help("regexes use Rust syntax (https://docs.rs/regex); in TOML, '...' strings need no backslash escaping");
                        ok = false;
                    }
                },
                None => ok = false,
            },
        },
        IsJson | ContainsJson | JsonSchema => match value {
            None if kind == JsonSchema => {
                need_value(cx, "{ type = \"object\", required = [\"name\"] }");
                ok = false;
            }
            None => {}
            Some(v) => {
                if cx.table(&v.value, value_path).is_none() {
                    ok = false;
                } else {
                    let schema = v.value.to_json();
                    match jsonschema::validator_for(&schema) {
                        Ok(_) => spec.value = Some(schema),
                        Err(err) => {
                            cx.error(
                                &v.value.span,
                                value_path,
                                format!("invalid JSON schema: {}", one_line(&err.to_string())),
                            )
                            .help("the value is a JSON Schema written as a TOML table");
                            ok = false;
                        }
                    }
                }
            }
        },
        JsonPath => {
            match get(table, "path") {
                None => {
                    cx.error(&node.span, path, "`json-path` assertion needs a `path`")
                        .help("add e.g. `path = \"user.name\"`");
                    ok = false;
                }
                Some(p) => match cx.non_empty_str(&p.value, Kp::Sub(&path, "path")) {
                    Some(s) => spec.path = Some(s.to_string()),
                    None => ok = false,
                },
            }
            spec.value = value.map(|v| v.value.to_json());
        }
        WordCount | Length => {
            let min = get(table, "min").map(|e| cx.non_negative(&e.value, Kp::Sub(&path, "min")));
            let max = get(table, "max").map(|e| cx.non_negative(&e.value, Kp::Sub(&path, "max")));
            match (min, max) {
                (None, None) => {
                    cx.error(
                        &node.span,
                        path,
                        format!("`{}` assertion needs `min`, `max` or both", kind.name()),
                    )
                    .help("e.g. `min = 1, max = 50`");
                    ok = false;
                }
                (Some(None), _) | (_, Some(None)) => ok = false,
                (Some(Some(lo)), Some(Some(hi))) if lo > hi => {
                    let span = get(table, "min")
                        .map(|e| e.value.span.clone())
                        .unwrap_or(node.span.clone());
                    cx.error(
                        &span,
                        Kp::Sub(&path, "min"),
                        format!("`min` ({lo}) is larger than `max` ({hi})"),
                    )
                    .help("`min` is the lower bound and `max` the upper one; swap them");
                    ok = false;
                }
                (min, max) => {
                    spec.min = min.flatten();
                    spec.max = max.flatten();
                }
            }
        }
        MaxLatencyMs | MaxCost => match value {
            None => {
                need_value(cx, if kind == MaxCost { "0.001" } else { "2000" });
                ok = false;
            }
            Some(v) => match cx.number(&v.value, value_path) {
                Some(n) if kind == MaxLatencyMs && n <= 0.0 => {
                    cx.error(
                        &v.value.span,
                        value_path,
                        format!("`max-latency-ms` value must be more than 0, found {n}"),
                    );
                    ok = false;
                }
                Some(n) if kind == MaxCost && n < 0.0 => {
                    cx.error(
                        &v.value.span,
                        value_path,
                        format!("`max-cost` value must be 0 or more (USD), found {n}"),
                    );
                    ok = false;
                }
                Some(_) => spec.value = Some(v.value.to_json()),
                None => ok = false,
            },
        },
        Similar | LlmRubric | Factuality | ClosedQa => {
            match value {
                None => {
                    let what = match kind {
                        Similar => "\"the expected answer\"",
                        LlmRubric => "\"the answer is polite and mentions the refund policy\"",
                        Factuality => "\"the reference answer\"",
                        _ => "\"the criterion the answer must meet\"",
                    };
                    need_value(cx, what);
                    ok = false;
                }
                Some(v) => match cx.non_empty_str(&v.value, value_path) {
                    Some(s) => spec.value = Some(serde_json::Value::String(s.to_string())),
                    None => ok = false,
                },
            }
            if let Some(e) = get(table, "threshold") {
                match cx.fraction(&e.value, Kp::Sub(&path, "threshold")) {
                    Some(t) => spec.threshold = Some(t),
                    None => ok = false,
                }
            } else if kind == Similar {
                spec.threshold = Some(0.8);
            }
            if kind == Similar {
                spec.metric = Some("levenshtein".to_string());
                if let Some(e) = get(table, "metric") {
                    let mpath = Kp::Sub(&path, "metric");
                    match cx.str(&e.value, mpath) {
                        Some(m @ ("levenshtein" | "rouge-l")) => spec.metric = Some(m.to_string()),
                        Some(m) => {
                            cx.error(&e.value.span, mpath, format!("unknown metric `{m}`"))
                                .help("use `levenshtein` or `rouge-l`");
                            ok = false;
                        }
                        None => ok = false,
                    }
                }
            }
            if kind.is_model_graded() {
                match get(table, "provider") {
                    Some(e) => {
                        let ppath = Kp::Sub(&path, "provider");
                        match cx.non_empty_str(&e.value, ppath) {
                            Some(p) if actx.check_providers && !actx.providers.contains(p) => {
                                cx.error(
                                    &e.value.span,
                                    ppath,
                                    format!("unknown judge provider `{p}`"),
                                )
                                .help(known_providers(actx));
                                ok = false;
                            }
                            Some(p) => spec.provider = Some(p.to_string()),
                            None => ok = false,
                        }
                    }
                    None if !actx.has_default_judge => {
                        cx.error(&node.span, path, format!("`{}` needs a judge model, and none is set", kind.name())).help(
                            "set `judge = \"PROVIDER\"` in evalgit.toml or in the suite, or `provider = \"PROVIDER\"` on this assertion",
                        );
                        ok = false;
                    }
                    None => {}
                }
            }
        }
    }
    ok.then_some(spec)
}

fn compile_regex(actx: &AssertCtx<'_>, pattern: &str) -> Result<regex::Regex, regex::Error> {
    if let Some(re) = actx.regexes.borrow().get(pattern) {
        return Ok(re.clone());
    }
    let re = regex::Regex::new(pattern)?;
    actx.regexes
        .borrow_mut()
        .insert(pattern.to_string(), re.clone());
    Ok(re)
}

pub(crate) fn known_providers(actx: &AssertCtx<'_>) -> String {
    if actx.providers.is_empty() {
        "no provider is declared; add `[providers.NAME]` to evalgit.toml".to_string()
    } else {
        let names = actx
            .providers
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ");
        format!("providers in evalgit.toml: {names}")
    }
}
