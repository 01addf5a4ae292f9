//! One scenario (a `[[scenario]]` table or a JSONL object) into a [`Scenario`], with the
//! suite's defaults merged in and its variables checked against the prompt.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::PathBuf;

use crate::assert::AssertionSpec;

use super::assertion_table::{AssertCtx, read_assertion};
use super::render_check::RenderCheck;
use super::walker::{Entry, FileCx, Kp, Node, NodeKind, get, join};
use super::{PassRule, Scenario, Severity};

pub(crate) const SCENARIO_KEYS: &[&str] = &[
    "id",
    "description",
    "vars",
    "assert",
    "threshold",
    "repeat",
    "pass_rule",
];

/// Var names that mean the user put their checks in the wrong place.
const MISPLACED_ASSERT: &[&str] = &["assert", "asserts", "assertions", "assertion"];

/// More samples than this per scenario is a mistake (a typo, an extra zero), not an eval:
/// it would make millions of calls and hold them in memory.
pub const MAX_REPEAT: u32 = 1000;

/// How many scenarios without assertions are reported one by one before a summary.
const NO_ASSERT_WARNINGS: usize = 10;

/// `[defaults]` of a suite: merged into every scenario.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScenarioDefaults {
    pub vars: BTreeMap<String, serde_json::Value>,
    pub asserts: Vec<AssertionSpec>,
}

/// Collects a suite's scenarios from every place they are defined, checking each as it
/// arrives: duplicate ids, template variables, missing assertions.
pub(crate) struct ScenarioSink<'a> {
    /// Renders each valid scenario's prompt (and request body) as the run will.
    pub render: Option<RenderCheck<'a>>,
    pub defaults: ScenarioDefaults,
    pub actx: AssertCtx<'a>,
    /// Top-level variables the prompt uses.
    pub referenced: BTreeSet<String>,
    /// Whether the prompt compiled (if not, variables are not checked).
    pub check_vars: bool,
    pub suite_repeat: u32,
    pub seen: HashMap<String, (PathBuf, usize)>,
    pub scenarios: Vec<Scenario>,
    pub without_asserts: usize,
    /// Whether the scenarios' only assertions, from `[defaults] assert`, were reported as
    /// all weighing 0.
    pub zero_weight_defaults: bool,
}

/// Where a scenario comes from decides whether `id` is required.
pub(crate) enum IdRule {
    /// Hand-written TOML: ids name snapshots, so they must be chosen, not positional.
    Required,
    /// A data file: the id defaults to this (`line-7`).
    Default(String),
}

