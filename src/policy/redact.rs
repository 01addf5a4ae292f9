//! Redaction of personal data in model outputs (`[redact]` in evalgit.toml), applied by the
//! runner to every output right after a call, before it is scored or written anywhere
//! (cache, results file, snapshots, JUnit, comments). Because the stored output is already
//! redacted, a replay scores exactly what the original run scored.

use std::borrow::Cow;

use regex::Regex;

use crate::config::RedactPolicy;

/// Compiled redaction rules. Each match becomes `[REDACTED:<kind>]`.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    rules: Vec<(String, Regex)>,
}

const EMAIL: &str = r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b";
/// International or North-American style numbers with at least 9 digits.
const PHONE: &str =
    r"(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{2,4}[\s.-]\d{3,4}[\s.-]\d{3,4}\b";
/// 13 to 19 digits, optionally grouped by spaces or dashes; checked with Luhn.
const CARD: &str = r"\b(?:\d[ -]?){12,18}\d\b";

impl Redactor {
    /// Compiles the policy. Custom patterns were validated when the configuration loaded;
    /// one that still fails to compile is an error naming it.
    pub fn new(policy: &RedactPolicy) -> Result<Self, String> {
        let mut rules = Vec::new();
        let builtin = |p: &str| Regex::new(p).map_err(|e| e.to_string());
        if policy.emails {
            rules.push(("email".to_string(), builtin(EMAIL)?));
        }
        if policy.cards {
            rules.push(("card".to_string(), builtin(CARD)?));
        }
        if policy.phones {
            rules.push(("phone".to_string(), builtin(PHONE)?));
        }
        for p in &policy.patterns {
            let re = Regex::new(p).map_err(|e| format!("redact pattern `{p}` is invalid: {e}"))?;
            rules.push(("pattern".to_string(), re));
        }
        Ok(Redactor { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The text with every match replaced.
    pub fn apply<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out: Cow<'a, str> = Cow::Borrowed(text);
        for (kind, re) in &self.rules {
            if !re.is_match(&out) {
                continue;
            }
            let replaced = re.replace_all(&out, |caps: &regex::Captures<'_>| {
                let m = &caps[0];
                if kind == "card" && !luhn(m) {
                    m.to_string()
                } else {
                    format!("[REDACTED:{kind}]")
                }
            });
            out = Cow::Owned(replaced.into_owned());
        }
        out
    }
}

fn luhn(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(emails: bool, phones: bool, cards: bool, patterns: &[&str]) -> RedactPolicy {
        RedactPolicy {
            emails,
            phones,
            cards,
            patterns: patterns.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn redacts_what_the_policy_names_and_nothing_else() {
        let cases = [
            (
                policy(true, false, false, &[]),
                "mail bob@example.com now",
                "mail [REDACTED:email] now",
            ),
            (
                policy(false, false, false, &[]),
                "mail bob@example.com now",
                "mail bob@example.com now",
            ),
            (
                policy(false, true, false, &[]),
                "call +1 415-555-0132 today",
                "call [REDACTED:phone] today",
            ),
            (
                policy(false, false, true, &[]),
                "card 4111 1111 1111 1111 ok",
                "card [REDACTED:card] ok",
            ),
            // Not a valid card number (Luhn fails): left alone.
            (
                policy(false, false, true, &[]),
                "order 1234 5678 9012 3456",
                "order 1234 5678 9012 3456",
            ),
            (
                policy(false, false, false, &["SECRET[0-9]+"]),
                "key SECRET42.",
                "key [REDACTED:pattern].",
            ),
            (
                policy(true, false, false, &[]),
                "東京 a@b.io 🎉",
                "東京 [REDACTED:email] 🎉",
            ),
        ];
        for (p, input, want) in cases {
            assert_eq!(
                Redactor::new(&p).expect("compiles").apply(input),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn an_empty_policy_borrows() {
        let r = Redactor::new(&RedactPolicy::default()).expect("compiles");
        assert!(r.is_empty());
        assert!(matches!(r.apply("x"), Cow::Borrowed(_)));
    }
}
