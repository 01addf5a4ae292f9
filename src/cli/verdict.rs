//! Building the verdict and its Markdown from results, shared by `run`, `diff`, `merge` and
//! `report`.

use std::collections::HashMap;

use crate::config::{BudgetPolicy, GatePolicy, Project};
use crate::policy::{self, BudgetReport, SuiteGateConfig, Verdict};
use crate::runner::ScenarioResult;

/// The verdict for head results (and a baseline, when there is one) under the project's
/// gate and budget policy.
pub fn verdict_for(
    project: &Project,
    head: &[ScenarioResult],
    base: Option<&[ScenarioResult]>,
    budget: BudgetReport,
) -> Verdict {
    let suites: Vec<SuiteGateConfig> = project
        .suites
        .iter()
        .map(|s| SuiteGateConfig::from_suite(s, &project.settings))
        .collect();
    policy::decide(
        head,
        base,
        &suites,
        &project.settings.gate,
        &project.settings.budget,
        budget,
    )
}

/// The verdict when no project configuration is at hand (default gate policy).
pub fn verdict_from_results(
    head: &[ScenarioResult],
    base: Option<&[ScenarioResult]>,
    budget: BudgetReport,
) -> Verdict {
    policy::decide(
        head,
        base,
        &[],
        &GatePolicy::default(),
        &BudgetPolicy::default(),
        budget,
    )
}

/// Results in project order (suite file order, then scenario order), unknown ones last by key.
pub fn order_results_in(
    project: Option<&Project>,
    mut results: Vec<ScenarioResult>,
) -> Vec<ScenarioResult> {
    let order: HashMap<(String, String), (usize, usize)> = match project {
        Some(p) => p
            .suites
            .iter()
            .enumerate()
            .flat_map(|(si, s)| {
                s.scenarios
                    .iter()
                    .enumerate()
                    .map(move |(ci, c)| ((s.name.clone(), c.id.clone()), (si, ci)))
            })
            .collect(),
        None => HashMap::new(),
    };
    results.sort_by(|a, b| {
        let ka = order
            .get(&a.key())
            .copied()
            .unwrap_or((usize::MAX, usize::MAX));
        let kb = order
            .get(&b.key())
            .copied()
            .unwrap_or((usize::MAX, usize::MAX));
        ka.cmp(&kb).then_with(|| a.key().cmp(&b.key()))
    });
    results
}

/// Unified diffs of outputs that changed between base and head, for the comment.
pub fn output_diffs(
    base: Option<&[ScenarioResult]>,
    head: &[ScenarioResult],
) -> Vec<(String, String)> {
    let Some(base) = base else { return Vec::new() };
    let base_by: HashMap<(String, String), &ScenarioResult> =
        base.iter().map(|r| (r.key(), r)).collect();
    let mut out = Vec::new();
    for h in head {
        let Some(b) = base_by.get(&h.key()) else {
            continue;
        };
        let (Some(old), Some(new)) = (b.output(), h.output()) else {
            continue;
        };
        if old == new {
            continue;
        }
        let diff = similar::TextDiff::from_lines(old, new);
        let text = diff
            .unified_diff()
            .context_radius(3)
            .header("base", "head")
            .to_string();
        out.push((format!("{}/{}", h.suite, h.id), text));
    }
    out
}

/// The Markdown report (the PR comment body).
pub fn markdown(verdict: &Verdict, diffs: Vec<(String, String)>, tag: &str) -> String {
    let opts = crate::report::CommentOptions {
        tag: tag.to_string(),
        snapshot_diffs: diffs,
        ..Default::default()
    };
    crate::report::render_comment(verdict, &opts)
}

/// In GitHub Actions, what `run`, `diff` and `merge` all report: annotations on stdout (the
/// gate's reasons first, as GitHub shows only 10 per level, then each failing scenario on
/// its suite file line); the job summary, in the comment's layout but with the room of a
/// step summary, so what the comment had to leave out is there; the step outputs.
pub fn report_to_github(
    verdict: &Verdict,
    results: &[ScenarioResult],
    diffs: Vec<(String, String)>,
    code: crate::ExitCode,
) -> Result<(), crate::Error> {
    let gh = crate::github::GitHubEnv::from_env(&crate::github::env::process_env());
    if gh.in_actions {
        let mut annotations = crate::github::gate_annotations(verdict);
        annotations.extend(crate::github::scenario_annotations(results));
        print!("{}", crate::github::render_annotations(&annotations));
    }
    if let Some(path) = &gh.step_summary {
        let opts = crate::report::CommentOptions::summary("evalgit", diffs);
        let body = crate::report::render_summary(
            verdict,
            &opts,
            crate::github::summary::MAX_STEP_SUMMARY_BYTES,
        );
        crate::github::append_step_summary(path, &body)?;
    }
    if let Some(path) = &gh.output {
        let outputs = crate::github::verdict_outputs(verdict, super::run_cmd::verdict_word(code));
        let outputs: Vec<(&str, &str)> = outputs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        crate::github::write_outputs(path, &outputs)?;
    }
    Ok(())
}

/// An interrupted run fails the gate, saying how much was not run.
pub fn note_interrupted(verdict: &mut Verdict, outcome: &crate::runner::RunOutcome) {
    if outcome.interrupted {
        verdict.gate.push(crate::policy::GateReason {
            kind: crate::policy::GateReasonKind::Interrupted,
            level: crate::policy::GateLevel::Fail,
            message: format!(
                "interrupted: {} scenario(s) finished and were saved, {} not run",
                outcome.results.len(),
                outcome.unfinished
            ),
            policy: "a run must finish to pass".into(),
        });
    }
}
