//! `evalgit plan`: which scenarios a change affects and why, before spending anything.
//!
//! Loading the base revision is most of a plan's cost, and most of it is usually wasted: a
//! suite whose file, whose referenced files (prompt, scenarios) and whose provider are
//! byte-identical at the base, under an identical evalgit.toml, loads into the same suite
//! with the same fingerprints. Such suites are not parsed a second time: their base samples
//! are the working tree's, checked against the base revision's accepted snapshots.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::args::PlanArgs;
use super::revision::default_base;
use super::run_cmd::job_filter;
use super::workspace::Global;
use crate::cache::{Fingerprint, ResponseCache, provider_fingerprint};
use crate::config::{self, Project, Prompt, Source, WorkTree};
use crate::git::{GitRepo, RevisionSource};
use crate::plan::{Plan, PlanInput, compute_plan};
use crate::provider::PriceTable;
use crate::runner::{self, JobFilter, JobSet};
use crate::snapshot::{ReplaySource, SnapshotSample, SnapshotStore, SourceSnapshots};
use crate::{Error, ExitCode};

/// Every file read while loading a project, in order, with the blake3 of its bytes (`None`:
/// it did not exist). Tells which files each suite was built from.
pub type ReadLog = Vec<(PathBuf, Option<blake3::Hash>)>;

/// A [`Source`] that logs what is read through it.
struct RecordingSource<S> {
    inner: S,
    reads: Mutex<ReadLog>,
}

impl<S: Source> Source for RecordingSource<S> {
    fn read(&self, rel: &Path) -> std::io::Result<Option<Vec<u8>>> {
        let bytes = self.inner.read(rel)?;
        let hash = bytes.as_deref().map(blake3::hash);
        self.reads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((rel.to_path_buf(), hash));
        Ok(bytes)
    }

    fn list(&self, rel_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        self.inner.list(rel_dir)
    }

