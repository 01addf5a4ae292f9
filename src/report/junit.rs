//! JUnit XML, the format every CI system and test-report action reads.
//!
//! Written by hand rather than with the `junit-report` crate: that crate (0.9) writes
//! `system-out` as raw CDATA (an output containing `]]>` ends it early and the file no
//! longer parses), always writes a `hostname`, and has no `skipped` count on `<testsuite>`,
//! no totals on `<testsuites>` and no `line` on `<testcase>`, which the report actions
//! (dorny/test-reporter, mikepenz/action-junit-report, EnricoMi/publish-unit-test-result-
//! action) read. Element text is escaped instead of wrapped in CDATA, so no output can end
//! an element, and every string first goes through [`xml_safe`].
//!
//! The file is deterministic: the timestamp is the run's start, suites come in order of
//! first appearance and scenarios in result order, and nothing about the machine is written.

use std::fmt::Write as _;
use std::path::Path;

use time::OffsetDateTime;

use crate::policy::{GateDecision, GateReason};
use crate::report::sanitize::{escape_xml_attr, escape_xml_text, xml_safe};
use crate::runner::{OutputSource, SampleResult, ScenarioResult, ScenarioStatus};

/// Writes the JUnit report for `results` to `path`, creating its folder when needed.
///
/// Streams testcase by testcase: at 100,000 scenarios the whole document would be tens of
/// megabytes held in memory at once.
pub fn write_junit(
    results: &[ScenarioResult],
    run_started: OffsetDateTime,
    gate: Option<&GateDecision>,
    path: &Path,
) -> Result<(), crate::Error> {
    use std::io::Write as _;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::cache::local_dir::create_dir_all(parent)
            .map_err(|e| crate::Error::io_path("create the folder for", path, e))?;
    }
    let write_err = |e| crate::Error::io_path("write the JUnit report", path, e);
    let file = std::fs::File::create(path).map_err(write_err)?;
    let mut file = std::io::BufWriter::with_capacity(1 << 16, file);
    emit_junit(
        results,
        run_started,
        gate,
        &mut |chunk| file.write_all(chunk.as_bytes()),
        &mut |_| Ok(None),
    )
    .map_err(write_err)?;
    file.flush().map_err(write_err)
}

/// [`write_junit`] for a run whose results released their outputs: each released scenario
/// is read back from the results file, one at a time, for its `system-out`.
pub fn write_junit_reading_back(
    results: &[ScenarioResult],
    run_started: OffsetDateTime,
    gate: Option<&GateDecision>,
    path: &Path,
    reader: &mut crate::report::results_file::ScenarioReader,
) -> Result<(), crate::Error> {
    use std::io::Write as _;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::cache::local_dir::create_dir_all(parent)
            .map_err(|e| crate::Error::io_path("create the folder for", path, e))?;
    }
    let write_err = |e| crate::Error::io_path("write the JUnit report", path, e);
    let file = std::fs::File::create(path).map_err(write_err)?;
    let mut file = std::io::BufWriter::with_capacity(1 << 16, file);
    let mut read_error = None;
    emit_junit(
        results,
        run_started,
        gate,
        &mut |chunk| file.write_all(chunk.as_bytes()),
        &mut |r| {
            if !r.outputs_released {
                return Ok(None);
            }
            match reader.read(r.seq) {
                Ok(full) => Ok(Some(full)),
                Err(e) => {
                    let message = e.to_string();
                    read_error = Some(e);
                    Err(std::io::Error::other(message))
                }
            }
        },
    )
    .map_err(|e| read_error.take().unwrap_or_else(|| write_err(e)))?;
    file.flush().map_err(write_err)
}

/// The JUnit report as a string: one `<testsuite>` per suite, one `<testcase>` per scenario.
pub fn render_junit(
    results: &[ScenarioResult],
    run_started: OffsetDateTime,
    gate: Option<&GateDecision>,
) -> String {
    let mut xml = String::new();
    let _ = emit_junit(
        results,
        run_started,
        gate,
        &mut |chunk| {
            xml.push_str(chunk);
            Ok(())
        },
        &mut |_| Ok(None),
    );
    xml
}

