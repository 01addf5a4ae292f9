//! The gate: from head's results (and the baseline's, when there is one) to the verdict that
//! allows or blocks a merge, each reason naming the policy key and value that decided it.

use std::collections::{HashMap, HashSet};

use super::stats::{self, MetricKind, Paired};
use super::verdict::{
    BudgetReport, ChangeKind, ChangeStatus, GateDecision, GateLevel, GateReason, GateReasonKind,
    ScenarioChange, Significance, SuiteComparison, ThresholdCheck, Verdict, suite_stats,
};
use crate::assert::{single_line, usd};
use crate::config::{BudgetPolicy, GatePolicy, Settings, Suite};
use crate::runner::{ScenarioResult, ScenarioStatus};

/// Where the pass-rate threshold comes from when no file sets one.
const BUILT_IN_PASS_RATE: &str =
    "built-in default: every scenario passes (set gate.min_pass_rate to allow failures)";

/// At most this many scenarios are named in one gate reason; the rest are counted.
const NAMED_IN_REASON: usize = 5;

/// The thresholds that apply to one suite and where they were set, for reports that must
/// say which file decided.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteGateConfig {
    pub suite: String,
    /// The suite file relative to the root: `evals/capitals.toml`.
    pub file: String,
    /// The suite's own thresholds; `None` falls back to the gate default.
    pub min_pass_rate: Option<f64>,
    pub min_mean_score: Option<f64>,
    /// Where the suite's thresholds are set: `suite evals/capitals.toml`.
    pub source: String,
    /// Where the gate defaults are set: `gate in evalgit.toml`, `gate in evalgit.toml
    /// (profile ci)`.
    pub gate_source: String,
}

impl SuiteGateConfig {
    pub fn from_suite(suite: &Suite, settings: &Settings) -> Self {
        let file = crate::error::display_rel(&suite.file);
        SuiteGateConfig {
            suite: suite.name.clone(),
            min_pass_rate: suite.min_pass_rate,
            min_mean_score: suite.min_mean_score,
            source: format!("suite {file}"),
            gate_source: gate_source(settings.profile.as_deref()),
            file,
        }
    }
}

fn gate_source(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!("gate in evalgit.toml (profile {p})"),
        None => "gate in evalgit.toml".to_string(),
    }
}

/// Decides the verdict.
///
/// Scenarios are paired by `(suite, id)`; only scenarios evaluated on both sides (passed or
/// failed, not errored or skipped) enter the statistics, each as one cluster (its samples'
/// mean pass and mean score). Regression and improvement are tested per suite and
/// Holm-corrected across suites (see `stats::compare_suites`). Costs are compared on the
/// paired scenarios, so adding or removing scenarios does not read as a price change.
/// Every scenario of `base` counts: one whose suite is absent from `head` (a suite file
/// deleted on the branch) is listed as removed. A caller that selected suites (`--suite`)
/// passes a base restricted to them.
pub fn decide(
    head: &[ScenarioResult],
    base: Option<&[ScenarioResult]>,
    suites: &[SuiteGateConfig],
    gate: &GatePolicy,
    budget: &BudgetPolicy,
    budget_report: BudgetReport,
) -> Verdict {
    let names = suite_order(head, suites);
    let base_by_key: HashMap<(&str, &str), &ScenarioResult> = base
        .unwrap_or_default()
        .iter()
        .map(|r| ((r.suite.as_str(), r.id.as_str()), r))
        .collect();

    let mut per_suite = Vec::new();
    for name in &names {
        let head_list: Vec<&ScenarioResult> = head.iter().filter(|r| &r.suite == name).collect();
        let base_list: Vec<&ScenarioResult> = base
            .unwrap_or_default()
            .iter()
            .filter(|r| &r.suite == name)
            .collect();
        per_suite.push(SuitePairs::new(name, head_list, base_list));
    }

    let pass_paired: Vec<Paired> = per_suite.iter().map(|s| s.pass).collect();
    let score_paired: Vec<Paired> = per_suite.iter().map(|s| s.score).collect();
    let pass_sig = stats::compare_suites(
        &pass_paired,
        MetricKind::PassRate,
        gate.tolerance,
        gate.alpha,
    );
    let score_sig =
        stats::compare_suites(&score_paired, MetricKind::Score, gate.tolerance, gate.alpha);

    let mut decision = GateDecision::passed();
    let mut comparisons = Vec::new();
    for ((s, pass_rate), score) in per_suite.iter().zip(pass_sig).zip(score_sig) {
        let config = suites.iter().find(|c| c.suite == s.name);
        let (pass_rate, score) = if base.is_none() {
            let why = "no baseline: give a base revision or a base results file to compare";
            (
                Significance::no_baseline(0.0, why),
                Significance::no_baseline(0.0, why),
            )
        } else {
            (pass_rate, score)
        };
        let comparison = s.comparison(config, gate, base.is_some(), pass_rate, score);
        gate_suite(&comparison, gate, budget_report.stopped, &mut decision);
        comparisons.push(comparison);
    }

    let changes = base
        .map(|_| scenario_changes(head, &base_by_key))
        .unwrap_or_default();

    let total_cost_usd: f64 = head.iter().map(|r| finite(r.cost_usd)).sum();
    let base_total_cost_usd = base.map(|b| b.iter().map(|r| finite(r.cost_usd)).sum());
    let spent_usd: f64 = head.iter().map(|r| finite(r.spent_usd)).sum();
    let eval_cost_usd: f64 = head
        .iter()
        .flat_map(|r| &r.samples)
        .map(|s| finite(s.eval_cost_usd))
        .sum();

    let paired_scenarios: usize = per_suite.iter().map(|s| s.pass.n).sum();
    let paired_head: f64 = per_suite.iter().map(|s| s.head_cost).sum();
    let paired_base: f64 = per_suite.iter().map(|s| s.base_cost).sum();
    let (cost_delta_usd, cost_delta_pct) = if base.is_some() && paired_scenarios > 0 {
        let delta = paired_head - paired_base;
        (
            Some(delta),
            (paired_base > 0.0).then(|| delta / paired_base * 100.0),
        )
    } else {
        (None, None)
    };
    if let Some(delta) = cost_delta_usd {
        gate_cost(
            delta,
            cost_delta_pct,
            paired_base,
            paired_head,
            paired_scenarios,
            budget,
            &mut decision,
        );
    }
    gate_budget(&budget_report, &mut decision);
    gate_errors_and_skips(head, &budget_report, gate, &mut decision);

    Verdict {
        suites: comparisons,
        changes,
        budget: budget_report,
        gate: decision,
        total_cost_usd,
        base_total_cost_usd,
        spent_usd,
        eval_cost_usd,
        tolerance: gate.tolerance,
        alpha: gate.alpha,
        cost_delta_usd,
        cost_delta_pct,
    }
}

