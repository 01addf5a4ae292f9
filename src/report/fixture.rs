//! Hand-built results shared by the report and GitHub tests.

use time::OffsetDateTime;

use crate::provider::Usage;
use crate::runner::{CheckResult, OutputSource, SampleResult, ScenarioResult, ScenarioStatus};

pub(crate) fn check(kind: &str, pass: bool, reason: &str) -> CheckResult {
    CheckResult {
        kind: kind.into(),
        pass,
        score: if pass { 1.0 } else { 0.0 },
        weight: 1.0,
        reason: reason.into(),
        error: None,
    }
}

pub(crate) fn sample(
    repeat: u32,
    source: OutputSource,
    output: Option<&str>,
    checks: Vec<CheckResult>,
) -> SampleResult {
    let pass = checks.iter().all(|c| c.pass) && output.is_some();
    let score = if checks.is_empty() {
        1.0
    } else {
        checks.iter().map(|c| c.score).sum::<f64>() / checks.len() as f64
    };
    SampleResult {
        repeat,
        fingerprint: "ab".repeat(32),
        source,
        output: output.map(str::to_string),
        model: Some("smollm2-135m".into()),
        usage: Usage {
            input_tokens: 20,
            output_tokens: 4,
        },
        cost_usd: 0.000012,
        spent_usd: if source == OutputSource::Called {
            0.000012
        } else {
            0.0
        },
        spent_estimated: false,
        latency_ms: 250,
        checks,
        score,
        pass,
        error: None,
        eval_usage: Usage::default(),
        eval_cost_usd: 0.0,
    }
}

/// A scenario whose status follows from its samples.
pub(crate) fn scenario(suite: &str, id: &str, samples: Vec<SampleResult>) -> ScenarioResult {
    let status = if samples.iter().any(|s| s.source == OutputSource::Skipped) {
        ScenarioStatus::Skipped
    } else if samples.iter().any(|s| s.error.is_some()) {
        ScenarioStatus::Error
    } else if samples.iter().all(|s| s.pass) {
        ScenarioStatus::Passed
    } else {
        ScenarioStatus::Failed
    };
    let n = samples.len().max(1) as f64;
    ScenarioResult {
        suite: suite.into(),
        id: id.into(),
        file: format!("evals/{suite}.toml"),
        line: 12,
        provider: "local".into(),
        status,
        pass: status == ScenarioStatus::Passed,
        score: samples.iter().map(|s| s.score).sum::<f64>() / n,
        threshold: Some(1.0),
        flaky: samples.iter().any(|s| s.pass) && samples.iter().any(|s| !s.pass),
        usage: Usage {
            input_tokens: 20,
            output_tokens: 4,
        },
        cost_usd: samples.iter().map(|s| s.cost_usd).sum(),
        spent_usd: samples.iter().map(|s| s.spent_usd).sum(),
        latency_ms: samples.iter().map(|s| s.latency_ms).sum(),
        assertions_fingerprint: "cd".repeat(32),
        samples,
        seq: 0,
        outputs_released: false,
    }
}

pub(crate) fn started() -> OffsetDateTime {
    time::macros::datetime!(2026-12-01 10:30:00.123 +01:00)
}

pub(crate) fn fixture() -> Vec<ScenarioResult> {
    let mut errored = sample(0, OutputSource::Called, None, vec![]);
    errored.error = Some("http 500 from http://127.0.0.1:8080/v1: internal error\nretry 3".into());
    errored.pass = false;
    let mut skipped = sample(0, OutputSource::Skipped, None, vec![]);
    skipped.error = Some("offline: no recorded output".into());
    skipped.pass = false;
    let mut half = check(
        "icontains",
        false,
        "expected to contain \"tokyo\", got \"Kyoto\"",
    );
    half.score = 0.5;
    vec![
        scenario(
            "capitals",
            "france",
            vec![sample(
                0,
                OutputSource::Cache,
                Some("Paris"),
                vec![check("icontains", true, "contains \"paris\"")],
            )],
        ),
        scenario(
            "capitals",
            "japan",
            vec![sample(
                0,
                OutputSource::Called,
                Some("Kyoto"),
                vec![half, check("max-cost", true, "cost ok")],
            )],
        ),
        scenario("refunds", "timeout", vec![errored]),
        scenario("capitals", "peru", vec![skipped]),
        scenario(
            "refunds",
            "flaky",
            vec![
                sample(
                    0,
                    OutputSource::Called,
                    Some("yes"),
                    vec![check("equals", true, "equals \"yes\"")],
                ),
                sample(
                    1,
                    OutputSource::Called,
                    Some("no"),
                    vec![check("equals", false, "expected \"yes\", got \"no\"")],
                ),
            ],
        ),
    ]
}
