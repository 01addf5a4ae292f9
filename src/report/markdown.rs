//! The pull-request comment (and job summary): the verdict in a form a reviewer reads in ten
//! seconds, with the detail one click away.
//!
//! Layout: a one-line verdict; one table row per suite with base, head and delta of pass rate,
//! mean score, cost and cost-per-resolution, each delta with what the statistics say; the
//! newly failing scenarios with their reason; the gate's reasons with the policy that decided
//! each; budget and spend; output diffs in collapsed `<details>`.
//!
//! Everything that comes from a model or a user (scenario ids, reasons, outputs) is escaped:
//! an output cannot break the table, inject HTML, start a math block or mention people.
//! The comment stays under [`CommentOptions::max_chars`] by dropping detail in a fixed order
//! (output diffs first, then the scenario lists) and saying what was left out.

use std::fmt::Write as _;

use crate::policy::{
    ChangeKind, ChangeStatus, GateLevel, ScenarioChange, Significance, SuiteComparison, Verdict,
};
use crate::report::sanitize::strip_ansi;

/// GitHub's limit is 65,536 characters; leave room for the hidden marker and a cut note.
pub const DEFAULT_MAX_CHARS: usize = 65_536 - 1_024;

/// A reason longer than this is cut in tables: one model output must not fill the comment.
const MAX_REASON_CHARS: usize = 300;
/// One output diff longer than this is cut.
const MAX_DIFF_CHARS: usize = 12_000;

#[derive(Debug, Clone, PartialEq)]
pub struct CommentOptions {
    /// The comment tag (one comment per tag); shown in the footer.
    pub tag: String,
    /// The heading, e.g. `evalgit` or `evalgit (nightly)`.
    pub title: String,
    /// Upper bound on the body's length in characters.
    pub max_chars: usize,
    /// `(suite/id, unified diff)` of outputs that changed, shown collapsed.
    pub snapshot_diffs: Vec<(String, String)>,
    /// Where a reader finds what a size limit left out, e.g. "the job summary or the JUnit
    /// report" in a comment; the job summary itself (1 MiB, far more room) can only point
    /// at the JUnit report.
    pub overflow_hint: String,
}

impl Default for CommentOptions {
    fn default() -> Self {
        CommentOptions {
            tag: "evalgit".to_string(),
            title: "evalgit".to_string(),
            max_chars: DEFAULT_MAX_CHARS,
            snapshot_diffs: Vec::new(),
            overflow_hint: "the job summary or the JUnit report".to_string(),
        }
    }
}

impl CommentOptions {
    /// Options for the job summary ([`render_summary`]), whose cut notes can only point at
    /// the JUnit report.
    pub fn summary(tag: &str, snapshot_diffs: Vec<(String, String)>) -> Self {
        CommentOptions {
            tag: tag.to_string(),
            snapshot_diffs,
            overflow_hint: "the JUnit report".to_string(),
            ..CommentOptions::default()
        }
    }
}

/// The comment body for `verdict`, at most `opts.max_chars` characters.
pub fn render_comment(verdict: &Verdict, opts: &CommentOptions) -> String {
    // No list is longer than all the changes together.
    let rows = verdict.changes.len();
    let fits = |s: &str| s.chars().count() <= opts.max_chars;

    // 1. Everything, adding output diffs while they fit.
    let full_lists = Sections::render(verdict, opts, None);
    let base = full_lists.join(&[], opts.snapshot_diffs.len());
    if fits(&base) {
        let mut shown = Vec::new();
        for diff in &opts.snapshot_diffs {
            let block = diff_block(diff);
            shown.push(block);
            let omitted = opts.snapshot_diffs.len() - shown.len();
            if !fits(&full_lists.join(&shown, omitted)) {
                shown.pop();
                break;
            }
        }
        let omitted = opts.snapshot_diffs.len() - shown.len();
        return full_lists.join(&shown, omitted);
    }

    // 2. No diffs; the longest scenario lists that fit (binary search on the list length).
    let (mut lo, mut hi) = (0usize, rows);
    let mut best = None;
    while lo <= hi {
        let mid = lo + (hi - lo) / 2;
        let text = Sections::render(verdict, opts, Some(mid)).join(&[], opts.snapshot_diffs.len());
        if fits(&text) {
            best = Some(text);
            lo = mid + 1;
        } else if mid == 0 {
            break;
        } else {
            hi = mid - 1;
        }
    }
    if let Some(text) = best {
        return text;
    }

    // 3. Still too long (thousands of suites): cut at a line, and say so.
    let text = Sections::render(verdict, opts, Some(0)).join(&[], opts.snapshot_diffs.len());
    hard_cut(&text, opts.max_chars, &opts.overflow_hint)
}

