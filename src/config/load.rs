//! Loading a project: `evalgit.toml`, the selected profile, `EVALGIT_*` overrides, then every
//! `<evals_dir>/*.toml` suite, each checked against the settings. Every problem in every file
//! is reported in one pass; loading fails if any of them is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::env::apply_env;
use super::price_check::{Unpriced, unpriced_error, unpriced_providers};
use super::settings_file::{Origin, SettingsFile, check_kinds, profile_names, read_settings};
use super::suite_file::{SuiteCtx, TextError, read_suite, read_text};
use super::walker::{FileCx, SourceFile, parse_toml};
use super::{Diagnostic, Diagnostics, Project, Severity, Source};

/// The name of the settings file, which also marks the project root.
pub const SETTINGS_FILE: &str = "evalgit.toml";

/// How to load: where the project is, which profile, which environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadOptions {
    /// The project root (recorded in [`Project::root`]; files are read through the
    /// [`Source`]).
    pub root: PathBuf,
    /// `--profile`; when `None`, `EVALGIT_PROFILE` from `env` is used.
    pub profile: Option<String>,
    /// The `EVALGIT_*` variables (see `config::env` for the list). Passed in rather than
    /// read here so tests are hermetic.
    pub env: BTreeMap<String, String>,
}

impl LoadOptions {
    /// Options with no environment overrides.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LoadOptions {
            root: root.into(),
            profile: None,
            env: BTreeMap::new(),
        }
    }

    /// Options with the process's `EVALGIT_*` variables (variables that are not valid
    /// Unicode are skipped).
    pub fn from_process_env(root: impl Into<PathBuf>, profile: Option<String>) -> Self {
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with("EVALGIT_"))
            .collect();
        LoadOptions {
            root: root.into(),
            profile,
            env,
        }
    }
}

/// The directory holding `evalgit.toml`, searching `start` and its ancestors.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join(SETTINGS_FILE).is_file())
        .map(Path::to_path_buf)
}

/// Loads and validates the whole project. On failure the [`Diagnostics`] hold every error
/// and warning found; on success the warnings are in [`Project::warnings`].
pub fn load(source: &dyn Source, opts: &LoadOptions) -> Result<Project, Diagnostics> {
    let mut diags = Diagnostics::default();
    let settings_path = PathBuf::from(SETTINGS_FILE);
    let text = match read_text(source, &settings_path) {
        Ok(Some(text)) => text,
        Ok(None) => {
            diags.push(
                Diagnostic::whole_file(
                    Severity::Error,
                    settings_path,
                    format!("no {SETTINGS_FILE} in {}", source.describe()),
                )
                .with_help("run evalgit inside a project, or create one with `evalgit init`"),
            );
            return Err(diags);
        }
        Err(why) => {
            let message = match &why {
                TextError::NotUtf8 { .. } => format!("{SETTINGS_FILE} is not valid UTF-8 text"),
                TextError::Unreadable(_) => format!("{SETTINGS_FILE} {why}"),
            };
            diags.push(why.diagnostic(&settings_path, message));
            return Err(diags);
        }
    };
    let sfile = SourceFile::new(SETTINGS_FILE, text);
    let parsed = parse_toml(&sfile, &mut diags);
    let settings_ok = parsed.is_some();

    let profile = select_profile(
        opts,
        parsed.as_ref().map(|(_, e)| profile_names(e)),
        &mut diags,
    );
    let mut sf = match &parsed {
        Some((_, entries)) => {
            let mut cx = FileCx::new(&sfile, &mut diags);
            let sf = read_settings(&mut cx, entries, profile.as_deref());
            cx.finish();
            sf
        }
        None => {
            let mut sf = SettingsFile::default();
            sf.settings.evals_dir = "evals".into();
            sf.settings.snapshots_dir = "snapshots".into();
            sf
        }
    };
    apply_env(&opts.env, &mut sf, &mut diags);
    if settings_ok {
        check_kinds(&sfile, &sf, &mut diags);
        check_judge(&sfile, &sf, &mut diags);
    }

    let ctx = SuiteCtx {
        settings: &sf.settings,
        declared_providers: &sf.declared_providers,
        settings_ok,
        source,
        settings_file: &sfile,
        body_sites: &sf.body_sites,
    };
    let evals_dir = PathBuf::from(&sf.settings.evals_dir);
    let files = match source.list(&evals_dir) {
        Ok(files) => files,
        Err(e) => {
            diags.push(Diagnostic::whole_file(
                Severity::Error,
                evals_dir.clone(),
                format!("cannot list the suites directory: {e}"),
            ));
            Vec::new()
        }
    };
    warn_unread_suite_files(source, &evals_dir, &files, &mut diags);
    let mut suites = Vec::new();
    let mut found = 0;
    for path in files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
    {
        found += 1;
        match read_text(source, &path) {
            Ok(Some(text)) => {
                let file = SourceFile::new(path, text);
                if let Some(suite) = read_suite(&file, &ctx, &mut diags) {
                    suites.push(suite);
                }
            }
            Ok(None) => {}
            Err(why) => {
                let message = match &why {
                    TextError::NotUtf8 { .. } => "suite file is not valid UTF-8 text".to_string(),
                    TextError::Unreadable(_) => format!("suite file {why}"),
                };
                diags.push(why.diagnostic(&path, message));
            }
        }
    }
    if found == 0 {
        diags.push(
            Diagnostic::whole_file(
                Severity::Warning,
                evals_dir.clone(),
                format!("no suites found in `{}/`", sf.settings.evals_dir),
            )
            .with_help(
                "add a suite file such as `evals/example.toml`, or set `evals_dir` in evalgit.toml",
            ),
        );
    }

    if settings_ok {
        check_run_cap_prices(&sfile, &sf, &suites, &mut diags);
        check_cost_gate_prices(&sfile, &sf, &suites, &mut diags);
    }
    let mut suites = suites;
    super::expand::render_assertion_values(&mut suites, &mut diags);
    super::expand::check_mistakes(&suites, &mut diags);
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(Project {
        root: opts.root.clone(),
        settings: sf.settings,
        suites,
        warnings: diags,
    })
}

