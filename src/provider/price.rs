//! What a call costs: the price of a model (the team's `[prices]` first, then the built-in
//! table in `prices.toml`), the cost of a [`Usage`], and token estimates for budgets and plans
//! made before any call.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::Usage;
use crate::config::{Message, Price};

/// The built-in table, embedded so that a release carries the prices it was tested with.
const BUILTIN_PRICES: &str = include_str!("prices.toml");

/// Known list prices by model name (aliases included).
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    models: BTreeMap<String, ListedPrice>,
}

/// One built-in price and where it was published.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListedPrice {
    /// The table's canonical name for the model (an alias resolves to it).
    pub model: String,
    pub price: Price,
    /// The pricing page the numbers come from.
    pub source: String,
    /// When the price was last checked against that page (YYYY-MM-DD).
    pub as_of: String,
}

/// Where a price came from, recorded with each run so a cost can be audited.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum PriceOrigin {
    /// `[prices."model"]` in evalgit.toml.
    Config { model: String },
    /// The built-in table; `model` is the entry that matched (after suffix stripping).
    BuiltIn {
        model: String,
        source: String,
        as_of: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PricesFile {
    models: BTreeMap<String, PricesEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PricesEntry {
    input: f64,
    output: f64,
    source: String,
    as_of: String,
    #[serde(default)]
    aliases: Vec<String>,
}

impl PriceTable {
    /// The table shipped in the binary, parsed once.
    pub fn builtin() -> &'static PriceTable {
        static TABLE: OnceLock<PriceTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            // The file is part of the source and parsed by a unit test, so this cannot fail
            // in a released binary.
            PriceTable::parse(BUILTIN_PRICES)
                .unwrap_or_else(|e| panic!("built-in src/provider/prices.toml: {e}"))
        })
    }

    /// Parses a table in the `prices.toml` format.
    pub fn parse(text: &str) -> Result<PriceTable, String> {
        let file: PricesFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut models = BTreeMap::new();
        for (name, entry) in file.models {
            for (what, value) in [("input", entry.input), ("output", entry.output)] {
                if !value.is_finite() || value < 0.0 {
                    return Err(format!(
                        "models.\"{name}\".{what} must be a non-negative number of USD per million tokens"
                    ));
                }
            }
            let listed = ListedPrice {
                model: name.clone(),
                price: Price {
                    input: entry.input,
                    output: entry.output,
                },
                source: entry.source,
                as_of: entry.as_of,
            };
            for alias in entry.aliases {
                if models.insert(alias.clone(), listed.clone()).is_some() {
                    return Err(format!("model name `{alias}` is listed twice"));
                }
            }
            if models.insert(name.clone(), listed).is_some() {
                return Err(format!("model name `{name}` is listed twice"));
            }
        }
        Ok(PriceTable { models })
    }

    /// The built-in entry for a model: exact name or alias, then without a dated suffix.
    pub fn get(&self, model: &str) -> Option<&ListedPrice> {
        self.models
            .get(model)
            .or_else(|| self.models.get(undated(model)?))
    }

    /// The price of `model`: the team's `[prices]` (exact name) first, then [`Self::get`].
    pub fn lookup(
        &self,
        model: &str,
        user: &BTreeMap<String, Price>,
    ) -> Option<(Price, PriceOrigin)> {
        if let Some(price) = user.get(model) {
            return Some((
                *price,
                PriceOrigin::Config {
                    model: model.to_string(),
                },
            ));
        }
        let listed = self.get(model)?;
        Some((
            listed.price,
            PriceOrigin::BuiltIn {
                model: listed.model.clone(),
                source: listed.source.clone(),
                as_of: listed.as_of.clone(),
            },
        ))
    }

    /// Every name the table answers to exactly, aliases included.
    pub fn models(&self) -> impl Iterator<Item = &str> {
        self.models.keys().map(String::as_str)
    }
}

/// `name` without `-latest`, `-YYYY-MM-DD` (OpenAI snapshots) or `-YYYYMMDD` (Anthropic).
fn undated(name: &str) -> Option<&str> {
    if let Some(base) = name.strip_suffix("-latest") {
        return Some(base);
    }
    let (base, suffix) = name.rsplit_once('-')?;
    if suffix.len() == 8 && suffix.bytes().all(|b| b.is_ascii_digit()) {
        return Some(base);
    }
    // `-YYYY-MM-DD`: the last three dash-separated parts are 4, 2 and 2 digits.
    let mut parts = name.rsplitn(4, '-');
    let (day, month, year, base) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    (digits(year, 4) && digits(month, 2) && digits(day, 2)).then_some(base)
}

/// USD for `usage` at `price` (per million tokens), input and output priced apart.
pub fn cost_usd(usage: Usage, price: Price) -> f64 {
    (usage.input_tokens as f64 * price.input + usage.output_tokens as f64 * price.output)
        / 1_000_000.0
}