/// Suites in the order of the configuration, then any other suite head has results for.
fn suite_order(head: &[ScenarioResult], suites: &[SuiteGateConfig]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for c in suites {
        if head.iter().any(|r| r.suite == c.suite) && !names.contains(&c.suite) {
            names.push(c.suite.clone());
        }
    }
    for r in head {
        if !names.contains(&r.suite) {
            names.push(r.suite.clone());
        }
    }
    names
}

fn evaluated(r: &ScenarioResult) -> bool {
    matches!(r.status, ScenarioStatus::Passed | ScenarioStatus::Failed)
}

/// A scenario's pass as a number: the share of its evaluated samples that passed (its
/// pass, without repeats).
fn pass_value(r: &ScenarioResult) -> f64 {
    let samples: Vec<f64> = r
        .samples
        .iter()
        .filter(|s| s.output.is_some())
        .map(|s| if s.pass { 1.0 } else { 0.0 })
        .collect();
    if samples.len() <= 1 {
        if r.pass { 1.0 } else { 0.0 }
    } else {
        stats::cluster_mean(&samples)
    }
}

fn finite(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

/// One suite's results on both sides and their pairs.
struct SuitePairs<'a> {
    name: String,
    head: Vec<&'a ScenarioResult>,
    base: Vec<&'a ScenarioResult>,
    pass: Paired,
    score: Paired,
    /// Costs of the paired scenarios only.
    head_cost: f64,
    base_cost: f64,
}

impl<'a> SuitePairs<'a> {
    fn new(name: &str, head: Vec<&'a ScenarioResult>, base: Vec<&'a ScenarioResult>) -> Self {
        let base_by_id: HashMap<&str, &ScenarioResult> =
            base.iter().map(|r| (r.id.as_str(), *r)).collect();
        let mut pass_pairs = Vec::new();
        let mut score_pairs = Vec::new();
        let (mut head_cost, mut base_cost) = (0.0, 0.0);
        for h in head.iter().filter(|r| evaluated(r)) {
            let Some(b) = base_by_id.get(h.id.as_str()).filter(|b| evaluated(b)) else {
                continue;
            };
            pass_pairs.push((pass_value(b), pass_value(h)));
            score_pairs.push((finite(b.score), finite(h.score)));
            head_cost += finite(h.cost_usd);
            base_cost += finite(b.cost_usd);
        }
        SuitePairs {
            name: name.to_string(),
            head,
            base,
            pass: Paired::from_pairs(&pass_pairs),
            score: Paired::from_pairs(&score_pairs),
            head_cost,
            base_cost,
        }
    }

    fn comparison(
        &self,
        config: Option<&SuiteGateConfig>,
        gate: &GatePolicy,
        has_base: bool,
        pass_rate: Significance,
        score: Significance,
    ) -> SuiteComparison {
        let head = suite_stats(&self.name, &self.head);
        let base = (has_base && !self.base.is_empty()).then(|| suite_stats(&self.name, &self.base));
        let paired = self.pass.n;
        let (cost_delta_usd, cost_delta_pct) = if has_base && paired > 0 {
            let delta = self.head_cost - self.base_cost;
            (
                Some(delta),
                (self.base_cost > 0.0).then(|| delta / self.base_cost * 100.0),
            )
        } else {
            (None, None)
        };
        let cpr_delta = match (&base, head.cost_per_resolution) {
            (Some(b), Some(h)) => b.cost_per_resolution.map(|b| h - b),
            _ => None,
        };
        let gate_source = config
            .map(|c| c.gate_source.clone())
            .unwrap_or_else(|| gate_source(None));
        let mut threshold_checks = Vec::new();
        let pick = |own: Option<f64>, default: Option<f64>| match (own, config) {
            (Some(v), Some(c)) => Some((v, c.source.clone())),
            _ => default.map(|v| (v, gate_source.clone())),
        };
        // With no pass-rate threshold anywhere, every evaluated scenario must pass: a failing
        // scenario never leaves the gate green silently.
        let (required, source) = pick(config.and_then(|c| c.min_pass_rate), gate.min_pass_rate)
            .unwrap_or((1.0, BUILT_IN_PASS_RATE.to_string()));
        threshold_checks.push(threshold("min_pass_rate", required, head.pass_rate, source));
        if let Some((required, source)) =
            pick(config.and_then(|c| c.min_mean_score), gate.min_mean_score)
        {
            threshold_checks.push(threshold(
                "min_mean_score",
                required,
                head.mean_score,
                source,
            ));
        }
        SuiteComparison {
            suite: self.name.clone(),
            file: config
                .map(|c| c.file.clone())
                .or_else(|| self.head.first().map(|r| r.file.clone()))
                .unwrap_or_default(),
            base,
            head,
            paired,
            pass_rate,
            score,
            cost_delta_usd,
            cost_delta_pct,
            cpr_delta,
            threshold_checks,
        }
    }
}