/// The job summary body: the comment's layout with the room of a step summary, at most
/// `max_bytes` bytes (GitHub's limit is in bytes, [`render_comment`]'s in characters).
pub fn render_summary(verdict: &Verdict, opts: &CommentOptions, max_bytes: usize) -> String {
    let mut opts = opts.clone();
    opts.max_chars = max_bytes;
    loop {
        let body = render_comment(verdict, &opts);
        if body.len() <= max_bytes || opts.max_chars <= 1 {
            return body;
        }
        // Multi-byte characters: shrink the character limit in proportion, at least by one.
        let scaled = (opts.max_chars as u128 * max_bytes as u128 / body.len() as u128) as usize;
        opts.max_chars = scaled.min(opts.max_chars - 1);
    }
}

/// The rendered parts of a comment, before diffs are added.
struct Sections {
    head: String,
    footer: String,
    overflow_hint: String,
}

impl Sections {
    /// `list_limit`: how many scenario rows each list may show (`None`: all).
    fn render(verdict: &Verdict, opts: &CommentOptions, list_limit: Option<usize>) -> Sections {
        let mut head = String::new();
        headline(&mut head, verdict, opts);
        suites_table(&mut head, verdict);
        changes(&mut head, verdict, list_limit, &opts.overflow_hint);
        gate(&mut head, verdict);
        budget_and_spend(&mut head, verdict);
        let footer = format!(
            "\n<sub>evalgit · comment tag <code>{}</code> · every scenario is in the JUnit report</sub>\n",
            html(&opts.tag)
        );
        Sections {
            head,
            footer,
            overflow_hint: opts.overflow_hint.clone(),
        }
    }

    fn join(&self, diffs: &[String], omitted_diffs: usize) -> String {
        let mut out = self.head.clone();
        if !diffs.is_empty() || omitted_diffs > 0 {
            let _ = writeln!(
                out,
                "\n#### Output changes ({})\n",
                diffs.len() + omitted_diffs
            );
            for d in diffs {
                out.push_str(d);
            }
            if omitted_diffs > 0 {
                let _ = writeln!(
                    out,
                    "_… {omitted_diffs} more output {} not shown (size limit): run `evalgit diff` or see {}._",
                    plural(omitted_diffs, "diff", "diffs"),
                    self.overflow_hint
                );
            }
        }
        out.push_str(&self.footer);
        out
    }
}

fn headline(out: &mut String, verdict: &Verdict, opts: &CommentOptions) {
    let title = inline(&opts.title);
    let scenarios: usize = verdict.suites.iter().map(|s| s.head.scenarios).sum();
    let suites = verdict.suites.len();
    let counts = format!(
        "{scenarios} {} in {suites} {}",
        plural(scenarios, "scenario", "scenarios"),
        plural(suites, "suite", "suites")
    );
    if verdict.gate.pass {
        let warnings = verdict.gate.warnings().count();
        let _ = write!(out, "### ✅ {title}: passed\n\n{counts}");
        if warnings > 0 {
            let _ = write!(
                out,
                ", {warnings} {}",
                plural(warnings, "warning", "warnings")
            );
        }
        out.push_str(".\n");
    } else {
        let mut failures = verdict.gate.failures();
        let first = failures
            .next()
            .map(|r| inline(&cut(&r.message, MAX_REASON_CHARS)));
        let more = failures.count();
        let _ = write!(out, "### ❌ {title}: gate failed");
        if let Some(first) = first {
            let _ = write!(out, ": {first}");
            if more > 0 {
                let _ = write!(out, " (+{more} more)");
            }
        }
        let _ = writeln!(out, "\n\n{counts}.");
    }
}

fn suites_table(out: &mut String, verdict: &Verdict) {
    if verdict.suites.is_empty() {
        return;
    }
    out.push_str("\n| Suite | Scenarios | Pass rate | Mean score | Cost | Cost per resolution |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for s in &verdict.suites {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            code(&s.suite),
            scenario_counts(s),
            pass_rate_cell(s),
            score_cell(s),
            cost_cell(s),
            cpr_cell(s)
        );
    }
    if verdict.suites.iter().any(|s| s.base.is_some()) {
        let mut note = String::from("\nbase → head; ");
        if verdict.alpha > 0.0 {
            let _ = write!(
                note,
                "a change is called when a paired test on the same scenarios is significant at α = {} (Holm-adjusted across suites)",
                trim_float(verdict.alpha)
            );
            if verdict.tolerance > 0.0 {
                let _ = write!(
                    note,
                    " beyond a tolerance of {:.1} pp",
                    verdict.tolerance * 100.0
                );
            }
            note.push_str("; ");
        }
        note.push_str("MDE: the smallest change this suite can detect.\n");
        out.push_str(&note);
    }
}

