//! Redaction of secrets and personal data in model outputs, applied by the runner to every
//! output right after a call, before it is scored or written anywhere (cache, results file,
//! snapshots, JUnit, comments). Because the stored output is already redacted, a replay scores
//! exactly what the original run scored.
//!
//! Two kinds of redaction:
//! - secrets, always: the literal values of the API keys the project names (`api_key_env` of
//!   every provider) and of the GitHub token, whatever `[redact]` says. A model or an `exec`
//!   app that echoes its key must not put it in the cache or a snapshot.
//! - personal data, as `[redact]` in evalgit.toml asks: emails, phone numbers, card numbers
//!   and the user's own patterns.

use std::borrow::Cow;

use regex::{Captures, Regex};

use crate::config::{RedactPolicy, Settings};

/// What a secret's value becomes.
pub const SECRET_MARK: &str = "[REDACTED:secret]";

/// Shorter values are not treated as secrets: replacing every `1234` or `true` in outputs
/// would mangle them, and no real key is that short.
pub const SECRET_MIN_CHARS: usize = 8;

/// Compiled redaction rules. A secret becomes [`SECRET_MARK`]; each other match becomes
/// `[REDACTED:<kind>]`.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Literal values, longest first, so that a secret containing another is replaced whole.
    secrets: Vec<String>,
    rules: Vec<Rule>,
    /// Digit runs shaped like card numbers (whether or not they pass Luhn), which the phone
    /// rule leaves whole: `4111 1111 1111 1112` is not a phone number followed by `1112`.
    card_like: Option<Regex>,
}

#[derive(Debug, Clone)]
struct Rule {
    kind: Kind,
    re: Regex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Email,
    Card,
    Phone,
    Pattern,
}

impl Kind {
    fn mark(self) -> &'static str {
        match self {
            Kind::Email => "[REDACTED:email]",
            Kind::Card => "[REDACTED:card]",
            Kind::Phone => "[REDACTED:phone]",
            Kind::Pattern => "[REDACTED:pattern]",
        }
    }
}

const EMAIL: &str = r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b";
/// Phone numbers, three shapes: international with a `+` country code (`+1 (555) 123-4567`,
/// `+44 20 7946 0958`, `+15551234567`); an area code in parentheses (`(555) 123-4567`); and
/// groups separated by spaces, dots or dashes (`555-123-4567`, `1-800-555-0199`). A match
/// must also hold 9 to 15 digits and not be part of a longer dotted or dashed run (an IP
/// address, a version) or of a card-like run: see [`is_phone`]. A bare run of digits without
/// `+` (`5551234567`) is not redacted: it is as likely an id as a phone number.
const PHONE: &str = concat!(
    r"\+\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,4}){1,5}\b",
    r"|\(\d{2,4}\)[ .-]?\d{3,4}[ .-]?\d{3,4}\b",
    r"|\b(?:1[ .-])?\d{2,4}[ .-]\d{3,4}[ .-]\d{3,4}\b",
);
const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 9..=15;
/// 13 to 19 digits, optionally grouped by spaces or dashes; checked with Luhn.
const CARD: &str = r"\b(?:\d[ -]?){12,18}\d\b";

impl Redactor {
    /// Compiles the policy. Custom patterns were validated when the configuration loaded;
    /// one that still fails to compile is an error naming it. Cards are matched before
    /// phones, so a card number is never half-redacted as a phone number.
    pub fn new(policy: &RedactPolicy) -> Result<Self, String> {
        let mut rules = Vec::new();
        let builtin = |kind, p: &str| {
            Regex::new(p)
                .map(|re| Rule { kind, re })
                .map_err(|e| e.to_string())
        };
        if policy.emails {
            rules.push(builtin(Kind::Email, EMAIL)?);
        }
        if policy.cards {
            rules.push(builtin(Kind::Card, CARD)?);
        }
        let mut card_like = None;
        if policy.phones {
            rules.push(builtin(Kind::Phone, PHONE)?);
            card_like = Some(Regex::new(CARD).map_err(|e| e.to_string())?);
        }
        for p in &policy.patterns {
            let re = Regex::new(p).map_err(|e| format!("redact pattern `{p}` is invalid: {e}"))?;
            rules.push(Rule {
                kind: Kind::Pattern,
                re,
            });
        }
        Ok(Redactor {
            secrets: Vec::new(),
            rules,
            card_like,
        })
    }

