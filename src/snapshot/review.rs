//! `evalgit review`: walk the pending snapshots one by one, show what changed (header values
//! and a unified diff of the output), and accept, reject or skip each, as cargo-insta does
//! for code snapshots.

use std::io::{BufRead, Write};

use similar::{ChangeTag, TextDiff};

use super::filter::Filter;
use super::format::{Snapshot, SnapshotSample};
use super::store::{Pending, SnapshotStore};
use crate::error::{Error, Result};

const PROMPT: &str =
    "[a]ccept  [r]eject  [s]kip  [A]ccept all remaining  [R]eject all remaining  [q]uit > ";

/// Shown when `review` runs without a terminal (CI, a pipe): it must not wait for input that
/// never comes, and the user needs the commands that do the same job.
pub const NOT_A_TERMINAL: &str = "`evalgit review` needs a terminal on stdin and stdout; without one, use:\n  \
     evalgit accept [FILTER]              accept pending snapshots (all, or those matching FILTER, e.g. `capitals/*`)\n  \
     evalgit reject [FILTER]              reject (delete) pending snapshots\n  \
     evalgit accept --suite S --id ID     accept one scenario";

/// What a review did, by (suite, id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewSummary {
    pub accepted: Vec<(String, String)>,
    pub rejected: Vec<(String, String)>,
    /// Skipped, or not reached before quitting: still pending.
    pub skipped: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Accept,
    Reject,
    Skip,
    AcceptAll,
    RejectAll,
    Quit,
}

/// Reviews the pending snapshots the filter selects on the real terminal. Refuses with
/// [`NOT_A_TERMINAL`] (a usage error) when stdin or stdout is not a terminal. `color` is the
/// `--color` choice as resolved for the process (`NO_COLOR` included).
pub fn review_interactive(
    store: &SnapshotStore,
    filter: &Filter,
    color: bool,
) -> Result<ReviewSummary> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(Error::Usage(NOT_A_TERMINAL.to_string()));
    }
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    review(store, filter, &mut input, &mut out, color)
}

/// Reviews the pending snapshots the filter selects, reading one choice per line from
/// `input`. End of input counts as quit, so a closed stdin never loops.
pub fn review(
    store: &SnapshotStore,
    filter: &Filter,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    color: bool,
) -> Result<ReviewSummary> {
    let term = |e| Error::io("cannot write to the terminal", e);
    let pending: Vec<Pending> = store
        .pending()?
        .into_iter()
        .filter(|p| filter.matches(&p.suite, &p.id))
        .collect();
    let mut summary = ReviewSummary::default();
    if pending.is_empty() {
        let scope = if filter.is_all() {
            ""
        } else {
            " matching the filter"
        };
        writeln!(out, "no pending snapshots{scope}").map_err(term)?;
        return Ok(summary);
    }
    let total = pending.len();
    let mut bulk: Option<Choice> = None;
    for (i, p) in pending.iter().enumerate() {
        let choice = match bulk {
            Some(choice) => choice,
            None => {
                show(store, p, i + 1, total, out, color).map_err(term)?;
                let choice = ask(input, out).map_err(term)?;
                if matches!(choice, Choice::AcceptAll | Choice::RejectAll) {
                    bulk = Some(choice);
                }
                choice
            }
        };
        let key = p.key();
        match choice {
            Choice::Accept | Choice::AcceptAll => {
                store.accept_one(p)?;
                writeln!(
                    out,
                    "{} {}/{}",
                    paint(color, GREEN, "accepted"),
                    visible(&p.suite),
                    visible(&p.id)
                )
                .map_err(term)?;
                summary.accepted.push(key);
            }
            Choice::Reject | Choice::RejectAll => {
                store.reject_one(p)?;
                writeln!(
                    out,
                    "{} {}/{}",
                    paint(color, RED, "rejected"),
                    visible(&p.suite),
                    visible(&p.id)
                )
                .map_err(term)?;
                summary.rejected.push(key);
            }
            Choice::Skip => summary.skipped.push(key),
            Choice::Quit => {
                summary
                    .skipped
                    .extend(pending[i..].iter().map(Pending::key));
                break;
            }
        }
    }
    writeln!(
        out,
        "{} accepted, {} rejected, {} still pending",
        summary.accepted.len(),
        summary.rejected.len(),
        summary.skipped.len()
    )
    .map_err(term)?;
    Ok(summary)
}

