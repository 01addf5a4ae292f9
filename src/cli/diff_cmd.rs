//! `evalgit diff [BASE] [HEAD]`: the whole verdict between two revisions.

use std::sync::Arc;

use super::args::DiffArgs;
use super::revision::{AtRevision, default_base, load_at};
use super::run_cmd::{ExecuteSettings, execute_jobs, job_filter};
use super::workspace::{Global, in_ci};
use crate::config::{self, Project, Source, WorkTree};
use crate::git::GitRepo;
use crate::report::results_file::{RunSummary, read_results};
use crate::runner::{self, RunOptions, ScenarioResult};
use crate::snapshot::{ReplaySource, SourceSnapshots};
use crate::{Error, ExitCode};

pub fn diff(global: &Global, args: DiffArgs) -> Result<ExitCode, Error> {
    let root = global.root()?;
    let ci = in_ci();

    // Head: the working tree, or a revision.
    let (mut head_project, head_source, head_label): (Project, Arc<dyn Source>, String) =
        match &args.head {
            None => {
                let source = WorkTree::new(&root);
                let project = config::load(&source, &global.load_options(&root))?;
                (project, Arc::new(source), "working tree".to_string())
            }
            Some(rev) => {
                let at = load_at(global, &root, rev)?;
                let project = at.project.ok_or_else(|| {
                    Error::Usage(format!("there is no {} at {rev}", config::SETTINGS_FILE))
                })?;
                (
                    project,
                    at.source,
                    format!("{rev} ({})", &at.commit[..at.commit.len().min(10)]),
                )
            }
        };
    if let Some(cap) = args.max_run_usd {
        head_project.settings.budget.max_run_usd = Some(cap);
    }
    let filter = job_filter(&head_project, &args.select)?;

    // Base: a results file, or the base revision's project replayed from its snapshots.
    let (base_results, base_label): (Vec<ScenarioResult>, String) = match &args.base_results {
        Some(path) => {
            // The baseline covers what head covers: the selected suites and shard.
            let mut base = read_results(path)?.scenarios;
            base.retain(|r| filter.selects(&r.suite, &r.id));
            (base, path.display().to_string())
        }
        None => {
            let rev = match &args.base {
                Some(r) => r.clone(),
                None => default_base(&GitRepo::discover(&root)?)?,
            };
            let at = load_at(global, &root, &rev)?;
            let label = format!("{} ({})", at.rev, &at.commit[..at.commit.len().min(10)]);
            (run_base(&at, &filter, &args, global)?, label)
        }
    };
    eprintln!("evalgit diff: base {base_label} vs head {head_label}");

    // Head run: record snapshots only for the working tree, never in CI.
    let head_jobs = runner::expand_jobs(&head_project, head_source.as_ref(), &filter)?;
    super::run_cmd::require_some(&head_jobs, &filter)?;
    let results_path = args
        .output
        .output
        .clone()
        .unwrap_or_else(|| root.join(".evalgit/results.jsonl"));
    let replay: Option<Arc<dyn ReplaySource>> = match &args.head {
        None => None,
        Some(_) => Some(Arc::new(SourceSnapshots::new(
            head_source.clone(),
            &head_project.settings.snapshots_dir,
        ))),
    };
    let settings = ExecuteSettings {
        color: global.color,
        verbose: false,
        check: ci || args.head.is_some(),
        // Snapshot statuses are compared with the files on disk, so only for the working
        // tree; in CI nothing is written (check mode) but differences still fail the gate.
        record_snapshots: args.head.is_none(),
        results_path: &results_path,
        shard: filter.shard,
        replay,
        snapshots_first: ci || args.head.is_some(),
    };
    let options = RunOptions {
        no_cache: args.no_cache,
        offline: args.offline,
        judge_retries: 2,
        ..Default::default()
    };
    let executed = execute_jobs(&head_project, head_jobs, options, &settings)?;
    let mut verdict = super::verdict::verdict_for(
        &head_project,
        &executed.outcome.results,
        Some(&base_results),
        executed.outcome.budget.clone(),
    );
    super::verdict::note_interrupted(&mut verdict, &executed.outcome);
    if args.head.is_none() && ci {
        // As `run` in CI: outputs that differ from (or lack) an accepted snapshot fail.
        super::run_cmd::snapshot_gate(
            &executed,
            &mut verdict,
            &head_project,
            &filter,
            true,
            super::args::Unreferenced::Warn,
        )?;
    }
    let diffs = super::verdict::output_diffs(Some(&base_results), &executed.outcome.results);
    let diffs_for_summary = diffs.clone();
    let markdown = super::verdict::markdown(&verdict, diffs, "evalgit");

    // Outputs.
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&verdict).map_err(|e| Error::Other(e.to_string()))?
        );
    } else {
        print!("{}", crate::report::verdict_text::render(&verdict));
    }
    if let Some(path) = &args.json_out {
        let text =
            serde_json::to_string_pretty(&verdict).map_err(|e| Error::Other(e.to_string()))?;
        std::fs::write(path, text + "\n").map_err(|e| Error::io_path("write", path, e))?;
    }
    if let Some(path) = &args.output.markdown {
        std::fs::write(path, &markdown).map_err(|e| Error::io_path("write", path, e))?;
    }
    if let Some(path) = &args.output.junit {
        crate::report::write_junit(
            &executed.outcome.results,
            executed.started,
            Some(&verdict.gate),
            path,
        )?;
    }
    let code = verdict.exit_code();
    super::verdict::report_to_github(&verdict, &executed.outcome.results, diffs_for_summary, code)?;
    let super::run_cmd::Executed {
        outcome,
        mut writer,
        ..
    } = executed;
    writer.summary(&RunSummary {
        suites: verdict.suites.iter().map(|s| s.head.clone()).collect(),
        budget: outcome.budget.clone(),
        spent_usd: outcome.spent_usd,
        cost_usd: verdict.total_cost_usd,
        interrupted: outcome.interrupted,
        verdict: super::run_cmd::verdict_word(code).to_string(),
        exit_code: code.code(),
        reasons: verdict.gate.reasons.clone(),
    });
    writer.finish()?;
    Ok(if outcome.interrupted {
        ExitCode::GateFailed
    } else {
        code
    })
}

