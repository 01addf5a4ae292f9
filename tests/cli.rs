//! End-to-end tests: the real `evalgit` binary, run in temporary directories (real git
//! repositories where it matters) against the mock provider server (`evalgit::mock`) and the
//! mock GitHub API. Model calls are counted at the mock, so every "N calls" claim is measured
//! where the money would be spent.
//!
//! Helpers live in `tests/support/mod.rs`; insta snapshots of CLI output in `tests/snapshots/`.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use evalgit::mock::{MockConfig, Rule};
use serde_json::Value;
use support::{CAPITALS, Mock, Output, TestProject, capital_rules, capitals_suite, settings};

/// Filters for CLI output in insta snapshots: absolute paths, durations, run ids.
fn redactions() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"(results|junit|markdown): /\S+", "$1: [PATH]"),
        (r"/tmp/\S+", "[TMP]"),
        (r"\b\d+(\.\d+)?\s?(ms|s)\b", "[DURATION]"),
        (r"\b\d{14}-[0-9a-f]{4}\b", "[RUN_ID]"),
    ]
}

/// `suite/id -> sample output` of every scenario in a results file.
fn outputs(results: &support::Results) -> BTreeMap<String, Value> {
    results
        .scenarios
        .iter()
        .map(|s| {
            (
                format!(
                    "{}/{}",
                    s["suite"].as_str().unwrap_or("?"),
                    s["id"].as_str().unwrap_or("?")
                ),
                s["samples"][0]["output"].clone(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// 1. The example of DESIGN.md "The format, first version", as written.
// ---------------------------------------------------------------------------------------

const DESIGN_SETTINGS: &str = r#"[providers.local]
kind = "openai"                          # openai | anthropic | http | exec
base_url = "http://127.0.0.1:8080/v1"
model = "smollm2-135m"
api_key_env = "OPENAI_API_KEY"           # optional; local servers need none
temperature = 0
max_tokens = 64
max_concurrency = 4

[prices."smollm2-135m"]                  # USD per million tokens
input = 0.05
output = 0.10

[budget]
max_run_usd = 1.00                       # hard stop: never spend past it
max_cost_increase_pct = 10               # gate against the baseline

[gate]
min_pass_rate = 0.8                      # default for every suite
"#;

const DESIGN_SUITE: &str = r#"provider = "local"
prompt = "Answer with one word. What is the capital of {{ country }}?"
# or prompt_file = "prompts/capitals.txt", or [[messages]] tables (role, content)
min_pass_rate = 0.5                      # overrides the gate default
repeat = 1

[[scenario]]
id = "france"
vars = { country = "France" }
assert = [{ type = "icontains", value = "paris" }]

[[scenario]]
id = "japan"
vars = { country = "Japan" }
assert = [
  { type = "icontains", value = "tokyo" },
  { type = "max-cost", value = 0.001 },
]
"#;

fn design_project(mock: &Mock) -> TestProject {
    TestProject::new()
        .file(
            "evalgit.toml",
            &DESIGN_SETTINGS.replace("http://127.0.0.1:8080/v1", &mock.openai_url()),
        )
        .file("evals/capitals.toml", DESIGN_SUITE)
}

#[test]
fn design_example_runs_and_passes() {
    let mock = Mock::with_rules(capital_rules());
    let p = design_project(&mock).env("OPENAI_API_KEY", "sk-local-dummy");
    let out = p.run(&["run"]);
    out.expect_code(0);
    assert_eq!(mock.requests(), 2);

    let r = p.results();
    assert_eq!(
        r.lines, 4,
        "a run line, one line per scenario and a summary line"
    );
    assert!(r.run.is_some() && r.summary.is_some());
    // Written as each scenario finishes, so in completion order.
    let mut ids = r.ids();
    ids.sort();
    assert_eq!(ids, ["capitals/france", "capitals/japan"]);
    for s in &r.scenarios {
        assert_eq!(s["status"], "passed", "{s}");
        assert_eq!(s["pass"], true);
    }
    let summary = r.summary.as_ref().expect("summary");
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["verdict"], "passed");
    // "Answer with one word. What is the capital of France?" = 10 words + 1 per message.
    assert_eq!(
        r.scenario("capitals", "france")["usage"]["input_tokens"],
        11
    );
    assert_eq!(summary["suites"][0]["tokens"]["input_tokens"], 22);
    assert_eq!(summary["suites"][0]["tokens"]["output_tokens"], 2);
    // 22 * 0.05/1e6 + 2 * 0.10/1e6
    let cost = summary["cost_usd"].as_f64().expect("cost");
    assert!((cost - 1.3e-6).abs() < 1e-9, "{cost}");

    // The summary table on stderr, with tokens and cost.
    assert!(out.stderr.contains("tokens in/out"), "{}", out.stderr);
    assert!(out.stderr.contains("22/2"), "{}", out.stderr);
    assert!(out.stderr.contains("cost"), "{}", out.stderr);
    insta::with_settings!({filters => redactions()}, {
        insta::assert_snapshot!("design_example_stderr", out.stderr);
    });
}

#[test]
fn design_example_gate_fails_with_exit_1() {
    // Both answers wrong: pass rate 0 < min_pass_rate 0.5.
    let mock = Mock::with_rules(vec![Rule::matching("").reply("I am not sure")]);
    let p = design_project(&mock).env("OPENAI_API_KEY", "sk-local-dummy");
    let out = p.run(&["run"]);
    out.expect_code(1);
    let r = p.results();
    assert_eq!(r.lines, 4);
    assert_eq!(
        r.statuses().values().collect::<Vec<_>>(),
        ["failed", "failed"]
    );
    let summary = r.summary.as_ref().expect("summary");
    assert_eq!(summary["verdict"], "gate-failed");
    assert_eq!(summary["exit_code"], 1);
    assert!(out.stderr.contains("min_pass_rate"), "{}", out.stderr);
}

#[test]
fn design_example_half_right_meets_the_suite_override() {
    // 1 of 2 = 0.5: meets the suite's min_pass_rate 0.5 although the gate default is 0.8.
    let mock = Mock::with_rules(vec![Rule::matching("France").reply("Paris")]);
    let p = design_project(&mock).env("OPENAI_API_KEY", "sk-local-dummy");
    p.run(&["run"]).expect_code(0);
    assert_eq!(
        p.results().statuses().values().collect::<Vec<_>>(),
        ["passed", "failed"]
    );
}

#[test]
fn design_example_runs_without_the_key_variable_against_a_local_server() {
    let mock = Mock::with_rules(capital_rules());
    let p = design_project(&mock);
    p.run(&["run"]).expect_code(0);
    assert_eq!(mock.requests(), 2);
}

// ---------------------------------------------------------------------------------------
// 2. Validation.
// ---------------------------------------------------------------------------------------

/// `LINE:COL` (1-based) of `token` in the `nth` line (0-based) of `text` containing `line_has`.
fn pos(text: &str, line_has: &str, nth: usize, token: &str) -> String {
    let (i, line) = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(line_has))
        .nth(nth)
        .unwrap_or_else(|| panic!("no line {nth} containing {line_has:?}"));
    let col = line
        .find(token)
        .unwrap_or_else(|| panic!("{token:?} not in {line:?}"))
        + 1;
    format!("{}:{col}", i + 1)
}

const VALID_SETTINGS: &str = r#"[providers.mock]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
model = "mock-model"
temperature = 0
"#;

const VALID_SUITE: &str = r#"provider = "mock"
prompt = "Capital of {{ country }}?"

[[scenario]]
id = "france"
vars = { country = "France" }
assert = [{ type = "icontains", value = "paris" }]
"#;

struct BadConfig {
    name: &'static str,
    settings: String,
    suite: String,
    /// File, line:col, message fragment and key path the diagnostic must name.
    file: &'static str,
    at: String,
    message: &'static str,
    key_path: &'static str,
}

fn bad_configs() -> Vec<BadConfig> {
    let mut cases = Vec::new();

    let s = VALID_SETTINGS.replace("temperature = 0", "temprature = 0");
    cases.push(BadConfig {
        name: "unknown key with did-you-mean",
        at: pos(&s, "temprature", 0, "temprature"),
        settings: s,
        suite: VALID_SUITE.into(),
        file: "evalgit.toml",
        message: "unknown key `temprature` (did you mean `temperature`?)",
        key_path: "providers.mock.temprature",
    });

    let s = format!("{VALID_SETTINGS}max_tokens = \"many\"\n");
    cases.push(BadConfig {
        name: "wrong type",
        at: pos(&s, "max_tokens", 0, "\"many\""),
        settings: s,
        suite: VALID_SUITE.into(),
        file: "evalgit.toml",
        message: "`max_tokens` must be an integer, found a string",
        key_path: "providers.mock.max_tokens",
    });

    let t = VALID_SUITE.replace("\"icontains\"", "\"icontain\"");
    cases.push(BadConfig {
        name: "unknown assertion type",
        at: pos(&t, "icontain", 0, "\"icontain\""),
        settings: VALID_SETTINGS.into(),
        suite: t,
        file: "evals/a.toml",
        message: "unknown assertion type `icontain` (did you mean `icontains`?)",
        key_path: "scenario[0].assert[0].type",
    });

    let t = VALID_SUITE.replace(
        "prompt = \"Capital of {{ country }}?\"",
        "prompt_file = \"prompts/missing.txt\"",
    );
    cases.push(BadConfig {
        name: "missing prompt_file",
        at: pos(&t, "prompt_file", 0, "\"prompts"),
        settings: VALID_SETTINGS.into(),
        suite: t,
        file: "evals/a.toml",
        message: "prompt file `prompts/missing.txt` not found",
        key_path: "prompt_file",
    });

    let t = "provider = \"mock\"\nprompt = \"Capital of {{ country }}?\"\nscenarios_file = \"data/missing.jsonl\"\n".to_string();
    cases.push(BadConfig {
        name: "missing scenarios_file",
        at: pos(&t, "scenarios_file", 0, "\"data"),
        settings: VALID_SETTINGS.into(),
        suite: t,
        file: "evals/a.toml",
        message: "scenarios file `data/missing.jsonl` not found",
        key_path: "scenarios_file",
    });

    let t = format!(
        "{VALID_SUITE}\n[[scenario]]\nid = \"france\"\nvars = {{ country = \"Japan\" }}\nassert = [{{ type = \"icontains\", value = \"tokyo\" }}]\n"
    );
    cases.push(BadConfig {
        name: "duplicate scenario id",
        at: pos(&t, "id = \"france\"", 1, "\"france\""),
        settings: VALID_SETTINGS.into(),
        suite: t,
        file: "evals/a.toml",
        message: "duplicate scenario id `france`",
        key_path: "scenario[1].id",
    });

    let t = VALID_SUITE.replace(
        "{ type = \"icontains\", value = \"paris\" }",
        "{ type = \"regex\", value = \"(unclosed\" }",
    );
    cases.push(BadConfig {
        name: "invalid regex",
        at: pos(&t, "regex", 0, "\"(unclosed\""),
        settings: VALID_SETTINGS.into(),
        suite: t,
        file: "evals/a.toml",
        message: "invalid regex",
        key_path: "scenario[0].assert[0].value",
    });

    let t = VALID_SUITE.replace(
        "Capital of {{ country }}?",
        "Capital of {{ country }} near {{ city }}?",
    );
    cases.push(BadConfig {
        name: "undefined template variable",
        at: pos(&t, "vars =", 0, "vars"),
        settings: VALID_SETTINGS.into(),
        suite: t,
        file: "evals/a.toml",
        message: "does not define variable `city` used by the prompt",
        key_path: "scenario[0].vars",
    });

    let t = "provider = \"mock\"\nprompt = \"Capital of {{ country }}?\"\n\n[[scenario]]\nid = \"france\"\nvars = { country = \"France\", assert = [{ type = \"icontains\", value = \"paris\" }] }\n".to_string();
    cases.push(BadConfig {
        name: "assert nested under vars",
        at: pos(&t, "vars =", 0, "assert"),
        settings: VALID_SETTINGS.into(),
        suite: t,
        file: "evals/a.toml",
        message: "`assert` is inside `vars`",
        key_path: "scenario[0].vars.assert",
    });

    // Regression: validate said ok, then `run` failed with "cannot render the prompt" at the
    // scenario's first line; the problem only shows with the scenario's values.
    let t = VALID_SUITE
        .replace("Capital of {{ country }}?", "[{{ country.name }}]")
        .replace("country = \"France\"", "country = \"str\"");
    cases.push(BadConfig {
        name: "template error that only shows when rendered",
        at: pos(&t, "vars =", 0, "vars"),
        settings: VALID_SETTINGS.into(),
        suite: t,
        file: "evals/a.toml",
        message: "cannot render the prompt for scenario `france`: undefined value",
        key_path: "scenario[0].vars",
    });

    // Regression: these two were provider errors of every call at run time (exit 3).
    let s = "[providers.mock]\nkind = \"http\"\nbase_url = \"http://127.0.0.1:9/http\"\nresponse_path = \"output\"\nbody = { q = \"{{ prompt }}\", n = \"{{ undefinedvar }}\" }\n".to_string();
    cases.push(BadConfig {
        name: "http body template with an undefined variable",
        at: pos(&s, "body =", 0, "\"{{ undefinedvar"),
        settings: s,
        suite: VALID_SUITE.into(),
        file: "evalgit.toml",
        message: "the body template of provider `mock` cannot be rendered for scenario `france` of suite `a`: undefined value",
        key_path: "providers.mock.body.n",
    });
    let s = format!("{VALID_SETTINGS}headers = {{ \"Bad Header\" = \"x\" }}\n");
    cases.push(BadConfig {
        name: "invalid header name",
        at: pos(&s, "headers", 0, "\"Bad"),
        settings: s,
        suite: VALID_SUITE.into(),
        file: "evalgit.toml",
        message: "`Bad Header` is not a valid HTTP header name",
        key_path: "providers.mock.headers.\"Bad Header\"",
    });

    // Regression: `run` exited 2 naming no file; with an unpriced judge every judged
    // scenario became an error.
    let s = format!("{VALID_SETTINGS}\n[budget]\nmax_run_usd = 1\n");
    cases.push(BadConfig {
        name: "budget cap with an unpriced model",
        at: pos(&s, "max_run_usd", 0, "1"),
        settings: s,
        suite: VALID_SUITE.into(),
        file: "evalgit.toml",
        message: "`budget.max_run_usd` is set, but provider `mock` (model `mock-model`) has no price",
        key_path: "budget.max_run_usd",
    });

    // Regression: a cost-increase gate over an unpriced model compared $0 with $0 and passed
    // whatever the change (a switch to a pricier, unpriced model read as "cost -100%").
    let s = format!("{VALID_SETTINGS}\n[budget]\nmax_cost_increase_pct = 20\n");
    cases.push(BadConfig {
        name: "cost gate with an unpriced model",
        at: pos(&s, "max_cost_increase_pct", 0, "20"),
        settings: s,
        suite: VALID_SUITE.into(),
        file: "evalgit.toml",
        message: "`budget.max_cost_increase_pct` compares costs, but provider `mock` (model `mock-model`) has no price",
        key_path: "budget.max_cost_increase_pct",
    });

    // Regression: on a line shortened with `…` the header gave the column in the excerpt
    // (5:42), not in the file.
    let t = format!(
        "provider = \"mock\"\nprompt = \"Capital of {{{{ country }}}}?\"\n\n[[scenario]]\nid = \"france\"\nvars = {{ country = \"France\" }}\nassert=[{{type=\"contains\",value=\"{}\"}},{{type=\"bogus\"}}]\n",
        "a".repeat(100)
    );
    cases.push(BadConfig {
        name: "column on a line shown as an excerpt",
        at: pos(&t, "bogus", 0, "\"bogus\""),
        settings: VALID_SETTINGS.into(),
        suite: t,
        file: "evals/a.toml",
        message: "unknown assertion type `bogus`",
        key_path: "scenario[0].assert[1].type",
    });

    let t = VALID_SUITE.replace(
        "prompt = \"Capital of {{ country }}?\"\n",
        "prompt = \"Capital of {{ country }}?\"\nrepeat = 1001\n",
    );
    cases.push(BadConfig {
        name: "suite repeat over the maximum",
        at: pos(&t, "repeat", 0, "1001"),
        settings: VALID_SETTINGS.into(),
        suite: t,
        file: "evals/a.toml",
        message: "`repeat` must be at most 1000 samples per scenario, found 1001",
        key_path: "repeat",
    });

    let s = format!(
        "{VALID_SETTINGS}\n[providers.mock.extra]\nmessages = [{{ role = \"user\", content = \"hi\" }}]\n"
    );
    cases.push(BadConfig {
        name: "extra overrides the messages",
        at: pos(&s, "messages =", 0, "messages"),
        settings: s,
        suite: VALID_SUITE.into(),
        file: "evalgit.toml",
        message: "`extra` may not set `messages`",
        key_path: "providers.mock.extra.messages",
    });

    let t = VALID_SUITE.replace("value = \"paris\" }", "value = \"paris\", weight = 0 }");
    cases.push(BadConfig {
        name: "every assertion weighs zero",
        at: pos(&t, "assert =", 0, "assert"),
        settings: VALID_SETTINGS.into(),
        suite: t,
        file: "evals/a.toml",
        message: "every assertion of scenario `france` has `weight = 0`",
        key_path: "scenario[0].assert",
    });

    let s = format!("{VALID_SETTINGS}max_tokens = 99999999999999999999\n");
    cases.push(BadConfig {
        name: "integer too large",
        at: pos(&s, "max_tokens", 0, "9999"),
        settings: s,
        suite: VALID_SUITE.into(),
        file: "evalgit.toml",
        message: "`max_tokens` must be an integer from 1 to 4294967295, found 99999999999999999999",
        key_path: "providers.mock.max_tokens",
    });

    cases
}

#[test]
fn validate_accepts_a_valid_project() {
    let p = TestProject::new()
        .file("evalgit.toml", VALID_SETTINGS)
        .file("evals/a.toml", VALID_SUITE);
    let out = p.run(&["validate"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("ok: 1 provider, 1 suite, 1 scenario"),
        "{}",
        out.stdout
    );
}

/// The settings the docs show as deciding a gate (`<code>gate.tolerance = 0.02</code>` in the
/// sample comment) are real keys: the sample once showed `gate.regression_tolerance`, which
/// `validate` rejects.
#[test]
fn settings_shown_in_the_docs_validate() {
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(&docs).expect("docs/") {
        let path = entry.expect("docs/ entry").path();
        let text = std::fs::read_to_string(&path).expect("read doc");
        for code in text.split("<code>").skip(1) {
            let code = code.split("</code>").next().unwrap_or("");
            for setting in code.split(", ") {
                let Some((key, value)) = setting.split_once(" = ") else {
                    continue;
                };
                let Some((table, key)) = key.split_once('.') else {
                    continue;
                };
                if ["gate", "budget"].contains(&table) {
                    tables
                        .entry(table.to_string())
                        .or_default()
                        .push(format!("{key} = {value}"));
                }
            }
        }
    }
    assert!(
        tables.get("gate").is_some_and(|g| !g.is_empty()),
        "the docs show gate settings: {tables:?}"
    );
    // Cost gates and caps need the model's price.
    let mut settings =
        format!("{VALID_SETTINGS}\n[prices.\"mock-model\"]\ninput = 1.0\noutput = 2.0\n");
    for (table, lines) in &tables {
        let mut lines = lines.clone();
        lines.sort();
        lines.dedup();
        settings.push_str(&format!("\n[{table}]\n{}\n", lines.join("\n")));
    }
    let p = TestProject::new()
        .file("evalgit.toml", &settings)
        .file("evals/a.toml", VALID_SUITE);
    let out = p.run(&["validate"]);
    out.expect_code(0);
    assert!(!out.all().contains("warning"), "{settings}\n{}", out.all());
}

#[test]
fn validate_reports_each_problem_with_file_line_col_and_key_path() {
    let mut problems = Vec::new();
    for case in bad_configs() {
        let p = TestProject::new()
            .file("evalgit.toml", &case.settings)
            .file("evals/a.toml", &case.suite);
        let out = p.run(&["validate"]);
        let location = format!("{}:{} ({})", case.file, case.at, case.key_path);
        if out.code != 2 {
            problems.push(format!(
                "{}: exit {} not 2\n{}",
                case.name,
                out.code,
                out.all()
            ));
        }
        if !out.stderr.contains(case.message) {
            problems.push(format!(
                "{}: no `{}` in\n{}",
                case.name, case.message, out.stderr
            ));
        }
        if !out.stderr.contains(&location) {
            problems.push(format!("{}: no `{location}` in\n{}", case.name, out.stderr));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn assert_nested_under_vars_never_runs() {
    let mock = Mock::with_rules(capital_rules());
    let suite = "provider = \"mock\"\nprompt = \"Capital of {{ country }}?\"\n\n[[scenario]]\nid = \"france\"\n[scenario.vars]\ncountry = \"France\"\n[[scenario.vars.assert]]\ntype = \"icontains\"\nvalue = \"paris\"\n";
    let p = TestProject::new()
        .file("evalgit.toml", &settings(&mock.openai_url(), ""))
        .file("evals/a.toml", suite);
    let out = p.run(&["validate"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("`assert` is inside `vars`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("evals/a.toml:8:17 (scenario[0].vars.assert)"),
        "{}",
        out.stderr
    );

    let out = p.run(&["run"]);
    out.expect_code(2);
    assert_eq!(mock.requests(), 0, "a config error must not call the model");
    assert!(!p.exists(".evalgit/results.jsonl") || p.results().scenarios.is_empty());
}

#[test]
fn assert_nested_under_vars_reports_no_spurious_undefined_variable() {
    let p = TestProject::new()
        .file("evalgit.toml", VALID_SETTINGS)
        .file(
            "evals/a.toml",
            "provider = \"mock\"\nprompt = \"Capital of {{ country }}?\"\n\n[[scenario]]\nid = \"france\"\nvars = { country = \"France\", assert = [{ type = \"icontains\", value = \"paris\" }] }\n",
        );
    let out = p.run(&["validate"]);
    out.expect_code(2);
    assert!(
        !out.stderr.contains("does not define variable `country`"),
        "`country` is defined:\n{}",
        out.stderr
    );
}

#[test]
fn validate_reports_every_problem_at_once() {
    let settings = format!(
        "{}max_tokens = \"many\"\n",
        VALID_SETTINGS.replace("temperature", "temprature")
    );
    let suite = r#"provider = "mock"
prompt_file = "prompts/missing.txt"

[[scenario]]
id = "one"
vars = { country = "France" }
assert = [{ type = "icontain", value = "paris" }]

[[scenario]]
id = "one"
vars = { country = "Japan" }
assert = [{ type = "regex", value = "(unclosed" }]
"#;
    let p = TestProject::new()
        .file("evalgit.toml", &settings)
        .file("evals/a.toml", suite);
    let out = p.run(&["validate"]);
    out.expect_code(2);
    for needle in [
        "evalgit.toml:5:1 (providers.mock.temprature)",
        "evalgit.toml:6:14 (providers.mock.max_tokens)",
        "evals/a.toml:2:15 (prompt_file)",
        "evals/a.toml:7:20 (scenario[0].assert[0].type)",
        "evals/a.toml:10:6 (scenario[1].id)",
        "evals/a.toml:12:37 (scenario[1].assert[0].value)",
        "6 errors",
    ] {
        assert!(
            out.stderr.contains(needle),
            "no `{needle}` in\n{}",
            out.stderr
        );
    }
    insta::assert_snapshot!("validate_every_problem_at_once", out.stderr);
}

// Regression: `repeat = 1001` was only reported once every other error was fixed, and then
// without a line.
#[test]
fn suite_repeat_over_the_maximum_is_reported_with_the_other_errors() {
    let suite = VALID_SUITE
        .replace(
            "prompt = \"Capital of {{ country }}?\"\n",
            "prompt = \"Capital of {{ country }}?\"\nrepeat = 1001\n",
        )
        .replace("assert =", "asert =");
    let p = TestProject::new()
        .file("evalgit.toml", VALID_SETTINGS)
        .file("evals/a.toml", &suite);
    let out = p.run(&["validate"]);
    out.expect_code(2);
    for needle in [
        "evals/a.toml:3:10 (repeat)",
        "evals/a.toml:8:1 (scenario[0].asert)",
        "2 errors",
    ] {
        assert!(
            out.stderr.contains(needle),
            "no `{needle}` in\n{}",
            out.stderr
        );
    }
}

// Regression: "suite file is not valid UTF-8 text" named the file but no line or column.
#[test]
fn a_suite_that_is_not_utf8_is_located_at_its_first_invalid_byte() {
    let p = TestProject::new()
        .file("evalgit.toml", VALID_SETTINGS)
        .file("evals/a.toml", VALID_SUITE);
    std::fs::write(
        p.path().join("evals/b.toml"),
        b"provider = \"mock\"\nprompt = \"caf\xe9 {{ country }}\"\n",
    )
    .expect("write");
    let out = p.run(&["validate"]);
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("error: suite file is not valid UTF-8 text\n")
            && out.stderr.contains("--> evals/b.toml:2:14\n"),
        "{}",
        out.stderr
    );
}

// Regression: `evals/sub/*.toml` and `evals/*.TOML` were skipped without a word.
#[test]
fn validate_names_suite_files_it_does_not_read() {
    let p = TestProject::new()
        .file("evalgit.toml", VALID_SETTINGS)
        .file("evals/a.toml", VALID_SUITE)
        .file("evals/sub/b.toml", VALID_SUITE)
        .file("evals/C.TOML", VALID_SUITE);
    let out = p.run(&["validate"]);
    out.expect_code(0);
    for needle in [
        "warning: `evals/C.TOML` is not read: suites must be `evals/*.toml`",
        "warning: `evals/sub/b.toml` is not read: suites must be `evals/*.toml`",
        "ok: 1 provider, 1 suite, 1 scenario",
    ] {
        assert!(
            out.stdout.contains(needle),
            "no `{needle}` in\n{}",
            out.stdout
        );
    }
}

// Regression: a JSONL scenarios file saved with a byte order mark was "invalid JSON:
// expected value" at 1:1, while TOML and CSV files with one load.
#[test]
fn jsonl_with_a_byte_order_mark_validates() {
    let p = TestProject::new()
        .file("evalgit.toml", VALID_SETTINGS)
        .file(
            "evals/a.toml",
            "provider = \"mock\"\nprompt = \"Capital of {{ country }}?\"\nscenarios_file = \"data/a.jsonl\"\n[defaults]\nassert = [{ type = \"icontains\", value = \"paris\" }]\n",
        )
        .file(
            "data/a.jsonl",
            "\u{feff}{\"id\": \"france\", \"vars\": {\"country\": \"France\"}}\n{\"id\": \"again\", \"vars\": {\"country\": \"France\"}}\n",
        );
    let out = p.run(&["validate"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("ok: 1 provider, 1 suite, 2 scenarios"),
        "{}",
        out.all()
    );
}

/// What `validate` now rejects, `run` refuses before any call (exit 2, not a provider error
/// of every call).
#[test]
fn templates_that_cannot_render_stop_the_run_before_any_call() {
    let mock = Mock::with_rules(capital_rules());
    let suite = capitals_suite("Capital of {{ country.name }}?", &CAPITALS[..2]);
    let p = TestProject::new()
        .file("evalgit.toml", &settings(&mock.openai_url(), ""))
        .file("evals/a.toml", &suite);
    let out = p.run(&["run"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains(
            "error: cannot render the prompt for scenario `france` and 1 more: undefined value"
        ) && out
            .stderr
            .contains("--> evals/a.toml:6:1 (scenario[0].vars)"),
        "{}",
        out.stderr
    );
    assert_eq!(mock.requests(), 0);

    let http = format!(
        "[providers.mock]\nkind = \"http\"\nbase_url = \"{}/http\"\nresponse_path = \"output\"\nbody = {{ prompt = \"{{{{ prompt }}}}\", n = \"{{{{ undefinedvar }}}}\" }}\n",
        mock.url()
    );
    let p = TestProject::new().file("evalgit.toml", &http).file(
        "evals/a.toml",
        &capitals_suite("Capital of {{ country }}?", &CAPITALS[..2]),
    );
    let out = p.run(&["run"]);
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("--> evalgit.toml:5:39 (providers.mock.body.n)"),
        "{}",
        out.stderr
    );
    assert_eq!(mock.requests(), 0);
}

// Regression: `--max-run-usd nan` (or inf) silently turned the hard cap off, and `-1` was
// accepted, while the TOML key and EVALGIT_MAX_RUN_USD reject them.
#[test]
fn max_run_usd_flag_must_be_a_finite_amount() {
    let mock = Mock::with_rules(capital_rules());
    let p = TestProject::new()
        .file("evalgit.toml", &settings(&mock.openai_url(), ""))
        .file(
            "evals/a.toml",
            &capitals_suite("Capital of {{ country }}?", &CAPITALS[..2]),
        );
    for value in ["nan", "inf", "-1"] {
        let out = p.run(&["run", "--max-run-usd", value]);
        out.expect_code(2);
        assert!(
            out.stderr.contains(&format!(
                "invalid value '{value}' for '--max-run-usd <USD>': expected a number of US dollars, 0 or more"
            )),
            "{}",
            out.stderr
        );
    }
    assert_eq!(mock.requests(), 0);
}

// Regression: only `.evalgit/cache/` had a .gitignore, so `git add .` after a run added
// `.evalgit/results.jsonl`.
#[test]
fn the_local_dir_is_ignored_by_git_after_a_run() {
    let mock = Mock::with_rules(capital_rules());
    let p = TestProject::new()
        .file("evalgit.toml", &settings(&mock.openai_url(), ""))
        .file(
            "evals/a.toml",
            &capitals_suite("Capital of {{ country }}?", &CAPITALS[..2]),
        )
        .git_init();
    p.commit("project");
    p.run(&["run"]).expect_code(0);
    assert!(p.exists(".evalgit/results.jsonl"));
    let status = p.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert!(
        !status.contains(".evalgit"),
        "git sees local state:\n{status}"
    );
    assert!(p.read(".evalgit/.gitignore").lines().any(|l| l == "*"));
}

// ---------------------------------------------------------------------------------------
// 3. Secrets.
// ---------------------------------------------------------------------------------------

const SECRET: &str = "sk-evalgit-SECRET-7f3a9c41d2";

fn secret_project(mock: &Mock) -> TestProject {
    let toml = settings(&mock.openai_url(), "").replace(
        "model = \"mock-model\"",
        "model = \"mock-model\"\napi_key_env = \"EVALGIT_TEST_KEY\"",
    );
    TestProject::new()
        .file("evalgit.toml", &toml)
        .file(
            "evals/capitals.toml",
            &capitals_suite("Capital of {{ country }}?", &CAPITALS[..2]),
        )
        .env("EVALGIT_TEST_KEY", SECRET)
}

/// Every file of the project whose bytes contain the secret.
fn files_with_secret(p: &TestProject) -> Vec<String> {
    p.tree("")
        .into_iter()
        .filter(|(_, bytes)| bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()))
        .map(|(path, _)| path)
        .collect()
}

#[test]
fn api_key_never_appears_when_the_provider_rejects_it() {
    // The mock's 401 message echoes the key it was sent, as real providers partly do.
    let mock = Mock::start(MockConfig {
        rules: capital_rules(),
        require_key: Some("the-right-key".into()),
        ..MockConfig::default()
    });
    let p = secret_project(&mock);
    let out = p.run(&["run", "--junit", "out.xml", "--markdown", "out.md", "-v"]);
    assert!(matches!(out.code, 1 | 3), "a provider error: {}", out.all());
    assert!(mock.requests() >= 2, "the key was presented to the server");
    let r = p.results();
    assert_eq!(
        r.statuses().values().collect::<Vec<_>>(),
        ["error", "error"]
    );
    assert!(
        !out.all().contains(SECRET),
        "the key is printed:\n{}",
        out.all()
    );
    assert!(
        !out.all().contains("7f3a9c41d2"),
        "part of the key is printed:\n{}",
        out.all()
    );
    assert_eq!(
        files_with_secret(&p),
        Vec::<String>::new(),
        "files holding the key"
    );
    // The error itself is still useful.
    let error = r.scenario("capitals", "france")["samples"][0]["error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        error.contains("401") || error.to_lowercase().contains("key"),
        "{error}"
    );
}

#[test]
fn api_key_is_sent_but_never_stored_when_accepted() {
    let mock = Mock::start(MockConfig {
        rules: capital_rules(),
        require_key: Some(SECRET.into()),
        ..MockConfig::default()
    });
    let p = secret_project(&mock);
    let out = p.run(&["run", "--junit", "out.xml", "--markdown", "out.md", "-v"]);
    out.expect_code(0);
    p.run(&["accept"]).expect_code(0);
    let out2 = p.run(&["run", "-v"]);
    out2.expect_code(0);
    assert_eq!(mock.requests(), 2);
    assert!(!out.all().contains(SECRET) && !out2.all().contains(SECRET));
    assert!(!p.files("snapshots").is_empty() && !p.files(".evalgit/cache").is_empty());
    assert_eq!(
        files_with_secret(&p),
        Vec::<String>::new(),
        "files holding the key"
    );
}

// Regression: a key that a model or an `exec` app echoed in its output landed in the cache,
// results.jsonl, the pending `.snap.new` snapshots and JUnit; only provider error messages
// masked it. Input that broke it: a reply "... my key is sk-..." from a provider whose
// `api_key_env` holds that key.
#[test]
fn an_api_key_echoed_in_outputs_is_never_stored_or_printed() {
    let mock = Mock::start(MockConfig {
        rules: CAPITALS
            .iter()
            .map(|(c, cap)| {
                Rule::matching(*c)
                    .reply(format!("{cap}. My key is {SECRET}, the token {GH_TOKEN}."))
            })
            .collect(),
        require_key: Some(SECRET.into()),
        ..MockConfig::default()
    });
    let p = secret_project(&mock)
        .file(
            "evals/app.toml",
            "provider = \"app\"\nprompt = \"hello\"\n\n[[scenario]]\nid = \"echo\"\nassert = [{ type = \"contains\", value = \"key\" }]\n",
        )
        .env("GITHUB_TOKEN", GH_TOKEN);
    p.write(
        "evalgit.toml",
        &format!(
            "{}\n[providers.app]\nkind = \"exec\"\napi_key_env = \"EVALGIT_TEST_KEY\"\ncommand = [\"sh\", \"-c\", \"cat >/dev/null; echo \\\"key $EVALGIT_TEST_KEY\\\"\"]\n",
            p.read("evalgit.toml")
        ),
    );
    let out = p.run(&["run", "--junit", "out.xml", "--markdown", "out.md", "-v"]);
    out.expect_code(0);
    assert_eq!(mock.requests(), 2, "the key was accepted");
    assert!(!p.files("snapshots").is_empty() && !p.files(".evalgit/cache").is_empty());
    let files_holding_a_secret = || -> Vec<String> {
        p.tree("")
            .into_iter()
            .filter(|(_, bytes)| {
                let text = String::from_utf8_lossy(bytes);
                text.contains(SECRET) || text.contains(GH_TOKEN)
            })
            .map(|(path, _)| path)
            .collect()
    };
    // The pending `.snap.new` files, JUnit, Markdown, results and cache.
    assert_eq!(files_holding_a_secret(), Vec::<String>::new());
    let r = p.results();
    for (suite, id) in [("capitals", "france"), ("app", "echo")] {
        let output = r.scenario(suite, id)["samples"][0]["output"].clone();
        assert!(
            output.as_str().unwrap_or("").contains("[REDACTED:secret]"),
            "{output}"
        );
    }
    p.run(&["accept"]).expect_code(0);
    // A replay from the cache and the snapshots.
    let out2 = p.run(&["run", "-v"]);
    out2.expect_code(0);
    assert_eq!(mock.requests(), 2);
    assert_eq!(files_holding_a_secret(), Vec::<String>::new());
    for secret in [SECRET, GH_TOKEN] {
        assert!(!out.all().contains(secret) && !out2.all().contains(secret));
    }
}

// A judge's malformed reply is quoted in the check's error, and a valid one's reason is
// kept: a judge that echoes its key must leave it in neither. Input that broke it: an
// `exec` judge answering "no verdict; key sk-...".
#[test]
fn a_judge_that_echoes_its_key_leaves_it_nowhere() {
    let config = r#"judge = "judge"

[providers.sut]
kind = "exec"
command = ["sh", "-c", "cat >/dev/null; echo hello"]

[providers.judge]
kind = "exec"
api_key_env = "EVALGIT_TEST_KEY"
command = ["sh", "judge.sh"]
max_retries = 0
"#;
    let judge = r#"if grep -q VALID; then
  echo "{\"pass\": true, \"score\": 1, \"reason\": \"key $EVALGIT_TEST_KEY\"}"
else
  echo "no verdict; key $EVALGIT_TEST_KEY"
fi
"#;
    let suite = r#"provider = "sut"
prompt = "Say hello"

[[scenario]]
id = "valid"
assert = [{ type = "llm-rubric", value = "VALID: says hello" }]

[[scenario]]
id = "malformed"
assert = [{ type = "llm-rubric", value = "OTHER: says hello" }]
"#;
    let p = TestProject::new()
        .file("evalgit.toml", config)
        .file("judge.sh", judge)
        .file("evals/greet.toml", suite)
        .env("EVALGIT_TEST_KEY", SECRET);
    let out = p.run(&["run", "--junit", "out.xml"]);
    out.expect_code(3);
    let r = p.results();
    let check = |id: &str| r.scenario("greet", id)["samples"][0]["checks"][0].clone();
    let reason = check("valid")["reason"].as_str().unwrap_or("").to_string();
    assert!(reason.ends_with(": key [REDACTED:secret]"), "{reason}");
    let error = check("malformed")["error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        error.contains("no verdict; key [REDACTED:secret]"),
        "{error}"
    );
    assert!(!out.all().contains(SECRET), "{}", out.all());
    assert_eq!(files_with_secret(&p), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// 4. Provider failures.
// ---------------------------------------------------------------------------------------

fn failure_project(mock: &Mock, countries: &[(&str, &str)], provider_extra: &str) -> TestProject {
    let toml = settings(&mock.openai_url(), "[gate]\nmin_pass_rate = 0.5\n")
        .replace("max_retries = 2\ntimeout_secs = 10\n", provider_extra);
    TestProject::new().file("evalgit.toml", &toml).file(
        "evals/capitals.toml",
        &capitals_suite("Capital of {{ country }}?", countries),
    )
}

#[test]
fn rate_limit_with_retry_after_then_success_passes() {
    let mut rules = vec![
        Rule::matching("France")
            .status(429)
            .retry_after("1")
            .times(1),
    ];
    rules.extend(capital_rules());
    let mock = Mock::with_rules(rules);
    let p = failure_project(
        &mock,
        &CAPITALS[..2],
        "max_retries = 2\ntimeout_secs = 10\n",
    );
    let started = Instant::now();
    let out = p.run(&["run"]);
    let elapsed = started.elapsed();
    out.expect_code(0);
    assert_eq!(mock.requests_for("France"), 2, "one 429, one retry");
    assert_eq!(mock.requests_for("Japan"), 1);
    assert!(
        elapsed >= Duration::from_millis(900),
        "Retry-After: 1 was not honoured ({elapsed:?})"
    );
    assert_eq!(
        p.results().scenario("capitals", "france")["status"],
        "passed"
    );
}

#[test]
fn rate_limit_is_retried_on_the_anthropic_wire_format() {
    let mut rules = vec![
        Rule::matching("France")
            .status(429)
            .retry_after("0")
            .times(1),
    ];
    rules.extend(capital_rules());
    let mock = Mock::with_rules(rules);
    let toml = format!(
        "[providers.claude]\nkind = \"anthropic\"\nbase_url = \"{}\"\nmodel = \"claude-mock\"\napi_key_env = \"EVALGIT_TEST_KEY\"\nmax_tokens = 64\nmax_retries = 2\n\n[prices.\"claude-mock\"]\ninput = 1.0\noutput = 2.0\n",
        mock.url()
    );
    let p = TestProject::new()
        .file("evalgit.toml", &toml)
        .file(
            "evals/capitals.toml",
            &capitals_suite("Capital of {{ country }}?", &CAPITALS[..2])
                .replace("\"mock\"", "\"claude\""),
        )
        .env("EVALGIT_TEST_KEY", "anthropic-test-key");
    p.run(&["run"]).expect_code(0);
    assert_eq!(mock.requests_for("France"), 2);
    let r = p.results();
    assert_eq!(
        r.scenario("capitals", "france")["samples"][0]["output"],
        "Paris"
    );
    assert_eq!(r.scenario("capitals", "japan")["usage"]["output_tokens"], 1);
}

#[test]
fn server_error_once_then_success_passes() {
    let mut rules = vec![Rule::matching("Japan").status(500).times(1)];
    rules.extend(capital_rules());
    let mock = Mock::with_rules(rules);
    let p = failure_project(
        &mock,
        &CAPITALS[..2],
        "max_retries = 2\ntimeout_secs = 10\n",
    );
    p.run(&["run"]).expect_code(0);
    assert_eq!(mock.requests_for("Japan"), 2);
    assert_eq!(
        p.results().scenario("capitals", "japan")["status"],
        "passed"
    );
}

#[test]
fn malformed_body_is_an_error_with_exit_3_and_the_run_goes_on() {
    let mut rules = vec![Rule::matching("Italy").raw_body("{\"choices\": [ not json")];
    rules.extend(capital_rules());
    let mock = Mock::with_rules(rules);
    let p = failure_project(
        &mock,
        &CAPITALS[..4],
        "max_retries = 1\ntimeout_secs = 10\n",
    );
    let out = p.run(&["run"]);
    out.expect_code(3);
    let r = p.results();
    assert_eq!(r.scenario("capitals", "italy")["status"], "error");
    assert!(r.scenario("capitals", "italy")["samples"][0]["error"].is_string());
    for id in ["france", "japan", "spain"] {
        assert_eq!(r.scenario("capitals", id)["status"], "passed", "{id}");
    }
    assert_eq!(r.summary.as_ref().expect("summary")["exit_code"], 3);
    assert!(out.stderr.contains("capitals/italy"), "{}", out.stderr);
}

#[test]
fn slow_response_beyond_the_timeout_is_an_error_and_the_run_goes_on() {
    let mut rules = vec![Rule::matching("Spain").delay_ms(4000)];
    rules.extend(capital_rules());
    let mock = Mock::with_rules(rules);
    let p = failure_project(&mock, &CAPITALS[..4], "max_retries = 0\ntimeout_secs = 1\n");
    let started = Instant::now();
    let out = p.run(&["run"]);
    out.expect_code(3);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the timeout was not applied"
    );
    let r = p.results();
    assert_eq!(r.scenario("capitals", "spain")["status"], "error");
    let error = r.scenario("capitals", "spain")["samples"][0]["error"]
        .as_str()
        .unwrap_or("")
        .to_lowercase();
    assert!(
        error.contains("time"),
        "the error should say it timed out: {error}"
    );
    for id in ["france", "japan", "italy"] {
        assert_eq!(r.scenario("capitals", id)["status"], "passed", "{id}");
    }
}

#[test]
fn only_provider_errors_exit_3_even_when_nothing_was_evaluated() {
    let mock = Mock::with_rules(vec![Rule::matching("").status(500)]);
    let p = failure_project(
        &mock,
        &CAPITALS[..2],
        "max_retries = 0\ntimeout_secs = 10\n",
    );
    let out = p.run(&["run"]);
    assert_eq!(
        p.results().statuses().values().collect::<Vec<_>>(),
        ["error", "error"]
    );
    out.expect_code(3);
}

#[test]
fn errors_are_not_cached() {
    // Always 500 the first time round; the next run must call again rather than replay.
    let mut rules = vec![Rule::matching("Japan").status(500).times(1)];
    rules.extend(capital_rules());
    let mock = Mock::with_rules(rules);
    let p = failure_project(
        &mock,
        &CAPITALS[..2],
        "max_retries = 0\ntimeout_secs = 10\n",
    );
    p.run(&["run"]).expect_code(3);
    assert_eq!(p.results().scenario("capitals", "japan")["status"], "error");
    let before = mock.requests();
    p.run(&["run"]).expect_code(0);
    assert_eq!(
        mock.requests() - before,
        1,
        "only the errored scenario is called again"
    );
    assert_eq!(mock.requests_for("Japan"), 2);
}

// ---------------------------------------------------------------------------------------
// 5. The cache: exactly the affected scenarios call the model.
// ---------------------------------------------------------------------------------------

const SUITE_A_HEAD: &str = "provider = \"mock\"\nprompt_file = \"prompts/a.txt\"\n";
const SUITE_B_HEAD: &str = "provider = \"mock2\"\nprompt_file = \"prompts/b.txt\"\n";

fn scenario(country: &str, capital: &str) -> String {
    format!(
        "\n[[scenario]]\nid = \"{}\"\nvars = {{ country = \"{country}\" }}\nassert = [{{ type = \"icontains\", value = \"{}\" }}]\n",
        country.to_lowercase(),
        capital.to_lowercase()
    )
}

fn suite_a(countries: &[(&str, &str)]) -> String {
    countries
        .iter()
        .fold(SUITE_A_HEAD.to_string(), |s, (c, cap)| {
            s + &scenario(c, cap)
        })
}

fn two_provider_settings(mock: &Mock) -> String {
    let url = mock.openai_url();
    format!(
        r#"[providers.mock]
kind = "openai"
base_url = "{url}"
model = "mock-model"
temperature = 0
max_tokens = 64
max_retries = 1

[providers.mock2]
kind = "openai"
base_url = "{url}"
model = "mock-model"
temperature = 0
max_tokens = 64
max_retries = 1

[prices."mock-model"]
input = 1.0
output = 2.0

[prices."mock-model-2"]
input = 1.0
output = 2.0
"#
    )
}

/// A git repository with two suites on two providers: a (France, Japan, Italy) via
/// prompts/a.txt and provider `mock`; b (Spain, Germany) via prompts/b.txt and `mock2`.
fn cache_repo(mock: &Mock) -> TestProject {
    let b = [&CAPITALS[3], &CAPITALS[4]]
        .iter()
        .fold(SUITE_B_HEAD.to_string(), |s, (c, cap)| {
            s + &scenario(c, cap)
        });
    let p = TestProject::new()
        .git_init()
        .file(".gitignore", ".evalgit/\n")
        .file("evalgit.toml", &two_provider_settings(mock))
        .file("prompts/a.txt", "Capital of {{ country }}?\n")
        .file("prompts/b.txt", "What is the capital of {{ country }}?\n")
        .file("evals/a.toml", &suite_a(&CAPITALS[..3]))
        .file("evals/b.toml", &b)
        .file("README.md", "# a project\n");
    p.commit("base");
    p
}

/// Runs and returns the output with the number of model calls it made.
fn calls(p: &TestProject, mock: &Mock, args: &[&str]) -> (Output, u64) {
    mock.reset();
    let out = p.run(args);
    (out, mock.requests())
}

#[test]
fn cache_replays_everything_on_a_second_run() {
    let mock = Mock::with_rules(capital_rules());
    let p = cache_repo(&mock);
    let (out, n) = calls(&p, &mock, &["run"]);
    out.expect_code(0);
    assert_eq!(n, 5);
    let (out, n) = calls(&p, &mock, &["run"]);
    out.expect_code(0);
    assert_eq!(n, 0, "everything replays from the cache");
    let r = p.results();
    assert_eq!(r.sources(), BTreeMap::from([("cache".to_string(), 5)]));
    // A replay reports what it cost when it ran, and spends nothing now.
    let s = r.scenario("a", "france");
    assert!(s["cost_usd"].as_f64().unwrap_or(0.0) > 0.0, "{s}");
    assert_eq!(s["spent_usd"].as_f64(), Some(0.0));
    assert_eq!(
        r.summary.as_ref().expect("summary")["spent_usd"].as_f64(),
        Some(0.0)
    );
}

#[test]
fn cache_calls_exactly_what_each_change_affects() {
    let mock = Mock::with_rules(capital_rules());
    let p = cache_repo(&mock);
    assert_eq!(calls(&p, &mock, &["run"]).1, 5);
    let mut steps = Vec::new();
    let mut check = |what: &str, expected: u64, p: &TestProject| {
        let (out, n) = calls(p, &mock, &["run"]);
        assert!(out.code == 0 || out.code == 1, "{what}: {}", out.all());
        steps.push((what.to_string(), n, expected));
        out
    };

    // A prompt file used by one suite: exactly that suite's scenarios.
    p.write("prompts/a.txt", "Name the capital of {{ country }}.\n");
    check("prompt file of suite a", 3, &p);

    // One scenario's variable.
    p.write(
        "evals/b.toml",
        &p.read("evals/b.toml")
            .replace("country = \"Spain\"", "country = \"Spain (Europe)\""),
    );
    check("one variable", 1, &p);

    // The model of provider `mock`: suite a only.
    p.write(
        "evalgit.toml",
        &p.read("evalgit.toml")
            .replacen("model = \"mock-model\"", "model = \"mock-model-2\"", 1),
    );
    check("model of provider mock", 3, &p);

    // Temperature of provider `mock2`: suite b only.
    let toml = p.read("evalgit.toml");
    let at = toml.find("[providers.mock2]").expect("mock2");
    let (head, tail) = toml.split_at(at);
    p.write(
        "evalgit.toml",
        &format!(
            "{head}{}",
            tail.replacen("temperature = 0", "temperature = 0.7", 1)
        ),
    );
    check("temperature of provider mock2", 2, &p);

    // An assertion only: no call, but the verdict changes.
    p.write(
        "evals/a.toml",
        &p.read("evals/a.toml")
            .replace("value = \"paris\"", "value = \"lyon\""),
    );
    let out = check("assertion only", 0, &p);
    // No threshold is set, so the built-in default (every scenario passes) fails the gate.
    assert_eq!(
        out.code,
        1,
        "the re-scored failure fails the gate: {}",
        out.all()
    );
    let r = p.results();
    assert_eq!(
        r.scenario("a", "france")["status"],
        "failed",
        "re-scored from the recorded output"
    );
    assert_eq!(r.scenario("a", "france")["samples"][0]["source"], "cache");

    // A new scenario.
    p.write(
        "evals/a.toml",
        &(p.read("evals/a.toml") + &scenario("Greece", "Athens")),
    );
    check("new scenario", 1, &p);

    // Renaming an unrelated file.
    std::fs::rename(p.path().join("README.md"), p.path().join("README.txt")).expect("rename");
    check("rename README", 0, &p);

    let wrong: Vec<_> = steps.iter().filter(|(_, got, want)| got != want).collect();
    assert!(
        wrong.is_empty(),
        "calls per change (what, got, expected): {steps:#?}"
    );
}

#[test]
fn no_cache_forces_calls_and_offline_makes_none() {
    let mock = Mock::with_rules(capital_rules());
    let p = cache_repo(&mock);
    assert_eq!(calls(&p, &mock, &["run"]).1, 5);
    let (out, n) = calls(&p, &mock, &["run", "--no-cache"]);
    out.expect_code(0);
    assert_eq!(n, 5, "--no-cache calls every scenario");

    p.write(
        "evals/a.toml",
        &(p.read("evals/a.toml") + &scenario("Cuba", "Havana")),
    );
    let (out, n) = calls(&p, &mock, &["run", "--offline"]);
    assert_eq!(n, 0, "--offline never calls");
    let r = p.results();
    assert_eq!(
        r.scenario("a", "cuba")["status"],
        "skipped",
        "{}",
        out.all()
    );
    assert_eq!(r.scenario("a", "cuba")["samples"][0]["source"], "skipped");
    assert_eq!(r.scenario("a", "france")["status"], "passed");
    assert_eq!(r.sources().get("cache"), Some(&5));
}

#[test]
fn a_corrupt_cache_entry_is_a_warned_miss() {
    let mock = Mock::with_rules(capital_rules());
    let p = cache_repo(&mock);
    assert_eq!(calls(&p, &mock, &["run"]).1, 5);
    let fp = p.results().scenario("a", "japan")["samples"][0]["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_string();
    let entry = p
        .files(".evalgit/cache")
        .into_iter()
        .find(|f| f.contains(&fp))
        .unwrap_or_else(|| panic!("no cache entry for {fp}"));
    let bytes = std::fs::read(p.path().join(&entry)).expect("read entry");
    std::fs::write(p.path().join(&entry), &bytes[..bytes.len() / 2]).expect("truncate");

    let (out, n) = calls(&p, &mock, &["run"]);
    out.expect_code(0);
    assert_eq!(n, 1, "the corrupt entry is a miss");
    assert_eq!(mock.requests_for("Japan"), 1);
    assert!(
        out.stderr.contains("corrupt"),
        "a warning names it: {}",
        out.stderr
    );
    // Re-recorded: the next run replays it.
    assert_eq!(calls(&p, &mock, &["run"]).1, 0);
}

#[test]
fn two_concurrent_runs_share_the_cache() {
    let mock = Mock::start(MockConfig {
        rules: capital_rules(),
        latency_ms: 100,
        ..MockConfig::default()
    });
    let p = cache_repo(&mock);
    let spawn = |out: &str| {
        p.command(&["run", "-o", out])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn evalgit")
    };
    let (a, b) = (spawn("one.jsonl"), spawn("two.jsonl"));
    for (name, child) in [("one", a), ("two", b)] {
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "run {name}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(mock.requests() <= 10);
    let (one, two) = (p.results_at("one.jsonl"), p.results_at("two.jsonl"));
    assert_eq!(outputs(&one), outputs(&two));
    assert_eq!(
        calls(&p, &mock, &["run"]).1,
        0,
        "the shared cache is complete and readable"
    );
}

#[test]
fn cache_stats_and_clear() {
    let mock = Mock::with_rules(capital_rules());
    let p = cache_repo(&mock);
    p.run(&["run"]).expect_code(0);
    let out = p.run(&["cache", "stats"]);
    out.expect_code(0);
    assert!(out.stdout.contains("responses: 5"), "{}", out.stdout);
    p.run(&["cache", "clear"]).expect_code(0);
    assert_eq!(
        calls(&p, &mock, &["run"]).1,
        5,
        "a cleared cache replays nothing"
    );
}

// ---------------------------------------------------------------------------------------
// 6. Snapshots.
// ---------------------------------------------------------------------------------------

/// Rules: prompts starting "v2 " get a different answer for France only.
fn snapshot_rules() -> Vec<Rule> {
    let mut rules = vec![Rule::matching("v2 Capital of France").reply("Paris, on the Seine")];
    rules.extend(capital_rules());
    rules
}

fn snapshot_project(mock: &Mock) -> TestProject {
    TestProject::new()
        .git_init()
        .file(".gitignore", ".evalgit/\n")
        .file("evalgit.toml", &settings(&mock.openai_url(), ""))
        .file(
            "evals/capitals.toml",
            &capitals_suite("v1 Capital of {{ country }}?", &CAPITALS[..3]),
        )
}

fn pending(p: &TestProject) -> Vec<String> {
    p.files("snapshots")
        .into_iter()
        .filter(|f| f.ends_with(".snap.new"))
        .collect()
}

#[test]
fn snapshots_are_stable_bytes() {
    let mock = Mock::with_rules(snapshot_rules());
    let p = snapshot_project(&mock);
    p.run(&["run"]).expect_code(0);
    assert_eq!(
        pending(&p).len(),
        3,
        "new outputs are pending: {:?}",
        p.files("snapshots")
    );
    p.run(&["accept"]).expect_code(0);
    let accepted = p.tree("snapshots");
    assert_eq!(
        accepted.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
        [
            "snapshots/capitals/france.snap",
            "snapshots/capitals/italy.snap",
            "snapshots/capitals/japan.snap"
        ]
    );
    for (f, bytes) in &accepted {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            text.ends_with('\n') && !text.ends_with("\n\n"),
            "{f}: one trailing newline"
        );
        assert!(
            !text.contains("latency") && !text.contains("run_id"),
            "{f}:\n{text}"
        );
    }

    p.run(&["run"]).expect_code(0);
    assert_eq!(
        p.tree("snapshots"),
        accepted,
        "a replayed run changes no byte"
    );
    p.run(&["run", "--no-cache"]).expect_code(0);
    assert_eq!(
        p.tree("snapshots"),
        accepted,
        "a re-called, unchanged answer changes no byte"
    );
    assert!(pending(&p).is_empty());
}

#[test]
fn changed_outputs_are_pending_beside_the_accepted_snapshot() {
    let mock = Mock::with_rules(snapshot_rules());
    let p = snapshot_project(&mock);
    p.run(&["run"]).expect_code(0);
    p.run(&["accept"]).expect_code(0);
    let accepted = p.tree("snapshots");
    p.commit("accepted");

    p.write(
        "evals/capitals.toml",
        &capitals_suite("v2 Capital of {{ country }}?", &CAPITALS[..3]),
    );
    let out = p.run(&["run"]);
    out.expect_code(0);
    assert!(out.stderr.contains(".snap.new"), "{}", out.stderr);
    // The accepted files are untouched.
    for (f, bytes) in &accepted {
        assert_eq!(
            &std::fs::read(p.path().join(f)).expect("read"),
            bytes,
            "{f} was overwritten"
        );
    }
    let new = p.read("snapshots/capitals/france.snap.new");
    assert!(new.contains("Paris, on the Seine"), "{new}");
    assert!(pending(&p).contains(&"snapshots/capitals/france.snap.new".to_string()));

    // reject one by suite/id, accept one by --suite/--id, then the rest by glob.
    let out = p.run(&["reject", "capitals/japan"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("rejected capitals/japan"),
        "{}",
        out.stdout
    );
    assert!(
        !p.exists("snapshots/capitals/japan.snap.new") && p.exists("snapshots/capitals/japan.snap")
    );

    let out = p.run(&["accept", "--suite", "capitals", "--id", "france"]);
    out.expect_code(0);
    assert!(out.stdout.contains("accepted 1 snapshot"), "{}", out.stdout);
    assert!(
        p.read("snapshots/capitals/france.snap")
            .contains("Paris, on the Seine")
    );
    assert!(!p.exists("snapshots/capitals/france.snap.new"));
    assert!(
        p.exists("snapshots/capitals/italy.snap.new"),
        "the filter left italy pending"
    );
    // Accepting one change makes `git diff` show only that scenario's snapshot.
    assert_eq!(
        p.git(&["diff", "--name-only", "--", "snapshots"]),
        "snapshots/capitals/france.snap\n"
    );

    let out = p.run(&["accept", "no-such-suite/*"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("no pending snapshots match"),
        "{}",
        out.stdout
    );
    p.run(&["accept", "capitals/*"]).expect_code(0);
    assert!(pending(&p).is_empty());
}

#[test]
fn ci_writes_no_snapshots_and_fails_on_changed_or_missing_ones() {
    let mock = Mock::with_rules(snapshot_rules());
    let mut p = snapshot_project(&mock).env("CI", "true");
    // No accepted snapshots at all: missing ones fail, nothing is written.
    let out = p.run(&["run"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("no accepted snapshot"),
        "{}",
        out.stderr
    );
    assert_eq!(p.files("snapshots"), Vec::<String>::new());

    // Record and accept locally, then back to CI.
    p.unset_env("CI");
    p.run(&["run"]).expect_code(0);
    p.run(&["accept"]).expect_code(0);
    let accepted = p.tree("snapshots");
    p.set_env("CI", "true");
    p.run(&["run"]).expect_code(0);

    p.write(
        "evals/capitals.toml",
        &capitals_suite("v2 Capital of {{ country }}?", &CAPITALS[..3]),
    );
    let out = p.run(&["run"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("differ from the accepted snapshot"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("capitals/france"), "{}", out.stderr);
    assert_eq!(p.tree("snapshots"), accepted, "CI wrote a snapshot file");
    assert_eq!(
        p.results().summary.as_ref().expect("summary")["exit_code"],
        1
    );
}

#[test]
fn a_fresh_clone_replays_from_committed_snapshots_with_zero_calls() {
    let mock = Mock::with_rules(snapshot_rules());
    let p = snapshot_project(&mock);
    p.run(&["run"]).expect_code(0);
    p.run(&["accept"]).expect_code(0);
    p.commit("accept snapshots");
    assert_eq!(mock.requests(), 3);

    let clone = TestProject::new();
    support::git_in(
        clone.path(),
        &["clone", "-q", &p.path().to_string_lossy(), "repo"],
    );
    let repo = clone.path().join("repo");
    assert!(!repo.join(".evalgit").exists());
    mock.reset();
    let out = clone.run_in(&repo, &["run"]);
    out.expect_code(0);
    assert_eq!(
        mock.requests(),
        0,
        "a fresh clone must not call the model: {}",
        out.stderr
    );
    let r = support::Results::parse(
        &std::fs::read_to_string(repo.join(".evalgit/results.jsonl")).expect("results"),
    );
    assert_eq!(r.sources(), BTreeMap::from([("snapshot".to_string(), 3)]));
    assert_eq!(
        support::git_in(&repo, &["status", "--porcelain"]),
        "",
        "the clone stays clean"
    );

    // The same in CI mode (check): unchanged, so it passes.
    let out = support::output_of({
        let mut c = clone.command_in(&repo, &["run"]);
        c.env("CI", "true");
        c
    });
    out.expect_code(0);
    assert_eq!(mock.requests(), 0);
}

// Regression: `plan` promised no call for a renamed scenario (its fingerprint is recorded),
// but on a machine with an empty cache `run` looked for the snapshot under the new name only
// and called the model.
#[test]
fn a_renamed_scenario_replays_its_accepted_snapshot_on_a_fresh_clone() {
    let mock = Mock::with_rules(snapshot_rules());
    let p = snapshot_project(&mock);
    p.run(&["run"]).expect_code(0);
    p.run(&["accept"]).expect_code(0);
    p.commit("accept snapshots");
    std::fs::remove_dir_all(p.path().join(".evalgit")).expect("empty the cache");
    let suite = p
        .read("evals/capitals.toml")
        .replace("id = \"france\"", "id = \"la-france\"");
    p.write("evals/capitals.toml", &suite);
    mock.reset();
    let plan = p.run(&["plan", "--base", "HEAD", "--json"]);
    plan.expect_code(0);
    let plan: Value = serde_json::from_str(&plan.stdout).expect("plan json");
    assert_eq!(plan["model_calls"], 0, "{plan}");
    let out = p.run(&["run", "--affected-since", "HEAD"]);
    out.expect_code(0);
    assert_eq!(mock.requests(), 0, "{}", out.stderr);
    assert_eq!(
        p.results().scenario("capitals", "la-france")["samples"][0]["source"],
        "snapshot"
    );
    // Between two commits (head read from git objects, no cache): the same.
    let base = p.git(&["rev-parse", "HEAD"]).trim().to_string();
    p.commit("rename france");
    std::fs::remove_dir_all(p.path().join(".evalgit")).expect("empty the cache");
    let out = p.run(&["diff", &base, "HEAD"]);
    out.expect_code(0);
    assert_eq!(mock.requests(), 0, "{}", out.all());
}

#[test]
fn review_without_a_terminal_prints_the_commands() {
    let mock = Mock::with_rules(snapshot_rules());
    let p = snapshot_project(&mock);
    p.run(&["run"]).expect_code(0);
    let out = p.run(&["review"]);
    out.expect_code(2);
    assert!(out.stderr.contains("needs a terminal"), "{}", out.stderr);
    assert!(
        out.stderr.contains("evalgit accept") && out.stderr.contains("evalgit reject"),
        "{}",
        out.stderr
    );
    assert_eq!(pending(&p).len(), 3, "nothing was decided");
}

#[test]
fn review_on_a_terminal_accepts_one_change() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    }
    let mock = Mock::with_rules(snapshot_rules());
    let p = snapshot_project(&mock);
    p.run(&["run"]).expect_code(0);
    p.run(&["accept"]).expect_code(0);
    p.write(
        "evals/capitals.toml",
        &capitals_suite("v2 Capital of {{ country }}?", &CAPITALS[..2]),
    );
    p.run(&["run"]).expect_code(0);
    assert_eq!(pending(&p).len(), 2);

    // `script` gives the child a pseudo-terminal; our stdin feeds it: accept the first
    // (france), then quit.
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &format!("{} review", support::EVALGIT), "/dev/null"])
        .current_dir(p.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    support::clean_env(&mut cmd);
    let mut child = cmd.spawn().expect("spawn script");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"a\nq\n").expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("capitals/france"), "{stdout}");
    assert!(
        stdout.contains("Paris, on the Seine"),
        "the diff is shown: {stdout}"
    );
    assert!(
        stdout.contains("1 accepted, 0 rejected, 1 still pending"),
        "{stdout}"
    );
    assert!(
        p.read("snapshots/capitals/france.snap")
            .contains("Paris, on the Seine")
    );
    assert_eq!(pending(&p), ["snapshots/capitals/japan.snap.new"]);
}

// ---------------------------------------------------------------------------------------
// 7. `evalgit diff` between revisions.
// ---------------------------------------------------------------------------------------

/// The mock answers by prompt version: v1 right, v2 right in other words (noise), v3 right
/// but long (cost), v4 wrong (regression).
fn diff_rules() -> Vec<Rule> {
    let mut rules = Vec::new();
    for (country, capital) in CAPITALS {
        rules.push(Rule::matching(format!("v2 capital of {country}")).reply(format!("{capital}!")));
        rules.push(
            Rule::matching(format!("v3 capital of {country}")).reply(format!(
                "The capital city of {country} is {capital}, as everyone knows well"
            )),
        );
        rules.push(Rule::matching(format!("v4 capital of {country}")).reply("I do not know"));
    }
    rules.extend(capital_rules());
    rules
}

fn diff_repo(mock: &Mock) -> (TestProject, String) {
    let p = TestProject::new()
        .git_init()
        .file(".gitignore", ".evalgit/\n")
        .file(
            "evalgit.toml",
            &settings(
                &mock.openai_url(),
                "[budget]\nmax_cost_increase_pct = 10\n\n[gate]\nmin_pass_rate = 0.5\n",
            ),
        )
        .file("prompts/capitals.txt", "v1 capital of {{ country }}?")
        .file(
            "evals/capitals.toml",
            &capitals_suite("x", &CAPITALS[..10])
                .replace("prompt = \"x\"", "prompt_file = \"prompts/capitals.txt\""),
        );
    p.run(&["run"]).expect_code(0);
    p.run(&["accept"]).expect_code(0);
    let base = p.commit("base: v1 prompt, accepted snapshots");
    (p, base)
}

/// The gate's reasons in a `--json`/`--json-out` verdict: `(kind, level, message)`.
fn gate_reasons(verdict: &Value) -> Vec<(String, String, String)> {
    verdict["gate"]["reasons"]
        .as_array()
        .expect("gate.reasons")
        .iter()
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (field("kind"), field("level"), field("message"))
        })
        .collect()
}

/// The `suite/id`s of the verdict's changes of `kind`.
fn changed(verdict: &Value, kind: &str) -> Vec<String> {
    let mut ids: Vec<String> = verdict["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["kind"] == kind)
        .map(|c| {
            format!(
                "{}/{}",
                c["suite"].as_str().unwrap_or("?"),
                c["id"].as_str().unwrap_or("?")
            )
        })
        .collect();
    ids.sort();
    ids
}

#[test]
fn diff_blocks_a_regression_between_two_commits() {
    let mock = Mock::with_rules(diff_rules());
    let (p, base) = diff_repo(&mock);
    // No threshold and no cost policy at head ("I do not know" costs more than "Paris"), so
    // the exit 1 can only come from the regression itself.
    p.write(
        "evalgit.toml",
        &settings(&mock.openai_url(), "[gate]\nmin_pass_rate = 0.0\n"),
    );
    p.write("prompts/capitals.txt", "v4 capital of {{ country }}?");
    p.commit("head: v4 prompt");
    mock.reset();
    let out = p.run(&["diff", &base, "HEAD", "--json-out", "verdict.json"]);
    out.expect_code(1);
    assert_eq!(
        mock.requests_for("v1"),
        0,
        "the base replays from its committed snapshots"
    );
    assert_eq!(mock.requests_for("v4"), 10);
    let verdict: Value = serde_json::from_str(&p.read("verdict.json")).expect("verdict JSON");
    let failing: Vec<_> = gate_reasons(&verdict)
        .into_iter()
        .filter(|(_, level, _)| level == "fail")
        .collect();
    assert!(!failing.is_empty(), "{}", out.all());
    for (kind, _, message) in &failing {
        assert_eq!(
            kind, "regression",
            "only the regression fails the gate: {failing:?}"
        );
        assert!(
            message.starts_with("capitals: ") && message.contains("(the tolerance)"),
            "{message}"
        );
    }
    assert!(
        out.stdout.contains("capitals: pass rate fell 100.0 points"),
        "the verdict names the regression:\n{}",
        out.all()
    );
    assert!(
        out.stdout.contains("france"),
        "newly failing scenarios are listed:\n{}",
        out.stdout
    );
}

#[test]
fn diff_json_output_parses_and_names_the_newly_failing() {
    let mock = Mock::with_rules(diff_rules());
    let (p, base) = diff_repo(&mock);
    p.write("prompts/capitals.txt", "v4 capital of {{ country }}?");
    let out = p.run(&["diff", &base, "--json"]);
    out.expect_code(1);
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("--json is not JSON ({e}):\n{}", out.stdout));
    let expected: Vec<String> = {
        let mut ids: Vec<String> = CAPITALS[..10]
            .iter()
            .map(|(c, _)| format!("capitals/{}", c.to_lowercase()))
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(changed(&v, "newly-failing"), expected);
    let france = v["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["id"] == "france")
        .expect("france");
    assert_eq!(france["file"], "evals/capitals.toml");
    assert_eq!(france["base_pass"], true);
    assert_eq!(france["head_pass"], false);
    assert_eq!(france["base_score"], 1.0);
    assert_eq!(france["head_score"], 0.0);
    assert!(
        france["reason"]
            .as_str()
            .is_some_and(|r| r.contains("paris") && r.contains("I do not know")),
        "{france}"
    );
    assert_eq!(v["gate"]["pass"], false);
    let suite = &v["suites"][0];
    assert_eq!(suite["suite"], "capitals");
    assert_eq!(suite["paired"], 10);
    assert_eq!(suite["base"]["pass_rate"], 1.0);
    assert_eq!(suite["head"]["pass_rate"], 0.0);
    assert_eq!(suite["pass_rate"]["status"], "regressed");
}

/// One scenario flips each way (kenya fails at base and passes at head, france the
/// reverse) and every output changes words: noise the gate must not block on.
#[test]
fn diff_passes_on_noise() {
    let mut rules = vec![
        Rule::matching("v1 capital of Kenya").reply("I do not know"),
        Rule::matching("v2 capital of France").reply("Lyon!"),
    ];
    rules.extend(diff_rules());
    let mock = Mock::with_rules(rules);
    let (p, base) = diff_repo(&mock);
    p.write("prompts/capitals.txt", "v2 capital of {{ country }}?");
    let out = p.run(&["diff", &base, "--json"]);
    out.expect_code(0);
    assert_eq!(mock.requests_for("v2"), 10);
    let v: Value = serde_json::from_str(&out.stdout).expect("--json");
    assert_eq!(changed(&v, "newly-failing"), ["capitals/france"]);
    assert_eq!(changed(&v, "newly-passing"), ["capitals/kenya"]);
    assert_eq!(changed(&v, "output-changed").len(), 8, "{}", out.stdout);
    assert_eq!(v["gate"]["pass"], true);
    assert!(
        gate_reasons(&v)
            .iter()
            .all(|(kind, _, _)| kind != "regression"),
        "{:?}",
        gate_reasons(&v)
    );
}

/// The default base: no BASE argument compares the working tree with the merge-base of
/// HEAD and the default branch, not the default branch's tip.
#[test]
fn diff_defaults_to_the_merge_base_with_the_default_branch() {
    let mock = Mock::with_rules(diff_rules());
    let (p, base) = diff_repo(&mock);
    p.git(&["checkout", "-q", "-b", "feature"]);
    p.write("README.md", "a feature\n");
    p.commit("feature: a readme");
    // Main moves on after the feature branched: its tip must not be the baseline.
    p.git(&["checkout", "-q", "main"]);
    p.write("prompts/capitals.txt", "v3 capital of {{ country }}?");
    p.commit("main: v3 prompt");
    p.git(&["checkout", "-q", "feature"]);
    // Head is the working tree, uncommitted.
    p.write("prompts/capitals.txt", "v4 capital of {{ country }}?");
    mock.reset();
    let out = p.run(&["diff", "--json"]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains(&format!("({}) vs head working tree", &base[..10])),
        "the base is the merge-base {base}:\n{}",
        out.stderr
    );
    assert_eq!(mock.requests_for("v3"), 0, "main's tip is not evaluated");
    assert_eq!(mock.requests_for("v1"), 0, "the base replays its snapshots");
    assert_eq!(mock.requests_for("v4"), 10, "the working tree is head");
    let v: Value = serde_json::from_str(&out.stdout).expect("--json");
    assert_eq!(changed(&v, "newly-failing").len(), 10);
}

/// `--base-results FILE` takes the baseline from a results file: no git, no base run.
#[test]
fn diff_against_a_base_results_file() {
    let mock = Mock::with_rules(diff_rules());
    let suite = capitals_suite("x", &CAPITALS[..10])
        .replace("prompt = \"x\"", "prompt_file = \"prompts/capitals.txt\"");
    let p = TestProject::new()
        .file("evalgit.toml", &settings(&mock.openai_url(), ""))
        .file("prompts/capitals.txt", "v1 capital of {{ country }}?")
        .file("evals/capitals.toml", &suite);
    p.run(&["run", "-o", "base.jsonl"]).expect_code(0);
    // Only france changes: the other nine replay from the cache.
    p.write(
        "evals/capitals.toml",
        &suite.replace("value = \"paris\"", "value = \"lyon\""),
    );
    mock.reset();
    let out = p.run(&["diff", "--base-results", "base.jsonl", "--json"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("base base.jsonl vs head working tree"),
        "{}",
        out.stderr
    );
    assert_eq!(
        mock.requests(),
        0,
        "the base is read, not run: {}",
        out.all()
    );
    let v: Value = serde_json::from_str(&out.stdout).expect("--json");
    assert_eq!(changed(&v, "newly-failing"), ["capitals/france"]);
    assert_eq!(v["suites"][0]["paired"], 10);
    assert_eq!(v["suites"][0]["base"]["pass_rate"], 1.0);
    assert_eq!(v["suites"][0]["head"]["pass_rate"], 0.9);
}

#[test]
fn diff_fails_a_cost_increase_over_policy() {
    let mock = Mock::with_rules(diff_rules());
    let (p, base) = diff_repo(&mock);
    p.write("prompts/capitals.txt", "v3 capital of {{ country }}?");
    let out = p.run(&["diff", &base]);
    out.expect_code(1);
    assert!(
        out.all().contains("budget.max_cost_increase_pct"),
        "the failing policy is named:\n{}",
        out.all()
    );
}

#[test]
fn diff_with_no_change_passes_without_calls() {
    let mock = Mock::with_rules(diff_rules());
    let (p, base) = diff_repo(&mock);
    mock.reset();
    let out = p.run(&["diff", &base]);
    out.expect_code(0);
    assert_eq!(mock.requests(), 0, "{}", out.all());
}

// ---------------------------------------------------------------------------------------
// 8. The budget is a hard stop.
// ---------------------------------------------------------------------------------------

#[test]
fn budget_cap_is_never_exceeded_at_the_mock() {
    let mock = Mock::start(MockConfig {
        rules: capital_rules(),
        latency_ms: 50,
        ..MockConfig::default()
    });
    // $1 per token in and out; "Capital of France?" is 3 words + 1 = 4 input tokens at the
    // mock, and at most max_tokens = 4 output tokens: at most $8 a call at the mock (evalgit
    // reserves far more: every prompt byte as a token, $46 a call).
    let toml = format!(
        "[providers.mock]\nkind = \"openai\"\nbase_url = \"{}\"\nmodel = \"pricey\"\nmax_tokens = 4\nmax_concurrency = 4\n\n[prices.\"pricey\"]\ninput = 1000000\noutput = 1000000\n",
        mock.openai_url()
    );
    let p = TestProject::new().file("evalgit.toml", &toml).file(
        "evals/capitals.toml",
        &capitals_suite("Capital of {{ country }}?", &CAPITALS[..10]),
    );
    let cap = 60.0;
    let out = p.run(&["run", "--max-run-usd", "60"]);
    out.expect_code(1);
    let n = mock.requests();
    let max_per_call = 4.0 + 4.0;
    assert!(n >= 1, "some calls fit under the cap");
    assert!(
        n as f64 * max_per_call <= cap,
        "{n} calls could cost ${}, over the ${cap} cap",
        n as f64 * max_per_call
    );

    let r = p.results();
    let summary = r.summary.as_ref().expect("summary");
    let spent = summary["spent_usd"].as_f64().expect("spent");
    assert!(spent <= cap && spent > 0.0, "{spent}");
    let not_run = summary["budget"]["not_run"]
        .as_array()
        .expect("not_run")
        .len();
    assert_eq!(
        not_run as u64 + n,
        10,
        "every scenario not called is reported: {summary}"
    );
    let skipped = r.statuses().values().filter(|s| *s == "skipped").count();
    assert_eq!(skipped, not_run);
    assert!(
        out.stderr
            .contains("not run because a spending cap was reached"),
        "{}",
        out.stderr
    );
}

// Regression: a priced provider that reports no token usage (an `http` provider with
// `response_path` and no usage paths, an `exec` command printing plain text) was charged $0
// a call, so `max_run_usd = 0.002` never bound: all 40 calls were made and $0 was reported.
#[test]
fn budget_cap_binds_when_the_provider_reports_no_usage() {
    let mock = Mock::with_rules(vec![]);
    // At $0.1 per million tokens, a call is reserved (and, without usage, charged) at most
    // (21 prompt bytes + 24 + 1024 output tokens) * $0.1 / 1e6 = $0.0001069: 18 fit in $0.002.
    let max_per_call = (21.0 + 24.0 + 1024.0) * 0.1 / 1e6;
    let cap = 0.002;
    let providers = [
        format!(
            "kind = \"http\"\nbase_url = \"{}/http\"\nresponse_path = \"answer\"",
            mock.url()
        ),
        "kind = \"exec\"\ncommand = [\"sh\", \"-c\", \"cat >/dev/null; echo call >> calls.log; echo hi\"]"
            .to_string(),
    ];
    for provider in providers {
        mock.reset();
        let toml = format!(
            "[providers.app]\n{provider}\nmodel = \"app-model\"\nmax_concurrency = 4\nmax_retries = 0\n\n[prices.\"app-model\"]\ninput = 0.1\noutput = 0.1\n\n[budget]\nmax_run_usd = {cap}\n"
        );
        let mut suite =
            String::from("provider = \"app\"\nprompt = \"Capital of {{ country }}?\"\n");
        for i in 0..40 {
            suite.push_str(&format!(
                "\n[[scenario]]\nid = \"s{i}\"\nvars = {{ country = \"Country{i}\" }}\n"
            ));
        }
        let p = TestProject::new()
            .file("evalgit.toml", &toml)
            .file("evals/app.toml", &suite);
        let out = p.run(&["run"]);
        out.expect_code(1);
        let calls =
            mock.requests() + p.read_opt("calls.log").unwrap_or_default().lines().count() as u64;
        assert!(
            (1..=18).contains(&calls),
            "{calls} calls for {provider}\n{}",
            out.all()
        );
        let r = p.results();
        let summary = r.summary.as_ref().expect("summary");
        let spent = summary["spent_usd"].as_f64().expect("spent");
        assert!(
            spent > 0.0 && spent <= cap + 1e-12 && spent <= calls as f64 * max_per_call + 1e-12,
            "spent {spent} for {calls} calls"
        );
        let not_run = summary["budget"]["not_run"].as_array().map_or(0, Vec::len);
        assert_eq!(not_run as u64 + calls, 40, "{summary}");
        let called: Vec<&Value> = r
            .scenarios
            .iter()
            .flat_map(|s| s["samples"].as_array().into_iter().flatten())
            .filter(|s| s["source"] == "called")
            .collect();
        assert_eq!(called.len() as u64, calls);
        assert!(
            called.iter().all(|s| s["spent_estimated"] == true),
            "{called:?}"
        );
        assert!(
            out.stderr
                .contains("provider `app` reported no token usage"),
            "{}",
            out.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------
// 9. JUnit for hostile output.
// ---------------------------------------------------------------------------------------

/// The run drops outputs from memory and JUnit reads them back from the results file; where
/// the results go to a stream that cannot be read back, the outputs stay in memory instead.
#[test]
fn junit_has_every_output_whether_or_not_the_results_file_reads_back() {
    let mock = Mock::with_rules(capital_rules());
    let p = TestProject::new()
        .file("evalgit.toml", &settings(&mock.openai_url(), ""))
        .file(
            "evals/capitals.toml",
            &capitals_suite("Capital of {{ country }}?", &CAPITALS[..4]),
        );
    let file = p.run(&["run", "--junit", "file.xml", "-o", "r.jsonl"]);
    file.expect_code(0);
    let stream = p.run(&["run", "--junit", "stream.xml", "-o", "/dev/stdout"]);
    stream.expect_code(0);
    assert_eq!(
        stream
            .stdout
            .lines()
            .filter(|l| l.contains(r#""record":"scenario""#))
            .count(),
        4,
        "{}",
        stream.stdout
    );
    for xml in [p.read("file.xml"), p.read("stream.xml")] {
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
        let outs: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("system-out"))
            .filter_map(|n| n.text())
            .collect();
        assert_eq!(outs.len(), 4, "{xml}");
        for (country, capital) in &CAPITALS[..4] {
            assert!(
                outs.iter().any(|o| o.contains(capital)),
                "the output for {country} ({capital}) is in system-out:\n{xml}"
            );
        }
    }
}

const HOSTILE: &str = "\u{1b}[31mred\u{1b}[0m \u{7} bell ]]> <script>alert('x')</script> & \u{0} nul \u{1}\u{8}\u{b}\u{c}\u{1f}\u{7f} 東京タワー 🗼🚀 end";

#[test]
fn junit_is_valid_xml_for_hostile_output() {
    let mut rules = vec![
        Rule::matching("France").reply(HOSTILE),
        Rule::matching("Japan").status(500),
        Rule::matching("Italy").reply("Rome 東京 🗼"),
    ];
    rules.extend(capital_rules());
    let mock = Mock::with_rules(rules);
    let toml = settings(&mock.openai_url(), "").replace("max_retries = 2", "max_retries = 0");
    let p = TestProject::new().file("evalgit.toml", &toml).file(
        "evals/capitals.toml",
        &capitals_suite("Capital of {{ country }}?", &CAPITALS[..3]),
    );
    let out = p.run(&["run", "--junit", "out.xml"]);
    assert!(matches!(out.code, 1 | 3), "{}", out.all());
    let xml = p.read("out.xml");
    assert!(
        !xml.contains('\u{1b}') && !xml.contains('\u{0}') && !xml.contains('\u{7}'),
        "raw control characters"
    );
    let doc =
        roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("invalid XML ({e}):\n{xml}"));
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase") && n.attribute("classname") != Some("evalgit"))
        .collect();
    assert_eq!(cases.len(), 3);
    let case = |id: &str| {
        *cases
            .iter()
            .find(|c| c.attribute("name") == Some(id))
            .unwrap_or_else(|| panic!("no testcase {id}"))
    };
    for c in &cases {
        assert_eq!(c.attribute("classname"), Some("capitals"));
    }
    fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
        n.children().find(|c| c.has_tag_name(tag))
    }
    let france = case("france");
    assert!(
        child(france, "failure").is_some() && child(france, "error").is_none(),
        "france fails"
    );
    let japan = case("japan");
    assert!(
        child(japan, "error").is_some() && child(japan, "failure").is_none(),
        "japan errors"
    );
    let italy = case("italy");
    assert!(
        child(italy, "error").is_none() && child(italy, "failure").is_none(),
        "italy passes"
    );

    let out_text = child(france, "system-out")
        .and_then(|n| n.text())
        .unwrap_or("");
    assert!(
        out_text.contains("<script>alert('x')</script>"),
        "{out_text}"
    );
    assert!(out_text.contains("]]>"), "{out_text}");
    assert!(
        out_text.contains("東京タワー 🗼🚀"),
        "CJK and emoji are kept: {out_text}"
    );
    let italy_out = child(italy, "system-out")
        .and_then(|n| n.text())
        .unwrap_or("");
    assert!(italy_out.contains("Rome 東京 🗼"), "{italy_out}");

    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("testsuite");
    assert_eq!(suite.attribute("name"), Some("capitals"));
    assert_eq!(suite.attribute("tests"), Some("3"));
    assert_eq!(suite.attribute("failures"), Some("1"));
    assert_eq!(suite.attribute("errors"), Some("1"));
    let failure = child(france, "failure").expect("failure");
    let message = failure.attribute("message").unwrap_or("");
    assert!(
        message.contains("icontains"),
        "the message names the failed check: {message}"
    );
}

// ---------------------------------------------------------------------------------------
// 10. Shards.
// ---------------------------------------------------------------------------------------

#[test]
fn four_shards_merged_equal_one_run() {
    let mock = Mock::with_rules(capital_rules());
    let b: String = CAPITALS[7..].iter().fold(
        "provider = \"mock\"\nprompt = \"Which city is the capital of {{ country }}?\"\n"
            .to_string(),
        |s, (c, cap)| s + &scenario(c, cap),
    );
    let p = TestProject::new()
        .file("evalgit.toml", &settings(&mock.openai_url(), ""))
        .file(
            "evals/a.toml",
            &capitals_suite("Capital of {{ country }}?", &CAPITALS[..7]),
        )
        .file("evals/b.toml", &b);
    p.run(&["run", "--no-cache", "-o", "full.jsonl"])
        .expect_code(0);
    assert_eq!(mock.requests(), 12);

    mock.reset();
    let mut inputs = Vec::new();
    let mut seen = Vec::new();
    for k in 1..=4 {
        let file = format!("shard{k}.jsonl");
        p.run(&[
            "run",
            "--no-cache",
            "--shard",
            &format!("{k}/4"),
            "-o",
            &file,
        ])
        .expect_code(0);
        seen.extend(p.results_at(&file).ids());
        inputs.push(file);
    }
    assert_eq!(
        mock.requests(),
        12,
        "every scenario is called in exactly one shard"
    );
    seen.sort();
    let mut all = p.results_at("full.jsonl").ids();
    all.sort();
    assert_eq!(seen, all, "the shards are disjoint and cover everything");

    let mut args = vec!["merge", "-o", "merged.jsonl", "--junit", "merged.xml"];
    args.extend(inputs.iter().map(String::as_str));
    let out = p.run(&args);
    out.expect_code(0);
    assert!(
        out.stdout.contains("merged 12 scenarios from 4 files"),
        "{}",
        out.stdout
    );

    let key = |r: &support::Results| -> Vec<(String, Value, Value, Value, Value)> {
        r.scenarios
            .iter()
            .map(|s| {
                (
                    format!(
                        "{}/{}",
                        s["suite"].as_str().unwrap_or(""),
                        s["id"].as_str().unwrap_or("")
                    ),
                    s["status"].clone(),
                    s["pass"].clone(),
                    s["score"].clone(),
                    s["samples"][0]["output"].clone(),
                )
            })
            .collect()
    };
    let (full, merged) = (p.results_at("full.jsonl"), p.results_at("merged.jsonl"));
    // The merged file is in project order; a single run writes in completion order.
    let project_order: Vec<String> = key(&merged).into_iter().map(|k| k.0).collect();
    let mut expected_order: Vec<String> = CAPITALS[..7]
        .iter()
        .map(|(c, _)| format!("a/{}", c.to_lowercase()))
        .collect();
    expected_order.extend(
        CAPITALS[7..]
            .iter()
            .map(|(c, _)| format!("b/{}", c.to_lowercase())),
    );
    assert_eq!(project_order, expected_order);
    let sorted = |mut v: Vec<_>| {
        v.sort_by(|a: &(String, Value, Value, Value, Value), b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(
        sorted(key(&merged)),
        sorted(key(&full)),
        "merged equals the single run, scenario for scenario"
    );
    let (fs, ms) = (
        full.summary.expect("summary"),
        merged.summary.expect("summary"),
    );
    assert_eq!(
        ms["suites"], fs["suites"],
        "the per-suite summary is the same"
    );
    assert_eq!(ms["exit_code"], fs["exit_code"]);
    let xml = p.read("merged.xml");
    let doc = roxmltree::Document::parse(&xml).expect("merged JUnit parses");
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .count(),
        12
    );
}

#[test]
fn merge_refuses_overlapping_shards() {
    let mock = Mock::with_rules(capital_rules());
    let p = TestProject::new()
        .file("evalgit.toml", &settings(&mock.openai_url(), ""))
        .file(
            "evals/a.toml",
            &capitals_suite("Capital of {{ country }}?", &CAPITALS[..3]),
        );
    p.run(&["run", "-o", "one.jsonl"]).expect_code(0);
    let out = p.run(&["merge", "-o", "m.jsonl", "one.jsonl", "one.jsonl"]);
    out.expect_code(2);
    assert!(out.stderr.contains("more than one input"), "{}", out.stderr);
}

/// Regression: `merge` of shards 1, 2 and 4 of 4 passed with "merged 23 scenarios", and a
/// killed shard (no summary line) merged green, so a lost CI matrix job let the merge through.
#[test]
fn merge_and_report_fail_on_missing_shards_and_unfinished_runs() {
    let mock = Mock::with_rules(capital_rules());
    let p = TestProject::new()
        .file("evalgit.toml", &settings(&mock.openai_url(), ""))
        .file(
            "evals/a.toml",
            &capitals_suite("Capital of {{ country }}?", &CAPITALS[..8]),
        );
    for k in 1..=4 {
        p.run(&[
            "run",
            "--shard",
            &format!("{k}/4"),
            "-o",
            &format!("s{k}.jsonl"),
        ])
        .expect_code(0);
    }
    let out = p.run(&["merge", "-o", "m.jsonl", "s1.jsonl", "s2.jsonl", "s4.jsonl"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("shard 3/4 of 4 missing"),
        "{}",
        out.stderr
    );
    assert_eq!(
        p.results_at("m.jsonl").summary.expect("summary")["verdict"],
        "gate-failed"
    );

    // A shard killed before its summary line: every line but the last.
    let text = p.read("s3.jsonl");
    let cut: Vec<&str> = text.lines().collect();
    p.write("s3-killed.jsonl", &(cut[..cut.len() - 1].join("\n") + "\n"));
    let out = p.run(&[
        "merge",
        "-o",
        "m2.jsonl",
        "s1.jsonl",
        "s2.jsonl",
        "s3-killed.jsonl",
        "s4.jsonl",
    ]);
    out.expect_code(1);
    assert!(out.stderr.contains("did not finish"), "{}", out.stderr);
    let out = p.run(&["report", "--format", "text", "--results", "s3-killed.jsonl"]);
    out.expect_code(1);
    assert!(out.stdout.contains("did not finish"), "{}", out.stdout);
    // Killed while writing a line: the finished lines before it still read.
    let last = cut[cut.len() - 2];
    p.write(
        "s3-cut.jsonl",
        &(cut[..cut.len() - 2].join("\n") + "\n" + &last[..last.len() / 2]),
    );
    let out = p.run(&["report", "--format", "text", "--results", "s3-cut.jsonl"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("the last line is cut off"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("did not finish"), "{}", out.stdout);
    // The complete shard reported alone stands for its own scenarios.
    p.run(&["report", "--format", "text", "--results", "s3.jsonl"])
        .expect_code(0);
    p.run(&[
        "merge", "-o", "m3.jsonl", "s1.jsonl", "s2.jsonl", "s3.jsonl", "s4.jsonl",
    ])
    .expect_code(0);

    // Regression: shards that each failed their own snapshot check (CI, no accepted
    // snapshots) merged into a green verdict.
    for k in 1..=2 {
        p.run(&[
            "run",
            "--check",
            "--shard",
            &format!("{k}/2"),
            "-o",
            &format!("c{k}.jsonl"),
        ])
        .expect_code(1);
    }
    let out = p.run(&["merge", "-o", "mc.jsonl", "c1.jsonl", "c2.jsonl"]);
    out.expect_code(1);
    assert!(out.stderr.contains("c1.jsonl: "), "{}", out.stderr);
    assert!(
        out.stderr.contains("no accepted snapshot"),
        "{}",
        out.stderr
    );
    let out = p.run(&["report", "--format", "text", "--results", "c1.jsonl"]);
    out.expect_code(1);
    assert!(
        out.stdout.contains("no accepted snapshot"),
        "{}",
        out.stdout
    );

    p.write("empty.jsonl", "");
    let out = p.run(&["report", "--results", "empty.jsonl"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("holds no evalgit run"),
        "{}",
        out.stderr
    );
    p.run(&["merge", "-o", "m4.jsonl", "s1.jsonl", "empty.jsonl"])
        .expect_code(2);
}

// ---------------------------------------------------------------------------------------
// 11. The sticky PR comment against the mock GitHub API.
// ---------------------------------------------------------------------------------------

const GH_TOKEN: &str = "ghs_evalgitTESTtoken1234567890";

#[test]
fn comment_twice_leaves_exactly_one_comment() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let gh = rt.block_on(evalgit::github::mock_api::MockGitHub::start(GH_TOKEN));
    let mock = Mock::with_rules(capital_rules());
    let p = TestProject::new()
        .file("evalgit.toml", &settings(&mock.openai_url(), ""))
        .file(
            "evals/a.toml",
            &capitals_suite("Capital of {{ country }}?", &CAPITALS[..3]),
        )
        .env("GITHUB_TOKEN", GH_TOKEN);
    p.run(&["run", "--markdown", "body.md"]).expect_code(0);
    let other = gh.insert_comment(1, "an unrelated human comment");

    let comment = |p: &TestProject| {
        p.run(&[
            "comment",
            "--body-file",
            "body.md",
            "--api-url",
            &gh.url,
            "--repo",
            "o/r",
            "--pr",
            "1",
        ])
    };
    let first = comment(&p);
    first.expect_code(0);
    assert!(first.stdout.contains("created"), "{}", first.stdout);
    let second = comment(&p);
    second.expect_code(0);
    let ours: Vec<_> = gh
        .comments(1)
        .into_iter()
        .filter(|(id, _)| *id != other)
        .collect();
    assert_eq!(ours.len(), 1, "two runs, one comment: {ours:#?}");
    assert!(
        ours[0].1.contains(
            &p.read("body.md")
                .trim()
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        )
    );

    // A changed body updates the same comment.
    p.write("body.md", "## evalgit\n\nsomething changed\n");
    let third = comment(&p);
    third.expect_code(0);
    assert!(third.stdout.contains("updated"), "{}", third.stdout);
    let ours: Vec<_> = gh
        .comments(1)
        .into_iter()
        .filter(|(id, _)| *id != other)
        .collect();
    assert_eq!(ours.len(), 1);
    assert!(ours[0].1.contains("something changed"));
    assert_eq!(gh.comments(1).len(), 2, "the human comment is untouched");

    for out in [&first, &second, &third] {
        assert!(
            !out.all().contains(GH_TOKEN),
            "the token is printed:\n{}",
            out.all()
        );
    }
}

#[test]
fn comment_with_a_read_only_token_is_a_clear_zero_exit() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let gh = rt.block_on(evalgit::github::mock_api::MockGitHub::start(GH_TOKEN));
    gh.set_forbid_writes(true);
    let p = TestProject::new()
        .file("body.md", "## evalgit\n")
        .env("GITHUB_TOKEN", GH_TOKEN);
    let out = p.run(&[
        "comment",
        "--body-file",
        "body.md",
        "--api-url",
        &gh.url,
        "--repo",
        "o/r",
        "--pr",
        "1",
    ]);
    out.expect_code(0);
    assert!(out.stderr.contains("not posted"), "{}", out.all());
    assert!(gh.comments(1).is_empty());
    assert!(!out.all().contains(GH_TOKEN));
}

#[test]
fn comment_without_a_token_says_what_to_set() {
    let p = TestProject::new().file("body.md", "## evalgit\n");
    let out = p.run(&[
        "comment",
        "--body-file",
        "body.md",
        "--api-url",
        "http://127.0.0.1:9",
        "--repo",
        "o/r",
        "--pr",
        "1",
    ]);
    out.expect_code(2);
    assert!(out.stderr.contains("GITHUB_TOKEN"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------------------
// 12. `evalgit init`.
// ---------------------------------------------------------------------------------------

#[test]
fn init_writes_a_project_that_validates() {
    let p = TestProject::new();
    let out = p.run(&["init"]);
    out.expect_code(0);
    for f in ["evalgit.toml", "evals/example.toml", "prompts/example.txt"] {
        assert!(p.exists(f), "{f} not written:\n{}", out.stdout);
    }
    let out = p.run(&["validate"]);
    out.expect_code(0);
    assert!(out.stdout.starts_with("ok:"), "{}", out.stdout);
}

#[test]
fn init_twice_names_the_existing_file() {
    let p = TestProject::new();
    p.run(&["init"]).expect_code(0);
    let before = p.read("evalgit.toml");
    let out = p.run(&["init"]);
    out.expect_code(2);
    assert!(out.stderr.contains("evalgit.toml"), "{}", out.stderr);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    assert_eq!(p.read("evalgit.toml"), before, "nothing was overwritten");
}

#[test]
fn init_project_runs_against_a_server_given_by_environment() {
    let mock = Mock::with_rules(vec![
        Rule::matching("France").reply("Paris is the capital."),
        Rule::matching("Japan").reply("Tokyo is the capital."),
        Rule::matching("Italy").reply("Rome is the capital."),
    ]);
    let p = TestProject::new().env("EVALGIT_PROVIDER_LOCAL_BASE_URL", &mock.openai_url());
    p.run(&["init"]).expect_code(0);
    let out = p.run(&["run"]);
    out.expect_code(0);
    assert_eq!(mock.requests(), 3);
}

#[test]
fn commands_outside_a_project_say_how_to_start() {
    let p = TestProject::new();
    let out = p.run(&["run"]);
    out.expect_code(2);
    assert!(out.stderr.contains("evalgit init"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------------------
// `evalgit plan` and `run --affected-since`.
// ---------------------------------------------------------------------------------------

/// After a recorded run of [`cache_repo`] and its commit: a prompt of suite a changed (3),
/// one variable of b (1), one assertion of b only (re-score, 0), a new scenario in b (1),
/// one scenario of a removed.
fn change_everything(p: &TestProject) {
    p.write("prompts/a.txt", "Name the capital of {{ country }}.\n");
    let b = p
        .read("evals/b.toml")
        .replace("country = \"Spain\"", "country = \"Spain (Europe)\"")
        .replace("value = \"berlin\"", "value = \"Berlin\"");
    p.write("evals/b.toml", &(b + &scenario("Cuba", "Havana")));
    p.write("evals/a.toml", &suite_a(&CAPITALS[..2]));
}

#[test]
fn plan_groups_by_reason_and_counts_calls_before_spending() {
    let mock = Mock::with_rules(capital_rules());
    let p = cache_repo(&mock);
    p.run(&["run"]).expect_code(0);
    p.commit("recorded");
    change_everything(&p);

    mock.reset();
    let out = p.run(&["plan", "--base", "HEAD"]);
    out.expect_code(0);
    assert_eq!(mock.requests(), 0, "plan spends nothing");
    let text = &out.stdout;
    let group = |title: &str| -> String {
        let start = text
            .find(title)
            .unwrap_or_else(|| panic!("no group `{title}` in\n{text}"));
        let rest = &text[start..];
        rest[..rest.find("\n\n").unwrap_or(rest.len())].to_string()
    };
    let prompt = group("prompt changed: prompts/a.txt");
    assert!(prompt.contains("2 scenarios, 2 calls"), "{prompt}");
    assert!(
        prompt.contains("a/france") && prompt.contains("a/japan"),
        "{prompt}"
    );
    let vars = group("variables changed");
    assert!(
        vars.contains("b/spain (country)") && vars.contains("1 call"),
        "{vars}"
    );
    let new = group("new scenario");
    assert!(new.contains("b/cuba"), "{new}");
    let rescore = group("assertions changed only");
    assert!(
        rescore.contains("b/germany") && rescore.contains("no model call"),
        "{rescore}"
    );
    let removed = group("removed scenario");
    assert!(removed.contains("a/italy"), "{removed}");
    assert!(
        text.lines().next().unwrap_or("").contains("4 model calls"),
        "{text}"
    );

    let out = p.run(&["plan", "--base", "HEAD", "--json"]);
    out.expect_code(0);
    let v: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    assert_eq!(v["model_calls"], 4, "{v:#}");
    let reasons: Vec<&str> = v["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["reason"]["reason"].as_str())
        .collect();
    for r in [
        "prompt-changed",
        "variables-changed",
        "assertions-only",
        "removed",
    ] {
        assert!(reasons.contains(&r), "{r} not in {reasons:?}");
    }

    // The run makes exactly the calls the plan announced.
    let (out, n) = calls(&p, &mock, &["run"]);
    assert!(matches!(out.code, 0 | 1), "{}", out.all());
    assert_eq!(n, 4, "plan said 4 calls");
}

#[test]
fn run_affected_since_calls_only_affected_scenarios() {
    let mock = Mock::with_rules(capital_rules());
    let p = cache_repo(&mock);
    p.run(&["run"]).expect_code(0);
    let base = p.commit("recorded");
    p.write("prompts/a.txt", "Name the capital of {{ country }}.\n");
    let (out, n) = calls(&p, &mock, &["run", "--affected-since", &base]);
    out.expect_code(0);
    assert_eq!(n, 3, "suite a only");
    let r = p.results();
    assert_eq!(r.scenario("b", "spain")["samples"][0]["source"], "cache");

    // With an empty cache, unaffected scenarios are not called: skipped, with the reason.
    p.run(&["cache", "clear"]).expect_code(0);
    p.write("prompts/a.txt", "Capital of {{ country }}?\n");
    let (out, n) = calls(&p, &mock, &["run", "--affected-since", &base]);
    assert_eq!(n, 0, "nothing is affected: {}", out.all());
    let r = p.results();
    assert_eq!(
        r.scenario("b", "spain")["status"],
        "skipped",
        "{}",
        out.all()
    );
}

#[test]
fn a_closed_stdout_pipe_does_not_panic() {
    let mock = Mock::with_rules(capital_rules());
    let p = cache_repo(&mock);
    p.write("prompts/a.txt", "Name the capital of {{ country }}.\n");
    let mut child = p
        .command(&["plan", "--base", "HEAD", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take()); // the reader goes away, as `| head -1` does
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unreferenced_snapshots_fail_or_are_deleted_on_request() {
    let mock = Mock::with_rules(snapshot_rules());
    let p = snapshot_project(&mock);
    p.run(&["run"]).expect_code(0);
    p.run(&["accept"]).expect_code(0);
    p.write(
        "evals/capitals.toml",
        &capitals_suite("v1 Capital of {{ country }}?", &CAPITALS[..2]),
    );
    let out = p.run(&["run", "--check", "--unreferenced=fail"]);
    out.expect_code(1);
    assert!(out.stderr.contains("italy"), "{}", out.stderr);
    assert!(
        p.exists("snapshots/capitals/italy.snap"),
        "--check never deletes"
    );
    let out = p.run(&["run", "--unreferenced=delete"]);
    out.expect_code(0);
    assert!(!p.exists("snapshots/capitals/italy.snap"), "{}", out.stderr);
    assert!(p.exists("snapshots/capitals/france.snap"));
}

#[test]
fn diff_in_github_actions_writes_annotations_summary_and_outputs() {
    let mock = Mock::with_rules(diff_rules());
    let (mut p, base) = diff_repo(&mock);
    p.write("prompts/capitals.txt", "v4 capital of {{ country }}?");
    p.write("gh/summary.md", "");
    p.write("gh/output", "");
    let dir = p.path().to_path_buf();
    p.set_env("GITHUB_ACTIONS", "true");
    p.set_env(
        "GITHUB_STEP_SUMMARY",
        &dir.join("gh/summary.md").to_string_lossy(),
    );
    p.set_env("GITHUB_OUTPUT", &dir.join("gh/output").to_string_lossy());
    let out = p.run(&["diff", &base, "--junit", "out.xml", "--markdown", "out.md"]);
    out.expect_code(1);
    assert!(
        out.stdout
            .contains("::error file=evals/capitals.toml,line="),
        "annotations point at the suite file:\n{}",
        out.stdout
    );
    let summary = p.read("gh/summary.md");
    assert!(!summary.trim().is_empty(), "the job summary is written");
    assert_eq!(
        summary.trim(),
        p.read("out.md").trim(),
        "the summary is the comment body"
    );
    let outputs = p.read("gh/output");
    assert!(outputs.contains("verdict=gate-failed"), "{outputs}");
    assert!(outputs.contains("regressions=10"), "{outputs}");
    roxmltree::Document::parse(&p.read("out.xml")).expect("JUnit parses");
}

/// Points `GITHUB_ACTIONS`, `GITHUB_STEP_SUMMARY` and `GITHUB_OUTPUT` at files of the
/// project, as the runner does for a step.
fn in_github_actions(p: &mut TestProject) {
    p.write("gh/summary.md", "");
    p.write("gh/output", "");
    let dir = p.path().to_path_buf();
    p.set_env("GITHUB_ACTIONS", "true");
    p.set_env(
        "GITHUB_STEP_SUMMARY",
        &dir.join("gh/summary.md").to_string_lossy(),
    );
    p.set_env("GITHUB_OUTPUT", &dir.join("gh/output").to_string_lossy());
}

/// The `cost-delta` output is the delta the cost gate and the comment use: on the scenarios
/// both sides evaluated. It was head total minus base total, so two scenarios added on head
/// made it positive while the gate saw no change.
#[test]
fn cost_delta_output_is_the_paired_delta_the_gate_uses() {
    let mock = Mock::with_rules(diff_rules());
    let (mut p, base) = diff_repo(&mock);
    p.write(
        "evals/capitals.toml",
        &capitals_suite("x", &CAPITALS[..12])
            .replace("prompt = \"x\"", "prompt_file = \"prompts/capitals.txt\""),
    );
    in_github_actions(&mut p);
    let out = p.run(&["diff", &base, "--json-out", "verdict.json"]);
    out.expect_code(0);
    let verdict: Value = serde_json::from_str(&p.read("verdict.json")).expect("verdict JSON");
    let paired = verdict["cost_delta_usd"].as_f64().expect("a paired delta");
    let base_total = verdict["base_total_cost_usd"].as_f64().expect("base total");
    let head_total = verdict["total_cost_usd"].as_f64().expect("head total");
    assert!(paired.abs() < 1e-12, "same outputs on both sides: {paired}");
    assert!(head_total > base_total, "two scenarios were added on head");
    let outputs = p.read("gh/output");
    assert!(
        outputs.contains(&format!("cost-delta={paired:.6}\n")),
        "{outputs}"
    );
    assert!(outputs.contains("verdict=passed\n"), "{outputs}");
}

/// `run` and `merge` in GitHub Actions report as `diff` does: the job summary and an error
/// annotation on the suite file line of each failing scenario. They wrote neither.
#[test]
fn run_and_merge_in_github_actions_write_the_summary_and_annotations() {
    let mock = Mock::with_rules(capital_rules());
    let suite = capitals_suite("Capital of {{ country }}?", &CAPITALS[..4])
        .replace("value = \"rome\"", "value = \"naples\"");
    // The 1-based line of italy's `[[scenario]]` header, just above its (0-based) id line.
    let italy_line = suite
        .lines()
        .position(|l| l == "id = \"italy\"")
        .expect("italy");
    let mut p = TestProject::new()
        .file(
            "evalgit.toml",
            &settings(&mock.openai_url(), "[gate]\nmin_pass_rate = 0.9\n"),
        )
        .file("evals/capitals.toml", &suite);
    for k in 1..=2 {
        p.run(&[
            "run",
            "--shard",
            &format!("{k}/2"),
            "-o",
            &format!("shard{k}.jsonl"),
        ]);
    }
    in_github_actions(&mut p);

    let out = p.run(&["run"]);
    out.expect_code(1);
    let annotation = "::error file=evals/capitals.toml,line=";
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with(annotation) && l.contains("italy"))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "one annotation for the failing scenario:\n{}",
        out.stdout
    );
    assert!(
        lines[0].starts_with(&format!("{annotation}{italy_line},")),
        "on the scenario's line {italy_line}: {}",
        lines[0]
    );
    assert!(
        out.stdout.contains("::error file=evals/capitals.toml")
            && out.stdout.contains("min_pass_rate"),
        "the gate's reason is annotated:\n{}",
        out.stdout
    );
    let summary = p.read("gh/summary.md");
    assert!(summary.contains("gate failed"), "{summary}");
    assert!(summary.contains("min_pass_rate"), "{summary}");
    assert!(p.read("gh/output").contains("verdict=gate-failed\n"));

    p.write("gh/summary.md", "");
    p.write("gh/output", "");
    let out = p.run(&[
        "merge",
        "-o",
        "merged.jsonl",
        "shard1.jsonl",
        "shard2.jsonl",
    ]);
    out.expect_code(1);
    let merged: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with(annotation) && l.contains("italy"))
        .collect();
    assert_eq!(merged, lines, "merge annotates as the single run did");
    let summary = p.read("gh/summary.md");
    assert!(summary.contains("gate failed"), "{summary}");
    assert!(summary.contains("min_pass_rate"), "{summary}");
    assert!(p.read("gh/output").contains("verdict=gate-failed\n"));
}

// Model-graded checks (issue 5): a judge reply that is JSON grades the output; a malformed
// reply is retried, then reported as an error, never a pass; judgments are cached.
#[test]
fn llm_rubric_judges_retries_malformed_replies_and_caches_judgments() {
    let mock = Mock::with_rules(vec![
        Rule::matching("RUBRIC-GOOD").reply(r#"{"pass": true, "score": 0.9, "reason": "polite"}"#),
        Rule::matching("RUBRIC-BAD").reply("I think it is fine"),
    ]);
    let config = format!(
        r#"judge = "judge"

[gate]
min_pass_rate = 1.0

[providers.sut]
kind = "openai"
base_url = "{url}"
model = "mock-model"
max_retries = 0

[providers.judge]
kind = "openai"
base_url = "{url}"
model = "judge-model"
max_retries = 0
"#,
        url = mock.openai_url()
    );
    let suite = r#"provider = "sut"
prompt = "Say hello to {{ name }}"

[[scenario]]
id = "good"
vars = { name = "Ann" }
assert = [{ type = "llm-rubric", value = "RUBRIC-GOOD: the greeting is polite" }]

[[scenario]]
id = "bad"
vars = { name = "Bob" }
assert = [{ type = "llm-rubric", value = "RUBRIC-BAD: the greeting is polite" }]
"#;
    let p = TestProject::new()
        .file("evalgit.toml", &config)
        .file("evals/greet.toml", suite);
    let out = p.run(&["run"]);
    // The malformed judge leaves `bad` undecided: an error (exit 3), never a pass or a
    // failure of the model under test.
    out.expect_code(3);
    // 2 outputs + 1 good judgment + 3 attempts (1 + 2 retries) for the malformed judge.
    assert_eq!(mock.requests(), 6, "{}", out.all());
    let r = p.results();
    let good = r.scenario("greet", "good");
    assert_eq!(good["status"], "passed", "{good}");
    assert_eq!(good["samples"][0]["checks"][0]["score"], 0.9);
    assert!(good["samples"][0]["eval_cost_usd"].is_number());
    let bad = r.scenario("greet", "bad");
    assert_eq!(bad["pass"], false, "a malformed judge never passes: {bad}");
    assert_eq!(bad["status"], "error", "{bad}");
    let check = &bad["samples"][0]["checks"][0];
    assert!(
        check["error"]
            .as_str()
            .unwrap_or("")
            .contains("no valid verdict"),
        "{check}"
    );

    // Second run: outputs and the good judgment replay from the cache; only the malformed
    // judgment (never cached) is asked again.
    let out = p.run(&["run"]);
    out.expect_code(3);
    assert_eq!(mock.requests(), 9, "{}", out.all());

    // Regression: `--offline` still called the judge (and spent) for the judgment it lacked.
    let out = p.run(&["run", "--offline"]);
    out.expect_code(3);
    assert_eq!(mock.requests(), 9, "offline calls no judge: {}", out.all());
    let r = p.results();
    let bad = r.scenario("greet", "bad");
    assert!(
        bad["samples"][0]["checks"][0]["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("offline: no cached judgment"),
        "{bad}"
    );
    assert_eq!(r.scenario("greet", "good")["status"], "passed");
}

// Regression: `evalgit run --filter typo` reported "0 scenarios ... gate: passed" and exited
// 0, so a typo in a CI filter turned the build green.
#[test]
fn a_filter_that_matches_nothing_is_an_error() {
    let mock = Mock::with_rules(capital_rules());
    let p = TestProject::new()
        .file("evalgit.toml", &settings(&mock.openai_url(), ""))
        .file(
            "evals/capitals.toml",
            &capitals_suite("Capital of {{ country }}?", &CAPITALS[..2]),
        );
    let out = p.run(&["run", "--filter", "frnace"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("no scenario matches --filter frnace"),
        "{}",
        out.all()
    );
    assert_eq!(mock.requests(), 0);
    // An empty shard is normal (few scenarios, many runners) and passes.
    let out = p.run(&["run", "--shard", "1/50", "--filter", "france"]);
    assert!(out.code == 0 || out.code == 1, "{}", out.all());
}

// `[redact]`: personal data never reaches the cache, results, snapshots or reports.
#[test]
fn redaction_keeps_personal_data_out_of_every_file() {
    let mock =
        Mock::with_rules(vec![Rule::matching("").reply(
            "Paris; mail bob@example.com, card 4111 1111 1111 1111, SECRET42",
        )]);
    let extra = "\n[redact]\nemails = true\ncards = true\npatterns = [\"SECRET[0-9]+\"]\n";
    let p = TestProject::new()
        .file("evalgit.toml", &settings(&mock.openai_url(), extra))
        .file(
            "evals/capitals.toml",
            &capitals_suite("Capital of {{ country }}?", &CAPITALS[..1]),
        );
    let out = p.run(&["run", "--junit", "junit.xml", "--markdown", "comment.md"]);
    out.expect_code(0);
    for (path, bytes) in p.tree("") {
        let text = String::from_utf8_lossy(&bytes);
        for secret in ["bob@example.com", "4111 1111 1111 1111", "SECRET42"] {
            assert!(!text.contains(secret), "{path} contains {secret}");
        }
    }
    let output = p.results().scenario("capitals", "france")["samples"][0]["output"].clone();
    assert!(
        output.as_str().unwrap_or("").contains("[REDACTED:email]"),
        "{output}"
    );
}

// Ctrl-C: finished scenarios are kept in the results file, the run does not pass, and it
// says how many were not run.
#[test]
fn ctrl_c_keeps_finished_results_and_fails_the_gate() {
    interrupted_by("-INT");
}

/// A cancelled CI job sends SIGTERM: the same orderly stop as Ctrl-C.
#[test]
fn sigterm_keeps_finished_results_and_fails_the_gate() {
    interrupted_by("-TERM");
}

fn interrupted_by(signal: &str) {
    let mock = Mock::with_rules(vec![
        Rule::matching("France").reply("Paris"),
        Rule::matching("").reply("slow").delay_ms(30_000),
    ]);
    let p = TestProject::new()
        .file(
            "evalgit.toml",
            &settings(&mock.openai_url(), "").replace("timeout_secs = 10", "timeout_secs = 60"),
        )
        .file(
            "evals/capitals.toml",
            &capitals_suite("Capital of {{ country }}?", &CAPITALS[..3]),
        );
    let child = p
        .command(&["run"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    while p
        .read_opt(".evalgit/results.jsonl")
        .is_none_or(|t| !t.contains("\"france\""))
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "france never finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!stderr.contains("gate: passed"), "{stderr}");
    let r = p.results();
    assert_eq!(r.scenario("capitals", "france")["status"], "passed");
    let summary = r.summary.as_ref().expect("summary line");
    assert_eq!(summary["interrupted"], true);
}

// Issue 6, "done when": a pull request with a regression and a cost increase produces JUnit
// that parses, a comment body that shows both deltas correctly, and exactly one comment on
// the (mock) GitHub API after two runs.
#[test]
fn pull_request_with_a_regression_and_a_cost_increase_end_to_end() {
    let mut rules = diff_rules();
    for (country, _) in CAPITALS {
        rules.insert(
            0,
            Rule::matching(format!("v5 capital of {country}")).reply(format!(
                "I am really not sure which city is the capital of {country}, sorry about that"
            )),
        );
    }
    let mock = Mock::with_rules(rules);
    let (p, base) = diff_repo(&mock);
    p.write("prompts/capitals.txt", "v5 capital of {{ country }}?");
    let out = p.run(&[
        "diff",
        &base,
        "--junit",
        "junit.xml",
        "--markdown",
        "body.md",
        "--json-out",
        "verdict.json",
    ]);
    out.expect_code(1);

    // JUnit parses and reports every scenario as a failure (not an error), and the failed
    // gate (regression, cost increase) as one more failing testcase.
    let xml = p.read("junit.xml");
    let doc = roxmltree::Document::parse(&xml).expect("JUnit parses");
    let gate = doc
        .descendants()
        .find(|n| n.has_tag_name("testcase") && n.attribute("classname") == Some("evalgit"))
        .expect("the gate testcase");
    let gate_text = gate
        .children()
        .find(|f| f.has_tag_name("failure"))
        .and_then(|f| f.text())
        .unwrap_or("");
    assert!(gate_text.contains("max_cost_increase_pct"), "{gate_text}");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase") && n.attribute("classname") != Some("evalgit"))
        .collect();
    assert_eq!(cases.len(), 10);
    assert!(
        cases
            .iter()
            .all(|c| c.children().any(|f| f.has_tag_name("failure"))),
        "{xml}"
    );

    // The comment shows the pass-rate drop and the cost increase, as the verdict computed them.
    let verdict: Value = serde_json::from_str(&p.read("verdict.json")).expect("verdict JSON");
    let pct = verdict["cost_delta_pct"].as_f64().expect("cost delta %");
    assert!(pct > 10.0, "the mock's longer replies cost more: {pct}");
    let body = p.read("body.md");
    assert!(
        body.contains(&format!("{pct:+.1}%")),
        "cost delta {pct:+.1}% in:\n{body}"
    );
    assert!(
        body.contains("-100.0 pp") || body.contains("−100.0 pp"),
        "pass-rate delta in:\n{body}"
    );
    assert!(
        body.contains("max_cost_increase_pct"),
        "the cost policy is named:\n{body}"
    );
    assert!(
        body.contains("france"),
        "newly failing scenarios are listed:\n{body}"
    );

    // Two comment runs leave one comment.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let gh = rt.block_on(evalgit::github::mock_api::MockGitHub::start(GH_TOKEN));
    for _ in 0..2 {
        let mut cmd = p.command(&[
            "comment",
            "--body-file",
            "body.md",
            "--api-url",
            &gh.url,
            "--repo",
            "o/r",
            "--pr",
            "7",
        ]);
        cmd.env("GITHUB_TOKEN", GH_TOKEN);
        let out = support::output_of(cmd);
        out.expect_code(0);
    }
    let comments = gh.comments(7);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(comments[0].1.contains(&format!("{pct:+.1}%")));
}

// Regression: `evalgit -C DIR init` wrote into the current directory, and `init FILE` failed
// with an internal error (exit 4).
#[test]
fn init_honours_the_root_flag_and_refuses_a_file() {
    let p = TestProject::new();
    let target = p.path().join("new/project");
    let out = p.run(&["-C", target.to_str().expect("utf-8 path"), "init"]);
    out.expect_code(0);
    assert!(target.join("evalgit.toml").is_file());
    assert!(!p.exists("evalgit.toml"));
    p.write("a-file", "x");
    let out = p.run(&["init", "a-file"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("is a file, not a directory"),
        "{}",
        out.all()
    );
}

// Comparing revisions outside a git repository, or with a revision that does not exist, is
// the user's mistake (exit 2) with a message that says what to do.
#[test]
fn revisions_that_cannot_be_read_are_usage_errors() {
    let mock = Mock::with_rules(capital_rules());
    let p = TestProject::new()
        .file("evalgit.toml", &settings(&mock.openai_url(), ""))
        .file(
            "evals/capitals.toml",
            &capitals_suite("Capital of {{ country }}?", &CAPITALS[..1]),
        );
    let out = p.run(&["plan", "--base", "main"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("not a git repository") && out.stderr.contains("git init"),
        "{}",
        out.all()
    );
    let p = p.git_init();
    p.commit("first");
    let out = p.run(&["diff", "no-such-branch"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("unknown revision `no-such-branch`"),
        "{}",
        out.all()
    );
}

// Repeats: each sample is scored; a scenario that passed and failed across samples is
// flaky; pass@k and pass^k are reported; the pass rule decides.
#[test]
fn repeats_report_flaky_scenarios_and_pass_at_k() {
    let mock = Mock::with_rules(vec![
        Rule::matching("Capital of France").reply("Lyon").times(1),
        Rule::matching("Capital of France").reply("Paris"),
        Rule::matching("Capital of Japan").reply("Tokyo"),
    ]);
    let suite = capitals_suite("Capital of {{ country }}?", &CAPITALS[..2]).replace(
        "prompt = ",
        "repeat = 3\npass_rule = \"majority\"\nprompt = ",
    );
    let p = TestProject::new()
        .file("evalgit.toml", &settings(&mock.openai_url(), ""))
        .file("evals/capitals.toml", &suite);
    let out = p.run(&["run", "--markdown", "comment.md"]);
    out.expect_code(0);
    assert_eq!(mock.requests(), 6, "3 samples of 2 scenarios");
    let r = p.results();
    let france = r.scenario("capitals", "france");
    assert_eq!(france["flaky"], true, "{france}");
    assert_eq!(france["pass"], true, "2 of 3 is a majority");
    assert_eq!(france["samples"].as_array().map(Vec::len), Some(3));
    assert!(
        out.stderr.contains("pass@3 100.0%, pass^3 50.0%, 1 flaky"),
        "{}",
        out.stderr
    );
    assert!(
        p.read("comment.md").contains("pass@3 100.0%, pass^3 50.0%"),
        "{}",
        p.read("comment.md")
    );
    // Each sample is its own cache entry: a second run replays all six.
    p.run(&["run"]).expect_code(0);
    assert_eq!(mock.requests(), 6);
}

// Regression: the baseline of `diff` came from the local cache when a fingerprint was the
// same on both sides, so after a `--no-cache` run with different (wrong) outputs the base
// silently looked as bad as head and nothing was listed as newly failing. The baseline is
// what was accepted at the base revision.
#[test]
fn diff_baseline_is_the_accepted_snapshots_not_the_local_cache() {
    let mut rules: Vec<Rule> = CAPITALS
        .iter()
        .map(|(c, cap)| {
            Rule::matching(format!("v1 capital of {c}"))
                .reply(*cap)
                .times(1)
        })
        .collect();
    rules.push(Rule::matching("").reply("I do not know"));
    let mock = Mock::with_rules(rules);
    let (p, base) = diff_repo(&mock);
    // Same prompt, same fingerprints; the model now answers wrong and overwrites the cache.
    p.run(&["run", "--no-cache"]).expect_code(1);
    let out = p.run(&["diff", &base, "--json"]);
    out.expect_code(1);
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    let newly_failing = v["changes"]
        .as_array()
        .map(|c| c.iter().filter(|c| c["kind"] == "newly-failing").count())
        .unwrap_or(0);
    assert_eq!(newly_failing, 10, "{}", out.stdout);
    assert_eq!(v["suites"][0]["base"]["pass_rate"], 1.0, "{}", out.stdout);
}

// Regression: two scenarios that send the same request share a fingerprint, so the cache
// held whichever answer came last; a warm cache then replayed it for both, and a scenario
// whose accepted snapshot held the other answer failed and got a `.snap.new`, although a
// fresh clone passed. The accepted snapshot of the scenario itself is replayed first.
#[test]
fn scenarios_with_the_same_request_replay_their_own_accepted_snapshots() {
    let mock = Mock::with_rules(vec![
        Rule::matching("Capital of France").reply("Paris").times(1),
        Rule::matching("Capital of France").reply("Lyon"),
    ]);
    let suite = "provider = \"mock\"\nprompt = \"Capital of {{ country }}?\"\nmin_pass_rate = 0.5\n\
        [[scenario]]\nid = \"a\"\nvars = { country = \"France\" }\nassert = [{ type = \"icontains\", value = \"paris\" }]\n\
        [[scenario]]\nid = \"b\"\nvars = { country = \"France\" }\nassert = [{ type = \"icontains\", value = \"lyon\" }]\n";
    let p = TestProject::new()
        .git_init()
        .file("evalgit.toml", &settings(&mock.openai_url(), ""))
        .file("evals/same.toml", suite);
    p.run(&["run"]);
    assert_eq!(
        mock.requests(),
        2,
        "identical requests are each called once"
    );
    p.run(&["accept"]).expect_code(0);
    let accepted = |id: &str| p.read(&format!("snapshots/same/{id}.snap"));
    let (a, b) = (accepted("a"), accepted("b"));
    assert_ne!(a, b, "the two scenarios got different answers");

    for _ in 0..2 {
        let out = p.run(&["run", "--check"]);
        assert_eq!(mock.requests(), 2, "everything replays");
        assert!(pending(&p).is_empty(), "{:?}\n{}", pending(&p), out.all());
        assert!(!out.stderr.contains("differ"), "{}", out.stderr);
    }
    assert_eq!((accepted("a"), accepted("b")), (a, b));
}

// ---------------------------------------------------------------------------------------
// 13. The `exec` provider: a local command as the model.
// ---------------------------------------------------------------------------------------

/// A project whose provider `bot` runs `command` (a TOML array), with `n` scenarios whose
/// prompt is `prompt` followed by the scenario's number, each expecting `expect` in the
/// output.
fn exec_project(
    command: &str,
    provider_extra: &str,
    prompt: &str,
    n: usize,
    expect: &str,
) -> TestProject {
    let toml = format!(
        "[providers.bot]\nkind = \"exec\"\ncommand = {command}\nmax_concurrency = 4\nmax_retries = 0\n{provider_extra}\n"
    );
    let mut suite = String::from("provider = \"bot\"\nprompt_file = \"prompts/p.txt\"\n");
    for i in 0..n {
        suite.push_str(&format!(
            "\n[[scenario]]\nid = \"s{i}\"\nvars = {{ i = {i} }}\nassert = [{{ type = \"contains\", value = \"{expect}\" }}]\n"
        ));
    }
    TestProject::new()
        .file("evalgit.toml", &toml)
        .file("prompts/p.txt", &format!("{prompt} {{{{ i }}}}"))
        .file("evals/bot.toml", &suite)
}

/// Whether the process `pid` is gone (or a zombie) within five seconds.
fn exits_soon(pid: &str) -> bool {
    let stat = format!("/proc/{}/stat", pid.trim());
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        let state = std::fs::read_to_string(&stat).unwrap_or_default();
        if state.is_empty() || state.contains(") Z") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

// Regression: a command that does not read its stdin (`sh -c "echo hi"`, `true`) killed
// evalgit with SIGPIPE (exit 141) when the prompt was larger than a pipe's buffer; only the
// header was printed and every result was lost.
#[test]
fn an_exec_command_that_ignores_stdin_does_not_kill_evalgit() {
    let prompt = "lorem ipsum ".repeat(10_000);
    let p = exec_project(r#"["sh", "-c", "echo hi"]"#, "", &prompt, 20, "hi");
    let out = p.run(&["run"]);
    out.expect_code(0);
    let r = p.results();
    assert_eq!(r.scenarios.len(), 20);
    assert!(
        r.statuses().values().all(|s| s == "passed"),
        "{:?}",
        r.statuses()
    );
    assert!(r.summary.is_some(), "the run completed");
}

// Regression: prompts over 128 KiB always failed with "Argument list too long (os error 7)":
// the whole prompt was also put in EVALGIT_MESSAGES, and Linux caps one environment string.
#[test]
fn an_exec_prompt_over_128_kib_reaches_the_command() {
    let prompt = "x".repeat(200 * 1024);
    let script = r#"["sh", "-c", "printf 'stdin %s file %s' $(wc -c) $(wc -c < \"$EVALGIT_MESSAGES_FILE\")"]"#;
    let want = format!("stdin {} file", prompt.len() + 2);
    let p = exec_project(script, "", &prompt, 1, &want);
    let out = p.run(&["run"]);
    out.expect_code(0);
    assert!(
        !out.all().contains("Argument list too long"),
        "{}",
        out.all()
    );
}

// Regression: on Ctrl-C (and on timeout) only the process evalgit spawned was killed: a
// script's `sleep 37` kept running, re-parented to init.
#[test]
fn ctrl_c_kills_everything_an_exec_command_started() {
    let p = exec_project(
        r#"["sh", "scripts/bot.sh"]"#,
        "timeout_secs = 60",
        "hello",
        1,
        "hi",
    )
    .file(
        "scripts/bot.sh",
        "sh -c 'echo $$ > sleeper.pid; exec sleep 37'\necho hi\n",
    );
    let child = p
        .command(&["run"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    let pid = loop {
        if let Some(pid) = p.read_opt("sleeper.pid").filter(|s| s.ends_with('\n')) {
            break pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the script never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(exits_soon(&pid), "sleep {} outlived evalgit", pid.trim());
}

// Regression: a snapshot kept no latency, so on a fresh clone a `max-latency-ms` check was
// scored against the replay's 0 ms and a slow scenario passed.
#[test]
fn latency_checks_are_decided_on_the_recorded_latency_when_replayed() {
    let mock = Mock::with_rules(vec![Rule::matching("France").reply("Paris").delay_ms(400)]);
    let suite = "provider = \"mock\"\nprompt = \"Capital of {{ country }}?\"\n\
        [[scenario]]\nid = \"france\"\nvars = { country = \"France\" }\n\
        assert = [{ type = \"max-latency-ms\", value = 200 }]\n";
    let p = TestProject::new()
        .git_init()
        .file("evalgit.toml", &settings(&mock.openai_url(), ""))
        .file("evals/slow.toml", suite);
    p.run(&["run"]).expect_code(1);
    p.run(&["accept"]).expect_code(0);
    let snap = p.read("snapshots/slow/france.snap");
    assert!(snap.contains("\nlatency: 4"), "{snap}");
    std::fs::remove_dir_all(p.path().join(".evalgit")).expect("empty the cache");
    let out = p.run(&["run", "--check"]);
    out.expect_code(1);
    assert_eq!(mock.requests(), 1, "replayed");
    assert_eq!(p.results().scenario("slow", "france")["pass"], false);
    assert!(!out.stderr.contains("differ"), "{}", out.stderr);
}
