//! Assertions: deterministic checks on an output, and model-graded ones through a judge.

mod evaluate;
mod json;
mod judge;
mod score;
mod similarity;
mod spec;

pub use evaluate::{CheckInput, DEFAULT_SIMILARITY_THRESHOLD, evaluate, excerpt, single_line, usd};
pub use json::{extract as extract_json, json_equal, lookup as json_lookup};
pub use judge::{JudgeVerdict, judge_failed, judge_messages, judged_check, parse_judge_reply};
pub use score::{aggregate_samples, score_sample};
pub use similarity::{Metric as SimilarityMetric, levenshtein_similarity, rouge_l};
pub use spec::{AssertKind, AssertionSpec};
