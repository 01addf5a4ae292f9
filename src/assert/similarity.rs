//! Text similarity for the `similar` check: normalised edit distance and ROUGE-L, both in
//! 0..=1 where 1 means identical.

/// Which similarity `similar` computes (`metric = "levenshtein"` or `"rouge-l"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Levenshtein,
    RougeL,
}

impl Metric {
    pub fn from_name(name: Option<&str>) -> Option<Metric> {
        match name.map(str::trim) {
            None | Some("levenshtein") | Some("edit-distance") => Some(Metric::Levenshtein),
            Some("rouge-l") | Some("rouge_l") | Some("rougel") => Some(Metric::RougeL),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::Levenshtein => "levenshtein",
            Metric::RougeL => "rouge-l",
        }
    }

    pub fn similarity(self, a: &str, b: &str) -> f64 {
        match self {
            Metric::Levenshtein => levenshtein_similarity(a, b),
            Metric::RougeL => rouge_l(a, b),
        }
    }
}

/// `1 - distance / max(len)`, over Unicode scalar values of the trimmed texts, so the score
/// does not depend on how long the texts are. Two empty texts are identical (1).
pub fn levenshtein_similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.trim().chars().collect();
    let b: Vec<char> = b.trim().chars().collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    1.0 - levenshtein(&a, &b) as f64 / longest as f64
}

/// Edit distance (insert, delete, substitute, each cost 1), two rows of memory.
fn levenshtein(a: &[char], b: &[char]) -> usize {
    if a.is_empty() {
        return b.len();
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// ROUGE-L F1: the longest common subsequence of lowercased whitespace-separated tokens,
/// `F = 2PR / (P + R)` with `P = lcs / len(candidate)`, `R = lcs / len(reference)`.
/// Punctuation at the edges of a token is dropped (`Paris.` matches `paris`).
pub fn rouge_l(candidate: &str, reference: &str) -> f64 {
    let c = tokens(candidate);
    let r = tokens(reference);
    if c.is_empty() && r.is_empty() {
        return 1.0;
    }
    if c.is_empty() || r.is_empty() {
        return 0.0;
    }
    let lcs = lcs_len(&c, &r);
    if lcs == 0 {
        return 0.0;
    }
    let p = lcs as f64 / c.len() as f64;
    let rec = lcs as f64 / r.len() as f64;
    2.0 * p * rec / (p + rec)
}

fn tokens(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|t| {
            t.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

fn lcs_len(a: &[String], b: &[String]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn levenshtein_similarity_hand_values() {
        let cases = [
            ("kitten", "sitting", 1.0 - 3.0 / 7.0),
            ("abc", "abc", 1.0),
            ("", "", 1.0),
            ("abc", "", 0.0),
            ("  abc\n", "abc", 1.0),
            ("héllo", "hello", 0.8),
        ];
        for (a, b, want) in cases {
            assert!(close(levenshtein_similarity(a, b), want), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn rouge_l_hand_values() {
        // lcs("the cat sat", "the cat was here") = 2: P = 2/3, R = 2/4, F = 4/7.
        assert!(close(rouge_l("the cat sat", "the cat was here"), 4.0 / 7.0));
        assert!(close(rouge_l("Paris.", "paris"), 1.0));
        assert!(close(rouge_l("", ""), 1.0));
        assert!(close(rouge_l("a", ""), 0.0));
        assert!(close(rouge_l("x y", "a b"), 0.0));
    }

    #[test]
    fn metric_names() {
        assert_eq!(Metric::from_name(None), Some(Metric::Levenshtein));
        assert_eq!(Metric::from_name(Some("rouge-l")), Some(Metric::RougeL));
        assert_eq!(Metric::from_name(Some("bleu")), None);
    }
}