    /// Adds secret values, replaced before any other rule applies (a phone or custom pattern
    /// matching part of a key would otherwise leave the rest of it). Surrounding whitespace is
    /// ignored; values shorter than [`SECRET_MIN_CHARS`] are skipped.
    pub fn with_secrets(mut self, values: impl IntoIterator<Item = String>) -> Self {
        for value in values {
            let value = value.trim();
            if value.chars().count() >= SECRET_MIN_CHARS && !self.secrets.iter().any(|s| s == value)
            {
                self.secrets.push(value.to_string());
            }
        }
        self.secrets
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty() && self.rules.is_empty()
    }

    /// The text with every secret and every match replaced.
    pub fn apply<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out: Cow<'a, str> = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), SECRET_MARK));
            }
        }
        for rule in &self.rules {
            if !rule.re.is_match(&out) {
                continue;
            }
            let replaced = match rule.kind {
                Kind::Card => rule.re.replace_all(&out, |caps: &Captures<'_>| {
                    let m = &caps[0];
                    if luhn(m) {
                        Kind::Card.mark().to_string()
                    } else {
                        m.to_string()
                    }
                }),
                Kind::Phone => {
                    let cards: Vec<(usize, usize)> = self
                        .card_like
                        .iter()
                        .flat_map(|re| re.find_iter(&out))
                        // `+49 30 1234 5678 90` is a phone number, never a card.
                        .filter(|m| !out[..m.start()].ends_with('+'))
                        .map(|m| (m.start(), m.end()))
                        .collect();
                    rule.re
                        .replace_all(&out, |caps: &Captures<'_>| match caps.get(0) {
                            Some(m) if is_phone(&out, m, &cards) => Kind::Phone.mark().to_string(),
                            Some(m) => m.as_str().to_string(),
                            None => String::new(),
                        })
                }
                Kind::Email | Kind::Pattern => rule.re.replace_all(&out, rule.kind.mark()),
            };
            out = Cow::Owned(replaced.into_owned());
        }
        out
    }
}

/// The values of the secrets a run must never write anywhere: the API key of every provider
/// that names one (`api_key_env`), and the GitHub token (`GITHUB_TOKEN`, `GH_TOKEN`), read
/// from the environment now. Unset and empty variables give nothing.
pub fn configured_secrets(settings: &Settings) -> Vec<String> {
    let names = settings
        .providers
        .values()
        .filter_map(|p| p.api_key_env.as_deref())
        .chain(["GITHUB_TOKEN", "GH_TOKEN"]);
    names
        .filter_map(|name| std::env::var(name).ok())
        .filter(|value| !value.trim().is_empty())
        .collect()
}

