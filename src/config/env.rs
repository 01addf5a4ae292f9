//! `EVALGIT_*` environment overrides, applied after the profile and before command-line
//! flags (which `cli` applies).
//!
//! The variables:
//!
//! | variable | sets |
//! |---|---|
//! | `EVALGIT_PROFILE` | the profile, when `--profile` is not given |
//! | `EVALGIT_MAX_RUN_USD` | `budget.max_run_usd` (a number, 0 or more) |
//! | `EVALGIT_MIN_PASS_RATE` | `gate.min_pass_rate` (0..=1) |
//! | `EVALGIT_MIN_MEAN_SCORE` | `gate.min_mean_score` (0..=1) |
//! | `EVALGIT_JUDGE` | `judge` (a provider name) |
//! | `EVALGIT_PROVIDER_<NAME>_BASE_URL` | `providers.NAME.base_url` |
//! | `EVALGIT_PROVIDER_<NAME>_MODEL` | `providers.NAME.model` |
//! | `EVALGIT_PROVIDER_<NAME>_MAX_CONCURRENCY` | `providers.NAME.max_concurrency` (1 or more) |
//!
//! `<NAME>` is the provider name upper-cased with `-` written as `_` (`my-llm` ->
//! `MY_LLM`). An empty value counts as unset, so a CI secret that is not defined does not
//! break the run. A bad value is an error naming the variable (file `environment`); a
//! variable for a provider that does not exist is a warning. Other `EVALGIT_*` variables
//! belong to the command line and are ignored here.

use std::collections::BTreeMap;

use super::settings_file::{Origin, SettingsFile};
use super::{Diagnostic, Diagnostics, Severity};

/// The pseudo-file environment diagnostics are reported in.
pub const ENV_FILE: &str = "environment";

const PROVIDER_PREFIX: &str = "EVALGIT_PROVIDER_";
const PROVIDER_FIELDS: &[&str] = &["_BASE_URL", "_MODEL", "_MAX_CONCURRENCY"];

fn diag(severity: Severity, var: &str, message: String) -> Diagnostic {
    let mut d = Diagnostic::whole_file(severity, ENV_FILE, message);
    d.key_path = var.to_string();
    d
}

/// The provider name as it appears in variable names.
pub fn env_name(provider: &str) -> String {
    provider.to_ascii_uppercase().replace('-', "_")
}

/// Applies the overrides in `env` to `sf.settings`, recording bad values in `diags`.
pub(crate) fn apply_env(
    env: &BTreeMap<String, String>,
    sf: &mut SettingsFile,
    diags: &mut Diagnostics,
) {
    let fraction = |var: &str, value: &str, diags: &mut Diagnostics| -> Option<f64> {
        match value.trim().parse::<f64>() {
            Ok(n) if (0.0..=1.0).contains(&n) => Some(n),
            _ => {
                diags.push(
                    diag(
                        Severity::Error,
                        var,
                        format!("{var} must be a number between 0 and 1, found `{value}`"),
                    )
                    .with_help("write a fraction: 0.8 means 80%"),
                );
                None
            }
        }
    };
    for (var, value) in env {
        if value.is_empty() {
            continue;
        }
        let s = &mut sf.settings;
        match var.as_str() {
            "EVALGIT_MAX_RUN_USD" => match value.trim().parse::<f64>() {
                Ok(n) if n.is_finite() && n >= 0.0 => {
                    s.budget.max_run_usd = Some(n);
                    sf.max_run_usd_origin = Some(Origin::Env(var.clone()));
                }
                _ => diags.push(
                    diag(
                        Severity::Error,
                        var,
                        format!(
                            "{var} must be a number of US dollars (0 or more), found `{value}`"
                        ),
                    )
                    .with_help("e.g. EVALGIT_MAX_RUN_USD=2.50"),
                ),
            },
            "EVALGIT_MIN_PASS_RATE" => {
                if let Some(n) = fraction(var, value, diags) {
                    s.gate.min_pass_rate = Some(n);
                }
            }
            "EVALGIT_MIN_MEAN_SCORE" => {
                if let Some(n) = fraction(var, value, diags) {
                    s.gate.min_mean_score = Some(n);
                }
            }
            "EVALGIT_JUDGE" => {
                s.judge = Some(value.trim().to_string());
                sf.judge_origin = Some(Origin::Env(var.clone()));
            }
            _ if var.starts_with(PROVIDER_PREFIX) => apply_provider_var(var, value, sf, diags),
            _ => {}
        }
    }
}

fn apply_provider_var(var: &str, value: &str, sf: &mut SettingsFile, diags: &mut Diagnostics) {
    let rest = &var[PROVIDER_PREFIX.len()..];
    let Some(field) = PROVIDER_FIELDS
        .iter()
        .find(|f| rest.ends_with(*f) && rest.len() > f.len())
    else {
        diags.push(
            diag(
                Severity::Warning,
                var,
                format!("{var} is not a known setting; it is ignored"),
            )
            .with_help("EVALGIT_PROVIDER_<NAME>_ takes BASE_URL, MODEL or MAX_CONCURRENCY"),
        );
        return;
    };
    let wanted = &rest[..rest.len() - field.len()];
    let name = sf
        .settings
        .providers
        .keys()
        .find(|n| env_name(n) == wanted)
        .cloned();
    let Some(name) = name else {
        let known = sf
            .settings
            .providers
            .keys()
            .map(|n| env_name(n))
            .collect::<Vec<_>>()
            .join(", ");
        diags.push(
            diag(
                Severity::Warning,
                var,
                format!("{var} names no provider (`{wanted}`); it is ignored"),
            )
            .with_help(format!(
                "providers by their variable names: {}",
                if known.is_empty() { "none" } else { &known }
            )),
        );
        return;
    };
    let Some(p) = sf.settings.providers.get_mut(&name) else {
        return;
    };
    match *field {
        "_BASE_URL" => {
            if value.starts_with("http://") || value.starts_with("https://") {
                p.base_url = Some(value.trim_end_matches('/').to_string());
            } else {
                diags.push(diag(
                    Severity::Error,
                    var,
                    format!("{var} must start with http:// or https://, found `{value}`"),
                ));
            }
        }
        "_MODEL" => p.model = Some(value.to_string()),
        _ => match value.trim().parse::<usize>() {
            Ok(n) if n >= 1 => p.max_concurrency = n,
            _ => diags.push(diag(
                Severity::Error,
                var,
                format!("{var} must be an integer of at least 1, found `{value}`"),
            )),
        },
    }
}