impl ScenarioSink<'_> {
    /// Reads one scenario table at `span`; records it if it is valid.
    pub fn read(
        &mut self,
        cx: &mut FileCx<'_>,
        entries: &[Entry],
        span: &Range<usize>,
        path: Kp<'_>,
        id_rule: IdRule,
    ) {
        let mut ok = true;
        // Unknown keys; one the prompt uses is a variable written outside `vars`.
        let mut misplaced_vars: Vec<&str> = Vec::new();
        for e in entries.iter().filter(|e| !SCENARIO_KEYS.contains(&e.key())) {
            ok = false;
            if self.referenced.contains(e.key()) {
                misplaced_vars.push(e.key());
                let msg = format!(
                    "`{}` is used by the prompt as a variable, so it belongs inside `vars`",
                    e.key
                );
                cx.error(&e.key_span, &join(&path.render(), &e.key), msg)
                    .help(format!(
                        "write `vars = {{ {} = ... }}`; keys outside `vars` are scenario settings",
                        e.key
                    ));
            } else {
                cx.unknown_key(e, SCENARIO_KEYS, path);
            }
        }
        let line = cx.file.line_of(span.start);
        let id = match (get(entries, "id"), id_rule) {
            (Some(e), _) => {
                let id_path = Kp::Sub(&path, "id");
                match &e.value.kind {
                    NodeKind::Str(s) => check_id(cx, s, &e.value.span, id_path),
                    // An integer id (common in data files) means its text.
                    NodeKind::Int(i) => Some(i.to_string()),
                    NodeKind::BigInt(t) => Some(t.clone()),
                    _ => cx.str(&e.value, id_path).map(str::to_string),
                }
            }
            (None, IdRule::Default(id)) => Some(id),
            (None, IdRule::Required) => {
                cx.error(span, path, "scenario has no `id`")
                    .help("add `id = \"...\"`: the id names the scenario's snapshot and results");
                None
            }
        };
        if let Some(id) = &id {
            if let Some((file, first)) = self.seen.get(id) {
                let here = if *file == cx.file.path {
                    format!("line {first}")
                } else {
                    format!("{}:{first}", crate::error::display_rel(file))
                };
                let span = get(entries, "id")
                    .map(|e| e.value.span.clone())
                    .unwrap_or(span.clone());
                cx.error(
                    &span,
                    Kp::Sub(&path, "id"),
                    format!("duplicate scenario id `{id}` (first defined at {here})"),
                )
                .help("scenario ids must be unique within a suite");
                ok = false;
            } else {
                self.seen.insert(id.clone(), (cx.file.path.clone(), line));
            }
        } else {
            ok = false;
        }

        let mut vars = self.defaults.vars.clone();
        let mut check_vars = self.check_vars;
        if let Some(e) = get(entries, "vars") {
            match self.read_vars(cx, &e.value, Kp::Sub(&path, "vars")) {
                Some((v, vars_ok)) => {
                    vars.extend(v);
                    ok &= vars_ok;
                }
                None => {
                    ok = false;
                    check_vars = false;
                }
            }
        }

        let mut asserts = self.defaults.asserts.clone();
        let assert_entry = get(entries, "assert");
        if let Some(e) = assert_entry {
            let apath = Kp::Sub(&path, "assert");
            match read_assert_list(cx, &e.value, apath, &self.actx) {
                Some(list) => asserts.extend(list),
                None => ok = false,
            }
        }

        let threshold = get(entries, "threshold").and_then(|e| {
            let t = cx.fraction(&e.value, Kp::Sub(&path, "threshold"));
            ok &= t.is_some();
            t
        });
        let repeat = get(entries, "repeat").and_then(|e| {
            let r = read_repeat(cx, &e.value, Kp::Sub(&path, "repeat"));
            ok &= r.is_some();
            r
        });
        let pass_rule = get(entries, "pass_rule").and_then(|e| {
            let p = read_pass_rule(
                cx,
                &e.value,
                Kp::Sub(&path, "pass_rule"),
                repeat.unwrap_or(self.suite_repeat),
            );
            ok &= p.is_some();
            p
        });
        if let Some(e) = get(entries, "description") {
            ok &= cx.str(&e.value, Kp::Sub(&path, "description")).is_some();
        }

        let name = id.as_deref().unwrap_or("?");
        if check_vars {
            let missing: Vec<&String> = self
                .referenced
                .iter()
                .filter(|v| !vars.contains_key(*v) && !misplaced_vars.contains(&v.as_str()))
                .collect();
            if !missing.is_empty() {
                let at = get(entries, "vars")
                    .map(|e| (e.key_span.clone(), join(&path.render(), "vars")))
                    .unwrap_or((span.clone(), path.render()));
                for var in missing {
                    cx.error(&at.0, &at.1, format!("scenario `{name}` does not define variable `{var}` used by the prompt")).help(format!(
                        "add `{var}` to this scenario's `vars`, or to `[defaults] vars` to give every scenario a value"
                    ));
                }
                ok = false;
            }
        }

        if !asserts.is_empty() && asserts.iter().all(|a| a.weight == 0.0) {
            ok = false;
            let help = "weight 0 marks a check as informational (reported, never counted): give at least one a weight above 0 (the default is 1)";
            match assert_entry {
                Some(e) => {
                    cx.error(
                        &e.key_span,
                        Kp::Sub(&path, "assert"),
                        format!("every assertion of scenario `{name}` has `weight = 0`, so nothing decides whether it passes"),
                    )
                    .help(help);
                }
                // All from `[defaults] assert`: said once, not for each of 10,000 rows.
                None if !self.zero_weight_defaults => {
                    self.zero_weight_defaults = true;
                    cx.error(
                        span,
                        path,
                        format!("every assertion of scenario `{name}` (all from `[defaults] assert`) has `weight = 0`, so nothing decides whether it passes"),
                    )
                    .help(help);
                }
                None => {}
            }
        }

        // Rendered last, and only when nothing else is wrong: a missing variable is reported
        // above, by name.
        if ok
            && check_vars
            && let Some(render) = self.render.as_mut()
            && let Some(id) = id.as_deref()
        {
            let (at, key) = match (get(entries, "vars"), get(entries, "id")) {
                (Some(e), _) => (e.key_span.clone(), Some("vars")),
                (None, Some(e)) => (e.value.span.clone(), Some("id")),
                (None, None) => (span.clone(), None),
            };
            let file = cx.file;
            let locate = |message: String| {
                let key_path = match key {
                    Some(key) => Kp::Sub(&path, key).render(),
                    None => path.render(),
                };
                file.diagnostic(Severity::Error, &at, &key_path, message)
            };
            ok = render.check(id, &vars, &locate);
        }

        if ok && asserts.is_empty() {
            self.without_asserts += 1;
            if self.without_asserts <= NO_ASSERT_WARNINGS {
                let at = assert_entry
                    .map(|e| e.key_span.clone())
                    .unwrap_or(span.clone());
                let help = if cx.file.path.extension().is_some_and(|e| e == "csv") {
                    "a CSV row holds variables only: put checks for every row under `[defaults] assert` in the suite"
                } else {
                    "add `assert = [{ type = \"contains\", value = \"...\" }]`, or checks for every scenario under `[defaults] assert`"
                };
                cx.warning(
                    &at,
                    path,
                    format!("scenario `{name}` has no assertions, so it always passes"),
                )
                .help(help);
            }
        }
        if let (true, Some(id)) = (ok, id) {
            // `extend` leaves room for four; a 100,000-scenario project keeps every list.
            asserts.shrink_to_fit();
            self.scenarios.push(Scenario {
                id,
                vars: vars.into(),
                asserts,
                threshold,
                repeat,
                pass_rule,
                file: cx.file.path.clone(),
                line,
            });
        }
    }

    /// A scenario's `vars` table (or `[defaults] vars`): `None` when it is not a table, else
    /// the usable variables and whether all of them were (a misplaced `assert` is left out
    /// of the map, so it does not also cause "undefined variable" errors).
    pub fn read_vars(
        &self,
        cx: &mut FileCx<'_>,
        node: &Node,
        path: Kp<'_>,
    ) -> Option<(BTreeMap<String, serde_json::Value>, bool)> {
        let table = cx.table(node, path)?;
        let mut ok = true;
        let mut out = BTreeMap::new();
        for e in table {
            let vpath = || join(&path.render(), &e.key);
            if MISPLACED_ASSERT.contains(&e.key()) {
                cx.error(&e.key_span, &vpath(), format!("`{}` is inside `vars`, so it is a variable, not a check: move it up to the scenario", e.key))
                    .help("write `assert = [...]` next to `vars`, not inside it; as written, these checks would never run");
                ok = false;
                continue;
            }
            if looks_like_assertions(&e.value) {
                cx.warning(&e.key_span, &vpath(), format!("variable `{}` looks like a list of assertions, but it is only a variable", e.key))
                    .help("checks go in the scenario's `assert` list; a variable is only text for the prompt");
            }
            out.insert(e.key.to_string(), e.value.to_json());
        }
        Some((out, ok))
    }
}