fn scenario_counts(s: &SuiteComparison) -> String {
    let h = &s.head;
    let mut cell = format!("{} ({} run, {} replayed", h.scenarios, h.called, h.replayed);
    if h.errors > 0 {
        let _ = write!(
            cell,
            ", {} {}",
            h.errors,
            plural(h.errors, "error", "errors")
        );
    }
    if h.skipped > 0 {
        let _ = write!(cell, ", {} skipped", h.skipped);
    }
    if h.flaky > 0 {
        let _ = write!(cell, ", {} flaky", h.flaky);
    }
    if let (Some(k), Some(at), Some(hat)) = (h.k, h.pass_at_k, h.pass_hat_k) {
        let _ = write!(cell, ", pass@{k} {}, pass^{k} {}", pct(at), pct(hat));
    }
    cell.push(')');
    cell
}

fn pass_rate_cell(s: &SuiteComparison) -> String {
    let head = pct(s.head.pass_rate);
    match &s.base {
        None => head,
        Some(b) => format!(
            "{} → {}<br>{}",
            pct(b.pass_rate),
            head,
            significance(&s.pass_rate, |d| format!("{:+.1} pp", d * 100.0))
        ),
    }
}

fn score_cell(s: &SuiteComparison) -> String {
    let head = format!("{:.2}", finite(s.head.mean_score));
    match &s.base {
        None => head,
        Some(b) => format!(
            "{:.2} → {}<br>{}",
            finite(b.mean_score),
            head,
            significance(&s.score, |d| format!("{d:+.2}"))
        ),
    }
}

/// `**-12.0 pp** (p=0.010, regressed)`, `+0.0 pp (inconclusive, MDE 18.0 pp)`.
fn significance(sig: &Significance, fmt: impl Fn(f64) -> String) -> String {
    let delta = fmt(finite(sig.delta));
    let delta = if sig.status == ChangeStatus::Regressed {
        format!("**{delta}**")
    } else {
        delta
    };
    let mut detail = Vec::new();
    if matches!(sig.status, ChangeStatus::Regressed | ChangeStatus::Improved)
        && let Some(p) = sig.p_value.filter(|p| p.is_finite())
    {
        detail.push(format!("p={}", p_value(p)));
    }
    detail.push(sig.status.name().to_string());
    if sig.status == ChangeStatus::Inconclusive
        && let Some(m) = sig.min_detectable_effect.filter(|m| m.is_finite())
    {
        // The MDE is a size, shown without sign in the metric's unit.
        let shown = fmt(m);
        detail.push(format!("MDE {}", shown.trim_start_matches('+')));
    }
    let icon = match sig.status {
        ChangeStatus::Regressed => "🔻 ",
        ChangeStatus::Improved => "🔺 ",
        _ => "",
    };
    format!("{icon}{delta} ({})", detail.join(", "))
}

fn p_value(p: f64) -> String {
    if p < 0.001 {
        "<0.001".to_string()
    } else {
        format!("{p:.3}")
    }
}

fn cost_cell(s: &SuiteComparison) -> String {
    let head = usd(s.head.cost_usd);
    match &s.base {
        None => head,
        Some(b) => {
            let mut cell = format!("{} → {}", usd(b.cost_usd), head);
            if let Some(d) = s.cost_delta_usd.filter(|d| d.is_finite()) {
                let _ = write!(cell, "<br>{}", signed_usd(d));
                if let Some(p) = s.cost_delta_pct.filter(|p| p.is_finite()) {
                    let _ = write!(cell, " ({p:+.1}%)");
                }
            }
            cell
        }
    }
}

fn cpr_cell(s: &SuiteComparison) -> String {
    let head = s
        .head
        .cost_per_resolution
        .map(usd)
        .unwrap_or_else(|| "–".to_string());
    match &s.base {
        None => head,
        Some(b) => {
            let base = b
                .cost_per_resolution
                .map(usd)
                .unwrap_or_else(|| "–".to_string());
            let mut cell = format!("{base} → {head}");
            if let Some(d) = s.cpr_delta.filter(|d| d.is_finite()) {
                let _ = write!(cell, "<br>{}", signed_usd(d));
            }
            cell
        }
    }
}

