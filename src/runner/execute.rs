//! Executing jobs: replay what is recorded, call a provider for the rest, score every sample
//! and hand each finished scenario to the observers as soon as its last sample is in.
//!
//! Replays are resolved synchronously up front (cache, then the accepted snapshot); only jobs
//! that need a call (or a judge) go to the async workers: `max_concurrency` workers per
//! provider pull from that provider's queue, and the budget is reserved at the moment a call
//! is issued. With [`RunOptions::release_outputs`], a finished scenario keeps its verdict,
//! checks and costs but not its output text, which the results file holds.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::budget::{Budget, Charge, cost_upper_bound};
use super::job::Job;
use super::observer::{Observer, RunInfo};
use super::{CheckResult, OutputSource, SampleResult, ScenarioResult, ScenarioStatus};
use crate::assert::{self, AssertionSpec, CheckInput};
use crate::cache::{
    CacheLookup, CachedJudgment, CachedResponse, Fingerprint, ProviderFingerprint, ResponseCache,
    judge_fingerprint,
};
use crate::config::{Price, Project, ProviderKind, Scenario, Suite};
use crate::policy::{BudgetReport, Redactor, configured_secrets};
use crate::provider::price::{PriceTable, cost_usd};
use crate::provider::{ChatRequest, Client, Usage};
use crate::snapshot::ReplaySource;

/// How a run treats recorded outputs.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Ignore the cache and snapshots: call for every sample (`--no-cache`).
    pub no_cache: bool,
    /// Never call: what cannot be replayed is skipped (`--offline`).
    pub offline: bool,
    /// `--affected-since`: only these (suite, id) may call a model; others replay or skip.
    pub only_call: Option<HashSet<(String, String)>>,
    /// Why `only_call` excludes a scenario, for its skip message.
    pub only_call_reason: Option<String>,
    /// Judge replies that do not parse are retried this many times, then reported as errors.
    pub judge_retries: u32,
    /// Drop each scenario's output text once the observers have seen it (the results file
    /// keeps it): the run then holds no outputs, whatever its size.
    pub release_outputs: bool,
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// In suite order, then scenario order.
    pub results: Vec<ScenarioResult>,
    pub budget: BudgetReport,
    pub spent_usd: f64,
    pub interrupted: bool,
    /// Scenarios selected but not finished (an interrupted run).
    pub unfinished: usize,
}

/// Where recorded outputs come from.
pub struct Recordings {
    pub cache: Option<Arc<ResponseCache>>,
    pub snapshots: Option<Arc<dyn ReplaySource>>,
    /// Replay a scenario's own accepted snapshot before the cache. On for checks (CI,
    /// `--check`) and baselines: what was accepted is the verdict's reference, and a cache
    /// entry under the same fingerprint may hold another output (a model that is not
    /// deterministic, two scenarios that send the same request, a cache restored from
    /// another branch). Off for local runs, where the cache holds the latest observation,
    /// the one a pending `.snap.new` shows.
    pub snapshots_first: bool,
}

struct Shared {
    project: Arc<Project>,
    cache: Option<Arc<ResponseCache>>,
    budget: Budget,
    clients: Mutex<HashMap<String, Result<Client, String>>>,
    prices: HashMap<String, Option<Price>>,
    providers: BTreeMap<String, ProviderFingerprint>,
    judge_retries: u32,
    redactor: Redactor,
    cancelled: AtomicBool,
    warnings: Mutex<Vec<String>>,
    /// Providers already warned about for reporting no token usage.
    usage_unreported: Mutex<HashSet<String>>,
    /// `--offline`: judges are not called either; only cached judgments count.
    offline: bool,
}

enum Work {
    /// Needs a model call.
    Call(Job),
    /// Has a recorded output but model-graded checks to run.
    Judge(Job, Recorded),
}

#[derive(Clone)]
struct Recorded {
    output: String,
    model: String,
    usage: Usage,
    cost_usd: Option<f64>,
    /// A call made now whose provider reported no usage: what it was charged (its upper
    /// bound), which this run counts as spent instead of `cost_usd`.
    estimated_spend: Option<f64>,
    latency_ms: u64,
    source: OutputSource,
}

type Key = (usize, usize);

