//! What produced a run's verdict, recorded in the results file's `run` line so a team can show
//! which models, prices, thresholds and budgets were in force, and that the configuration was
//! what they think: "which prompts, models, prices and thresholds produced it".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{BudgetPolicy, GatePolicy, Project};
use crate::provider::{PriceOrigin, PriceTable};

/// One provider as the run used it. No secrets: the key's variable name only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderRecord {
    pub kind: String,
    pub model: String,
    pub base_url: Option<String>,
    /// USD per million tokens, and where the price came from; `None` when unknown.
    pub price: Option<PriceRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceRecord {
    pub input: f64,
    pub output: f64,
    /// `evalgit.toml [prices."MODEL"]`, or the built-in table's source and date.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub providers: BTreeMap<String, ProviderRecord>,
    pub gate: GatePolicy,
    pub budget: BudgetPolicy,
    /// Per suite: its file and the thresholds it sets itself.
    pub suites: BTreeMap<String, SuiteRecord>,
    /// blake3 of the effective settings (after profile and environment), hex: two runs with
    /// the same value ran under the same providers, prices and policies.
    pub settings_fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteRecord {
    pub file: String,
    pub min_pass_rate: Option<f64>,
    pub min_mean_score: Option<f64>,
    pub scenarios: usize,
}

impl Provenance {
    pub fn of(project: &Project) -> Provenance {
        let settings = &project.settings;
        let table = PriceTable::builtin();
        let providers = settings
            .providers
            .iter()
            .map(|(name, p)| {
                let price =
                    table
                        .lookup(p.model_name(), &settings.prices)
                        .map(|(price, origin)| PriceRecord {
                            input: price.input,
                            output: price.output,
                            source: match origin {
                                PriceOrigin::Config { model } => {
                                    format!("evalgit.toml [prices.\"{model}\"]")
                                }
                                PriceOrigin::BuiltIn {
                                    model,
                                    source,
                                    as_of,
                                } => {
                                    format!("built-in table: {model}, {source} ({as_of})")
                                }
                            },
                        });
                let record = ProviderRecord {
                    kind: p.kind.name().to_string(),
                    model: p.model_name().to_string(),
                    base_url: p.base_url.clone(),
                    price,
                };
                (name.clone(), record)
            })
            .collect();
        let suites = project
            .suites
            .iter()
            .map(|s| {
                let record = SuiteRecord {
                    file: crate::error::display_rel(&s.file),
                    min_pass_rate: s.min_pass_rate,
                    min_mean_score: s.min_mean_score,
                    scenarios: s.scenarios.len(),
                };
                (s.name.clone(), record)
            })
            .collect();
        // Settings serialize with sorted maps (BTreeMap) and fixed field order: stable bytes.
        let bytes = serde_json::to_vec(settings).unwrap_or_default();
        Provenance {
            providers,
            gate: settings.gate.clone(),
            budget: settings.budget.clone(),
            suites,
            settings_fingerprint: blake3::hash(&bytes).to_hex().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoadOptions, MemorySource, load};

    #[test]
    fn records_models_prices_and_policies_without_secrets() {
        let source = MemorySource::new()
            .with(
                "evalgit.toml",
                "[providers.a]\nkind = \"openai\"\nmodel = \"gpt-4o\"\napi_key_env = \"OPENAI_API_KEY\"\n\n[providers.b]\nkind = \"openai\"\nmodel = \"house-model\"\nbase_url = \"http://127.0.0.1:1/v1\"\n\n[prices.\"house-model\"]\ninput = 1\noutput = 2\n\n[gate]\nmin_pass_rate = 0.9\n",
            )
            .with("evals/s.toml", "provider = \"a\"\nprompt = \"hi\"\nmin_pass_rate = 0.5\n[[scenario]]\nid = \"x\"\nassert = [{ type = \"contains\", value = \"h\" }]\n");
        let project = load(&source, &LoadOptions::new("/p")).expect("loads");
        let p = Provenance::of(&project);
        assert!(
            p.providers["a"]
                .price
                .as_ref()
                .expect("built-in price")
                .source
                .starts_with("built-in table")
        );
        assert_eq!(
            p.providers["b"]
                .price
                .as_ref()
                .expect("configured price")
                .source,
            "evalgit.toml [prices.\"house-model\"]"
        );
        assert_eq!(p.gate.min_pass_rate, Some(0.9));
        assert_eq!(p.suites["s"].min_pass_rate, Some(0.5));
        let json = serde_json::to_string(&p).expect("serializes");
        assert!(!json.contains("OPENAI_API_KEY"), "{json}");
        // Stable: the same settings give the same fingerprint.
        assert_eq!(
            p.settings_fingerprint,
            Provenance::of(&project).settings_fingerprint
        );
    }
}
