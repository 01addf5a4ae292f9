//! The verdict of a run: per-suite statistics, the comparison with a baseline, what changed
//! per scenario, and the gate decision with the policy that decided each reason.
//!
//! Every reporter (terminal, Markdown comment, JSON) and `evalgit diff` read this one
//! structure, so it serializes both ways and carries explanations as data, not as layout.

use serde::{Deserialize, Serialize};

use crate::ExitCode;
use crate::provider::Usage;
use crate::runner::{OutputSource, ScenarioResult, ScenarioStatus};

/// One suite's numbers for one side of a comparison (head or base).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteStats {
    pub suite: String,
    /// Scenarios in the results, whatever their status.
    pub scenarios: usize,
    /// Scenarios with at least one sample produced by a model call in this run.
    pub called: usize,
    /// Scenarios whose samples were all replayed (cache or snapshot), none called.
    pub replayed: usize,
    pub passed: usize,
    pub failed: usize,
    /// Scenarios a provider error left without output.
    pub errors: usize,
    /// Scenarios not evaluated (offline without a recording, budget cap reached).
    pub skipped: usize,
    /// `passed / (passed + failed)`: errors and skipped scenarios are reported apart (the
    /// gate fails on errors by default), not counted as failures. 0 when nothing was
    /// evaluated.
    pub pass_rate: f64,
    /// Mean scenario score over passed and failed scenarios (0 when none).
    pub mean_score: f64,
    /// What the outputs cost when they were produced (replays included).
    pub cost_usd: f64,
    /// What this run spent on model calls for the system under test.
    pub spent_usd: f64,
    /// Judge (model-graded assertion) cost, counted apart.
    pub eval_cost_usd: f64,
    /// `cost_usd / passed`; `None` when no scenario passed.
    pub cost_per_resolution: Option<f64>,
    /// The `k` of pass@k and pass^k: the smallest number of evaluated samples among
    /// scenarios that have more than one. `None` without repeats.
    #[serde(default)]
    pub k: Option<u32>,
    /// Chance that at least one of k samples passes, averaged over scenarios with repeats
    /// (unbiased estimator `1 - C(n-c, k) / C(n, k)`).
    pub pass_at_k: Option<f64>,
    /// Chance that all k samples pass (`C(c, k) / C(n, k)`), averaged the same way.
    pub pass_hat_k: Option<f64>,
    /// Scenarios that passed some samples and failed others.
    pub flaky: usize,
    /// Tokens of the system under test (judges excluded).
    pub tokens: Usage,
}

/// Computes one suite's statistics from its scenario results (one side of a comparison).
pub fn suite_stats(suite: &str, results: &[&ScenarioResult]) -> SuiteStats {
    let mut stats = SuiteStats {
        suite: suite.to_string(),
        scenarios: results.len(),
        called: 0,
        replayed: 0,
        passed: 0,
        failed: 0,
        errors: 0,
        skipped: 0,
        pass_rate: 0.0,
        mean_score: 0.0,
        cost_usd: 0.0,
        spent_usd: 0.0,
        eval_cost_usd: 0.0,
        cost_per_resolution: None,
        k: None,
        pass_at_k: None,
        pass_hat_k: None,
        flaky: 0,
        tokens: Usage::default(),
    };
    let mut score_sum = 0.0;
    // (evaluated samples, passed samples) of scenarios with repeats.
    let mut repeated: Vec<(u64, u64)> = Vec::new();
    for r in results {
        match r.status {
            ScenarioStatus::Passed => stats.passed += 1,
            ScenarioStatus::Failed => stats.failed += 1,
            ScenarioStatus::Error => stats.errors += 1,
            ScenarioStatus::Skipped => stats.skipped += 1,
        }
        if matches!(r.status, ScenarioStatus::Passed | ScenarioStatus::Failed) {
            score_sum += finite_or_zero(r.score);
        }
        if r.samples.iter().any(|s| s.source == OutputSource::Called) {
            stats.called += 1;
        } else if r
            .samples
            .iter()
            .any(|s| matches!(s.source, OutputSource::Cache | OutputSource::Snapshot))
        {
            stats.replayed += 1;
        }
        if r.flaky {
            stats.flaky += 1;
        }
        stats.cost_usd += finite_or_zero(r.cost_usd);
        stats.spent_usd += finite_or_zero(r.spent_usd);
        stats.tokens += r.usage;
        for s in &r.samples {
            stats.eval_cost_usd += finite_or_zero(s.eval_cost_usd);
        }
        let evaluated: Vec<&crate::runner::SampleResult> =
            r.samples.iter().filter(|s| s.output.is_some()).collect();
        if evaluated.len() > 1 {
            let c = evaluated.iter().filter(|s| s.pass).count() as u64;
            repeated.push((evaluated.len() as u64, c));
        }
    }
    let evaluated = stats.passed + stats.failed;
    if evaluated > 0 {
        stats.pass_rate = stats.passed as f64 / evaluated as f64;
        stats.mean_score = score_sum / evaluated as f64;
    }
    if stats.passed > 0 {
        stats.cost_per_resolution = Some(stats.cost_usd / stats.passed as f64);
    }
    if let Some(k) = repeated.iter().map(|(n, _)| *n).min() {
        let m = repeated.len() as f64;
        let at: f64 = repeated
            .iter()
            .map(|&(n, c)| 1.0 - choose_ratio(n - c, n, k))
            .sum();
        let hat: f64 = repeated.iter().map(|&(n, c)| choose_ratio(c, n, k)).sum();
        stats.k = Some(u32::try_from(k).unwrap_or(u32::MAX));
        stats.pass_at_k = Some(at / m);
        stats.pass_hat_k = Some(hat / m);
    }
    stats
}