fn changes(out: &mut String, verdict: &Verdict, list_limit: Option<usize>, hint: &str) {
    let of = |kind: ChangeKind| -> Vec<&ScenarioChange> {
        verdict.changes.iter().filter(|c| c.kind == kind).collect()
    };
    let newly_failing = of(ChangeKind::NewlyFailing);
    if !newly_failing.is_empty() {
        let _ = writeln!(out, "\n#### Newly failing ({})\n", newly_failing.len());
        scenario_table(out, &newly_failing, list_limit, true, hint);
    }
    let still_failing = of(ChangeKind::StillFailing);
    if !still_failing.is_empty() {
        let _ = writeln!(
            out,
            "\n<details><summary>Still failing ({})</summary>\n",
            still_failing.len()
        );
        scenario_table(out, &still_failing, list_limit, true, hint);
        out.push_str("\n</details>\n");
    }
    let others: Vec<&ScenarioChange> = verdict
        .changes
        .iter()
        .filter(|c| !matches!(c.kind, ChangeKind::NewlyFailing | ChangeKind::StillFailing))
        .collect();
    if !others.is_empty() {
        let mut counts = Vec::new();
        for kind in [
            ChangeKind::NewlyPassing,
            ChangeKind::OutputChanged,
            ChangeKind::New,
            ChangeKind::Removed,
        ] {
            let n = others.iter().filter(|c| c.kind == kind).count();
            if n > 0 {
                counts.push(format!("{n} {}", kind.name()));
            }
        }
        let _ = writeln!(
            out,
            "\n<details><summary>Other changes: {}</summary>\n",
            counts.join(", ")
        );
        scenario_table(out, &others, list_limit, false, hint);
        out.push_str("\n</details>\n");
    }
}

fn scenario_table(
    out: &mut String,
    rows: &[&ScenarioChange],
    limit: Option<usize>,
    with_reason: bool,
    hint: &str,
) {
    let shown = limit.map_or(rows.len(), |l| l.min(rows.len()));
    if shown > 0 {
        if with_reason {
            out.push_str("| Scenario | Score | Cost | Reason |\n|---|---|---|---|\n");
        } else {
            out.push_str("| Scenario | Change | Score | Cost |\n|---|---|---|---|\n");
        }
    }
    for c in &rows[..shown] {
        let location = if c.file.is_empty() {
            String::new()
        } else if c.line > 0 {
            format!("<br><sub>{}:{}</sub>", inline(&c.file), c.line)
        } else {
            format!("<br><sub>{}</sub>", inline(&c.file))
        };
        let name = format!("{}{location}", code(&format!("{}/{}", c.suite, c.id)));
        let score = match (c.base_score, c.head_score) {
            (Some(b), Some(h)) => format!("{:.2} → {:.2}", finite(b), finite(h)),
            (None, Some(h)) => format!("{:.2}", finite(h)),
            (Some(b), None) => format!("{:.2} → –", finite(b)),
            (None, None) => "–".to_string(),
        };
        let cost = match (c.base_cost, c.head_cost) {
            (Some(b), Some(h)) if (h - b).abs() > 1e-12 => format!("{} → {}", usd(b), usd(h)),
            (_, Some(h)) => usd(h),
            (Some(b), None) => usd(b),
            (None, None) => "–".to_string(),
        };
        if with_reason {
            let reason = if c.reason.is_empty() {
                "–".to_string()
            } else {
                inline(&cut(&c.reason, MAX_REASON_CHARS))
            };
            let _ = writeln!(out, "| {name} | {score} | {cost} | {reason} |");
        } else {
            let _ = writeln!(out, "| {name} | {} | {score} | {cost} |", c.kind.name());
        }
    }
    if shown < rows.len() {
        let more = rows.len() - shown;
        let _ = writeln!(
            out,
            "\n_… {more} more {} not shown: see {hint}._",
            plural(more, "scenario", "scenarios")
        );
    }
}

fn gate(out: &mut String, verdict: &Verdict) {
    let reasons = &verdict.gate.reasons;
    if reasons.is_empty() {
        out.push_str("\n**Gate:** passed: every threshold met, no credible regression, cost within policy.\n");
        return;
    }
    out.push_str("\n#### Gate\n\n| | Reason | Decided by |\n|---|---|---|\n");
    for r in reasons {
        let level = match r.level {
            GateLevel::Fail => "❌ fail",
            GateLevel::Warn => "⚠️ warn",
        };
        let policy = if r.policy.is_empty() {
            "–".to_string()
        } else {
            code(&r.policy)
        };
        let _ = writeln!(
            out,
            "| {level} | {} | {policy} |",
            inline(&cut(&r.message, MAX_REASON_CHARS))
        );
    }
}

