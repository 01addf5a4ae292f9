//! [`Plan`]: the answer to "what will this change run, why, and for how much", as text that
//! fits one screen and as JSON (`evalgit plan --json`, schema version [`PLAN_SCHEMA`]).

use std::collections::HashSet;
use std::fmt::Write as _;

use serde::Serialize;

use super::Reason;

/// Version of the plan's JSON form. Bump on any incompatible change.
pub const PLAN_SCHEMA: u32 = 1;

/// Scenario ids listed per group in the text output; the rest are counted.
const IDS_PER_GROUP: usize = 10;
/// Width the id lists wrap at.
const LINE_WIDTH: usize = 96;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub schema: u32,
    /// What the head side was compared with, e.g. `origin/main (3f2a9c1)`; set by the caller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// e.g. `working tree`; set by the caller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// Scenarios on the head side.
    pub scenarios: usize,
    /// Scenarios in a group: to run, to re-score, or removed.
    pub affected: usize,
    /// Head scenarios with nothing to do.
    pub unchanged: usize,
    /// Samples that need a model call.
    pub model_calls: usize,
    /// Samples that replay from the cache or an accepted snapshot.
    pub replayed: usize,
    /// Estimated cost of the model calls with a known price.
    pub estimated_cost_usd: f64,
    /// Model calls whose model has no known price (not in `estimated_cost_usd`).
    pub unpriced_calls: usize,
    pub groups: Vec<PlanGroup>,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            schema: PLAN_SCHEMA,
            base: None,
            head: None,
            scenarios: 0,
            affected: 0,
            unchanged: 0,
            model_calls: 0,
            replayed: 0,
            estimated_cost_usd: 0.0,
            unpriced_calls: 0,
            groups: Vec::new(),
        }
    }
}

/// The scenarios affected for one reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanGroup {
    pub title: String,
    /// The reason, without per-scenario details (those are on each scenario).
    pub reason: Reason,
    pub model_calls: usize,
    pub estimated_cost_usd: f64,
    pub unpriced_calls: usize,
    /// Sorted by suite, then id.
    pub scenarios: Vec<AffectedScenario>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AffectedScenario {
    pub suite: String,
    pub id: String,
    /// Samples (repeats) on the head side; on the base side for a removed scenario.
    pub samples: u32,
    pub model_calls: usize,
    pub estimated_cost_usd: f64,
    pub unpriced_calls: usize,
    /// The primary reason first (it decides the group).
    pub reasons: Vec<Reason>,
}

impl Plan {
    /// Head scenarios that changed (anything but removed, and unchanged-but-not-recorded):
    /// what `run --affected-since` selects.
    pub fn affected_keys(&self) -> HashSet<(String, String)> {
        super::compute::keys_of(&self.groups, |r| {
            !matches!(r, Reason::Removed | Reason::NotRecorded)
        })
    }

    /// Head scenarios with at least one sample to call.
    pub fn keys_needing_calls(&self) -> HashSet<(String, String)> {
        let mut out = HashSet::new();
        for g in &self.groups {
            for s in g.scenarios.iter().filter(|s| s.model_calls > 0) {
                out.insert((s.suite.clone(), s.id.clone()));
            }
        }
        out
    }

    /// The plan for a terminal: a header line, then each group with up to ten scenario ids.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} scenario{}, {} affected, {} model call{}{}, {}",
            self.scenarios,
            plural(self.scenarios),
            self.affected,
            self.model_calls,
            plural(self.model_calls),
            if self.replayed > 0 {
                format!(" ({} replayed)", self.replayed)
            } else {
                String::new()
            },
            cost_text(
                self.estimated_cost_usd,
                self.unpriced_calls,
                self.model_calls
            ),
        );
        match (&self.base, &self.head) {
            (Some(b), Some(h)) => {
                let _ = writeln!(out, "base: {b}, head: {h}");
            }
            (Some(b), None) => {
                let _ = writeln!(out, "base: {b}");
            }
            _ => {}
        }
        if self.groups.is_empty() {
            out.push_str(
                "nothing to run: every scenario replays from the cache or the accepted snapshots\n",
            );
            return out;
        }
        for group in &self.groups {
            out.push('\n');
            let n = group.scenarios.len();
            let mut stats = format!("{n} scenario{}", plural(n));
            if group.model_calls > 0 {
                let _ = write!(
                    stats,
                    ", {} call{}, {}",
                    group.model_calls,
                    plural(group.model_calls),
                    cost_text(
                        group.estimated_cost_usd,
                        group.unpriced_calls,
                        group.model_calls
                    )
                );
            } else if !matches!(group.reason, Reason::Removed) {
                stats.push_str(", no model call");
            }
            let _ = writeln!(out, "{} ({stats})", group.title);
            let items: Vec<String> = group
                .scenarios
                .iter()
                .take(IDS_PER_GROUP)
                .map(scenario_label)
                .collect();
            wrap_into(&mut out, &items);
            if n > IDS_PER_GROUP {
                let _ = writeln!(out, "  ... and {} more", n - IDS_PER_GROUP);
            }
        }
        out
    }
}

fn scenario_label(s: &AffectedScenario) -> String {
    let mut label = format!("{}/{}", s.suite, s.id);
    let mut notes = Vec::new();
    if let Some(detail) = s.reasons[0].detail() {
        notes.push(detail);
    }
    for also in &s.reasons[1..] {
        match also.detail() {
            Some(d) => notes.push(format!("also {}: {d}", also.short())),
            None => notes.push(format!("also {}", also.short())),
        }
    }
    if !notes.is_empty() {
        let _ = write!(label, " ({})", notes.join("; "));
    }
    label
}

/// Comma-separated items, two-space indent, wrapped at [`LINE_WIDTH`].
fn wrap_into(out: &mut String, items: &[String]) {
    let mut line = String::from(" ");
    for (i, item) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() {
            format!("{item},")
        } else {
            item.clone()
        };
        if line.len() > 2 && line.len() + 1 + piece.len() > LINE_WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = String::from(" ");
        }
        line.push(' ');
        line.push_str(&piece);
    }
    if line.len() > 1 {
        out.push_str(&line);
        out.push('\n');
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `~$0.0042`, `$0`, `~$0.01 + 3 calls at an unknown price`.
fn cost_text(usd: f64, unpriced: usize, calls: usize) -> String {
    if calls == 0 {
        return "$0".to_string();
    }
    let priced = calls - unpriced.min(calls);
    let mut text = if priced == 0 {
        String::new()
    } else {
        format!("~{}", usd_text(usd))
    };
    if unpriced > 0 {
        if !text.is_empty() {
            text.push_str(" + ");
        }
        let _ = write!(
            text,
            "{unpriced} call{} at an unknown price",
            plural(unpriced)
        );
    }
    text
}

/// Dollars with two significant digits below a cent (small models cost fractions of one).
fn usd_text(usd: f64) -> String {
    if usd >= 1.0 {
        format!("${usd:.2}")
    } else if usd >= 0.01 {
        format!("${usd:.3}")
    } else if usd >= 1e-9 {
        let decimals = (-usd.log10()).ceil() as usize + 1;
        format!("${usd:.decimals$}")
    } else if usd > 0.0 {
        "<$0.000000001".to_string()
    } else {
        "$0".to_string()
    }
}