/// Whether a match of [`PHONE`] in `text` is a phone number: 9 to 15 digits, not inside a
/// card-like run, and not cut out of a longer run of digits joined by dots or dashes
/// (`192.168.100.200`, `1.2.3.4567.890.1234`).
fn is_phone(text: &str, m: regex::Match<'_>, card_like: &[(usize, usize)]) -> bool {
    let digits = m.as_str().chars().filter(char::is_ascii_digit).count();
    if !PHONE_DIGITS.contains(&digits) {
        return false;
    }
    if card_like
        .iter()
        .any(|&(start, end)| start < m.end() && m.start() < end)
    {
        return false;
    }
    let joined = |sep: Option<char>, next: Option<char>| {
        matches!(sep, Some('.' | '-')) && next.is_some_and(|c| c.is_ascii_digit())
    };
    let mut after = text[m.end()..].chars();
    let mut before = text[..m.start()].chars().rev();
    let (b1, b2) = (before.next(), before.next());
    !joined(after.next(), after.next())
        && !joined(b1, b2)
        && !b1.is_some_and(|c| c.is_ascii_digit())
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

    // Regression: `(555) 123-4567`, `+1 (555) 123-4567` and `+15551234567` were missed, and
    // `4111 1111 1111 1112` (a card-like run failing Luhn) came out as
    // `[REDACTED:phone] 1112`.
    #[test]
    fn phones_in_common_shapes_are_redacted_and_card_like_runs_are_left_whole() {
        let phones = policy(false, true, false, &[]);
        let both = policy(false, true, true, &[]);
        let cases = [
            (
                &phones,
                "call (555) 123-4567 now",
                "call [REDACTED:phone] now",
            ),
            (
                &phones,
                "call +1 (555) 123-4567 now",
                "call [REDACTED:phone] now",
            ),
            (
                &phones,
                "call +15551234567 now",
                "call [REDACTED:phone] now",
            ),
            (&phones, "call 555-123-4567.", "call [REDACTED:phone]."),
            (&phones, "call 555.123.4567", "call [REDACTED:phone]"),
            (&phones, "call 1-800-555-0199", "call [REDACTED:phone]"),
            (
                &phones,
                "call +1 415-555-0132 today",
                "call [REDACTED:phone] today",
            ),
            (&phones, "ring +44 20 7946 0958", "ring [REDACTED:phone]"),
            (&phones, "ring +33 1 23 45 67 89", "ring [REDACTED:phone]"),
            (&phones, "ring +49 30 1234 5678 90", "ring [REDACTED:phone]"),
            (&phones, "(555)123-4567", "[REDACTED:phone]"),
            // Card-like runs, valid or not, are not phone numbers.
            (
                &phones,
                "card 4111 1111 1111 1112",
                "card 4111 1111 1111 1112",
            ),
            (
                &phones,
                "card 4111 1111 1111 1111",
                "card 4111 1111 1111 1111",
            ),
            (
                &phones,
                "card 4111-1111-1111-1112",
                "card 4111-1111-1111-1112",
            ),
            (
                &both,
                "card 4111 1111 1111 1112",
                "card 4111 1111 1111 1112",
            ),
            (&both, "card 4111 1111 1111 1111", "card [REDACTED:card]"),
            (
                &both,
                "card 4111 1111 1111 1111 or (555) 123-4567",
                "card [REDACTED:card] or [REDACTED:phone]",
            ),
            // Not phone numbers.
            (&phones, "host 192.168.100.200", "host 192.168.100.200"),
            (&phones, "on 2024-01-15 at 12:30", "on 2024-01-15 at 12:30"),
            (&phones, "order 5551234567", "order 5551234567"),
            (&phones, "order 12345 of 678", "order 12345 of 678"),
            (&phones, "v1.2.3 and 12 345 678", "v1.2.3 and 12 345 678"),
            (&phones, "+12", "+12"),
        ];
        for (p, input, want) in cases {
            assert_eq!(
                Redactor::new(p).expect("compiles").apply(input),
                want,
                "{input}"
            );
        }
    }

    // Regression: an API key a model or an `exec` app echoed landed in the cache, the
    // results, snapshots and JUnit; only provider error messages masked it.
    #[test]
    fn secrets_are_redacted_whatever_the_policy() {
        let key = "sk-test-0123456789abcdef";
        let cases = [
            (
                policy(false, false, false, &[]),
                format!("the key is {key}."),
                "the key is [REDACTED:secret].",
            ),
            (
                policy(false, false, false, &[]),
                format!("{key}{key}"),
                "[REDACTED:secret][REDACTED:secret]",
            ),
            // Before the other rules: a pattern matching part of the key cannot leave the rest.
            (
                policy(true, true, true, &["[0-9]{4}"]),
                format!("k={key}"),
                "k=[REDACTED:secret]",
            ),
            (
                policy(false, false, false, &[]),
                "no key here".to_string(),
                "no key here",
            ),
        ];
        let extra = [
            format!("  {key}\n"),
            "short".to_string(),
            String::new(),
            "ghs_longer_token_xyz".to_string(),
        ];
        for (p, input, want) in cases {
            let r = Redactor::new(&p)
                .expect("compiles")
                .with_secrets(extra.clone());
            assert_eq!(r.apply(&input), want, "{input}");
        }
        let r = Redactor::default().with_secrets(extra.clone());
        assert_eq!(
            r.apply("ghs_longer_token_xyz short"),
            "[REDACTED:secret] short",
            "values under {SECRET_MIN_CHARS} characters are not secrets"
        );
        assert!(!r.is_empty());
        // A secret containing another is replaced whole.
        let r =
            Redactor::default().with_secrets(["abcdefgh".to_string(), "abcdefgh-ijkl".to_string()]);
        assert_eq!(
            r.apply("abcdefgh-ijkl abcdefgh"),
            "[REDACTED:secret] [REDACTED:secret]"
        );
    }

    #[test]
    fn an_empty_policy_borrows() {
        let r = Redactor::new(&RedactPolicy::default()).expect("compiles");
        assert!(r.is_empty());
        assert!(matches!(r.apply("x"), Cow::Borrowed(_)));
    }
}