/// A sample from a worker, with the (suite, id) a budget cap kept from running, if any.
type Finished = (Key, SampleResult, Option<(String, String)>);

/// Runs `jobs`, telling `observer` about each scenario as it finishes.
pub async fn execute(
    project: Arc<Project>,
    jobs: Vec<Job>,
    providers: BTreeMap<String, ProviderFingerprint>,
    recordings: Recordings,
    options: RunOptions,
    mut info: RunInfo,
    observer: &mut dyn Observer,
) -> Result<RunOutcome, crate::Error> {
    let settings = &project.settings;
    let suite_caps: HashMap<String, f64> = project
        .suites
        .iter()
        .filter_map(|s| s.max_usd.map(|c| (s.name.clone(), c)))
        .collect();
    let budget = Budget::new(settings.budget.max_run_usd, suite_caps);
    let table = PriceTable::builtin();
    let prices: HashMap<String, Option<Price>> = settings
        .providers
        .iter()
        .map(|(name, p)| {
            (
                name.clone(),
                table
                    .lookup(p.model_name(), &settings.prices)
                    .map(|(price, _)| price),
            )
        })
        .collect();

    // Expected samples per scenario, so we know when one is complete.
    let mut expected: HashMap<Key, u32> = HashMap::new();
    for job in &jobs {
        expected.insert((job.suite_index, job.scenario_index), job.samples);
    }

    let mut gathered: HashMap<Key, Vec<SampleResult>> = HashMap::new();
    let mut finished: Vec<ScenarioResult> = Vec::with_capacity(expected.len());
    let mut queues: BTreeMap<String, VecDeque<Work>> = BTreeMap::new();
    let mut judge_queue: VecDeque<Work> = VecDeque::new();
    let mut not_run: Vec<(String, String)> = Vec::new();

    // Keys echoed by a model or an `exec` app are redacted whatever `[redact]` says.
    let redactor = Redactor::new(&settings.redact)
        .map_err(crate::Error::Usage)?
        .with_secrets(configured_secrets(settings));
    let shared = Arc::new(Shared {
        project: project.clone(),
        cache: recordings.cache.clone(),
        budget,
        clients: Mutex::new(HashMap::new()),
        prices,
        providers,
        judge_retries: options.judge_retries,
        offline: options.offline,
        redactor,
        cancelled: AtomicBool::new(false),
        warnings: Mutex::new(Vec::new()),
        usage_unreported: Mutex::new(HashSet::new()),
    });

    // A cap is only enforceable with a price for every provider that will be called.
    let mut unpriced_called: BTreeMap<String, String> = BTreeMap::new();

    // 1. Resolve replays synchronously; report them once the run has been announced.
    let total_samples = jobs.len();
    let mut ready: Vec<(Key, SampleResult)> = Vec::new();
    let mut skipped_samples = 0;
    for job in jobs {
        let (suite, scenario) = scenario_of(&project, &job);
        // `--affected-since` limits which scenarios may call; `--no-cache` then forces calls
        // for those only, and the rest still replay what is recorded.
        let excluded = options
            .only_call
            .as_ref()
            .is_some_and(|only| !only.contains(&(suite.name.clone(), scenario.id.clone())));
        let recorded = if options.no_cache && !excluded {
            None
        } else {
            lookup_recording(&recordings, &job, observer)
        };
        let recorded = recorded.map(|mut rec| {
            if let std::borrow::Cow::Owned(clean) = shared.redactor.apply(&rec.output) {
                rec.output = clean;
            }
            rec
        });
        let key = (job.suite_index, job.scenario_index);
        match recorded {
            Some(rec) => {
                if scenario.asserts.iter().any(|a| a.kind.is_model_graded()) {
                    judge_queue.push_back(Work::Judge(job, rec));
                } else {
                    ready.push((key, score_recorded(&job, scenario, rec, Vec::new())));
                }
            }
            None => {
                if options.offline || excluded {
                    let why = if options.offline {
                        "offline: no recorded output for this fingerprint in the cache or the snapshots".to_string()
                    } else {
                        options
                            .only_call_reason
                            .clone()
                            .unwrap_or_else(|| "not affected and not recorded".to_string())
                    };
                    // Reported as skipped scenarios (a warning, or a threshold failure), not
                    // as scenarios a budget cap stopped.
                    skipped_samples += 1;
                    ready.push((key, skipped_sample(&job, why)));
                } else {
                    if shared.budget.applies_to(&suite.name)
                        && shared
                            .prices
                            .get(&suite.provider)
                            .copied()
                            .flatten()
                            .is_none()
                    {
                        let model = project
                            .settings
                            .providers
                            .get(&suite.provider)
                            .map(|p| p.model_name().to_string())
                            .unwrap_or_default();
                        unpriced_called.insert(suite.provider.clone(), model);
                    }
                    queues
                        .entry(job.provider.to_string())
                        .or_default()
                        .push_back(Work::Call(job));
                }
            }
        }
    }
    if !unpriced_called.is_empty() {
        let list: Vec<String> = unpriced_called
            .iter()
            .map(|(p, m)| format!("provider `{p}` (model `{m}`)"))
            .collect();
        return Err(crate::Error::Usage(format!(
            "a budget cap is set but {} has no known price, so the cap cannot be enforced: add [prices.\"MODEL\"] with input and output USD per million tokens to evalgit.toml",
            list.join(", ")
        )));
    }

    info.scenarios = expected.len();
    info.samples = total_samples;
    info.to_call = queues.values().map(VecDeque::len).sum();
    info.to_skip = skipped_samples;
    observer.started(&info);
    for (key, sample) in ready {
        push_sample(
            &project,
            key,
            sample,
            &expected,
            &mut gathered,
            &mut finished,
            observer,
            options.release_outputs,
        );
    }

    // 2. Workers for what needs a call or a judge.
    let (tx, mut rx) = mpsc::unbounded_channel::<Finished>();
    let mut handles = Vec::new();
    for (provider, queue) in queues {
        let workers = project
            .settings
            .providers
            .get(&provider)
            .map(|p| p.max_concurrency)
            .unwrap_or(1)
            .max(1);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..workers.min(queue.lock().map(|q| q.len()).unwrap_or(1).max(1)) {
            handles.push(tokio::spawn(worker(
                shared.clone(),
                queue.clone(),
                tx.clone(),
            )));
        }
    }
    if !judge_queue.is_empty() {
        let queue = Arc::new(Mutex::new(judge_queue));
        for _ in 0..4 {
            handles.push(tokio::spawn(worker(
                shared.clone(),
                queue.clone(),
                tx.clone(),
            )));
        }
    }
    drop(tx);

    // 3. Gather samples as they finish; stop issuing calls on Ctrl-C or SIGTERM (a CI job
    // cancelled), so the results so far and the summary are written and the processes
    // `exec` commands started are killed with their calls.
    let mut interrupted = false;
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        let interrupt = async {
            match terminate.as_mut() {
                Some(term) => tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                },
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        tokio::select! {
            msg = rx.recv() => match msg {
                Some((key, sample, refused)) => {
                    if let Some(k) = refused { not_run.push(k); }
                    for w in drain_warnings(&shared) { observer.warning(&w); }
                    push_sample(&project, key, sample, &expected, &mut gathered, &mut finished, observer, options.release_outputs);
                }
                None => break,
            },
            _ = interrupt, if !interrupted => {
                interrupted = true;
                shared.cancelled.store(true, Ordering::SeqCst);
                // Calls in flight are abandoned: their answers would come too late to matter.
                for h in &handles {
                    h.abort();
                }
                observer.warning("interrupted: stopping now; every finished scenario is saved");
            }
        }
    }
    for h in handles {
        let _ = h.await;
    }
    for w in drain_warnings(&shared) {
        observer.warning(&w);
    }

    // Scenarios left incomplete (interrupted) are not reported as results.
    let order: HashMap<(&str, &str), (usize, usize)> = project
        .suites
        .iter()
        .enumerate()
        .flat_map(|(si, s)| {
            s.scenarios
                .iter()
                .enumerate()
                .map(move |(ci, c)| ((s.name.as_str(), c.id.as_str()), (si, ci)))
        })
        .collect();
    finished.sort_by_key(|r| {
        order
            .get(&(r.suite.as_str(), r.id.as_str()))
            .copied()
            .unwrap_or((usize::MAX, usize::MAX))
    });
    not_run.sort();
    not_run.dedup();
    let spent = shared.budget.spent();
    Ok(RunOutcome {
        budget: BudgetReport {
            max_run_usd: shared.budget.cap(),
            spent_usd: spent,
            stopped: shared.budget.stopped(),
            not_run,
            caps_hit: shared.budget.caps_hit(),
        },
        unfinished: expected.len().saturating_sub(finished.len()),
        results: finished,
        spent_usd: spent,
        interrupted,
    })
}