/// `[{ type = "contains", ... }, ...]`, which would be checks if placed under `assert`.
fn looks_like_assertions(node: &Node) -> bool {
    let NodeKind::Array(items) = &node.kind else {
        return false;
    };
    !items.is_empty()
        && items.iter().all(|i| {
            i.as_table()
                .and_then(|t| get(t, "type"))
                .and_then(|e| e.value.as_str())
                .is_some_and(|t| {
                    crate::assert::AssertKind::from_name(t.strip_prefix("not-").unwrap_or(t))
                        .is_some()
                })
        })
}

/// An `assert` array; a single table is accepted as a list of one.
pub(crate) fn read_assert_list(
    cx: &mut FileCx<'_>,
    node: &Node,
    path: Kp<'_>,
    actx: &AssertCtx<'_>,
) -> Option<Vec<AssertionSpec>> {
    match &node.kind {
        NodeKind::Array(items) => {
            let mut ok = true;
            let mut out = Vec::with_capacity(items.len());
            for (i, n) in items.iter().enumerate() {
                match read_assertion(cx, n, Kp::At(&path, i), actx) {
                    Some(spec) => out.push(spec),
                    None => ok = false,
                }
            }
            ok.then_some(out)
        }
        NodeKind::Table(_) => read_assertion(cx, node, path, actx).map(|spec| vec![spec]),
        _ => {
            cx.error(
                &node.span,
                path,
                format!(
                    "`assert` must be an array of tables, found {}",
                    node.type_name()
                ),
            )
            .help("write `assert = [{ type = \"contains\", value = \"...\" }]`");
            None
        }
    }
}

