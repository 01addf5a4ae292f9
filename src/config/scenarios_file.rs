//! `scenarios_file = "data/x.jsonl"` or `"data/x.csv"`: scenarios as data.
//!
//! JSONL: one JSON object a line with the keys of a `[[scenario]]` table (`id`, `vars`,
//! `assert`, `threshold`, `description`, `repeat`, `pass_rule`); blank lines are skipped; the
//! id defaults to `line-N`. CSV: a header row; every column is a variable except `id`
//! (default `row-N`, N the 1-based data row). A CSV holds no checks: they come from the
//! suite's `[defaults] assert`.

use std::borrow::Cow;

use super::scenario_table::{IdRule, ScenarioSink, check_id};
use super::walker::{Entry, FileCx, Kp, Node, NodeKind, SourceFile};

/// Column names that would silently turn checks into variables.
const RESERVED_COLUMNS: &[&str] = &["assert", "asserts", "assertions", "assertion"];

pub(crate) fn read_jsonl(cx: &mut FileCx<'_>, sink: &mut ScenarioSink<'_>) {
    let file: &SourceFile = cx.file;
    let mut any = false;
    let mut start = 0;
    for (i, raw) in file.text.split('\n').enumerate() {
        let line_no = i + 1;
        let mut line_start = start;
        start += raw.len() + 1;
        // Editors on Windows start UTF-8 files with a byte order mark; it is not JSON.
        let raw = match raw.strip_prefix('\u{feff}') {
            Some(rest) if i == 0 => {
                line_start += '\u{feff}'.len_utf8();
                rest
            }
            _ => raw,
        };
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        any = true;
        let span = line_start..line_start + line.len();
        // serde_json does not say where a value starts: point at the line's first column.
        let loc = line_start..line_start + 1;
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(err) => {
                // serde_json's column is 1-based and counts bytes of this line.
                let col = err.column().max(1) - 1;
                let at = (line_start + col).min(span.end);
                cx.error(
                    &(at..at + 1),
                    &format!("line {line_no}"),
                    format!("invalid JSON: {}", strip_position(&err.to_string())),
                )
                .help("a JSONL file holds one complete JSON object per line");
                continue;
            }
        };
        if !value.is_object() {
            let node = Node::from_json(&value, &loc);
            cx.error(
                &loc,
                &format!("line {line_no}"),
                format!(
                    "each line must be a JSON object, found {}",
                    node.type_name()
                ),
            )
            .help("e.g. {\"id\": \"france\", \"vars\": {\"country\": \"France\"}}");
            continue;
        }
        let node = Node::from_json_text(&value, &file.text, line_start);
        if let NodeKind::Table(entries) = &node.kind {
            sink.read(
                cx,
                entries,
                &loc,
                Kp::S(""),
                IdRule::Default(format!("line-{line_no}")),
            );
        }
    }
    if !any {
        cx.warning(&(0..0), "", "the scenarios file is empty")
            .help("add one JSON object per line");
    }
}

/// A CSV row is located at its first column: the whole row would underline too much.
fn first_column(file: &SourceFile, line: usize) -> std::ops::Range<usize> {
    let r = file.line_range(line);
    r.start..r.start + 1
}

/// serde_json appends " at line 1 column 7": the diagnostic already says where.
fn strip_position(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

pub(crate) fn read_csv(cx: &mut FileCx<'_>, sink: &mut ScenarioSink<'_>) {
    let file: &SourceFile = cx.file;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(file.text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(err) => {
            cx.error(&(0..0), "", format!("invalid CSV header: {err}"));
            return;
        }
    };
    let header_span = first_column(file, 1);
    let mut ok = true;
    let mut id_col = None;
    let mut columns: Vec<String> = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        let name = if i == 0 {
            h.trim_start_matches('\u{feff}')
        } else {
            h
        }
        .trim()
        .to_string();
        let path = format!("column {}", i + 1);
        if name.is_empty() {
            cx.error(&header_span, &path, format!("column {} has no name", i + 1))
                .help("every column of the header row names a variable");
            ok = false;
        } else if RESERVED_COLUMNS.contains(&name.as_str()) {
            cx.error(&header_span, &path, format!("column `{name}` would be a variable, not a check"))
                .help("a CSV holds variables only; put checks in the suite's `[defaults] assert`, or use a JSONL file with an `assert` key");
            ok = false;
        } else if name.starts_with("__") {
            cx.error(&header_span, &path, format!("column `{name}` is reserved"))
                .help("promptfoo's `__expected`-style columns are not read as checks here; put checks in the suite's `[defaults] assert` (or convert with `evalgit import promptfoo`)");
            ok = false;
        } else if columns.contains(&name) {
            cx.error(&header_span, &path, format!("duplicate column `{name}`"));
            ok = false;
        }
        if name == "id" {
            id_col = Some(i);
        }
        columns.push(name);
    }
    if !ok {
        return;
    }
    let mut rows = 0usize;
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(err) => {
                let line = err.position().map(|p| p.line() as usize).unwrap_or(0);
                let span = first_column(file, line.max(1));
                let msg = match err.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!(
                            "row has {len} field{} but the header has {expected_len}",
                            if *len == 1 { "" } else { "s" }
                        )
                    }
                    _ => format!("invalid CSV: {err}"),
                };
                cx.error(&span, &format!("row {}", rows + 1), msg)
                    .help("quote fields that contain commas or line breaks");
                rows += 1;
                continue;
            }
        }
        rows += 1;
        let line = record
            .position()
            .map(|p| p.line() as usize)
            .unwrap_or(rows + 1);
        let span = first_column(file, line);
        let mut id = format!("row-{rows}");
        let mut vars = Vec::with_capacity(columns.len());
        let mut row_ok = true;
        for (i, value) in record.iter().enumerate() {
            if Some(i) == id_col {
                if !value.trim().is_empty() {
                    match check_id(cx, value.trim(), &span, &format!("row {rows}.id")) {
                        Some(v) => id = v,
                        None => row_ok = false,
                    }
                }
            } else if let Some(name) = columns.get(i) {
                vars.push(Entry {
                    key: Cow::Borrowed(name.as_str()),
                    key_span: span.clone(),
                    value: Node {
                        span: span.clone(),
                        kind: NodeKind::Str(Cow::Owned(value.to_string())),
                    },
                });
            }
        }
        if !row_ok {
            continue;
        }
        // A CSV row is a scenario whose only keys are its id and its vars.
        let entries = vec![
            Entry {
                key: Cow::Borrowed("id"),
                key_span: span.clone(),
                value: Node {
                    span: span.clone(),
                    kind: NodeKind::Str(Cow::Owned(id)),
                },
            },
            Entry {
                key: Cow::Borrowed("vars"),
                key_span: span.clone(),
                value: Node {
                    span: span.clone(),
                    kind: NodeKind::Table(vars),
                },
            },
        ];
        sink.read(
            cx,
            &entries,
            &span,
            Kp::S(&format!("row {rows}")),
            IdRule::Required,
        );
    }
    if rows == 0 {
        cx.warning(&header_span, "", "the CSV file has a header but no rows")
            .help("each row after the header is one scenario");
    }
}