fn drain_warnings(shared: &Shared) -> Vec<String> {
    std::mem::take(&mut *shared.warnings.lock().unwrap_or_else(|p| p.into_inner()))
}

fn scenario_of<'p>(project: &'p Project, job: &Job) -> (&'p Suite, &'p Scenario) {
    let suite = &project.suites[job.suite_index];
    (suite, &suite.scenarios[job.scenario_index])
}

fn lookup_recording(
    recordings: &Recordings,
    job: &Job,
    observer: &mut dyn Observer,
) -> Option<Recorded> {
    // The scenario's own accepted snapshot and the cache, in the order `snapshots_first`
    // says; then an accepted snapshot under another name (a renamed scenario), which costs a
    // scan of the snapshots on first use.
    let fingerprint = job.fingerprint.to_hex();
    let snapshot = |sample: crate::snapshot::SnapshotSample| Recorded {
        output: sample.output,
        model: sample.model.unwrap_or_default(),
        usage: sample.usage,
        cost_usd: sample.cost_usd,
        estimated_spend: None,
        // Recorded for scenarios that check latency; other replays took no time.
        latency_ms: sample.latency_ms.unwrap_or(0),
        source: OutputSource::Snapshot,
    };
    let store = recordings.snapshots.as_ref();
    let own = || store.and_then(|s| s.replay(&job.suite, &job.scenario_id, &fingerprint));
    if recordings.snapshots_first
        && let Some(sample) = own()
    {
        return Some(snapshot(sample));
    }
    if let Some(cache) = &recordings.cache {
        match cache.get(&job.fingerprint) {
            CacheLookup::Hit(entry) => {
                return Some(Recorded {
                    output: entry.output,
                    model: entry.model,
                    usage: entry.usage,
                    cost_usd: entry.cost_usd,
                    estimated_spend: None,
                    latency_ms: entry.latency_ms,
                    source: OutputSource::Cache,
                });
            }
            CacheLookup::Corrupt(why) => observer.warning(&format!(
                "ignoring a corrupt cache entry (it will be re-recorded): {why}"
            )),
            CacheLookup::Miss => {}
        }
    }
    let own = if recordings.snapshots_first {
        None
    } else {
        own()
    };
    own.or_else(|| store.and_then(|s| s.replay_renamed(&fingerprint)))
        .map(snapshot)
}

