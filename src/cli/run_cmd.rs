//! `evalgit run`: the main job.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::args::{RunArgs, SelectArgs, Unreferenced};
use super::workspace::{Global, in_ci, now_rfc3339, runtime};
use crate::cache::ResponseCache;
use crate::config::Project;
use crate::policy::{GateLevel, GateReason, GateReasonKind, Verdict};
use crate::report::results_file::{ResultsWriter, RunSummary};
use crate::report::terminal::{TerminalReporter, gate_lines, summary_table};
use crate::runner::{
    self, Fanout, JobFilter, JobSet, Observer, Recordings, RunInfo, RunOptions, RunOutcome,
    ScenarioResult, Shard,
};
use crate::snapshot::{ReplaySource, SnapshotStatus, SnapshotStore, WriteMode};
use crate::{Error, ExitCode};

pub fn run(global: &Global, args: RunArgs) -> Result<ExitCode, Error> {
    // `--affected-since` plans against a revision: log what loading reads, so that suites
    // identical at that revision are not loaded twice.
    let (mut project, source, reads) = if args.affected_since.is_some() {
        let (project, source, reads) = super::plan_cmd::load_recorded(global)?;
        (project, source, Some(reads))
    } else {
        let (project, source) = global.load()?;
        (project, source, None)
    };
    if let Some(cap) = args.max_run_usd {
        project.settings.budget.max_run_usd = Some(cap);
    }
    let filter = job_filter(&project, &args.select)?;
    let jobs = runner::expand_jobs(&project, &source, &filter)?;
    require_some(&jobs, &filter)?;

    let mut options = RunOptions {
        no_cache: args.no_cache,
        offline: args.offline,
        judge_retries: 2,
        release_outputs: true,
        ..Default::default()
    };
    if let Some(rev) = &args.affected_since {
        let plan =
            super::plan_cmd::plan_against_reads(&project, &jobs, rev, &filter, reads.as_ref())?;
        options.only_call = Some(plan.affected_keys());
        options.only_call_reason = Some(format!(
            "not affected since {rev} and not recorded: run without --affected-since to record it"
        ));
    }

    let check = args.check || in_ci();
    let unreferenced = args.unreferenced.unwrap_or(if check {
        Unreferenced::Warn
    } else {
        Unreferenced::Ignore
    });
    let results_path = args
        .output
        .output
        .clone()
        .unwrap_or_else(|| project.root.join(".evalgit/results.jsonl"));
    let settings = ExecuteSettings {
        color: global.color,
        verbose: args.verbose,
        check,
        record_snapshots: true,
        results_path: &results_path,
        shard: filter.shard,
        replay: None,
        snapshots_first: check,
    };
    // Shared with the runner rather than cloned: a clone of a 100,000-scenario project is
    // hundreds of megabytes.
    let project = Arc::new(project);
    let mut executed = execute_jobs_shared(project.clone(), jobs, options, &settings)?;
    let mut verdict = super::verdict::verdict_for(
        &project,
        &executed.outcome.results,
        None,
        executed.outcome.budget.clone(),
    );
    snapshot_gate(
        &executed,
        &mut verdict,
        &project,
        &filter,
        check,
        unreferenced,
    )?;
    super::verdict::note_interrupted(&mut verdict, &executed.outcome);
    if !check {
        let pending = executed
            .statuses
            .iter()
            .filter(|(_, _, s)| matches!(s, SnapshotStatus::New | SnapshotStatus::Changed))
            .count();
        if pending > 0 {
            eprintln!(
                "snapshots: {pending} new or changed (.snap.new written): review them with `evalgit review` or `evalgit accept`"
            );
        }
    }
    let interrupted = executed.outcome.interrupted;
    let code = if interrupted {
        ExitCode::GateFailed
    } else {
        verdict.exit_code()
    };
    let diffs = std::mem::take(&mut executed.diffs);
    super::verdict::report_to_github(&verdict, &executed.outcome.results, diffs.clone(), code)?;
    finish(
        executed,
        &verdict,
        diffs,
        &args.output.junit,
        &args.output.markdown,
    )?;
    Ok(code)
}

/// A run that selects nothing is a mistake (a typo in a CI filter), not a green build. An
/// empty shard is fine: small suites split over many runners leave some empty.
pub fn require_some(jobs: &JobSet, filter: &JobFilter) -> Result<(), Error> {
    if !jobs.jobs.is_empty() || filter.shard.is_some() {
        return Ok(());
    }
    if filter.suites.is_empty() && filter.ids.is_empty() {
        return Err(Error::Usage("there are no scenarios to run: add `[[scenario]]` tables or a `scenarios_file` to a suite in evals/".into()));
    }
    Err(Error::Usage(format!(
        "no scenario matches{}{}: check the spelling (ids match exactly unless the pattern has `*` or `?`)",
        if filter.suites.is_empty() {
            String::new()
        } else {
            format!(" --suite {}", filter.suites.join(","))
        },
        if filter.ids.is_empty() {
            String::new()
        } else {
            format!(" --filter {}", filter.ids.join(","))
        },
    )))
}