/// Produces the report in pieces (a header, one testcase, a closing tag) passed to `sink`.
///
/// A failed gate adds a last suite, `evalgit`, with one failing testcase, `gate`, whose
/// message is the first reason and whose text lists them all with their policies: a
/// regression, a cost increase, a budget stop or a missing shard fails no scenario, and a
/// report of only passing testcases would show such a run as green.
fn emit_junit(
    results: &[ScenarioResult],
    run_started: OffsetDateTime,
    gate: Option<&GateDecision>,
    sink: &mut dyn FnMut(&str) -> std::io::Result<()>,
    full: &mut dyn FnMut(&ScenarioResult) -> std::io::Result<Option<ScenarioResult>>,
) -> std::io::Result<()> {
    let timestamp = timestamp(run_started);
    let mut suites: Vec<(&str, Vec<&ScenarioResult>)> = Vec::new();
    for r in results {
        match suites.iter_mut().find(|(name, _)| *name == r.suite) {
            Some((_, list)) => list.push(r),
            None => suites.push((&r.suite, vec![r])),
        }
    }

    let gate_failures: Vec<&GateReason> = gate
        .filter(|g| !g.pass)
        .map(|g| g.failures().collect())
        .unwrap_or_default();
    let mut all = Counts::of(results.iter());
    if !gate_failures.is_empty() {
        all.tests += 1;
        all.failures += 1;
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"evalgit\" {} timestamp=\"{timestamp}\">",
        all.attributes()
    );
    for (index, (name, cases)) in suites.iter().enumerate() {
        let counts = Counts::of(cases.iter().copied());
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" id=\"{index}\" {} timestamp=\"{timestamp}\">",
            attr(name),
            counts.attributes()
        );
        for case in cases {
            match full(case)? {
                Some(read_back) => write_testcase(&mut out, &read_back),
                None => write_testcase(&mut out, case),
            }
            sink(&out)?;
            out.clear();
        }
        out.push_str("  </testsuite>\n");
    }
    if let Some(first) = gate_failures.first() {
        let _ = writeln!(
            out,
            "  <testsuite name=\"evalgit\" id=\"{}\" tests=\"1\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"0.000\" timestamp=\"{timestamp}\">",
            suites.len()
        );
        let mut body = String::new();
        for r in &gate_failures {
            let _ = writeln!(body, "{} ({})", r.message, r.policy);
        }
        let _ = writeln!(
            out,
            "    <testcase classname=\"evalgit\" name=\"gate\" time=\"0.000\">\n      <failure type=\"gate\" message=\"{}\">{}</failure>\n    </testcase>\n  </testsuite>",
            attr(one_line(&first.message)),
            text(&body)
        );
    }
    out.push_str("</testsuites>\n");
    sink(&out)
}

/// Totals shared by `<testsuites>` and `<testsuite>`.
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
    seconds: f64,
}

impl Counts {
    fn of<'a>(cases: impl Iterator<Item = &'a ScenarioResult>) -> Self {
        let mut c = Counts {
            tests: 0,
            failures: 0,
            errors: 0,
            skipped: 0,
            seconds: 0.0,
        };
        for r in cases {
            c.tests += 1;
            match r.status {
                ScenarioStatus::Passed => {}
                ScenarioStatus::Failed => c.failures += 1,
                ScenarioStatus::Error => c.errors += 1,
                ScenarioStatus::Skipped => c.skipped += 1,
            }
            c.seconds += case_seconds(r);
        }
        c
    }

    fn attributes(&self) -> String {
        format!(
            "tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\"",
            self.tests, self.failures, self.errors, self.skipped, self.seconds
        )
    }
}

/// Wall time this run spent calling the model for the scenario; replays took no model time.
fn case_seconds(r: &ScenarioResult) -> f64 {
    let ms: u64 = r
        .samples
        .iter()
        .filter(|s| s.source == OutputSource::Called)
        .map(|s| s.latency_ms)
        .sum();
    ms as f64 / 1000.0
}

fn timestamp(t: OffsetDateTime) -> String {
    let utc = t.to_offset(time::UtcOffset::UTC);
    let utc = utc.replace_nanosecond(0).unwrap_or(utc);
    utc.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| utc.unix_timestamp().to_string())
}

