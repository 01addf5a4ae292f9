//! Deterministic checks: everything that can be decided from the output, its latency and its
//! cost without asking another model.
//!
//! Each check first decides the positive form ("contains"), then `not-` inverts the pass and
//! turns the score into `1 - score`. The reason always reads `expected ..., got ...` so a
//! reviewer sees both sides whether the check passed or failed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use super::json;
use super::similarity::Metric;
use super::spec::{AssertKind, AssertionSpec};
use crate::runner::CheckResult;

/// Outputs quoted in reasons are cut to this many characters.
const EXCERPT_CHARS: usize = 80;

/// Default pass threshold of `similar`.
pub const DEFAULT_SIMILARITY_THRESHOLD: f64 = 0.8;

/// What a deterministic check looks at.
#[derive(Debug, Clone, Copy)]
pub struct CheckInput<'a> {
    /// The model's output; `""` is a real (empty) output.
    pub output: &'a str,
    pub latency_ms: u64,
    /// `None` when no price is known for the model.
    pub cost_usd: Option<f64>,
}

/// The result of a check before `not-` is applied.
enum Outcome {
    Checked {
        pass: bool,
        score: f64,
        /// What the positive form expects, as a phrase after "expected": `to contain "x"`.
        expected: String,
        /// What was found: an excerpt of the output or a measured value.
        got: String,
    },
    /// Fails whatever the negation: the check cannot be decided from what is known.
    Fail(String),
    /// The check itself is broken (bad schema, missing value): an error, never a pass.
    Error(String),
}

/// Runs one deterministic check. Model-graded kinds return an error result: the runner
/// sends those to a judge (see `judge.rs`) instead.
pub fn evaluate(spec: &AssertionSpec, input: &CheckInput) -> CheckResult {
    let outcome = check(spec, input);
    let mut result = CheckResult {
        kind: spec.type_name(),
        pass: false,
        score: 0.0,
        weight: spec.weight,
        reason: String::new(),
        error: None,
    };
    match outcome {
        Outcome::Checked {
            pass,
            score,
            expected,
            got,
        } => {
            let score = score.clamp(0.0, 1.0);
            if spec.negate {
                result.pass = !pass;
                result.score = 1.0 - score;
                result.reason = format!("expected not {expected}, got {got}");
            } else {
                result.pass = pass;
                result.score = score;
                result.reason = format!("expected {expected}, got {got}");
            }
        }
        Outcome::Fail(reason) => result.reason = reason,
        Outcome::Error(message) => {
            result.reason = format!("{} could not be evaluated: {message}", spec.type_name());
            result.error = Some(message);
        }
    }
    result
}