fn skipped_sample(job: &Job, why: String) -> SampleResult {
    SampleResult {
        repeat: job.repeat,
        fingerprint: job.fingerprint.to_hex(),
        source: OutputSource::Skipped,
        output: None,
        model: None,
        usage: Usage::default(),
        cost_usd: 0.0,
        spent_usd: 0.0,
        spent_estimated: false,
        latency_ms: 0,
        checks: Vec::new(),
        score: 0.0,
        pass: false,
        error: Some(why),
        eval_usage: Usage::default(),
        eval_cost_usd: 0.0,
    }
}

fn error_sample(job: &Job, why: String, spent: f64) -> SampleResult {
    SampleResult {
        source: OutputSource::Called,
        spent_usd: spent,
        ..skipped_sample(job, why)
    }
}

/// Scores a recorded or fresh output. `judged` holds the model-graded results, by position
/// among the scenario's assertions.
fn score_recorded(
    job: &Job,
    scenario: &Scenario,
    rec: Recorded,
    judged: Vec<(usize, CheckResult)>,
) -> SampleResult {
    let input = CheckInput {
        output: &rec.output,
        latency_ms: rec.latency_ms,
        cost_usd: rec.cost_usd,
    };
    let mut judged: HashMap<usize, CheckResult> = judged.into_iter().collect();
    let checks: Vec<CheckResult> = scenario
        .asserts
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            judged
                .remove(&i)
                .unwrap_or_else(|| assert::evaluate(spec, &input))
        })
        .collect();
    let (score, pass) = assert::score_sample(&checks, scenario.threshold);
    let cost = rec.cost_usd.unwrap_or(0.0);
    SampleResult {
        repeat: job.repeat,
        fingerprint: job.fingerprint.to_hex(),
        source: rec.source,
        output: Some(rec.output),
        model: Some(rec.model),
        usage: rec.usage,
        cost_usd: cost,
        spent_usd: if rec.source == OutputSource::Called {
            rec.estimated_spend.unwrap_or(cost)
        } else {
            0.0
        },
        spent_estimated: rec.source == OutputSource::Called && rec.estimated_spend.is_some(),
        latency_ms: rec.latency_ms,
        checks,
        score,
        pass,
        error: None,
        eval_usage: Usage::default(),
        eval_cost_usd: 0.0,
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "the gathering state of one run, passed apart to keep the borrows simple"
)]
fn push_sample(
    project: &Project,
    key: Key,
    sample: SampleResult,
    expected: &HashMap<Key, u32>,
    gathered: &mut HashMap<Key, Vec<SampleResult>>,
    finished: &mut Vec<ScenarioResult>,
    observer: &mut dyn Observer,
    release_outputs: bool,
) {
    let want = expected.get(&key).copied().unwrap_or(1);
    // Sized to the samples expected: a first `push` would leave room for four, which a run
    // of 100,000 scenarios holds until its end.
    let samples = gathered
        .entry(key)
        .or_insert_with(|| Vec::with_capacity(want as usize));
    samples.push(sample);
    if samples.len() as u32 >= want {
        let mut samples = gathered.remove(&key).unwrap_or_default();
        samples.sort_by_key(|s| s.repeat);
        let mut result = finish_scenario(project, key, samples);
        result.seq = finished.len();
        observer.scenario_finished(&result);
        if release_outputs {
            result.release_outputs();
        }
        finished.push(result);
    }
}