fn threshold(name: &str, required: f64, actual: f64, source: String) -> ThresholdCheck {
    // A small allowance so 7/10 meets 0.7 despite rounding in sums of scores.
    ThresholdCheck {
        name: name.to_string(),
        required,
        actual,
        pass: actual + 1e-9 >= required,
        source,
    }
}

/// The policy text for a threshold: `gate.min_pass_rate = 0.8` or
/// `min_pass_rate = 0.5 (suite evals/capitals.toml)`.
fn threshold_policy(check: &ThresholdCheck) -> String {
    if check.source.starts_with("gate") {
        format!(
            "gate.{} = {} ({})",
            check.name,
            num(check.required),
            check.source
        )
    } else {
        format!(
            "{} = {} ({})",
            check.name,
            num(check.required),
            check.source
        )
    }
}

fn gate_suite(
    c: &SuiteComparison,
    gate: &GatePolicy,
    budget_stopped: bool,
    decision: &mut GateDecision,
) {
    let evaluated = c.head.passed + c.head.failed;
    // A suite that provider errors or the budget cap left with nothing evaluated is decided
    // by that reason (which fails the gate on its own), not by a threshold over zero
    // scenarios. Skips for other reasons (offline, nothing recorded) still fail thresholds.
    let skip_thresholds =
        evaluated == 0 && (c.head.errors > 0 || (budget_stopped && c.head.skipped > 0));
    for check in c
        .threshold_checks
        .iter()
        .filter(|t| !t.pass && !skip_thresholds)
    {
        let message = match check.name.as_str() {
            _ if evaluated == 0 => format!(
                "{}: no scenario was evaluated ({} skipped), so {} {} is not met",
                c.suite,
                c.head.skipped,
                check.name,
                num(check.required)
            ),
            "min_pass_rate" => format!(
                "{}: pass rate {:.2} ({} of {} evaluated scenarios passed) is below min_pass_rate {}",
                c.suite,
                check.actual,
                c.head.passed,
                evaluated,
                num(check.required)
            ),
            _ => format!(
                "{}: mean score {:.2} (over {} evaluated scenarios) is below {} {}",
                c.suite,
                check.actual,
                evaluated,
                check.name,
                num(check.required)
            ),
        };
        decision.push(GateReason {
            kind: GateReasonKind::Threshold,
            level: GateLevel::Fail,
            message,
            policy: threshold_policy(check),
        });
    }
    let policy = format!(
        "gate.tolerance = {}, gate.alpha = {}",
        num(gate.tolerance),
        num(gate.alpha)
    );
    let mut regressed = false;
    for sig in [&c.pass_rate, &c.score] {
        if sig.status == ChangeStatus::Regressed {
            regressed = true;
            decision.push(GateReason {
                kind: GateReasonKind::Regression,
                level: GateLevel::Fail,
                message: format!("{}: {} [{}]", c.suite, sig.explanation, sig.method),
                policy: policy.clone(),
            });
        }
    }
    // Only a drop the suite is too small to confirm deserves a warning; an inconclusive
    // "no change" on every pull request would be noise.
    let inconclusive = [&c.pass_rate, &c.score]
        .into_iter()
        .find(|s| s.status == ChangeStatus::Inconclusive && s.delta < -1e-12);
    if let Some(sig) = inconclusive.filter(|_| !regressed) {
        decision.push(GateReason {
            kind: GateReasonKind::Regression,
            level: GateLevel::Warn,
            message: format!("{}: inconclusive: {}", c.suite, sig.explanation),
            policy: format!("gate.tolerance = {}", num(gate.tolerance)),
        });
    }
}

fn gate_cost(
    delta: f64,
    pct: Option<f64>,
    base: f64,
    head: f64,
    paired: usize,
    budget: &BudgetPolicy,
    decision: &mut GateDecision,
) {
    let what = format!(
        "on {paired} scenarios run on both sides ({} -> {})",
        usd(base),
        usd(head)
    );
    match pct {
        Some(pct) => {
            let limit = [
                (
                    budget.max_cost_increase_pct,
                    GateLevel::Fail,
                    "budget.max_cost_increase_pct",
                ),
                (
                    budget.warn_cost_increase_pct,
                    GateLevel::Warn,
                    "budget.warn_cost_increase_pct",
                ),
            ]
            .into_iter()
            .find_map(|(limit, level, key)| limit.filter(|l| pct > *l).map(|l| (l, level, key)));
            if let Some((l, level, key)) = limit {
                decision.push(GateReason {
                    kind: GateReasonKind::CostIncrease,
                    level,
                    message: format!("cost rose {pct:.1}% {what}, above {}%", num(l)),
                    policy: format!("{key} = {}", num(l)),
                });
            }
        }
        None if delta > 0.0 => {
            if let Some((l, key)) = budget
                .max_cost_increase_pct
                .map(|l| (l, "budget.max_cost_increase_pct"))
                .or(budget
                    .warn_cost_increase_pct
                    .map(|l| (l, "budget.warn_cost_increase_pct")))
            {
                decision.push(GateReason {
                    kind: GateReasonKind::CostIncrease,
                    level: GateLevel::Warn,
                    message: format!(
                        "cost rose from nothing {what}: a percent increase is undefined"
                    ),
                    policy: format!("{key} = {}", num(l)),
                });
            }
        }
        None => {}
    }
    let limit = [
        (
            budget.max_cost_increase_usd,
            GateLevel::Fail,
            "budget.max_cost_increase_usd",
        ),
        (
            budget.warn_cost_increase_usd,
            GateLevel::Warn,
            "budget.warn_cost_increase_usd",
        ),
    ]
    .into_iter()
    .find_map(|(limit, level, key)| limit.filter(|l| delta > *l).map(|l| (l, level, key)));
    if let Some((l, level, key)) = limit {
        decision.push(GateReason {
            kind: GateReasonKind::CostIncrease,
            level,
            message: format!("cost rose {} {what}, above {}", usd(delta), usd(l)),
            policy: format!("{key} = {}", num(l)),
        });
    }
}

