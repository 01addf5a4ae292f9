//! `evalgit.toml`: providers, prices, budget, gate and redaction policy, after profiles and
//! `EVALGIT_*` environment overrides have been applied.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Settings {
    pub providers: BTreeMap<String, ProviderConfig>,
    /// `[prices."model"]`, USD per million tokens; consulted before the built-in table.
    pub prices: BTreeMap<String, Price>,
    pub budget: BudgetPolicy,
    pub gate: GatePolicy,
    /// Default judge provider for model-graded assertions (`judge = "name"`).
    pub judge: Option<String>,
    /// Directory of suites, relative to the root. Default `evals`.
    pub evals_dir: String,
    /// Directory of accepted snapshots, relative to the root. Default `snapshots`.
    pub snapshots_dir: String,
    /// The profile that was applied, if any.
    pub profile: Option<String>,
    pub redact: RedactPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Openai,
    Anthropic,
    Http,
    Exec,
}

impl ProviderKind {
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Http => "http",
            ProviderKind::Exec => "exec",
        }
    }
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "openai" => ProviderKind::Openai,
            "anthropic" => ProviderKind::Anthropic,
            "http" => ProviderKind::Http,
            "exec" => ProviderKind::Exec,
            _ => return None,
        })
    }
}

/// One named provider (`[providers.NAME]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// Name of the environment variable that holds the key. The key itself is read only
    /// when a request is made and is never stored in any config value, log or output.
    pub api_key_env: Option<String>,
    pub params: SamplingParams,
    pub max_concurrency: usize,
    pub requests_per_minute: Option<u32>,
    pub timeout_secs: f64,
    pub max_retries: u32,
    /// Extra HTTP headers (values may reference `{{ env.NAME }}`? no: literal values only).
    pub headers: BTreeMap<String, String>,
    /// `http` kind: the JSON request body, a template whose strings may use `{{ prompt }}`,
    /// `{{ messages }}` (JSON) and scenario variables.
    pub body: Option<serde_json::Value>,
    /// `http` kind: dotted path of the answer in the response JSON, e.g. `choices.0.text`.
    pub response_path: Option<String>,
    /// `http` kind: dotted paths of token counts in the response, if it reports them.
    pub usage_input_path: Option<String>,
    pub usage_output_path: Option<String>,
    /// `exec` kind: the command and its arguments; the prompt goes to stdin.
    pub command: Vec<String>,
}

impl ProviderConfig {
    pub fn new(name: impl Into<String>, kind: ProviderKind) -> Self {
        ProviderConfig {
            name: name.into(),
            kind,
            model: None,
            base_url: None,
            api_key_env: None,
            params: SamplingParams::default(),
            max_concurrency: 4,
            requests_per_minute: None,
            timeout_secs: 60.0,
            max_retries: 3,
            headers: BTreeMap::new(),
            body: None,
            response_path: None,
            usage_input_path: None,
            usage_output_path: None,
            command: Vec::new(),
        }
    }

    /// The model name used for prices and reports (`model`, else the provider name).
    pub fn model_name(&self) -> &str {
        self.model.as_deref().unwrap_or(&self.name)
    }
}

/// Everything sent to the model besides the messages. Every field is part of the
/// fingerprint.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SamplingParams {
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub top_p: Option<f64>,
    pub seed: Option<i64>,
    pub stop: Vec<String>,
    /// OpenAI-style `response_format`, passed through.
    pub response_format: Option<serde_json::Value>,
    /// Tool definitions, passed through.
    pub tools: Option<serde_json::Value>,
    /// Any other provider parameter (`[providers.x.extra]`), passed through as-is.
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// USD per million tokens, input and output kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BudgetPolicy {
    /// Hard stop for the money spent by one run (calls only; replays are free).
    pub max_run_usd: Option<f64>,
    /// Gate against the baseline: fail when the run's cost rises by more than this.
    pub max_cost_increase_pct: Option<f64>,
    pub max_cost_increase_usd: Option<f64>,
    /// Warn (without failing) above these.
    pub warn_cost_increase_pct: Option<f64>,
    pub warn_cost_increase_usd: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GatePolicy {
    /// Default minimum pass rate for every suite (0..=1).
    pub min_pass_rate: Option<f64>,
    /// Default minimum mean score for every suite (0..=1).
    pub min_mean_score: Option<f64>,
    /// A regression smaller than this (as a fraction, 0.05 = 5 points) is tolerated.
    pub tolerance: f64,
    /// Significance level of the regression tests (one-sided), before Holm correction.
    pub alpha: f64,
    /// Fail the gate when any scenario errored (provider error). Default true.
    pub fail_on_error: bool,
}

impl Default for GatePolicy {
    fn default() -> Self {
        GatePolicy {
            min_pass_rate: None,
            min_mean_score: None,
            tolerance: 0.05,
            alpha: 0.05,
            fail_on_error: true,
        }
    }
}

/// Redaction applied to every output before it is written anywhere.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RedactPolicy {
    pub emails: bool,
    pub phones: bool,
    pub cards: bool,
    pub patterns: Vec<String>,
}
