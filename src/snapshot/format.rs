//! The `.snap` file, **format version 1** ([`SNAPSHOT_FORMAT`]; documented for users in
//! `docs/snapshots.md`). Snapshots are committed and reviewed in pull requests, so this format
//! is a public contract: change it only by bumping the version.
//!
//! ```text
//! ---
//! format: 1
//! suite: capitals
//! scenario: france
//! provider: local
//! assertions-fingerprint: 5e1f…
//! fingerprint: 9c1d…
//! model: smollm2-135m
//! tokens: 31 in, 9 out
//! cost: 0.00000245
//! score: 1.0000
//! verdict: pass
//! check: icontains pass
//! output: 1 line
//! ---
//! The capital of France is Paris.
//! ```
//!
//! With repeats, the header holds the scenario's keys and `samples: N`, and each sample follows
//! as `--- sample I ---`, its own keys (fingerprint .. output), a `---` fence and its output.
//!
//! Stable by construction, so an unchanged scenario changes no byte: keys come in one fixed
//! order, numbers have fixed precision (score 4 decimals, cost 8), nothing run-dependent is
//! written (no timestamps, run ids, output source, money spent; a latency only for scenarios
//! that check it, see [`SnapshotSample::latency_ms`]), and the renderer is
//! the only writer. The output is written verbatim, so a reviewer reads it as plain text in
//! `git diff`; its extent is given by the `output:` line count rather than by a terminator, so
//! any output (including `---` lines, no trailing newline, CRLF, empty) round-trips exactly.
//! Header values escape `\`, line breaks and control characters (`\\`, `\n`, `\r`, `\t`,
//! `\u{1b}`); the output body is never escaped.

use std::borrow::Cow;

use crate::provider::Usage;
use crate::runner::{ScenarioResult, ScenarioStatus};

/// Version of the `.snap` format written by this build. Parsing any other version fails.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// Fractional digits of scores in a snapshot: enough to see a change, few enough that float
/// noise never shows up as a diff.
const SCORE_DECIMALS: usize = 4;
/// Fractional digits of costs: 1e-8 USD, below any real per-call price.
const COST_DECIMALS: usize = 8;

/// The scenario's verdict as recorded. `Error` exists in the format for completeness; results
/// with provider errors are never snapshotted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotVerdict {
    Pass,
    Fail,
    Error,
}

impl SnapshotVerdict {
    pub fn name(self) -> &'static str {
        match self {
            SnapshotVerdict::Pass => "pass",
            SnapshotVerdict::Fail => "fail",
            SnapshotVerdict::Error => "error",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "pass" => SnapshotVerdict::Pass,
            "fail" => SnapshotVerdict::Fail,
            "error" => SnapshotVerdict::Error,
            _ => return None,
        })
    }
}

/// One recorded sample: enough to replay it without a model call (output, model, usage,
/// cost) when its fingerprint matches, and enough for a reviewer to see what it scored.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotSample {
    /// Hex blake3 fingerprint of everything that reached the model for this sample.
    pub fingerprint: String,
    pub output: String,
    pub model: Option<String>,
    pub usage: Usage,
    /// What the output cost when produced, rounded to 8 decimals; `None` when the price was
    /// unknown.
    pub cost_usd: Option<f64>,
    /// Rounded to 4 decimals.
    pub score: f64,
    pub pass: bool,
    /// Each check's type as written (`not-contains`) and whether it passed, in order.
    pub checks: Vec<(String, bool)>,
    /// How long the call took, in milliseconds: written only for scenarios with a
    /// `max-latency-ms` check, which a replay must decide on the recorded latency (replays
    /// take no time). Other snapshots stay free of run-dependent numbers.
    pub latency_ms: Option<u64>,
}

/// The accepted (or pending) output of one scenario, as stored in its `.snap` file.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Always [`SNAPSHOT_FORMAT`] once parsed.
    pub version: u32,
    pub suite: String,
    pub id: String,
    pub samples: Vec<SnapshotSample>,
    pub assertions_fingerprint: String,
    pub provider: String,
    /// The scenario's score, rounded to 4 decimals.
    pub score: f64,
    pub verdict: SnapshotVerdict,
}

/// Why a `.snap` text could not be read. `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct SnapshotError {
    pub line: usize,
    pub message: String,
}

impl SnapshotError {
    fn new(line: usize, message: impl Into<String>) -> Self {
        SnapshotError {
            line,
            message: message.into(),
        }
    }
}

