//! Tests of the whole loader on in-memory projects.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::assert::AssertKind;
use crate::config::{
    CompiledPrompt, Diagnostics, MemorySource, PassRule, Price, Project, Prompt, ProviderKind,
    Role, render_messages,
};

/// The example of DESIGN.md, "The format, first version", as written there.
const SETTINGS: &str = r#"[providers.local]
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

const CAPITALS: &str = r#"provider = "local"
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

fn source(files: &[(&str, &str)]) -> MemorySource {
    let mut s = MemorySource::new();
    for (path, text) in files {
        s.insert(*path, *text);
    }
    s
}

fn load_files(files: &[(&str, &str)]) -> Result<Project, Diagnostics> {
    load(&source(files), &LoadOptions::new("/repo"))
}

fn load_with(
    files: &[(&str, &str)],
    profile: Option<&str>,
    env: &[(&str, &str)],
) -> Result<Project, Diagnostics> {
    let opts = LoadOptions {
        root: "/repo".into(),
        profile: profile.map(str::to_string),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    load(&source(files), &opts)
}

/// Every diagnostic, whether loading failed or not.
fn diagnostics(result: &Result<Project, Diagnostics>) -> &Diagnostics {
    match result {
        Ok(p) => &p.warnings,
        Err(d) => d,
    }
}

fn ok(result: Result<Project, Diagnostics>) -> Project {
    match result {
        Ok(p) => p,
        Err(d) => panic!("expected the project to load, got:\n{d}"),
    }
}

/// A suite with `prompt` and one scenario `a` with `vars` (on line 6), for problems that only
/// show when the prompt is rendered with them.
fn rendered(prompt: &str, vars: &str) -> String {
    format!(
        "provider = \"local\"\nprompt = {prompt:?}\n\n[[scenario]]\nid = \"a\"\nvars = {vars}\nassert = [{{ type = \"contains\", value = \"x\" }}]\n"
    )
}

/// A suite whose scenario section is `body`, with one provider and a `{{ country }}` prompt.
fn suite(body: &str) -> String {
    format!("provider = \"local\"\nprompt = \"Capital of {{{{ country }}}}?\"\n\n{body}")
}

#[test]
fn design_example_loads_exactly() {
    let project = ok(load_files(&[
        ("evalgit.toml", SETTINGS),
        ("evals/capitals.toml", CAPITALS),
    ]));
    assert!(project.warnings.is_empty(), "{}", project.warnings);
    let s = &project.settings;
    let local = &s.providers["local"];
    assert_eq!(local.kind, ProviderKind::Openai);
    assert_eq!(local.base_url.as_deref(), Some("http://127.0.0.1:8080/v1"));
    assert_eq!(local.model.as_deref(), Some("smollm2-135m"));
    assert_eq!(local.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
    assert_eq!(local.params.temperature, Some(0.0));
    assert_eq!(local.params.max_tokens, Some(64));
    assert_eq!(local.max_concurrency, 4);
    assert_eq!((local.timeout_secs, local.max_retries), (60.0, 3));
    assert_eq!(
        s.prices["smollm2-135m"],
        Price {
            input: 0.05,
            output: 0.10
        }
    );
    assert_eq!(s.budget.max_run_usd, Some(1.0));
    assert_eq!(s.budget.max_cost_increase_pct, Some(10.0));
    assert_eq!(s.gate.min_pass_rate, Some(0.8));
    assert_eq!(
        (s.evals_dir.as_str(), s.snapshots_dir.as_str()),
        ("evals", "snapshots")
    );
    assert_eq!(s.profile, None);

    assert_eq!(project.suites.len(), 1);
    let suite = &project.suites[0];
    assert_eq!(
        (suite.name.as_str(), suite.provider.as_str()),
        ("capitals", "local")
    );
    assert_eq!(suite.file, std::path::PathBuf::from("evals/capitals.toml"));
    assert_eq!(
        suite.prompt,
        Prompt::Text {
            template: "Answer with one word. What is the capital of {{ country }}?".into(),
            file: None
        }
    );
    assert_eq!(
        (suite.min_pass_rate, suite.repeat, suite.pass_rule),
        (Some(0.5), 1, PassRule::All)
    );
    let ids: Vec<(&str, usize)> = suite
        .scenarios
        .iter()
        .map(|s| (s.id.as_str(), s.line))
        .collect();
    assert_eq!(ids, [("france", 7), ("japan", 12)]);
    let japan = &suite.scenarios[1];
    assert_eq!(
        japan.vars.to_map(),
        BTreeMap::from([("country".to_string(), json!("Japan"))])
    );
    let kinds: Vec<AssertKind> = japan.asserts.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [AssertKind::Icontains, AssertKind::MaxCost]);
    assert_eq!(japan.asserts[0].value, Some(json!("tokyo")));
    assert_eq!(japan.asserts[1].value, Some(json!(0.001)));
    let messages = render_messages(suite, japan);
    assert_eq!(
        messages.map(|m| m[0].content.clone()),
        Ok("Answer with one word. What is the capital of Japan?".into())
    );
}

/// One error per case: the message, where it points (`file:line:col`) and its key path.
#[test]
fn suite_errors_are_located() {
    let cases: &[(&str, String, &str, &str, &str)] = &[
        (
            "misspelled assert",
            suite(
                "[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\nasert = [{ type = \"contains\", value = \"x\" }]\n",
            ),
            "unknown key `asert` (did you mean `assert`?)",
            "evals/s.toml:7:1",
            "scenario[0].asert",
        ),
        (
            "assertions alias",
            suite(
                "[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\nassertions = [{ type = \"contains\", value = \"x\" }]\n",
            ),
            "unknown key `assertions` (did you mean `assert`?)",
            "evals/s.toml:7:1",
            "scenario[0].assertions",
        ),
        (
            "assert inside vars",
            suite(
                "[[scenario]]\nid = \"a\"\nvars = { country = \"X\", assert = [{ type = \"contains\", value = \"x\" }] }\n",
            ),
            "`assert` is inside `vars`, so it is a variable, not a check: move it up to the scenario",
            "evals/s.toml:6:25",
            "scenario[0].vars.assert",
        ),
        (
            "asserts inside a vars table",
            suite(
                "[[scenario]]\nid = \"a\"\n[scenario.vars]\ncountry = \"X\"\nasserts = [{ type = \"contains\", value = \"x\" }]\n",
            ),
            "`asserts` is inside `vars`, so it is a variable, not a check",
            "evals/s.toml:8:1",
            "scenario[0].vars.asserts",
        ),
        (
            "wrong type",
            format!("repeat = \"two\"\n{}", suite("")),
            "`repeat` must be an integer, found a string",
            "evals/s.toml:1:10",
            "repeat",
        ),
        (
            "unknown assertion type",
            suite(
                "[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\nassert = [{ type = \"icontain\", value = \"x\" }]\n",
            ),
            "unknown assertion type `icontain` (did you mean `icontains`?)",
            "evals/s.toml:7:20",
            "scenario[0].assert[0].type",
        ),
        (
            "negated unknown type",
            suite(
                "[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\nassert = [{ type = \"not-contain\", value = \"x\" }]\n",
            ),
            "unknown assertion type `not-contain` (did you mean `not-contains`?)",
            "evals/s.toml:7:20",
            "scenario[0].assert[0].type",
        ),
        (
            "invalid regex",
            suite(
                "[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\nassert = [{ type = \"regex\", value = \"(unclosed\" }]\n",
            ),
            "invalid regex: error: unclosed group",
            "evals/s.toml:7:37",
            "scenario[0].assert[0].value",
        ),
        (
            "key not meaningful for the kind",
            suite(
                "[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\nassert = [{ type = \"contains\", value = \"x\", threshold = 0.5 }]\n",
            ),
            "`threshold` does not apply to a `contains` assertion",
            "evals/s.toml:7:45",
            "scenario[0].assert[0].threshold",
        ),
        (
            "missing value",
            suite(
                "[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\nassert = [{ type = \"icontains\" }]\n",
            ),
            "`icontains` assertion needs a `value`",
            "evals/s.toml:7:11",
            "scenario[0].assert[0]",
        ),
        (
            "contains-any empty",
            suite(
                "[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\nassert = [{ type = \"contains-any\", value = [] }]\n",
            ),
            "`value` of `contains-any` must not be empty",
            "evals/s.toml:7:44",
            "scenario[0].assert[0].value",
        ),
        (
            "word-count bounds",
            suite(
                "[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\nassert = [{ type = \"word-count\", min = 5, max = 2 }]\n",
            ),
            "`min` (5) is larger than `max` (2)",
            "evals/s.toml:7:40",
            "scenario[0].assert[0].min",
        ),
        (
            "invalid json schema",
            suite(
                "[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\nassert = [{ type = \"json-schema\", value = { type = \"objekt\" } }]\n",
            ),
            "invalid JSON schema",
            "evals/s.toml:7:43",
            "scenario[0].assert[0].value",
        ),
        (
            "model-graded without judge",
            suite(
                "[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\nassert = [{ type = \"llm-rubric\", value = \"is polite\" }]\n",
            ),
            "`llm-rubric` needs a judge model, and none is set",
            "evals/s.toml:7:11",
            "scenario[0].assert[0]",
        ),
        (
            "unknown judge on an assertion",
            suite(
                "[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\nassert = [{ type = \"factuality\", value = \"Paris\", provider = \"gpt\" }]\n",
            ),
            "unknown judge provider `gpt`",
            "evals/s.toml:7:62",
            "scenario[0].assert[0].provider",
        ),
        (
            "undefined template variable",
            suite(
                "[[scenario]]\nid = \"france\"\nvars = { city = \"Paris\" }\nassert = [{ type = \"contains\", value = \"x\" }]\n",
            ),
            "scenario `france` does not define variable `country` used by the prompt",
            "evals/s.toml:6:1",
            "scenario[0].vars",
        ),
        (
            "variable outside vars",
            suite("[[scenario]]\nid = \"a\"\ncountry = \"France\"\n"),
            "`country` is used by the prompt as a variable, so it belongs inside `vars`",
            "evals/s.toml:6:1",
            "scenario[0].country",
        ),
        (
            "duplicate id",
            suite(
                "[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\n\n[[scenario]]\nid = \"a\"\nvars = { country = \"Y\" }\n",
            ),
            "duplicate scenario id `a` (first defined at line 4)",
            "evals/s.toml:9:6",
            "scenario[1].id",
        ),
        (
            "missing id",
            suite("[[scenario]]\nvars = { country = \"X\" }\n"),
            "scenario has no `id`",
            "evals/s.toml:4:1",
            "scenario[0]",
        ),
        (
            "invalid id",
            suite("[[scenario]]\nid = \"a/b\"\nvars = { country = \"X\" }\n"),
            "invalid scenario id `a/b`",
            "evals/s.toml:5:6",
            "scenario[0].id",
        ),
        (
            "threshold out of range",
            suite("[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\nthreshold = 1.5\n"),
            "`threshold` must be between 0 and 1, found 1.5",
            "evals/s.toml:7:13",
            "scenario[0].threshold",
        ),
        (
            "pass rule impossible",
            suite(
                "[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\npass_rule = \"at-least-3\"\n",
            ),
            "pass rule `at-least-3` can never pass with repeat = 1",
            "evals/s.toml:7:13",
            "scenario[0].pass_rule",
        ),
        (
            "single scenario table",
            suite("[scenario]\nid = \"a\"\n"),
            "`scenario` must be an array of tables",
            "evals/s.toml:4:1",
            "scenario",
        ),
        (
            "unknown provider",
            "provider = \"remote\"\nprompt = \"hi\"\n".to_string(),
            "unknown provider `remote`",
            "evals/s.toml:1:12",
            "provider",
        ),
        (
            "two prompts",
            "prompt = \"a\"\nprompt_file = \"p.txt\"\n".to_string(),
            "the suite sets both `prompt` and `prompt_file`: use exactly one",
            "evals/s.toml:2:1",
            "prompt_file",
        ),
        (
            "no prompt",
            "provider = \"local\"\n".to_string(),
            "the suite has no prompt",
            "evals/s.toml:1:1",
            "prompt",
        ),
        (
            "missing prompt file",
            "prompt_file = \"prompts/nope.txt\"\n".to_string(),
            "prompt file `prompts/nope.txt` not found in memory",
            "evals/s.toml:1:15",
            "prompt_file",
        ),
        (
            "missing scenarios file",
            suite("scenarios_file = \"data/x.jsonl\"\n"),
            "scenarios file `data/x.jsonl` not found in memory",
            "evals/s.toml:4:18",
            "scenarios_file",
        ),
        (
            "scenarios file of another format",
            suite("scenarios_file = \"data/x.yaml\"\n"),
            "`data/x.yaml` is neither a .jsonl nor a .csv file",
            "evals/s.toml:4:18",
            "scenarios_file",
        ),
        (
            "path escaping the project",
            "prompt_file = \"../secret.txt\"\n".to_string(),
            "`../secret.txt` must be a relative path inside the project",
            "evals/s.toml:1:15",
            "prompt_file",
        ),
        (
            "template syntax error inline",
            "prompt = \"Hi {{ name \"\n".to_string(),
            "template syntax error: unexpected end of input, expected end of variable block (line 1 of the prompt)",
            "evals/s.toml:1:10",
            "prompt",
        ),
        (
            "template syntax error in a message",
            "[[messages]]\nrole = \"user\"\ncontent = \"{% if x %}\"\n".to_string(),
            "template syntax error: unexpected end of input, expected end of block (line 1 of the message)",
            "evals/s.toml:3:11",
            "messages[0].content",
        ),
        (
            "unknown message role",
            "[[messages]]\nrole = \"human\"\ncontent = \"hi\"\n".to_string(),
            "unknown role `human`",
            "evals/s.toml:2:8",
            "messages[0].role",
        ),
        (
            "assert at suite level",
            suite("assert = [{ type = \"contains\", value = \"x\" }]\n"),
            "`assert` is not a suite key",
            "evals/s.toml:4:1",
            "assert",
        ),
        // Regression: these validated, then `run` failed with "cannot render the prompt"
        // pointing at the scenario's first line only.
        (
            "attribute of a string, only when rendered",
            rendered("[{{ y.z }}]", "{ y = \"str\" }"),
            "cannot render the prompt for scenario `a`: undefined value: `y.z` is undefined",
            "evals/s.toml:6:1",
            "scenario[0].vars",
        ),
        (
            "index past the end, only when rendered",
            rendered("{{ x[5] }}", "{ x = [1, 2] }"),
            "cannot render the prompt for scenario `a`: undefined value",
            "evals/s.toml:6:1",
            "scenario[0].vars",
        ),
        (
            "unknown filter, only when rendered",
            rendered("{{ x | nosuchfilter }}", "{ x = \"a\" }"),
            "cannot render the prompt for scenario `a`: template error: filter nosuchfilter is unknown",
            "evals/s.toml:6:1",
            "scenario[0].vars",
        ),
        (
            "include, located at the id without vars",
            "provider = \"local\"\nprompt = \"{% include \\\"x\\\" %}\"\n\n[[scenario]]\nid = \"a\"\nassert = [{ type = \"contains\", value = \"x\" }]\n".to_string(),
            "cannot render the prompt for scenario `a`: template error: tried to include non-existing template",
            "evals/s.toml:5:6",
            "scenario[0].id",
        ),
        // Regression: checked only once every other error was fixed, and then reported
        // without a line (the suite) or at the `[[scenario]]` header (a scenario).
        (
            "every default assertion weighs zero",
            suite(
                "[defaults]\nassert = [{ type = \"contains\", value = \"x\", weight = 0 }]\n[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\n[[scenario]]\nid = \"b\"\nvars = { country = \"Y\" }\n",
            ),
            "every assertion of scenario `a` (all from `[defaults] assert`) has `weight = 0`",
            "evals/s.toml:6:1",
            "scenario[0]",
        ),
        (
            "suite repeat over the maximum",
            suite("repeat = 1001\n"),
            "`repeat` must be at most 1000 samples per scenario, found 1001",
            "evals/s.toml:4:10",
            "repeat",
        ),
        (
            "scenario repeat over the maximum",
            suite(
                "[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\nrepeat = 5000\nassert = [{ type = \"contains\", value = \"x\" }]\n",
            ),
            "`repeat` must be at most 1000 samples per scenario, found 5000",
            "evals/s.toml:7:10",
            "scenario[0].repeat",
        ),
        (
            "repeat beyond any integer",
            suite("repeat = 99999999999999999999\n"),
            "`repeat` must be at most 1000 samples per scenario, found 99999999999999999999",
            "evals/s.toml:4:10",
            "repeat",
        ),
        // Regression: every check informational made the scenario pass with score 1.0.
        (
            "every assertion weighs zero",
            suite(
                "[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\nassert = [{ type = \"contains\", value = \"x\", weight = 0 }, { type = \"icontains\", value = \"y\", weight = 0.0 }]\n",
            ),
            "every assertion of scenario `a` has `weight = 0`",
            "evals/s.toml:7:1",
            "scenario[0].assert",
        ),
        (
            "invalid toml",
            "prompt = \"a\nrepeat = 1\n".to_string(),
            "invalid TOML: invalid basic string",
            "evals/s.toml:1:12",
            "",
        ),
    ];
    let mut failures = Vec::new();
    for (name, text, message, location, key_path) in cases {
        let result = load_files(&[
            ("evalgit.toml", SETTINGS),
            ("evals/s.toml", text),
            ("p.txt", "x"),
        ]);
        let diags = diagnostics(&result);
        let found = diags.errors().find(|d| d.message.contains(message));
        let Some(d) = found else {
            failures.push(format!(
                "{name}: no error containing {message:?} in:\n{diags}"
            ));
            continue;
        };
        if (d.location().as_str(), d.key_path.as_str()) != (*location, *key_path) {
            failures.push(format!(
                "{name}: at {} ({}), expected {location} ({key_path}):\n{d}",
                d.location(),
                d.key_path
            ));
        }
        if d.help.is_none() && !d.message.contains("did you mean") {
            failures.push(format!("{name}: no help:\n{d}"));
        }
        if result.is_ok() {
            failures.push(format!("{name}: loaded despite the error"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn settings_errors_are_located() {
    let suite = (
        "evals/s.toml",
        "prompt = \"hi\"\n[[scenario]]\nid = \"a\"\nassert = [{ type = \"contains\", value = \"x\" }]\n",
    );
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        (
            "no kind",
            "[providers.local]\nmodel = \"m\"\n",
            "provider `local` has no `kind`",
            "evalgit.toml:1:1",
            "providers.local",
        ),
        (
            "unknown kind",
            "[providers.local]\nkind = \"openia\"\nmodel = \"m\"\n",
            "unknown provider kind `openia` (did you mean `openai`?)",
            "evalgit.toml:2:8",
            "providers.local.kind",
        ),
        (
            "openai without model",
            "[providers.local]\nkind = \"openai\"\n",
            "provider `local` (openai) needs `model`",
            "evalgit.toml:1:1",
            "providers.local",
        ),
        (
            "http without response_path",
            "[providers.local]\nkind = \"http\"\nbase_url = \"http://x\"\n",
            "provider `local` (http) needs `response_path`",
            "evalgit.toml:1:1",
            "providers.local",
        ),
        (
            "exec without command",
            "[providers.local]\nkind = \"exec\"\n",
            "provider `local` (exec) needs `command`",
            "evalgit.toml:1:1",
            "providers.local",
        ),
        (
            "http key on openai",
            "[providers.local]\nkind = \"openai\"\nmodel = \"m\"\nresponse_path = \"a\"\n",
            "`response_path` only applies to an `http` provider, not `openai`",
            "evalgit.toml:4:1",
            "providers.local.response_path",
        ),
        (
            "max_concurrency zero",
            "[providers.local]\nkind = \"openai\"\nmodel = \"m\"\nmax_concurrency = 0\n",
            "`max_concurrency` must be an integer of at least 1, found 0",
            "evalgit.toml:4:19",
            "providers.local.max_concurrency",
        ),
        (
            "bad base_url",
            "[providers.local]\nkind = \"openai\"\nmodel = \"m\"\nbase_url = \"localhost:8080\"\n",
            "`base_url` must start with http:// or https://",
            "evalgit.toml:4:12",
            "providers.local.base_url",
        ),
        (
            "price without output",
            "[providers.local]\nkind = \"exec\"\ncommand = \"cat\"\n[prices.\"m-1\"]\ninput = 1\n",
            "price for `m-1` has no `output`",
            "evalgit.toml:4:1",
            "prices.m-1",
        ),
        (
            "gate out of range",
            "[providers.local]\nkind = \"exec\"\ncommand = \"cat\"\n[gate]\nmin_pass_rate = 80\n",
            "`min_pass_rate` must be between 0 and 1, found 80",
            "evalgit.toml:5:17",
            "gate.min_pass_rate",
        ),
        (
            "negative budget",
            "[providers.local]\nkind = \"exec\"\ncommand = \"cat\"\n[budget]\nmax_run_usd = -1\n",
            "`max_run_usd` must be zero or more, found -1",
            "evalgit.toml:5:15",
            "budget.max_run_usd",
        ),
        (
            "bad redact pattern",
            "[providers.local]\nkind = \"exec\"\ncommand = \"cat\"\n[redact]\npatterns = [\"ok\", \"[\"]\n",
            "invalid regex",
            "evalgit.toml:5:19",
            "redact.patterns[1]",
        ),
        (
            "misspelled section",
            "[providers.local]\nkind = \"exec\"\ncommand = \"cat\"\n[budjet]\nmax_run_usd = 1\n",
            "unknown key `budjet` (did you mean `budget`?)",
            "evalgit.toml:4:2",
            "budjet",
        ),
        (
            "unknown judge",
            "judge = \"gpt\"\n[providers.local]\nkind = \"exec\"\ncommand = \"cat\"\n",
            "unknown judge provider `gpt`",
            "evalgit.toml:1:9",
            "judge",
        ),
        (
            "profile introduces a provider without kind",
            "[providers.local]\nkind = \"exec\"\ncommand = \"cat\"\n[profile.ci.providers.other]\nmodel = \"m\"\n",
            "profile `ci` introduces provider `other` without a `kind`",
            "evalgit.toml:4:23",
            "profile.ci.providers.other",
        ),
        // Regression: both were provider errors of every call at run time (exit 3).
        (
            "invalid header name",
            "[providers.local]\nkind = \"http\"\nbase_url = \"http://x\"\nresponse_path = \"a\"\nheaders = { \"Bad Header\" = \"x\" }\n",
            "`Bad Header` is not a valid HTTP header name",
            "evalgit.toml:5:13",
            "providers.local.headers.\"Bad Header\"",
        ),
        (
            "invalid header value",
            "[providers.local]\nkind = \"openai\"\nmodel = \"m\"\nheaders = { X-Team = \"a\\nb\" }\n",
            "the value of header `X-Team` is not a valid HTTP header value",
            "evalgit.toml:4:22",
            "providers.local.headers.X-Team",
        ),
        (
            "headers on an exec provider",
            "[providers.local]\nkind = \"exec\"\ncommand = \"cat\"\nheaders = { X-Team = \"a\" }\n",
            "`headers` does not apply to an `exec` provider",
            "evalgit.toml:4:1",
            "providers.local.headers",
        ),
        (
            "body template with an undefined variable",
            "[providers.local]\nkind = \"http\"\nbase_url = \"http://x\"\nresponse_path = \"a\"\nbody = { q = \"{{ prompt }}\", n = \"{{ undefinedvar }}\" }\n",
            "the body template of provider `local` cannot be rendered for scenario `a` of suite `s`: undefined value",
            "evalgit.toml:5:34",
            "providers.local.body.n",
        ),
        (
            "body template syntax error",
            "[providers.local]\nkind = \"http\"\nbase_url = \"http://x\"\nresponse_path = \"a\"\nbody = { q = [\"{{ prompt \"] }\n",
            "template syntax error",
            "evalgit.toml:5:15",
            "providers.local.body.q[0]",
        ),
        // Regression: `extra` silently replaced what evalgit sends.
        (
            "extra sets the messages",
            "[providers.local]\nkind = \"openai\"\nmodel = \"m\"\n[providers.local.extra]\nlogprobs = true\nmessages = []\n",
            "`extra` may not set `messages`",
            "evalgit.toml:6:1",
            "providers.local.extra.messages",
        ),
        (
            "extra sets the model",
            "[providers.local]\nkind = \"anthropic\"\nmodel = \"m\"\nextra = { model = \"other\" }\n",
            "`extra` may not set `model`: evalgit sends `providers.local.model`",
            "evalgit.toml:4:11",
            "providers.local.extra.model",
        ),
        (
            "extra sets streaming",
            "[providers.local]\nkind = \"openai\"\nmodel = \"m\"\nextra = { stream = true }\n",
            "`extra` may not set `stream`",
            "evalgit.toml:4:11",
            "providers.local.extra.stream",
        ),
        (
            "extra overrides a parameter with its own key",
            "[providers.local]\nkind = \"openai\"\nmodel = \"m\"\nmax_tokens = 64\nextra = { max_tokens = 4096 }\n",
            "`extra` may not set `max_tokens`: it would override `providers.local.max_tokens`",
            "evalgit.toml:5:11",
            "providers.local.extra.max_tokens",
        ),
        (
            "extra on an exec provider",
            "[providers.local]\nkind = \"exec\"\ncommand = \"cat\"\nextra = { n = 1 }\n",
            "`extra` only applies to `openai` and `anthropic` providers, not `exec`",
            "evalgit.toml:4:1",
            "providers.local.extra",
        ),
        // Regression: `run` refused to start without saying where the cap was set.
        (
            "run cap with an unpriced model",
            "[providers.local]\nkind = \"openai\"\nmodel = \"my-local-model\"\n[budget]\nmax_run_usd = 1\n",
            "`budget.max_run_usd` is set, but provider `local` (model `my-local-model`) has no price, so the cap cannot be enforced",
            "evalgit.toml:5:15",
            "budget.max_run_usd",
        ),
        // Regression: "must be an integer of at least 1, found 9223372036854775807", and
        // a number beyond i64 was called "a float".
        (
            "integer too large",
            "[providers.local]\nkind = \"openai\"\nmodel = \"m\"\nmax_tokens = 9223372036854775807\n",
            "`max_tokens` must be an integer from 1 to 4294967295, found 9223372036854775807",
            "evalgit.toml:4:14",
            "providers.local.max_tokens",
        ),
        (
            "integer beyond any integer",
            "[providers.local]\nkind = \"openai\"\nmodel = \"m\"\nmax_concurrency = 99999999999999999999\n",
            "`max_concurrency` must be an integer from 1 to 4294967295, found 99999999999999999999",
            "evalgit.toml:4:19",
            "providers.local.max_concurrency",
        ),
        (
            "seed beyond i64",
            "[providers.local]\nkind = \"openai\"\nmodel = \"m\"\nseed = -99999999999999999999\n",
            "`seed` must be an integer from -9223372036854775808 to 9223372036854775807, found -99999999999999999999",
            "evalgit.toml:4:8",
            "providers.local.seed",
        ),
        (
            "unknown key in a profile",
            "[providers.local]\nkind = \"exec\"\ncommand = \"cat\"\n[profile.ci]\nevals_dir = \"x\"\n",
            "unknown key `evals_dir`",
            "evalgit.toml:5:1",
            "profile.ci.evals_dir",
        ),
    ];
    let mut failures = Vec::new();
    for (name, settings, message, location, key_path) in cases {
        let result = load_files(&[("evalgit.toml", settings), suite]);
        let diags = diagnostics(&result);
        let Some(d) = diags.errors().find(|d| d.message.contains(message)) else {
            failures.push(format!(
                "{name}: no error containing {message:?} in:\n{diags}"
            ));
            continue;
        };
        if (d.location().as_str(), d.key_path.as_str()) != (*location, *key_path) {
            failures.push(format!(
                "{name}: at {} ({}), expected {location} ({key_path}):\n{d}",
                d.location(),
                d.key_path
            ));
        }
        if result.is_ok() {
            failures.push(format!("{name}: loaded despite the error"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn api_key_in_api_key_env_is_not_echoed() {
    let settings =
        "[providers.local]\nkind = \"openai\"\nmodel = \"m\"\napi_key_env = \"sk-abc123secret\"\n";
    let result = load_files(&[
        ("evalgit.toml", settings),
        ("evals/s.toml", "prompt = \"hi\"\n"),
    ]);
    let text = diagnostics(&result).to_string();
    assert!(
        text.contains("`api_key_env` must be the name of an environment variable"),
        "{text}"
    );
    assert!(!text.contains("sk-abc123secret"), "{text}");
}

#[test]
fn every_error_is_reported_in_one_pass() {
    let settings =
        "judge = 3\n[providers.local]\nkind = \"openai\"\nmodel = \"m\"\ntemprature = 0\n";
    let a = r#"provider = "local"
prompt = "Capital of {{ country }}?"
repeat = 0

[[scenario]]
id = "france"
vars = { contry = "France" }
asert = [{ type = "contains", value = "Paris" }]

[[scenario]]
id = "france"
vars = { country = "Japan", assert = [{ type = "contains", value = "Tokyo" }] }
"#;
    let b = "provider = \"nope\"\nprompt_file = \"prompts/missing.txt\"\n";
    let result = load_files(&[
        ("evalgit.toml", settings),
        ("evals/a.toml", a),
        ("evals/b.toml", b),
    ]);
    let diags = diagnostics(&result);
    assert_eq!(diags.errors().count(), 9, "{diags}");
    insta::assert_snapshot!("every_error_in_one_pass", diags.to_string());
}

#[test]
fn variable_outside_vars_is_one_error() {
    let text = suite(
        "[[scenario]]\nid = \"a\"\ncountry = \"France\"\nassert = [{ type = \"contains\", value = \"x\" }]\n",
    );
    let result = load_files(&[("evalgit.toml", SETTINGS), ("evals/s.toml", &text)]);
    assert_eq!(
        diagnostics(&result).errors().count(),
        1,
        "{}",
        diagnostics(&result)
    );
}

#[test]
fn warnings_do_not_fail_loading() {
    let text = suite("[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\n");
    let result = load_files(&[
        ("evalgit.toml", SETTINGS),
        ("evals/s.toml", &text),
        ("evals/empty.toml", "prompt = \"hi\"\n"),
    ]);
    let project = ok(result);
    let messages: Vec<&str> = project
        .warnings
        .0
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "suite `empty` has no scenarios",
            "scenario `a` has no assertions, so it always passes"
        ]
    );
    insta::assert_snapshot!("warnings", project.warnings.to_string());
}

#[test]
fn invalid_suite_name_is_an_error() {
    let result = load_files(&[
        ("evalgit.toml", SETTINGS),
        ("evals/Capitals.toml", CAPITALS),
    ]);
    let text = diagnostics(&result).to_string();
    assert!(
        text.contains("suite name `Capitals` may only use a-z, 0-9, `_` and `-`"),
        "{text}"
    );
    assert!(result.is_err());
}

#[test]
fn defaults_merge_under_scenarios() {
    let text = suite(
        r#"[defaults]
vars = { country = "France", tone = "dry" }
assert = [{ type = "max-latency-ms", value = 5000 }]

[[scenario]]
id = "a"
vars = { tone = "warm" }
assert = [{ type = "icontains", value = "paris", weight = 2 }]

[[scenario]]
id = "b"
"#,
    );
    let project = ok(load_files(&[
        ("evalgit.toml", SETTINGS),
        ("evals/s.toml", &text),
    ]));
    let s = &project.suites[0].scenarios;
    assert_eq!(
        s[0].vars.to_map(),
        BTreeMap::from([
            ("country".into(), json!("France")),
            ("tone".into(), json!("warm"))
        ])
    );
    let kinds: Vec<AssertKind> = s[0].asserts.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [AssertKind::MaxLatencyMs, AssertKind::Icontains]);
    assert_eq!(s[0].asserts[1].weight, 2.0);
    assert_eq!(s[1].vars["tone"], json!("dry"));
    assert_eq!(s[1].asserts.len(), 1);
}

#[test]
fn assertion_kinds_load() {
    let settings = format!("judge = \"local\"\n{SETTINGS}");
    let text = suite(
        r#"[[scenario]]
id = "a"
vars = { country = "X" }
assert = [
  { type = "equals", value = 42 },
  { type = "not-contains", value = "sorry" },
  { type = "contains-all", value = ["a", "b"] },
  { type = "starts-with", value = "The" },
  { type = "regex", value = '^\w+' },
  { type = "is-json" },
  { type = "contains-json", value = { type = "object" } },
  { type = "json-schema", value = { type = "object", required = ["name"] } },
  { type = "json-path", path = "$.name", value = "Ada" },
  { type = "length", max = 100 },
  { type = "similar", value = "Paris", metric = "rouge-l" },
  { type = "llm-rubric", value = "is polite", threshold = 0.7 },
  { type = "closed-qa", value = "names a city", provider = "local" },
]
"#,
    );
    let project = ok(load_files(&[
        ("evalgit.toml", &settings),
        ("evals/s.toml", &text),
    ]));
    let a = &project.suites[0].scenarios[0].asserts;
    assert_eq!(a.len(), 13);
    assert_eq!(a[0].value, Some(json!("42")));
    assert!(a[1].negate);
    assert!(a[4].regex.as_ref().is_some_and(|r| r.is_match("Hello")));
    assert_eq!(
        a[7].value,
        Some(json!({"type": "object", "required": ["name"]}))
    );
    assert_eq!(a[8].path.as_deref(), Some("$.name"));
    assert_eq!((a[9].min, a[9].max), (None, Some(100.0)));
    assert_eq!(
        (a[10].threshold, a[10].metric.as_deref()),
        (Some(0.8), Some("rouge-l"))
    );
    assert_eq!(a[11].threshold, Some(0.7));
    assert_eq!(a[12].provider.as_deref(), Some("local"));
}

#[test]
fn prompt_file_and_messages() {
    let files = [
        ("evalgit.toml", SETTINGS),
        (
            "evals/f.toml",
            "prompt_file = \"./prompts/q.txt\"\n[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\nassert = [{ type = \"contains\", value = \"x\" }]\n",
        ),
        ("prompts/q.txt", "Capital of\n{{ country }}?\n"),
        (
            "evals/m.toml",
            "[[messages]]\nrole = \"system\"\ncontent = \"Be {{ tone }}.\"\n\n[[messages]]\nrole = \"user\"\ncontent = \"{{ q }}\"\n\n[defaults]\nvars = { tone = \"brief\" }\n\n[[scenario]]\nid = \"a\"\nvars = { q = \"hi\" }\nassert = [{ type = \"contains\", value = \"x\" }]\n",
        ),
    ];
    let project = ok(load_files(&files));
    let f = &project.suites[0];
    assert_eq!(f.name, "f");
    assert_eq!(
        f.prompt,
        Prompt::Text {
            template: "Capital of\n{{ country }}?\n".into(),
            file: Some("prompts/q.txt".into())
        }
    );
    assert_eq!(
        render_messages(f, &f.scenarios[0]).map(|m| m[0].content.clone()),
        Ok("Capital of\nX?\n".into())
    );
    let m = &project.suites[1];
    let rendered = render_messages(m, &m.scenarios[0]);
    let Ok(rendered) = rendered else {
        panic!("{rendered:?}")
    };
    assert_eq!(
        (rendered[0].role.clone(), rendered[0].content.as_str()),
        (Role::System, "Be brief.")
    );
    assert_eq!(
        (rendered[1].role.clone(), rendered[1].content.as_str()),
        (Role::User, "hi")
    );
}

#[test]
fn template_error_in_prompt_file_points_into_the_file() {
    let files = [
        ("evalgit.toml", SETTINGS),
        ("evals/f.toml", "prompt_file = \"prompts/q.txt\"\n"),
        ("prompts/q.txt", "line one\nline {% if x %} two\n"),
    ];
    let result = load_files(&files);
    let d = diagnostics(&result).errors().next().cloned();
    let Some(d) = d else { panic!("no error") };
    assert_eq!(d.location(), "prompts/q.txt:2:1");
    assert_eq!(d.source_line.as_deref(), Some("line {% if x %} two"));
    assert!(d.message.starts_with("template syntax error"), "{d}");
}

#[test]
fn single_provider_is_the_default_and_several_need_naming() {
    let text = "prompt = \"hi\"\n[[scenario]]\nid = \"a\"\nassert = [{ type = \"contains\", value = \"x\" }]\n";
    let project = ok(load_files(&[
        ("evalgit.toml", SETTINGS),
        ("evals/s.toml", text),
    ]));
    assert_eq!(project.suites[0].provider, "local");
    let two = format!("{SETTINGS}\n[providers.other]\nkind = \"exec\"\ncommand = \"cat\"\n");
    let result = load_files(&[("evalgit.toml", &two), ("evals/s.toml", text)]);
    let text = diagnostics(&result).to_string();
    assert!(
        text.contains("the suite has no `provider`, and evalgit.toml declares several"),
        "{text}"
    );
    assert!(text.contains("`local`, `other`"), "{text}");
}

const PROFILES: &str = r#"judge = "local"

[providers.local]
kind = "openai"
model = "small"
base_url = "http://127.0.0.1:8080/v1"
max_concurrency = 2

[budget]
max_run_usd = 1

[gate]
min_pass_rate = 0.8

[profile.ci]
gate = { min_pass_rate = 0.9 }
budget = { max_run_usd = 5 }

[profile.ci.providers.local]
model = "large"
temperature = 0.5

[profile.nightly.providers.judge]
kind = "anthropic"
model = "claude"
"#;

#[test]
fn profile_and_env_precedence() {
    let files = [
        ("evalgit.toml", PROFILES),
        ("evals/s.toml", "provider = \"local\"\nprompt = \"hi\"\n"),
    ];
    // (profile flag, env, expected model, max_run_usd, min_pass_rate, max_concurrency, base_url)
    /// (profile flag, env, model, max_run_usd, min_pass_rate, max_concurrency, base_url)
    type Case<'a> = (
        Option<&'a str>,
        &'a [(&'a str, &'a str)],
        &'a str,
        f64,
        f64,
        usize,
        &'a str,
    );
    let cases: &[Case<'_>] = &[
        (None, &[], "small", 1.0, 0.8, 2, "http://127.0.0.1:8080/v1"),
        (
            Some("ci"),
            &[],
            "large",
            5.0,
            0.9,
            2,
            "http://127.0.0.1:8080/v1",
        ),
        (
            None,
            &[("EVALGIT_PROFILE", "ci")],
            "large",
            5.0,
            0.9,
            2,
            "http://127.0.0.1:8080/v1",
        ),
        // The flag wins over EVALGIT_PROFILE.
        (
            Some("nightly"),
            &[("EVALGIT_PROFILE", "ci")],
            "small",
            1.0,
            0.8,
            2,
            "http://127.0.0.1:8080/v1",
        ),
        // Environment overrides win over the profile.
        (
            Some("ci"),
            &[
                ("EVALGIT_PROVIDER_LOCAL_MODEL", "env-model"),
                ("EVALGIT_MAX_RUN_USD", "0.25"),
                ("EVALGIT_MIN_PASS_RATE", "0.5"),
                ("EVALGIT_PROVIDER_LOCAL_MAX_CONCURRENCY", "8"),
                (
                    "EVALGIT_PROVIDER_LOCAL_BASE_URL",
                    "https://example.test/v1/",
                ),
            ],
            "env-model",
            0.25,
            0.5,
            8,
            "https://example.test/v1",
        ),
        // An empty value counts as unset.
        (
            None,
            &[("EVALGIT_MAX_RUN_USD", "")],
            "small",
            1.0,
            0.8,
            2,
            "http://127.0.0.1:8080/v1",
        ),
    ];
    for (profile, env, model, max_run, min_pass, conc, url) in cases {
        let p = ok(load_with(&files, *profile, env));
        let local = &p.settings.providers["local"];
        let got = (
            local.model.as_deref().unwrap_or(""),
            p.settings.budget.max_run_usd.unwrap_or(-1.0),
            p.settings.gate.min_pass_rate.unwrap_or(-1.0),
            local.max_concurrency,
            local.base_url.as_deref().unwrap_or(""),
        );
        assert_eq!(
            got,
            (*model, *max_run, *min_pass, *conc, *url),
            "{profile:?} {env:?}"
        );
    }
    let ci = ok(load_with(&files, Some("ci"), &[]));
    assert_eq!(ci.settings.profile.as_deref(), Some("ci"));
    assert_eq!(ci.settings.providers["local"].params.temperature, Some(0.5));
    let nightly = ok(load_with(
        &files,
        Some("nightly"),
        &[("EVALGIT_JUDGE", "judge")],
    ));
    assert_eq!(nightly.settings.judge.as_deref(), Some("judge"));
    assert_eq!(
        nightly.settings.providers["judge"].kind,
        ProviderKind::Anthropic
    );
    // Without the profile, the profile's provider does not exist.
    assert!(
        !ok(load_with(&files, None, &[]))
            .settings
            .providers
            .contains_key("judge")
    );
}

#[test]
fn environment_errors_name_the_variable() {
    let files = [
        ("evalgit.toml", PROFILES),
        ("evals/s.toml", "provider = \"local\"\nprompt = \"hi\"\n"),
    ];
    let result = load_with(
        &files,
        Some("staging"),
        &[
            ("EVALGIT_MAX_RUN_USD", "lots"),
            ("EVALGIT_MIN_PASS_RATE", "80"),
            ("EVALGIT_PROVIDER_REMOTE_MODEL", "x"),
            ("EVALGIT_PROVIDER_LOCAL_MAX_CONCURRENCY", "0"),
            ("EVALGIT_JUDGE", "nobody"),
            ("EVALGIT_UNRELATED", "ignored"),
        ],
    );
    let diags = diagnostics(&result);
    assert!(result.is_err());
    insta::assert_snapshot!("environment_errors", diags.to_string());
}

#[test]
fn unknown_provider_variable_is_only_a_warning() {
    let files = [
        ("evalgit.toml", PROFILES),
        ("evals/s.toml", "provider = \"local\"\nprompt = \"hi\"\n"),
    ];
    let p = ok(load_with(
        &files,
        None,
        &[("EVALGIT_PROVIDER_REMOTE_MODEL", "x")],
    ));
    let w: Vec<String> = p
        .warnings
        .warnings()
        .map(|d| format!("{} {}", d.location(), d.message))
        .collect();
    assert!(w.contains(&"environment EVALGIT_PROVIDER_REMOTE_MODEL names no provider (`REMOTE`); it is ignored".to_string()), "{w:?}");
}

#[test]
fn jsonl_scenarios_load_with_their_lines() {
    let jsonl = concat!(
        "{\"id\": \"france\", \"vars\": {\"country\": \"France\"}, \"assert\": [{\"type\": \"icontains\", \"value\": \"paris\"}]}\n",
        "\n",
        "{\"vars\": {\"country\": \"Japan\"}, \"threshold\": 0.5, \"description\": \"no id\"}\r\n",
    );
    let text = suite(
        "scenarios_file = \"data/c.jsonl\"\n\n[defaults]\nassert = [{ type = \"max-cost\", value = 1 }]\n",
    );
    let project = ok(load_files(&[
        ("evalgit.toml", SETTINGS),
        ("evals/s.toml", &text),
        ("data/c.jsonl", jsonl),
    ]));
    let s = &project.suites[0].scenarios;
    let got: Vec<(&str, usize, usize)> = s
        .iter()
        .map(|s| (s.id.as_str(), s.line, s.asserts.len()))
        .collect();
    assert_eq!(got, [("france", 1, 2), ("line-3", 3, 1)]);
    assert_eq!(s[1].file, std::path::PathBuf::from("data/c.jsonl"));
    assert_eq!(s[1].threshold, Some(0.5));
}

#[test]
fn jsonl_errors_carry_file_and_line() {
    let jsonl = concat!(
        "{\"id\": \"a\", \"vars\": {\"country\": \"A\"}}\n",
        "{\"id\": \"b\", \"vars\": {\"country\": \"B\"}, \"assert\": [{\"type\": \"contians\", \"value\": \"x\"}]}\n",
        "{\"id\": \"c\", \"vars\": {\"country\": \"C\"},}\n",
        "[1, 2]\n",
        "{\"id\": \"a\", \"vars\": {\"country\": \"D\", \"assert\": []}, \"ideal\": \"x\"}\n",
        "{\"id\": \"e\", \"vars\": {\"city\": \"E\"}}\n",
    );
    let text = suite("scenarios_file = \"data/c.jsonl\"\n");
    let result = load_files(&[
        ("evalgit.toml", SETTINGS),
        ("evals/s.toml", &text),
        ("data/c.jsonl", jsonl),
    ]);
    let diags = diagnostics(&result);
    let got: Vec<(String, String)> = diags
        .errors()
        .map(|d| (d.location(), d.message.clone()))
        .collect();
    let want = [
        (
            "data/c.jsonl:2:59",
            "unknown assertion type `contians` (did you mean `contains`?)",
        ),
        ("data/c.jsonl:3:38", "invalid JSON: trailing comma"),
        (
            "data/c.jsonl:4:1",
            "each line must be a JSON object, found an array",
        ),
        (
            "data/c.jsonl:5:53",
            "unknown key `ideal` (did you mean `assert`?)",
        ),
        (
            "data/c.jsonl:5:8",
            "duplicate scenario id `a` (first defined at line 1)",
        ),
        (
            "data/c.jsonl:5:38",
            "`assert` is inside `vars`, so it is a variable, not a check: move it up to the scenario",
        ),
        (
            "data/c.jsonl:6:13",
            "scenario `e` does not define variable `country` used by the prompt",
        ),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(got, want, "{diags}");
    insta::assert_snapshot!("jsonl_errors", diags.to_string());
}

#[test]
fn csv_scenarios_are_vars_with_ids() {
    let csv = "id,country,note\nfr,France,\"a, b\"\n,Japan,\"two\nlines\"\nit,Italy,x\n";
    let text = suite(
        "scenarios_file = \"data/c.csv\"\n\n[defaults]\nassert = [{ type = \"icontains\", value = \"{{ country }}\" }]\n",
    );
    let project = ok(load_files(&[
        ("evalgit.toml", SETTINGS),
        ("evals/s.toml", &text),
        ("data/c.csv", csv),
    ]));
    let s = &project.suites[0].scenarios;
    let got: Vec<(&str, usize)> = s.iter().map(|s| (s.id.as_str(), s.line)).collect();
    assert_eq!(got, [("fr", 2), ("row-2", 3), ("it", 5)]);
    assert_eq!(
        s[0].vars.to_map(),
        BTreeMap::from([
            ("country".into(), json!("France")),
            ("note".into(), json!("a, b"))
        ])
    );
    assert_eq!(s[1].vars["note"], json!("two\nlines"));
    assert_eq!(s[2].asserts.len(), 1);
}

#[test]
fn csv_errors_carry_file_and_line() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "country,__expected\nFrance,contains: Paris\n",
            "data/c.csv:1:1",
            "column `__expected` is reserved",
        ),
        (
            "country,assert\nFrance,x\n",
            "data/c.csv:1:1",
            "column `assert` would be a variable, not a check",
        ),
        (
            "country,country\nFrance,x\n",
            "data/c.csv:1:1",
            "duplicate column `country`",
        ),
        (
            "country,x\nFrance,1\nJapan\n",
            "data/c.csv:3:1",
            "row has 1 field but the header has 2",
        ),
        (
            "id,country\na,France\na,Japan\n",
            "data/c.csv:3:1",
            "duplicate scenario id `a` (first defined at line 2)",
        ),
        (
            "id,city\na,Paris\n",
            "data/c.csv:2:1",
            "scenario `a` does not define variable `country` used by the prompt",
        ),
        (
            "id,country\na b,France\n",
            "data/c.csv:2:1",
            "invalid scenario id `a b`",
        ),
    ];
    for (csv, location, message) in cases {
        let text = suite("scenarios_file = \"data/c.csv\"\n");
        let result = load_files(&[
            ("evalgit.toml", SETTINGS),
            ("evals/s.toml", &text),
            ("data/c.csv", csv),
        ]);
        let diags = diagnostics(&result);
        let Some(d) = diags.errors().find(|d| d.message.contains(message)) else {
            panic!("no {message:?} in:\n{diags}")
        };
        assert_eq!(d.location(), *location, "{d}");
    }
}

#[test]
fn csv_without_checks_warns_once_past_ten() {
    let mut csv = String::from("country\n");
    for i in 0..25 {
        csv.push_str(&format!("C{i}\n"));
    }
    let text = suite("scenarios_file = \"data/c.csv\"\n");
    let project = ok(load_files(&[
        ("evalgit.toml", SETTINGS),
        ("evals/s.toml", &text),
        ("data/c.csv", &csv),
    ]));
    assert_eq!(project.suites[0].scenarios.len(), 25);
    assert_eq!(project.warnings.0.len(), 11, "{}", project.warnings);
    assert_eq!(
        project.warnings.0[10].message,
        "15 more scenarios have no assertions, so they always pass"
    );
}

#[test]
fn missing_settings_file() {
    let result = load_files(&[("evals/s.toml", CAPITALS)]);
    let text = diagnostics(&result).to_string();
    assert!(
        text.starts_with("error: no evalgit.toml in memory"),
        "{text}"
    );
}

#[test]
fn unknown_profile_lists_known_ones() {
    let files = [
        ("evalgit.toml", PROFILES),
        ("evals/s.toml", "provider = \"local\"\nprompt = \"hi\"\n"),
    ];
    let result = load_with(&files, Some("prod"), &[]);
    let d = diagnostics(&result).errors().next().cloned();
    let Some(d) = d else { panic!("no error") };
    assert_eq!(
        (
            d.location().as_str(),
            d.key_path.as_str(),
            d.message.as_str()
        ),
        ("command line", "--profile", "unknown profile `prod`")
    );
    assert_eq!(
        d.help.as_deref(),
        Some("profiles in evalgit.toml: `ci`, `nightly`")
    );
}

#[test]
fn many_scenarios_load_quickly() {
    // 10,000 inline scenarios and 10,000 JSONL ones; guards against quadratic work (the
    // timing itself is checked in release builds, see the module report).
    let mut toml = suite("scenarios_file = \"data/c.jsonl\"\n\n");
    let mut jsonl = String::new();
    for i in 0..10_000 {
        toml.push_str(&format!("[[scenario]]\nid = \"s{i}\"\nvars = {{ country = \"C{i}\" }}\nassert = [{{ type = \"icontains\", value = \"x{i}\" }}]\n\n"));
        jsonl.push_str(&format!("{{\"id\": \"j{i}\", \"vars\": {{\"country\": \"C{i}\"}}, \"assert\": [{{\"type\": \"contains\", \"value\": \"y\"}}]}}\n"));
    }
    let files = [
        ("evalgit.toml", SETTINGS),
        ("evals/s.toml", toml.as_str()),
        ("data/c.jsonl", jsonl.as_str()),
    ];
    let start = std::time::Instant::now();
    let project = ok(load_files(&files));
    let elapsed = start.elapsed();
    assert_eq!(project.suites[0].scenarios.len(), 20_000);
    assert!(elapsed.as_secs() < 10, "{elapsed:?}");
    let compiled = CompiledPrompt::new(&project.suites[0].prompt).map_err(|e| e.to_string());
    let Ok(compiled) = compiled else {
        panic!("{compiled:?}")
    };
    for s in &project.suites[0].scenarios {
        assert!(compiled.render(&s.vars.to_map()).is_ok());
    }
}

#[test]
fn find_root_walks_up_to_the_settings_file() {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("tempdir")
    };
    let nested = dir.path().join("evals").join("deep");
    assert!(std::fs::create_dir_all(&nested).is_ok());
    assert_eq!(find_root(&nested), None);
    assert!(std::fs::write(dir.path().join(SETTINGS_FILE), SETTINGS).is_ok());
    assert_eq!(find_root(&nested).as_deref(), Some(dir.path()));
    assert_eq!(find_root(dir.path()).as_deref(), Some(dir.path()));
}

/// A problem that 1,000 generated scenarios share is one error naming the first and the
/// count; past ten distinct problems in a suite, the rest are one summary line.
#[test]
fn render_problems_are_grouped() {
    let prompt = "provider = \"local\"\nprompt = \"[{{ y.z }}]\"\nscenarios_file = \"data/s.jsonl\"\n[defaults]\nassert = [{ type = \"contains\", value = \"x\" }]\n";
    let jsonl: String = (0..1000)
        .map(|i| format!("{{\"id\": \"s{i}\", \"vars\": {{\"y\": \"str\"}}}}\n"))
        .collect();
    let result = load_files(&[
        ("evalgit.toml", SETTINGS),
        ("evals/s.toml", prompt),
        ("data/s.jsonl", &jsonl),
    ]);
    let diags = diagnostics(&result);
    let errors: Vec<&Diagnostic> = diags.errors().collect();
    assert_eq!(errors.len(), 1, "{diags}");
    let d = errors[0];
    assert_eq!(
        (d.location(), d.key_path.as_str()),
        ("data/s.jsonl:1:14".to_string(), "vars")
    );
    assert!(
        d.message
            .starts_with("cannot render the prompt for scenario `s0` and 999 more: "),
        "{d}"
    );
    assert_eq!(
        d.note.as_deref(),
        Some(
            "the template is at evals/s.toml:2:10 (prompt); the same problem in `s1`, `s2`, `s3`, …"
        )
    );

    // Twelve distinct problems: ten are shown, the other two scenarios are counted.
    let branches: String = (0..12)
        .map(|k| format!("{{% if k == {k} %}}{{{{ v{k}.z }}}}{{% endif %}}"))
        .collect();
    let mut text = format!("provider = \"local\"\nprompt = {branches:?}\n");
    for k in 0..12 {
        // Every scenario defines every variable; only its own `v{k}` has no `.z`.
        let vars: Vec<String> = (0..12)
            .map(|j| match j == k {
                true => format!("v{j} = \"str\""),
                false => format!("v{j} = {{ z = 1 }}"),
            })
            .collect();
        text.push_str(&format!(
            "[[scenario]]\nid = \"s{k}\"\nvars = {{ k = {k}, {} }}\nassert = [{{ type = \"contains\", value = \"x\" }}]\n",
            vars.join(", ")
        ));
    }
    let result = load_files(&[("evalgit.toml", SETTINGS), ("evals/s.toml", &text)]);
    let messages: Vec<String> = diagnostics(&result)
        .errors()
        .map(|d| d.message.clone())
        .collect();
    assert_eq!(messages.len(), 11, "{messages:#?}");
    assert_eq!(
        messages[10],
        "2 more scenarios of suite `s` cannot be rendered, for other reasons"
    );
}

// Regression: a JSONL file saved with a byte order mark was "invalid JSON: expected value"
// at 1:1, while TOML and CSV files accept it.
#[test]
fn jsonl_with_a_byte_order_mark_loads() {
    let jsonl = "\u{feff}{\"id\": \"a\", \"vars\": {\"country\": \"France\"}}\n{\"vars\": {\"country\": \"Japan\"}}\n";
    let text = suite(
        "scenarios_file = \"data/c.jsonl\"\n[defaults]\nassert = [{ type = \"contains\", value = \"x\" }]\n",
    );
    let project = ok(load_files(&[
        ("evalgit.toml", SETTINGS),
        ("evals/s.toml", &text),
        ("data/c.jsonl", jsonl),
    ]));
    let ids: Vec<(&str, usize)> = project.suites[0]
        .scenarios
        .iter()
        .map(|s| (s.id.as_str(), s.line))
        .collect();
    assert_eq!(ids, [("a", 1), ("line-2", 2)]);
}

// Regression: `evals/sub/x.toml` and `evals/X.TOML` were skipped without a word.
#[test]
fn suite_files_that_are_not_read_are_named() {
    let a = suite(
        "[[scenario]]\nid = \"a\"\nvars = { country = \"X\" }\nassert = [{ type = \"contains\", value = \"x\" }]\n",
    );
    let project = ok(load_files(&[
        ("evalgit.toml", SETTINGS),
        ("evals/a.toml", &a),
        ("evals/Refunds.TOML", "prompt = \"x\"\n"),
        ("evals/sub/b.toml", "prompt = \"x\"\n"),
        ("evals/sub/deeper/c.Toml", "prompt = \"x\"\n"),
        ("evals/sub/notes.md", "not a suite"),
        ("evals/README.md", "not a suite"),
    ]));
    assert_eq!(project.suites.len(), 1);
    let warnings: Vec<(String, String, Option<String>)> = project
        .warnings
        .warnings()
        .map(|d| (d.location(), d.message.clone(), d.help.clone()))
        .collect();
    let help_nested = "subdirectories of `evals/` are not searched: move the suite into `evals/`, or rename it if it is not a suite";
    assert_eq!(
        warnings,
        [
            (
                "evals/Refunds.TOML".to_string(),
                "`evals/Refunds.TOML` is not read: suites must be `evals/*.toml`".to_string(),
                Some("rename it to `evals/refunds.toml`".to_string())
            ),
            (
                "evals/sub/b.toml".to_string(),
                "`evals/sub/b.toml` is not read: suites must be `evals/*.toml`".to_string(),
                Some(help_nested.to_string())
            ),
            (
                "evals/sub/deeper/c.Toml".to_string(),
                "`evals/sub/deeper/c.Toml` is not read: suites must be `evals/*.toml`".to_string(),
                Some(help_nested.to_string())
            ),
        ]
    );
}

// Regression: the empty-prompt warning had no line or column.
#[test]
fn empty_prompt_warning_points_at_the_prompt() {
    let text = "provider = \"local\"\nprompt = \"  \"\n[[scenario]]\nid = \"a\"\nassert = [{ type = \"contains\", value = \"x\" }]\n";
    let project = ok(load_files(&[
        ("evalgit.toml", SETTINGS),
        ("evals/s.toml", text),
    ]));
    let d = project
        .warnings
        .warnings()
        .find(|d| d.message == "suite `s` has an empty prompt");
    assert_eq!(
        d.map(|d| (d.location(), d.key_path.clone())),
        Some(("evals/s.toml:2:10".to_string(), "prompt".to_string()))
    );
}

// Regression: with an unpriced judge under a cap, validate said ok and every judged scenario
// of the run became an error.
#[test]
fn a_capped_suite_needs_prices_for_its_judge_too() {
    let settings = "[providers.local]\nkind = \"openai\"\nmodel = \"gpt-4o-mini\"\n[providers.judge]\nkind = \"openai\"\nmodel = \"local-judge\"\n";
    let judged = "provider = \"local\"\njudge = \"judge\"\nprompt = \"hi\"\nmax_usd = 0.5\n[[scenario]]\nid = \"a\"\nassert = [{ type = \"llm-rubric\", value = \"polite\" }]\n";
    let result = load_files(&[("evalgit.toml", settings), ("evals/s.toml", judged)]);
    let diags = diagnostics(&result);
    let errors: Vec<(String, &str, &str, Option<&str>)> = diags
        .errors()
        .map(|d| {
            (
                d.location(),
                d.key_path.as_str(),
                d.message.as_str(),
                d.note.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [(
            "evals/s.toml:4:11".to_string(),
            "max_usd",
            "`max_usd` is set, but judge `judge` (model `local-judge`) has no price, so the cap cannot be enforced",
            Some("used as the judge by suite `s`"),
        )],
    );
    // Priced, or without a cap, or without scenarios to call: no error.
    let priced = format!("{settings}[prices.\"local-judge\"]\ninput = 1\noutput = 2\n");
    let uncapped = judged.replace("max_usd = 0.5\n", "");
    let empty = "provider = \"local\"\nprompt = \"hi\"\nmax_usd = 0.5\n";
    for files in [
        [("evalgit.toml", priced.as_str()), ("evals/s.toml", judged)],
        [
            ("evalgit.toml", settings),
            ("evals/s.toml", uncapped.as_str()),
        ],
        [("evalgit.toml", settings), ("evals/s.toml", empty)],
    ] {
        ok(load_files(&files));
    }
}

#[test]
fn zero_weight_defaults_are_one_error_for_the_whole_suite() {
    let mut body =
        "[defaults]\nassert = [{ type = \"contains\", value = \"x\", weight = 0 }]\n".to_string();
    for i in 0..50 {
        body.push_str(&format!(
            "[[scenario]]\nid = \"s{i}\"\nvars = {{ country = \"C{i}\" }}\n"
        ));
    }
    let result = load_files(&[("evalgit.toml", SETTINGS), ("evals/s.toml", &suite(&body))]);
    assert_eq!(
        diagnostics(&result).errors().count(),
        1,
        "{}",
        diagnostics(&result)
    );
}