/// How many files that look like suites but are not read are named one by one.
const UNREAD_WARNINGS: usize = 10;

/// How deep below the suites directory to look for suite files that are not read.
const UNREAD_DEPTH: usize = 3;

/// Warns about files that look like suites but are not read: only `<evals_dir>/*.toml` is,
/// so `evals/sub/x.toml` and `evals/X.TOML` would otherwise be skipped without a word.
fn warn_unread_suite_files(
    source: &dyn Source,
    evals_dir: &Path,
    files: &[PathBuf],
    diags: &mut Diagnostics,
) {
    let looks_like_suite = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
    };
    let mut unread: Vec<(PathBuf, bool)> = files
        .iter()
        .filter(|p| looks_like_suite(p) && p.extension().is_some_and(|e| e != "toml"))
        .map(|p| (p.clone(), false))
        .collect();
    let mut dirs: Vec<(PathBuf, usize)> = source
        .list_dirs(evals_dir)
        .unwrap_or_default()
        .into_iter()
        .map(|d| (d, 1))
        .collect();
    while let Some((dir, depth)) = dirs.pop() {
        if let Ok(files) = source.list(&dir) {
            unread.extend(
                files
                    .into_iter()
                    .filter(|p| looks_like_suite(p))
                    .map(|p| (p, true)),
            );
        }
        if depth < UNREAD_DEPTH {
            dirs.extend(
                source
                    .list_dirs(&dir)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|d| (d, depth + 1)),
            );
        }
    }
    unread.sort();
    let dir = crate::error::display_rel(evals_dir);
    for (path, nested) in unread.iter().take(UNREAD_WARNINGS) {
        let shown = crate::error::display_rel(path);
        let help = if *nested {
            format!(
                "subdirectories of `{dir}/` are not searched: move the suite into `{dir}/`, or rename it if it is not a suite"
            )
        } else {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            format!("rename it to `{dir}/{stem}.toml`")
        };
        diags.push(
            Diagnostic::whole_file(
                Severity::Warning,
                path.clone(),
                format!("`{shown}` is not read: suites must be `{dir}/*.toml`"),
            )
            .with_help(help),
        );
    }
    if unread.len() > UNREAD_WARNINGS {
        diags.push(Diagnostic::whole_file(
            Severity::Warning,
            evals_dir,
            format!(
                "{} more files like the ones above are not read",
                unread.len() - UNREAD_WARNINGS
            ),
        ));
    }
}