impl Snapshot {
    /// The snapshot of a result, or `None` when there is nothing to record: a provider error
    /// or a skipped scenario (errors are never snapshotted, so a flaky provider cannot
    /// overwrite a good answer), or a sample without output.
    ///
    /// Numbers are rounded here to the precision the file keeps, so that
    /// `parse(render(s)) == s`.
    pub fn from_result(r: &ScenarioResult) -> Option<Snapshot> {
        let verdict = match r.status {
            ScenarioStatus::Passed => SnapshotVerdict::Pass,
            ScenarioStatus::Failed => SnapshotVerdict::Fail,
            ScenarioStatus::Error | ScenarioStatus::Skipped => return None,
        };
        if r.samples.is_empty() {
            return None;
        }
        let mut samples = Vec::with_capacity(r.samples.len());
        for s in &r.samples {
            samples.push(SnapshotSample {
                fingerprint: s.fingerprint.clone(),
                output: s.output.clone()?,
                model: s.model.clone(),
                usage: s.usage,
                cost_usd: s
                    .cost_usd
                    .is_finite()
                    .then(|| round_to(s.cost_usd, COST_DECIMALS)),
                score: round_to(s.score, SCORE_DECIMALS),
                pass: s.pass,
                // A check that could not be evaluated (judge failed) did not pass.
                checks: s
                    .checks
                    .iter()
                    .map(|c| (c.kind.clone(), c.pass && c.error.is_none()))
                    .collect(),
                latency_ms: s
                    .checks
                    .iter()
                    .any(|c| c.kind.ends_with("max-latency-ms"))
                    .then_some(s.latency_ms),
            });
        }
        let score = round_to(r.score, SCORE_DECIMALS);
        // A single sample shares the scenario's score and verdict lines in the file; keep the
        // struct equal to what the file says.
        if let [only] = samples.as_mut_slice() {
            only.score = score;
            only.pass = verdict == SnapshotVerdict::Pass;
        }
        Some(Snapshot {
            version: SNAPSHOT_FORMAT,
            suite: r.suite.clone(),
            id: r.id.clone(),
            samples,
            assertions_fingerprint: r.assertions_fingerprint.clone(),
            provider: r.provider.clone(),
            score,
            verdict,
        })
    }

