//! `evalgit plan`: which scenarios a change affects and why, before spending anything.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::args::PlanArgs;
use super::revision::{default_base, load_at};
use super::run_cmd::job_filter;
use super::workspace::Global;
use crate::cache::ResponseCache;
use crate::config::{Project, Prompt};
use crate::git::GitRepo;
use crate::plan::{Plan, PlanInput, compute_plan};
use crate::provider::PriceTable;
use crate::runner::{self, JobFilter, JobSet};
use crate::snapshot::{ReplaySource, SnapshotStore, SourceSnapshots};
use crate::{Error, ExitCode};

/// The plan inputs of a project's jobs. `replay` tells which fingerprints an accepted
/// snapshot holds on that side.
pub fn plan_inputs(project: &Project, jobs: &JobSet, replay: &dyn ReplaySource) -> Vec<PlanInput> {
    let table = PriceTable::builtin();
    let providers: BTreeMap<&str, Arc<crate::cache::ProviderFingerprint>> = jobs
        .providers
        .iter()
        .map(|(k, v)| (k.as_str(), Arc::new(v.clone())))
        .collect();
    jobs.jobs
        .iter()
        .filter_map(|job| {
            let suite = &project.suites[job.suite_index];
            // `expand_jobs` only yields jobs whose provider exists.
            let provider_fingerprint = providers.get(suite.provider.as_str())?.clone();
            let scenario = &suite.scenarios[job.scenario_index];
            let config = project.settings.providers.get(&suite.provider);
            let (prompt_file, prompt_fingerprint) = match &suite.prompt {
                Prompt::Text { template, file } => (
                    Some(file.clone().unwrap_or_else(|| suite.file.clone())),
                    Some(crate::cache::Fingerprint::of_bytes(template.as_bytes())),
                ),
                Prompt::Messages(messages) => {
                    let mut all = String::new();
                    for m in messages {
                        all.push_str(m.role.name());
                        all.push('\0');
                        all.push_str(&m.content);
                        all.push('\0');
                    }
                    (
                        Some(suite.file.clone()),
                        Some(crate::cache::Fingerprint::of_bytes(all.as_bytes())),
                    )
                }
            };
            let fp_hex = job.fingerprint.to_hex();
            Some(PlanInput {
                suite: suite.name.clone(),
                scenario_id: scenario.id.clone(),
                repeat: job.repeat,
                fingerprint: job.fingerprint,
                assertions_fingerprint: job.assertions_fingerprint,
                messages: job.messages.clone(),
                vars: scenario.vars.clone(),
                provider: suite.provider.clone(),
                provider_fingerprint,
                prompt_file,
                prompt_fingerprint,
                price: config
                    .and_then(|c| table.lookup(c.model_name(), &project.settings.prices))
                    .map(|(p, _)| p),
                max_tokens: config.and_then(|c| c.params.max_tokens),
                recorded: replay.replay(&suite.name, &scenario.id, &fp_hex).is_some(),
            })
        })
        .collect()
}

/// The plan of the working tree's `jobs` against revision `rev`.
pub fn plan_against(
    project: &Project,
    jobs: &JobSet,
    rev: &str,
    filter: &JobFilter,
) -> Result<Plan, Error> {
    let global = Global {
        root: Some(project.root.clone()),
        profile: project.settings.profile.clone(),
        color: false,
    };
    let at = load_at(&global, &project.root, rev)?;
    let head_store = SnapshotStore::new(&project.root, &project.settings.snapshots_dir);
    let head = plan_inputs(project, jobs, &head_store);
    let base = match &at.project {
        Some(base_project) => {
            let mut base_filter = filter.clone();
            base_filter
                .suites
                .retain(|s| base_project.suites.iter().any(|x| &x.name == s));
            let base_jobs = runner::expand_jobs(base_project, at.source.as_ref(), &base_filter)?;
            let replay =
                SourceSnapshots::new(at.source.clone(), &base_project.settings.snapshots_dir);
            plan_inputs(base_project, &base_jobs, &replay)
        }
        None => Vec::new(),
    };
    let cache = ResponseCache::open(&project.root).ok();
    let mut plan = compute_plan(&base, &head, cache.as_ref());
    plan.base = Some(format!("{rev} ({})", &at.commit[..at.commit.len().min(10)]));
    plan.head = Some("working tree".to_string());
    Ok(plan)
}

pub fn plan(global: &Global, args: PlanArgs) -> Result<ExitCode, Error> {
    let (project, source) = global.load()?;
    let filter = job_filter(&project, &args.select)?;
    let jobs = runner::expand_jobs(&project, &source, &filter)?;
    let rev = match &args.base {
        Some(r) => r.clone(),
        None => default_base(&GitRepo::discover(&project.root)?)?,
    };
    let plan = plan_against(&project, &jobs, &rev, &filter)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&plan).map_err(|e| Error::Other(e.to_string()))?
        );
    } else {
        print!("{}", plan.render_text());
    }
    Ok(ExitCode::Passed)
}