/// An attribute value: made XML-safe, then escaped.
fn attr(s: &str) -> String {
    escape_xml_attr(&xml_safe(s))
}

/// Element text: made XML-safe, then escaped.
fn text(s: &str) -> String {
    escape_xml_text(&xml_safe(s))
}

fn write_testcase(out: &mut String, r: &ScenarioResult) {
    let _ = write!(
        out,
        "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\"",
        attr(&r.id),
        attr(&r.suite),
        attr(&r.file)
    );
    if r.line > 0 {
        let _ = write!(out, " line=\"{}\"", r.line);
    }
    let _ = writeln!(out, " time=\"{:.3}\">", case_seconds(r));
    match r.status {
        ScenarioStatus::Passed => {}
        ScenarioStatus::Failed => {
            let (kind, message, body) = failure(r);
            let _ = writeln!(
                out,
                "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                attr(&kind),
                attr(&message),
                text(&body)
            );
        }
        ScenarioStatus::Error => {
            let (kind, message, body) = scenario_error(r);
            let _ = writeln!(
                out,
                "      <error type=\"{kind}\" message=\"{}\">{}</error>",
                attr(&message),
                text(&body)
            );
        }
        ScenarioStatus::Skipped => {
            let reason = r
                .samples
                .iter()
                .find_map(|s| s.error.as_deref())
                .unwrap_or("not evaluated");
            let _ = writeln!(out, "      <skipped message=\"{}\"/>", attr(reason));
        }
    }
    let _ = writeln!(
        out,
        "      <system-out>{}</system-out>",
        text(&system_out(r))
    );
    out.push_str("    </testcase>\n");
}

/// The failure's type (the failed check), its one-line message and its full text.
///
/// The message's first line is what report actions show in a list: the check, why, the
/// score against the threshold, and the cost, e.g.
/// `icontains: expected to contain "tokyo", got "Kyoto" | score 0.50 < 1.00 | cost $0.000012`.
fn failure(r: &ScenarioResult) -> (String, String, String) {
    let failing_samples: Vec<&SampleResult> = r.samples.iter().filter(|s| !s.pass).collect();
    let first_check = failing_samples
        .iter()
        .flat_map(|s| s.checks.iter())
        .find(|c| !c.pass);
    let (kind, mut message) = match first_check {
        Some(c) => {
            let why = c.error.as_deref().unwrap_or(&c.reason);
            (c.kind.clone(), format!("{}: {}", c.kind, one_line(why)))
        }
        None => (
            "threshold".to_string(),
            "score below the threshold".to_string(),
        ),
    };
    let mut failed_checks = 0usize;
    for s in &failing_samples {
        failed_checks += s.checks.iter().filter(|c| !c.pass).count();
    }
    if failed_checks > 1 {
        let _ = write!(message, " (+{} more failed checks)", failed_checks - 1);
    }
    let _ = write!(message, " | score {:.2}", r.score);
    if let Some(t) = r.threshold {
        let _ = write!(message, " < {t:.2}");
    }
    if r.samples.len() > 1 {
        let _ = write!(
            message,
            " | {}/{} samples failed",
            failing_samples.len(),
            r.samples.len()
        );
    }
    let _ = write!(message, " | cost ${:.6}", r.cost_usd);

    let mut body = String::new();
    let label = r.samples.len() > 1;
    for s in &failing_samples {
        for c in s.checks.iter().filter(|c| !c.pass) {
            if label {
                let _ = write!(body, "sample {}: ", s.repeat + 1);
            }
            let _ = writeln!(body, "{} (score {:.2}): {}", c.kind, c.score, c.reason);
            if let Some(e) = &c.error {
                let _ = writeln!(body, "  check error: {e}");
            }
        }
    }
    (kind, message, body)
}

