//! From check results to a sample's score and pass, and from samples to a scenario's.

use crate::config::PassRule;
use crate::runner::{CheckResult, SampleResult};

/// A sample's weighted score and whether it passes.
///
/// The score is the weighted mean of the check scores, over checks with a positive weight
/// (weight 0 marks a check as informational: reported, never counted); with nothing to
/// weigh it is 1. Without a threshold the sample passes when every weighted check passes;
/// with one, when the weighted score reaches it. A check that could not be evaluated
/// (`error`) fails the sample whatever its weight: an unknown result is never a pass.
pub fn score_sample(checks: &[CheckResult], threshold: Option<f64>) -> (f64, bool) {
    let counted = checks
        .iter()
        .filter(|c| c.weight > 0.0 && c.weight.is_finite());
    let (mut weighted, mut total) = (0.0, 0.0);
    for c in counted.clone() {
        let s = if c.score.is_finite() {
            c.score.clamp(0.0, 1.0)
        } else {
            0.0
        };
        weighted += c.weight * s;
        total += c.weight;
    }
    let score = if total > 0.0 { weighted / total } else { 1.0 };
    let errored = checks.iter().any(|c| c.error.is_some());
    let pass = !errored
        && match threshold {
            None => counted.clone().all(|c| c.pass),
            Some(t) => score >= t,
        };
    (score, pass)
}

/// A scenario's pass, score and flakiness from its samples.
///
/// Pass follows the rule: `all` samples, a strict `majority` (more than half), or
/// `at-least` k (k below 1 counts as 1). The score is the mean of the sample scores.
/// Flaky means some samples with an output passed and others failed. No samples: not
/// passed, score 0.
pub fn aggregate_samples(samples: &[SampleResult], rule: PassRule) -> (bool, f64, bool) {
    if samples.is_empty() {
        return (false, 0.0, false);
    }
    let n = samples.len();
    let passed = samples.iter().filter(|s| s.pass).count();
    let pass = match rule {
        PassRule::All => passed == n,
        PassRule::Majority => 2 * passed > n,
        PassRule::AtLeast(k) => passed >= (k.max(1) as usize),
    };
    let score = samples
        .iter()
        .map(|s| if s.score.is_finite() { s.score } else { 0.0 })
        .sum::<f64>()
        / n as f64;
    let with_output = samples.iter().filter(|s| s.output.is_some());
    let flaky = with_output.clone().any(|s| s.pass) && with_output.clone().any(|s| !s.pass);
    (pass, score, flaky)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Usage;
    use crate::runner::OutputSource;

    fn check(pass: bool, score: f64, weight: f64) -> CheckResult {
        CheckResult {
            kind: "contains".into(),
            pass,
            score,
            weight,
            reason: String::new(),
            error: None,
        }
    }

    fn sample(pass: bool, score: f64) -> SampleResult {
        SampleResult {
            repeat: 0,
            fingerprint: String::new(),
            source: OutputSource::Called,
            output: Some("x".into()),
            model: None,
            usage: Usage::default(),
            cost_usd: 0.0,
            spent_usd: 0.0,
            spent_estimated: false,
            latency_ms: 0,
            checks: Vec::new(),
            score,
            pass,
            error: None,
            eval_usage: Usage::default(),
            eval_cost_usd: 0.0,
        }
    }

    #[test]
    fn score_sample_table() {
        let mut errored = check(true, 1.0, 1.0);
        errored.error = Some("judge failed".into());
        let mut errored_info = check(true, 1.0, 0.0);
        errored_info.error = Some("judge failed".into());
        let cases: Vec<(Vec<CheckResult>, Option<f64>, f64, bool)> = vec![
            (vec![], None, 1.0, true),
            (vec![], Some(0.5), 1.0, true),
            (
                vec![check(true, 1.0, 1.0), check(true, 1.0, 1.0)],
                None,
                1.0,
                true,
            ),
            (
                vec![check(true, 1.0, 1.0), check(false, 0.0, 1.0)],
                None,
                0.5,
                false,
            ),
            // weight 3 on the passing check: (3*1 + 1*0) / 4 = 0.75
            (
                vec![check(true, 1.0, 3.0), check(false, 0.0, 1.0)],
                Some(0.7),
                0.75,
                true,
            ),
            (
                vec![check(true, 1.0, 3.0), check(false, 0.0, 1.0)],
                Some(0.8),
                0.75,
                false,
            ),
            // weight 0 is informational: its failure neither scores nor fails
            (
                vec![check(true, 1.0, 1.0), check(false, 0.0, 0.0)],
                None,
                1.0,
                true,
            ),
            (vec![check(false, 0.0, 0.0)], None, 1.0, true),
            (vec![errored], None, 1.0, false),
            (
                vec![check(true, 1.0, 1.0), errored_info],
                Some(0.1),
                1.0,
                false,
            ),
            (
                vec![check(true, 0.9, 1.0), check(true, 0.7, 1.0)],
                Some(0.8),
                0.8,
                true,
            ),
        ];
        for (i, (checks, threshold, score, pass)) in cases.into_iter().enumerate() {
            let (s, p) = score_sample(&checks, threshold);
            assert!((s - score).abs() < 1e-9, "case {i}: score {s}");
            assert_eq!(p, pass, "case {i}");
        }
    }

    #[test]
    fn aggregate_samples_by_rule() {
        let three = [sample(true, 1.0), sample(false, 0.0), sample(true, 1.0)];
        let cases = [
            (PassRule::All, false),
            (PassRule::Majority, true),
            (PassRule::AtLeast(2), true),
            (PassRule::AtLeast(3), false),
            (PassRule::AtLeast(0), true),
        ];
        for (rule, pass) in cases {
            let (p, score, flaky) = aggregate_samples(&three, rule);
            assert_eq!(p, pass, "{rule:?}");
            assert!((score - 2.0 / 3.0).abs() < 1e-9);
            assert!(flaky);
        }
        let two = [sample(true, 1.0), sample(false, 0.0)];
        assert!(
            !aggregate_samples(&two, PassRule::Majority).0,
            "a tie is not a majority"
        );
        let steady = [sample(true, 1.0), sample(true, 0.8)];
        assert_eq!(
            aggregate_samples(&steady, PassRule::All),
            (true, 0.9, false)
        );
        assert_eq!(aggregate_samples(&[], PassRule::All), (false, 0.0, false));
    }

    #[test]
    fn a_sample_without_output_is_not_flaky_evidence() {
        let mut errored = sample(false, 0.0);
        errored.output = None;
        errored.error = Some("timeout".into());
        let (pass, _, flaky) = aggregate_samples(&[sample(true, 1.0), errored], PassRule::All);
        assert!(!pass);
        assert!(!flaky);
    }
}