fn check(spec: &AssertionSpec, input: &CheckInput) -> Outcome {
    let output = input.output;
    match spec.kind {
        AssertKind::Equals => with_text(spec, |want| Outcome::Checked {
            pass: output == want,
            score: binary(output == want),
            expected: format!("to equal {}", excerpt(want)),
            got: excerpt(output),
        }),
        AssertKind::Contains => with_text(spec, |want| {
            let pass = output.contains(want);
            Outcome::Checked {
                pass,
                score: binary(pass),
                expected: format!("to contain {}", excerpt(want)),
                got: excerpt(output),
            }
        }),
        AssertKind::Icontains => with_text(spec, |want| {
            let pass = output.to_lowercase().contains(&want.to_lowercase());
            Outcome::Checked {
                pass,
                score: binary(pass),
                expected: format!("to contain {} (any case)", excerpt(want)),
                got: excerpt(output),
            }
        }),
        AssertKind::ContainsAny => with_list(spec, |wants| {
            let pass = wants.iter().any(|w| output.contains(w.as_str()));
            Outcome::Checked {
                pass,
                score: binary(pass),
                expected: format!("to contain any of {}", list(wants)),
                got: excerpt(output),
            }
        }),
        AssertKind::ContainsAll => with_list(spec, |wants| {
            let missing: Vec<String> = wants
                .iter()
                .filter(|w| !output.contains(w.as_str()))
                .cloned()
                .collect();
            let pass = missing.is_empty();
            let got = if pass || spec.negate {
                excerpt(output)
            } else {
                format!("{} (missing {})", excerpt(output), list(&missing))
            };
            Outcome::Checked {
                pass,
                score: binary(pass),
                expected: format!("to contain all of {}", list(wants)),
                got,
            }
        }),
        // Leading whitespace is ignored: models often open with a space or a newline.
        AssertKind::StartsWith => with_text(spec, |want| {
            let pass = output.trim_start().starts_with(want);
            Outcome::Checked {
                pass,
                score: binary(pass),
                expected: format!("to start with {}", excerpt(want)),
                got: excerpt(output),
            }
        }),
        AssertKind::Regex => {
            let compiled;
            let re = match &spec.regex {
                Some(re) => re,
                None => match text_value(spec) {
                    Ok(pattern) => match regex::Regex::new(&pattern) {
                        Ok(re) => {
                            compiled = re;
                            &compiled
                        }
                        Err(e) => {
                            return Outcome::Error(format!(
                                "invalid regex {}: {e}",
                                excerpt(&pattern)
                            ));
                        }
                    },
                    Err(e) => return Outcome::Error(e),
                },
            };
            let pass = re.is_match(output);
            Outcome::Checked {
                pass,
                score: binary(pass),
                expected: format!("to match /{}/", re.as_str()),
                got: excerpt(output),
            }
        }
        AssertKind::IsJson => match json::parse_whole(output) {
            Ok(found) => with_optional_schema(spec, &found, "to be valid JSON", output),
            Err(e) => Outcome::Checked {
                pass: false,
                score: 0.0,
                expected: expected_json("to be valid JSON", spec),
                got: format!("{} (invalid JSON: {e})", excerpt(output)),
            },
        },
        AssertKind::ContainsJson => match json::extract(output) {
            Some(found) => with_optional_schema(spec, &found, "to contain JSON", output),
            None => Outcome::Checked {
                pass: false,
                score: 0.0,
                expected: expected_json("to contain JSON", spec),
                got: format!("no JSON in {}", excerpt(output)),
            },
        },
        AssertKind::JsonSchema => {
            let Some(schema) = &spec.value else {
                return Outcome::Error(
                    "json-schema needs a `value` holding the schema".to_string(),
                );
            };
            let expected = "to contain JSON matching the schema".to_string();
            match json::extract(output) {
                None => Outcome::Checked {
                    pass: false,
                    score: 0.0,
                    expected,
                    got: format!("no JSON in {}", excerpt(output)),
                },
                Some(found) => match schema_violation(schema, &found) {
                    Err(e) => Outcome::Error(e),
                    Ok(None) => Outcome::Checked {
                        pass: true,
                        score: 1.0,
                        expected,
                        got: excerpt(output),
                    },
                    Ok(Some(violation)) => Outcome::Checked {
                        pass: false,
                        score: 0.0,
                        expected,
                        got: format!("{} ({violation})", excerpt(output)),
                    },
                },
            }
        }
        AssertKind::JsonPath => json_path(spec, output),
        AssertKind::WordCount => {
            let words = output.split_whitespace().count();
            bounded(spec, words as f64, "words")
        }
        AssertKind::Length => {
            let chars = output.chars().count();
            bounded(spec, chars as f64, "characters")
        }
        AssertKind::MaxLatencyMs => with_number(spec, |max| {
            let pass = input.latency_ms as f64 <= max;
            Outcome::Checked {
                pass,
                score: binary(pass),
                expected: format!("to take at most {} ms", num(max)),
                got: format!("{} ms", input.latency_ms),
            }
        }),
        AssertKind::MaxCost => with_number(spec, |max| {
            match input.cost_usd {
            None => Outcome::Fail(
                "cost unknown: add [prices.\"MODEL\"] (input and output USD per million tokens) to evalgit.toml"
                    .to_string(),
            ),
            Some(cost) => {
                let pass = cost <= max;
                Outcome::Checked {
                    pass,
                    score: binary(pass),
                    expected: format!("to cost at most {}", usd(max)),
                    got: usd(cost),
                }
            }
        }
        }),
        AssertKind::Similar => similar(spec, output),
        AssertKind::LlmRubric | AssertKind::Factuality | AssertKind::ClosedQa => {
            Outcome::Error(format!(
                "needs a judge: {} is graded by a judge model, not evaluated locally",
                spec.kind.name()
            ))
        }
    }
}

fn binary(pass: bool) -> f64 {
    if pass { 1.0 } else { 0.0 }
}