fn budget_and_spend(out: &mut String, verdict: &Verdict) {
    out.push('\n');
    let b = &verdict.budget;
    // `spent_usd` includes what the judges cost.
    let _ = write!(
        out,
        "**This run spent** {}: {} on model calls, {} on judges",
        usd(verdict.spent_usd),
        usd((verdict.spent_usd - verdict.eval_cost_usd).max(0.0)),
        usd(verdict.eval_cost_usd)
    );
    if let Some(cap) = b.max_run_usd.filter(|c| c.is_finite()) {
        let _ = write!(
            out,
            " (cap {} from <code>budget.max_run_usd</code>)",
            usd(cap)
        );
    }
    let _ = write!(
        out,
        ". Head outputs cost {} in total",
        usd(verdict.total_cost_usd)
    );
    if let Some(base) = verdict.base_total_cost_usd.filter(|b| b.is_finite()) {
        let delta = verdict.total_cost_usd - base;
        let _ = write!(out, " (base {}, {}", usd(base), signed_usd(delta));
        if base > 0.0 {
            let _ = write!(out, ", {:+.1}%", delta / base * 100.0);
        }
        out.push(')');
    }
    out.push_str(".\n");
    // What the cost gate compares: the scenarios evaluated on both sides.
    if let (Some(d), Some(base)) = (
        verdict.cost_delta_usd.filter(|d| d.is_finite()),
        verdict.base_total_cost_usd,
    ) {
        let total_delta = verdict.total_cost_usd - base;
        if (d - total_delta).abs() > 1e-9 {
            let _ = write!(
                out,
                "On the scenarios evaluated on both sides, cost changed by {}",
                signed_usd(d)
            );
            if let Some(p) = verdict.cost_delta_pct.filter(|p| p.is_finite()) {
                let _ = write!(out, " ({p:+.1}%)");
            }
            out.push_str(".\n");
        }
    }
    if b.stopped {
        let _ = write!(
            out,
            "\n⚠️ **The budget cap stopped the run**: {} {} not run",
            b.not_run.len(),
            plural(b.not_run.len(), "scenario", "scenarios")
        );
        let names: Vec<String> = b
            .not_run
            .iter()
            .take(10)
            .map(|(s, id)| code(&format!("{s}/{id}")))
            .collect();
        if !names.is_empty() {
            let _ = write!(out, ": {}", names.join(", "));
            if b.not_run.len() > names.len() {
                let _ = write!(out, " and {} more", b.not_run.len() - names.len());
            }
        }
        out.push_str(".\n");
    }
}

fn diff_block((name, diff): &(String, String)) -> String {
    let diff = cut(&strip_ansi(diff), MAX_DIFF_CHARS);
    let fence = fence_for(&diff);
    format!(
        "<details><summary><code>{}</code></summary>\n\n{fence}diff\n{}\n{fence}\n\n</details>\n",
        html(name),
        diff.trim_end_matches('\n')
    )
}