fn gate_budget(report: &BudgetReport, decision: &mut GateDecision) {
    // Name the caps that actually refused calls; a run cap alone names itself.
    let policy = if !report.caps_hit.is_empty() {
        report.caps_hit.join(", ")
    } else {
        match report.max_run_usd {
            Some(cap) => format!("budget.max_run_usd = {}", num(cap)),
            None => "max_usd of the suite".to_string(),
        }
    };
    if report.stopped || !report.not_run.is_empty() {
        let names: Vec<String> = report
            .not_run
            .iter()
            .map(|(s, id)| format!("{s}/{id}"))
            .collect();
        // The run cap's amount only when the run cap is what refused (a suite cap's own
        // amount is in `policy`).
        let run_cap_hit = report.caps_hit.is_empty()
            || report
                .caps_hit
                .iter()
                .any(|c| c.starts_with("budget.max_run_usd"));
        let cap = report
            .max_run_usd
            .filter(|_| run_cap_hit)
            .map(|c| format!(" of {}", usd(c)))
            .unwrap_or_default();
        decision.push(GateReason {
            kind: GateReasonKind::Budget,
            level: GateLevel::Fail,
            message: format!(
                "budget cap reached: spent {}{cap}; {} scenario{} not run{}",
                usd(report.spent_usd),
                names.len(),
                if names.len() == 1 { "" } else { "s" },
                listing(&names)
            ),
            policy,
        });
    } else if let Some(cap) = report
        .max_run_usd
        .filter(|cap| report.spent_usd > *cap + 1e-12)
    {
        decision.push(GateReason {
            kind: GateReasonKind::Budget,
            level: GateLevel::Fail,
            message: format!(
                "spent {}, over the cap of {}",
                usd(report.spent_usd),
                usd(cap)
            ),
            policy,
        });
    }
}

fn gate_errors_and_skips(
    head: &[ScenarioResult],
    report: &BudgetReport,
    gate: &GatePolicy,
    decision: &mut GateDecision,
) {
    let errors: Vec<String> = head
        .iter()
        .filter(|r| r.status == ScenarioStatus::Error)
        .map(|r| {
            let why = r
                .error_cause()
                .map_or_else(|| "provider error".to_string(), |c| c.to_string());
            format!("{}/{} ({})", r.suite, r.id, single_line(&why, 60))
        })
        .collect();
    if !errors.is_empty() {
        decision.push(GateReason {
            kind: GateReasonKind::ProviderErrors,
            level: if gate.fail_on_error {
                GateLevel::Fail
            } else {
                GateLevel::Warn
            },
            message: format!(
                "{} scenario{} could not be evaluated because the provider or a judge failed{}",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" },
                listing(&errors)
            ),
            policy: format!("gate.fail_on_error = {}", gate.fail_on_error),
        });
    }
    let not_run: HashSet<(&str, &str)> = report
        .not_run
        .iter()
        .map(|(s, id)| (s.as_str(), id.as_str()))
        .collect();
    let skipped: Vec<String> = head
        .iter()
        .filter(|r| {
            r.status == ScenarioStatus::Skipped
                && !not_run.contains(&(r.suite.as_str(), r.id.as_str()))
        })
        .map(|r| format!("{}/{}", r.suite, r.id))
        .collect();
    if !skipped.is_empty() {
        decision.push(GateReason {
            kind: GateReasonKind::Skipped,
            level: GateLevel::Warn,
            message: format!(
                "{} scenario{} skipped: no recorded output, and --offline or --affected-since kept {} from calling the model{}",
                skipped.len(),
                if skipped.len() == 1 { " was" } else { "s were" },
                if skipped.len() == 1 { "it" } else { "them" },
                listing(&skipped)
            ),
            policy: "--offline / --affected-since (run without them to record)".to_string(),
        });
    }
}

/// `: a, b, c (+4 more)`.
fn listing(names: &[String]) -> String {
    if names.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = names
        .iter()
        .take(NAMED_IN_REASON)
        .map(String::as_str)
        .collect();
    let more = names.len().saturating_sub(NAMED_IN_REASON);
    let more = if more > 0 {
        format!(" (+{more} more)")
    } else {
        String::new()
    };
    format!(": {}{more}", shown.join(", "))
}

fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