fn with_text(spec: &AssertionSpec, f: impl FnOnce(&str) -> Outcome) -> Outcome {
    match text_value(spec) {
        Ok(text) => f(&text),
        Err(e) => Outcome::Error(e),
    }
}

fn with_list(spec: &AssertionSpec, f: impl FnOnce(&[String]) -> Outcome) -> Outcome {
    match list_value(spec) {
        Ok(items) => f(&items),
        Err(e) => Outcome::Error(e),
    }
}

fn with_number(spec: &AssertionSpec, f: impl FnOnce(f64) -> Outcome) -> Outcome {
    match spec.value.as_ref().and_then(Value::as_f64) {
        Some(n) => f(n),
        None => Outcome::Error(format!("{} needs a numeric `value`", spec.kind.name())),
    }
}

/// The `value` as text; numbers and booleans are written as in JSON (`value = 42`).
fn text_value(spec: &AssertionSpec) -> Result<String, String> {
    match &spec.value {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(v.to_string()),
        Some(_) => Err(format!("{} needs a string `value`", spec.kind.name())),
        None => Err(format!("{} needs a `value`", spec.kind.name())),
    }
}

/// The `value` as a list of texts; a single text is a list of one.
fn list_value(spec: &AssertionSpec) -> Result<Vec<String>, String> {
    match &spec.value {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(_) | Value::Bool(_) => Ok(v.to_string()),
                _ => Err(format!(
                    "{} needs a list of strings as `value`",
                    spec.kind.name()
                )),
            })
            .collect(),
        Some(_) => text_value(spec).map(|s| vec![s]),
        None => Err(format!("{} needs a `value`", spec.kind.name())),
    }
}

fn expected_json(base: &str, spec: &AssertionSpec) -> String {
    if spec.value.is_some() {
        format!("{base} matching the schema")
    } else {
        base.to_string()
    }
}

/// `is-json` and `contains-json`: pass when JSON was found and, with a schema in `value`,
/// matches it.
fn with_optional_schema(spec: &AssertionSpec, found: &Value, base: &str, output: &str) -> Outcome {
    let expected = expected_json(base, spec);
    let Some(schema) = &spec.value else {
        return Outcome::Checked {
            pass: true,
            score: 1.0,
            expected,
            got: excerpt(output),
        };
    };
    match schema_violation(schema, found) {
        Err(e) => Outcome::Error(e),
        Ok(None) => Outcome::Checked {
            pass: true,
            score: 1.0,
            expected,
            got: excerpt(output),
        },
        Ok(Some(violation)) => Outcome::Checked {
            pass: false,
            score: 0.0,
            expected,
            got: format!("{} ({violation})", excerpt(output)),
        },
    }
}

type CompiledSchema = Result<Arc<jsonschema::Validator>, String>;

/// Compiled schemas keyed by their JSON text: a suite checks many outputs against the same
/// few schemas, and compiling is the expensive part.
fn compiled(schema: &Value) -> CompiledSchema {
    static CACHE: OnceLock<Mutex<HashMap<String, CompiledSchema>>> = OnceLock::new();
    let key = schema.to_string();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    map.entry(key)
        .or_insert_with(|| {
            jsonschema::validator_for(schema)
                .map(Arc::new)
                .map_err(|e| format!("invalid JSON schema: {e}"))
        })
        .clone()
}

/// `Ok(None)` when `instance` matches, `Ok(Some(first violation))` when not, `Err` when the
/// schema itself is invalid.
fn schema_violation(schema: &Value, instance: &Value) -> Result<Option<String>, String> {
    let validator = compiled(schema)?;
    let first = validator.iter_errors(instance).next();
    Ok(first.map(|e| {
        let path = e.instance_path().to_string();
        let message = single_line(&e.to_string(), EXCERPT_CHARS);
        if path.is_empty() {
            message
        } else {
            format!("at {path}: {message}")
        }
    }))
}