/// Ids name snapshot files (`snapshots/<suite>/<id>.snap`), so they are restricted to
/// characters that are safe in a path on every platform.
pub(crate) fn check_id<'k>(
    cx: &mut FileCx<'_>,
    id: &str,
    span: &Range<usize>,
    path: impl Into<Kp<'k>>,
) -> Option<String> {
    if valid_id(id) {
        return Some(id.to_string());
    }
    cx.error(span, path, format!("invalid scenario id `{id}`"))
        .help("ids name snapshot files: use letters, digits, `-`, `_` and `.` (not first), at most 128 characters");
    None
}

pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// `repeat` of a suite or a scenario: 1 to [`MAX_REPEAT`] samples, located at the value.
pub(crate) fn read_repeat(cx: &mut FileCx<'_>, node: &Node, path: Kp<'_>) -> Option<u32> {
    let too_many = match &node.kind {
        NodeKind::Int(i) if *i > i64::from(MAX_REPEAT) => Some(i.to_string()),
        NodeKind::BigInt(t) if !t.starts_with('-') => Some(t.clone()),
        _ => None,
    };
    match too_many {
        Some(n) => {
            cx.error(
                &node.span,
                path,
                format!("`repeat` must be at most {MAX_REPEAT} samples per scenario, found {n}"),
            )
            .help("pass@k needs a handful of samples: use e.g. repeat = 5");
            None
        }
        None => cx.count_in(node, path, 1, MAX_REPEAT),
    }
}

/// `"all"`, `"majority"` or `"at-least-K"`; `K` may not exceed `repeat`.
pub(crate) fn read_pass_rule<'k>(
    cx: &mut FileCx<'_>,
    node: &Node,
    path: impl Into<Kp<'k>>,
    repeat: u32,
) -> Option<PassRule> {
    let path = path.into();
    let s = cx.str(node, path)?;
    match parse_pass_rule(s) {
        Some(PassRule::AtLeast(k)) if k > repeat => {
            cx.error(
                &node.span,
                path,
                format!("pass rule `{s}` can never pass with repeat = {repeat}"),
            )
            .help(format!("raise `repeat` to at least {k}, or lower K"));
            None
        }
        Some(rule) => Some(rule),
        None => {
            cx.error(&node.span, path, format!("unknown pass rule `{s}`"))
                .help("use `all`, `majority` or `at-least-K` (e.g. `at-least-2`)");
            None
        }
    }
}

pub(crate) fn parse_pass_rule(s: &str) -> Option<PassRule> {
    match s {
        "all" => Some(PassRule::All),
        "majority" => Some(PassRule::Majority),
        _ => s
            .strip_prefix("at-least-")
            .and_then(|k| k.parse::<u32>().ok())
            .filter(|k| *k >= 1)
            .map(PassRule::AtLeast),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_rules() {
        let cases = [
            ("all", Some(PassRule::All)),
            ("majority", Some(PassRule::Majority)),
            ("at-least-2", Some(PassRule::AtLeast(2))),
            ("at-least-0", None),
            ("at-least-", None),
            ("most", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_pass_rule(s), want, "{s}");
        }
    }

    #[test]
    fn ids() {
        for (id, ok) in [
            ("france", true),
            ("row-1", true),
            ("a.b_c", true),
            (".hidden", false),
            ("a/b", false),
            ("a b", false),
            ("", false),
        ] {
            assert_eq!(valid_id(id), ok, "{id}");
        }
    }
}