/// Per-scenario changes against the baseline, newly failing first.
fn scenario_changes(
    head: &[ScenarioResult],
    base_by_key: &HashMap<(&str, &str), &ScenarioResult>,
) -> Vec<ScenarioChange> {
    let mut changes = Vec::new();
    let mut head_keys = HashSet::new();
    for h in head {
        head_keys.insert((h.suite.as_str(), h.id.as_str()));
        if !evaluated(h) {
            continue;
        }
        let b = base_by_key.get(&(h.suite.as_str(), h.id.as_str())).copied();
        let kind = match b {
            None => ChangeKind::New,
            Some(b) if !evaluated(b) => ChangeKind::New,
            Some(b) => match (b.pass, h.pass) {
                (true, false) => ChangeKind::NewlyFailing,
                (false, true) => ChangeKind::NewlyPassing,
                (false, false) => ChangeKind::StillFailing,
                (true, true) if b.output() != h.output() => ChangeKind::OutputChanged,
                (true, true) => continue,
            },
        };
        let b = b.filter(|b| evaluated(b));
        changes.push(ScenarioChange {
            suite: h.suite.clone(),
            id: h.id.clone(),
            file: h.file.clone(),
            line: h.line,
            kind,
            base_pass: b.map(|b| b.pass),
            head_pass: Some(h.pass),
            base_score: b.map(|b| b.score),
            head_score: Some(h.score),
            base_cost: b.map(|b| b.cost_usd),
            head_cost: Some(h.cost_usd),
            reason: if h.pass {
                String::new()
            } else {
                first_failure(h)
            },
        });
    }
    let mut removed: Vec<&ScenarioResult> = base_by_key
        .values()
        .copied()
        .filter(|b| !head_keys.contains(&(b.suite.as_str(), b.id.as_str())))
        .collect();
    removed.sort_by(|a, b| (&a.suite, &a.id).cmp(&(&b.suite, &b.id)));
    for b in removed {
        changes.push(ScenarioChange {
            suite: b.suite.clone(),
            id: b.id.clone(),
            file: b.file.clone(),
            line: b.line,
            kind: ChangeKind::Removed,
            base_pass: evaluated(b).then_some(b.pass),
            head_pass: None,
            base_score: evaluated(b).then_some(b.score),
            head_score: None,
            base_cost: Some(b.cost_usd),
            head_cost: None,
            reason: String::new(),
        });
    }
    changes.sort_by(|a, b| (a.kind, &a.suite, &a.id).cmp(&(b.kind, &b.suite, &b.id)));
    changes
}