fn json_path(spec: &AssertionSpec, output: &str) -> Outcome {
    let Some(path) = spec.path.as_deref() else {
        return Outcome::Error(
            "json-path needs a `path`, e.g. path = \"items.0.name\"".to_string(),
        );
    };
    let expected = match &spec.value {
        Some(v) => format!(
            "\"{path}\" to equal {}",
            single_line(&v.to_string(), EXCERPT_CHARS)
        ),
        None => format!("a value at \"{path}\""),
    };
    let Some(found) = json::extract(output) else {
        return Outcome::Checked {
            pass: false,
            score: 0.0,
            expected,
            got: format!("no JSON in {}", excerpt(output)),
        };
    };
    match json::lookup(&found, path) {
        Err(segment) => Outcome::Checked {
            pass: false,
            score: 0.0,
            expected,
            got: format!(
                "nothing at \"{segment}\" in {}",
                single_line(&found.to_string(), EXCERPT_CHARS)
            ),
        },
        Ok(value) => {
            let pass = spec
                .value
                .as_ref()
                .is_none_or(|want| json::json_equal(value, want));
            Outcome::Checked {
                pass,
                score: binary(pass),
                expected,
                got: single_line(&value.to_string(), EXCERPT_CHARS),
            }
        }
    }
}

/// `word-count` and `length`: `min <= n <= max`, both inclusive, either optional.
fn bounded(spec: &AssertionSpec, n: f64, unit: &str) -> Outcome {
    let expected = match (spec.min, spec.max) {
        (Some(lo), Some(hi)) => format!("between {} and {} {unit}", num(lo), num(hi)),
        (Some(lo), None) => format!("at least {} {unit}", num(lo)),
        (None, Some(hi)) => format!("at most {} {unit}", num(hi)),
        (None, None) => {
            return Outcome::Error(format!("{} needs `min` or `max`", spec.kind.name()));
        }
    };
    let pass = spec.min.is_none_or(|lo| n >= lo) && spec.max.is_none_or(|hi| n <= hi);
    Outcome::Checked {
        pass,
        score: binary(pass),
        expected,
        got: format!("{} {unit}", num(n)),
    }
}

/// `similar`: the best similarity to the reference (or to any of a list of references).
fn similar(spec: &AssertionSpec, output: &str) -> Outcome {
    let Some(metric) = Metric::from_name(spec.metric.as_deref()) else {
        return Outcome::Error(format!(
            "unknown metric {:?}: use \"levenshtein\" or \"rouge-l\"",
            spec.metric.as_deref().unwrap_or_default()
        ));
    };
    let references = match list_value(spec) {
        Ok(r) if !r.is_empty() => r,
        Ok(_) => return Outcome::Error("similar needs a reference text as `value`".to_string()),
        Err(e) => return Outcome::Error(e),
    };
    let threshold = spec.threshold.unwrap_or(DEFAULT_SIMILARITY_THRESHOLD);
    let mut best = (0.0_f64, 0);
    for (i, reference) in references.iter().enumerate() {
        let s = metric.similarity(output, reference);
        if i == 0 || s > best.0 {
            best = (s, i);
        }
    }
    let (score, i) = best;
    Outcome::Checked {
        pass: score >= threshold,
        score,
        expected: format!(
            "to be similar to {} ({} >= {threshold:.2})",
            excerpt(&references[i]),
            metric.name()
        ),
        got: format!("similarity {score:.2} for {}", excerpt(output)),
    }
}

/// A quoted, single-line, shortened excerpt for reasons: `"The capital is Lyon."`.
pub fn excerpt(text: &str) -> String {
    format!("\"{}\"", single_line(text, EXCERPT_CHARS))
}

/// Escapes line breaks and control characters and cuts to `max` characters (with `…`).
pub fn single_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    for c in text.chars() {
        let piece = match c {
            '\n' => "\\n".to_string(),
            '\r' => "\\r".to_string(),
            '\t' => "\\t".to_string(),
            c if c.is_control() => format!("\\u{{{:x}}}", c as u32),
            c => c.to_string(),
        };
        let width = piece.chars().count();
        if count + width > max {
            out.push('…');
            break;
        }
        out.push_str(&piece);
        count += width;
    }
    out
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| excerpt(s)).collect();
    single_line(&format!("[{}]", quoted.join(", ")), 2 * EXCERPT_CHARS)
}

/// A number as a person writes it: `3`, `0.5`.
fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

