//! Making model output safe to embed in XML and Markdown.
//!
//! A model can answer anything: terminal colour codes, a BEL, a NUL, `]]>`, `<script>`. The
//! reports that carry its output (JUnit XML, the PR comment, the job summary) must stay
//! well-formed for every answer, and keep every legal character (CJK, emoji) as it was, so a
//! reviewer reads what the model said.

use std::borrow::Cow;

/// Removes ANSI escape sequences: CSI (`ESC [ ... final`, also the one-byte C1 CSI `U+009B`),
/// OSC (`ESC ] ... BEL` or `ESC ] ... ESC \`), and two-character escapes (`ESC c`, `ESC (`
/// with its designator). Colour codes carry no meaning in a report and break XML.
pub fn strip_ansi(s: &str) -> Cow<'_, str> {
    if !s.contains(['\u{1b}', '\u{9b}']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek().copied() {
                Some('[') => {
                    chars.next();
                    skip_csi(&mut chars);
                }
                Some(']') => {
                    chars.next();
                    skip_osc(&mut chars);
                }
                // Character-set designations take one more character: `ESC ( B`.
                Some('(' | ')' | '*' | '+' | '-' | '.' | '/' | '#' | '%') => {
                    chars.next();
                    chars.next();
                }
                Some(c) if ('@'..='~').contains(&c) => {
                    chars.next();
                }
                // A lone ESC (end of text, or before a character that starts no sequence):
                // drop only the ESC.
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Skips the parameters and the final byte of a CSI sequence (final byte `@`..=`~`).
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('@'..='~').contains(&c) {
            return;
        }
        // Parameter and intermediate bytes are ASCII 0x20..=0x3F; anything else means the
        // sequence was cut short: stop without eating real text.
        if !(' '..='?').contains(&c) {
            return;
        }
    }
}

/// Skips an OSC string up to its terminator (BEL or `ESC \`).
fn skip_osc(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

/// Whether XML 1.0 allows `c` in a document (`Char` production), and it is not a C1 control,
/// which XML allows but which no viewer shows.
fn xml_keeps(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r'
        | '\u{20}'..='\u{7e}'
        | '\u{a0}'..='\u{d7ff}'
        | '\u{e000}'..='\u{fffd}'
        | '\u{10000}'..='\u{10ffff}')
}

/// Text that every XML 1.0 parser accepts, keeping every character it can.
///
/// ANSI escape sequences are removed; every other character XML forbids (C0 controls but
/// tab, newline and carriage return; U+FFFE, U+FFFF) and the invisible C1 controls become a
/// visible `\u{..}` escape, so a NUL or BEL in an output is still seen by the reviewer.
/// CJK, emoji and U+FFFD (what a lone surrogate decodes to) are kept. Markup characters
/// (`<`, `&`, `]]>`) are left for the writer to escape.
pub fn xml_safe(s: &str) -> String {
    let stripped = strip_ansi(s);
    let mut out = String::with_capacity(stripped.len());
    for c in stripped.chars() {
        if xml_keeps(c) {
            out.push(c);
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    out
}

/// Escapes XML character data (element text). `>` is escaped too so `]]>` can never appear.
pub fn escape_xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // A raw CR would be normalized to LF by the parser; keep it as written.
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes an attribute value for double quotes. Tab, newline and carriage return become
/// character references, because a parser normalizes raw ones in attributes to spaces.
pub fn escape_xml_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_ansi_removes_escape_sequences_and_keeps_text() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("\u{1b}[31mred\u{1b}[0m", "red"),
            ("\u{1b}[1;38;5;196mbold\u{1b}[m!", "bold!"),
            ("\u{1b}]0;title\u{7}after", "after"),
            ("\u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{1b}\\", "link"),
            ("\u{1b}(Bascii", "ascii"),
            ("\u{1b}cclear", "clear"),
            ("\u{9b}2Jcleared", "cleared"),
            ("lone esc\u{1b}", "lone esc"),
            ("東京 🗼", "東京 🗼"),
        ];
        for (input, want) in cases {
            assert_eq!(strip_ansi(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn xml_safe_escapes_forbidden_characters_visibly() {
        let cases: &[(&str, &str)] = &[
            ("ok\tline\nnext\r", "ok\tline\nnext\r"),
            ("bell\u{7}", "bell\\u{7}"),
            ("nul\u{0}end", "nul\\u{0}end"),
            ("\u{fffe}\u{ffff}", "\\u{fffe}\\u{ffff}"),
            ("c1\u{85}", "c1\\u{85}"),
            ("del\u{7f}", "del\\u{7f}"),
            ("replacement \u{fffd} kept", "replacement \u{fffd} kept"),
            ("\u{1b}[32m東京\u{1b}[0m 🎌", "東京 🎌"),
            ("<a>&]]>", "<a>&]]>"),
        ];
        for (input, want) in cases {
            assert_eq!(xml_safe(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn escapes_make_markup_inert() {
        assert_eq!(escape_xml_text("a]]>b<c&d\r"), "a]]&gt;b&lt;c&amp;d&#13;");
        assert_eq!(
            escape_xml_attr("<\"x\" & 'y'>\n\t"),
            "&lt;&quot;x&quot; &amp; &apos;y&apos;&gt;&#10;&#9;"
        );
    }
}