/// The first reason a failing scenario failed: a sample's error, else its first failed
/// weighted (or errored) check, else its score under the threshold.
fn first_failure(r: &ScenarioResult) -> String {
    for s in &r.samples {
        if let Some(e) = &s.error {
            return single_line(e, 200);
        }
        if let Some(c) = s
            .checks
            .iter()
            .find(|c| c.error.is_some() || (!c.pass && c.weight > 0.0))
        {
            return format!("{}: {}", c.kind, c.reason);
        }
    }
    match r.threshold {
        Some(t) => format!(
            "weighted score {:.2} is below the scenario threshold {}",
            r.score,
            num(t)
        ),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Usage;
    use crate::runner::{CheckResult, OutputSource, SampleResult};

    fn result(suite: &str, id: &str, pass: bool, cost: f64) -> ScenarioResult {
        let check = CheckResult {
            kind: "icontains".into(),
            pass,
            score: if pass { 1.0 } else { 0.0 },
            weight: 1.0,
            reason: if pass {
                "ok".into()
            } else {
                "expected to contain \"paris\", got \"Lyon\"".into()
            },
            error: None,
        };
        let output = if pass { "Paris" } else { "Lyon" };
        ScenarioResult {
            suite: suite.into(),
            id: id.into(),
            file: format!("evals/{suite}.toml"),
            line: 3,
            provider: "local".into(),
            status: if pass {
                ScenarioStatus::Passed
            } else {
                ScenarioStatus::Failed
            },
            pass,
            score: if pass { 1.0 } else { 0.0 },
            threshold: None,
            flaky: false,
            usage: Usage {
                input_tokens: 10,
                output_tokens: 2,
            },
            cost_usd: cost,
            spent_usd: cost,
            latency_ms: 5,
            assertions_fingerprint: String::new(),
            samples: vec![SampleResult {
                repeat: 0,
                fingerprint: String::new(),
                source: OutputSource::Called,
                output: Some(output.into()),
                model: None,
                usage: Usage {
                    input_tokens: 10,
                    output_tokens: 2,
                },
                cost_usd: cost,
                spent_usd: cost,
                spent_estimated: false,
                latency_ms: 5,
                checks: vec![check],
                score: if pass { 1.0 } else { 0.0 },
                pass,
                error: None,
                eval_usage: Usage::default(),
                eval_cost_usd: 0.0,
            }],
            seq: 0,
            outputs_released: false,
        }
    }

    fn errored(suite: &str, id: &str) -> ScenarioResult {
        let mut r = result(suite, id, false, 0.0);
        r.status = ScenarioStatus::Error;
        r.samples[0].output = None;
        r.samples[0].checks.clear();
        r.samples[0].error = Some("connection refused".into());
        r
    }

    fn suite(pass: &[bool], name: &str, cost: f64) -> Vec<ScenarioResult> {
        pass.iter()
            .enumerate()
            .map(|(i, p)| result(name, &format!("s{i:03}"), *p, cost))
            .collect()
    }

    fn config(name: &str, min_pass_rate: Option<f64>) -> SuiteGateConfig {
        SuiteGateConfig {
            suite: name.into(),
            file: format!("evals/{name}.toml"),
            min_pass_rate,
            min_mean_score: None,
            source: format!("suite evals/{name}.toml"),
            gate_source: "gate in evalgit.toml".into(),
        }
    }

    /// The regression machinery alone: a pass-rate threshold of 0 so that only the comparison
    /// with the baseline can fail the gate.
    fn run(head: &[ScenarioResult], base: Option<&[ScenarioResult]>) -> Verdict {
        decide(
            head,
            base,
            &[],
            &GatePolicy {
                min_pass_rate: Some(0.0),
                ..GatePolicy::default()
            },
            &BudgetPolicy::default(),
            BudgetReport::default(),
        )
    }

    // Regression: with no `min_pass_rate` anywhere, a suite whose scenarios all failed
    // printed "gate: passed" and exited 0.
    #[test]
    fn without_any_threshold_every_scenario_must_pass() {
        let head = suite(&[true, false], "capitals", 0.0);
        let v = decide(
            &head,
            None,
            &[],
            &GatePolicy::default(),
            &BudgetPolicy::default(),
            BudgetReport::default(),
        );
        assert!(!v.gate.pass);
        let reason = v.gate.failures().next().expect("a reason");
        assert!(
            reason.policy.contains("built-in default"),
            "{}",
            reason.policy
        );
        let all_pass = suite(&[true, true], "capitals", 0.0);
        let v = decide(
            &all_pass,
            None,
            &[],
            &GatePolicy::default(),
            &BudgetPolicy::default(),
            BudgetReport::default(),
        );
        assert!(v.gate.pass);
    }

    #[test]
    fn thresholds_suite_override_beats_gate_default() {
        let head = suite(&[true, true, false, false], "capitals", 0.001);
        let gate = GatePolicy {
            min_pass_rate: Some(0.8),
            min_mean_score: Some(0.4),
            ..GatePolicy::default()
        };
        let v = decide(
            &head,
            None,
            &[config("capitals", Some(0.5))],
            &gate,
            &BudgetPolicy::default(),
            BudgetReport::default(),
        );
        let checks = &v.suites[0].threshold_checks;
        assert_eq!(checks[0].name, "min_pass_rate");
        assert_eq!(
            (checks[0].required, checks[0].actual, checks[0].pass),
            (0.5, 0.5, true)
        );
        assert_eq!(checks[0].source, "suite evals/capitals.toml");
        assert_eq!(checks[1].source, "gate in evalgit.toml");
        assert!(checks[1].pass);
        assert!(v.gate.pass, "{:?}", v.gate);
        let v = decide(
            &head,
            None,
            &[config("capitals", None)],
            &gate,
            &BudgetPolicy::default(),
            BudgetReport::default(),
        );
        assert!(!v.gate.pass);
        let reason = &v.gate.reasons[0];
        assert_eq!(reason.kind, GateReasonKind::Threshold);
        assert_eq!(
            reason.message,
            "capitals: pass rate 0.50 (2 of 4 evaluated scenarios passed) is below min_pass_rate 0.8"
        );
        assert_eq!(
            reason.policy,
            "gate.min_pass_rate = 0.8 (gate in evalgit.toml)"
        );
        assert_eq!(v.exit_code(), crate::ExitCode::GateFailed);
    }

    #[test]
    fn no_baseline_passes_without_comparisons() {
        let head = suite(&[true, false], "capitals", 0.0);
        let v = run(&head, None);
        assert!(v.gate.pass);
        assert_eq!(v.suites[0].pass_rate.status, ChangeStatus::NoBaseline);
        assert!(v.changes.is_empty());
        assert_eq!(v.base_total_cost_usd, None);
        assert_eq!(v.exit_code(), crate::ExitCode::Passed);
    }

    #[test]
    fn a_clear_regression_fails_and_names_the_policy() {
        let base = suite(&[true; 40], "capitals", 0.001);
        let mut pattern = vec![true; 40];
        for p in pattern.iter_mut().take(12) {
            *p = false;
        }
        let head = suite(&pattern, "capitals", 0.001);
        let v = run(&head, Some(&base));
        assert!(!v.gate.pass);
        let c = &v.suites[0];
        assert_eq!(c.paired, 40);
        assert_eq!(
            c.pass_rate.status,
            ChangeStatus::Regressed,
            "{}",
            c.pass_rate.explanation
        );
        let reason = v
            .gate
            .failures()
            .find(|r| r.kind == GateReasonKind::Regression)
            .expect("a regression reason");
        assert_eq!(reason.policy, "gate.tolerance = 0.05, gate.alpha = 0.05");
        assert!(
            reason
                .message
                .starts_with("capitals: pass rate fell 30.0 points"),
            "{}",
            reason.message
        );
        let newly: Vec<&ScenarioChange> = v
            .changes
            .iter()
            .filter(|c| c.kind == ChangeKind::NewlyFailing)
            .collect();
        assert_eq!(newly.len(), 12);
        assert_eq!(
            newly[0].reason,
            "icontains: expected to contain \"paris\", got \"Lyon\""
        );
        assert_eq!(
            v.changes[0].kind,
            ChangeKind::NewlyFailing,
            "newly failing come first"
        );
    }

    #[test]
    fn newly_failing_are_listed_even_when_the_suite_does_not_regress() {
        let base = suite(&[true, true, true], "capitals", 0.0);
        let head = suite(&[true, false, true], "capitals", 0.0);
        let v = run(&head, Some(&base));
        assert!(v.gate.pass, "one flip on three scenarios cannot block");
        assert_eq!(v.suites[0].pass_rate.status, ChangeStatus::Inconclusive);
        assert_eq!(v.changes.len(), 1);
        assert_eq!(
            (v.changes[0].kind, v.changes[0].id.as_str()),
            (ChangeKind::NewlyFailing, "s001")
        );
        let warn = v.gate.warnings().next().expect("an inconclusive warning");
        assert!(warn.message.contains("inconclusive"), "{}", warn.message);
        assert_eq!(warn.policy, "gate.tolerance = 0.05");
    }

    #[test]
    fn changes_new_removed_output_and_still_failing() {
        let mut base = suite(&[true, false, true, true], "capitals", 0.0);
        base[3].id = "gone".into();
        let mut head = suite(&[true, false, true, false], "capitals", 0.0);
        head[3].id = "fresh".into();
        head[0].samples[0].output = Some("PARIS!".into());
        let mut other_base = suite(&[true], "other", 0.0);
        other_base[0].id = "not-in-head".into();
        let mut all_base = base.clone();
        all_base.extend(other_base);
        let v = run(&head, Some(&all_base));
        let kinds: Vec<(ChangeKind, &str)> =
            v.changes.iter().map(|c| (c.kind, c.id.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (ChangeKind::OutputChanged, "s000"),
                (ChangeKind::New, "fresh"),
                (ChangeKind::Removed, "gone"),
                (ChangeKind::Removed, "not-in-head"),
                (ChangeKind::StillFailing, "s001"),
            ]
        );
        // Regression: a suite file deleted on the branch vanished from `diff`; its scenarios
        // are listed as removed (but it has no comparison row: there is nothing on head).
        assert_eq!(v.suites.len(), 1);
    }

    #[test]
    fn cost_gate_percent_and_dollars_warn_and_fail() {
        let base = suite(&[true; 10], "capitals", 0.010);
        let head = suite(&[true; 10], "capitals", 0.012); // +20 %, +$0.02 in total
        let cases = [
            (
                BudgetPolicy {
                    max_cost_increase_pct: Some(10.0),
                    ..Default::default()
                },
                false,
                "budget.max_cost_increase_pct = 10",
            ),
            (
                BudgetPolicy {
                    max_cost_increase_pct: Some(25.0),
                    warn_cost_increase_pct: Some(10.0),
                    ..Default::default()
                },
                true,
                "budget.warn_cost_increase_pct = 10",
            ),
            (
                BudgetPolicy {
                    max_cost_increase_usd: Some(0.01),
                    ..Default::default()
                },
                false,
                "budget.max_cost_increase_usd = 0.01",
            ),
            (
                BudgetPolicy {
                    warn_cost_increase_usd: Some(0.01),
                    max_cost_increase_usd: Some(0.05),
                    ..Default::default()
                },
                true,
                "budget.warn_cost_increase_usd = 0.01",
            ),
        ];
        for (budget, pass, policy) in cases {
            let v = decide(
                &head,
                Some(&base),
                &[],
                &GatePolicy::default(),
                &budget,
                BudgetReport::default(),
            );
            assert_eq!(v.gate.pass, pass, "{policy}: {:?}", v.gate);
            let r = v
                .gate
                .reasons
                .iter()
                .find(|r| r.kind == GateReasonKind::CostIncrease)
                .expect("a cost reason");
            assert_eq!(r.policy, policy);
            assert!(r.message.starts_with("cost rose"), "{}", r.message);
        }
        let v = decide(
            &head,
            Some(&base),
            &[],
            &GatePolicy::default(),
            &BudgetPolicy {
                max_cost_increase_pct: Some(30.0),
                ..Default::default()
            },
            BudgetReport::default(),
        );
        assert!(
            v.gate
                .reasons
                .iter()
                .all(|r| r.kind != GateReasonKind::CostIncrease)
        );
        assert!((v.cost_delta_pct.unwrap_or_default() - 20.0).abs() < 1e-9);
        let c = &v.suites[0];
        assert!((c.cpr_delta.unwrap_or_default() - 0.002).abs() < 1e-12);
        assert!((c.cost_delta_usd.unwrap_or_default() - 0.02).abs() < 1e-12);
    }

    // Regression: a suite's `max_usd` stopping calls was blamed on `budget.max_run_usd`.
    #[test]
    fn budget_reason_names_the_cap_that_refused() {
        let head = suite(&[true], "extract", 0.0);
        let report = BudgetReport {
            max_run_usd: Some(1.0),
            spent_usd: 0.0001,
            stopped: true,
            not_run: vec![("extract".into(), "a".into())],
            caps_hit: vec!["max_usd = 0.0005 (suite `extract`)".into()],
        };
        let v = decide(
            &head,
            None,
            &[],
            &GatePolicy::default(),
            &BudgetPolicy::default(),
            report,
        );
        let reason = v
            .gate
            .failures()
            .find(|r| r.kind == GateReasonKind::Budget)
            .expect("budget reason");
        assert_eq!(reason.policy, "max_usd = 0.0005 (suite `extract`)");
    }

    #[test]
    fn budget_stop_fails_and_lists_what_was_not_run() {
        let head = suite(&[true, true], "capitals", 0.4);
        let report = BudgetReport {
            max_run_usd: Some(1.0),
            spent_usd: 0.8,
            stopped: true,
            not_run: (0..7)
                .map(|i| ("capitals".to_string(), format!("x{i}")))
                .collect(),
            caps_hit: Vec::new(),
        };
        let v = decide(
            &head,
            None,
            &[],
            &GatePolicy::default(),
            &BudgetPolicy::default(),
            report,
        );
        assert!(!v.gate.pass);
        let r = &v.gate.reasons[0];
        assert_eq!(r.kind, GateReasonKind::Budget);
        assert_eq!(r.policy, "budget.max_run_usd = 1");
        assert_eq!(
            r.message,
            "budget cap reached: spent $0.8 of $1; 7 scenarios not run: capitals/x0, capitals/x1, capitals/x2, capitals/x3, capitals/x4 (+2 more)"
        );
    }

    #[test]
    fn provider_errors_fail_by_default_and_warn_when_allowed() {
        let mut head = suite(&[true], "capitals", 0.0);
        head.push(errored("capitals", "tokyo"));
        let v = run(&head, None);
        assert!(!v.gate.pass);
        assert_eq!(v.exit_code(), crate::ExitCode::ProviderErrors);
        let r = &v.gate.reasons[0];
        assert_eq!(r.policy, "gate.fail_on_error = true");
        assert_eq!(
            r.message,
            "1 scenario could not be evaluated because the provider or a judge failed: capitals/tokyo (connection refused)"
        );
        let lenient = GatePolicy {
            fail_on_error: false,
            ..GatePolicy::default()
        };
        let v = decide(
            &head,
            None,
            &[],
            &lenient,
            &BudgetPolicy::default(),
            BudgetReport::default(),
        );
        assert!(v.gate.pass);
        assert_eq!(v.gate.reasons[0].level, GateLevel::Warn);
        // A threshold failure next to provider errors is a gate failure (exit 1).
        let gate = GatePolicy {
            min_pass_rate: Some(1.0),
            ..GatePolicy::default()
        };
        let mut failing = head.clone();
        failing.push(result("capitals", "rome", false, 0.0));
        let v = decide(
            &failing,
            None,
            &[],
            &gate,
            &BudgetPolicy::default(),
            BudgetReport::default(),
        );
        assert_eq!(v.exit_code(), crate::ExitCode::GateFailed);
    }

    #[test]
    fn empty_and_degenerate_inputs() {
        let v = run(&[], None);
        assert!(v.gate.pass);
        assert!(v.suites.is_empty());
        let v = run(&[], Some(&[]));
        assert!(v.gate.pass);
        // All fail on both sides, one scenario, everything errored: defined, no NaN.
        for head in [
            suite(&[false; 5], "a", 0.0),
            suite(&[true], "a", 0.0),
            vec![errored("a", "x")],
        ] {
            let v = run(&head, Some(&head));
            let json = serde_json::to_string(&v).expect("serializes");
            // NaN would serialize as null and fail to read back into an f64.
            assert!(!json.contains("NaN"), "{json}");
            let back: Verdict = serde_json::from_str(&json).expect("round-trips");
            assert_eq!(back, v);
        }
    }

    #[test]
    fn repeats_are_clustered_by_scenario() {
        // Two scenarios with three samples each: pass shares 2/3 and 1/3 on base, 1/3 and 0
        // on head.
        let with_samples = |id: &str, passes: &[bool]| {
            let mut r = result(
                "rep",
                id,
                passes.iter().filter(|p| **p).count() * 2 > passes.len(),
                0.0,
            );
            let template = r.samples[0].clone();
            r.samples = passes
                .iter()
                .enumerate()
                .map(|(i, p)| SampleResult {
                    repeat: i as u32,
                    pass: *p,
                    score: if *p { 1.0 } else { 0.0 },
                    ..template.clone()
                })
                .collect();
            r.score = passes.iter().filter(|p| **p).count() as f64 / passes.len() as f64;
            r
        };
        let base = vec![
            with_samples("a", &[true, true, false]),
            with_samples("b", &[true, false, false]),
        ];
        let head = vec![
            with_samples("a", &[true, false, false]),
            with_samples("b", &[false, false, false]),
        ];
        let v = run(&head, Some(&base));
        let c = &v.suites[0];
        assert_eq!(c.paired, 2);
        assert!(
            (c.pass_rate.delta + 1.0 / 3.0).abs() < 1e-12,
            "{}",
            c.pass_rate.delta
        );
        assert_eq!(c.pass_rate.std_error, Some(0.0));
        assert_eq!(c.head.k, Some(3));
    }

    /// 200 scenarios, each with its own true pass probability; base and head sampled
    /// independently. Same system: blocked in at most ~5 % of seeded runs (we allow 8 %).
    /// Head 20 points worse on every scenario: caught in at least 90 %.
    #[test]
    fn seeded_simulation_blocks_noise_rarely_and_catches_a_20_point_drop() {
        const RUNS: usize = 200;
        const SCENARIOS: usize = 200;
        let mut rng = fastrand::Rng::with_seed(20_261_203);
        let (mut noise_blocked, mut drop_caught) = (0, 0);
        for _ in 0..RUNS {
            let probs: Vec<f64> = (0..SCENARIOS).map(|_| 0.2 + 0.8 * rng.f64()).collect();
            let draw = |rng: &mut fastrand::Rng, shift: f64| -> Vec<bool> {
                probs.iter().map(|p| rng.f64() < p - shift).collect()
            };
            let base = suite(&draw(&mut rng, 0.0), "sim", 0.0);
            let same = suite(&draw(&mut rng, 0.0), "sim", 0.0);
            let worse = suite(&draw(&mut rng, 0.2), "sim", 0.0);
            if !run(&same, Some(&base)).gate.pass {
                noise_blocked += 1;
            }
            if !run(&worse, Some(&base)).gate.pass {
                drop_caught += 1;
            }
        }
        assert!(
            noise_blocked * 100 <= 8 * RUNS,
            "noise blocked {noise_blocked} of {RUNS} runs"
        );
        assert!(
            drop_caught * 100 >= 90 * RUNS,
            "a 20-point drop caught in only {drop_caught} of {RUNS} runs"
        );
    }
}
