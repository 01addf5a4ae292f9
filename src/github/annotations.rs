//! Workflow-command annotations (`::error file=F,line=L,title=T::message`) that put a failing
//! scenario's reason on the line of the suite file that defines it, in the PR's "Files
//! changed" view and the run's summary.

use crate::policy::{GateLevel, Verdict};
use crate::report::sanitize::strip_ansi;
use crate::runner::{ScenarioResult, ScenarioStatus};

/// GitHub shows at most 10 errors and 10 warnings per step; more are dropped silently, so
/// evalgit prints 10 of each and says how many more there were.
pub const MAX_PER_LEVEL: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnotationLevel {
    Error,
    Warning,
    Notice,
}

impl AnnotationLevel {
    fn command(self) -> &'static str {
        match self {
            AnnotationLevel::Error => "error",
            AnnotationLevel::Warning => "warning",
            AnnotationLevel::Notice => "notice",
        }
    }
}

/// One annotation, before escaping.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub level: AnnotationLevel,
    /// Path relative to the repository root; `None` for an annotation on the run only.
    pub file: Option<String>,
    /// 1-based; `None` or 0 for the whole file.
    pub line: Option<usize>,
    pub title: String,
    pub message: String,
}

impl Annotation {
    /// The workflow command line, escaped so no text can end the command or start another.
    pub fn render(&self) -> String {
        let mut props = Vec::new();
        if let Some(file) = &self.file {
            props.push(format!("file={}", escape_property(file)));
            if let Some(line) = self.line.filter(|l| *l > 0) {
                props.push(format!("line={line}"));
            }
        }
        if !self.title.is_empty() {
            props.push(format!(
                "title={}",
                escape_property(&strip_ansi(&self.title))
            ));
        }
        let props = if props.is_empty() {
            String::new()
        } else {
            format!(" {}", props.join(","))
        };
        format!(
            "::{}{props}::{}",
            self.level.command(),
            escape_data(&strip_ansi(&self.message))
        )
    }
}

/// Escapes a command's message: `%`, CR and LF, as the runner's toolkit does.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value: as [`escape_data`], and `:` and `,` which separate properties.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Annotations for the scenarios that need a reviewer's eye: failed and errored ones as
/// errors, flaky ones (some samples passed, some failed) as warnings.
pub fn scenario_annotations(results: &[ScenarioResult]) -> Vec<Annotation> {
    let mut out = Vec::new();
    for r in results {
        let (level, what) = match r.status {
            ScenarioStatus::Failed => (AnnotationLevel::Error, "failed"),
            ScenarioStatus::Error => (AnnotationLevel::Error, "provider error"),
            ScenarioStatus::Passed if r.flaky => (AnnotationLevel::Warning, "flaky"),
            ScenarioStatus::Passed | ScenarioStatus::Skipped => continue,
        };
        out.push(Annotation {
            level,
            file: Some(r.file.clone()).filter(|f| !f.is_empty()),
            line: Some(r.line),
            title: format!("evalgit: {}/{} {what}", r.suite, r.id),
            message: scenario_message(r),
        });
    }
    out
}

/// Annotations for the gate's reasons (fail as errors, warn as warnings), on the suite file
/// when the reason names a suite of the verdict.
pub fn gate_annotations(verdict: &Verdict) -> Vec<Annotation> {
    verdict
        .gate
        .reasons
        .iter()
        .map(|reason| {
            let file = verdict
                .suites
                .iter()
                .find(|s| {
                    !s.file.is_empty() && reason.message.starts_with(&format!("{}:", s.suite))
                })
                .map(|s| s.file.clone());
            Annotation {
                level: match reason.level {
                    GateLevel::Fail => AnnotationLevel::Error,
                    GateLevel::Warn => AnnotationLevel::Warning,
                },
                file,
                line: None,
                title: format!("evalgit gate: {}", reason.policy),
                message: reason.message.clone(),
            }
        })
        .collect()
}

fn scenario_message(r: &ScenarioResult) -> String {
    let failed_check = r
        .samples
        .iter()
        .flat_map(|s| s.checks.iter())
        .find(|c| !c.pass);
    let error = r.samples.iter().find_map(|s| s.error.as_deref());
    let mut message = match (r.status, failed_check, error) {
        (ScenarioStatus::Error, _, Some(e)) => format!("{}: {e}", r.provider),
        (_, Some(c), _) => format!("{}: {}", c.kind, c.error.as_deref().unwrap_or(&c.reason)),
        _ => "score below the threshold".to_string(),
    };
    if r.status != ScenarioStatus::Error {
        message.push_str(&format!("\nscore {:.2}", r.score));
        if let Some(t) = r.threshold {
            message.push_str(&format!(" (threshold {t:.2})"));
        }
        if r.samples.len() > 1 {
            let failed = r.samples.iter().filter(|s| !s.pass).count();
            message.push_str(&format!(", {failed}/{} samples failed", r.samples.len()));
        }
    }
    message
}

