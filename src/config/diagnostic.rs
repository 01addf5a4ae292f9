//! Located configuration problems, rendered the way compilers do:
//!
//! ```text
//! error: unknown key `asert` (did you mean `assert`?)
//!   --> evals/refunds.toml:12:7 (scenario[2].asert)
//!    |
//! 12 | asert = [{ type = "contains", value = "refund" }]
//!    | ^^^^^
//! ```

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in one file. `line` and `column` are 1-based; 0 means "the whole file".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file, relative to the project root (or as given by the user).
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Number of characters to underline (at least 1 when a line is known).
    pub width: usize,
    /// Dotted key path inside the file, e.g. `scenario[2].assert[0].type`.
    pub key_path: String,
    pub message: String,
    /// The offending source line, without its newline; a very long line is shown as an
    /// excerpt around the problem, marked with `…` where it was cut.
    pub source_line: Option<String>,
    /// Characters of the line cut before the excerpt in `source_line` (0 when it starts at
    /// the beginning of the line). `column` is always the column in the real line; the caret
    /// is drawn at `column - excerpt_start` (plus the `…`).
    pub excerpt_start: usize,
    /// Context that is not the problem itself, e.g. where the template that failed is.
    pub note: Option<String>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic located by a byte span in `text` (the file's contents).
    pub fn at_span(
        severity: Severity,
        file: impl Into<PathBuf>,
        text: &str,
        span: std::ops::Range<usize>,
        key_path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let start = span.start.min(text.len());
        let before = &text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = text[line_start..start].chars().count() + 1;
        let line_end = text[line_start..]
            .find('\n')
            .map(|i| line_start + i)
            .unwrap_or(text.len());
        let source_line = text[line_start..line_end]
            .trim_end_matches('\r')
            .to_string();
        let end = span.end.min(line_end).max(start);
        let width = text[start..end].chars().count().max(1);
        Diagnostic {
            severity,
            file: file.into(),
            line,
            column,
            width,
            key_path: key_path.into(),
            message: message.into(),
            source_line: Some(source_line),
            excerpt_start: 0,
            note: None,
            help: None,
        }
    }

    /// A diagnostic about a whole file (missing, unreadable).
    pub fn whole_file(
        severity: Severity,
        file: impl Into<PathBuf>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity,
            file: file.into(),
            line: 0,
            column: 0,
            width: 0,
            key_path: String::new(),
            message: message.into(),
            source_line: None,
            excerpt_start: 0,
            note: None,
            help: None,
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The 1-based column of the problem within `source_line`, which differs from `column`
    /// when the line is shown as an excerpt.
    pub fn caret_column(&self) -> usize {
        if self.excerpt_start == 0 {
            self.column
        } else {
            // One more for the `…` that starts the excerpt.
            self.column.saturating_sub(self.excerpt_start) + 1
        }
    }

    pub fn location(&self) -> String {
        let file = crate::error::display_rel(&self.file);
        if self.line == 0 {
            file
        } else {
            format!("{file}:{}:{}", self.line, self.column)
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{sev}: {}", self.message)?;
        // Aligned like rustc: the gutter is as wide as the line number.
        let num = if self.line == 0 {
            String::new()
        } else {
            self.line.to_string()
        };
        let pad = " ".repeat(num.len().max(1));
        if self.key_path.is_empty() {
            writeln!(f, "{pad} --> {}", self.location())?;
        } else {
            writeln!(f, "{pad} --> {} ({})", self.location(), self.key_path)?;
        }
        if let Some(src) = &self.source_line {
            writeln!(f, "{pad} |")?;
            writeln!(f, "{num} | {src}")?;
            let caret = self.caret_column();
            // Wide characters (CJK, emoji) take two columns on a terminal.
            let lead: String = src
                .chars()
                .take(caret.saturating_sub(1))
                .map(|c| match c {
                    '\t' => "\t".to_string(),
                    c => " ".repeat(unicode_width::UnicodeWidthChar::width(c).unwrap_or(0)),
                })
                .collect();
            let underlined: usize = src
                .chars()
                .skip(caret.saturating_sub(1))
                .take(self.width.max(1))
                .map(|c| {
                    unicode_width::UnicodeWidthChar::width(c)
                        .unwrap_or(1)
                        .max(1)
                })
                .sum();
            writeln!(f, "{pad} | {lead}{}", "^".repeat(underlined.max(1)))?;
        }
        if let Some(note) = &self.note {
            writeln!(f, "{pad} = note: {note}")?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "{pad} = help: {help}")?;
        }
        Ok(())
    }
}

/// Every problem found in one pass over the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        let errors = self.errors().count();
        let warnings = self.warnings().count();
        write!(
            f,
            "{errors} error{}, {warnings} warning{}",
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gutter_and_carets_line_up_for_long_line_numbers_and_wide_characters() {
        let text = format!("{}city = \"東京\" # x\n", "\n".repeat(11));
        let start = text.find('"').expect("quote");
        let d = Diagnostic::at_span(
            Severity::Error,
            "evals/a.toml",
            &text,
            start..start + 8,
            "scenario[0].city",
            "bad",
        )
        .with_help("do this");
        let shown = d.to_string();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines[1], "   --> evals/a.toml:12:8 (scenario[0].city)");
        assert_eq!(lines[3], "12 | city = \"東京\" # x");
        // 7 columns before the quote; the quotes take 1 each, each CJK character 2.
        assert_eq!(lines[4], "   |        ^^^^^^");
        assert_eq!(lines[5], "   = help: do this");
    }
}