/// `--suite`, `--filter`, `--shard` into a filter, checking the suites exist.
pub fn job_filter(project: &Project, select: &SelectArgs) -> Result<JobFilter, Error> {
    for s in &select.suites {
        if !project.suites.iter().any(|suite| &suite.name == s) {
            let known: Vec<&str> = project.suites.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::Usage(format!(
                "no suite `{s}`: the suites are {}",
                known.join(", ")
            )));
        }
    }
    let shard = select
        .shard
        .as_deref()
        .map(Shard::parse)
        .transpose()
        .map_err(Error::Usage)?;
    Ok(JobFilter {
        suites: select.suites.clone(),
        ids: select.filters.clone(),
        shard,
    })
}

/// A finished execution: the results, the open results file (its summary line is written
/// last, once the verdict is known) and each scenario's snapshot status.
pub struct Executed {
    pub outcome: RunOutcome,
    pub writer: ResultsWriter,
    pub statuses: Vec<(String, String, SnapshotStatus)>,
    /// `suite/id` and a unified diff (accepted -> new) of each output that differs from its
    /// accepted snapshot, in the order they finished.
    pub diffs: Vec<(String, String)>,
    pub started: time::OffsetDateTime,
    pub snapshots: Arc<SnapshotStore>,
}

struct SnapshotRecorder<'a> {
    store: &'a SnapshotStore,
    mode: WriteMode,
    statuses: Vec<(String, String, SnapshotStatus)>,
    diffs: Vec<(String, String)>,
    errors: Vec<String>,
}

impl Observer for SnapshotRecorder<'_> {
    fn scenario_finished(&mut self, result: &ScenarioResult) {
        match self.store.record(result, self.mode) {
            Ok(status) => {
                // The diff is taken now, while the output is at hand: the run does not keep
                // outputs once every observer has seen them.
                if status == SnapshotStatus::Changed {
                    if let Err(e @ crate::snapshot::StoreError::Corrupt { .. }) =
                        self.store.accepted(&result.suite, &result.id)
                    {
                        self.errors.push(format!("{e} (treated as changed)"));
                    }
                    if let Some(diff) = output_diff(self.store, result) {
                        self.diffs.push(diff);
                    }
                }
                self.statuses
                    .push((result.suite.clone(), result.id.clone(), status))
            }
            Err(e) => self.errors.push(e.to_string()),
        }
    }
}

/// How an execution reports and records.
pub struct ExecuteSettings<'a> {
    pub color: bool,
    pub verbose: bool,
    /// CI / `--check`: write no snapshot files.
    pub check: bool,
    /// Record snapshots at all (`diff` of two revisions does not).
    pub record_snapshots: bool,
    pub results_path: &'a Path,
    pub shard: Option<Shard>,
    /// Where accepted outputs are replayed from [default: the project's snapshots on disk].
    pub replay: Option<Arc<dyn ReplaySource>>,
    /// Replay accepted snapshots before the cache (checks and baselines; see
    /// [`Recordings::snapshots_first`]).
    pub snapshots_first: bool,
}

/// Runs the jobs with the terminal reporter, the results file and the snapshot recorder.
pub fn execute_jobs(
    project: &Project,
    jobs: JobSet,
    options: RunOptions,
    settings: &ExecuteSettings<'_>,
) -> Result<Executed, Error> {
    execute_jobs_shared(Arc::new(project.clone()), jobs, options, settings)
}