/// The command lines for `annotations`, at most [`MAX_PER_LEVEL`] per level, then one notice
/// saying how many were left out.
pub fn render_annotations(annotations: &[Annotation]) -> String {
    let mut out = String::new();
    let mut omitted = 0usize;
    for level in [
        AnnotationLevel::Error,
        AnnotationLevel::Warning,
        AnnotationLevel::Notice,
    ] {
        let of_level: Vec<&Annotation> = annotations.iter().filter(|a| a.level == level).collect();
        for a in of_level.iter().take(MAX_PER_LEVEL) {
            out.push_str(&a.render());
            out.push('\n');
        }
        omitted += of_level.len().saturating_sub(MAX_PER_LEVEL);
    }
    if omitted > 0 {
        let note = Annotation {
            level: AnnotationLevel::Notice,
            file: None,
            line: None,
            title: "evalgit".to_string(),
            message: format!(
                "{omitted} more annotations not shown (GitHub shows {MAX_PER_LEVEL} per level): see the JUnit report"
            ),
        };
        out.push_str(&note.render());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_the_toolkit() {
        let cases: &[(&str, &str, &str)] = &[
            ("plain", "plain", "plain"),
            ("100%", "100%25", "100%25"),
            ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
            ("k: v, w", "k: v, w", "k%3A v%2C w"),
            ("%0A", "%250A", "%250A"),
        ];
        for (input, data, prop) in cases {
            assert_eq!(escape_data(input), *data, "data {input:?}");
            assert_eq!(escape_property(input), *prop, "property {input:?}");
        }
    }

    #[test]
    fn renders_file_line_and_title() {
        let a = Annotation {
            level: AnnotationLevel::Error,
            file: Some("evals/capitals, v2.toml".into()),
            line: Some(12),
            title: "evalgit: capitals/japan failed".into(),
            message: "icontains: expected \"tokyo\"\n::set-output name=x::y".into(),
        };
        assert_eq!(
            a.render(),
            "::error file=evals/capitals%2C v2.toml,line=12,title=evalgit%3A capitals/japan failed::\
             icontains: expected \"tokyo\"%0A::set-output name=x::y"
        );
        let bare = Annotation {
            file: None,
            line: Some(3),
            title: String::new(),
            ..a
        };
        assert!(bare.render().starts_with("::error::icontains"));
    }

    #[test]
    fn failing_errored_and_flaky_scenarios_are_annotated() {
        let mut results = crate::report::fixture::fixture();
        // A flaky scenario that still passed (its threshold allows one failed sample).
        results[4].status = ScenarioStatus::Passed;
        let notes = scenario_annotations(&results);
        let summary: Vec<(AnnotationLevel, &str)> =
            notes.iter().map(|a| (a.level, a.title.as_str())).collect();
        assert_eq!(
            summary,
            [
                (AnnotationLevel::Error, "evalgit: capitals/japan failed"),
                (
                    AnnotationLevel::Error,
                    "evalgit: refunds/timeout provider error"
                ),
                (AnnotationLevel::Warning, "evalgit: refunds/flaky flaky"),
            ]
        );
        assert_eq!(notes[0].file.as_deref(), Some("evals/capitals.toml"));
        assert_eq!(notes[0].line, Some(12));
        assert!(
            notes[0].message.starts_with("icontains: expected"),
            "{}",
            notes[0].message
        );
        assert!(
            notes[0].message.contains("score 0.75 (threshold 1.00)"),
            "{}",
            notes[0].message
        );
        assert!(
            notes[1].message.starts_with("local: http 500"),
            "{}",
            notes[1].message
        );
    }

    #[test]
    fn at_most_ten_per_level_then_a_notice() {
        let one = Annotation {
            level: AnnotationLevel::Error,
            file: None,
            line: None,
            title: String::new(),
            message: "m".into(),
        };
        let mut many = vec![one.clone(); 13];
        many.push(Annotation {
            level: AnnotationLevel::Warning,
            ..one
        });
        let text = render_annotations(&many);
        assert_eq!(
            text.lines().filter(|l| l.starts_with("::error")).count(),
            10
        );
        assert_eq!(
            text.lines().filter(|l| l.starts_with("::warning")).count(),
            1
        );
        assert!(
            text.lines()
                .last()
                .unwrap_or("")
                .contains("3 more annotations not shown")
        );
    }
}
