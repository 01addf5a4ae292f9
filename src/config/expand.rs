//! Assertion values may use the scenario's variables: `{ type = "icontains", value =
//! "{{ label }}" }` in a suite's `[defaults]` checks each CSV row against its own `label`.
//! Rendered once at load, so the assertions fingerprint sees the concrete values.

use super::template::render;
use super::{Diagnostic, Diagnostics, Severity, Suite};

fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

fn render_value(value: &mut serde_json::Value, vars: &super::Vars) -> Result<bool, String> {
    match value {
        serde_json::Value::String(s) if is_template(s) => {
            *s = render(s, &vars.to_map()).map_err(|e| e.to_string())?;
            Ok(true)
        }
        serde_json::Value::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= render_value(item, vars)?;
            }
            Ok(changed)
        }
        _ => Ok(false),
    }
}

/// Checks that are legal TOML but almost certainly mistakes: a `contains` of the empty string
/// always passes (warning), and two ids that differ only in case,
/// whose snapshot files would overwrite each other on macOS and Windows (error).
pub(crate) fn check_mistakes(suites: &[Suite], diags: &mut Diagnostics) {
    use crate::assert::AssertKind;
    for suite in suites {
        let mut seen: std::collections::HashMap<String, &super::Scenario> =
            std::collections::HashMap::new();
        for scenario in &suite.scenarios {
            if let Some(first) = seen.insert(scenario.id.to_lowercase(), scenario)
                && first.id != scenario.id
            {
                let mut d = Diagnostic::whole_file(
                    Severity::Error,
                    scenario.file.clone(),
                    format!("scenario ids `{}` and `{}` differ only in case", first.id, scenario.id),
                )
                .with_help("their snapshot files would overwrite each other on macOS and Windows: rename one");
                d.line = scenario.line;
                d.column = 1;
                d.key_path = "id".into();
                diags.push(d);
            }
            for (i, spec) in scenario.asserts.iter().enumerate() {
                let vacuous = match (spec.kind, &spec.value) {
                    (
                        AssertKind::Contains | AssertKind::Icontains | AssertKind::StartsWith,
                        Some(serde_json::Value::String(v)),
                    ) => v.is_empty(),
                    (
                        AssertKind::ContainsAny | AssertKind::ContainsAll,
                        Some(serde_json::Value::Array(items)),
                    ) => items.iter().any(|v| v.as_str() == Some("")),
                    _ => false,
                };
                if vacuous && !spec.negate {
                    let mut d = Diagnostic::whole_file(
                        Severity::Warning,
                        scenario.file.clone(),
                        format!("scenario `{}`: `{}` with an empty string always passes", scenario.id, spec.type_name()),
                    )
                    .with_help("give the text the output must contain (or use `equals` with \"\" to require an empty output)");
                    d.line = scenario.line;
                    d.column = 1;
                    d.key_path = format!("assert[{i}].value");
                    diags.push(d);
                }
            }
        }
    }
}

/// Renders the string values of every scenario's assertions with its variables.
pub(crate) fn render_assertion_values(suites: &mut [Suite], diags: &mut Diagnostics) {
    for suite in suites {
        for scenario in &mut suite.scenarios {
            for (i, spec) in scenario.asserts.iter_mut().enumerate() {
                let Some(value) = spec.value.as_mut() else {
                    continue;
                };
                match render_value(value, &scenario.vars) {
                    Ok(true) if spec.kind == crate::assert::AssertKind::Regex => {
                        let pattern = value.as_str().unwrap_or_default().to_string();
                        match regex::Regex::new(&pattern) {
                            Ok(re) => spec.regex = Some(re),
                            Err(e) => diags.push(located(&scenario.file, scenario.line, &scenario.id, i, format!("the regex `{pattern}` (after inserting variables) is invalid: {e}"))),
                        }
                    }
                    Ok(_) => {}
                    Err(e) => diags.push(located(
                        &scenario.file,
                        scenario.line,
                        &scenario.id,
                        i,
                        format!("cannot insert variables into the assertion value: {e}"),
                    )),
                }
            }
        }
    }
}