/// Why an errored scenario was not evaluated: its type (`provider` or `judge`), the first
/// cause as the message, every sample's errors as the text.
fn scenario_error(r: &ScenarioResult) -> (&'static str, String, String) {
    let Some(cause) = r.error_cause() else {
        return (
            "provider",
            format!("{}: the provider returned no output", r.provider),
            String::new(),
        );
    };
    let message = match cause {
        crate::runner::ErrorCause::Provider(e) => format!("{}: {}", r.provider, one_line(e)),
        judge => one_line(&judge.to_string()).to_string(),
    };
    let mut body = String::new();
    for s in &r.samples {
        let errors = s.error.iter().map(String::as_str).chain(
            s.checks
                .iter()
                .filter_map(|c| c.error.as_deref().map(|_| c.reason.as_str())),
        );
        for e in errors {
            if r.samples.len() > 1 {
                let _ = write!(body, "sample {}: ", s.repeat + 1);
            }
            let _ = writeln!(body, "{e}");
        }
    }
    (cause.kind(), message, body)
}

/// The output (each sample, labelled, when there are repeats) and every check's reason.
fn system_out(r: &ScenarioResult) -> String {
    let mut out = String::new();
    let repeats = r.samples.len() > 1;
    for s in &r.samples {
        if repeats {
            let _ = writeln!(out, "--- sample {}/{} ---", s.repeat + 1, r.samples.len());
        }
        let source = match s.source {
            OutputSource::Called => "called",
            OutputSource::Cache => "replayed from cache",
            OutputSource::Snapshot => "replayed from snapshot",
            OutputSource::Skipped => "skipped",
        };
        let model = s.model.as_deref().unwrap_or(&r.provider);
        let _ = writeln!(out, "output ({source}, {model}, cost ${:.6}):", s.cost_usd);
        match &s.output {
            Some(o) => {
                out.push_str(o);
                if !o.ends_with('\n') {
                    out.push('\n');
                }
            }
            None => out.push_str("(no output)\n"),
        }
        if let Some(e) = &s.error {
            let _ = writeln!(out, "error: {e}");
        }
        if !s.checks.is_empty() {
            let _ = writeln!(out, "checks (score {:.2}):", s.score);
        }
        for c in &s.checks {
            let mark = if c.pass { "pass" } else { "FAIL" };
            let _ = writeln!(out, "  [{mark}] {} ({:.2}): {}", c.kind, c.score, c.reason);
            if let Some(e) = &c.error {
                let _ = writeln!(out, "         check error: {e}");
            }
        }
    }
    out
}