/// The baseline: the base revision's scenarios, replayed from the cache and the snapshots
/// committed at that revision; what neither has is run (unless `--offline`).
fn run_base(
    at: &AtRevision,
    filter: &runner::JobFilter,
    args: &DiffArgs,
    global: &Global,
) -> Result<Vec<ScenarioResult>, Error> {
    let Some(project) = &at.project else {
        eprintln!(
            "note: no {} at {}: every scenario is new",
            config::SETTINGS_FILE,
            at.rev
        );
        return Ok(Vec::new());
    };
    let mut base_filter = filter.clone();
    base_filter
        .suites
        .retain(|s| project.suites.iter().any(|x| &x.name == s));
    let jobs = runner::expand_jobs(project, at.source.as_ref(), &base_filter)?;
    let replay: Arc<dyn ReplaySource> = Arc::new(SourceSnapshots::new(
        at.source.clone(),
        &project.settings.snapshots_dir,
    ));
    let base_path = project.root.join(".evalgit/base-results.jsonl");
    let settings = ExecuteSettings {
        color: global.color,
        verbose: false,
        check: true,
        record_snapshots: false,
        results_path: &base_path,
        shard: filter.shard,
        replay: Some(replay),
        snapshots_first: true,
    };
    let options = RunOptions {
        offline: args.offline,
        judge_retries: 2,
        ..Default::default()
    };
    eprintln!("baseline {}:", at.rev);
    let executed = execute_jobs(project, jobs, options, &settings)?;
    let super::run_cmd::Executed {
        outcome, writer, ..
    } = executed;
    writer.finish()?;
    Ok(outcome.results)
}