/// [`execute_jobs`] with a project the caller already shares (no copy of it is made).
pub fn execute_jobs_shared(
    project: Arc<Project>,
    jobs: JobSet,
    options: RunOptions,
    settings: &ExecuteSettings<'_>,
) -> Result<Executed, Error> {
    let (started, started_text) = now_rfc3339();
    let cache = Arc::new(ResponseCache::open(&project.root)?);
    let snapshots = Arc::new(SnapshotStore::new(
        &project.root,
        &project.settings.snapshots_dir,
    ));
    let info = RunInfo {
        run_id: run_id(&started_text),
        started_at: started_text,
        evalgit_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: crate::git::GitRepo::discover(&project.root)
            .ok()
            .and_then(|r| r.head_commit()),
        profile: project.settings.profile.clone(),
        scenarios: 0,
        samples: 0,
        to_call: 0,
        to_skip: 0,
        shard: settings.shard.map(|s| format!("{}/{}", s.index, s.count)),
        provenance: Some(crate::runner::Provenance::of(&project)),
    };
    let mut terminal = TerminalReporter::stderr(settings.color, settings.verbose);
    let mut writer = ResultsWriter::create(settings.results_path)?;
    let mut recorder = SnapshotRecorder {
        store: &snapshots,
        mode: if settings.check {
            WriteMode::Check
        } else {
            WriteMode::Write
        },
        statuses: Vec::new(),
        diffs: Vec::new(),
        errors: Vec::new(),
    };
    let replay: Arc<dyn ReplaySource> = match &settings.replay {
        Some(r) => r.clone(),
        None => snapshots.clone(),
    };
    let recordings = Recordings {
        cache: Some(cache),
        snapshots: Some(replay),
        snapshots_first: settings.snapshots_first,
    };
    // Outputs are released from memory only where the results file can give them back.
    let mut options = options;
    options.release_outputs &= writer.is_seekable();
    let rt = runtime()?;
    let outcome = {
        let mut observers: Vec<&mut dyn Observer> = vec![&mut terminal, &mut writer];
        if settings.record_snapshots {
            observers.push(&mut recorder);
        }
        let mut fan = Fanout(observers);
        rt.block_on(runner::execute(
            project.clone(),
            jobs.jobs,
            jobs.providers,
            recordings,
            options,
            info,
            &mut fan,
        ))?
    };
    terminal.finish();
    for e in &recorder.errors {
        eprintln!("warning: snapshot: {e}");
    }
    let statuses = std::mem::take(&mut recorder.statuses);
    let diffs = std::mem::take(&mut recorder.diffs);
    Ok(Executed {
        outcome,
        writer,
        statuses,
        diffs,
        started,
        snapshots,
    })
}

/// In `--check` mode, differing and missing snapshots fail the gate; unreferenced snapshots
/// are handled as asked.
pub fn snapshot_gate(
    executed: &Executed,
    verdict: &mut Verdict,
    project: &Project,
    filter: &JobFilter,
    check: bool,
    unreferenced: Unreferenced,
) -> Result<(), Error> {
    if check {
        let changed: Vec<String> = executed
            .statuses
            .iter()
            .filter(|(_, _, s)| *s == SnapshotStatus::Changed)
            .map(|(suite, id, _)| format!("{suite}/{id}"))
            .collect();
        let missing: Vec<String> = executed
            .statuses
            .iter()
            .filter(|(_, _, s)| *s == SnapshotStatus::New)
            .map(|(suite, id, _)| format!("{suite}/{id}"))
            .collect();
        if !changed.is_empty() {
            let outputs = executed.diffs.len();
            verdict.gate.push(GateReason {
                kind: GateReasonKind::Snapshot,
                level: GateLevel::Fail,
                message: format!(
                    "{} result{} from the accepted snapshot{} ({outputs} with a changed output, the rest in fingerprint, tokens or score): {} (run `evalgit run` locally, then `evalgit review`, and commit the snapshots)",
                    changed.len(),
                    if changed.len() == 1 { " differs" } else { "s differ" },
                    if changed.len() == 1 { "" } else { "s" },
                    list(&changed)
                ),
                policy: "run --check (on when CI is set)".into(),
            });
        }
        if !missing.is_empty() {
            verdict.gate.push(GateReason {
                kind: GateReasonKind::Snapshot,
                level: GateLevel::Fail,
                message: format!(
                    "{} scenario{} ha{} no accepted snapshot: {} (run `evalgit run` locally, accept, and commit)",
                    missing.len(),
                    if missing.len() == 1 { "" } else { "s" },
                    if missing.len() == 1 { "s" } else { "ve" },
                    list(&missing)
                ),
                policy: "run --check (on when CI is set)".into(),
            });
        }
    }
    // Unreferenced snapshots only make sense when every scenario was selected.
    let complete = filter.suites.is_empty() && filter.ids.is_empty() && filter.shard.is_none();
    if complete && unreferenced != Unreferenced::Ignore {
        let known: BTreeSet<(String, String)> = project
            .suites
            .iter()
            .flat_map(|s| {
                s.scenarios
                    .iter()
                    .map(move |c| (s.name.clone(), c.id.clone()))
            })
            .collect();
        let stale = executed.snapshots.unreferenced(&known)?;
        if !stale.is_empty() {
            let names: Vec<String> = stale
                .iter()
                .map(|p| executed.snapshots.display(p))
                .collect();
            match unreferenced {
                Unreferenced::Delete if !check => {
                    executed.snapshots.delete(&stale)?;
                    eprintln!("deleted {} unreferenced snapshot{}: {}", stale.len(), if stale.len() == 1 { "" } else { "s" }, list(&names));
                }
                Unreferenced::Fail => verdict.gate.push(GateReason {
                    kind: GateReasonKind::Snapshot,
                    level: GateLevel::Fail,
                    message: format!("{} snapshot(s) belong to no scenario: {}", stale.len(), list(&names)),
                    policy: "run --unreferenced=fail".into(),
                }),
                _ => verdict.gate.push(GateReason {
                    kind: GateReasonKind::Snapshot,
                    level: GateLevel::Warn,
                    message: format!(
                        "{} snapshot(s) belong to no scenario: {} ({})",
                        stale.len(),
                        list(&names),
                        if unreferenced == Unreferenced::Delete {
                            "not deleted: CI writes no snapshot files; run `evalgit run --unreferenced=delete` locally and commit"
                        } else {
                            "delete them with `evalgit run --unreferenced=delete`"
                        }
                    ),
                    policy: format!(
                        "run --unreferenced={}",
                        if unreferenced == Unreferenced::Delete { "delete (in CI: warn)" } else { "warn" }
                    ),
                }),
            }
        }
    }
    Ok(())
}