    fn list_dirs(&self, rel_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        self.inner.list_dirs(rel_dir)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// Loads the working tree's project like [`Global::load`], also returning what was read.
pub fn load_recorded(global: &Global) -> Result<(Project, WorkTree, ReadLog), Error> {
    let root = global.root()?;
    let recording = RecordingSource {
        inner: WorkTree::new(&root),
        reads: Mutex::new(Vec::new()),
    };
    let project = config::load(&recording, &global.load_options(&root))?;
    if !project.warnings.is_empty() {
        eprintln!("{}", project.warnings);
    }
    let reads = recording
        .reads
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    Ok((project, recording.inner, reads))
}

/// A source whose listing of the suites directory leaves out some suite files.
struct WithoutSuites {
    inner: Arc<dyn Source>,
    evals_dir: PathBuf,
    omit: HashSet<PathBuf>,
}

impl Source for WithoutSuites {
    fn read(&self, rel: &Path) -> std::io::Result<Option<Vec<u8>>> {
        self.inner.read(rel)
    }

    fn list(&self, rel_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        let mut files = self.inner.list(rel_dir)?;
        if rel_dir == self.evals_dir {
            files.retain(|f| !self.omit.contains(f));
        }
        Ok(files)
    }

    fn list_dirs(&self, rel_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        self.inner.list_dirs(rel_dir)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// Snapshot replay that lists each suite's snapshot directory once and only reads the files
/// that exist: most scenarios of a fresh project have no accepted snapshot, and a failed
/// open per scenario is what `plan` spent its system time on.
type SuiteLister<'a> = dyn Fn(&str) -> Option<HashSet<String>> + Send + Sync + 'a;

struct ListedReplay<'a> {
    inner: &'a dyn ReplaySource,
    /// The accepted snapshot file names of a suite; `None` when the listing failed (then
    /// every lookup goes through).
    list: Box<SuiteLister<'a>>,
    listed: Mutex<HashMap<String, Option<HashSet<String>>>>,
    /// Also look for a sample under another name (a renamed scenario). Only the working
    /// tree's side needs it: a base scenario's recording is under its own name there.
    renamed: bool,
}

impl<'a> ListedReplay<'a> {
    fn of_store(store: &'a SnapshotStore) -> Self {
        ListedReplay {
            inner: store,
            list: Box::new(move |suite| {
                let dir = store.dir_path().join(crate::snapshot::encode_name(suite));
                let entries = match std::fs::read_dir(&dir) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Some(HashSet::new());
                    }
                    Err(_) => return None,
                };
                let mut names = HashSet::new();
                for entry in entries {
                    names.insert(entry.ok()?.file_name().into_string().ok()?);
                }
                Some(names)
            }),
            listed: Mutex::new(HashMap::new()),
            renamed: true,
        }
    }

    fn of_source(snapshots: &'a SourceSnapshots, source: Arc<dyn Source>, dir: &str) -> Self {
        let dir = PathBuf::from(dir);
        ListedReplay {
            inner: snapshots,
            list: Box::new(move |suite| {
                let files = source
                    .list(&dir.join(crate::snapshot::encode_name(suite)))
                    .ok()?;
                Some(
                    files
                        .iter()
                        .filter_map(|f| Some(f.file_name()?.to_str()?.to_string()))
                        .collect(),
                )
            }),
            listed: Mutex::new(HashMap::new()),
            renamed: false,
        }
    }
}

impl ReplaySource for ListedReplay<'_> {
    fn replay(&self, suite: &str, id: &str, fingerprint: &str) -> Option<SnapshotSample> {
        let exists = {
            let mut listed = self.listed.lock().unwrap_or_else(|p| p.into_inner());
            let names = listed
                .entry(suite.to_string())
                .or_insert_with(|| (self.list)(suite));
            match names {
                Some(names) => {
                    names.contains(&format!("{}.snap", crate::snapshot::encode_name(id)))
                }
                None => true,
            }
        };
        let found = if exists {
            self.inner.replay(suite, id, fingerprint)
        } else {
            None
        };
        found.or_else(|| {
            self.renamed
                .then(|| self.inner.replay_renamed(fingerprint))
                .flatten()
        })
    }
}

/// What every sample of one suite shares in its plan input.
struct SuiteInputs {
    suite: String,
    provider: String,
    provider_fingerprint: Arc<crate::cache::ProviderFingerprint>,
    prompt_file: Option<PathBuf>,
    prompt_fingerprint: Option<Fingerprint>,
    price: Option<crate::config::Price>,
    max_tokens: Option<u32>,
}