/// A rough token count, for reserving budget before a call and for `plan` estimates, not for
/// billing: one token per four characters, rounded up. English text averages about four
/// characters per token with OpenAI's and Anthropic's tokenizers; code and other languages
/// run higher, so budgets keep a margin.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// [`estimate_tokens`] over a prompt, plus four tokens per message for the role and the
/// chat template's separators.
pub fn estimate_message_tokens(messages: &[Message]) -> u64 {
    messages
        .iter()
        .map(|m| estimate_tokens(&m.content) + 4)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;

    #[test]
    fn builtin_table_parses_and_is_sane() {
        let table = PriceTable::builtin();
        assert!(table.models().count() >= 20);
        for name in table.models() {
            let listed = table.get(name).unwrap_or_else(|| panic!("{name}"));
            assert!(
                listed.price.output >= listed.price.input,
                "{name}: output cheaper than input"
            );
            assert!(listed.source.starts_with("https://"), "{name}");
            assert_eq!(listed.as_of.len(), 10, "{name}: as_of is YYYY-MM-DD");
        }
    }

    #[test]
    fn lookup_strips_dated_suffixes() {
        let table = PriceTable::builtin();
        let none = BTreeMap::new();
        let cases = [
            ("gpt-4o", Some("gpt-4o")),
            ("gpt-4o-2024-08-06", Some("gpt-4o")),
            ("gpt-4o-mini-2024-07-18", Some("gpt-4o-mini")),
            ("gpt-4o-2024-05-13", Some("gpt-4o-2024-05-13")),
            ("claude-3-5-sonnet-20241022", Some("claude-3-5-sonnet")),
            ("claude-3-5-sonnet-latest", Some("claude-3-5-sonnet")),
            ("claude-sonnet-4-5-20250929", Some("claude-sonnet-4-5")),
            ("claude-opus-4-0", Some("claude-opus-4")),
            ("claude-opus-4-20250514", Some("claude-opus-4")),
            ("smollm2-135m", None),
            ("gpt-4o-2024", None),
        ];
        for (model, want) in cases {
            let got = table.lookup(model, &none).map(|(_, origin)| match origin {
                PriceOrigin::BuiltIn { model, .. } => model,
                PriceOrigin::Config { model } => format!("config:{model}"),
            });
            assert_eq!(got.as_deref(), want, "{model}");
        }
    }

    #[test]
    fn user_price_overrides_builtin() {
        let user: BTreeMap<String, Price> = [(
            "gpt-4o".to_string(),
            Price {
                input: 1.0,
                output: 2.0,
            },
        )]
        .into_iter()
        .collect();
        let (price, origin) = PriceTable::builtin()
            .lookup("gpt-4o", &user)
            .unwrap_or_else(|| panic!("priced"));
        assert_eq!(
            price,
            Price {
                input: 1.0,
                output: 2.0
            }
        );
        assert_eq!(
            origin,
            PriceOrigin::Config {
                model: "gpt-4o".into()
            }
        );
    }

    #[test]
    fn model_missing_from_table_is_priced_by_config() {
        let table = PriceTable::builtin();
        let user: BTreeMap<String, Price> = [(
            "smollm2-135m".to_string(),
            Price {
                input: 0.05,
                output: 0.10,
            },
        )]
        .into_iter()
        .collect();
        assert!(table.lookup("smollm2-135m", &BTreeMap::new()).is_none());
        let (price, _) = table
            .lookup("smollm2-135m", &user)
            .unwrap_or_else(|| panic!("priced"));
        assert_eq!(price.output, 0.10);
    }

    #[test]
    fn cost_keeps_input_and_output_apart() {
        let price = Price {
            input: 1.0,
            output: 10.0,
        };
        let cases = [
            (
                Usage {
                    input_tokens: 1_000_000,
                    output_tokens: 0,
                },
                1.0,
            ),
            (
                Usage {
                    input_tokens: 0,
                    output_tokens: 1_000_000,
                },
                10.0,
            ),
            (
                Usage {
                    input_tokens: 500,
                    output_tokens: 100,
                },
                0.0015,
            ),
            (Usage::default(), 0.0),
        ];
        for (usage, want) in cases {
            assert!((cost_usd(usage, price) - want).abs() < 1e-12, "{usage:?}");
        }
    }

    #[test]
    fn parse_rejects_bad_tables() {
        let cases = [
            (
                "[models.a]\ninput = -1.0\noutput = 1.0\nsource = \"s\"\nas_of = \"d\"",
                "non-negative",
            ),
            (
                "[models.a]\ninput = 1.0\noutput = 1.0\nsource = \"s\"\nas_of = \"d\"\nalias = []",
                "unknown field",
            ),
            (
                "[models.a]\ninput = 1.0\noutput = 1.0\nsource = \"s\"\nas_of = \"d\"\naliases = [\"a\"]",
                "listed twice",
            ),
        ];
        for (text, want) in cases {
            let err = PriceTable::parse(text).err().unwrap_or_default();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn estimates_round_up_and_count_messages() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("éééé"), 1);
        let messages = vec![
            Message {
                role: Role::System,
                content: "abcd".into(),
            },
            Message {
                role: Role::User,
                content: "abcdefgh".into(),
            },
        ];
        assert_eq!(estimate_message_tokens(&messages), 1 + 4 + 2 + 4);
    }
}