fn list(items: &[String]) -> String {
    if items.len() <= 8 {
        items.join(", ")
    } else {
        format!("{} and {} more", items[..8].join(", "), items.len() - 8)
    }
}

/// Prints the summary and gate, writes the results summary line, JUnit and Markdown.
pub fn finish(
    executed: Executed,
    verdict: &Verdict,
    diffs: Vec<(String, String)>,
    junit: &Option<PathBuf>,
    markdown: &Option<PathBuf>,
) -> Result<(), Error> {
    let Executed {
        outcome,
        mut writer,
        started,
        ..
    } = executed;
    let suites: Vec<_> = verdict.suites.iter().map(|s| s.head.clone()).collect();
    let all: Vec<&ScenarioResult> = outcome.results.iter().collect();
    let total = crate::policy::suite_stats("total", &all);
    eprint!("\n{}", summary_table(&suites, &total, outcome.spent_usd));
    if !outcome.budget.not_run.is_empty() {
        eprintln!(
            "budget: {} scenario(s) not run because a spending cap was reached (spent ${:.6})",
            outcome.budget.not_run.len(),
            outcome.budget.spent_usd
        );
    }
    eprint!("{}", gate_lines(&verdict.gate));
    let code = if outcome.interrupted {
        ExitCode::GateFailed
    } else {
        verdict.exit_code()
    };
    writer.summary(&RunSummary {
        suites,
        budget: outcome.budget.clone(),
        spent_usd: outcome.spent_usd,
        cost_usd: verdict.total_cost_usd,
        interrupted: outcome.interrupted,
        verdict: verdict_word(code).to_string(),
        exit_code: code.code(),
        reasons: verdict.gate.reasons.clone(),
    });
    let released = outcome.results.iter().any(|r| r.outputs_released);
    let mut reader = match (junit, released) {
        (Some(_), true) => Some(writer.reader()?),
        _ => None,
    };
    let path = writer.finish()?;
    eprintln!("results: {}", path.display());
    if let Some(junit) = junit {
        match &mut reader {
            Some(reader) => crate::report::junit::write_junit_reading_back(
                &outcome.results,
                started,
                Some(&verdict.gate),
                junit,
                reader,
            )?,
            None => {
                crate::report::write_junit(&outcome.results, started, Some(&verdict.gate), junit)?
            }
        }
        eprintln!("junit: {}", junit.display());
    }
    if let Some(md) = markdown {
        let body = super::verdict::markdown(verdict, diffs, "evalgit");
        std::fs::write(md, body).map_err(|e| Error::io_path("write", md, e))?;
        eprintln!("markdown: {}", md.display());
    }
    Ok(())
}

pub fn verdict_word(code: ExitCode) -> &'static str {
    match code {
        ExitCode::Passed => "passed",
        ExitCode::GateFailed => "gate-failed",
        ExitCode::ProviderErrors => "provider-errors",
        ExitCode::ConfigError => "config-error",
        ExitCode::Internal => "internal-error",
    }
}

fn run_id(started: &str) -> String {
    let stamp: String = started.chars().filter(|c| c.is_ascii_digit()).collect();
    format!("{stamp}-{:04x}", fastrand::u16(..))
}

/// The diff of a changed output against its accepted snapshot, for the Markdown report.
/// The unified diff of a changed scenario's output against its accepted snapshot; `None`
/// when the output itself is the same (only the fingerprint, tokens or score changed).
fn output_diff(store: &SnapshotStore, result: &ScenarioResult) -> Option<(String, String)> {
    let accepted = store.accepted(&result.suite, &result.id).ok()??;
    let old = accepted
        .samples
        .first()
        .map(|s| s.output.as_str())
        .unwrap_or("");
    let new = result.output().unwrap_or("");
    if old == new {
        return None;
    }
    let diff = similar::TextDiff::from_lines(old, new);
    Some((
        format!("{}/{}", result.suite, result.id),
        diff.unified_diff()
            .context_radius(3)
            .header("accepted", "new")
            .to_string(),
    ))
}
