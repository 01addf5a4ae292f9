//! Comparing the samples of two revisions: which scenarios a change affects, why, and what
//! running them will cost. Synchronous and cheap: 10,000 scenarios are compared in a few
//! milliseconds; the cache is only asked whether a fingerprint is present.

use std::collections::{BTreeMap, HashSet};

use super::{AffectedScenario, Plan, PlanGroup, PlanInput, Reason};
use crate::cache::{Fingerprint, ResponseCache};
use crate::provider::{Usage, cost_usd, estimate_message_tokens};

/// Output tokens assumed for a call when neither an earlier output of the scenario nor the
/// provider's `max_tokens` tells more.
pub const DEFAULT_OUTPUT_TOKENS: u64 = 256;

type Key<'a> = (&'a str, &'a str);

fn by_scenario(inputs: &[PlanInput]) -> BTreeMap<Key<'_>, Vec<&PlanInput>> {
    let mut map: BTreeMap<Key<'_>, Vec<&PlanInput>> = BTreeMap::new();
    for input in inputs {
        map.entry((input.suite.as_str(), input.scenario_id.as_str()))
            .or_default()
            .push(input);
    }
    for samples in map.values_mut() {
        samples.sort_by_key(|s| s.repeat);
    }
    map
}

/// What changed between `base` and `head` (the samples of each side), grouped by reason,
/// with the model calls needed and their estimated cost.
///
/// A head sample needs a call unless its fingerprint is replayable: present in `cache`, or
/// recorded in an accepted snapshot on either side (`PlanInput::recorded`). Without a cache
/// only snapshots count, which is what a CI job without a cache will see.
pub fn compute_plan(base: &[PlanInput], head: &[PlanInput], cache: Option<&ResponseCache>) -> Plan {
    let base_map = by_scenario(base);
    let head_map = by_scenario(head);
    let recorded: HashSet<Fingerprint> = base
        .iter()
        .chain(head)
        .filter(|i| i.recorded)
        .map(|i| i.fingerprint)
        .collect();
    let replayable =
        |fp: &Fingerprint| recorded.contains(fp) || cache.is_some_and(|c| c.contains(fp));

    let mut plan = Plan {
        scenarios: head_map.len(),
        ..Plan::default()
    };
    let mut groups: BTreeMap<(u8, String), PlanGroup> = BTreeMap::new();

    for (key, head_samples) in &head_map {
        let base_samples = base_map.get(key).map(Vec::as_slice).unwrap_or(&[]);
        let mut reasons = classify(base_samples, head_samples);
        let mut calls = 0usize;
        let mut cost = 0.0;
        let mut unpriced = 0usize;
        for sample in head_samples {
            if replayable(&sample.fingerprint) {
                plan.replayed += 1;
                continue;
            }
            calls += 1;
            match estimate_cost(sample, base_samples, cache) {
                Some(c) => cost += c,
                None => unpriced += 1,
            }
        }
        plan.model_calls += calls;
        plan.estimated_cost_usd += cost;
        plan.unpriced_calls += unpriced;
        if reasons.is_empty() {
            if calls == 0 {
                plan.unchanged += 1;
                continue;
            }
            reasons.push(Reason::NotRecorded);
        }
        let scenario = AffectedScenario {
            suite: key.0.to_string(),
            id: key.1.to_string(),
            samples: head_samples.len() as u32,
            model_calls: calls,
            estimated_cost_usd: cost,
            unpriced_calls: unpriced,
            reasons,
        };
        add_to_group(&mut groups, scenario);
    }
    for (key, base_samples) in &base_map {
        if head_map.contains_key(key) {
            continue;
        }
        let scenario = AffectedScenario {
            suite: key.0.to_string(),
            id: key.1.to_string(),
            samples: base_samples.len() as u32,
            model_calls: 0,
            estimated_cost_usd: 0.0,
            unpriced_calls: 0,
            reasons: vec![Reason::Removed],
        };
        add_to_group(&mut groups, scenario);
    }
    plan.groups = groups.into_values().collect();
    plan.affected = plan.groups.iter().map(|g| g.scenarios.len()).sum();
    plan
}

