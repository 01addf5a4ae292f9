//! What a suite file says about one check: `{ type = "icontains", value = "paris" }`.

use serde::Serialize;

/// Every assertion type, by its name in TOML. A `not-` prefix negates any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AssertKind {
    Equals,
    Contains,
    Icontains,
    ContainsAny,
    ContainsAll,
    StartsWith,
    Regex,
    IsJson,
    ContainsJson,
    JsonSchema,
    JsonPath,
    WordCount,
    Length,
    MaxLatencyMs,
    MaxCost,
    Similar,
    LlmRubric,
    Factuality,
    ClosedQa,
}

impl AssertKind {
    pub const ALL: &'static [AssertKind] = &[
        AssertKind::Equals,
        AssertKind::Contains,
        AssertKind::Icontains,
        AssertKind::ContainsAny,
        AssertKind::ContainsAll,
        AssertKind::StartsWith,
        AssertKind::Regex,
        AssertKind::IsJson,
        AssertKind::ContainsJson,
        AssertKind::JsonSchema,
        AssertKind::JsonPath,
        AssertKind::WordCount,
        AssertKind::Length,
        AssertKind::MaxLatencyMs,
        AssertKind::MaxCost,
        AssertKind::Similar,
        AssertKind::LlmRubric,
        AssertKind::Factuality,
        AssertKind::ClosedQa,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AssertKind::Equals => "equals",
            AssertKind::Contains => "contains",
            AssertKind::Icontains => "icontains",
            AssertKind::ContainsAny => "contains-any",
            AssertKind::ContainsAll => "contains-all",
            AssertKind::StartsWith => "starts-with",
            AssertKind::Regex => "regex",
            AssertKind::IsJson => "is-json",
            AssertKind::ContainsJson => "contains-json",
            AssertKind::JsonSchema => "json-schema",
            AssertKind::JsonPath => "json-path",
            AssertKind::WordCount => "word-count",
            AssertKind::Length => "length",
            AssertKind::MaxLatencyMs => "max-latency-ms",
            AssertKind::MaxCost => "max-cost",
            AssertKind::Similar => "similar",
            AssertKind::LlmRubric => "llm-rubric",
            AssertKind::Factuality => "factuality",
            AssertKind::ClosedQa => "closed-qa",
        }
    }

    pub fn from_name(name: &str) -> Option<AssertKind> {
        AssertKind::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// Checks that need a judge model call.
    pub fn is_model_graded(self) -> bool {
        matches!(
            self,
            AssertKind::LlmRubric | AssertKind::Factuality | AssertKind::ClosedQa
        )
    }
}

/// One assertion as configured. Which optional fields a kind needs is checked when the suite
/// is loaded (`config`), so evaluation can rely on them.
#[derive(Debug, Clone, Serialize)]
pub struct AssertionSpec {
    pub kind: AssertKind,
    /// `type = "not-contains"`.
    pub negate: bool,
    /// The `value` key: a string, a list of strings, a number, a JSON schema, a rubric...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// Weight in the scenario's weighted score (default 1).
    pub weight: f64,
    /// Pass threshold for scored checks (`similar`, model-graded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Bounds for `word-count` and `length`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// `json-path`: dotted path (`a.b.0.c`, optional leading `$.`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `similar`: `levenshtein` (default) or `rouge-l`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Model-graded: judge provider overriding the suite's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// `regex`: compiled once when the suite is loaded.
    #[serde(skip)]
    pub regex: Option<regex::Regex>,
}

impl PartialEq for AssertionSpec {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.negate == other.negate
            && self.value == other.value
            && self.weight == other.weight
            && self.threshold == other.threshold
            && self.min == other.min
            && self.max == other.max
            && self.path == other.path
            && self.metric == other.metric
            && self.provider == other.provider
    }
}

impl AssertionSpec {
    pub fn new(kind: AssertKind) -> Self {
        AssertionSpec {
            kind,
            negate: false,
            value: None,
            weight: 1.0,
            threshold: None,
            min: None,
            max: None,
            path: None,
            metric: None,
            provider: None,
            regex: None,
        }
    }

    /// The name as written in TOML, with its `not-` prefix.
    pub fn type_name(&self) -> String {
        if self.negate {
            format!("not-{}", self.kind.name())
        } else {
            self.kind.name().to_string()
        }
    }
}