/// `C(a, k) / C(n, k)` for `a <= n`, as a product so it never overflows: the chance that k
/// draws without replacement from n items all land in a given subset of a.
fn choose_ratio(a: u64, n: u64, k: u64) -> f64 {
    if k > a {
        return 0.0;
    }
    let mut ratio = 1.0;
    for i in 0..k {
        ratio *= (a - i) as f64 / (n - i) as f64;
    }
    ratio
}

fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

/// What the statistics say about one metric of one suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeStatus {
    /// Credibly worse than the baseline by more than the tolerance.
    Regressed,
    /// Credibly better than the baseline by more than the tolerance.
    Improved,
    /// No credible change, and the suite is large enough to have seen one of the tolerance.
    NoChange,
    /// Too few paired scenarios to detect a change of the tolerance's size.
    Inconclusive,
    /// Nothing to compare with (no baseline, or no scenario in both).
    NoBaseline,
}

impl ChangeStatus {
    pub fn name(self) -> &'static str {
        match self {
            ChangeStatus::Regressed => "regressed",
            ChangeStatus::Improved => "improved",
            ChangeStatus::NoChange => "no change",
            ChangeStatus::Inconclusive => "inconclusive",
            ChangeStatus::NoBaseline => "no baseline",
        }
    }
}

/// The paired comparison of one metric (pass rate or mean score) of one suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Significance {
    pub status: ChangeStatus,
    /// One-sided p-value of the test that decided (the regression direction when the change
    /// is negative or zero, the improvement direction otherwise).
    pub p_value: Option<f64>,
    /// The Holm-adjusted significance level this suite's test was held to.
    pub adjusted_alpha: Option<f64>,
    /// Head minus base, paired scenarios only (fraction: 0.05 = 5 points).
    pub delta: f64,
    /// One-sided upper confidence bound of the change at the adjusted level.
    pub upper_bound: Option<f64>,
    /// One-sided lower confidence bound of the change at the adjusted level.
    pub lower_bound: Option<f64>,
    /// Standard error of the paired mean difference (clustered by scenario).
    pub std_error: Option<f64>,
    /// Smallest change this suite could detect with 80 % power at the adjusted level.
    pub min_detectable_effect: Option<f64>,
    /// Which test, e.g. `McNemar exact + paired t (n=40, 3 discordant)`.
    pub method: String,
    /// One sentence saying why this status, for reports.
    #[serde(default)]
    pub explanation: String,
}

impl Significance {
    /// A comparison that could not be made, with the reason.
    pub fn no_baseline(delta: f64, explanation: impl Into<String>) -> Self {
        Significance {
            status: ChangeStatus::NoBaseline,
            p_value: None,
            adjusted_alpha: None,
            delta,
            upper_bound: None,
            lower_bound: None,
            std_error: None,
            min_detectable_effect: None,
            method: "none".to_string(),
            explanation: explanation.into(),
        }
    }
}

/// One suite, head against base.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteComparison {
    pub suite: String,
    /// The suite file, relative to the root, when known.
    #[serde(default)]
    pub file: String,
    pub base: Option<SuiteStats>,
    pub head: SuiteStats,
    /// Scenarios evaluated on both sides (the pairs the tests use).
    pub paired: usize,
    pub pass_rate: Significance,
    pub score: Significance,
    /// Head cost minus base cost, on the paired scenarios (so adding a scenario is not a
    /// price change). `None` without pairs.
    pub cost_delta_usd: Option<f64>,
    /// `cost_delta_usd / base cost`, in percent (10.0 = 10 %, as `max_cost_increase_pct`);
    /// `None` without a base or when the base cost is 0.
    pub cost_delta_pct: Option<f64>,
    /// Head cost-per-resolution minus base's, when both exist.
    pub cpr_delta: Option<f64>,
    pub threshold_checks: Vec<ThresholdCheck>,
}

/// A suite threshold and whether head meets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdCheck {
    /// `min_pass_rate` or `min_mean_score`.
    pub name: String,
    pub required: f64,
    pub actual: f64,
    pub pass: bool,
    /// Where the threshold was set: `suite evals/x.toml`, `gate in evalgit.toml`,
    /// `profile ci`.
    pub source: String,
}