    /// The file's bytes. The same snapshot always renders the same text, ending in exactly
    /// one newline after the last output (none added when the output already ends with one).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(
            256 + self
                .samples
                .iter()
                .map(|s| s.output.len() + 200)
                .sum::<usize>(),
        );
        out.push_str("---\n");
        key(&mut out, "format", &self.version.to_string());
        key(&mut out, "suite", &escape(&self.suite));
        key(&mut out, "scenario", &escape(&self.id));
        key(&mut out, "provider", &escape(&self.provider));
        key(
            &mut out,
            "assertions-fingerprint",
            &escape(&self.assertions_fingerprint),
        );
        if let [only] = self.samples.as_slice() {
            sample_keys(&mut out, only, self.score, self.verdict);
            out.push_str("---\n");
            body(&mut out, &only.output);
        } else {
            key(&mut out, "score", &fixed(self.score, SCORE_DECIMALS));
            key(&mut out, "verdict", self.verdict.name());
            key(&mut out, "samples", &self.samples.len().to_string());
            out.push_str("---\n");
            for (i, s) in self.samples.iter().enumerate() {
                out.push_str(&format!("--- sample {} ---\n", i + 1));
                let verdict = if s.pass {
                    SnapshotVerdict::Pass
                } else {
                    SnapshotVerdict::Fail
                };
                sample_keys(&mut out, s, s.score, verdict);
                out.push_str("---\n");
                body(&mut out, &s.output);
            }
        }
        out
    }

    /// Reads a `.snap` text. Errors carry the 1-based line and say what was expected.
    ///
    /// A file whose line endings were all converted to CRLF (a Windows checkout with
    /// `core.autocrlf`) is read as if it had LF endings.
    pub fn parse(text: &str) -> Result<Snapshot, SnapshotError> {
        let normalized;
        let text = if text.starts_with("---\r\n") {
            normalized = text.replace("\r\n", "\n");
            normalized.as_str()
        } else {
            text
        };
        let mut lines = Lines {
            rest: text,
            next: 1,
        };
        match lines.next_line() {
            Some((_, "---", true)) => {}
            _ => {
                return Err(SnapshotError::new(
                    1,
                    "not an evalgit snapshot: the first line must be `---`",
                ));
            }
        }
        let (mut fields, fence_line) = read_header(&mut lines, "the header")?;

        let format = fields.required("format", fence_line)?;
        let version: u32 = format.value.parse().map_err(|_| {
            SnapshotError::new(
                format.line,
                format!("`format` must be a number, found `{}`", format.value),
            )
        })?;
        if version != SNAPSHOT_FORMAT {
            return Err(SnapshotError::new(
                format.line,
                format!(
                    "snapshot format {version} is not supported (this evalgit reads format {SNAPSHOT_FORMAT}); upgrade evalgit or re-record the snapshot"
                ),
            ));
        }
        let suite = fields.required_text("suite", fence_line)?;
        let id = fields.required_text("scenario", fence_line)?;
        let provider = fields.required_text("provider", fence_line)?;
        let assertions_fingerprint = fields.required_text("assertions-fingerprint", fence_line)?;

        let (samples, score, verdict) = match fields.optional("samples")? {
            None => {
                let (sample, spec, verdict) = sample_fields(&mut fields, fence_line, true)?;
                fields.finish()?;
                let output = read_body(&mut lines, spec)?;
                let score = sample.score;
                (vec![SnapshotSample { output, ..sample }], score, verdict)
            }
            Some(count) => {
                let n: usize = count.value.parse().map_err(|_| {
                    SnapshotError::new(
                        count.line,
                        format!("`samples` must be a number, found `{}`", count.value),
                    )
                })?;
                let score = number(&fields.required("score", fence_line)?)?;
                let verdict = verdict_of(&fields.required("verdict", fence_line)?, true)?;
                fields.finish()?;
                let mut samples = Vec::with_capacity(n.min(1024));
                for i in 1..=n {
                    let expected = format!("--- sample {i} ---");
                    match lines.next_line() {
                        Some((_, l, true)) if l == expected => {}
                        Some((line, l, _)) => {
                            return Err(SnapshotError::new(
                                line,
                                format!("expected `{expected}`, found `{}`", shorten(l)),
                            ));
                        }
                        None => {
                            return Err(SnapshotError::new(
                                lines.next,
                                format!(
                                    "the snapshot ends after {} of {n} samples (see `samples:` on line {})",
                                    i - 1,
                                    count.line
                                ),
                            ));
                        }
                    }
                    let (mut sample_fields_, fence) = read_header(&mut lines, "a sample header")?;
                    let (sample, spec, _) = sample_fields(&mut sample_fields_, fence, false)?;
                    sample_fields_.finish()?;
                    let output = read_body(&mut lines, spec)?;
                    samples.push(SnapshotSample { output, ..sample });
                }
                (samples, score, verdict)
            }
        };
        if let Some((line, l, _)) = lines.next_line() {
            return Err(SnapshotError::new(
                line,
                format!(
                    "unexpected `{}` after the last output; the `output:` line counts the output's lines, so if you edited an output by hand, update its count",
                    shorten(l)
                ),
            ));
        }
        Ok(Snapshot {
            version,
            suite,
            id,
            samples,
            assertions_fingerprint,
            provider,
            score,
            verdict,
        })
    }
}

/// Rounds through the same formatting the file uses, so a parsed value equals the original.
fn round_to(x: f64, decimals: usize) -> f64 {
    if !x.is_finite() {
        return x;
    }
    fixed(x, decimals).parse().unwrap_or(x)
}

/// Fixed-precision decimal without a negative zero (`-0.0000` would be a spurious diff).
fn fixed(x: f64, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    match s.strip_prefix('-') {
        Some(rest) if rest.bytes().all(|b| b == b'0' || b == b'.') => rest.to_string(),
        _ => s,
    }
}

fn key(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push('\n');
}

fn sample_keys(out: &mut String, s: &SnapshotSample, score: f64, verdict: SnapshotVerdict) {
    key(out, "fingerprint", &escape(&s.fingerprint));
    if let Some(model) = &s.model {
        key(out, "model", &escape(model));
    }
    key(
        out,
        "tokens",
        &format!("{} in, {} out", s.usage.input_tokens, s.usage.output_tokens),
    );
    match s.cost_usd {
        Some(c) if c.is_finite() => key(out, "cost", &fixed(c, COST_DECIMALS)),
        _ => key(out, "cost", "unknown"),
    }
    if let Some(ms) = s.latency_ms {
        key(out, "latency", &format!("{ms} ms"));
    }
    key(out, "score", &fixed(score, SCORE_DECIMALS));
    key(out, "verdict", verdict.name());
    for (kind, pass) in &s.checks {
        key(
            out,
            "check",
            &format!("{} {}", escape(kind), if *pass { "pass" } else { "fail" }),
        );
    }
    key(out, "output", &describe_output(&s.output));
}