fn ask(input: &mut dyn BufRead, out: &mut dyn Write) -> std::io::Result<Choice> {
    loop {
        write!(out, "{PROMPT}")?;
        out.flush()?;
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            writeln!(out)?;
            return Ok(Choice::Quit);
        }
        let choice = match line.trim() {
            "a" => Choice::Accept,
            "r" => Choice::Reject,
            "s" => Choice::Skip,
            "A" => Choice::AcceptAll,
            "R" => Choice::RejectAll,
            "q" => Choice::Quit,
            other => {
                writeln!(
                    out,
                    "unknown choice `{}`: type a, r, s, A, R or q and press enter",
                    visible(other)
                )?;
                continue;
            }
        };
        return Ok(choice);
    }
}

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("{code}{text}{RESET}")
    } else {
        text.to_string()
    }
}

/// One pending change: which scenario, the header values that changed, the output diff.
fn show(
    store: &SnapshotStore,
    p: &Pending,
    n: usize,
    total: usize,
    out: &mut dyn Write,
    color: bool,
) -> std::io::Result<()> {
    let kind = if p.accepted.is_some() {
        "changed"
    } else {
        "new"
    };
    writeln!(out)?;
    writeln!(
        out,
        "{}  ({n} of {total}, {kind})",
        paint(
            color,
            BOLD,
            &format!("{}/{}", visible(&p.suite), visible(&p.id))
        )
    )?;
    writeln!(
        out,
        "{}",
        paint(color, DIM, &format!("  {}", store.display(&p.path)))
    )?;

    let new = Snapshot::parse(&p.new);
    let old = p.accepted.as_deref().map(Snapshot::parse);
    if let Some(Err(e)) = &old {
        writeln!(
            out,
            "  the accepted snapshot is unreadable ({e}); showing the new one in full"
        )?;
    }
    let new = match new {
        Ok(new) => new,
        Err(e) => {
            // Not ours to interpret: show the raw text so the reviewer can decide.
            writeln!(out, "  the pending snapshot is unreadable ({e}); its text:")?;
            let old_text = p.accepted.clone().unwrap_or_default();
            return write_diff(out, &old_text, &p.new, color);
        }
    };
    let old = old.and_then(|o| o.ok());

    let new_fields = header_fields(&new);
    match &old {
        None => {
            for (key, value) in &new_fields {
                writeln!(out, "  {key}: {value}")?;
            }
        }
        Some(old) => {
            let old_fields = header_fields(old);
            let mut changed = 0;
            for (key, value) in &new_fields {
                let before = old_fields
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.as_str());
                if before != Some(value.as_str()) {
                    changed += 1;
                    let before = before.unwrap_or("(none)");
                    writeln!(
                        out,
                        "  {key}: {} -> {}",
                        paint(color, RED, before),
                        paint(color, GREEN, value)
                    )?;
                }
            }
            for (key, value) in old_fields
                .iter()
                .filter(|(k, _)| !new_fields.iter().any(|(nk, _)| nk == k))
            {
                changed += 1;
                writeln!(out, "  {key}: {} -> (none)", paint(color, RED, value))?;
            }
            if changed == 0 {
                writeln!(out, "  (header unchanged)")?;
            }
        }
    }
    let old_body = old.as_ref().map(body_view).unwrap_or_default();
    let new_body = body_view(&new);
    if old.is_some() && old_body == new_body {
        writeln!(out, "  (output unchanged)")?;
        return Ok(());
    }
    write_diff(out, &old_body, &new_body, color)
}

