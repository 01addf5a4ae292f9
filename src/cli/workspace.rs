//! Finding and loading the project for a command, and the small commands (`init`,
//! `validate`) that need nothing else.

use std::path::{Path, PathBuf};

use crate::config::{self, LoadOptions, Project, WorkTree};
use crate::{Error, ExitCode};

/// Options every command shares.
pub struct Global {
    pub root: Option<PathBuf>,
    pub profile: Option<String>,
    pub color: bool,
}

impl Global {
    /// The project root: `--root`, else the nearest directory upwards with evalgit.toml.
    pub fn root(&self) -> Result<PathBuf, Error> {
        if let Some(root) = &self.root {
            if !root.join(config::SETTINGS_FILE).is_file() {
                return Err(Error::Usage(format!(
                    "no {} in {}: pass the project directory with --root, or run `evalgit init` there",
                    config::SETTINGS_FILE,
                    root.display()
                )));
            }
            return Ok(root.clone());
        }
        let cwd = std::env::current_dir()
            .map_err(|e| Error::io("cannot read the current directory", e))?;
        config::find_root(&cwd).ok_or_else(|| {
            Error::Usage(format!(
                "no {} in {} or any parent directory: run `evalgit init` to create one, or pass --root DIR",
                config::SETTINGS_FILE,
                cwd.display()
            ))
        })
    }

    pub fn load_options(&self, root: &Path) -> LoadOptions {
        LoadOptions::from_process_env(root, self.profile.clone())
    }

    /// Loads the working tree's project; warnings go to stderr.
    pub fn load(&self) -> Result<(Project, WorkTree), Error> {
        let root = self.root()?;
        let source = WorkTree::new(&root);
        let project = config::load(&source, &self.load_options(&root))?;
        if !project.warnings.is_empty() {
            eprintln!("{}", project.warnings);
        }
        Ok((project, source))
    }
}

pub fn init(global: &Global, dir: Option<PathBuf>) -> Result<ExitCode, Error> {
    // `evalgit init DIR`, else `-C DIR`, else the current directory.
    let dir = match dir.or_else(|| global.root.clone()) {
        Some(d) => d,
        None => std::env::current_dir()
            .map_err(|e| Error::io("cannot read the current directory", e))?,
    };
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Usage(format!(
            "{} is a file, not a directory: name a directory for the new project",
            dir.display()
        )));
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io_path("create", &dir, e))?;
    let written = config::write_starter(&dir)?;
    for path in &written {
        println!("created {}", path.display());
    }
    println!(
        "\nnext: start a model server (scripts/local-llm start in the evalgit repository serves one on 127.0.0.1:8080),\nthen run `evalgit validate` and `evalgit run`"
    );
    Ok(ExitCode::Passed)
}

pub fn validate(global: &Global) -> Result<ExitCode, Error> {
    let root = global.root()?;
    let source = WorkTree::new(&root);
    match config::load(&source, &global.load_options(&root)) {
        Ok(project) => {
            if !project.warnings.is_empty() {
                println!("{}", project.warnings);
            }
            let scenarios: usize = project.suites.iter().map(|s| s.scenarios.len()).sum();
            println!(
                "ok: {} provider{}, {} suite{}, {} scenario{}",
                project.settings.providers.len(),
                plural(project.settings.providers.len()),
                project.suites.len(),
                plural(project.suites.len()),
                scenarios,
                plural(scenarios)
            );
            Ok(ExitCode::Passed)
        }
        Err(diagnostics) => Err(Error::Config(diagnostics)),
    }
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// True when running in CI (`CI` set to anything but empty, `0` or `false`).
pub fn in_ci() -> bool {
    match std::env::var("CI") {
        Ok(v) => !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false")),
        Err(_) => false,
    }
}

/// A tokio runtime for the commands that call models or GitHub.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", e))
}

/// RFC 3339 timestamp, UTC, to the second.
pub fn now_rfc3339() -> (time::OffsetDateTime, String) {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let text = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    (now, text)
}