/// `N line(s)`, plus `, newline at end` when the output ends with `\n` (the file then shows
/// no extra newline, so the count alone could not tell `a` from `a\n`).
fn describe_output(output: &str) -> String {
    let n = output_lines(output);
    let mut s = format!("{n} line{}", if n == 1 { "" } else { "s" });
    if output.ends_with('\n') {
        s.push_str(", newline at end");
    }
    s
}

/// Lines the output occupies in the file: a final line without `\n` counts as one.
fn output_lines(output: &str) -> usize {
    if output.is_empty() {
        0
    } else {
        output.matches('\n').count() + usize::from(!output.ends_with('\n'))
    }
}

fn body(out: &mut String, output: &str) {
    out.push_str(output);
    if !output.is_empty() && !output.ends_with('\n') {
        out.push('\n');
    }
}

fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c == '\\' || c.is_control()) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn unescape(s: &str, line: usize) -> Result<String, SnapshotError> {
    if !s.contains('\\') {
        return Ok(s.to_string());
    }
    let bad = || {
        SnapshotError::new(
            line,
            format!(
                "invalid escape in `{}` (use \\\\, \\n, \\r, \\t or \\u{{hex}})",
                shorten(s)
            ),
        )
    };
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                if chars.next() != Some('{') {
                    return Err(bad());
                }
                let hex: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let c = u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(bad)?;
                out.push(c);
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// At most 60 characters of a line, for error messages.
fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out.escape_debug().to_string()
}

/// A cursor over the text's lines, counting line numbers.
struct Lines<'a> {
    rest: &'a str,
    /// 1-based number of the next line.
    next: usize,
}

impl<'a> Lines<'a> {
    /// The next line without its `\n`, and whether it had one.
    fn next_line(&mut self) -> Option<(usize, &'a str, bool)> {
        let (raw, line) = self.next_raw()?;
        Some(match raw.strip_suffix('\n') {
            Some(l) => (line, l, true),
            None => (line, raw, false),
        })
    }

    /// The next line with its `\n` (absent only on an unterminated last line).
    fn next_raw(&mut self) -> Option<(&'a str, usize)> {
        if self.rest.is_empty() {
            return None;
        }
        let end = self
            .rest
            .find('\n')
            .map(|i| i + 1)
            .unwrap_or(self.rest.len());
        let (raw, rest) = self.rest.split_at(end);
        self.rest = rest;
        let line = self.next;
        self.next += 1;
        Some((raw, line))
    }
}

struct Field {
    key: String,
    value: String,
    line: usize,
}

/// The `key: value` lines of one header block, consumed key by key so leftovers are unknown.
struct Fields(Vec<Field>);

impl Fields {
    fn optional(&mut self, key: &str) -> Result<Option<Field>, SnapshotError> {
        let mut found = self.take_all(key);
        if found.len() > 1 {
            return Err(SnapshotError::new(
                found[1].line,
                format!("duplicate key `{key}` (first on line {})", found[0].line),
            ));
        }
        Ok(found.pop())
    }

    fn required(&mut self, key: &str, fence_line: usize) -> Result<Field, SnapshotError> {
        self.optional(key)?.ok_or_else(|| {
            SnapshotError::new(
                fence_line,
                format!("missing key `{key}` in the header ending here"),
            )
        })
    }

    fn required_text(&mut self, key: &str, fence_line: usize) -> Result<String, SnapshotError> {
        let f = self.required(key, fence_line)?;
        unescape(&f.value, f.line)
    }

    fn take_all(&mut self, key: &str) -> Vec<Field> {
        let (taken, kept) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|f| f.key == key);
        self.0 = kept;
        taken
    }

    fn finish(self) -> Result<(), SnapshotError> {
        match self.0.first() {
            None => Ok(()),
            Some(f) => Err(SnapshotError::new(
                f.line,
                format!(
                    "unknown key `{}` in snapshot format {SNAPSHOT_FORMAT}",
                    shorten(&f.key)
                ),
            )),
        }
    }
}