fn add_to_group(groups: &mut BTreeMap<(u8, String), PlanGroup>, scenario: AffectedScenario) {
    let primary = scenario.reasons[0].clone();
    let group = groups
        .entry((rank(&primary), primary.title()))
        .or_insert_with(|| PlanGroup {
            title: primary.title(),
            reason: group_reason(&primary),
            scenarios: Vec::new(),
            model_calls: 0,
            estimated_cost_usd: 0.0,
            unpriced_calls: 0,
        });
    group.model_calls += scenario.model_calls;
    group.estimated_cost_usd += scenario.estimated_cost_usd;
    group.unpriced_calls += scenario.unpriced_calls;
    group.scenarios.push(scenario);
}

/// The group's reason: per-scenario details (which variables, which repeat counts) dropped.
fn group_reason(reason: &Reason) -> Reason {
    match reason {
        Reason::VariablesChanged { .. } => Reason::VariablesChanged { vars: Vec::new() },
        Reason::RepeatAdded { .. } => Reason::RepeatAdded { from: 0, to: 0 },
        Reason::RepeatRemoved { .. } => Reason::RepeatRemoved { from: 0, to: 0 },
        other => other.clone(),
    }
}

/// Group order in the output: what costs money first, then what does not.
fn rank(reason: &Reason) -> u8 {
    match reason {
        Reason::PromptChanged { .. } => 0,
        Reason::VariablesChanged { .. } => 1,
        Reason::ProviderChanged { .. } => 2,
        Reason::New => 3,
        Reason::RepeatAdded { .. } => 4,
        Reason::Unattributed => 5,
        Reason::NotRecorded => 6,
        Reason::AssertionsOnly => 7,
        Reason::RepeatRemoved { .. } => 8,
        Reason::Removed => 9,
    }
}

/// Why one scenario present on the head side differs from the base; empty when it does not.
fn classify(base: &[&PlanInput], head: &[&PlanInput]) -> Vec<Reason> {
    let (Some(b0), Some(h0)) = (base.first(), head.first()) else {
        return vec![Reason::New];
    };
    let mut reasons = Vec::new();
    let common_same = base
        .iter()
        .filter_map(|b| head.iter().find(|h| h.repeat == b.repeat).map(|h| (b, h)))
        .all(|(b, h)| b.fingerprint == h.fingerprint);
    if !common_same {
        if b0.provider_fingerprint.digest() != h0.provider_fingerprint.digest() {
            reasons.push(Reason::ProviderChanged {
                from: b0.provider.clone(),
                to: h0.provider.clone(),
                params: h0
                    .provider_fingerprint
                    .changed_params(&b0.provider_fingerprint),
            });
        }
        let vars = changed_vars(&b0.vars, &h0.vars);
        if b0.messages != h0.messages {
            let template_changed = match (b0.prompt_fingerprint, h0.prompt_fingerprint) {
                (Some(b), Some(h)) => b != h,
                // Unknown templates: same variables and different messages can only be the
                // template (or a file it reads).
                _ => vars.is_empty(),
            } || b0.prompt_file != h0.prompt_file;
            if template_changed {
                let file = h0.prompt_file.as_deref().map(crate::error::display_rel);
                reasons.push(Reason::PromptChanged { file });
            }
            if !vars.is_empty() {
                reasons.push(Reason::VariablesChanged { vars });
            }
        } else if !vars.is_empty() && h0.provider_fingerprint.sees_vars() {
            reasons.push(Reason::VariablesChanged { vars });
        }
        if reasons.is_empty() {
            reasons.push(Reason::Unattributed);
        }
    }
    let (from, to) = (base.len() as u32, head.len() as u32);
    if to > from {
        reasons.push(Reason::RepeatAdded { from, to });
    } else if to < from {
        reasons.push(Reason::RepeatRemoved { from, to });
    }
    if reasons.is_empty() && b0.assertions_fingerprint != h0.assertions_fingerprint {
        reasons.push(Reason::AssertionsOnly);
    }
    reasons
}