/// Dollars with enough digits for fractions of a cent: `$0.0012`.
pub fn usd(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0');
    let s = s
        .strip_suffix('.')
        .map(str::to_string)
        .unwrap_or_else(|| s.to_string());
    format!("${s}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(kind: &str) -> AssertionSpec {
        let (negate, name) = match kind.strip_prefix("not-") {
            Some(rest) => (true, rest),
            None => (false, kind),
        };
        let mut s = AssertionSpec::new(AssertKind::from_name(name).expect("known kind"));
        s.negate = negate;
        s
    }

    fn with_value(kind: &str, value: Value) -> AssertionSpec {
        let mut s = spec(kind);
        s.value = Some(value);
        s
    }

    fn run(s: &AssertionSpec, output: &str) -> CheckResult {
        evaluate(
            s,
            &CheckInput {
                output,
                latency_ms: 100,
                cost_usd: Some(0.002),
            },
        )
    }

    /// (spec, output, pass, a piece of the reason)
    fn cases() -> Vec<(AssertionSpec, &'static str, bool, &'static str)> {
        let schema = json!({"type": "object", "required": ["age"], "properties": {"age": {"type": "integer"}}});
        let mut path = spec("json-path");
        path.path = Some("$.person.age".to_string());
        path.value = Some(json!(42));
        let mut path_exists = spec("json-path");
        path_exists.path = Some("items.1".to_string());
        let mut words = spec("word-count");
        words.min = Some(2.0);
        words.max = Some(3.0);
        let mut len = spec("length");
        len.max = Some(5.0);
        let mut len_min = spec("length");
        len_min.min = Some(1.0);
        let mut sim = with_value("similar", json!("The capital of France is Paris."));
        sim.threshold = Some(0.9);
        let mut rouge = with_value("similar", json!("the capital of france is paris"));
        rouge.metric = Some("rouge-l".to_string());
        rouge.threshold = Some(0.5);
        vec![
            (
                with_value("equals", json!("Paris")),
                "Paris",
                true,
                r#"expected to equal "Paris", got "Paris""#,
            ),
            (
                with_value("equals", json!("Paris")),
                "Paris.",
                false,
                r#"got "Paris.""#,
            ),
            (
                with_value("equals", json!("")),
                "",
                true,
                r#"expected to equal "", got """#,
            ),
            (with_value("equals", json!("0")), "0", true, r#"got "0""#),
            (with_value("equals", json!(0)), "0", true, r#"to equal "0""#),
            (
                with_value("equals", json!("false")),
                "false",
                true,
                r#"got "false""#,
            ),
            (with_value("equals", json!("x")), "", false, r#"got """#),
            (
                with_value("contains", json!("paris")),
                "The capital of France is Lyon.",
                false,
                r#"expected to contain "paris", got "The capital of France is Lyon.""#,
            ),
            (
                with_value("contains", json!("Paris")),
                "It is Paris.",
                true,
                "to contain",
            ),
            (
                with_value("contains", json!("paris")),
                "It is Paris.",
                false,
                "to contain",
            ),
            (
                with_value("icontains", json!("paris")),
                "It is PARIS.",
                true,
                "(any case)",
            ),
            (
                with_value("icontains", json!("STRASSE")),
                "die straße",
                false,
                "(any case)",
            ),
            (
                with_value("icontains", json!("ÉCOLE")),
                "une école",
                true,
                "(any case)",
            ),
            (
                with_value("contains-any", json!(["a1", "b2"])),
                "xx b2",
                true,
                r#"any of ["a1", "b2"]"#,
            ),
            (
                with_value("contains-any", json!(["a1", "b2"])),
                "nothing",
                false,
                "any of",
            ),
            (
                with_value("contains-all", json!(["a1", "b2"])),
                "a1 b2",
                true,
                "all of",
            ),
            (
                with_value("contains-all", json!(["a1", "b2"])),
                "a1 only",
                false,
                r#"(missing ["b2"])"#,
            ),
            (
                with_value("starts-with", json!("Yes")),
                "\n Yes, it is.",
                true,
                r#"to start with "Yes""#,
            ),
            (
                with_value("starts-with", json!("Yes")),
                "No.",
                false,
                "to start with",
            ),
            (
                with_value("regex", json!("^\\d{3}$")),
                "123",
                true,
                r"to match /^\d{3}$/",
            ),
            (
                with_value("regex", json!("^\\d{3}$")),
                "1234",
                false,
                "to match",
            ),
            (spec("is-json"), r#" {"a": 1} "#, true, "to be valid JSON"),
            (spec("is-json"), "0", true, "to be valid JSON"),
            (spec("is-json"), "false", true, "to be valid JSON"),
            (spec("is-json"), "", false, "invalid JSON"),
            (spec("is-json"), "```json\n{}\n```", false, "invalid JSON"),
            (
                with_value("is-json", schema.clone()),
                r#"{"age": 3}"#,
                true,
                "matching the schema",
            ),
            (
                with_value("is-json", schema.clone()),
                r#"{"age": "x"}"#,
                false,
                "at /age",
            ),
            (
                spec("contains-json"),
                "Sure!\n```json\n{\"a\": 1}\n```",
                true,
                "to contain JSON",
            ),
            (
                spec("contains-json"),
                "no json",
                false,
                "no JSON in \"no json\"",
            ),
            (
                with_value("contains-json", schema.clone()),
                "here: {\"name\": \"x\"}",
                false,
                "age",
            ),
            (
                with_value("json-schema", schema.clone()),
                "Result: {\"age\": 7}",
                true,
                "matching the schema",
            ),
            (
                with_value("json-schema", schema.clone()),
                "{\"age\": 7.5}",
                false,
                "at /age",
            ),
            (
                with_value("json-schema", schema),
                "nope",
                false,
                "no JSON in",
            ),
            (
                path.clone(),
                r#"{"person": {"age": 42.0}}"#,
                true,
                r#"expected "$.person.age" to equal 42, got 42.0"#,
            ),
            (path.clone(), r#"{"person": {"age": 41}}"#, false, "got 41"),
            (path, r#"{"person": {}}"#, false, r#"nothing at "age""#),
            (
                path_exists.clone(),
                r#"{"items": [1, 0]}"#,
                true,
                r#"a value at "items.1""#,
            ),
            (path_exists, r#"{"items": [1]}"#, false, r#"nothing at "1""#),
            (
                words.clone(),
                "one two",
                true,
                "between 2 and 3 words, got 2 words",
            ),
            (words.clone(), "one two three four", false, "got 4 words"),
            (words, "", false, "got 0 words"),
            (
                len.clone(),
                "héllo",
                true,
                "at most 5 characters, got 5 characters",
            ),
            (len, "héllo!", false, "got 6 characters"),
            (len_min, "", false, "at least 1 characters, got 0"),
            (
                with_value("max-latency-ms", json!(100)),
                "x",
                true,
                "at most 100 ms, got 100 ms",
            ),
            (
                with_value("max-latency-ms", json!(99)),
                "x",
                false,
                "got 100 ms",
            ),
            (
                with_value("max-cost", json!(0.002)),
                "x",
                true,
                "to cost at most $0.002, got $0.002",
            ),
            (
                with_value("max-cost", json!(0.001)),
                "x",
                false,
                "got $0.002",
            ),
            (
                sim.clone(),
                "The capital of France is Paris!",
                true,
                "levenshtein >= 0.90",
            ),
            (sim, "Lyon", false, "levenshtein"),
            (
                rouge.clone(),
                "Paris is the capital of France.",
                true,
                "rouge-l >= 0.50",
            ),
            (rouge, "I do not know", false, "rouge-l"),
            (
                with_value("not-contains", json!("paris")),
                "Lyon",
                true,
                r#"expected not to contain "paris", got "Lyon""#,
            ),
            (
                with_value("not-contains", json!("Lyon")),
                "Lyon",
                false,
                "expected not to contain",
            ),
            (
                with_value("not-equals", json!("")),
                "",
                false,
                "expected not to equal",
            ),
            (
                spec("not-is-json"),
                "plain",
                true,
                "expected not to be valid JSON",
            ),
            (
                with_value("not-icontains", json!("sorry")),
                "SORRY, no",
                false,
                "not to contain",
            ),
        ]
    }

    #[test]
    fn every_kind_passes_and_fails_with_its_reason() {
        for (s, output, pass, reason) in cases() {
            let r = run(&s, output);
            assert_eq!(
                r.pass,
                pass,
                "{} on {output:?}: {}",
                s.type_name(),
                r.reason
            );
            assert!(
                r.reason.contains(reason),
                "{} on {output:?}: reason {:?} lacks {reason:?}",
                s.type_name(),
                r.reason
            );
            assert_eq!(r.error, None, "{}: {:?}", s.type_name(), r.error);
            assert_eq!(r.kind, s.type_name());
            assert!(!r.reason.contains('\n'));
            if s.kind != AssertKind::Similar {
                assert_eq!(r.score, if pass { 1.0 } else { 0.0 }, "{}", s.type_name());
            }
        }
    }

    #[test]
    fn every_deterministic_kind_is_covered_with_both_outcomes() {
        let cases = cases();
        for kind in AssertKind::ALL.iter().filter(|k| !k.is_model_graded()) {
            for want in [true, false] {
                assert!(
                    cases
                        .iter()
                        .any(|(s, _, pass, _)| s.kind == *kind && !s.negate && *pass == want),
                    "{} lacks a {} case",
                    kind.name(),
                    if want { "passing" } else { "failing" }
                );
            }
        }
    }

    #[test]
    fn negation_inverts_pass_and_score_of_similar() {
        let mut s = with_value("similar", json!("abcd"));
        s.threshold = Some(0.5);
        let plain = run(&s, "abcx");
        assert!(plain.pass);
        assert!((plain.score - 0.75).abs() < 1e-9);
        s.negate = true;
        let negated = run(&s, "abcx");
        assert!(!negated.pass);
        assert!((negated.score - 0.25).abs() < 1e-9);
    }

    #[test]
    fn similar_takes_the_best_of_several_references() {
        let s = with_value("similar", json!(["nothing alike", "Paris"]));
        let r = run(&s, "Paris");
        assert!(r.pass);
        assert_eq!(r.score, 1.0);
    }

    #[test]
    fn unknown_cost_fails_even_when_negated() {
        for kind in ["max-cost", "not-max-cost"] {
            let s = with_value(kind, json!(1.0));
            let r = evaluate(
                &s,
                &CheckInput {
                    output: "x",
                    latency_ms: 0,
                    cost_usd: None,
                },
            );
            assert!(!r.pass, "{kind}");
            assert!(
                r.reason.starts_with("cost unknown: add [prices.\"MODEL\"]"),
                "{}",
                r.reason
            );
            assert_eq!(r.error, None);
        }
    }

    #[test]
    fn broken_checks_are_errors_never_passes() {
        let mut bad_metric = with_value("similar", json!("x"));
        bad_metric.metric = Some("bleu".to_string());
        let mut not_bad_metric = bad_metric.clone();
        not_bad_metric.negate = true;
        let cases = [
            (spec("llm-rubric"), "needs a judge"),
            (spec("not-factuality"), "needs a judge"),
            (spec("closed-qa"), "needs a judge"),
            (spec("contains"), "contains needs a `value`"),
            (
                with_value("not-contains", json!({"a": 1})),
                "needs a string `value`",
            ),
            (with_value("regex", json!("(")), "invalid regex"),
            (with_value("not-regex", json!("(")), "invalid regex"),
            (
                with_value("json-schema", json!({"type": 12})),
                "invalid JSON schema",
            ),
            (spec("json-schema"), "needs a `value`"),
            (spec("json-path"), "needs a `path`"),
            (spec("word-count"), "needs `min` or `max`"),
            (with_value("max-cost", json!("cheap")), "numeric `value`"),
            (bad_metric, "unknown metric \"bleu\""),
            (not_bad_metric, "unknown metric"),
        ];
        for (s, message) in cases {
            let r = run(&s, r#"{"a": 1}"#);
            assert!(!r.pass, "{}", s.type_name());
            assert_eq!(r.score, 0.0);
            let error = r.error.as_deref().unwrap_or_default();
            assert!(
                error.contains(message),
                "{}: {error:?} lacks {message:?}",
                s.type_name()
            );
        }
    }

    #[test]
    fn precompiled_regex_is_used() {
        let mut s = with_value("regex", json!("ignored"));
        s.regex = Some(regex::Regex::new("(?i)^yes").expect("valid"));
        assert!(run(&s, "YES sir").pass);
    }

    #[test]
    fn excerpts_are_single_line_and_short() {
        let long = "line one\nline two\t".repeat(20);
        let e = excerpt(&long);
        assert!(!e.contains('\n'));
        assert!(e.ends_with("…\""));
        assert!(e.chars().count() <= EXCERPT_CHARS + 3);
        assert_eq!(excerpt("a\u{7}b"), "\"a\\u{7}b\"");
    }

    #[test]
    fn usd_formats_small_amounts() {
        assert_eq!(usd(0.002), "$0.002");
        assert_eq!(usd(1.0), "$1");
        assert_eq!(usd(0.0000123), "$0.000012");
    }
}