/// The plan inputs of a project's jobs. `replay` tells which fingerprints an accepted
/// snapshot holds on that side.
pub fn plan_inputs(project: &Project, jobs: &JobSet, replay: &dyn ReplaySource) -> Vec<PlanInput> {
    let table = PriceTable::builtin();
    let providers: BTreeMap<&str, Arc<crate::cache::ProviderFingerprint>> = jobs
        .providers
        .iter()
        .map(|(k, v)| (k.as_str(), Arc::new(v.clone())))
        .collect();
    let mut per_suite: HashMap<usize, Option<SuiteInputs>> = HashMap::new();
    let mut vars_of: HashMap<(usize, usize), Arc<BTreeMap<String, serde_json::Value>>> =
        HashMap::new();
    let mut out = Vec::with_capacity(jobs.jobs.len());
    for job in &jobs.jobs {
        let suite = &project.suites[job.suite_index];
        let shared = per_suite.entry(job.suite_index).or_insert_with(|| {
            // `expand_jobs` only yields jobs whose provider exists.
            let provider_fingerprint = providers.get(suite.provider.as_str())?.clone();
            let config = project.settings.providers.get(&suite.provider);
            let (prompt_file, prompt_fingerprint) = match &suite.prompt {
                Prompt::Text { template, file } => (
                    Some(file.clone().unwrap_or_else(|| suite.file.clone())),
                    Some(Fingerprint::of_bytes(template.as_bytes())),
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
                        Some(Fingerprint::of_bytes(all.as_bytes())),
                    )
                }
            };
            Some(SuiteInputs {
                suite: suite.name.clone(),
                provider: suite.provider.clone(),
                provider_fingerprint,
                prompt_file,
                prompt_fingerprint,
                price: config
                    .and_then(|c| table.lookup(c.model_name(), &project.settings.prices))
                    .map(|(p, _)| p),
                max_tokens: config.and_then(|c| c.params.max_tokens),
            })
        });
        let Some(shared) = shared else {
            continue;
        };
        let scenario = &suite.scenarios[job.scenario_index];
        let vars = vars_of
            .entry((job.suite_index, job.scenario_index))
            .or_insert_with(|| Arc::new(scenario.vars.to_map()))
            .clone();
        let fp_hex = job.fingerprint.to_hex();
        out.push(PlanInput {
            suite: shared.suite.clone(),
            scenario_id: scenario.id.clone(),
            repeat: job.repeat,
            fingerprint: job.fingerprint,
            assertions_fingerprint: job.assertions_fingerprint,
            messages: job.messages.clone(),
            vars,
            provider: shared.provider.clone(),
            provider_fingerprint: shared.provider_fingerprint.clone(),
            prompt_file: shared.prompt_file.clone(),
            prompt_fingerprint: shared.prompt_fingerprint,
            price: shared.price,
            max_tokens: shared.max_tokens,
            recorded: replay.replay(&suite.name, &scenario.id, &fp_hex).is_some(),
        });
    }
    out
}