/// The header values a reviewer cares about, labelled per sample for repeats.
fn header_fields(s: &Snapshot) -> Vec<(String, String)> {
    let mut fields = vec![
        ("verdict".to_string(), s.verdict.name().to_string()),
        ("score".to_string(), format!("{:.4}", s.score)),
    ];
    let single = s.samples.len() == 1;
    if !single {
        fields.push(("samples".to_string(), s.samples.len().to_string()));
    }
    for (i, sample) in s.samples.iter().enumerate() {
        let label = |key: &str| {
            if single {
                key.to_string()
            } else {
                format!("sample {} {key}", i + 1)
            }
        };
        fields.push((label("fingerprint"), short_hex(&sample.fingerprint)));
        fields.push((
            label("model"),
            sample
                .model
                .as_deref()
                .map_or_else(|| "(none)".to_string(), visible),
        ));
        fields.push((
            label("tokens"),
            format!(
                "{} in, {} out",
                sample.usage.input_tokens, sample.usage.output_tokens
            ),
        ));
        fields.push((
            label("cost"),
            sample
                .cost_usd
                .map_or_else(|| "unknown".to_string(), |c| format!("{c:.8}")),
        ));
        if !single {
            fields.push((label("score"), format!("{:.4}", sample.score)));
            fields.push((
                label("verdict"),
                if sample.pass { "pass" } else { "fail" }.to_string(),
            ));
        }
        fields.push((label("checks"), visible(&checks_summary(sample))));
    }
    fields
}

fn short_hex(fingerprint: &str) -> String {
    fingerprint.chars().take(12).collect()
}

fn checks_summary(sample: &SnapshotSample) -> String {
    if sample.checks.is_empty() {
        return "(none)".to_string();
    }
    let parts: Vec<String> = sample
        .checks
        .iter()
        .map(|(kind, pass)| format!("{kind} {}", if *pass { "pass" } else { "fail" }))
        .collect();
    parts.join(", ")
}

/// The outputs as one text to diff: the output itself, or each sample under its separator.
fn body_view(s: &Snapshot) -> String {
    if let [only] = s.samples.as_slice() {
        return only.output.clone();
    }
    let mut text = String::new();
    for (i, sample) in s.samples.iter().enumerate() {
        text.push_str(&format!(
            "--- sample {} ({}) ---\n",
            i + 1,
            if sample.pass { "pass" } else { "fail" }
        ));
        text.push_str(&sample.output);
        if !sample.output.is_empty() && !sample.output.ends_with('\n') {
            text.push('\n');
        }
    }
    text
}

/// A unified diff with three lines of context; `+` green, `-` red, hunk headers cyan.
fn write_diff(out: &mut dyn Write, old: &str, new: &str, color: bool) -> std::io::Result<()> {
    // Outputs rarely end with a newline; when neither does, that is not worth a marker.
    let (old, new) = if !old.ends_with('\n') && !new.ends_with('\n') {
        (format!("{old}\n"), format!("{new}\n"))
    } else {
        (old.to_string(), new.to_string())
    };
    let old = if old == "\n" { String::new() } else { old };
    let new = if new == "\n" { String::new() } else { new };
    let diff = TextDiff::from_lines(&old, &new);
    for group in diff.grouped_ops(3) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let (old_start, new_start) = (first.old_range().start, first.new_range().start);
        let old_len = last.old_range().end - old_start;
        let new_len = last.new_range().end - new_start;
        let header = format!(
            "@@ -{},{old_len} +{},{new_len} @@",
            hunk_start(old_start, old_len),
            hunk_start(new_start, new_len)
        );
        writeln!(out, "{}", paint(color, CYAN, &header))?;
        for op in &group {
            for change in diff.iter_changes(op) {
                let (sign, code) = match change.tag() {
                    ChangeTag::Delete => ('-', Some(RED)),
                    ChangeTag::Insert => ('+', Some(GREEN)),
                    ChangeTag::Equal => (' ', None),
                };
                let text = visible(change.value().strip_suffix('\n').unwrap_or(change.value()));
                let line = format!("{sign}{text}");
                match code {
                    Some(code) => writeln!(out, "{}", paint(color, code, &line))?,
                    None => writeln!(out, "{line}")?,
                }
                if change.missing_newline() {
                    writeln!(out, "{}", paint(color, DIM, "\\ no newline at end"))?;
                }
            }
        }
    }
    Ok(())
}

/// 1-based first line of a hunk side; an empty side names the line before it, as `diff -u`
/// does (`@@ -0,0 +1 @@` for a new file).
fn hunk_start(start: usize, len: usize) -> usize {
    if len == 0 { start } else { start + 1 }
}