fn located(
    file: &std::path::Path,
    line: usize,
    id: &str,
    index: usize,
    message: String,
) -> Diagnostic {
    let mut d = Diagnostic::whole_file(Severity::Error, file.to_path_buf(), format!("scenario `{id}`: {message}"))
        .with_help("every variable an assertion value uses must be defined in the scenario's vars (or [defaults].vars)");
    d.line = line;
    d.column = 1;
    d.key_path = format!("assert[{index}].value");
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assert::{AssertKind, AssertionSpec};
    use crate::config::{PassRule, Prompt, Scenario};

    fn suite_with(value: serde_json::Value, kind: AssertKind, vars: serde_json::Value) -> Suite {
        let mut spec = AssertionSpec::new(kind);
        spec.value = Some(value);
        Suite {
            name: "s".into(),
            file: "evals/s.toml".into(),
            provider: "p".into(),
            prompt: Prompt::Text {
                template: "x".into(),
                file: None,
            },
            scenarios: vec![Scenario {
                id: "a".into(),
                vars:
                    serde_json::from_value::<std::collections::BTreeMap<String, serde_json::Value>>(
                        vars,
                    )
                    .expect("vars")
                    .into(),
                asserts: vec![spec],
                threshold: None,
                repeat: None,
                pass_rule: None,
                file: "data/s.csv".into(),
                line: 3,
            }],
            min_pass_rate: None,
            min_mean_score: None,
            repeat: 1,
            pass_rule: PassRule::All,
            max_usd: None,
            judge: None,
        }
    }

    #[test]
    fn assertion_values_take_the_scenarios_variables() {
        let mut suites = vec![suite_with(
            serde_json::json!("{{ label }}"),
            AssertKind::Icontains,
            serde_json::json!({"label": "positive"}),
        )];
        let mut diags = Diagnostics::default();
        render_assertion_values(&mut suites, &mut diags);
        assert!(diags.is_empty());
        assert_eq!(
            suites[0].scenarios[0].asserts[0].value,
            Some(serde_json::json!("positive"))
        );
    }

    #[test]
    fn a_variable_value_is_inserted_literally() {
        let mut suites = vec![suite_with(
            serde_json::json!(["{{ a }}", "b"]),
            AssertKind::ContainsAny,
            serde_json::json!({"a": "{{ not a template }}"}),
        )];
        let mut diags = Diagnostics::default();
        render_assertion_values(&mut suites, &mut diags);
        assert_eq!(
            suites[0].scenarios[0].asserts[0].value,
            Some(serde_json::json!(["{{ not a template }}", "b"]))
        );
    }

    #[test]
    fn an_undefined_variable_is_an_error_at_the_scenario() {
        let mut suites = vec![suite_with(
            serde_json::json!("{{ missing }}"),
            AssertKind::Contains,
            serde_json::json!({}),
        )];
        let mut diags = Diagnostics::default();
        render_assertion_values(&mut suites, &mut diags);
        assert!(diags.has_errors());
        let d = &diags.0[0];
        assert_eq!((d.line, d.key_path.as_str()), (3, "assert[0].value"));
    }

    #[test]
    fn likely_mistakes_are_reported() {
        let mut suites = vec![suite_with(
            serde_json::json!(""),
            AssertKind::Contains,
            serde_json::json!({}),
        )];
        let mut twin = suites[0].scenarios[0].clone();
        twin.id = "A".into();
        suites[0].scenarios.push(twin);
        let mut diags = Diagnostics::default();
        check_mistakes(&suites, &mut diags);
        assert_eq!(diags.errors().count(), 1, "{diags}");
        assert!(
            diags
                .errors()
                .next()
                .map(|d| d.message.contains("differ only in case"))
                .unwrap_or(false)
        );
        assert_eq!(
            diags.warnings().count(),
            2,
            "one vacuous contains per scenario: {diags}"
        );
    }

    #[test]
    fn templated_regexes_are_recompiled() {
        let mut suites = vec![suite_with(
            serde_json::json!("^{{ w }}$"),
            AssertKind::Regex,
            serde_json::json!({"w": "ok"}),
        )];
        let mut diags = Diagnostics::default();
        render_assertion_values(&mut suites, &mut diags);
        let re = suites[0].scenarios[0].asserts[0]
            .regex
            .as_ref()
            .expect("compiled");
        assert!(re.is_match("ok"));
    }
}