/// A backtick fence longer than any run of backticks in `text`, so the text cannot close it.
fn fence_for(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

fn hard_cut(text: &str, max_chars: usize, hint: &str) -> String {
    let note = format!("\n\n_… the rest was cut (size limit): see {hint}._\n");
    let keep = max_chars.saturating_sub(note.chars().count());
    let head: String = text.chars().take(keep).collect();
    let head = head.rfind('\n').map_or(head.as_str(), |i| &head[..i]);
    format!("{head}{note}")
}

// --- escaping and formatting -------------------------------------------------------------

/// User or model text for inline Markdown (a table cell, a sentence): one line, with
/// Markdown and HTML syntax escaped, `@mentions` defused and control characters shown.
pub fn inline(s: &str) -> String {
    let s = strip_ansi(s);
    let mut out = String::with_capacity(s.len() + 8);
    let mut last_space = false;
    for c in s.chars() {
        match c {
            '\n' | '\r' | '\t' => {
                if !last_space {
                    out.push(' ');
                }
                last_space = true;
                continue;
            }
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("&#124;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '~' | '$' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            // A zero-width space after `@` keeps `@org/team` from notifying anyone.
            '@' => out.push_str("@\u{200b}"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
        last_space = c == ' ';
    }
    out
}

/// Text for HTML context (`<code>`, `<summary>`): HTML-escaped, one line.
fn html(s: &str) -> String {
    let s = strip_ansi(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '|' => out.push_str("&#124;"),
            '@' => out.push_str("@\u{200b}"),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// An identifier shown as code, safe in a table cell.
fn code(s: &str) -> String {
    format!("<code>{}</code>", html(s))
}

/// At most `max` characters, with `…` when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn finite(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", finite(x) * 100.0)
}

/// Dollars with about three significant digits (at least four decimals under a dollar, so
/// related amounts line up); `$` escaped so GitHub does not start a math block.
fn usd(x: f64) -> String {
    let x = finite(x);
    let a = x.abs();
    if a == 0.0 {
        return "\\$0".to_string();
    }
    let text = if a >= 1.0 {
        format!("{a:.2}")
    } else {
        // Leading zeros after the point, plus three significant digits; trailing zeros are
        // trimmed down to two significant digits and four decimals: 0.00300 -> 0.0030.
        let zeros = (-a.log10()).ceil() as usize;
        let digits = (zeros + 2).clamp(4, 8);
        let keep = (zeros + 1).clamp(4, 8);
        let mut t = format!("{a:.digits$}");
        while t.ends_with('0') && t.len() > "0.".len() + keep {
            t.pop();
        }
        t
    };
    if x < 0.0 {
        format!("-\\${text}")
    } else {
        format!("\\${text}")
    }
}

fn signed_usd(x: f64) -> String {
    let x = finite(x);
    if x < 0.0 {
        usd(x)
    } else {
        format!("+{}", usd(x))
    }
}

fn trim_float(x: f64) -> String {
    let s = format!("{x:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{
        BudgetReport, GateDecision, GateReason, GateReasonKind, Significance, SuiteStats,
        ThresholdCheck,
    };
    use crate::provider::Usage;

    fn stats(suite: &str, scenarios: usize, passed: usize, score: f64, cost: f64) -> SuiteStats {
        SuiteStats {
            suite: suite.into(),
            scenarios,
            called: 3,
            replayed: scenarios - 3,
            passed,
            failed: scenarios - passed,
            errors: 0,
            skipped: 0,
            pass_rate: passed as f64 / scenarios as f64,
            mean_score: score,
            cost_usd: cost,
            spent_usd: cost / 4.0,
            eval_cost_usd: 0.0,
            cost_per_resolution: if passed > 0 {
                Some(cost / passed as f64)
            } else {
                None
            },
            k: None,
            pass_at_k: None,
            pass_hat_k: None,
            flaky: 0,
            tokens: Usage {
                input_tokens: 1000,
                output_tokens: 200,
            },
        }
    }

    fn sig(status: ChangeStatus, delta: f64, p: Option<f64>, mde: Option<f64>) -> Significance {
        Significance {
            status,
            p_value: p,
            adjusted_alpha: Some(0.05),
            delta,
            upper_bound: None,
            lower_bound: None,
            std_error: None,
            min_detectable_effect: mde,
            method: "McNemar exact".into(),
            explanation: String::new(),
        }
    }

    fn change(kind: ChangeKind, id: &str, reason: &str) -> ScenarioChange {
        let failing = matches!(kind, ChangeKind::NewlyFailing | ChangeKind::StillFailing);
        ScenarioChange {
            suite: "capitals".into(),
            id: id.into(),
            file: "evals/capitals.toml".into(),
            line: 12,
            kind,
            base_pass: Some(kind != ChangeKind::NewlyPassing && kind != ChangeKind::StillFailing),
            head_pass: Some(!failing),
            base_score: Some(1.0),
            head_score: Some(if failing { 0.5 } else { 1.0 }),
            base_cost: Some(0.000012),
            head_cost: Some(0.000020),
            reason: reason.into(),
        }
    }

    /// A regression in one suite, a cost increase in both, an inconclusive small suite.
    fn verdict() -> Verdict {
        let capitals = SuiteComparison {
            suite: "capitals".into(),
            file: "evals/capitals.toml".into(),
            base: Some(stats("capitals", 40, 36, 0.92, 0.0120)),
            head: stats("capitals", 40, 30, 0.80, 0.0150),
            paired: 40,
            pass_rate: sig(ChangeStatus::Regressed, -0.15, Some(0.0042), None),
            score: sig(ChangeStatus::Regressed, -0.12, Some(0.012), None),
            cost_delta_usd: Some(0.0030),
            cost_delta_pct: Some(25.0),
            cpr_delta: Some(0.0150 / 30.0 - 0.0120 / 36.0),
            threshold_checks: vec![ThresholdCheck {
                name: "min_pass_rate".into(),
                required: 0.8,
                actual: 0.75,
                pass: false,
                source: "gate in evalgit.toml".into(),
            }],
        };
        let refunds = SuiteComparison {
            suite: "refunds".into(),
            file: "evals/refunds.toml".into(),
            base: Some(stats("refunds", 5, 5, 1.0, 0.50)),
            head: stats("refunds", 5, 5, 1.0, 0.65),
            paired: 5,
            pass_rate: sig(ChangeStatus::Inconclusive, 0.0, Some(0.5), Some(0.18)),
            score: sig(ChangeStatus::NoChange, 0.0, None, None),
            cost_delta_usd: Some(0.15),
            cost_delta_pct: Some(30.0),
            cpr_delta: Some(0.03),
            threshold_checks: vec![],
        };
        let mut gate = GateDecision::passed();
        gate.push(GateReason {
            kind: GateReasonKind::Regression,
            level: GateLevel::Fail,
            message: "capitals: pass rate regressed by 15.0 pp (p=0.004)".into(),
            policy: "gate.tolerance = 0.02, gate.alpha = 0.05".into(),
        });
        gate.push(GateReason {
            kind: GateReasonKind::CostIncrease,
            level: GateLevel::Warn,
            message: "refunds: cost rose 30.0% (limit 10%)".into(),
            policy: "budget.max_cost_increase_pct = 10".into(),
        });
        Verdict {
            suites: vec![capitals, refunds],
            changes: vec![
                change(
                    ChangeKind::NewlyFailing,
                    "japan",
                    "icontains: expected to contain \"tokyo\", got \"Kyoto\"",
                ),
                change(
                    ChangeKind::NewlyFailing,
                    "pipe|<b>bold</b>",
                    "output was `| *x* | [link](http://e) @team $1 and $2\nsecond line",
                ),
                change(
                    ChangeKind::StillFailing,
                    "peru",
                    "equals: expected \"Lima\"",
                ),
                change(ChangeKind::NewlyPassing, "chile", ""),
                change(ChangeKind::OutputChanged, "france", ""),
            ],
            budget: BudgetReport {
                max_run_usd: Some(1.0),
                spent_usd: 0.0042,
                stopped: false,
                not_run: vec![],
                caps_hit: vec![],
            },
            gate,
            total_cost_usd: 0.665,
            base_total_cost_usd: Some(0.512),
            spent_usd: 0.0042,
            eval_cost_usd: 0.0011,
            tolerance: 0.02,
            alpha: 0.05,
            cost_delta_usd: Some(0.1530),
            cost_delta_pct: Some(29.88),
        }
    }

    #[test]
    fn comment_with_a_regression_and_a_cost_increase() {
        let opts = CommentOptions {
            snapshot_diffs: vec![(
                "capitals/japan".into(),
                "--- base\n+++ head\n@@ -1 +1 @@\n-Tokyo\n+Kyoto\n".into(),
            )],
            ..CommentOptions::default()
        };
        let body = render_comment(&verdict(), &opts);
        insta::assert_snapshot!(body);
    }

    #[test]
    fn comment_when_everything_passes_without_a_baseline() {
        let mut v = verdict();
        for s in &mut v.suites {
            s.base = None;
            s.pass_rate = Significance::no_baseline(0.0, "no baseline");
            s.score = Significance::no_baseline(0.0, "no baseline");
            s.cost_delta_usd = None;
            s.cost_delta_pct = None;
            s.cpr_delta = None;
            s.head.passed = s.head.scenarios;
            s.head.failed = 0;
            s.head.pass_rate = 1.0;
        }
        v.changes.clear();
        v.gate = GateDecision::passed();
        v.base_total_cost_usd = None;
        v.alpha = 0.0;
        let body = render_comment(
            &v,
            &CommentOptions {
                title: "evalgit (nightly)".into(),
                ..CommentOptions::default()
            },
        );
        insta::assert_snapshot!(body);
    }

    #[test]
    fn deltas_are_shown_with_their_significance() {
        let body = render_comment(&verdict(), &CommentOptions::default());
        assert!(
            body.starts_with(
                "### ❌ evalgit: gate failed: capitals: pass rate regressed by 15.0 pp (p=0.004)\n"
            ),
            "{body}"
        );
        assert!(
            body.contains("90.0% → 75.0%<br>🔻 **-15.0 pp** (p=0.004, regressed)"),
            "{body}"
        );
        assert!(
            body.contains("100.0% → 100.0%<br>+0.0 pp (inconclusive, MDE 18.0 pp)"),
            "{body}"
        );
        assert!(
            body.contains("\\$0.0120 → \\$0.0150<br>+\\$0.0030 (+25.0%)"),
            "{body}"
        );
        assert!(
            body.contains("(base \\$0.5120, +\\$0.1530, +29.9%)"),
            "{body}"
        );
    }

    /// A model output in a reason must not break the table, inject HTML, ping a team or start
    /// math: the row keeps its four cells.
    #[test]
    fn user_text_cannot_break_the_table() {
        let body = render_comment(&verdict(), &CommentOptions::default());
        let row = body.lines().find(|l| l.contains("pipe")).expect("row");
        assert!(!row.contains("<b>"), "{row}");
        let unescaped_pipes = row.replace("&#124;", "").matches('|').count();
        assert_eq!(unescaped_pipes, 5, "{row}");
        assert!(row.contains("@\u{200b}team"), "{row}");
        assert!(row.contains("\\$1 and \\$2 second line"), "{row}");
        assert!(row.contains("\\[link\\](http://e)"), "{row}");
    }

    #[test]
    fn inline_escaping() {
        let cases: &[(&str, &str)] = &[
            ("plain text", "plain text"),
            ("a|b", "a&#124;b"),
            ("<script>&", "&lt;script&gt;&amp;"),
            ("*x* _y_ `z`", "\\*x\\* \\_y\\_ \\`z\\`"),
            ("line\n\nnext", "line next"),
            ("\u{1b}[31mred\u{1b}[0m\u{7}", "red\\u{7}"),
            ("東京 🗼", "東京 🗼"),
        ];
        for (input, want) in cases {
            assert_eq!(inline(input), *want, "{input:?}");
        }
    }

    #[test]
    fn fences_are_longer_than_any_backticks_inside() {
        assert_eq!(fence_for("no ticks"), "```");
        assert_eq!(fence_for("a ```` b"), "`````");
    }

    #[test]
    fn money_formatting() {
        let cases: &[(f64, &str)] = &[
            (0.0, "\\$0"),
            (12.5, "\\$12.50"),
            (0.0123, "\\$0.0123"),
            (0.000012, "\\$0.000012"),
            (-0.5, "-\\$0.5000"),
            (0.003, "\\$0.0030"),
            (0.0042, "\\$0.0042"),
            (0.000167, "\\$0.000167"),
            (0.00002, "\\$0.000020"),
            (0.001, "\\$0.0010"),
            (0.665, "\\$0.6650"),
            (f64::NAN, "\\$0"),
        ];
        for (x, want) in cases {
            assert_eq!(usd(*x), *want, "{x}");
        }
    }

    /// A huge verdict stays under the limit, drops the diffs first, then truncates the lists,
    /// and says what it left out.
    /// The comment's cut notes send a reader to the job summary, so the summary (rendered
    /// with a step summary's room) must hold what the comment dropped. It once was the same
    /// cut body, while the footer claimed every scenario was in it.
    #[test]
    fn summary_holds_what_the_comment_cut() {
        let mut v = verdict();
        // Multi-byte text: the summary's limit is in bytes, the comment's in characters.
        let long_reason = "expected 東京, got something else ".repeat(20);
        for i in 0..1500 {
            v.changes.push(change(
                ChangeKind::NewlyFailing,
                &format!("scenario-{i:04}"),
                &long_reason,
            ));
        }
        let diffs: Vec<(String, String)> = (0..50)
            .map(|i| (format!("capitals/s{i}"), "-old\n+new\n".repeat(200)))
            .collect();
        let comment = render_comment(
            &v,
            &CommentOptions {
                snapshot_diffs: diffs.clone(),
                ..CommentOptions::default()
            },
        );
        assert!(
            comment.contains("more scenarios not shown: see the job summary or the JUnit report")
        );
        assert!(!comment.contains("scenario-1499"));

        let opts = CommentOptions::summary("evalgit", diffs);
        let max = crate::github::summary::MAX_STEP_SUMMARY_BYTES;
        let summary = render_summary(&v, &opts, max);
        assert!(summary.len() <= max, "{}", summary.len());
        assert!(!summary.contains("not shown"), "nothing is cut");
        assert!(summary.contains("scenario-1499"));
        assert!(summary.contains("<code>capitals/s49</code>"));

        // Too small for everything: cut to the byte limit, pointing only at the JUnit report.
        let small = render_summary(&v, &opts, 200_000);
        assert!(small.len() <= 200_000, "{}", small.len());
        assert!(small.len() > 150_000, "the room is used: {}", small.len());
        assert!(small.contains("more scenarios not shown: see the JUnit report."));
        assert!(!small.contains("job summary"));
    }

    #[test]
    fn huge_verdict_stays_under_the_limit() {
        let mut v = verdict();
        let long_reason = "expected something else ".repeat(40);
        for i in 0..3000 {
            v.changes.push(change(
                ChangeKind::NewlyFailing,
                &format!("scenario-{i:04}"),
                &long_reason,
            ));
        }
        let diffs: Vec<(String, String)> = (0..50)
            .map(|i| {
                (
                    format!("capitals/s{i}"),
                    format!("-old {i}\n+new {i}\n").repeat(200),
                )
            })
            .collect();
        let opts = CommentOptions {
            snapshot_diffs: diffs,
            ..CommentOptions::default()
        };
        let body = render_comment(&v, &opts);
        assert!(
            body.chars().count() <= DEFAULT_MAX_CHARS,
            "{}",
            body.chars().count()
        );
        assert!(
            body.contains("more output diffs not shown"),
            "diffs dropped first"
        );
        assert!(body.contains("more scenarios not shown: see the job summary or the JUnit report"));
        assert!(body.contains("#### Gate"), "the gate is never dropped");
        assert!(
            body.contains("**This run spent**"),
            "spend is never dropped"
        );
        assert!(body.ends_with("</sub>\n"), "the footer is kept");

        // Few scenarios, many diffs: only diffs are dropped, lists stay whole.
        let opts = CommentOptions {
            snapshot_diffs: (0..50)
                .map(|i| (format!("s/{i}"), "+x\n".repeat(3000)))
                .collect(),
            ..CommentOptions::default()
        };
        let body = render_comment(&verdict(), &opts);
        assert!(body.chars().count() <= DEFAULT_MAX_CHARS);
        assert!(body.contains("more output diffs not shown"));
        assert!(!body.contains("more scenarios not shown"));
        assert!(
            body.contains("<code>s/0</code>"),
            "the first diffs are kept"
        );

        // A tiny limit still produces a body, cut with a note.
        let tiny = CommentOptions {
            max_chars: 300,
            ..CommentOptions::default()
        };
        let body = render_comment(&v, &tiny);
        assert!(body.chars().count() <= 300, "{}", body.chars().count());
        assert!(body.contains("the rest was cut"), "{body}");
    }
}