/// Reads `key: value` lines up to a `---` fence; returns them and the fence's line.
fn read_header(lines: &mut Lines<'_>, what: &str) -> Result<(Fields, usize), SnapshotError> {
    let mut fields = Vec::new();
    loop {
        let Some((line, text, terminated)) = lines.next_line() else {
            return Err(SnapshotError::new(
                lines.next,
                format!("the snapshot ends inside {what} (no closing `---`)"),
            ));
        };
        if text == "---" && terminated {
            return Ok((Fields(fields), line));
        }
        if !terminated {
            return Err(SnapshotError::new(
                line,
                format!("the snapshot ends inside {what} (no closing `---`)"),
            ));
        }
        let Some((k, v)) = text.split_once(':') else {
            return Err(SnapshotError::new(
                line,
                format!(
                    "expected `key: value` or `---` in {what}, found `{}`",
                    shorten(text)
                ),
            ));
        };
        let value = v.strip_prefix(' ').unwrap_or(v);
        fields.push(Field {
            key: k.to_string(),
            value: value.to_string(),
            line,
        });
    }
}

/// How many output lines follow a header, from its `output:` key.
struct BodySpec {
    lines: usize,
    newline_at_end: bool,
    key_line: usize,
}

fn number(f: &Field) -> Result<f64, SnapshotError> {
    match f.value.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(SnapshotError::new(
            f.line,
            format!(
                "`{}` must be a decimal number, found `{}`",
                f.key,
                shorten(&f.value)
            ),
        )),
    }
}

fn verdict_of(f: &Field, allow_error: bool) -> Result<SnapshotVerdict, SnapshotError> {
    match SnapshotVerdict::from_name(&f.value) {
        Some(SnapshotVerdict::Error) if !allow_error => Err(SnapshotError::new(
            f.line,
            "a sample's verdict must be `pass` or `fail`",
        )),
        Some(v) => Ok(v),
        None => Err(SnapshotError::new(
            f.line,
            format!(
                "`verdict` must be `pass`, `fail` or `error`, found `{}`",
                shorten(&f.value)
            ),
        )),
    }
}

/// The per-sample keys (output left empty, to be read from the body). In the single-sample
/// layout `score` and `verdict` are the scenario's and may say `error`.
fn sample_fields(
    fields: &mut Fields,
    fence_line: usize,
    single: bool,
) -> Result<(SnapshotSample, BodySpec, SnapshotVerdict), SnapshotError> {
    let fingerprint = fields.required_text("fingerprint", fence_line)?;
    let model = match fields.optional("model")? {
        Some(f) => Some(unescape(&f.value, f.line)?),
        None => None,
    };
    let tokens = fields.required("tokens", fence_line)?;
    let usage = parse_tokens(&tokens.value).ok_or_else(|| {
        SnapshotError::new(
            tokens.line,
            format!(
                "`tokens` must look like `31 in, 9 out`, found `{}`",
                shorten(&tokens.value)
            ),
        )
    })?;
    let cost = fields.required("cost", fence_line)?;
    let cost_usd = if cost.value == "unknown" {
        None
    } else {
        Some(number(&cost)?)
    };
    let latency_ms = match fields.optional("latency")? {
        None => None,
        Some(f) => Some(
            f.value
                .strip_suffix(" ms")
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| {
                    SnapshotError::new(
                        f.line,
                        format!(
                            "`latency` must look like `250 ms`, found `{}`",
                            shorten(&f.value)
                        ),
                    )
                })?,
        ),
    };
    let score = number(&fields.required("score", fence_line)?)?;
    let verdict = verdict_of(&fields.required("verdict", fence_line)?, single)?;
    let mut checks = Vec::new();
    for f in fields.take_all("check") {
        let parsed = f
            .value
            .rsplit_once(' ')
            .and_then(|(kind, result)| match result {
                "pass" => Some((kind, true)),
                "fail" => Some((kind, false)),
                _ => None,
            });
        let Some((kind, pass)) = parsed else {
            return Err(SnapshotError::new(
                f.line,
                format!(
                    "`check` must look like `contains pass`, found `{}`",
                    shorten(&f.value)
                ),
            ));
        };
        checks.push((unescape(kind, f.line)?, pass));
    }
    let out = fields.required("output", fence_line)?;
    let spec = parse_output_spec(&out.value, out.line).ok_or_else(|| {
        SnapshotError::new(
            out.line,
            format!(
                "`output` must look like `3 lines` or `3 lines, newline at end`, found `{}`",
                shorten(&out.value)
            ),
        )
    })?;
    let sample = SnapshotSample {
        fingerprint,
        output: String::new(),
        model,
        usage,
        cost_usd,
        score,
        pass: verdict == SnapshotVerdict::Pass,
        checks,
        latency_ms,
    };
    Ok((sample, spec, verdict))
}