/// A model output as safe terminal text: control characters (escape sequences, `\r`) are
/// shown escaped, so an output cannot restyle or rewrite the reviewer's terminal, and a
/// CRLF-only change is visible.
fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push('\t'),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::snapshot::WriteMode;
    use crate::snapshot::format::tests::result;

    fn store_with_pending() -> (tempfile::TempDir, SnapshotStore) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = SnapshotStore::new(tmp.path(), "snapshots");
        // capitals/france: accepted "Paris", now "Lyon" (changed); capitals/spain and
        // sentiment/happy: new.
        let mut france = result(&["The capital is Paris.\nShared line."]);
        store.record(&france, WriteMode::Write).expect("record");
        store.accept(&Filter::all()).expect("accept");
        france.samples[0].output = Some("The capital is Lyon.\nShared line.".into());
        france.samples[0].usage.output_tokens = 12;
        store.record(&france, WriteMode::Write).expect("record");
        for (suite, id) in [("capitals", "spain"), ("sentiment", "happy")] {
            let mut r = result(&["Madrid\u{1b}[2J"]);
            r.suite = suite.into();
            r.id = id.into();
            store.record(&r, WriteMode::Write).expect("record");
        }
        (tmp, store)
    }

    fn run(
        store: &SnapshotStore,
        filter: &Filter,
        keys: &str,
        color: bool,
    ) -> (ReviewSummary, String) {
        let mut input = Cursor::new(keys.as_bytes().to_vec());
        let mut out = Vec::new();
        let summary = review(store, filter, &mut input, &mut out, color).expect("review");
        (summary, String::from_utf8(out).expect("utf-8"))
    }

    fn key(suite: &str, id: &str) -> (String, String) {
        (suite.to_string(), id.to_string())
    }

    fn pending_ids(store: &SnapshotStore) -> Vec<String> {
        store
            .pending()
            .expect("pending")
            .into_iter()
            .map(|p| p.id)
            .collect()
    }

    #[test]
    fn shows_header_changes_and_a_plain_diff_without_color() {
        let (_tmp, store) = store_with_pending();
        let (_, out) = run(&store, &Filter::all(), "q\n", false);
        assert!(
            out.contains(
                "capitals/france  (1 of 3, changed)\n  snapshots/capitals/france.snap.new\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("  tokens: 31 in, 9 out -> 31 in, 12 out\n"),
            "{out}"
        );
        assert!(
            !out.contains("  model:"),
            "unchanged values are not listed: {out}"
        );
        assert!(
            out.contains(
                "@@ -1,2 +1,2 @@\n-The capital is Paris.\n+The capital is Lyon.\n Shared line.\n"
            ),
            "{out}"
        );
        assert!(out.contains(PROMPT));
        assert!(!out.contains('\x1b'), "no colour: {out:?}");
    }

    #[test]
    fn colours_the_diff_and_escapes_control_characters_in_outputs() {
        let (_tmp, store) = store_with_pending();
        let (_, out) = run(&store, &Filter::all(), "s\ns\n", true);
        assert!(
            out.contains(&format!("{RED}-The capital is Paris.{RESET}")),
            "{out:?}"
        );
        assert!(
            out.contains(&format!("{GREEN}+The capital is Lyon.{RESET}")),
            "{out:?}"
        );
        assert!(out.contains("capitals/spain"));
        assert!(out.contains("(2 of 3, new)"));
        // The new output's own escape sequence is shown, not executed.
        assert!(out.contains("+Madrid\\u{1b}[2J"), "{out:?}");
    }

    #[test]
    fn each_key_does_what_it_says() {
        // (keys typed, accepted, rejected, ids still pending)
        type Keys = &'static [(&'static str, &'static str)];
        let cases: [(&str, Keys, Keys, &[&str]); 6] = [
            (
                "a\nr\ns\n",
                &[("capitals", "france")],
                &[("capitals", "spain")],
                &["happy"],
            ),
            (
                "A\n",
                &[
                    ("capitals", "france"),
                    ("capitals", "spain"),
                    ("sentiment", "happy"),
                ],
                &[],
                &[],
            ),
            (
                "s\nR\n",
                &[],
                &[("capitals", "spain"), ("sentiment", "happy")],
                &["france"],
            ),
            ("q\n", &[], &[], &["france", "spain", "happy"]),
            ("", &[], &[], &["france", "spain", "happy"]),
            (
                "x\n\nyes\nr\nq\n",
                &[],
                &[("capitals", "france")],
                &["spain", "happy"],
            ),
        ];
        for (keys, accepted, rejected, still_pending) in cases {
            let (_tmp, store) = store_with_pending();
            let (summary, out) = run(&store, &Filter::all(), keys, false);
            let expect = |v: &[(&str, &str)]| v.iter().map(|(s, i)| key(s, i)).collect::<Vec<_>>();
            assert_eq!(summary.accepted, expect(accepted), "{keys:?}\n{out}");
            assert_eq!(summary.rejected, expect(rejected), "{keys:?}\n{out}");
            let mut left = pending_ids(&store);
            left.sort();
            let mut want: Vec<String> = still_pending.iter().map(|s| s.to_string()).collect();
            want.sort();
            assert_eq!(left, want, "{keys:?}\n{out}");
            assert_eq!(summary.skipped.len(), still_pending.len(), "{keys:?}");
        }
    }

    #[test]
    fn invalid_input_prompts_again() {
        let (_tmp, store) = store_with_pending();
        let (_, out) = run(&store, &Filter::all(), "x\nq\n", false);
        assert!(
            out.contains("unknown choice `x`: type a, r, s, A, R or q"),
            "{out}"
        );
        assert_eq!(out.matches(PROMPT).count(), 2);
    }

    #[test]
    fn accepting_installs_the_new_snapshot() {
        let (_tmp, store) = store_with_pending();
        let (summary, out) = run(
            &store,
            &Filter::new(vec![], vec!["france".into()], vec![]),
            "a\n",
            false,
        );
        assert_eq!(summary.accepted, [key("capitals", "france")]);
        assert!(out.contains("(1 of 1, changed)"), "{out}");
        assert!(
            out.ends_with("1 accepted, 0 rejected, 0 still pending\n"),
            "{out}"
        );
        let accepted = store
            .accepted("capitals", "france")
            .expect("read")
            .expect("exists");
        assert_eq!(
            accepted.samples[0].output,
            "The capital is Lyon.\nShared line."
        );
    }

    #[test]
    fn refuses_without_a_terminal_and_names_the_commands() {
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
            // Run from an interactive shell: the refusal path is not reachable here (the
            // PTY test of the binary covers the other side).
            return;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = SnapshotStore::new(tmp.path(), "snapshots");
        let err = review_interactive(&store, &Filter::all(), false).expect_err("no terminal");
        assert!(matches!(err, Error::Usage(_)));
        let message = err.to_string();
        for command in [
            "evalgit accept [FILTER]",
            "evalgit reject [FILTER]",
            "evalgit accept --suite S --id ID",
        ] {
            assert!(message.contains(command), "{command} in {message}");
        }
    }

    #[test]
    fn nothing_pending_says_so() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = SnapshotStore::new(tmp.path(), "snapshots");
        let (summary, out) = run(&store, &Filter::all(), "", false);
        assert_eq!(summary, ReviewSummary::default());
        assert_eq!(out, "no pending snapshots\n");
    }

    #[test]
    fn new_snapshots_list_every_header_value() {
        let (_tmp, store) = store_with_pending();
        let (_, out) = run(
            &store,
            &Filter::new(vec!["sentiment".into()], vec![], vec![]),
            "s\n",
            false,
        );
        for expected in [
            "  verdict: fail\n",
            "  model: smollm2-135m\n",
            "  cost: 0.00000245\n",
            "  checks: icontains pass, not-contains fail\n",
            "@@ -0,0 +1,1 @@\n",
        ] {
            assert!(out.contains(expected), "{expected:?} in {out}");
        }
    }

    #[test]
    fn repeats_diff_per_sample() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = SnapshotStore::new(tmp.path(), "snapshots");
        let mut r = result(&["Paris", "Paris"]);
        store.record(&r, WriteMode::Write).expect("record");
        store.accept(&Filter::all()).expect("accept");
        r.samples[1].output = Some("Lyon".into());
        store.record(&r, WriteMode::Write).expect("record");
        let (_, out) = run(&store, &Filter::all(), "s\n", false);
        assert!(
            out.contains("--- sample 2 (fail) ---\n-Paris\n+Lyon\n"),
            "{out}"
        );
    }
}
