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
    /// Why the gate decided what it did, as the run printed it. Reports and merges rebuild
    /// the verdict from the scenarios, but a snapshot check (`--check`, CI) cannot be
    /// rebuilt from results: its reasons are carried over from here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<crate::policy::GateReason>,
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
    /// Bytes written so far.
    written: u64,
    /// Where each scenario line starts, in the order written ([`ScenarioResult::seq`]).
    scenario_offsets: Vec<u64>,
    line: Vec<u8>,
}

impl ResultsWriter {
    pub fn create(path: &Path) -> Result<Self, crate::Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::cache::local_dir::create_dir_all(dir)
                .map_err(|e| crate::Error::io_path("create", dir, e))?;
        }
        let file = File::create(path).map_err(|e| crate::Error::io_path("create", path, e))?;
        Ok(ResultsWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            error: None,
            written: 0,
            scenario_offsets: Vec::new(),
            line: Vec::new(),
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
        self.line.clear();
        let res = serde_json::to_writer(&mut self.line, &tagged)
            .map_err(std::io::Error::other)
            .and_then(|_| {
                self.line.push(b'\n');
                self.out.write_all(&self.line)
            })
            .and_then(|_| self.out.flush());
        match res {
            Ok(()) => self.written += self.line.len() as u64,
            Err(e) => self.error = Some(e),
        }
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file can be read back by position ([`ScenarioReader`]): a regular file,
    /// not `/dev/stdout` or a pipe.
    pub fn is_seekable(&self) -> bool {
        self.out.get_ref().metadata().is_ok_and(|m| m.is_file())
    }

    /// Reads written scenarios back by their [`ScenarioResult::seq`], once the run is over.
    pub fn reader(&self) -> Result<ScenarioReader, crate::Error> {
        let file =
            File::open(&self.path).map_err(|e| crate::Error::io_path("open", &self.path, e))?;
        Ok(ScenarioReader {
            path: self.path.clone(),
            file: BufReader::new(file),
            offsets: self.scenario_offsets.clone(),
        })
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
        self.scenario_offsets.push(self.written);
        self.line("scenario", result);
    }
}

/// Random access to the scenario lines of a results file this run wrote: a reporter that
/// needs the outputs of a run that released them from memory reads them one at a time.
pub struct ScenarioReader {
    path: PathBuf,
    file: BufReader<File>,
    offsets: Vec<u64>,
}

impl ScenarioReader {
    /// The scenario written `seq`-th, as it is in the file.
    pub fn read(&mut self, seq: usize) -> Result<ScenarioResult, crate::Error> {
        use std::io::{Seek, SeekFrom};
        let io = |e| crate::Error::io_path("read back", &self.path, e);
        let offset = *self.offsets.get(seq).ok_or_else(|| {
            crate::Error::Other(format!(
                "{}: scenario {seq} was not written",
                self.path.display()
            ))
        })?;
        self.file.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mut line = String::new();
        self.file.read_line(&mut line).map_err(io)?;
        serde_json::from_str(&line).map_err(|e| {
            crate::Error::Other(format!(
                "{}: the scenario line at byte {offset} does not read back: {e}",
                self.path.display()
            ))
        })
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
    let mut reader = BufReader::new(file);
    let mut buf = String::new();
    for i in 0.. {
        buf.clear();
        let read = reader
            .read_line(&mut buf)
            .map_err(|e| crate::Error::io_path("read", path, e))?;
        if read == 0 {
            break;
        }
        // A last line without its newline was cut off mid-write (a killed run): what came
        // before it stands; the missing summary line tells readers the run did not finish.
        let complete = buf.ends_with('\n');
        let line = buf.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        if !complete && serde_json::from_str::<serde_json::Value>(line).is_err() {
            eprintln!(
                "warning: {}:{}: the last line is cut off (the run was killed while writing it); reading the lines before it",
                path.display(),
                i + 1
            );
            break;
        }
        let bad = |e: serde_json::Error| {
            crate::Error::Usage(format!(
                "{}:{}: not an evalgit results line: {e}",
                path.display(),
                i + 1
            ))
        };
        let tag: Tag = serde_json::from_str(line).map_err(bad)?;
        if tag.schema != RESULTS_SCHEMA {
            return Err(crate::Error::Usage(format!(
                "{}:{}: results schema {} is not supported (this evalgit reads schema {RESULTS_SCHEMA}); re-run with this version",
                path.display(),
                i + 1,
                tag.schema
            )));
        }
        match tag.record.as_str() {
            "run" => out.run = Some(serde_json::from_str(line).map_err(bad)?),
            "scenario" => out.scenarios.push(serde_json::from_str(line).map_err(bad)?),
            "summary" => out.summary = Some(serde_json::from_str(line).map_err(bad)?),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::fixture;

    /// Regression: a run of 100,000 scenarios held every output until it ended. Released
    /// results keep whether a sample had an output, and the text reads back from the file.
    #[test]
    fn released_outputs_read_back_from_the_file_by_position() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("results.jsonl");
        let mut writer = ResultsWriter::create(&path).expect("create");
        assert!(writer.is_seekable());
        let mut written = fixture();
        // Out of suite order, as concurrent scenarios finish.
        written.reverse();
        let mut kept = Vec::new();
        for (seq, result) in written.iter().enumerate() {
            let mut result = result.clone();
            result.seq = seq;
            writer.scenario_finished(&result);
            result.release_outputs();
            kept.push(result);
        }
        let mut reader = writer.reader().expect("reader");
        writer.finish().expect("written");
        for (original, released) in written.iter().zip(&kept) {
            assert!(released.outputs_released);
            for (o, r) in original.samples.iter().zip(&released.samples) {
                assert_eq!(o.output.is_some(), r.output.is_some(), "evaluated or not");
                assert_eq!(r.output.as_deref().filter(|t| !t.is_empty()), None);
            }
            let back = reader.read(released.seq).expect("read back");
            assert_eq!(&back, original, "{}/{}", original.suite, original.id);
        }
        let err = reader.read(kept.len()).expect_err("never written");
        assert!(err.to_string().contains("was not written"), "{err}");
    }

    #[test]
    fn a_device_is_not_read_back() {
        let writer = ResultsWriter::create(Path::new("/dev/null")).expect("create");
        assert!(!writer.is_seekable());
    }
}
