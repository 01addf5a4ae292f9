//! What a person sees while evalgit runs: a progress bar on a terminal (plain lines
//! otherwise), one line per finished scenario, warnings, and the summary table at the end.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

use crate::policy::{GateDecision, GateLevel, SuiteStats};
use crate::runner::{Observer, OutputSource, RunInfo, ScenarioResult, ScenarioStatus};

pub struct TerminalReporter {
    bar: Option<ProgressBar>,
    color: bool,
    /// Print a line for every scenario (else only for failures and errors).
    verbose: bool,
    out: Box<dyn Write + Send>,
}

impl TerminalReporter {
    /// Writes to stderr; a progress bar only when stderr is a terminal.
    pub fn stderr(color: bool, verbose: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        TerminalReporter {
            bar: tty.then(ProgressBar::hidden),
            color,
            verbose,
            out: Box::new(std::io::stderr()),
        }
    }

    /// For tests: plain lines into any writer.
    pub fn plain(out: Box<dyn Write + Send>, verbose: bool) -> Self {
        TerminalReporter {
            bar: None,
            color: false,
            verbose,
            out,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn print(&mut self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => {
                let _ = writeln!(self.out, "{line}");
            }
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

fn status_word(r: &ScenarioResult) -> &'static str {
    match r.status {
        ScenarioStatus::Passed => "PASS",
        ScenarioStatus::Failed => "FAIL",
        ScenarioStatus::Error => "ERROR",
        ScenarioStatus::Skipped => "SKIP",
    }
}

fn source_word(r: &ScenarioResult) -> &'static str {
    if r.samples.iter().any(|s| s.source == OutputSource::Called) {
        "called"
    } else if r.samples.iter().any(|s| s.source == OutputSource::Cache) {
        "cache"
    } else if r.samples.iter().any(|s| s.source == OutputSource::Snapshot) {
        "snapshot"
    } else {
        "-"
    }
}

/// The one-line reason a scenario did not pass.
pub fn failure_reason(r: &ScenarioResult) -> Option<String> {
    for s in &r.samples {
        if let Some(e) = &s.error {
            return Some(e.clone());
        }
        if let Some(c) = s.checks.iter().find(|c| !c.pass && c.weight > 0.0) {
            return Some(format!("{}: {}", c.kind, c.reason));
        }
    }
    if !r.pass {
        return r
            .threshold
            .map(|t| format!("score {:.2} below threshold {t:.2}", r.score));
    }
    None
}

impl Observer for TerminalReporter {
    fn started(&mut self, info: &RunInfo) {
        let line = format!(
            "evalgit: {} scenarios, {} samples ({} to call, {} to replay{}){}",
            info.scenarios,
            info.samples,
            info.to_call,
            info.samples
                .saturating_sub(info.to_call)
                .saturating_sub(info.to_skip),
            if info.to_skip > 0 {
                format!(", {} to skip", info.to_skip)
            } else {
                String::new()
            },
            info.shard
                .as_ref()
                .map(|s| format!(", shard {s}"))
                .unwrap_or_default()
        );
        self.print(&line);
        if let Some(bar) = &mut self.bar {
            *bar = ProgressBar::new(info.scenarios as u64);
            let template = if self.color {
                "{bar:30.cyan/blue} {pos}/{len} scenarios  {elapsed_precise}  {msg}"
            } else {
                "{bar:30} {pos}/{len} scenarios  {elapsed_precise}  {msg}"
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
        }
    }

    fn scenario_finished(&mut self, r: &ScenarioResult) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        if !self.verbose && r.status == ScenarioStatus::Passed {
            return;
        }
        let word = status_word(r);
        let colored = match r.status {
            ScenarioStatus::Passed => self.paint("32", word),
            ScenarioStatus::Failed | ScenarioStatus::Error => self.paint("31", word),
            ScenarioStatus::Skipped => self.paint("33", word),
        };
        let mut line = format!(
            "{colored:<5} {}/{}  score {:.2}  {} tok  ${:.6}  [{}]",
            r.suite,
            r.id,
            r.score,
            r.usage.total(),
            r.cost_usd,
            source_word(r)
        );
        if r.flaky {
            line.push_str("  flaky");
        }
        if let Some(reason) = failure_reason(r) {
            line.push_str("\n      ");
            line.push_str(&one_line(&reason, 160));
        }
        self.print(&line);
    }

    fn warning(&mut self, message: &str) {
        let w = self.paint("33", "warning");
        self.print(&format!("{w}: {message}"));
    }
}

/// Collapses whitespace and truncates to `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        format!("{}…", flat.chars().take(max).collect::<String>())
    }
}

/// The summary table printed at the end of a run.
/// `total` is the statistics over every scenario (shown when there is more than one suite).
pub fn summary_table(suites: &[SuiteStats], total: &SuiteStats, spent_usd: f64) -> String {
    let mut rows = vec![[
        "suite".to_string(),
        "scenarios".into(),
        "pass".into(),
        "fail".into(),
        "error".into(),
        "skip".into(),
        "pass rate".into(),
        "score".into(),
        "tokens in/out".into(),
        "cost".into(),
        "called/replayed".into(),
    ]];
    for s in suites {
        rows.push(row(s));
    }
    if suites.len() > 1 {
        rows.push(row(total));
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if c == 0 {
                    format!("{cell:<w$}", w = widths[c])
                } else {
                    format!("{cell:>w$}", w = widths[c])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
            out.push('\n');
        }
    }
    for s in suites {
        if let (Some(k), Some(at), Some(hat)) = (s.k, s.pass_at_k, s.pass_hat_k) {
            out.push_str(&format!(
                "{}: {k} samples per scenario: pass@{k} {:.1}%, pass^{k} {:.1}%, {} flaky\n",
                s.suite,
                at * 100.0,
                hat * 100.0,
                s.flaky
            ));
        }
    }
    let judges = if total.eval_cost_usd > 0.0 {
        format!("of which ${:.6} on judges; ", total.eval_cost_usd)
    } else {
        String::new()
    };
    out.push_str(&format!(
        "spent by this run: ${spent_usd:.6} ({judges}replays cost nothing now)\n"
    ));
    out
}

fn row(s: &SuiteStats) -> [String; 11] {
    [
        s.suite.clone(),
        s.scenarios.to_string(),
        s.passed.to_string(),
        s.failed.to_string(),
        s.errors.to_string(),
        s.skipped.to_string(),
        format!("{:.1}%", s.pass_rate * 100.0),
        format!("{:.3}", s.mean_score),
        format!("{}/{}", s.tokens.input_tokens, s.tokens.output_tokens),
        format!("${:.6}", s.cost_usd),
        format!("{}/{}", s.called, s.replayed),
    ]
}

/// The gate's decision as lines for the terminal.
pub fn gate_lines(gate: &GateDecision) -> String {
    let mut out = String::new();
    if gate.pass {
        out.push_str("gate: passed\n");
    } else {
        out.push_str("gate: FAILED\n");
    }
    for r in &gate.reasons {
        let level = match r.level {
            GateLevel::Fail => "fail",
            GateLevel::Warn => "warn",
        };
        out.push_str(&format!("  {level}: {} ({})\n", r.message, r.policy));
    }
    out
}