fn changed_vars(
    base: &BTreeMap<String, serde_json::Value>,
    head: &BTreeMap<String, serde_json::Value>,
) -> Vec<String> {
    let mut names: Vec<String> = head
        .iter()
        .filter(|(k, v)| base.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    names.extend(base.keys().filter(|k| !head.contains_key(*k)).cloned());
    names.sort();
    names
}

/// The estimated cost of calling for `sample`: its prompt's estimated tokens in, and out the
/// tokens an earlier output of the same scenario and repeat used (from the cache), else
/// `max_tokens`, else [`DEFAULT_OUTPUT_TOKENS`]. `None` when the price is unknown.
fn estimate_cost(
    sample: &PlanInput,
    base: &[&PlanInput],
    cache: Option<&ResponseCache>,
) -> Option<f64> {
    let price = sample.price?;
    let earlier = cache.and_then(|c| {
        let before = base.iter().find(|b| b.repeat == sample.repeat)?;
        c.get(&before.fingerprint)
            .hit()
            .map(|r| r.usage.output_tokens)
    });
    let output_tokens = earlier
        .or(sample.max_tokens.map(u64::from))
        .unwrap_or(DEFAULT_OUTPUT_TOKENS);
    let usage = Usage {
        input_tokens: estimate_message_tokens(&sample.messages),
        output_tokens,
    };
    Some(cost_usd(usage, price))
}

/// Lookup of head samples by key, for callers selecting what to run.
pub(super) fn keys_of(
    groups: &[PlanGroup],
    include: impl Fn(&Reason) -> bool,
) -> HashSet<(String, String)> {
    let mut out = HashSet::new();
    for group in groups {
        for s in &group.scenarios {
            if include(&s.reasons[0]) {
                out.insert((s.suite.clone(), s.id.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::assert::{AssertKind, AssertionSpec};
    use crate::cache::{
        CachedResponse, ProviderFingerprint, assertions_fingerprint, provider_fingerprint,
        scenario_fingerprint,
    };
    use crate::config::{
        MemorySource, Message, PassRule, Price, ProviderConfig, ProviderKind, Role,
    };

    /// One scenario as a test writes it; `samples()` turns it into plan inputs.
    #[derive(Clone)]
    struct Spec {
        suite: &'static str,
        id: String,
        template: String,
        prompt_file: Option<&'static str>,
        vars: serde_json::Value,
        provider_name: &'static str,
        provider: ProviderConfig,
        repeat: u32,
        expect: &'static str,
        recorded: bool,
        price: Option<Price>,
    }

    fn spec(id: &str) -> Spec {
        let mut provider = ProviderConfig::new("local", ProviderKind::Openai);
        provider.model = Some("smollm2-135m".into());
        provider.params.temperature = Some(0.0);
        provider.params.max_tokens = Some(64);
        Spec {
            suite: "capitals",
            id: id.to_string(),
            template: "What is the capital of {{ country }}?".into(),
            prompt_file: Some("prompts/capitals.txt"),
            vars: json!({ "country": id }),
            provider_name: "local",
            provider,
            repeat: 1,
            expect: "paris",
            recorded: true,
            price: Some(Price {
                input: 0.05,
                output: 0.10,
            }),
        }
    }

    fn samples(s: &Spec) -> Vec<PlanInput> {
        let pf: Arc<ProviderFingerprint> =
            Arc::new(provider_fingerprint(&s.provider, &MemorySource::new()));
        let vars: BTreeMap<String, serde_json::Value> =
            serde_json::from_value(s.vars.clone()).expect("vars");
        let mut text = s.template.clone();
        for (k, v) in &vars {
            text = text.replace(&format!("{{{{ {k} }}}}"), v.as_str().unwrap_or_default());
        }
        let messages = Arc::new(vec![Message {
            role: Role::User,
            content: text,
        }]);
        let mut assert = AssertionSpec::new(AssertKind::Icontains);
        assert.value = Some(json!(s.expect));
        let afp = assertions_fingerprint(&[assert], None, PassRule::All);
        (0..s.repeat)
            .map(|repeat| PlanInput {
                suite: s.suite.to_string(),
                scenario_id: s.id.clone(),
                repeat,
                fingerprint: scenario_fingerprint(&pf, &messages, &vars, repeat),
                assertions_fingerprint: afp,
                messages: Arc::clone(&messages),
                vars: Arc::new(vars.clone()),
                provider: s.provider_name.to_string(),
                provider_fingerprint: Arc::clone(&pf),
                prompt_file: s.prompt_file.map(PathBuf::from),
                prompt_fingerprint: Some(Fingerprint::of_bytes(s.template.as_bytes())),
                price: s.price,
                max_tokens: s.provider.params.max_tokens,
                recorded: s.recorded,
            })
            .collect()
    }

    fn all(specs: &[Spec]) -> Vec<PlanInput> {
        specs.iter().flat_map(samples).collect()
    }

    /// The only group's reason, its scenario's full reasons and the call count.
    fn single(plan: &Plan) -> (Reason, Vec<Reason>, usize) {
        assert_eq!(plan.groups.len(), 1, "{}", plan.render_text());
        let g = &plan.groups[0];
        assert_eq!(g.scenarios.len(), 1, "{}", plan.render_text());
        (
            g.reason.clone(),
            g.scenarios[0].reasons.clone(),
            plan.model_calls,
        )
    }

    #[test]
    fn nothing_changed_plans_nothing() {
        let base = all(&[spec("france"), spec("japan")]);
        let plan = compute_plan(&base, &base.clone(), None);
        assert_eq!(
            (
                plan.scenarios,
                plan.affected,
                plan.unchanged,
                plan.model_calls,
                plan.replayed
            ),
            (2, 0, 2, 0, 2)
        );
        assert!(plan.groups.is_empty());
        assert!(
            plan.render_text().contains("nothing to run"),
            "{}",
            plan.render_text()
        );
    }

    #[test]
    fn every_reason_is_named() {
        type Edit = fn(&mut Spec);
        let cases: &[(&str, Edit, Reason, Vec<Reason>, usize)] = &[
            (
                "prompt template",
                |s| s.template = "Answer in one word: the capital of {{ country }}?".into(),
                Reason::PromptChanged {
                    file: Some("prompts/capitals.txt".into()),
                },
                vec![Reason::PromptChanged {
                    file: Some("prompts/capitals.txt".into()),
                }],
                1,
            ),
            (
                "one variable",
                |s| s.vars = json!({ "country": "Peru" }),
                Reason::VariablesChanged { vars: vec![] },
                vec![Reason::VariablesChanged {
                    vars: vec!["country".into()],
                }],
                1,
            ),
            (
                "prompt and variable",
                |s| {
                    s.template = "Capital of {{ country }}?".into();
                    s.vars = json!({ "country": "Peru" });
                },
                Reason::PromptChanged {
                    file: Some("prompts/capitals.txt".into()),
                },
                vec![
                    Reason::PromptChanged {
                        file: Some("prompts/capitals.txt".into()),
                    },
                    Reason::VariablesChanged {
                        vars: vec!["country".into()],
                    },
                ],
                1,
            ),
            (
                "model",
                |s| s.provider.model = Some("gpt-4o-mini".into()),
                Reason::ProviderChanged {
                    from: "local".into(),
                    to: "local".into(),
                    params: vec!["model".into()],
                },
                vec![Reason::ProviderChanged {
                    from: "local".into(),
                    to: "local".into(),
                    params: vec!["model".into()],
                }],
                1,
            ),
            (
                "temperature",
                |s| s.provider.params.temperature = Some(0.7),
                Reason::ProviderChanged {
                    from: "local".into(),
                    to: "local".into(),
                    params: vec!["temperature".into()],
                },
                vec![Reason::ProviderChanged {
                    from: "local".into(),
                    to: "local".into(),
                    params: vec!["temperature".into()],
                }],
                1,
            ),
            (
                "repeat raised",
                |s| s.repeat = 3,
                Reason::RepeatAdded { from: 0, to: 0 },
                vec![Reason::RepeatAdded { from: 1, to: 3 }],
                2,
            ),
            (
                "assertion only",
                |s| s.expect = "Paris",
                Reason::AssertionsOnly,
                vec![Reason::AssertionsOnly],
                0,
            ),
            (
                "model and repeat",
                |s| {
                    s.provider.model = Some("other".into());
                    s.repeat = 2;
                },
                Reason::ProviderChanged {
                    from: "local".into(),
                    to: "local".into(),
                    params: vec!["model".into()],
                },
                vec![
                    Reason::ProviderChanged {
                        from: "local".into(),
                        to: "local".into(),
                        params: vec!["model".into()],
                    },
                    Reason::RepeatAdded { from: 1, to: 2 },
                ],
                2,
            ),
        ];
        for (name, edit, group_reason, reasons, calls) in cases {
            let base = spec("france");
            let mut head = base.clone();
            edit(&mut head);
            head.recorded = false;
            let plan = compute_plan(&samples(&base), &samples(&head), None);
            let (g, r, c) = single(&plan);
            assert_eq!(&g, group_reason, "{name}: group");
            assert_eq!(&r, reasons, "{name}: reasons");
            assert_eq!(c, *calls, "{name}: calls\n{}", plan.render_text());
            assert_eq!((plan.scenarios, plan.affected), (1, 1), "{name}");
            assert_eq!(plan.affected_keys().len(), 1, "{name}");
        }
    }

    #[test]
    fn repeat_lowered_needs_no_call() {
        let mut base = spec("france");
        base.repeat = 3;
        let mut head = base.clone();
        head.repeat = 1;
        let plan = compute_plan(&samples(&base), &samples(&head), None);
        let (g, r, calls) = single(&plan);
        assert_eq!(
            (g, r, calls),
            (
                Reason::RepeatRemoved { from: 0, to: 0 },
                vec![Reason::RepeatRemoved { from: 3, to: 1 }],
                0
            )
        );
    }

    #[test]
    fn new_and_removed_scenarios() {
        let base = all(&[spec("france"), spec("japan")]);
        let mut peru = spec("peru");
        peru.recorded = false;
        let head = all(&[spec("france"), peru]);
        let plan = compute_plan(&base, &head, None);
        assert_eq!(plan.groups.len(), 2, "{}", plan.render_text());
        assert_eq!(plan.groups[0].reason, Reason::New);
        assert_eq!(plan.groups[0].scenarios[0].id, "peru");
        assert_eq!(plan.groups[1].reason, Reason::Removed);
        assert_eq!(plan.groups[1].scenarios[0].id, "japan");
        assert_eq!(
            (
                plan.scenarios,
                plan.affected,
                plan.unchanged,
                plan.model_calls
            ),
            (2, 2, 1, 1)
        );
        let keys = plan.affected_keys();
        assert!(keys.contains(&("capitals".to_string(), "peru".to_string())));
        assert!(
            !keys.contains(&("capitals".to_string(), "japan".to_string())),
            "removed is not run"
        );
    }

    #[test]
    fn renaming_a_provider_or_an_unrelated_file_changes_nothing() {
        let base = spec("france");
        let mut head = base.clone();
        head.provider_name = "renamed";
        head.provider.name = "renamed".into();
        head.provider.max_concurrency = 16;
        let plan = compute_plan(&samples(&base), &samples(&head), None);
        assert!(plan.groups.is_empty(), "{}", plan.render_text());
        assert_eq!(plan.model_calls, 0);
    }

    #[test]
    fn variables_reach_http_providers_directly() {
        let mut base = spec("france");
        base.provider = ProviderConfig::new("app", ProviderKind::Http);
        base.template = "fixed prompt".into();
        base.vars = json!({ "country": "France", "tier": "gold" });
        let mut head = base.clone();
        head.vars = json!({ "country": "France", "tier": "silver" });
        head.recorded = false;
        let plan = compute_plan(&samples(&base), &samples(&head), None);
        let (_, reasons, calls) = single(&plan);
        assert_eq!(
            reasons,
            vec![Reason::VariablesChanged {
                vars: vec!["tier".into()]
            }]
        );
        assert_eq!(calls, 1);

        // For a chat provider the same change does not reach the model: nothing to run.
        let mut chat_base = spec("france");
        chat_base.template = "fixed prompt".into();
        chat_base.vars = base.vars.clone();
        let mut chat_head = chat_base.clone();
        chat_head.vars = head.vars.clone();
        assert!(
            compute_plan(&samples(&chat_base), &samples(&chat_head), None)
                .groups
                .is_empty()
        );
    }

    #[test]
    fn switching_to_another_provider() {
        let base = spec("france");
        let mut head = base.clone();
        head.provider_name = "big";
        head.provider.model = Some("big-model".into());
        let plan = compute_plan(&samples(&base), &samples(&head), None);
        let (g, _, _) = single(&plan);
        assert_eq!(
            g,
            Reason::ProviderChanged {
                from: "local".into(),
                to: "big".into(),
                params: vec!["model".into()]
            }
        );
        assert!(
            plan.render_text()
                .contains("provider changed: `local` -> `big`"),
            "{}",
            plan.render_text()
        );
    }

    #[test]
    fn unattributed_and_not_recorded() {
        let base = samples(&spec("france"));
        let mut head = base.clone();
        head[0].fingerprint = Fingerprint::of_bytes(b"a recipe from the future");
        let plan = compute_plan(&base, &head, None);
        assert_eq!(single(&plan).1, vec![Reason::Unattributed]);

        let mut unrecorded = spec("france");
        unrecorded.recorded = false;
        let plan = compute_plan(&samples(&unrecorded), &samples(&unrecorded), None);
        let (g, _, calls) = single(&plan);
        assert_eq!((g, calls), (Reason::NotRecorded, 1));
        assert!(
            plan.affected_keys().is_empty(),
            "not recorded is not a change"
        );
        assert_eq!(plan.keys_needing_calls().len(), 1);
    }

    fn cached(output_tokens: u64) -> CachedResponse {
        CachedResponse {
            output: "Paris".into(),
            model: "smollm2-135m".into(),
            usage: Usage {
                input_tokens: 10,
                output_tokens,
            },
            cost_usd: Some(0.0),
            latency_ms: 5,
            created_unix: 0,
        }
    }

    #[test]
    fn the_cache_makes_samples_replayable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ResponseCache::open(dir.path()).expect("cache");
        let mut france = spec("france");
        france.recorded = false;
        // A scenario renamed: new id, same fingerprint, already in the cache.
        let mut renamed = france.clone();
        renamed.id = "france-renamed".into();
        renamed.vars = france.vars.clone();
        for s in samples(&france) {
            cache.put(&s.fingerprint, &cached(3)).expect("put");
        }
        let plan = compute_plan(&samples(&france), &samples(&renamed), Some(&cache));
        assert_eq!(plan.model_calls, 0, "{}", plan.render_text());
        assert_eq!(plan.replayed, 1);
        let reasons: Vec<Reason> = plan.groups.iter().map(|g| g.reason.clone()).collect();
        assert_eq!(reasons, vec![Reason::New, Reason::Removed]);
        assert!(
            plan.render_text()
                .contains("new scenarios (1 scenario, no model call)"),
            "{}",
            plan.render_text()
        );
    }

    #[test]
    fn cost_is_estimated_from_earlier_usage_then_max_tokens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ResponseCache::open(dir.path()).expect("cache");
        let base = spec("france");
        let mut head = base.clone();
        head.template = "Name the capital of {{ country }}.".into();
        head.recorded = false;
        let head_samples = samples(&head);
        let input_tokens = estimate_message_tokens(&head_samples[0].messages);
        let price = Price {
            input: 0.05,
            output: 0.10,
        };

        // No earlier output known: max_tokens (64) is the output estimate.
        let plan = compute_plan(&samples(&base), &head_samples, Some(&cache));
        let want = cost_usd(
            Usage {
                input_tokens,
                output_tokens: 64,
            },
            price,
        );
        assert!(
            (plan.estimated_cost_usd - want).abs() < 1e-15,
            "{} vs {want}",
            plan.estimated_cost_usd
        );

        // The base output used 7 tokens.
        cache
            .put(&samples(&base)[0].fingerprint, &cached(7))
            .expect("put");
        let plan = compute_plan(&samples(&base), &head_samples, Some(&cache));
        let want = cost_usd(
            Usage {
                input_tokens,
                output_tokens: 7,
            },
            price,
        );
        assert!((plan.estimated_cost_usd - want).abs() < 1e-15);

        // No max_tokens either.
        let mut unbounded = head.clone();
        unbounded.provider.params.max_tokens = None;
        let plan = compute_plan(&[], &samples(&unbounded), None);
        let want = cost_usd(
            Usage {
                input_tokens,
                output_tokens: DEFAULT_OUTPUT_TOKENS,
            },
            price,
        );
        assert!((plan.estimated_cost_usd - want).abs() < 1e-15);

        // Unknown price: counted, not guessed.
        let mut unpriced = head.clone();
        unpriced.price = None;
        let plan = compute_plan(&[], &samples(&unpriced), None);
        assert_eq!((plan.unpriced_calls, plan.estimated_cost_usd), (1, 0.0));
        assert!(
            plan.render_text().contains("1 call at an unknown price"),
            "{}",
            plan.render_text()
        );
    }

    #[test]
    fn text_fits_one_screen_and_json_names_reasons() {
        let mut base = Vec::new();
        let mut head = Vec::new();
        for i in 0..40 {
            let s = spec(&format!("country-{i:02}"));
            base.push(s.clone());
            let mut h = s;
            h.recorded = false;
            match i % 4 {
                0 => h.template = "New wording for {{ country }}".into(),
                1 => h.vars = json!({ "country": format!("other-{i}") }),
                2 => h.expect = "changed",
                _ => {}
            }
            head.push(h);
        }
        for i in 0..15 {
            let mut s = spec(&format!("added-{i:02}"));
            s.suite = "refunds";
            s.recorded = false;
            head.push(s);
        }
        let plan = compute_plan(&all(&base), &all(&head), None);
        let mut plan = plan;
        plan.base = Some("origin/main (3f2a9c1)".into());
        plan.head = Some("working tree".into());
        let text = plan.render_text();
        assert!(
            text.starts_with("55 scenarios, 45 affected, 35 model calls (20 replayed), ~$"),
            "{text}"
        );
        assert!(
            text.contains("base: origin/main (3f2a9c1), head: working tree"),
            "{text}"
        );
        assert!(
            text.contains("prompt changed: prompts/capitals.txt (10 scenarios, 10 calls, ~$"),
            "{text}"
        );
        assert!(text.contains("capitals/country-01 (country)"), "{text}");
        assert!(
            text.contains("assertions changed only: re-score (10 scenarios, no model call)"),
            "{text}"
        );
        assert!(text.contains("  ... and 5 more"), "{text}");
        assert!(text.lines().count() <= 40, "one screen:\n{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");

        let json = serde_json::to_value(&plan).expect("json");
        assert_eq!(json["schema"], 1);
        assert_eq!(json["model_calls"], 35);
        assert_eq!(json["groups"][0]["reason"]["reason"], "prompt-changed");
        assert_eq!(json["groups"][0]["reason"]["file"], "prompts/capitals.txt");
        assert_eq!(
            json["groups"][1]["scenarios"][0]["reasons"][0]["vars"][0],
            "country"
        );
    }

    #[test]
    fn planning_ten_thousand_scenarios_is_quick() {
        let pf = Arc::new(provider_fingerprint(
            &spec("x").provider,
            &MemorySource::new(),
        ));
        let make = |template: &str| -> Vec<PlanInput> {
            (0..10_000)
                .map(|i| {
                    let messages = Arc::new(vec![Message {
                        role: Role::User,
                        content: format!("{template} {i}"),
                    }]);
                    let vars: BTreeMap<String, serde_json::Value> =
                        [("i".to_string(), json!(i))].into();
                    PlanInput {
                        suite: format!("suite-{}", i % 20),
                        scenario_id: format!("s{i}"),
                        repeat: 0,
                        fingerprint: scenario_fingerprint(&pf, &messages, &vars, 0),
                        assertions_fingerprint: Fingerprint::of_bytes(b"a"),
                        messages,
                        vars: Arc::new(vars),
                        provider: "local".into(),
                        provider_fingerprint: Arc::clone(&pf),
                        prompt_file: Some(PathBuf::from(format!("prompts/p{}.txt", i % 200))),
                        prompt_fingerprint: None,
                        price: Some(Price {
                            input: 0.05,
                            output: 0.1,
                        }),
                        max_tokens: Some(64),
                        recorded: true,
                    }
                })
                .collect()
        };
        let base = make("q");
        let mut head = base.clone();
        // One prompt file, used by 50 scenarios, changed.
        for input in head
            .iter_mut()
            .filter(|i| i.prompt_file.as_deref() == Some(Path::new("prompts/p7.txt")))
        {
            let messages = Arc::new(vec![Message {
                role: Role::User,
                content: format!("changed {}", input.scenario_id),
            }]);
            input.fingerprint = scenario_fingerprint(&pf, &messages, &input.vars, 0);
            input.messages = messages;
            input.recorded = false;
        }
        let start = std::time::Instant::now();
        let plan = compute_plan(&base, &head, None);
        let elapsed = start.elapsed();
        assert_eq!(
            (plan.scenarios, plan.affected, plan.model_calls),
            (10_000, 50, 50),
            "{}",
            plan.render_text()
        );
        assert_eq!(
            plan.groups[0].reason,
            Reason::PromptChanged {
                file: Some("prompts/p7.txt".into())
            }
        );
        assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
    }
}
