//! The results of a run, as every reporter sees them, and as the JSON results file stores
//! them (schema version [`RESULTS_SCHEMA`]; documented in `docs/results.md`).

use serde::{Deserialize, Serialize};

use crate::provider::Usage;

/// Version of the JSON results format. Bump on any incompatible change.
pub const RESULTS_SCHEMA: u32 = 1;

/// Where a sample's output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputSource {
    /// A model call made by this run.
    Called,
    /// Replayed from `.evalgit/cache`.
    Cache,
    /// Replayed from the accepted snapshot (fingerprint matched).
    Snapshot,
    /// Not run: `--offline` with no recorded output, or the budget cap was reached.
    Skipped,
}

/// The result of one check on one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The type as written, e.g. `not-contains`.
    #[serde(rename = "type")]
    pub kind: String,
    pub pass: bool,
    /// 0..=1; deterministic checks score 1 or 0.
    pub score: f64,
    pub weight: f64,
    /// One line a reviewer can act on: what was expected and what was found.
    pub reason: String,
    /// The check could not be evaluated (judge failed); counts as not passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One sample (one repeat) of one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleResult {
    pub repeat: u32,
    /// Hex blake3 fingerprint of everything that reaches the model.
    pub fingerprint: String,
    pub source: OutputSource,
    /// The model's output; `None` only when there is none (error, skipped). `""` is a real,
    /// empty output.
    pub output: Option<String>,
    pub model: Option<String>,
    pub usage: Usage,
    /// What this output cost when it was produced (also for replays).
    pub cost_usd: f64,
    /// What this run spent on it: equal to `cost_usd` when called, 0 when replayed, plus
    /// what judging it cost now. See `spent_estimated`.
    pub spent_usd: f64,
    /// A priced provider (or judge) reported no token usage for a call made for this sample,
    /// so that call is counted in `spent_usd` (and against the budget) at its upper bound: its
    /// real cost is unknown, and `cost_usd` does not include it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub spent_estimated: bool,
    pub latency_ms: u64,
    pub checks: Vec<CheckResult>,
    /// Weighted mean of check scores, 0..=1 (1 when there are no checks).
    pub score: f64,
    pub pass: bool,
    /// Provider error, or why it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Judge (evaluation) tokens and cost, counted apart from the system under test.
    #[serde(default)]
    pub eval_usage: Usage,
    #[serde(default)]
    pub eval_cost_usd: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScenarioStatus {
    Passed,
    Failed,
    /// A provider error left at least one sample without output.
    Error,
    /// Not evaluated (offline without a recording, budget cap reached).
    Skipped,
}

/// One scenario with all its samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub suite: String,
    pub id: String,
    /// Where it is defined, for annotations: file relative to the root, 1-based line.
    pub file: String,
    pub line: usize,
    pub provider: String,
    pub status: ScenarioStatus,
    pub pass: bool,
    /// Mean of the samples' scores.
    pub score: f64,
    /// Minimum weighted score for a sample to pass, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Passed some samples and failed others.
    #[serde(default)]
    pub flaky: bool,
    pub usage: Usage,
    pub cost_usd: f64,
    pub spent_usd: f64,
    pub latency_ms: u64,
    /// Hex blake3 of the scenario's assertions (a change re-scores without a call).
    pub assertions_fingerprint: String,
    pub samples: Vec<SampleResult>,
    /// Position among the run's finished scenarios, in the order they were reported (and
    /// written to the results file); not part of the file.
    #[serde(skip)]
    pub seq: usize,
    /// The outputs were dropped from memory once reported (they are in the results file):
    /// every `Some` output is then empty. See [`ScenarioResult::release_outputs`].
    #[serde(skip)]
    pub outputs_released: bool,
}

impl ScenarioResult {
    /// The first sample's output, the one snapshots and comments show first.
    pub fn output(&self) -> Option<&str> {
        self.samples.first().and_then(|s| s.output.as_deref())
    }
    /// Drops the outputs' text, keeping whether each sample had one: a run of 100,000
    /// scenarios must not hold every output until it ends. Reporters that need the text
    /// (JUnit) read the scenario back from the results file by [`ScenarioResult::seq`].
    pub fn release_outputs(&mut self) {
        for sample in &mut self.samples {
            if let Some(output) = &mut sample.output {
                *output = String::new();
            }
        }
        self.outputs_released = true;
    }

    pub fn key(&self) -> (String, String) {
        (self.suite.clone(), self.id.clone())
    }

    /// Why an errored scenario could not be evaluated: the first provider error of a sample,
    /// else the first model-graded check the judge could not decide (the model answered; the
    /// judge failed). `None` when nothing errored.
    pub fn error_cause(&self) -> Option<ErrorCause<'_>> {
        if let Some(e) = self.samples.iter().find_map(|s| s.error.as_deref()) {
            return Some(ErrorCause::Provider(e));
        }
        self.samples
            .iter()
            .flat_map(|s| &s.checks)
            .find_map(|c| Some(ErrorCause::Judge(c.kind.as_str(), c.error.as_deref()?)))
    }
}

/// See [`ScenarioResult::error_cause`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCause<'a> {
    /// The system under test failed (HTTP error, timeout, malformed reply).
    Provider(&'a str),
    /// A model-graded check (its type) could not be decided.
    Judge(&'a str, &'a str),
}

impl ErrorCause<'_> {
    /// `provider` or `judge`: the JUnit error type.
    pub fn kind(&self) -> &'static str {
        match self {
            ErrorCause::Provider(_) => "provider",
            ErrorCause::Judge(..) => "judge",
        }
    }
}

impl std::fmt::Display for ErrorCause<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorCause::Provider(e) => f.write_str(e),
            ErrorCause::Judge(kind, e) => write!(f, "judge of {kind} failed: {e}"),
        }
    }
}
