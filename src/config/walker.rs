//! The located value tree the loader walks, and the typed, diagnosing accessors on it.
//!
//! TOML is parsed with spans (`toml::de::DeTable`) and JSONL lines with `serde_json`; both
//! are turned into one [`Node`] tree so that suite, scenario and assertion checks are written
//! once. Every accessor that finds something wrong records a [`Diagnostic`] and returns
//! `None`, so a caller keeps walking and the user sees every problem in one pass.

use std::borrow::Cow;
use std::ops::Range;
use std::path::PathBuf;

use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Diagnostic, Diagnostics, Severity};

/// How many diagnostics one file may produce before the rest are summarised: a generated
/// file with the same mistake on 10,000 lines should not bury the other problems.
const MAX_DIAGNOSTICS_PER_FILE: usize = 100;

/// Longest source line shown in full, in characters.
const MAX_SHOWN_LINE: usize = 120;

/// A file's text with an index of its line starts, so locating a byte offset costs a binary
/// search instead of a scan from the start (which made many errors in a big file quadratic).
#[derive(Debug, Clone)]
pub(crate) struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            path: path.into(),
            text,
            line_starts,
        }
    }

    /// 1-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    /// Byte range of a 1-based line, without its line ending.
    pub fn line_range(&self, line: usize) -> Range<usize> {
        let idx = line.saturating_sub(1).min(self.line_starts.len() - 1);
        let start = self.line_starts[idx];
        let end = self
            .line_starts
            .get(idx + 1)
            .map(|e| e - 1)
            .unwrap_or(self.text.len());
        let end = if end > start && self.text.as_bytes()[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        start..end.max(start)
    }

    /// A diagnostic pointing at `span` (byte offsets into this file's text). A very long
    /// line (a JSONL record) is shown as a window around the span.
    pub fn diagnostic(
        &self,
        severity: Severity,
        span: &Range<usize>,
        key_path: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        let start = floor_char_boundary(&self.text, span.start.min(self.text.len()));
        let line = self.line_of(start);
        let range = self.line_range(line);
        let start = start.clamp(range.start, range.end);
        let end = floor_char_boundary(&self.text, span.end.min(range.end)).max(start);
        let column = self.text[range.start..start].chars().count() + 1;
        let mut width = self.text[start..end].chars().count().max(1);
        let full = &self.text[range];
        let mut excerpt_start = 0;
        let source_line = if full.chars().count() <= MAX_SHOWN_LINE {
            full.to_string()
        } else {
            let skip = column.saturating_sub(41);
            let shown: String = full.chars().skip(skip).take(MAX_SHOWN_LINE).collect();
            let more = full.chars().count() > skip + MAX_SHOWN_LINE;
            let mut out = String::new();
            // The header keeps the real column; only the caret moves into the excerpt.
            let mut caret = column;
            if skip > 0 {
                out.push('…');
                excerpt_start = skip;
                caret = column - skip + 1;
            }
            out.push_str(&shown);
            if more {
                out.push('…');
            }
            width = width
                .min(out.chars().count().saturating_sub(caret - 1))
                .max(1);
            out
        };
        Diagnostic {
            severity,
            file: self.path.clone(),
            line,
            column,
            width,
            key_path: key_path.to_string(),
            message: message.into(),
            source_line: Some(source_line),
            excerpt_start,
            note: None,
            help: None,
        }
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One value with the byte span it was written at.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node<'a> {
    pub span: Range<usize>,
    pub kind: NodeKind<'a>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeKind<'a> {
    /// Borrowed from the file's text where possible: large suites are mostly strings.
    Str(Cow<'a, str>),
    Int(i64),
    /// An integer literal too large for an `i64`, kept as written so a message can quote it
    /// and say the allowed range (it is not a float: it was written without a point).
    BigInt(String),
    Float(f64),
    Bool(bool),
    /// TOML date-times, kept as their text.
    Datetime(String),
    /// JSON only.
    Null,
    Array(Vec<Node<'a>>),
    /// Entries in source order.
    Table(Vec<Entry<'a>>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry<'a> {
    pub key: Cow<'a, str>,
    pub key_span: Range<usize>,
    pub value: Node<'a>,
}

impl Entry<'_> {
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl<'a> Node<'a> {
    /// The value's type as the user would say it, for "expected X, found Y".
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Str(_) => "a string",
            NodeKind::Int(_) | NodeKind::BigInt(_) => "an integer",
            NodeKind::Float(_) => "a float",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Datetime(_) => "a date-time",
            NodeKind::Null => "null",
            NodeKind::Array(_) => "an array",
            NodeKind::Table(_) => "a table",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_table(&self) -> Option<&[Entry<'a>]> {
        match &self.kind {
            NodeKind::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The value as JSON; tables keep their source order (serde_json has `preserve_order`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Str(s) => Value::String(s.to_string()),
            NodeKind::Datetime(s) => Value::String(s.clone()),
            NodeKind::Int(i) => Value::from(*i),
            NodeKind::BigInt(text) => match text.parse::<u64>() {
                Ok(u) => Value::from(u),
                Err(_) => serde_json::Number::from_f64(big_int_value(text))
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
            },
            NodeKind::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Null => Value::Null,
            NodeKind::Array(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Table(entries) => Value::Object(
                entries
                    .iter()
                    .map(|e| (e.key.to_string(), e.value.to_json()))
                    .collect(),
            ),
        }
    }

    /// Converts a parsed TOML value. Table entries are put back in source order (the toml
    /// crate's map is sorted by key).
    pub fn from_toml(value: Spanned<DeValue<'a>>) -> Node<'a> {
        let span = value.span();
        let kind = match value.into_inner() {
            DeValue::String(s) => NodeKind::Str(s),
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => NodeKind::Int(n),
                Err(_) => NodeKind::BigInt(match i.radix() {
                    16 => format!("0x{}", i.as_str()),
                    8 => format!("0o{}", i.as_str()),
                    2 => format!("0b{}", i.as_str()),
                    _ => i.as_str().to_string(),
                }),
            },
            DeValue::Float(f) => NodeKind::Float(f.as_str().parse().unwrap_or(f64::NAN)),
            DeValue::Boolean(b) => NodeKind::Bool(b),
            DeValue::Datetime(d) => NodeKind::Datetime(d.to_string()),
            DeValue::Array(items) => {
                NodeKind::Array(items.into_iter().map(Node::from_toml).collect())
            }
            DeValue::Table(table) => NodeKind::Table(entries_from_toml(table)),
        };
        Node { span, kind }
    }

    /// Converts a JSON value read from one JSONL line; every node carries `span` (the line),
    /// since serde_json does not report where values start.
    pub fn from_json(value: &'a serde_json::Value, span: &Range<usize>) -> Node<'a> {
        use serde_json::Value;
        let kind = match value {
            Value::Null => NodeKind::Null,
            Value::Bool(b) => NodeKind::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => NodeKind::Int(i),
                None if n.is_u64() => NodeKind::BigInt(n.to_string()),
                None => NodeKind::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => NodeKind::Str(Cow::Borrowed(s)),
            Value::Array(items) => {
                NodeKind::Array(items.iter().map(|v| Node::from_json(v, span)).collect())
            }
            Value::Object(map) => NodeKind::Table(
                map.iter()
                    .map(|(k, v)| Entry {
                        key: Cow::Borrowed(k),
                        key_span: span.clone(),
                        value: Node::from_json(v, span),
                    })
                    .collect(),
            ),
        };
        Node {
            span: span.clone(),
            kind,
        }
    }

    /// Converts a JSON value parsed from `text[start..]`, locating every value and key by
    /// scanning the (already valid) JSON text alongside. Where the text and the value
    /// disagree (duplicate keys), the rest of that object or array falls back to the span of
    /// its container.
    pub fn from_json_text(value: &'a serde_json::Value, text: &str, start: usize) -> Node<'a> {
        use serde_json::Value;
        let start = skip_ws(text, start);
        let end = skip_json(text, start).unwrap_or(text.len()).max(start);
        let span = start..end;
        let bytes = text.as_bytes();
        let kind = match value {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut cursor = Some(start + 1);
                for v in items {
                    match cursor {
                        Some(c) => {
                            let node = Node::from_json_text(v, text, c);
                            let after = skip_ws(text, node.span.end);
                            cursor = (bytes.get(after) == Some(&b',')).then_some(after + 1);
                            out.push(node);
                        }
                        None => out.push(Node::from_json(v, &span)),
                    }
                }
                NodeKind::Array(out)
            }
            Value::Object(map) => {
                let mut out = Vec::with_capacity(map.len());
                let mut cursor = Some(start + 1);
                for (k, v) in map {
                    let located = cursor.and_then(|c| {
                        let key_start = skip_ws(text, c);
                        let key_end = skip_json(text, key_start)?;
                        let key: String = serde_json::from_str(&text[key_start..key_end]).ok()?;
                        let colon = skip_ws(text, key_end);
                        (key == *k && bytes.get(colon) == Some(&b':'))
                            .then_some((key_start..key_end, colon + 1))
                    });
                    match located {
                        Some((key_span, value_start)) => {
                            let node = Node::from_json_text(v, text, value_start);
                            let after = skip_ws(text, node.span.end);
                            cursor = (bytes.get(after) == Some(&b',')).then_some(after + 1);
                            out.push(Entry {
                                key: Cow::Borrowed(k),
                                key_span,
                                value: node,
                            });
                        }
                        None => {
                            cursor = None;
                            out.push(Entry {
                                key: Cow::Borrowed(k),
                                key_span: span.clone(),
                                value: Node::from_json(v, &span),
                            });
                        }
                    }
                }
                NodeKind::Table(out)
            }
            // Beyond u64, serde_json reads an integer as a float: the text says what it was.
            Value::Number(n) if n.is_f64() && is_integer_literal(&text[span.clone()]) => {
                NodeKind::BigInt(text[span.clone()].to_string())
            }
            other => Node::from_json(other, &span).kind,
        };
        Node { span, kind }
    }
}

/// `-?[0-9]+`: a JSON number written without a fraction or exponent.
fn is_integer_literal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The value of a [`NodeKind::BigInt`] as a float, for settings that take any number.
fn big_int_value(text: &str) -> f64 {
    let (neg, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (radix, digits) = match rest.get(..2) {
        Some("0x") => (16.0, &rest[2..]),
        Some("0o") => (8.0, &rest[2..]),
        Some("0b") => (2.0, &rest[2..]),
        _ => (10.0, rest),
    };
    let v = digits
        .chars()
        .filter(|c| *c != '_')
        .try_fold(0.0f64, |acc, c| {
            Some(acc * radix + f64::from(c.to_digit(radix as u32)?))
        })
        .unwrap_or(f64::NAN);
    if neg { -v } else { v }
}

fn skip_ws(text: &str, mut i: usize) -> usize {
    let b = text.as_bytes();
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// The end of the JSON value starting at `i`, by a lexical scan (strings, nesting).
fn skip_json(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    match *b.get(i)? {
        b'"' => {
            let mut j = i + 1;
            while j < b.len() {
                match b[j] {
                    b'\\' => j += 2,
                    b'"' => return Some(j + 1),
                    _ => j += 1,
                }
            }
            None
        }
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = skip_json(text, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
            {
                j += 1;
            }
            Some(j)
        }
    }
}

pub(crate) fn entries_from_toml(table: DeTable<'_>) -> Vec<Entry<'_>> {
    let mut entries: Vec<Entry<'_>> = table
        .into_iter()
        .map(|(k, v)| Entry {
            key_span: k.span(),
            key: k.into_inner(),
            value: Node::from_toml(v),
        })
        .collect();
    entries.sort_by_key(|e| e.key_span.start);
    entries
}

/// The entry named `key`, if present (tables are small: a linear scan is the fast path).
pub(crate) fn get<'n, 'a>(entries: &'n [Entry<'a>], key: &str) -> Option<&'n Entry<'a>> {
    entries.iter().find(|e| e.key == key)
}

/// `base.key`, quoting keys that are not bare TOML keys: `prices."gpt-4.1".input`.
pub(crate) fn join(base: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if base.is_empty() {
        key
    } else {
        format!("{base}.{key}")
    }
}

/// `base[i]`.
pub(crate) fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

/// Names people write for a key they mean, beyond simple typos.
const ALIASES: &[(&str, &str)] = &[
    ("asserts", "assert"),
    ("assertion", "assert"),
    ("assertions", "assert"),
    ("checks", "assert"),
    ("expect", "assert"),
    ("expected", "assert"),
    ("ideal", "assert"),
    ("variables", "vars"),
    ("var", "vars"),
    ("scenarios", "scenario"),
    ("tests", "scenario"),
    ("test", "scenario"),
    ("cases", "scenario"),
    ("message", "messages"),
    ("prompts", "prompt"),
    ("template", "prompt"),
    ("name", "id"),
    ("kind", "type"),
    ("providers", "provider"),
    ("repeats", "repeat"),
    ("threshold", "min_pass_rate"),
];

/// The known key closest to `key`: an alias, the same key with `-`/`_` or case swapped, or a
/// small edit distance.
pub(crate) fn did_you_mean<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    if let Some((_, target)) = ALIASES.iter().find(|(alias, _)| *alias == key)
        && let Some(k) = known.iter().find(|k| *k == target)
    {
        return Some(k);
    }
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    if let Some(k) = known.iter().find(|k| norm(k) == norm(key)) {
        return Some(k);
    }
    let limit = (key.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (levenshtein(key, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j + 1] + 1).min(cur[j] + 1).min(prev[j] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Lets a caller attach help to the diagnostic it just recorded (or to nothing, when the
/// file's diagnostic cap dropped it).
pub(crate) struct Help<'a>(Option<&'a mut Diagnostic>);

impl Help<'_> {
    pub fn help(self, help: impl Into<String>) {
        if let Some(d) = self.0 {
            d.help = Some(help.into());
        }
    }
}

/// The diagnostics of one file, with typed accessors that report what they reject.
pub(crate) struct FileCx<'a> {
    pub file: &'a SourceFile,
    pub diags: &'a mut Diagnostics,
    emitted: usize,
    dropped: usize,
}

/// A key path, rendered only when a diagnostic needs it: checking 10,000 valid scenarios
/// formats no path at all.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kp<'a> {
    S(&'a str),
    /// `base.key`
    Sub(&'a Kp<'a>, &'a str),
    /// `base[i]`
    At(&'a Kp<'a>, usize),
}

impl Kp<'_> {
    pub fn render(&self) -> String {
        match self {
            Kp::S(s) => s.to_string(),
            Kp::Sub(base, key) => join(&base.render(), key),
            Kp::At(base, i) => index(&base.render(), *i),
        }
    }
}

impl<'a> From<&'a str> for Kp<'a> {
    fn from(s: &'a str) -> Self {
        Kp::S(s)
    }
}

impl<'a> From<&'a String> for Kp<'a> {
    fn from(s: &'a String) -> Self {
        Kp::S(s)
    }
}

impl<'a> From<&'a Cow<'a, str>> for Kp<'a> {
    fn from(s: &'a Cow<'a, str>) -> Self {
        Kp::S(s)
    }
}

impl<'a> From<&'a Kp<'a>> for Kp<'a> {
    fn from(k: &'a Kp<'a>) -> Self {
        *k
    }
}

impl<'a> FileCx<'a> {
    pub fn new(file: &'a SourceFile, diags: &'a mut Diagnostics) -> Self {
        FileCx {
            file,
            diags,
            emitted: 0,
            dropped: 0,
        }
    }

    pub fn push(&mut self, d: Diagnostic) -> Help<'_> {
        if self.emitted >= MAX_DIAGNOSTICS_PER_FILE {
            if d.severity == Severity::Error {
                self.dropped += 1;
            }
            return Help(None);
        }
        self.emitted += 1;
        self.diags.push(d);
        Help(self.diags.0.last_mut())
    }

    pub fn error<'k>(
        &mut self,
        span: &Range<usize>,
        key_path: impl Into<Kp<'k>>,
        message: impl Into<String>,
    ) -> Help<'_> {
        let d = self
            .file
            .diagnostic(Severity::Error, span, &key_path.into().render(), message);
        self.push(d)
    }

    pub fn warning<'k>(
        &mut self,
        span: &Range<usize>,
        key_path: impl Into<Kp<'k>>,
        message: impl Into<String>,
    ) -> Help<'_> {
        let d = self
            .file
            .diagnostic(Severity::Warning, span, &key_path.into().render(), message);
        self.push(d)
    }

    /// Records a summary of the diagnostics the cap dropped. Call once, when the file is done.
    pub fn finish(self) {
        if self.dropped > 0 {
            let d = Diagnostic::whole_file(
                Severity::Error,
                self.file.path.clone(),
                format!(
                    "{} more error{} in this file not shown",
                    self.dropped,
                    if self.dropped == 1 { "" } else { "s" }
                ),
            )
            .with_help("fix the errors above and run `evalgit validate` again");
            self.diags.push(d);
        }
    }

    fn wrong_type(&mut self, node: &Node, key_path: Kp<'_>, expected: &str) {
        let path = key_path.render();
        let key = leaf(&path);
        let msg = format!("`{key}` must be {expected}, found {}", node.type_name());
        let help = match expected {
            "a string" => format!("quote the value: `{key} = \"...\"`"),
            "an integer" => format!("write a whole number without quotes, e.g. `{key} = 3`"),
            "a number" => format!("write a number without quotes, e.g. `{key} = 0.5`"),
            "a table" => format!("write `{key} = {{ name = \"value\" }}` or a `[...]` section"),
            "an array" => format!("write `{key} = [ ... ]`"),
            e if e.starts_with("a boolean") => {
                format!("write `{key} = true` or `{key} = false`, without quotes")
            }
            _ => format!("write `{key} = [\"...\"]`"),
        };
        self.error(&node.span, &path, msg).help(help);
    }

    pub fn str<'n, 'k>(&mut self, node: &'n Node, key_path: impl Into<Kp<'k>>) -> Option<&'n str> {
        match &node.kind {
            NodeKind::Str(s) => Some(s),
            _ => {
                self.wrong_type(node, key_path.into(), "a string");
                None
            }
        }
    }

    /// A string that must not be empty (names, ids, paths).
    pub fn non_empty_str<'n, 'k>(
        &mut self,
        node: &'n Node,
        key_path: impl Into<Kp<'k>>,
    ) -> Option<&'n str> {
        let key_path = key_path.into();
        let s = self.str(node, key_path)?;
        if s.trim().is_empty() {
            let path = key_path.render();
            self.error(
                &node.span,
                &path,
                format!("`{}` must not be empty", leaf(&path)),
            );
            return None;
        }
        Some(s)
    }

    pub fn bool<'k>(&mut self, node: &Node, key_path: impl Into<Kp<'k>>) -> Option<bool> {
        match node.kind {
            NodeKind::Bool(b) => Some(b),
            _ => {
                self.wrong_type(node, key_path.into(), "a boolean (true or false)");
                None
            }
        }
    }

    /// An integer or a float, finite.
    pub fn number<'k>(&mut self, node: &Node, key_path: impl Into<Kp<'k>>) -> Option<f64> {
        let finite = match &node.kind {
            NodeKind::Int(i) => return Some(*i as f64),
            NodeKind::Float(f) => Some(*f).filter(|f| f.is_finite()),
            NodeKind::BigInt(text) => Some(big_int_value(text)).filter(|f| f.is_finite()),
            _ => {
                self.wrong_type(node, key_path.into(), "a number");
                return None;
            }
        };
        if finite.is_none() {
            let path = key_path.into().render();
            self.error(
                &node.span,
                &path,
                format!("`{}` must be a finite number", leaf(&path)),
            );
        }
        finite
    }

    pub fn int<'k>(&mut self, node: &Node, key_path: impl Into<Kp<'k>>) -> Option<i64> {
        self.int_in(node, key_path, i64::MIN, i64::MAX)
    }

    /// An integer within `lo..=hi`. Out of range, the message says the range (or only the
    /// lower bound, when the upper one is just the type's limit and the value is too small).
    pub fn int_in<'k>(
        &mut self,
        node: &Node,
        key_path: impl Into<Kp<'k>>,
        lo: i64,
        hi: i64,
    ) -> Option<i64> {
        let key_path = key_path.into();
        let (found, too_small) = match &node.kind {
            NodeKind::Int(i) if (lo..=hi).contains(i) => return Some(*i),
            NodeKind::Int(i) => (i.to_string(), *i < lo),
            NodeKind::BigInt(text) => (text.clone(), text.starts_with('-')),
            _ => {
                self.wrong_type(node, key_path, "an integer");
                return None;
            }
        };
        let path = key_path.render();
        let key = leaf(&path);
        let only_a_minimum = lo != i64::MIN && (hi == i64::MAX || hi == i64::from(u32::MAX));
        let msg = if too_small && only_a_minimum {
            format!("`{key}` must be an integer of at least {lo}, found {found}")
        } else {
            format!("`{key}` must be an integer from {lo} to {hi}, found {found}")
        };
        self.error(&node.span, &path, msg);
        None
    }

    /// A number within `lo..=hi`; `what` describes the range for the message.
    pub fn number_in<'k>(
        &mut self,
        node: &Node,
        key_path: impl Into<Kp<'k>>,
        lo: f64,
        hi: f64,
        what: &str,
    ) -> Option<f64> {
        let key_path = key_path.into();
        let n = self.number(node, key_path)?;
        if n < lo || n > hi {
            let path = key_path.render();
            self.error(
                &node.span,
                &path,
                format!("`{}` must be {what}, found {n}", leaf(&path)),
            );
            return None;
        }
        Some(n)
    }

    /// A fraction `0..=1` (pass rates, scores, thresholds).
    pub fn fraction<'k>(&mut self, node: &Node, key_path: impl Into<Kp<'k>>) -> Option<f64> {
        let key_path = key_path.into();
        let n = self.number(node, key_path)?;
        if !(0.0..=1.0).contains(&n) {
            let path = key_path.render();
            self.error(
                &node.span,
                &path,
                format!("`{}` must be between 0 and 1, found {n}", leaf(&path)),
            )
            .help("write a fraction: 0.8 means 80%");
            return None;
        }
        Some(n)
    }

    pub fn non_negative<'k>(&mut self, node: &Node, key_path: impl Into<Kp<'k>>) -> Option<f64> {
        self.number_in(node, key_path, 0.0, f64::INFINITY, "zero or more")
    }

    /// An integer `>= min` that fits `u32`.
    pub fn count<'k>(&mut self, node: &Node, key_path: impl Into<Kp<'k>>, min: u32) -> Option<u32> {
        self.count_in(node, key_path, min, u32::MAX)
    }

    /// An integer within `min..=max`.
    pub fn count_in<'k>(
        &mut self,
        node: &Node,
        key_path: impl Into<Kp<'k>>,
        min: u32,
        max: u32,
    ) -> Option<u32> {
        let n = self.int_in(node, key_path, i64::from(min), i64::from(max))?;
        u32::try_from(n).ok()
    }

    pub fn table<'n, 'v, 'k>(
        &mut self,
        node: &'n Node<'v>,
        key_path: impl Into<Kp<'k>>,
    ) -> Option<&'n [Entry<'v>]> {
        match &node.kind {
            NodeKind::Table(t) => Some(t),
            _ => {
                self.wrong_type(node, key_path.into(), "a table");
                None
            }
        }
    }

    pub fn array<'n, 'v, 'k>(
        &mut self,
        node: &'n Node<'v>,
        key_path: impl Into<Kp<'k>>,
    ) -> Option<&'n [Node<'v>]> {
        match &node.kind {
            NodeKind::Array(items) => Some(items),
            _ => {
                self.wrong_type(node, key_path.into(), "an array");
                None
            }
        }
    }

    /// A string or an array of strings.
    pub fn string_list<'k>(
        &mut self,
        node: &Node,
        key_path: impl Into<Kp<'k>>,
    ) -> Option<Vec<String>> {
        let key_path = key_path.into();
        match &node.kind {
            NodeKind::Str(s) => Some(vec![s.to_string()]),
            NodeKind::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match &item.kind {
                        NodeKind::Str(s) => out.push(s.to_string()),
                        _ => {
                            ok = false;
                            let path = key_path.render();
                            let msg = format!(
                                "`{}` must hold only strings, found {}",
                                leaf(&path),
                                item.type_name()
                            );
                            self.error(&item.span, &index(&path, i), msg);
                        }
                    }
                }
                ok.then_some(out)
            }
            _ => {
                self.wrong_type(node, key_path, "a string or an array of strings");
                None
            }
        }
    }

    /// Reports every key of `entries` not in `known`, with a did-you-mean.
    pub fn check_keys<'k>(&mut self, entries: &[Entry], known: &[&str], base: impl Into<Kp<'k>>) {
        let base = base.into();
        for e in entries {
            if known.contains(&e.key()) {
                continue;
            }
            self.unknown_key(e, known, base);
        }
    }

    pub fn unknown_key<'k>(&mut self, e: &Entry, known: &[&str], base: impl Into<Kp<'k>>) {
        let path = join(&base.into().render(), &e.key);
        match did_you_mean(&e.key, known) {
            Some(s) => {
                self.error(
                    &e.key_span,
                    &path,
                    format!("unknown key `{}` (did you mean `{s}`?)", e.key),
                );
            }
            None => {
                let list = known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.error(&e.key_span, &path, format!("unknown key `{}`", e.key))
                    .help(format!("known keys here: {list}"));
            }
        }
    }
}

