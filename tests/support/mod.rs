//! Shared helpers for the end-to-end tests: a project in a temporary directory that runs the
//! real `evalgit` binary with a controlled environment, the mock provider server in a runtime
//! the test owns, and a few ready-made configurations.
//!
//! Builder in the style of just's `Test::new()`: `TestProject::new().file(..).git_init()`,
//! then `.run(&["run"])` gives the exit code, stdout and stderr.

#![allow(dead_code)] // each test uses a different subset of the helpers

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use evalgit::mock::{self, MockConfig, MockServer, Rule};
use serde_json::Value;

/// The real binary under test.
pub const EVALGIT: &str = env!("CARGO_BIN_EXE_evalgit");

/// What one run of the binary did.
#[derive(Debug, Clone)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Panics with both streams when the exit code is not `expected`.
    #[track_caller]
    pub fn expect_code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "expected exit code {expected}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// stdout and stderr together, for "never contains" checks.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A project directory with its own environment for the child process.
pub struct TestProject {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Default for TestProject {
    fn default() -> Self {
        Self::new()
    }
}

impl TestProject {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("evalgit-it-")
            .tempdir()
            .expect("create a temporary directory");
        TestProject {
            dir,
            env: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating directories), builder style.
    pub fn file(self, rel: &str, text: &str) -> Self {
        self.write(rel, text);
        self
    }

    /// Sets a variable in the child's environment, builder style.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.set_env(key, value);
        self
    }

    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    pub fn unset_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    pub fn write(&self, rel: &str, text: &str) {
        write_file(&self.path().join(rel), text);
    }

    /// The file's text, `None` when it does not exist (yet).
    pub fn read_opt(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.path().join(rel)).ok()
    }

    pub fn read(&self, rel: &str) -> String {
        let path = self.path().join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.path().join(rel).exists()
    }

    /// `git init` with a `main` branch and a committer identity, builder style.
    pub fn git_init(self) -> Self {
        self.git(&["init", "-q", "-b", "main"]);
        self
    }

    /// Runs git in the project; panics when it fails; returns stdout.
    pub fn git(&self, args: &[&str]) -> String {
        git_in(self.path(), args)
    }

    /// `git add -A && git commit`; returns the new commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    /// A command for the binary with the project's environment: CI, GITHUB_*, EVALGIT_* and
    /// the usual key variables removed unless this project sets them; NO_COLOR set.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_in(self.path(), args)
    }

    pub fn command_in(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(EVALGIT);
        cmd.args(args).current_dir(dir);
        clean_env(&mut cmd);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs `evalgit ARGS` in the project directory.
    pub fn run(&self, args: &[&str]) -> Output {
        output_of(self.command(args))
    }

    /// Runs `evalgit ARGS` in another directory (a clone, a subdirectory).
    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Output {
        output_of(self.command_in(dir, args))
    }

    /// The parsed lines of a results file (relative to the project).
    pub fn results_at(&self, rel: &str) -> Results {
        Results::parse(&self.read(rel))
    }

    /// The parsed lines of `.evalgit/results.jsonl`.
    pub fn results(&self) -> Results {
        self.results_at(".evalgit/results.jsonl")
    }

    /// Every file under `rel`, as (path relative to the project, bytes), sorted.
    pub fn tree(&self, rel: &str) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        walk(&self.path().join(rel), &mut out);
        let mut out: Vec<(String, Vec<u8>)> = out
            .into_iter()
            .map(|p| {
                let bytes = std::fs::read(&p).unwrap_or_default();
                let rel = p
                    .strip_prefix(self.path())
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .into_owned();
                (rel, bytes)
            })
            .collect();
        out.sort();
        out
    }

    /// Names of the files under `rel` (relative to the project), sorted.
    pub fn files(&self, rel: &str) -> Vec<String> {
        self.tree(rel).into_iter().map(|(p, _)| p).collect()
    }

    /// Copies the project (without `.evalgit/`) into a new temporary project: a fresh clone.
    pub fn fresh_copy(&self) -> TestProject {
        let copy = TestProject {
            dir: TestProject::new().dir,
            env: self.env.clone(),
        };
        copy_dir(self.path(), copy.path(), &|p: &Path| {
            p.file_name().is_some_and(|n| n == ".evalgit")
        });
        copy
    }
}

pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "evalgit test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "evalgit test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Removes what could leak from the test's own environment into the child.
pub fn clean_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key == "CI"
            || key.starts_with("GITHUB_")
            || key.starts_with("EVALGIT_")
            || key.starts_with("RUNNER_")
            || key == "OPENAI_API_KEY"
            || key == "ANTHROPIC_API_KEY"
            || key.starts_with("INSTA_")
        {
            cmd.env_remove(key);
        }
    }
    cmd.env("NO_COLOR", "1");
}

pub fn output_of(mut cmd: Command) -> Output {
    let out = cmd.output().expect("run the evalgit binary");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn write_file(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn copy_dir(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let p = e.path();
        if skip(&p) {
            continue;
        }
        let target = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &target, skip);
        } else {
            std::fs::copy(&p, &target).expect("copy");
        }
    }
}