fn parse_tokens(s: &str) -> Option<Usage> {
    let (input, output) = s.strip_suffix(" out")?.split_once(" in, ")?;
    Some(Usage {
        input_tokens: input.parse().ok()?,
        output_tokens: output.parse().ok()?,
    })
}

fn parse_output_spec(s: &str, key_line: usize) -> Option<BodySpec> {
    let (count, newline_at_end) = match s.strip_suffix(", newline at end") {
        Some(c) => (c, true),
        None => (s, false),
    };
    let n = count
        .strip_suffix(" lines")
        .or_else(|| count.strip_suffix(" line"))?;
    let lines: usize = n.parse().ok()?;
    if newline_at_end && lines == 0 {
        return None;
    }
    Some(BodySpec {
        lines,
        newline_at_end,
        key_line,
    })
}

fn read_body(lines: &mut Lines<'_>, spec: BodySpec) -> Result<String, SnapshotError> {
    let mut body = String::new();
    for k in 0..spec.lines {
        match lines.next_raw() {
            Some((raw, _)) if raw.ends_with('\n') => body.push_str(raw),
            Some((_, line)) => {
                return Err(SnapshotError::new(
                    line,
                    "the last output line has no newline (the file must end with one)",
                ));
            }
            None => {
                return Err(SnapshotError::new(
                    lines.next,
                    format!(
                        "the snapshot ends after {k} of {} output lines (see `output:` on line {})",
                        spec.lines, spec.key_line
                    ),
                ));
            }
        }
    }
    if !spec.newline_at_end {
        body.pop();
    }
    Ok(body)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::runner::{CheckResult, OutputSource, SampleResult};

    pub(crate) fn sample_result(repeat: u32, output: &str) -> SampleResult {
        SampleResult {
            repeat,
            fingerprint: format!("{:064x}", 0xabc0 + repeat),
            source: OutputSource::Called,
            output: Some(output.to_string()),
            model: Some("smollm2-135m".to_string()),
            usage: Usage {
                input_tokens: 31,
                output_tokens: 9,
            },
            cost_usd: 0.000002449,
            spent_usd: 0.000002449,
            spent_estimated: false,
            latency_ms: 120,
            checks: vec![
                CheckResult {
                    kind: "icontains".into(),
                    pass: true,
                    score: 1.0,
                    weight: 1.0,
                    reason: "found".into(),
                    error: None,
                },
                CheckResult {
                    kind: "not-contains".into(),
                    pass: false,
                    score: 0.0,
                    weight: 1.0,
                    reason: "found".into(),
                    error: None,
                },
            ],
            score: 0.5,
            pass: false,
            error: None,
            eval_usage: Usage::default(),
            eval_cost_usd: 0.0,
        }
    }

    pub(crate) fn result(outputs: &[&str]) -> ScenarioResult {
        ScenarioResult {
            suite: "capitals".into(),
            id: "france".into(),
            file: "evals/capitals.toml".into(),
            line: 7,
            provider: "local".into(),
            status: ScenarioStatus::Failed,
            pass: false,
            score: 0.5,
            threshold: None,
            flaky: false,
            usage: Usage {
                input_tokens: 31,
                output_tokens: 9,
            },
            cost_usd: 0.000002449,
            spent_usd: 0.000002449,
            latency_ms: 120,
            assertions_fingerprint: "5e1f".repeat(16),
            samples: outputs
                .iter()
                .enumerate()
                .map(|(i, o)| sample_result(i as u32, o))
                .collect(),
            seq: 0,
            outputs_released: false,
        }
    }

    fn snapshot(outputs: &[&str]) -> Snapshot {
        Snapshot::from_result(&result(outputs)).expect("has output")
    }

    #[test]
    fn renders_the_documented_single_sample_layout() {
        let text = snapshot(&["The capital of France is Paris."]).render();
        let fp = format!("{:064x}", 0xabc0);
        let expected = format!(
            "---\nformat: 1\nsuite: capitals\nscenario: france\nprovider: local\nassertions-fingerprint: {}\n\
             fingerprint: {fp}\nmodel: smollm2-135m\ntokens: 31 in, 9 out\ncost: 0.00000245\nscore: 0.5000\n\
             verdict: fail\ncheck: icontains pass\ncheck: not-contains fail\noutput: 1 line\n---\n\
             The capital of France is Paris.\n",
            "5e1f".repeat(16)
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn renders_repeats_as_sample_sections() {
        let mut r = result(&["Paris.", "Lyon."]);
        r.samples[0].pass = true;
        r.samples[0].score = 1.0;
        r.samples[1].score = 0.0;
        let text = Snapshot::from_result(&r).expect("output").render();
        assert!(
            text.contains("score: 0.5000\nverdict: fail\nsamples: 2\n---\n--- sample 1 ---\n"),
            "{text}"
        );
        assert!(text.contains("score: 1.0000\nverdict: pass\n"), "{text}");
        assert!(
            text.contains("output: 1 line\n---\nParis.\n--- sample 2 ---\n"),
            "{text}"
        );
        assert!(text.ends_with("score: 0.0000\nverdict: fail\ncheck: icontains pass\ncheck: not-contains fail\noutput: 1 line\n---\nLyon.\n"), "{text}");
    }

    #[test]
    fn the_same_result_renders_the_same_bytes() {
        let a = result(&["Paris", "Paris\n"]);
        let mut b = a.clone();
        // Everything that depends on the run, not on the answer, must not reach the file.
        b.latency_ms = 99_999;
        b.spent_usd = 0.0;
        b.file = "elsewhere.toml".into();
        b.line = 99;
        for s in &mut b.samples {
            s.latency_ms = 5;
            s.source = OutputSource::Snapshot;
            s.spent_usd = 0.0;
            s.eval_cost_usd = 1.0;
        }
        let first = Snapshot::from_result(&a).expect("output").render();
        assert_eq!(first, Snapshot::from_result(&a).expect("output").render());
        assert_eq!(first, Snapshot::from_result(&b).expect("output").render());
        assert!(first.ends_with("Paris\n") && !first.ends_with("\n\n"));
    }

    #[test]
    fn hostile_outputs_round_trip_exactly() {
        let outputs = [
            "",
            "\n",
            "\n\n",
            "no trailing newline",
            "trailing newline\n",
            "---",
            "---\n",
            "---\nformat: 2\n---\n",
            "--- sample 2 ---\nfake",
            "windows\r\nline endings\r\n",
            "lone\rcarriage return",
            "東京は日本の首都です。\n大阪",
            "emoji 🎉👩‍👩‍👧 and \u{1b}[31mescapes\u{1b}[0m",
            "  leading and trailing spaces  \n\t",
            "output: 99 lines",
        ];
        for output in outputs {
            let single = snapshot(&[output]);
            let multi = snapshot(&[output, "between", output]);
            for snap in [single, multi] {
                let text = snap.render();
                let parsed =
                    Snapshot::parse(&text).unwrap_or_else(|e| panic!("{output:?}: {e}\n{text}"));
                assert_eq!(parsed, snap, "{output:?}");
                assert_eq!(parsed.render(), text, "{output:?}");
            }
        }
    }

    #[test]
    fn header_values_with_special_characters_round_trip() {
        let mut r = result(&["x"]);
        r.suite = "su\\ite".into();
        r.id = "a: b\nnew line\ttab\u{7}bell".into();
        r.provider = "".into();
        r.samples[0].model = None;
        r.samples[0].checks[0].kind = "weird type".into();
        let snap = Snapshot::from_result(&r).expect("output");
        let text = snap.render();
        assert!(
            text.contains("scenario: a: b\\nnew line\\ttab\\u{7}bell\n"),
            "{text}"
        );
        assert!(!text.contains("model:"));
        assert_eq!(Snapshot::parse(&text).expect("parses"), snap);
    }

    #[test]
    fn numbers_are_rounded_to_the_file_precision() {
        let mut r = result(&["x"]);
        r.score = 2.0 / 3.0;
        r.samples[0].cost_usd = f64::NAN;
        let snap = Snapshot::from_result(&r).expect("output");
        assert_eq!(snap.score, 0.6667);
        assert_eq!(snap.samples[0].cost_usd, None);
        let text = snap.render();
        assert!(text.contains("cost: unknown\nscore: 0.6667\n"), "{text}");
        assert_eq!(Snapshot::parse(&text).expect("parses"), snap);
        assert_eq!(fixed(-0.0, 4), "0.0000");
        assert_eq!(fixed(-1e-12, 8), "0.00000000");
    }

    #[test]
    fn errors_skips_and_missing_outputs_are_not_snapshotted() {
        let mut r = result(&["x"]);
        r.status = ScenarioStatus::Error;
        assert!(Snapshot::from_result(&r).is_none());
        r.status = ScenarioStatus::Skipped;
        assert!(Snapshot::from_result(&r).is_none());
        let mut r = result(&["x", "y"]);
        r.samples[1].output = None;
        assert!(Snapshot::from_result(&r).is_none());
        let mut r = result(&[]);
        r.status = ScenarioStatus::Passed;
        assert!(Snapshot::from_result(&r).is_none());
    }

    #[test]
    fn a_check_that_could_not_be_evaluated_is_recorded_as_failed() {
        let mut r = result(&["x"]);
        r.samples[0].checks[0].error = Some("judge timed out".into());
        let snap = Snapshot::from_result(&r).expect("output");
        assert_eq!(snap.samples[0].checks[0], ("icontains".to_string(), false));
    }

    #[test]
    fn a_crlf_checkout_reads_like_the_original() {
        let snap = snapshot(&["two\nlines"]);
        let crlf = snap.render().replace('\n', "\r\n");
        assert_eq!(Snapshot::parse(&crlf).expect("parses"), snap);
    }

    #[test]
    fn parse_errors_name_the_line() {
        let good = snapshot(&["one\ntwo"]).render();
        let multi = snapshot(&["a", "b"]).render();
        let cases: Vec<(String, usize, &str)> = vec![
            ("hello\n".into(), 1, "not an evalgit snapshot"),
            ("".into(), 1, "not an evalgit snapshot"),
            (
                good.replace("format: 1", "format: 2"),
                2,
                "snapshot format 2 is not supported",
            ),
            (
                good.replace("format: 1", "format: one"),
                2,
                "`format` must be a number",
            ),
            (
                good.replace("provider: local\n", ""),
                15,
                "missing key `provider`",
            ),
            (
                good.replace("provider: local", "provider: local\nprovider: x"),
                6,
                "duplicate key `provider`",
            ),
            (
                good.replace("provider: local", "provider: local\ncolour: red"),
                6,
                "unknown key `colour`",
            ),
            (
                good.replace("tokens: 31 in, 9 out", "tokens: many"),
                9,
                "`tokens` must look like",
            ),
            (
                good.replace("score: 0.5000", "score: high"),
                11,
                "`score` must be a decimal number",
            ),
            (
                good.replace("verdict: fail", "verdict: meh"),
                12,
                "`verdict` must be",
            ),
            (
                good.replace("check: icontains pass", "check: icontains"),
                13,
                "`check` must look like",
            ),
            (
                good.replace("output: 2 lines", "output: two"),
                15,
                "`output` must look like",
            ),
            (
                good.replace("output: 2 lines", "output: 3 lines"),
                19,
                "ends after 2 of 3 output lines (see `output:` on line 15)",
            ),
            (
                good.replace("output: 2 lines", "output: 1 line"),
                18,
                "unexpected `two` after the last output",
            ),
            (
                good.replace("scenario: france", "scenario: bad\\q"),
                4,
                "invalid escape",
            ),
            (
                good.replace("model: smollm2-135m\n", "model smollm2\n"),
                8,
                "expected `key: value`",
            ),
            (good.trim_end_matches('\n').to_string(), 18, "no newline"),
            (
                good.lines().take(5).map(|l| format!("{l}\n")).collect(),
                6,
                "ends inside the header",
            ),
            (
                multi.replace("--- sample 2 ---", "--- sample 3 ---"),
                23,
                "expected `--- sample 2 ---`",
            ),
            (
                multi.replace("samples: 2", "samples: 3"),
                35,
                "ends after 2 of 3 samples",
            ),
        ];
        for (text, line, message) in cases {
            let err = Snapshot::parse(&text).expect_err(message);
            assert_eq!(
                (err.line, err.message.contains(message)),
                (line, true),
                "{message}: got {err}\n{text}"
            );
        }
    }

    #[test]
    fn a_sample_cannot_have_an_error_verdict() {
        let mut r = result(&["a", "b"]);
        r.samples[1].pass = true;
        let text = Snapshot::from_result(&r).expect("output").render();
        let bad = text.replacen("verdict: pass", "verdict: error", 1);
        let err = Snapshot::parse(&bad).expect_err("sample error verdict");
        assert!(err.message.contains("must be `pass` or `fail`"), "{err}");
    }
}
