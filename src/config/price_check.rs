//! A spending cap (`[budget] max_run_usd`, a suite's `max_usd`) is enforced by reserving the
//! cost of each call before making it, which needs the model's price. A capped suite whose
//! provider, or judge, has no price (neither in the built-in table nor in `[prices]`) would
//! make the run refuse to start, or fail every judged scenario: it is a configuration error,
//! located at the cap.

use std::collections::BTreeMap;

use crate::provider::PriceTable;

use super::{Diagnostic, Settings, Suite};

/// An unpriced provider a capped suite would call.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Unpriced {
    pub provider: String,
    pub model: String,
    /// Whether it is only called as a judge of model-graded checks.
    pub judge_only: bool,
}

/// The providers `suite` calls that have no price: its own provider and the judges of its
/// model-graded checks (none, when it has no scenarios).
pub(crate) fn unpriced_providers(suite: &Suite, settings: &Settings) -> Vec<Unpriced> {
    if suite.scenarios.is_empty() {
        return Vec::new();
    }
    // provider -> called as the suite's provider (not only as a judge)
    let mut called: BTreeMap<&str, bool> = BTreeMap::new();
    called.insert(&suite.provider, true);
    for scenario in &suite.scenarios {
        for spec in scenario.asserts.iter().filter(|a| a.kind.is_model_graded()) {
            let judge = spec
                .provider
                .as_deref()
                .or(suite.judge.as_deref())
                .or(settings.judge.as_deref());
            if let Some(judge) = judge {
                called.entry(judge).or_insert(false);
            }
        }
    }
    let table = PriceTable::builtin();
    called
        .into_iter()
        .filter_map(|(name, as_provider)| {
            let config = settings.providers.get(name)?;
            let model = config.model_name();
            table
                .lookup(model, &settings.prices)
                .is_none()
                .then(|| Unpriced {
                    provider: name.to_string(),
                    model: model.to_string(),
                    judge_only: !as_provider,
                })
        })
        .collect()
}

/// Completes `d` (located at the cap) into the error about `unpriced`, called by `suites`.
pub(crate) fn unpriced_error(
    mut d: Diagnostic,
    cap: &str,
    unpriced: &Unpriced,
    suites: &[&str],
) -> Diagnostic {
    let role = if unpriced.judge_only {
        "judge"
    } else {
        "provider"
    };
    d.message = format!(
        "`{cap}` is set, but {role} `{}` (model `{}`) has no price, so the cap cannot be enforced",
        unpriced.provider, unpriced.model
    );
    let list: Vec<String> = suites.iter().map(|s| format!("`{s}`")).collect();
    d.note = Some(format!(
        "{} by suite{} {}",
        if unpriced.judge_only {
            "used as the judge"
        } else {
            "called"
        },
        if suites.len() == 1 { "" } else { "s" },
        list.join(", ")
    ));
    d.with_help(format!(
        "add `[prices.\"{}\"]` with `input` and `output` (USD per million tokens) to evalgit.toml, or remove the cap",
        unpriced.model
    ))
}