/// A results file, split by record kind.
#[derive(Debug, Clone)]
pub struct Results {
    pub run: Option<Value>,
    pub scenarios: Vec<Value>,
    pub summary: Option<Value>,
    pub lines: usize,
}

impl Results {
    pub fn parse(text: &str) -> Results {
        let mut r = Results {
            run: None,
            scenarios: Vec::new(),
            summary: None,
            lines: 0,
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            r.lines += 1;
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            match v["record"].as_str() {
                Some("run") => r.run = Some(v),
                Some("scenario") => r.scenarios.push(v),
                Some("summary") => r.summary = Some(v),
                other => panic!("unknown record {other:?}: {line}"),
            }
        }
        r
    }

    /// The scenario `suite/id`.
    #[track_caller]
    pub fn scenario(&self, suite: &str, id: &str) -> &Value {
        self.scenarios
            .iter()
            .find(|s| s["suite"] == suite && s["id"] == id)
            .unwrap_or_else(|| panic!("no scenario {suite}/{id} in {:#?}", self.ids()))
    }

    pub fn ids(&self) -> Vec<String> {
        self.scenarios
            .iter()
            .map(|s| {
                format!(
                    "{}/{}",
                    s["suite"].as_str().unwrap_or("?"),
                    s["id"].as_str().unwrap_or("?")
                )
            })
            .collect()
    }

    /// `suite/id -> status`.
    pub fn statuses(&self) -> std::collections::BTreeMap<String, String> {
        self.scenarios
            .iter()
            .map(|s| {
                (
                    format!(
                        "{}/{}",
                        s["suite"].as_str().unwrap_or("?"),
                        s["id"].as_str().unwrap_or("?")
                    ),
                    s["status"].as_str().unwrap_or("?").to_string(),
                )
            })
            .collect()
    }

    /// Every sample's `source` (called, cache, snapshot, skipped), counted.
    pub fn sources(&self) -> std::collections::BTreeMap<String, usize> {
        let mut m = std::collections::BTreeMap::new();
        for s in &self.scenarios {
            for sample in s["samples"].as_array().into_iter().flatten() {
                *m.entry(sample["source"].as_str().unwrap_or("?").to_string())
                    .or_insert(0) += 1;
            }
        }
        m
    }
}

/// The mock provider server, in a runtime this value owns. Dropping it stops the server.
pub struct Mock {
    // Declared before the runtime so it is dropped (aborted) first.
    server: MockServer,
    _rt: tokio::runtime::Runtime,
}

impl Mock {
    pub fn start(config: MockConfig) -> Mock {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let server = rt
            .block_on(mock::start(config))
            .expect("start the mock provider");
        Mock { server, _rt: rt }
    }

    pub fn with_rules(rules: Vec<Rule>) -> Mock {
        Mock::start(MockConfig {
            rules,
            ..MockConfig::default()
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The OpenAI base URL (`.../v1`).
    pub fn openai_url(&self) -> String {
        format!("{}/v1", self.server.url())
    }

    pub fn requests(&self) -> u64 {
        self.server.requests()
    }

    pub fn requests_for(&self, s: &str) -> u64 {
        self.server.requests_for(s)
    }

    pub fn max_in_flight(&self) -> usize {
        self.server.max_in_flight()
    }

    pub fn reset(&self) {
        self.server.reset();
    }
}

/// Country, capital pairs: the mock answers the capital when the prompt names the country.
pub const CAPITALS: &[(&str, &str)] = &[
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Germany", "Berlin"),
    ("Egypt", "Cairo"),
    ("Peru", "Lima"),
    ("Kenya", "Nairobi"),
    ("Chile", "Santiago"),
    ("Cuba", "Havana"),
    ("Norway", "Oslo"),
    ("Greece", "Athens"),
];

/// Rules answering the right capital for every country of [`CAPITALS`].
pub fn capital_rules() -> Vec<Rule> {
    CAPITALS
        .iter()
        .map(|(c, cap)| Rule::matching(*c).reply(*cap))
        .collect()
}

/// `evalgit.toml` with one OpenAI-format provider `mock` pointing at `url` (the `/v1` base),
/// priced so that costs are visible, with `extra` appended (more tables).
pub fn settings(openai_url: &str, extra: &str) -> String {
    format!(
        r#"[providers.mock]
kind = "openai"
base_url = "{openai_url}"
model = "mock-model"
temperature = 0
max_tokens = 64
max_concurrency = 4
max_retries = 2
timeout_secs = 10

[prices."mock-model"]
input = 1.0
output = 2.0

{extra}
"#
    )
}

/// A suite asking for the capitals of `countries` with an `icontains` check each.
pub fn capitals_suite(prompt: &str, countries: &[(&str, &str)]) -> String {
    let mut s = format!("provider = \"mock\"\nprompt = \"{prompt}\"\n");
    for (country, capital) in countries {
        s.push_str(&format!(
            "\n[[scenario]]\nid = \"{}\"\nvars = {{ country = \"{country}\" }}\nassert = [{{ type = \"icontains\", value = \"{}\" }}]\n",
            country.to_lowercase(),
            capital.to_lowercase()
        ));
    }
    s
}