fn finish_scenario(project: &Project, (si, ci): Key, samples: Vec<SampleResult>) -> ScenarioResult {
    let suite = &project.suites[si];
    let scenario = &suite.scenarios[ci];
    let rule = scenario.pass_rule.unwrap_or(suite.pass_rule);
    let mut usage = Usage::default();
    let (mut cost, mut spent, mut latency) = (0.0, 0.0, 0u64);
    for s in &samples {
        usage += s.usage;
        // The system under test only: judge cost is evaluation cost, kept on the samples
        // (`eval_cost_usd`) and reported apart, never in the cost gate.
        cost += s.cost_usd;
        spent += s.spent_usd;
        latency += s.latency_ms;
    }
    // A provider error, or a check that could not be decided (a judge that never gave a
    // valid verdict): the scenario is an error, not a failure of the model under test.
    let any_error = samples.iter().any(|s| {
        (s.error.is_some() && s.source != OutputSource::Skipped)
            || s.checks.iter().any(|c| c.error.is_some())
    });
    let any_skipped = samples.iter().any(|s| s.source == OutputSource::Skipped);
    let (pass, score, flaky) = assert::aggregate_samples(&samples, rule);
    let status = if any_error {
        ScenarioStatus::Error
    } else if any_skipped {
        ScenarioStatus::Skipped
    } else if pass {
        ScenarioStatus::Passed
    } else {
        ScenarioStatus::Failed
    };
    ScenarioResult {
        suite: suite.name.clone(),
        id: scenario.id.clone(),
        file: crate::error::display_rel(&scenario.file),
        line: scenario.line,
        provider: suite.provider.clone(),
        status,
        pass: status == ScenarioStatus::Passed,
        score,
        threshold: scenario.threshold,
        flaky,
        usage,
        cost_usd: cost,
        spent_usd: spent,
        latency_ms: latency,
        assertions_fingerprint: crate::cache::assertions_fingerprint(
            &scenario.asserts,
            scenario.threshold,
            rule,
        )
        .to_hex(),
        samples,
        seq: 0,
        outputs_released: false,
    }
}