/// Declared in report order: newly failing first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// Passed on base, fails on head: always listed, whatever the suite's verdict.
    NewlyFailing,
    NewlyPassing,
    /// Same pass/fail, different output (first sample).
    OutputChanged,
    /// Only on head.
    New,
    /// Only on base.
    Removed,
    /// Failed on both sides.
    StillFailing,
}

impl ChangeKind {
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::NewlyFailing => "newly failing",
            ChangeKind::NewlyPassing => "newly passing",
            ChangeKind::OutputChanged => "output changed",
            ChangeKind::New => "new",
            ChangeKind::Removed => "removed",
            ChangeKind::StillFailing => "still failing",
        }
    }
}

/// One scenario that differs between base and head (or fails on both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioChange {
    pub suite: String,
    pub id: String,
    pub file: String,
    pub line: usize,
    pub kind: ChangeKind,
    pub base_pass: Option<bool>,
    pub head_pass: Option<bool>,
    pub base_score: Option<f64>,
    pub head_score: Option<f64>,
    pub base_cost: Option<f64>,
    pub head_cost: Option<f64>,
    /// The first failed check's reason on head (or the provider error), empty when passing.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateReasonKind {
    Threshold,
    Regression,
    CostIncrease,
    Budget,
    ProviderErrors,
    Snapshot,
    /// Scenarios skipped without an output (offline with no recording): a warning.
    Skipped,
    /// The run was interrupted (Ctrl-C) before every scenario finished, or the results read
    /// back are incomplete (a killed run, a missing shard).
    Interrupted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GateLevel {
    Fail,
    Warn,
}

/// One reason the gate failed or warned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReason {
    pub kind: GateReasonKind,
    pub level: GateLevel,
    /// What happened, in one line: `capitals: pass rate 0.60 is below min_pass_rate 0.80`.
    pub message: String,
    /// The policy key and value that decided: `budget.max_cost_increase_pct = 10`.
    pub policy: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GateDecision {
    pub pass: bool,
    pub reasons: Vec<GateReason>,
}

impl GateDecision {
    pub fn passed() -> Self {
        GateDecision {
            pass: true,
            reasons: Vec::new(),
        }
    }

    /// Adds a reason; a `Fail` reason fails the gate. Callers outside `policy` use this for
    /// what `decide` cannot see (pending snapshots in `--check` mode).
    pub fn push(&mut self, reason: GateReason) {
        if reason.level == GateLevel::Fail {
            self.pass = false;
        }
        self.reasons.push(reason);
    }

    pub fn failures(&self) -> impl Iterator<Item = &GateReason> {
        self.reasons.iter().filter(|r| r.level == GateLevel::Fail)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &GateReason> {
        self.reasons.iter().filter(|r| r.level == GateLevel::Warn)
    }
}

/// What the run spent against its cap, and what it did not run because of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BudgetReport {
    pub max_run_usd: Option<f64>,
    pub spent_usd: f64,
    /// The cap stopped the run before every scenario was evaluated.
    pub stopped: bool,
    /// `(suite, scenario id)` of what was not run because of the cap.
    pub not_run: Vec<(String, String)>,
    /// The caps that stopped calls, as policy text: `budget.max_run_usd = 1`,
    /// ``max_usd = 0.5 (suite `extract`)``.
    #[serde(default)]
    pub caps_hit: Vec<String>,
}

/// Everything a reporter needs to say whether the merge may proceed, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub suites: Vec<SuiteComparison>,
    pub changes: Vec<ScenarioChange>,
    pub budget: BudgetReport,
    pub gate: GateDecision,
    /// What head's outputs cost (system under test, replays included).
    pub total_cost_usd: f64,
    pub base_total_cost_usd: Option<f64>,
    /// What this run spent on calls: the system under test and the judges.
    pub spent_usd: f64,
    /// Judge cost of this run's results.
    pub eval_cost_usd: f64,
    /// The regression tolerance and significance level the verdict used.
    #[serde(default)]
    pub tolerance: f64,
    #[serde(default)]
    pub alpha: f64,
    /// Head cost minus base cost on the scenarios evaluated on both sides (what the cost
    /// gate compares); `None` without a baseline or pairs.
    #[serde(default)]
    pub cost_delta_usd: Option<f64>,
    /// The same in percent of the base cost (10.0 = 10 %); `None` when the base cost is 0.
    #[serde(default)]
    pub cost_delta_pct: Option<f64>,
}

impl Verdict {
    /// The documented exit code: a gate failure (1) when any failing reason is not a provider
    /// error; provider errors (3) when they are the only failure; else passed (0).
    pub fn exit_code(&self) -> ExitCode {
        if self
            .gate
            .failures()
            .any(|r| r.kind != GateReasonKind::ProviderErrors)
        {
            ExitCode::GateFailed
        } else if self.gate.failures().next().is_some() {
            ExitCode::ProviderErrors
        } else {
            ExitCode::Passed
        }
    }
}
