//! `evalgit merge`: combine the results files of shards into one, as if one run made it.

use std::collections::BTreeMap;

use super::args::MergeArgs;
use super::verdict::ResultsInput;
use crate::report::results_file::{ResultsWriter, RunSummary, read_results};
use crate::runner::{Observer, RunInfo, ScenarioResult};
use crate::{Error, ExitCode};

pub fn merge(global: &super::workspace::Global, args: MergeArgs) -> Result<ExitCode, Error> {
    // Thresholds come from the project when there is one (as in the run that made the shards).
    let project = global.load().ok().map(|(p, _)| p);
    let mut runs = Vec::new();
    let mut by_key: BTreeMap<(String, String), ScenarioResult> = BTreeMap::new();
    let mut summaries = Vec::new();
    let mut files = Vec::new();
    for path in &args.inputs {
        let mut file = read_results(path)?;
        if file.run.is_none() {
            return Err(Error::Usage(format!(
                "{} holds no evalgit run (it is empty or not a results file): pass the files `evalgit run -o` wrote",
                path.display()
            )));
        }
        let recorded = file.scenarios.len();
        for r in std::mem::take(&mut file.scenarios) {
            let key = r.key();
            if by_key.contains_key(&key) {
                return Err(Error::Usage(format!(
                    "scenario {}/{} appears in more than one input ({}): merge the results of disjoint shards",
                    key.0,
                    key.1,
                    path.display()
                )));
            }
            by_key.insert(key, r);
        }
        if let Some(run) = &file.run {
            runs.push(run.clone());
        }
        if let Some(s) = &file.summary {
            summaries.push(s.clone());
        }
        files.push((path.as_path(), file.run, file.summary, recorded));
    }
    let results =
        super::verdict::order_results_in(project.as_ref(), by_key.into_values().collect());
    let info = RunInfo {
        run_id: runs
            .iter()
            .map(|r| r.run_id.as_str())
            .collect::<Vec<_>>()
            .join("+"),
        started_at: runs
            .iter()
            .map(|r| r.started_at.clone())
            .min()
            .unwrap_or_default(),
        evalgit_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: runs.first().and_then(|r| r.git_commit.clone()),
        profile: runs.first().and_then(|r| r.profile.clone()),
        scenarios: results.len(),
        samples: results.iter().map(|r| r.samples.len()).sum(),
        to_call: runs.iter().map(|r| r.to_call).sum(),
        to_skip: runs.iter().map(|r| r.to_skip).sum(),
        shard: None,
        provenance: project.as_ref().map(crate::runner::Provenance::of),
    };
    let mut budget = crate::policy::BudgetReport::default();
    for s in &summaries {
        budget.spent_usd += s.budget.spent_usd;
        budget.stopped |= s.budget.stopped;
        budget.not_run.extend(s.budget.not_run.iter().cloned());
        budget.caps_hit.extend(s.budget.caps_hit.iter().cloned());
        budget.max_run_usd = budget.max_run_usd.or(s.budget.max_run_usd);
    }
    budget.caps_hit.sort();
    budget.caps_hit.dedup();
    let mut verdict = match &project {
        Some(p) => super::verdict::verdict_for(p, &results, None, budget.clone()),
        None => super::verdict::verdict_from_results(&results, None, budget.clone()),
    };
    let inputs: Vec<ResultsInput<'_>> = files
        .iter()
        .map(|(path, run, summary, recorded)| ResultsInput {
            path,
            run: run.as_ref(),
            summary: summary.as_ref(),
            recorded: *recorded,
        })
        .collect();
    super::verdict::note_incomplete(&mut verdict, &inputs, true);
    let mut writer = ResultsWriter::create(&args.output)?;
    writer.started(&info);
    for r in &results {
        writer.scenario_finished(r);
    }
    let code = verdict.exit_code();
    writer.summary(&RunSummary {
        suites: verdict.suites.iter().map(|s| s.head.clone()).collect(),
        budget,
        spent_usd: summaries.iter().map(|s| s.spent_usd).sum(),
        cost_usd: verdict.total_cost_usd,
        interrupted: summaries.iter().any(|s| s.interrupted) || summaries.len() < args.inputs.len(),
        verdict: super::run_cmd::verdict_word(code).to_string(),
        exit_code: code.code(),
        reasons: verdict.gate.reasons.clone(),
    });
    writer.finish()?;
    println!(
        "merged {} scenarios from {} files into {}",
        results.len(),
        args.inputs.len(),
        args.output.display()
    );
    eprint!("{}", crate::report::terminal::gate_lines(&verdict.gate));
    if let Some(junit) = &args.junit {
        let started = time::OffsetDateTime::parse(
            &info.started_at,
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        crate::report::write_junit(&results, started, Some(&verdict.gate), junit)?;
    }
    if let Some(md) = &args.markdown {
        let body = super::verdict::markdown(&verdict, Vec::new(), "evalgit");
        std::fs::write(md, body).map_err(|e| Error::io_path("write", md, e))?;
    }
    super::verdict::report_to_github(&verdict, &results, Vec::new(), code)?;
    Ok(code)
}