async fn worker(
    shared: Arc<Shared>,
    queue: Arc<Mutex<VecDeque<Work>>>,
    tx: mpsc::UnboundedSender<Finished>,
) {
    loop {
        if shared.cancelled.load(Ordering::SeqCst) {
            return;
        }
        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
        let Some(work) = next else { return };
        let (key, sample, refused) = match work {
            Work::Call(job) => call_job(&shared, job).await,
            Work::Judge(job, rec) => {
                let key = (job.suite_index, job.scenario_index);
                (key, judge_and_score(&shared, &job, rec).await, None)
            }
        };
        if tx.send((key, sample, refused)).is_err() {
            return;
        }
    }
}

fn client_for(shared: &Shared, provider: &str) -> Result<Client, String> {
    let mut clients = shared.clients.lock().unwrap_or_else(|p| p.into_inner());
    clients
        .entry(provider.to_string())
        .or_insert_with(|| match shared.project.settings.providers.get(provider) {
            Some(config) => Client::new(config, &shared.project.root).map_err(|e| e.to_string()),
            None => Err(format!(
                "provider `{provider}` is not defined in evalgit.toml"
            )),
        })
        .clone()
}

async fn call_job(shared: &Shared, job: Job) -> (Key, SampleResult, Option<(String, String)>) {
    let key = (job.suite_index, job.scenario_index);
    let project = shared.project.clone();
    let (suite, scenario) = scenario_of(&project, &job);
    let client = match client_for(shared, &job.provider) {
        Ok(c) => c,
        Err(e) => return (key, error_sample(&job, e, 0.0), None),
    };
    let price = shared.prices.get(&suite.provider).copied().flatten();
    let max_tokens = project
        .settings
        .providers
        .get(&suite.provider)
        .and_then(|p| p.params.max_tokens);
    let upper_bound = price.map(|p| cost_upper_bound(&job.messages, max_tokens, p));
    let reservation = match (shared.budget.applies_to(&suite.name), upper_bound) {
        (true, Some(bound)) => match shared.budget.reserve_waiting(&suite.name, bound).await {
            Ok(r) => Some(r),
            Err(refusal) => {
                let sample = skipped_sample(&job, refusal.to_string());
                return (key, sample, Some((suite.name.clone(), scenario.id.clone())));
            }
        },
        _ => None,
    };
    let request = ChatRequest {
        messages: job.messages.as_ref().clone(),
        vars: scenario.vars.to_map(),
    };
    let result = client.complete(&request).await;
    let charge = match (&result, price, upper_bound) {
        (Ok(c), Some(p), Some(bound)) => Some(Charge::of(c.usage, p, bound)),
        _ => None,
    };
    let spent = charge.map_or(0.0, |c| c.usd);
    match reservation {
        Some(r) => shared.budget.settle(r, spent),
        None => shared.budget.record(&suite.name, spent),
    }
    let estimated_spend = charge.filter(|c| c.estimated).map(|c| c.usd);
    if estimated_spend.is_some() {
        warn_usage_unreported(shared, &job.provider);
    }
    // What the output cost, as before: 0 at a known price when no usage was reported.
    let actual = match &result {
        Ok(c) => price.map(|p| cost_usd(c.usage, p)),
        Err(_) => None,
    };
    let mut completion = match result {
        Ok(c) => c,
        Err(e) => {
            return (
                key,
                error_sample(
                    &job,
                    shared.redactor.apply(&e.to_string()).into_owned(),
                    0.0,
                ),
                None,
            );
        }
    };
    // Redact before the output is scored, cached or written anywhere.
    if let std::borrow::Cow::Owned(clean) = shared.redactor.apply(&completion.text) {
        completion.text = clean;
    }
    let latency_ms = completion.latency.as_millis() as u64;
    if let Some(cache) = &shared.cache {
        let entry = CachedResponse {
            output: completion.text.clone(),
            model: completion.model.clone(),
            usage: completion.usage,
            cost_usd: actual,
            latency_ms,
            created_unix: unix_now(),
        };
        if let Err(e) = cache.put(&job.fingerprint, &entry) {
            warn(
                shared,
                format!(
                    "could not write the cache entry for {}/{}: {e}",
                    suite.name, scenario.id
                ),
            );
        }
    }
    let rec = Recorded {
        output: completion.text,
        model: completion.model,
        usage: completion.usage,
        cost_usd: actual,
        estimated_spend,
        latency_ms,
        source: OutputSource::Called,
    };
    (key, judge_and_score(shared, &job, rec).await, None)
}

