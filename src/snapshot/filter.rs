//! Which snapshots `accept`, `reject` and `review` act on: `--suite S`, `--id ID` and
//! positional glob patterns such as `capitals/*` or `*france*`.

/// Selects scenarios by suite, id and glob. Each list that is non-empty must match (suites
/// OR-ed among themselves, likewise ids and globs); a filter with all lists empty selects
/// everything.
///
/// A glob containing `/` matches `suite/id`; a glob without `/` matches either the suite name
/// or the scenario id, so `evalgit accept capitals` and `evalgit accept france` both do what
/// they say. `*` matches any run of characters (including `/`), `?` exactly one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub suites: Vec<String>,
    pub ids: Vec<String>,
    pub globs: Vec<String>,
}

impl Filter {
    /// The filter that selects everything.
    pub fn all() -> Self {
        Filter::default()
    }

    pub fn new(suites: Vec<String>, ids: Vec<String>, globs: Vec<String>) -> Self {
        Filter { suites, ids, globs }
    }

    pub fn is_all(&self) -> bool {
        self.suites.is_empty() && self.ids.is_empty() && self.globs.is_empty()
    }

    pub fn matches(&self, suite: &str, id: &str) -> bool {
        let suite_ok = self.suites.is_empty() || self.suites.iter().any(|s| s == suite);
        let id_ok = self.ids.is_empty() || self.ids.iter().any(|i| i == id);
        let glob_ok = self.globs.is_empty()
            || self.globs.iter().any(|g| {
                if g.contains('/') {
                    glob_match(g, &format!("{suite}/{id}"))
                } else {
                    glob_match(g, suite) || glob_match(g, id)
                }
            });
        suite_ok && id_ok && glob_ok
    }
}

/// `*` and `?` wildcard matching over characters, in linear time (single backtrack point, the
/// classic greedy algorithm), so a hostile pattern cannot blow up.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Position after the last `*` seen, and the text position it currently absorbs up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi + 1, ti));
            pi += 1;
        } else if let Some((after_star, absorbed)) = star {
            pi = after_star;
            ti = absorbed + 1;
            star = Some((after_star, absorbed + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matching() {
        let cases = [
            ("*", "", true),
            ("*", "anything/at all", true),
            ("", "", true),
            ("", "a", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("capitals/*", "capitals/france", true),
            ("capitals/*", "capitalsx/france", false),
            ("*/france", "capitals/france", true),
            ("*fr*ce", "capitals/france", true),
            ("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
            ("东*", "东京", true),
            ("?", "京", true),
            ("fr", "france", false),
            ("**", "x", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                glob_match(pattern, text),
                expected,
                "{pattern:?} vs {text:?}"
            );
        }
    }

    #[test]
    fn filter_matching() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let cases = [
            (Filter::all(), "capitals", "france", true),
            (
                Filter::new(s(&["capitals"]), vec![], vec![]),
                "capitals",
                "france",
                true,
            ),
            (
                Filter::new(s(&["capitals"]), vec![], vec![]),
                "sentiment",
                "france",
                false,
            ),
            (
                Filter::new(s(&["a", "capitals"]), s(&["france"]), vec![]),
                "capitals",
                "france",
                true,
            ),
            (
                Filter::new(s(&["capitals"]), s(&["spain"]), vec![]),
                "capitals",
                "france",
                false,
            ),
            (
                Filter::new(vec![], vec![], s(&["capitals/*"])),
                "capitals",
                "france",
                true,
            ),
            (
                Filter::new(vec![], vec![], s(&["capitals"])),
                "capitals",
                "france",
                true,
            ),
            (
                Filter::new(vec![], vec![], s(&["fr*"])),
                "capitals",
                "france",
                true,
            ),
            (
                Filter::new(vec![], vec![], s(&["fr*"])),
                "capitals",
                "spain",
                false,
            ),
            (
                Filter::new(vec![], vec![], s(&["x", "sp*"])),
                "capitals",
                "spain",
                true,
            ),
            (
                Filter::new(s(&["other"]), vec![], s(&["sp*"])),
                "capitals",
                "spain",
                false,
            ),
        ];
        for (filter, suite, id, expected) in cases {
            assert_eq!(
                filter.matches(suite, id),
                expected,
                "{filter:?} vs {suite}/{id}"
            );
        }
        assert!(Filter::all().is_all());
    }
}
