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

/// What [`note_incomplete`] needs of one results file read back.
pub struct ResultsInput<'a> {
    pub path: &'a std::path::Path,
    pub run: Option<&'a crate::runner::RunInfo>,
    pub summary: Option<&'a crate::report::results_file::RunSummary>,
    /// Scenario records in the file.
    pub recorded: usize,
}

/// Fails the gate when results read back from files do not hold a whole run: a run that was
/// interrupted or killed (no summary line, fewer scenarios than it announced), or shards of
/// one split with some missing; and carries over the snapshot-check failures the runs
/// recorded in their summaries. A verdict over part of the scenarios must never pass: a
/// shard that timed out in a CI matrix would otherwise turn the merged check green.
///
/// `merged`: the inputs are being merged into one result, so they must be every shard of
/// one split (a single shard's file reported alone stands for that shard only).
pub fn note_incomplete(verdict: &mut Verdict, inputs: &[ResultsInput<'_>], merged: bool) {
    use crate::policy::{GateLevel, GateReason, GateReasonKind};
    // Snapshot checks failed in the runs themselves (they cannot be rebuilt from results).
    for input in inputs {
        for reason in input.summary.iter().flat_map(|s| &s.reasons) {
            if reason.kind == GateReasonKind::Snapshot && reason.level == GateLevel::Fail {
                let mut reason = reason.clone();
                if merged {
                    reason.message = format!("{}: {}", input.path.display(), reason.message);
                }
                verdict.gate.push(reason);
            }
        }
    }
    let mut fail = |message: String, policy: &str| {
        verdict.gate.push(GateReason {
            kind: GateReasonKind::Interrupted,
            level: GateLevel::Fail,
            message,
            policy: policy.to_string(),
        })
    };
    for input in inputs {
        let (path, recorded) = (input.path, input.recorded);
        let announced = input.run.map_or(0, |r| r.scenarios);
        match input.summary {
            None => fail(
                format!(
                    "{}: the run did not finish (no summary line): {recorded} of {announced} scenarios recorded",
                    path.display()
                ),
                "a run must finish to pass",
            ),
            Some(s) if s.interrupted => fail(
                format!(
                    "{}: the run was interrupted: {recorded} of {announced} scenarios recorded",
                    path.display()
                ),
                "a run must finish to pass",
            ),
            Some(_) if recorded < announced => fail(
                format!(
                    "{}: {recorded} of the {announced} scenarios the run announced are in the file",
                    path.display()
                ),
                "a run must finish to pass",
            ),
            Some(_) => {}
        }
    }
    if !merged {
        return;
    }
    // Shards: every index of one split, once.
    let shards: Vec<(&std::path::Path, Option<(u32, u32)>)> = inputs
        .iter()
        .map(|input| {
            let shard = input
                .run
                .and_then(|r| r.shard.as_deref())
                .and_then(parse_shard);
            (input.path, shard)
        })
        .collect();
    let counts: std::collections::BTreeSet<u32> = shards
        .iter()
        .filter_map(|(_, s)| s.map(|(_, n)| n))
        .collect();
    if counts.is_empty() {
        return;
    }
    if counts.len() > 1 || shards.iter().any(|(_, s)| s.is_none()) {
        let listed: Vec<String> = shards
            .iter()
            .map(|(p, s)| match s {
                Some((k, n)) => format!("{} (shard {k}/{n})", p.display()),
                None => format!("{} (not a shard)", p.display()),
            })
            .collect();
        fail(
            format!(
                "the inputs are not the shards of one split: {}",
                listed.join(", ")
            ),
            "merge the results of every shard of one --shard K/N split",
        );
        return;
    }
    let n = counts.into_iter().next().unwrap_or(0);
    let present: std::collections::BTreeSet<u32> = shards
        .iter()
        .filter_map(|(_, s)| s.map(|(k, _)| k))
        .collect();
    let missing: Vec<String> = (1..=n)
        .filter(|k| !present.contains(k))
        .map(|k| format!("{k}/{n}"))
        .collect();
    if !missing.is_empty() {
        fail(
            format!(
                "shard{} {} of {n} missing: the merged verdict would cover part of the scenarios",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", "),
            ),
            "merge the results of every shard of one --shard K/N split",
        );
    }
    let commits: std::collections::BTreeSet<&str> = inputs
        .iter()
        .filter_map(|input| input.run?.git_commit.as_deref())
        .collect();
    if commits.len() > 1 {
        verdict.gate.push(GateReason {
            kind: GateReasonKind::Interrupted,
            level: GateLevel::Warn,
            message: format!(
                "the shards ran at different commits ({}): the merged results mix two versions",
                commits
                    .into_iter()
                    .map(|c| &c[..c.len().min(10)])
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            policy: "run every shard at one commit".to_string(),
        });
    }
}

/// `"2/4"` as (2, 4).
fn parse_shard(text: &str) -> Option<(u32, u32)> {
    let (k, n) = text.split_once('/')?;
    Some((k.trim().parse().ok()?, n.trim().parse().ok()?))
}
