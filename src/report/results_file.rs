//! The JSON results file: JSON Lines, written as the run goes, so a crash or Ctrl-C keeps
//! every finished scenario. Schema version [`RESULTS_SCHEMA`], documented in
//! `docs/results.md`.
//!
//! ```text
//! {"record":"run","schema":1,...RunInfo}                  first line
//! {"record":"scenario","schema":1,...ScenarioResult}      one per finished scenario
//! {"record":"summary","schema":1,...RunSummary}           last line, when the run completed
//! ```
//! A file without its summary line is a run that was interrupted; it still loads.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::policy::{BudgetReport, SuiteStats};
use crate::runner::{Observer, RESULTS_SCHEMA, RunInfo, ScenarioResult};

/// The last line of a complete results file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub suites: Vec<SuiteStats>,
    pub budget: BudgetReport,
    pub spent_usd: f64,
    pub cost_usd: f64,
    pub interrupted: bool,
    /// `passed`, `gate-failed`, `provider-errors`.
    pub verdict: String,
    pub exit_code: u8,
}

#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    record: &'a str,
    schema: u32,
    #[serde(flatten)]
    body: &'a T,
}

#[derive(Deserialize)]
struct Tag {
    record: String,
    schema: u32,
}

/// Writes the results file line by line, flushing after each line.
pub struct ResultsWriter {
    path: PathBuf,
    out: BufWriter<File>,
    error: Option<std::io::Error>,
}

impl ResultsWriter {
    pub fn create(path: &Path) -> Result<Self, crate::Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| crate::Error::io_path("create", dir, e))?;
        }
        let file = File::create(path).map_err(|e| crate::Error::io_path("create", path, e))?;
        Ok(ResultsWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            error: None,
        })
    }

    fn line<T: Serialize>(&mut self, record: &str, body: &T) {
        if self.error.is_some() {
            return;
        }
        let tagged = Tagged {
            record,
            schema: RESULTS_SCHEMA,
            body,
        };
        let res = serde_json::to_writer(&mut self.out, &tagged)
            .map_err(std::io::Error::other)
            .and_then(|_| self.out.write_all(b"\n"))
            .and_then(|_| self.out.flush());
        if let Err(e) = res {
            self.error = Some(e);
        }
    }

    pub fn summary(&mut self, summary: &RunSummary) {
        self.line("summary", summary);
    }

    /// The first write error, if any (reported once at the end of the run).
    pub fn finish(mut self) -> Result<PathBuf, crate::Error> {
        let _ = self.out.flush();
        match self.error.take() {
            Some(e) => Err(crate::Error::io_path("write", &self.path, e)),
            None => Ok(self.path),
        }
    }
}

impl Observer for ResultsWriter {
    fn started(&mut self, info: &RunInfo) {
        self.line("run", info);
    }
    fn scenario_finished(&mut self, result: &ScenarioResult) {
        self.line("scenario", result);
    }
}

/// A results file read back.
#[derive(Debug, Clone)]
pub struct ResultsFile {
    pub run: Option<RunInfo>,
    pub scenarios: Vec<ScenarioResult>,
    pub summary: Option<RunSummary>,
}

/// Reads a results file; names the file and line of anything it cannot read.
pub fn read_results(path: &Path) -> Result<ResultsFile, crate::Error> {
    let file = File::open(path).map_err(|e| crate::Error::io_path("open", path, e))?;
    let mut out = ResultsFile {
        run: None,
        scenarios: Vec::new(),
        summary: None,
    };
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| crate::Error::io_path("read", path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |e: serde_json::Error| {
            crate::Error::Usage(format!(
                "{}:{}: not an evalgit results line: {e}",
                path.display(),
                i + 1
            ))
        };
        let tag: Tag = serde_json::from_str(&line).map_err(bad)?;
        if tag.schema != RESULTS_SCHEMA {
            return Err(crate::Error::Usage(format!(
                "{}:{}: results schema {} is not supported (this evalgit reads schema {RESULTS_SCHEMA}); re-run with this version",
                path.display(),
                i + 1,
                tag.schema
            )));
        }
        match tag.record.as_str() {
            "run" => out.run = Some(serde_json::from_str(&line).map_err(bad)?),
            "scenario" => out
                .scenarios
                .push(serde_json::from_str(&line).map_err(bad)?),
            "summary" => out.summary = Some(serde_json::from_str(&line).map_err(bad)?),
            other => {
                return Err(crate::Error::Usage(format!(
                    "{}:{}: unknown record `{other}`",
                    path.display(),
                    i + 1
                )));
            }
        }
    }
    Ok(out)
}