/// The last segment of a key path, for messages: `scenario[2].threshold` -> `threshold`.
pub(crate) fn leaf(key_path: &str) -> &str {
    let last = key_path.rsplit('.').next().unwrap_or(key_path);
    let last = last.split('[').next().unwrap_or(last);
    if last.is_empty() {
        key_path
    } else {
        last.trim_matches('"')
    }
}

/// Parses a TOML file into its top-level entries, or records its syntax errors (all of them)
/// and returns `None`.
pub(crate) fn parse_toml<'t>(
    file: &'t SourceFile,
    diags: &mut Diagnostics,
) -> Option<(Range<usize>, Vec<Entry<'t>>)> {
    let (table, errors) = DeTable::parse_recoverable(&file.text);
    if errors.is_empty() {
        let span = table.span();
        return Some((span, entries_from_toml(table.into_inner())));
    }
    let mut cx = FileCx::new(file, diags);
    // The parser recovers and goes on, but errors after the first on a line are usually
    // echoes of it: keep one per line, in file order.
    let mut errors: Vec<(Range<usize>, String)> = errors
        .iter()
        .map(|e| (e.span().unwrap_or(0..0), e.message().trim_end().to_string()))
        .collect();
    errors.sort_by_key(|(span, _)| span.start);
    let mut last_line = 0;
    for (span, message) in errors {
        let line = file.line_of(span.start);
        if line == last_line {
            continue;
        }
        last_line = line;
        let e = message;
        cx.error(&span, "", format!("invalid TOML: {e}"))
            .help("fix the syntax; see https://toml.io");
    }
    cx.finish();
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_cases() {
        let known = ["assert", "vars", "id", "threshold", "min_pass_rate"];
        let cases = [
            ("asert", Some("assert")),
            ("asserts", Some("assert")),
            ("assertions", Some("assert")),
            ("var", Some("vars")),
            ("min-pass-rate", Some("min_pass_rate")),
            ("treshold", Some("threshold")),
            ("zzzzzz", None),
        ];
        for (key, want) in cases {
            assert_eq!(did_you_mean(key, &known), want, "{key}");
        }
    }

    #[test]
    fn locates_spans_by_line_and_column() {
        let f = SourceFile::new("a.toml", "x = 1\r\nyy = \"é\" # c\nz = 3");
        let start = f.text.find("\"é\"").unwrap_or(0);
        let d = f.diagnostic(Severity::Error, &(start..start + 4), "yy", "m");
        assert_eq!((d.line, d.column, d.width), (2, 6, 3));
        assert_eq!(d.source_line.as_deref(), Some("yy = \"é\" # c"));
        let d = f.diagnostic(Severity::Error, &(0..5), "x", "m");
        assert_eq!(d.source_line.as_deref(), Some("x = 1"));
        let end = f.text.len();
        let d = f.diagnostic(Severity::Error, &(end..end), "z", "m");
        assert_eq!((d.line, d.column), (3, 6));
    }

    #[test]
    fn json_values_are_located_in_their_line() {
        let text = "x\n{\"id\": \"a\", \"vars\": {\"q\": \"say \\\"hi\\\"\"}, \"assert\": [{\"type\": \"contians\"}, 2]}\n";
        let start = 2;
        let end = text.len() - 1;
        let value: serde_json::Value = serde_json::from_str(&text[start..end]).unwrap_or_default();
        let node = Node::from_json_text(&value, text, start);
        assert_eq!(node.span, start..end);
        let Some(entries) = node.as_table() else {
            panic!("not a table")
        };
        let at = |r: &Range<usize>| &text[r.clone()];
        assert_eq!(
            entries.iter().map(|e| at(&e.key_span)).collect::<Vec<_>>(),
            ["\"id\"", "\"vars\"", "\"assert\""]
        );
        assert_eq!(at(&entries[1].value.span), "{\"q\": \"say \\\"hi\\\"\"}");
        let NodeKind::Array(items) = &entries[2].value.kind else {
            panic!("not an array")
        };
        let Some(t) = items[0].as_table() else {
            panic!("not a table")
        };
        assert_eq!(at(&t[0].value.span), "\"contians\"");
        assert_eq!(at(&items[1].span), "2");
    }

    #[test]
    fn long_lines_are_shown_as_a_window() {
        let line = format!("{}KEY{}", "a".repeat(200), "b".repeat(200));
        let f = SourceFile::new("x.jsonl", line.clone());
        let d = f.diagnostic(Severity::Error, &(200..203), "k", "m");
        let shown = d.source_line.clone().unwrap_or_default();
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        // Regression: the header showed the column within the excerpt (42), not the real one.
        assert_eq!(d.column, 201);
        let at: String = shown
            .chars()
            .skip(d.caret_column() - 1)
            .take(d.width)
            .collect();
        assert_eq!(at, "KEY");
        let rendered = d.to_string();
        assert!(rendered.contains("x.jsonl:1:201 (k)"), "{rendered}");
        let caret_line = rendered.lines().nth(4).unwrap_or_default();
        assert_eq!(caret_line.find('^'), Some(4 + 41), "{rendered}");
        let d = f.diagnostic(Severity::Error, &(0..1), "k", "m");
        assert_eq!(
            (d.column, d.source_line.map(|s| s.starts_with('a'))),
            (1, Some(true))
        );
    }

    // Regression: 99999999999999999999 was "a float", so the message could not say the
    // range an integer setting allows.
    #[test]
    fn integers_beyond_i64_stay_integers() {
        let text = r#"{"a": 18446744073709551615, "b": 99999999999999999999, "c": 1e20, "d": -5}"#;
        let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let node = Node::from_json_text(&value, text, 0);
        let kinds: Vec<NodeKind> = node
            .as_table()
            .unwrap_or_default()
            .iter()
            .map(|e| e.value.kind.clone())
            .collect();
        assert_eq!(
            kinds,
            [
                NodeKind::BigInt("18446744073709551615".into()),
                NodeKind::BigInt("99999999999999999999".into()),
                NodeKind::Float(1e20),
                NodeKind::Int(-5),
            ]
        );
        let f = SourceFile::new(
            "a.toml",
            "a = 99999999999999999999\nc = 0xFFFFFFFFFFFFFFFFFF\n",
        );
        let mut diags = Diagnostics::default();
        let (_, entries) = parse_toml(&f, &mut diags).unwrap_or_default();
        let kinds: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| (e.key(), e.value.type_name()))
            .collect();
        assert_eq!(
            (kinds, diags.is_empty()),
            (vec![("a", "an integer"), ("c", "an integer")], true),
        );
        assert_eq!(big_int_value("0xFF"), 255.0);
        assert_eq!(big_int_value("-1_000"), -1000.0);
    }

    #[test]
    fn join_quotes_non_bare_keys() {
        assert_eq!(join("prices", "gpt-4.1"), "prices.\"gpt-4.1\"");
        assert_eq!(join("", "gate"), "gate");
        assert_eq!(leaf("scenario[2].assert[0].type"), "type");
        assert_eq!(leaf("scenario[2]"), "scenario");
    }
}