/// Says once per provider that its calls are counted at their upper bound, and how to get
/// real costs.
fn warn_usage_unreported(shared: &Shared, provider: &str) {
    let first = shared
        .usage_unreported
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(provider.to_string());
    if !first {
        return;
    }
    let kind = shared
        .project
        .settings
        .providers
        .get(provider)
        .map(|p| p.kind);
    let how = match kind {
        Some(ProviderKind::Http) => "set usage_input_path and usage_output_path",
        Some(ProviderKind::Exec) => {
            "print {\"output\": ..., \"usage\": {\"input_tokens\": n, \"output_tokens\": m}}"
        }
        _ => "make the server return token usage",
    };
    warn(
        shared,
        format!(
            "provider `{provider}` reported no token usage: each of its calls counts at its upper bound (prompt bytes as tokens plus max_tokens of output) toward the spending and the budget (`spent_estimated` in the results); {how} for real costs"
        ),
    );
}

fn warn(shared: &Shared, message: String) {
    shared
        .warnings
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(message);
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Runs the model-graded checks of a sample (through the judge cache), then scores it.
async fn judge_and_score(shared: &Shared, job: &Job, rec: Recorded) -> SampleResult {
    let project = shared.project.clone();
    let (suite, scenario) = scenario_of(&project, job);
    let mut judged = Vec::new();
    let mut eval = JudgeSpend::default();
    for (i, spec) in scenario.asserts.iter().enumerate() {
        if !spec.kind.is_model_graded() {
            continue;
        }
        let (check, spend) = judge_one(shared, suite, spec, &rec.output, job).await;
        eval.add(spend);
        judged.push((i, check));
    }
    let mut sample = score_recorded(job, scenario, rec, judged);
    sample.eval_usage = eval.usage;
    sample.eval_cost_usd = eval.usd;
    sample.spent_usd += eval.usd;
    sample.spent_estimated |= eval.estimated;
    sample
}

/// What judging a sample spent now (a cached judgment spends nothing).
#[derive(Debug, Clone, Copy, Default)]
struct JudgeSpend {
    usage: Usage,
    usd: f64,
    /// A judge reported no usage: `usd` counts that call at its upper bound ([`Charge`]).
    estimated: bool,
}

impl JudgeSpend {
    fn add(&mut self, other: JudgeSpend) {
        self.usage += other.usage;
        self.usd += other.usd;
        self.estimated |= other.estimated;
    }
}

/// One model-graded check: the cached judgment, or a judge call retried on malformed replies.
/// Returns the check and what the judge calls spent now.
async fn judge_one(
    shared: &Shared,
    suite: &Suite,
    spec: &AssertionSpec,
    output: &str,
    job: &Job,
) -> (CheckResult, JudgeSpend) {
    // A judge's error or malformed reply may quote what it was sent or what it answered.
    let failed = |reason: String| {
        let reason = shared.redactor.apply(&reason).into_owned();
        CheckResult {
            kind: spec.type_name(),
            pass: false,
            score: 0.0,
            weight: spec.weight,
            reason: reason.clone(),
            error: Some(reason),
        }
    };
    let judge_name = spec
        .provider
        .clone()
        .or_else(|| suite.judge.clone())
        .or_else(|| shared.project.settings.judge.clone());
    let Some(judge_name) = judge_name else {
        return (
            failed(
                "no judge provider: set `judge = \"PROVIDER\"` in evalgit.toml or the suite".into(),
            ),
            JudgeSpend::default(),
        );
    };
    let Some(judge_fp) = shared.providers.get(&judge_name) else {
        return (
            failed(format!(
                "judge provider `{judge_name}` is not defined in evalgit.toml"
            )),
            JudgeSpend::default(),
        );
    };
    let fp: Fingerprint = judge_fingerprint(judge_fp, spec, output, &job.messages);
    if let Some(cache) = &shared.cache {
        match cache.get_judgment(&fp) {
            CacheLookup::Hit(j) => {
                let verdict = assert::JudgeVerdict {
                    pass: j.pass,
                    score: j.score,
                    reason: j.reason.clone(),
                };
                return (assert::judged_check(spec, &verdict), JudgeSpend::default());
            }
            CacheLookup::Corrupt(why) => warn(
                shared,
                format!("ignoring a corrupt judgment in the cache: {why}"),
            ),
            CacheLookup::Miss => {}
        }
    }
    if shared.offline {
        return (
            failed(
                "offline: no cached judgment of this output; run without --offline to judge it"
                    .into(),
            ),
            JudgeSpend::default(),
        );
    }
    if shared.cancelled.load(Ordering::SeqCst) {
        return (
            failed("interrupted before the judge was called".into()),
            JudgeSpend::default(),
        );
    }
    let client = match client_for(shared, &judge_name) {
        Ok(c) => c,
        Err(e) => {
            return (
                failed(format!("judge `{judge_name}`: {e}")),
                JudgeSpend::default(),
            );
        }
    };
    let price = shared.prices.get(&judge_name).copied().flatten();
    let max_tokens = shared
        .project
        .settings
        .providers
        .get(&judge_name)
        .and_then(|p| p.params.max_tokens);
    let messages = assert::judge_messages(spec, output, &job.messages);
    let mut spend = JudgeSpend::default();
    let mut last_problem = String::new();
    for _attempt in 0..=shared.judge_retries {
        let upper_bound = price.map(|p| cost_upper_bound(&messages, max_tokens, p));
        let reservation = match (shared.budget.applies_to(&suite.name), upper_bound) {
            (true, Some(bound)) => match shared.budget.reserve(&suite.name, bound) {
                Ok(r) => Some(r),
                Err(refusal) => return (failed(format!("judge {refusal}")), spend),
            },
            (true, None) => {
                return (
                    failed(format!(
                        "judge `{judge_name}` has no price and a budget cap is set"
                    )),
                    spend,
                );
            }
            _ => None,
        };
        let reply = client
            .complete(&ChatRequest {
                messages: messages.clone(),
                vars: Default::default(),
            })
            .await;
        let charge = match (&reply, price, upper_bound) {
            (Ok(c), Some(p), Some(bound)) => Some(Charge::of(c.usage, p, bound)),
            _ => None,
        };
        let call_cost = charge.map_or(0.0, |c| c.usd);
        match reservation {
            Some(r) => shared.budget.settle(r, call_cost),
            None => shared.budget.record(&suite.name, call_cost),
        }
        let reply = match reply {
            Ok(c) => c,
            Err(e) => return (failed(format!("judge `{judge_name}`: {e}")), spend),
        };
        let estimated = charge.is_some_and(|c| c.estimated);
        if estimated {
            warn_usage_unreported(shared, &judge_name);
        }
        spend.add(JudgeSpend {
            usage: reply.usage,
            usd: call_cost,
            estimated,
        });
        // Redacted before parsing: a parse error quotes an excerpt of the reply, which could
        // cut a secret in half.
        match assert::parse_judge_reply(&shared.redactor.apply(&reply.text)) {
            Ok(mut verdict) => {
                verdict.reason = shared.redactor.apply(&verdict.reason).into_owned();
                if let Some(cache) = &shared.cache {
                    let entry = CachedJudgment {
                        pass: verdict.pass,
                        score: verdict.score,
                        reason: verdict.reason.clone(),
                        usage: reply.usage,
                        // What the judgment cost, as for responses: 0 at a known price
                        // when no usage was reported.
                        cost_usd: price.map(|p| cost_usd(reply.usage, p)),
                        model: reply.model.clone(),
                    };
                    if let Err(e) = cache.put_judgment(&fp, &entry) {
                        warn(shared, format!("could not cache a judgment: {e}"));
                    }
                }
                return (assert::judged_check(spec, &verdict), spend);
            }
            Err(problem) => last_problem = problem,
        }
    }
    (
        failed(format!(
            "judge `{judge_name}` gave no valid verdict after {} attempts: {last_problem}",
            shared.judge_retries + 1
        )),
        spend,
    )
}
