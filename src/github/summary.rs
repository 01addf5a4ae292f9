//! The job summary (`$GITHUB_STEP_SUMMARY`) and step outputs (`$GITHUB_OUTPUT`).
//!
//! Both are files the runner reads after the step; a step appends to them. Outputs use the
//! `key<<DELIMITER` form whenever a value spans lines, with a delimiter that the value
//! cannot contain, so a model output can never forge another output.

use std::io::Write as _;
use std::path::Path;

use crate::policy::{ChangeKind, Verdict};

/// GitHub rejects a step summary over 1 MiB; stay under it with room for other steps.
pub const MAX_STEP_SUMMARY_BYTES: usize = 1024 * 1024 - 4096;

/// Appends Markdown to the job summary file, cut (on a line boundary, with a note) when it
/// would exceed [`MAX_STEP_SUMMARY_BYTES`].
pub fn append_step_summary(path: &Path, markdown: &str) -> Result<(), crate::Error> {
    let text = fit_summary(markdown);
    append(path, &text, "append to the job summary")
}

fn fit_summary(markdown: &str) -> String {
    let mut text = if markdown.len() <= MAX_STEP_SUMMARY_BYTES {
        markdown.to_string()
    } else {
        let note = "\n\n_… the summary was cut here: GitHub allows 1 MiB; see the JUnit artifact for every scenario._\n";
        let mut cut = MAX_STEP_SUMMARY_BYTES - note.len();
        while !markdown.is_char_boundary(cut) {
            cut -= 1;
        }
        let head = &markdown[..cut];
        let head = head.rfind('\n').map_or(head, |i| &head[..i]);
        format!("{head}{note}")
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Appends step outputs (`key=value`, or the heredoc form for values with line breaks).
pub fn write_outputs(path: &Path, outputs: &[(&str, &str)]) -> Result<(), crate::Error> {
    let mut text = String::new();
    for (key, value) in outputs {
        text.push_str(&format_output(key, value)?);
    }
    append(path, &text, "write the step outputs to")
}

/// One output in the `$GITHUB_OUTPUT` syntax.
pub fn format_output(key: &str, value: &str) -> Result<String, crate::Error> {
    if key.is_empty() || key.contains(['=', '\n', '\r', '<']) {
        return Err(crate::Error::Other(format!(
            "invalid step output name {key:?}: names cannot be empty or contain '=', '<' or line breaks"
        )));
    }
    if !value.contains(['\n', '\r']) {
        return Ok(format!("{key}={value}\n"));
    }
    let mut delimiter = String::from("EVALGIT_EOF");
    while value.contains(&delimiter) {
        delimiter = format!("EVALGIT_EOF_{:016x}", fastrand::u64(..));
    }
    Ok(format!("{key}<<{delimiter}\n{value}\n{delimiter}\n"))
}

/// The outputs the GitHub Action exposes, from a verdict: `verdict` (the results file's
/// word for the exit code: `passed`, `gate-failed`, ...), `cost-delta` (USD, head minus base
/// on the scenarios both sides evaluated, the delta the cost gate and the comment use; empty
/// without such pairs) and `regressions` (newly failing scenarios).
pub fn verdict_outputs(verdict: &Verdict, verdict_word: &str) -> Vec<(&'static str, String)> {
    let cost_delta = verdict
        .cost_delta_usd
        .filter(|d| d.is_finite())
        .map(|d| format!("{d:.6}"))
        .unwrap_or_default();
    let regressions = verdict
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::NewlyFailing)
        .count();
    vec![
        ("verdict", verdict_word.to_string()),
        ("cost-delta", cost_delta),
        ("regressions", regressions.to_string()),
    ]
}

fn append(path: &Path, text: &str, action: &str) -> Result<(), crate::Error> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| crate::Error::io_path(action, path, e))?;
    file.write_all(text.as_bytes())
        .map_err(|e| crate::Error::io_path(action, path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_use_heredoc_only_for_multiline_values() {
        let cases: &[(&str, &str, &str)] = &[
            ("verdict", "passed", "verdict=passed\n"),
            ("cost-delta", "+0.0012", "cost-delta=+0.0012\n"),
            ("empty", "", "empty=\n"),
            (
                "regressions",
                "a/b\nc/d",
                "regressions<<EVALGIT_EOF\na/b\nc/d\nEVALGIT_EOF\n",
            ),
        ];
        for (k, v, want) in cases {
            assert_eq!(format_output(k, v).expect("valid"), *want);
        }
    }

    /// A value that contains the default delimiter gets another one, so it cannot end the
    /// heredoc early and forge outputs.
    #[test]
    fn delimiter_never_occurs_in_the_value() {
        let value = "x\nEVALGIT_EOF\nverdict=passed";
        let out = format_output("body", value).expect("valid");
        let first = out.lines().next().expect("header");
        let delimiter = first.strip_prefix("body<<").expect("heredoc");
        assert!(!value.contains(delimiter), "{delimiter}");
        assert!(out.ends_with(&format!("\n{delimiter}\n")));
    }

    #[test]
    fn invalid_output_names_are_refused() {
        for bad in ["", "a=b", "a\nb", "a<<b"] {
            assert!(format_output(bad, "v").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn summary_and_outputs_append() {
        let dir = tempfile::tempdir().expect("tempdir");
        let summary = dir.path().join("summary.md");
        append_step_summary(&summary, "# one").expect("append");
        append_step_summary(&summary, "# two\n").expect("append");
        assert_eq!(
            std::fs::read_to_string(&summary).expect("read"),
            "# one\n# two\n"
        );

        let out = dir.path().join("output");
        write_outputs(&out, &[("verdict", "passed"), ("regressions", "0")]).expect("write");
        write_outputs(&out, &[("cost-delta", "0")]).expect("write");
        assert_eq!(
            std::fs::read_to_string(&out).expect("read"),
            "verdict=passed\nregressions=0\ncost-delta=0\n"
        );
    }

    #[test]
    fn verdict_outputs_name_verdict_cost_and_regressions() {
        use crate::policy::{BudgetReport, GateDecision};
        let mut v = Verdict {
            suites: vec![],
            changes: vec![],
            budget: BudgetReport::default(),
            gate: GateDecision::passed(),
            total_cost_usd: 0.5,
            base_total_cost_usd: None,
            spent_usd: 0.1,
            eval_cost_usd: 0.0,
            tolerance: 0.0,
            alpha: 0.05,
            cost_delta_usd: None,
            cost_delta_pct: None,
        };
        let outputs = |v: &Verdict, word: &str| -> Vec<(String, String)> {
            verdict_outputs(v, word)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect()
        };
        let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            outputs(&v, "passed"),
            pairs(&[
                ("verdict", "passed"),
                ("cost-delta", ""),
                ("regressions", "0")
            ])
        );
        // Totals of different scenario sets (a scenario added on head) are not the cost
        // delta: the output once said +0.1 here while the gate and the comment said -0.25.
        v.base_total_cost_usd = Some(0.4);
        assert_eq!(outputs(&v, "gate-failed")[0].1, "gate-failed");
        assert_eq!(outputs(&v, "gate-failed")[1].1, "", "no pairs, no delta");
        v.cost_delta_usd = Some(-0.25);
        assert_eq!(
            outputs(&v, "gate-failed"),
            pairs(&[
                ("verdict", "gate-failed"),
                ("cost-delta", "-0.250000"),
                ("regressions", "0")
            ])
        );
        v.cost_delta_usd = Some(f64::NAN);
        assert_eq!(outputs(&v, "passed")[1].1, "");
    }

    #[test]
    fn oversized_summary_is_cut_with_a_note() {
        let line = "| row | 東京 |\n";
        let huge = line.repeat(MAX_STEP_SUMMARY_BYTES / line.len() + 100);
        let fitted = fit_summary(&huge);
        assert!(fitted.len() <= MAX_STEP_SUMMARY_BYTES);
        assert!(fitted.contains("the summary was cut here"));
        assert!(
            fitted.contains("| row | 東京 |\n\n_…"),
            "cut on a line boundary"
        );
    }
}