/// The first line of `s`, so a message attribute stays one line.
fn one_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::{check, fixture, sample, scenario, started};

    fn attr_of<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> &'a str {
        node.attribute(name)
            .unwrap_or_else(|| panic!("missing attribute {name} on {:?}", node.tag_name()))
    }

    #[test]
    fn report_has_the_fields_report_actions_read() {
        let xml = render_junit(&fixture(), started(), None);
        let doc = roxmltree::Document::parse(&xml).expect("valid XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        for (name, want) in [
            ("tests", "5"),
            ("failures", "2"),
            ("errors", "1"),
            ("skipped", "1"),
            ("time", "1.000"),
        ] {
            assert_eq!(attr_of(root, name), want, "testsuites {name}");
        }
        assert_eq!(attr_of(root, "timestamp"), "2026-12-01T09:30:00Z");

        let suites: Vec<_> = root
            .children()
            .filter(|n| n.has_tag_name("testsuite"))
            .collect();
        let names: Vec<_> = suites.iter().map(|s| attr_of(*s, "name")).collect();
        assert_eq!(names, ["capitals", "refunds"], "order of first appearance");
        let capitals = suites[0];
        for (name, want) in [
            ("tests", "3"),
            ("failures", "1"),
            ("errors", "0"),
            ("skipped", "1"),
            ("time", "0.250"),
            ("timestamp", "2026-12-01T09:30:00Z"),
        ] {
            assert_eq!(attr_of(capitals, name), want, "capitals {name}");
        }
        assert!(capitals.attribute("hostname").is_none());

        let cases: Vec<_> = capitals
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let ids: Vec<_> = cases.iter().map(|c| attr_of(*c, "name")).collect();
        assert_eq!(ids, ["france", "japan", "peru"]);
        let france = cases[0];
        assert_eq!(attr_of(france, "classname"), "capitals");
        assert_eq!(attr_of(france, "file"), "evals/capitals.toml");
        assert_eq!(attr_of(france, "line"), "12");
        assert_eq!(
            attr_of(france, "time"),
            "0.000",
            "replays take no model time"
        );

        let japan = cases[1];
        assert_eq!(attr_of(japan, "time"), "0.250");
        let fail = japan
            .children()
            .find(|n| n.has_tag_name("failure"))
            .expect("failure");
        assert_eq!(attr_of(fail, "type"), "icontains");
        assert_eq!(
            attr_of(fail, "message"),
            "icontains: expected to contain \"tokyo\", got \"Kyoto\" | score 0.75 < 1.00 | cost $0.000012"
        );
        assert!(fail.text().unwrap_or("").contains("icontains (score 0.50)"));
        let out = japan
            .children()
            .find(|n| n.has_tag_name("system-out"))
            .and_then(|n| n.text());
        let out = out.expect("system-out");
        assert!(out.contains("Kyoto\n"), "{out}");
        assert!(out.contains("[pass] max-cost"), "{out}");

        let peru = cases[2];
        let skipped = peru
            .children()
            .find(|n| n.has_tag_name("skipped"))
            .expect("skipped");
        assert_eq!(attr_of(skipped, "message"), "offline: no recorded output");

        let refunds: Vec<_> = suites[1]
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let timeout = refunds[0];
        assert!(
            timeout.children().all(|n| !n.has_tag_name("failure")),
            "an error is never a failure"
        );
        let error = timeout
            .children()
            .find(|n| n.has_tag_name("error"))
            .expect("error");
        assert_eq!(attr_of(error, "type"), "provider");
        assert_eq!(
            attr_of(error, "message"),
            "local: http 500 from http://127.0.0.1:8080/v1: internal error"
        );
        assert!(error.text().unwrap_or("").contains("retry 3"));

        let flaky = refunds[1];
        let fail = flaky
            .children()
            .find(|n| n.has_tag_name("failure"))
            .expect("failure");
        assert!(attr_of(fail, "message").contains("| 1/2 samples failed |"));
        let out = flaky
            .children()
            .find(|n| n.has_tag_name("system-out"))
            .and_then(|n| n.text());
        let out = out.expect("system-out");
        assert!(out.contains("--- sample 1/2 ---\noutput (called"), "{out}");
        assert!(out.contains("--- sample 2/2 ---"), "{out}");
    }

    /// Regression: a judge that failed (malformed reply, HTTP 500) was reported as an error of
    /// the system under test, "the provider returned no output", though the model answered.
    #[test]
    fn a_failed_judge_is_a_judge_error_not_the_providers() {
        let mut judged = check("llm-rubric", false, "judge reply lacks \"pass\"");
        judged.error = Some("judge reply lacks \"pass\"".into());
        let mut r = crate::report::fixture::scenario(
            "support",
            "refund",
            vec![crate::report::fixture::sample(
                0,
                OutputSource::Called,
                Some("We refund within 30 days."),
                vec![judged],
            )],
        );
        r.status = ScenarioStatus::Error;
        let xml = render_junit(&[r], started(), None);
        let doc = roxmltree::Document::parse(&xml).expect("valid XML");
        let error = doc
            .descendants()
            .find(|n| n.has_tag_name("error"))
            .expect("error");
        assert_eq!(attr_of(error, "type"), "judge");
        assert_eq!(
            attr_of(error, "message"),
            "judge of llm-rubric failed: judge reply lacks \"pass\""
        );
    }

    /// Regression: a run whose gate failed without a failing scenario (a cost increase, a
    /// missing shard) gave a JUnit file of passing testcases, green in test reporters.
    #[test]
    fn a_failed_gate_is_a_failing_testcase() {
        use crate::policy::{GateLevel, GateReasonKind};
        let mut gate = GateDecision::passed();
        gate.push(GateReason {
            kind: GateReasonKind::CostIncrease,
            level: GateLevel::Fail,
            message: "cost +40.0% over the base".into(),
            policy: "budget.max_cost_increase_pct = 10".into(),
        });
        gate.push(GateReason {
            kind: GateReasonKind::Interrupted,
            level: GateLevel::Warn,
            message: "a warning".into(),
            policy: "x".into(),
        });
        let xml = render_junit(&fixture(), started(), Some(&gate));
        let doc = roxmltree::Document::parse(&xml).expect("valid XML");
        let root = doc.root_element();
        let cases = fixture().len();
        assert_eq!(attr_of(root, "tests"), (cases + 1).to_string());
        let case = doc
            .descendants()
            .find(|n| n.has_tag_name("testcase") && attr_of(*n, "name") == "gate")
            .expect("gate testcase");
        assert_eq!(attr_of(case, "classname"), "evalgit");
        let failure = case
            .children()
            .find(|n| n.has_tag_name("failure"))
            .expect("failure");
        assert_eq!(attr_of(failure, "message"), "cost +40.0% over the base");
        let text = failure.text().unwrap_or("");
        assert!(
            text.contains("(budget.max_cost_increase_pct = 10)"),
            "{text}"
        );
        assert!(!text.contains("a warning"), "{text}");

        // A passing gate adds nothing.
        let passing = GateDecision::passed();
        assert_eq!(
            render_junit(&fixture(), started(), Some(&passing)),
            render_junit(&fixture(), started(), None)
        );
    }

    #[test]
    fn report_is_deterministic() {
        assert_eq!(
            render_junit(&fixture(), started(), None),
            render_junit(&fixture(), started(), None)
        );
    }

    #[test]
    fn empty_results_still_parse() {
        let xml = render_junit(&[], started(), None);
        let doc = roxmltree::Document::parse(&xml).expect("valid XML");
        assert_eq!(doc.root_element().attribute("tests"), Some("0"));
    }

    /// Regression guard: model outputs with control characters, ANSI colours, `]]>` and
    /// markup must never make the file unparseable (junit-report wrote them raw).
    #[test]
    fn hostile_output_still_parses_and_keeps_legal_text() {
        let hostile = "\u{1b}[31mred\u{1b}[0m bell\u{7} nul\u{0} ]]> <script>alert(1)</script> &\"' \
                       東京 🗼 \u{fffd} \u{fffe} cr\r\n";
        let mut c = check("icontains", false, hostile);
        c.kind = "icontains<\"&>".into();
        let mut r = scenario(
            "suite ]]> \u{1b}[1m",
            "id <&> \u{0}",
            vec![sample(0, OutputSource::Called, Some(hostile), vec![c])],
        );
        r.file = "evals/\"x\".toml".into();
        let mut errored = sample(0, OutputSource::Called, None, vec![]);
        errored.error = Some(hostile.into());
        errored.pass = false;
        let e = scenario("s", "e", vec![errored]);

        let xml = render_junit(&[r, e], started(), None);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|err| panic!("{err}\n{xml}"));
        let case = doc
            .descendants()
            .find(|n| n.has_tag_name("testcase"))
            .expect("testcase");
        assert_eq!(case.attribute("name"), Some("id <&> \\u{0}"));
        assert_eq!(case.attribute("file"), Some("evals/\"x\".toml"));
        let out = case
            .children()
            .find(|n| n.has_tag_name("system-out"))
            .and_then(|n| n.text());
        let out = out.expect("system-out");
        let kept = "red bell\\u{7} nul\\u{0} ]]> <script>alert(1)</script> &\"' 東京 🗼 \u{fffd} \\u{fffe} cr\r\n";
        assert!(out.contains(kept), "{kept:?} missing from {out:?}");
        assert!(!out.contains('\u{1b}'));
        let fail = case
            .children()
            .find(|n| n.has_tag_name("failure"))
            .expect("failure");
        assert_eq!(fail.attribute("type"), Some("icontains<\"&>"));
        assert!(fail.attribute("message").unwrap_or("").contains("<script>"));
        let suite = doc
            .descendants()
            .find(|n| n.has_tag_name("testsuite"))
            .expect("suite");
        assert_eq!(suite.attribute("name"), Some("suite ]]> "));
        let error = doc
            .descendants()
            .find(|n| n.has_tag_name("error"))
            .expect("error");
        assert!(error.text().unwrap_or("").contains("東京 🗼"));
    }

    #[test]
    fn write_junit_creates_the_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("reports/junit.xml");
        write_junit(&fixture(), started(), None, &path).expect("written");
        let xml = std::fs::read_to_string(&path).expect("read back");
        assert!(roxmltree::Document::parse(&xml).is_ok());
    }
}
