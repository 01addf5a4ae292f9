//! `evalgit report`: render a results file (and an optional baseline) in another format.

use super::args::{ReportArgs, ReportFormat};
use super::workspace::Global;
use crate::report::results_file::read_results;
use crate::{Error, ExitCode};

pub fn report(global: &Global, args: ReportArgs) -> Result<ExitCode, Error> {
    let project = global.load().ok().map(|(p, _)| p);
    let root = match &project {
        Some(p) => p.root.clone(),
        None => std::env::current_dir()
            .map_err(|e| Error::io("cannot read the current directory", e))?,
    };
    let results_path = args
        .results
        .clone()
        .unwrap_or_else(|| root.join(".evalgit/results.jsonl"));
    let head = read_results(&results_path)?;
    if head.run.is_none() {
        return Err(Error::Usage(format!(
            "{} holds no evalgit run (it is empty or not a results file): pass a file `evalgit run -o` wrote",
            results_path.display()
        )));
    }
    let recorded = head.scenarios.len();
    let base = args.base_results.as_deref().map(read_results).transpose()?;
    let budget = head
        .summary
        .as_ref()
        .map(|s| s.budget.clone())
        .unwrap_or_default();
    let head_results = super::verdict::order_results_in(project.as_ref(), head.scenarios);
    let base_results = base.map(|b| b.scenarios);
    let mut verdict = match &project {
        Some(p) => super::verdict::verdict_for(p, &head_results, base_results.as_deref(), budget),
        None => {
            super::verdict::verdict_from_results(&head_results, base_results.as_deref(), budget)
        }
    };
    // A killed or interrupted run's file never reports a pass.
    super::verdict::note_incomplete(
        &mut verdict,
        &[super::verdict::ResultsInput {
            path: &results_path,
            run: head.run.as_ref(),
            summary: head.summary.as_ref(),
            recorded,
        }],
        false,
    );
    let text = match args.format {
        ReportFormat::Markdown => super::verdict::markdown(
            &verdict,
            super::verdict::output_diffs(base_results.as_deref(), &head_results),
            "evalgit",
        ),
        ReportFormat::Junit => {
            let started = head
                .run
                .as_ref()
                .and_then(|r| {
                    time::OffsetDateTime::parse(
                        &r.started_at,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .ok()
                })
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            crate::report::render_junit(&head_results, started, Some(&verdict.gate))
        }
        ReportFormat::Json => {
            serde_json::to_string_pretty(&verdict).map_err(|e| Error::Other(e.to_string()))? + "\n"
        }
        ReportFormat::Text => crate::report::verdict_text::render(&verdict),
    };
    match &args.output {
        Some(path) => std::fs::write(path, &text).map_err(|e| Error::io_path("write", path, e))?,
        None => print!("{text}"),
    }
    Ok(verdict.exit_code())
}