/// The profile to apply: `--profile`, else `EVALGIT_PROFILE`; an unknown name is an error
/// located where it was given.
fn select_profile(
    opts: &LoadOptions,
    known: Option<Vec<String>>,
    diags: &mut Diagnostics,
) -> Option<String> {
    let (name, file, key) = match (&opts.profile, opts.env.get("EVALGIT_PROFILE")) {
        (Some(p), _) => (p.clone(), "command line", "--profile"),
        (None, Some(p)) if !p.is_empty() => (p.clone(), super::env::ENV_FILE, "EVALGIT_PROFILE"),
        _ => return None,
    };
    // When evalgit.toml did not parse, its profiles are unknown: do not add a second error.
    let known = known?;
    if known.contains(&name) {
        return Some(name);
    }
    let help = if known.is_empty() {
        "evalgit.toml defines no profiles; add a `[profile.NAME]` table".to_string()
    } else {
        format!(
            "profiles in evalgit.toml: {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut d = Diagnostic::whole_file(Severity::Error, file, format!("unknown profile `{name}`"))
        .with_help(help);
    d.key_path = key.to_string();
    diags.push(d);
    None
}

/// `budget.max_run_usd` needs a price for every provider and judge a suite calls.
fn check_run_cap_prices(
    file: &SourceFile,
    sf: &SettingsFile,
    suites: &[super::Suite],
    diags: &mut Diagnostics,
) {
    if sf.settings.budget.max_run_usd.is_none() {
        return;
    }
    let mut unpriced: BTreeMap<Unpriced, Vec<&str>> = BTreeMap::new();
    for suite in suites {
        for u in unpriced_providers(suite, &sf.settings) {
            unpriced.entry(u).or_default().push(&suite.name);
        }
    }
    for (u, suites) in unpriced {
        let (d, cap) = match &sf.max_run_usd_origin {
            Some(Origin::File(span, path)) => (
                file.diagnostic(Severity::Error, span, path, String::new()),
                path.clone(),
            ),
            Some(Origin::Env(var)) => {
                let mut d =
                    Diagnostic::whole_file(Severity::Error, super::env::ENV_FILE, String::new());
                d.key_path = var.clone();
                (d, var.clone())
            }
            None => (
                Diagnostic::whole_file(Severity::Error, file.path.clone(), String::new()),
                "budget.max_run_usd".to_string(),
            ),
        };
        diags.push(unpriced_error(d, &cap, &u, &suites));
    }
}

/// A cost-increase gate compares what scenarios cost at base and head; a model without a
/// price costs "$0" on both sides, so the gate would pass whatever happened. Judges do not
/// count: scenario cost is the system under test's.
fn check_cost_gate_prices(
    file: &SourceFile,
    sf: &SettingsFile,
    suites: &[super::Suite],
    diags: &mut Diagnostics,
) {
    let b = &sf.settings.budget;
    let gated = [
        b.max_cost_increase_pct,
        b.max_cost_increase_usd,
        b.warn_cost_increase_pct,
        b.warn_cost_increase_usd,
    ]
    .iter()
    .any(Option::is_some);
    if !gated {
        return;
    }
    let mut unpriced: BTreeMap<Unpriced, Vec<&str>> = BTreeMap::new();
    for suite in suites {
        for u in unpriced_providers(suite, &sf.settings)
            .into_iter()
            .filter(|u| !u.judge_only)
        {
            unpriced.entry(u).or_default().push(&suite.name);
        }
    }
    for (u, suites) in unpriced {
        let (mut d, key) = match &sf.cost_gate_origin {
            Some(Origin::File(span, path)) => (
                file.diagnostic(Severity::Error, span, path, String::new()),
                path.clone(),
            ),
            _ => {
                let mut d =
                    Diagnostic::whole_file(Severity::Error, file.path.clone(), String::new());
                d.key_path = "budget".to_string();
                (d, "the cost-increase gate".to_string())
            }
        };
        d.message = format!(
            "`{key}` compares costs, but provider `{}` (model `{}`) has no price, so every cost would read as $0 and the gate could never fail",
            u.provider, u.model
        );
        let list: Vec<String> = suites.iter().map(|s| format!("`{s}`")).collect();
        d.note = Some(format!(
            "called by suite{} {}",
            if suites.len() == 1 { "" } else { "s" },
            list.join(", ")
        ));
        diags.push(d.with_help(format!(
            "add `[prices.\"{}\"]` with `input` and `output` (USD per million tokens) to evalgit.toml, or remove the cost-increase keys from [budget]",
            u.model
        )));
    }
}

fn check_judge(file: &SourceFile, sf: &SettingsFile, diags: &mut Diagnostics) {
    let Some(judge) = &sf.settings.judge else {
        return;
    };
    if sf.declared_providers.contains(judge) {
        return;
    }
    let msg = format!("unknown judge provider `{judge}`");
    let known = sf
        .declared_providers
        .iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let help = if known.is_empty() {
        "declare it as `[providers.NAME]`".to_string()
    } else {
        format!("providers in evalgit.toml: {known}")
    };
    let d = match &sf.judge_origin {
        Some(Origin::File(span, path)) => file.diagnostic(Severity::Error, span, path, msg),
        Some(Origin::Env(var)) => {
            let mut d = Diagnostic::whole_file(Severity::Error, super::env::ENV_FILE, msg);
            d.key_path = var.clone();
            d
        }
        None => Diagnostic::whole_file(Severity::Error, file.path.clone(), msg),
    };
    diags.push(d.with_help(help));
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