/// The project root relative to the repository's work tree (a project may live in a
/// subdirectory). The same as `revision::load_at` computes.
fn prefix(repo: &GitRepo, root: &Path) -> PathBuf {
    let workdir = repo.workdir();
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let workdir = workdir.canonicalize().unwrap_or(workdir);
    root.strip_prefix(&workdir)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The suite files of the working tree that load identically at the base revision (see the
/// module documentation): every file their loading read (the suite file, then its prompt and
/// scenarios files, per `reads`) has the same bytes at `base`, evalgit.toml too, and their
/// provider's fingerprint (which covers an `exec` script) is the same.
fn identical_suites(
    project: &Project,
    jobs: &JobSet,
    reads: &ReadLog,
    base: &dyn Source,
) -> HashSet<PathBuf> {
    let same_at_base = |path: &Path, hash: &Option<blake3::Hash>| match base.read(path) {
        Ok(bytes) => bytes.as_deref().map(blake3::hash) == *hash,
        Err(_) => false,
    };
    let settings = Path::new(config::SETTINGS_FILE);
    let Some((_, settings_hash)) = reads.iter().find(|(p, _)| p == settings) else {
        return HashSet::new();
    };
    if settings_hash.is_none() || !same_at_base(settings, settings_hash) {
        return HashSet::new();
    }
    let same_providers: HashSet<&str> = project
        .settings
        .providers
        .iter()
        .filter(|(name, config)| {
            jobs.providers.get(*name).map(|fp| fp.digest())
                == Some(provider_fingerprint(config, base).digest())
        })
        .map(|(name, _)| name.as_str())
        .collect();
    let suite_files: HashMap<&Path, &config::Suite> = project
        .suites
        .iter()
        .map(|s| (s.file.as_path(), s))
        .collect();
    // The reads after a suite file, up to the next suite file, are that suite's.
    type Read = (PathBuf, Option<blake3::Hash>);
    let mut groups: Vec<(&config::Suite, Vec<&Read>)> = Vec::new();
    let mut seen = HashSet::new();
    let mut duplicate = false;
    for read in reads {
        if let Some(suite) = suite_files.get(read.0.as_path()) {
            duplicate |= !seen.insert(read.0.as_path());
            groups.push((suite, vec![read]));
        } else if let Some((_, group)) = groups.last_mut() {
            group.push(read);
        }
    }
    if duplicate {
        return HashSet::new();
    }
    groups
        .into_iter()
        .filter(|(suite, group)| {
            same_providers.contains(suite.provider.as_str())
                && group.iter().all(|(path, hash)| same_at_base(path, hash))
        })
        .map(|(suite, _)| suite.file.clone())
        .collect()
}

/// The plan of the working tree's `jobs` against revision `rev`. With what loading the
/// working tree read (see [`load_recorded`]), the suites identical at `rev` are not loaded
/// again; without it (`None`) every base suite is.
pub fn plan_against_reads(
    project: &Project,
    jobs: &JobSet,
    rev: &str,
    filter: &JobFilter,
    reads: Option<&ReadLog>,
) -> Result<Plan, Error> {
    let global = Global {
        root: Some(project.root.clone()),
        profile: project.settings.profile.clone(),
        color: false,
    };
    let root = &project.root;
    let repo = GitRepo::discover(root)?;
    let commit = repo.resolve(rev)?;
    let prefix = prefix(&repo, root);
    let source: Arc<dyn Source> = Arc::new(RevisionSource::new(Arc::new(repo), rev, prefix)?);
    let has_settings = source
        .read(Path::new(config::SETTINGS_FILE))
        .map_err(|e| Error::Git(e.to_string()))?
        .is_some();

    let head_store = SnapshotStore::new(&project.root, &project.settings.snapshots_dir);
    let head_replay = ListedReplay::of_store(&head_store);
    let head = plan_inputs(project, jobs, &head_replay);
    let base = if has_settings {
        // Which suites need no second load. With `--suite` naming only suites the base lacks,
        // the base side selects every suite (see below): load them all then.
        let evals_dir = PathBuf::from(&project.settings.evals_dir);
        let base_stems: HashSet<String> = source
            .list(&evals_dir)
            .unwrap_or_default()
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
            .collect();
        let narrows =
            filter.suites.is_empty() || filter.suites.iter().any(|s| base_stems.contains(s));
        let skipped = match reads {
            Some(reads) if narrows => identical_suites(project, jobs, reads, source.as_ref()),
            _ => HashSet::new(),
        };
        let loaded_source: Arc<dyn Source> = if skipped.is_empty() {
            source.clone()
        } else {
            Arc::new(WithoutSuites {
                inner: source.clone(),
                evals_dir,
                omit: skipped.clone(),
            })
        };
        let mut opts = global.load_options(root);
        opts.root = root.to_path_buf();
        let base_project = match config::load(loaded_source.as_ref(), &opts) {
            Ok(p) => p,
            Err(d) => {
                return Err(Error::Usage(format!(
                    "the configuration at {rev} does not load, so it cannot be the baseline:\n{d}\nchoose another base revision"
                )));
            }
        };
        let skipped_names: HashSet<&str> = project
            .suites
            .iter()
            .filter(|s| skipped.contains(&s.file))
            .map(|s| s.name.as_str())
            .collect();
        let mut base_filter = filter.clone();
        base_filter.suites.retain(|s| {
            base_project.suites.iter().any(|x| &x.name == s) || skipped_names.contains(s.as_str())
        });
        let base_jobs = runner::expand_jobs(&base_project, loaded_source.as_ref(), &base_filter)?;
        let snapshots = SourceSnapshots::new(source.clone(), &base_project.settings.snapshots_dir);
        let replay = ListedReplay::of_source(
            &snapshots,
            source.clone(),
            &base_project.settings.snapshots_dir,
        );
        let mut base = plan_inputs(&base_project, &base_jobs, &replay);
        // The identical suites' base samples are the head's, recorded or not at the base.
        for input in &head {
            if skipped_names.contains(input.suite.as_str()) {
                let mut input = input.clone();
                input.recorded = replay
                    .replay(
                        &input.suite,
                        &input.scenario_id,
                        &input.fingerprint.to_hex(),
                    )
                    .is_some();
                base.push(input);
            }
        }
        base
    } else {
        Vec::new()
    };
    let cache = ResponseCache::open(&project.root).ok();
    let mut plan = compute_plan(&base, &head, cache.as_ref());
    plan.base = Some(format!("{rev} ({})", &commit[..commit.len().min(10)]));
    plan.head = Some("working tree".to_string());
    Ok(plan)
}

pub fn plan(global: &Global, args: PlanArgs) -> Result<ExitCode, Error> {
    let (project, source, reads) = load_recorded(global)?;
    let filter = job_filter(&project, &args.select)?;
    let jobs = runner::expand_jobs(&project, &source, &filter)?;
    let rev = match &args.base {
        Some(r) => r.clone(),
        None => default_base(&GitRepo::discover(&project.root)?)?,
    };
    let plan = plan_against_reads(&project, &jobs, &rev, &filter, Some(&reads))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoadOptions, MemorySource};

    fn project_files() -> MemorySource {
        MemorySource::new()
            .with(
                "evalgit.toml",
                "[providers.local]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n",
            )
            .with("prompts/a.txt", "A {{ x }}")
            .with("prompts/b.txt", "B {{ x }}")
            .with(
                "evals/one.toml",
                "provider = \"local\"\nprompt_file = \"prompts/a.txt\"\n[[scenario]]\nid = \"s\"\nvars = { x = \"1\" }\nassert = [{ type = \"contains\", value = \"A\" }]\n",
            )
            .with(
                "evals/two.toml",
                "provider = \"local\"\nprompt_file = \"prompts/b.txt\"\n[[scenario]]\nid = \"s\"\nvars = { x = \"1\" }\nassert = [{ type = \"contains\", value = \"B\" }]\n",
            )
    }

    /// The suite files `identical_suites` finds in `base` for the project `project_files()`.
    fn skipped(base: &MemorySource) -> Vec<String> {
        let recording = RecordingSource {
            inner: project_files(),
            reads: Mutex::new(Vec::new()),
        };
        let project = config::load(&recording, &LoadOptions::new("/p")).expect("loads");
        let reads = recording.reads.into_inner().expect("lock");
        let jobs =
            runner::expand_jobs(&project, &recording.inner, &JobFilter::default()).expect("jobs");
        let mut out: Vec<String> = identical_suites(&project, &jobs, &reads, base)
            .into_iter()
            .map(|p| crate::error::display_rel(&p))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn only_suites_identical_with_their_files_are_skipped() {
        type Edit = fn(&mut MemorySource);
        let cases: &[(&str, Edit, &[&str])] = &[
            (
                "nothing changed",
                |_| {},
                &["evals/one.toml", "evals/two.toml"],
            ),
            (
                "a prompt file changed",
                |s| s.insert("prompts/a.txt", "A2 {{ x }}"),
                &["evals/two.toml"],
            ),
            (
                "a prompt file is missing",
                |s| {
                    s.files.remove(Path::new("prompts/b.txt"));
                },
                &["evals/one.toml"],
            ),
            (
                "a suite file changed",
                |s| {
                    let text = s.files[Path::new("evals/two.toml")].replace("\"1\"", "\"2\"");
                    s.insert("evals/two.toml", text);
                },
                &["evals/one.toml"],
            ),
            (
                "evalgit.toml changed",
                |s| {
                    let text = s.files[Path::new("evalgit.toml")].replace("\"m\"", "\"m2\"");
                    s.insert("evalgit.toml", text);
                },
                &[],
            ),
        ];
        for (name, edit, expected) in cases {
            let mut base = project_files();
            edit(&mut base);
            assert_eq!(skipped(&base), *expected, "{name}");
        }
    }

    #[test]
    fn listed_replay_answers_like_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SnapshotStore::new(dir.path(), "snapshots");
        let listed = ListedReplay::of_store(&store);
        assert!(listed.replay("suite", "missing", "00").is_none());
        assert!(listed.replay("no-such-suite", "x", "00").is_none());
    }
}
