//! `evalgit diff` on a terminal: per suite base vs head with deltas and significance, the
//! scenarios that changed, and the gate decision with the policy that decided it.

use crate::policy::{ChangeKind, ChangeStatus, Significance, SuiteComparison, Verdict};

use super::terminal::{gate_lines, one_line};

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn pp(delta: f64) -> String {
    format!("{:+.1} pp", delta * 100.0)
}

fn usd(x: f64) -> String {
    format!("${x:.6}")
}

/// `-12.0 pp, regressed (p=0.004)` / `+0.0 pp, inconclusive (MDE 18.0 pp)`.
pub fn significance_text(s: &Significance) -> String {
    let mut out = format!("{}, {}", pp(s.delta), s.status.name());
    match s.status {
        ChangeStatus::Regressed | ChangeStatus::Improved => {
            if let Some(p) = s.p_value {
                out.push_str(&format!(" (p={p:.3})"));
            }
        }
        ChangeStatus::Inconclusive => {
            if let Some(m) = s.min_detectable_effect {
                out.push_str(&format!(
                    " (can only detect changes of {:.1} pp or more)",
                    m * 100.0
                ));
            }
        }
        _ => {}
    }
    out
}

fn suite_block(c: &SuiteComparison) -> String {
    let mut out = format!(
        "suite {}  ({} paired scenario{})\n",
        c.suite,
        c.paired,
        if c.paired == 1 { "" } else { "s" }
    );
    let h = &c.head;
    let (bp, bs, bc, bcpr) = match &c.base {
        Some(b) => (
            pct(b.pass_rate),
            format!("{:.3}", b.mean_score),
            usd(b.cost_usd),
            b.cost_per_resolution.map(usd).unwrap_or("-".into()),
        ),
        None => ("-".into(), "-".into(), "-".into(), "-".into()),
    };
    out.push_str(&format!(
        "  {:<20} {:>12} {:>12}  {}\n",
        "", "base", "head", "change"
    ));
    out.push_str(&format!(
        "  {:<20} {:>12} {:>12}  {}\n",
        "pass rate",
        bp,
        pct(h.pass_rate),
        significance_text(&c.pass_rate)
    ));
    let head_score = format!("{:.3}", h.mean_score);
    let score_change = format!("{:+.3}, {}", c.score.delta, c.score.status.name());
    out.push_str(&format!(
        "  {:<20} {:>12} {:>12}  {}\n",
        "mean score", bs, head_score, score_change
    ));
    let cost_change = match (c.cost_delta_usd, c.cost_delta_pct) {
        (Some(d), Some(p)) => format!("{d:+.6} ({p:+.1}%)"),
        (Some(d), None) => format!("{d:+.6}"),
        _ => "-".into(),
    };
    out.push_str(&format!(
        "  {:<20} {:>12} {:>12}  {}\n",
        "cost",
        bc,
        usd(h.cost_usd),
        cost_change
    ));
    out.push_str(&format!(
        "  {:<20} {:>12} {:>12}  {}\n",
        "cost/resolution",
        bcpr,
        h.cost_per_resolution.map(usd).unwrap_or("-".into()),
        c.cpr_delta
            .map(|d| format!("{d:+.6}"))
            .unwrap_or("-".into())
    ));
    out.push_str(&format!(
        "  {:<20} {} called, {} replayed\n",
        "head scenarios", h.called, h.replayed
    ));
    for t in &c.threshold_checks {
        out.push_str(&format!(
            "  {} {} {:.3} (actual {:.3}, from {})\n",
            if t.pass { "ok  " } else { "FAIL" },
            t.name,
            t.required,
            t.actual,
            t.source
        ));
    }
    if !c.pass_rate.explanation.is_empty() {
        out.push_str(&format!("  {}\n", c.pass_rate.explanation));
    }
    out
}

/// The whole verdict as text.
pub fn render(verdict: &Verdict) -> String {
    let mut out = String::new();
    for c in &verdict.suites {
        out.push_str(&suite_block(c));
        out.push('\n');
    }
    let groups = [
        ChangeKind::NewlyFailing,
        ChangeKind::NewlyPassing,
        ChangeKind::New,
        ChangeKind::Removed,
        ChangeKind::OutputChanged,
        ChangeKind::StillFailing,
    ];
    for kind in groups {
        let items: Vec<_> = verdict.changes.iter().filter(|c| c.kind == kind).collect();
        if items.is_empty() {
            continue;
        }
        out.push_str(&format!("{} ({}):\n", kind.name(), items.len()));
        for c in items.iter().take(20) {
            let cost = match (c.base_cost, c.head_cost) {
                (Some(b), Some(h)) if (h - b).abs() > 1e-12 => format!("  cost {:+.6}", h - b),
                _ => String::new(),
            };
            out.push_str(&format!("  {}/{}{}", c.suite, c.id, cost));
            if !c.reason.is_empty() {
                out.push_str(&format!("  {}", one_line(&c.reason, 120)));
            }
            out.push('\n');
        }
        if items.len() > 20 {
            out.push_str(&format!("  ... and {} more\n", items.len() - 20));
        }
    }
    match verdict.base_total_cost_usd {
        Some(base) => out.push_str(&format!(
            "\ncost: base {} -> head {} ({:+.6})\n",
            usd(base),
            usd(verdict.total_cost_usd),
            verdict.total_cost_usd - base
        )),
        None => out.push_str(&format!("\ncost: {}\n", usd(verdict.total_cost_usd))),
    }
    out.push_str(&format!(
        "spent by this run: {} (of which {} on judges)\n",
        usd(verdict.spent_usd),
        usd(verdict.eval_cost_usd)
    ));
    out.push_str(&gate_lines(&verdict.gate));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BudgetPolicy, GatePolicy};
    use crate::report::fixture::{check, sample, scenario};
    use crate::runner::OutputSource;

    // Regression: the cost change was shown 100x too large ("+2000.0%" for +20 %), because the
    // verdict's percentage was multiplied by 100 again here and in the Markdown comment.
    #[test]
    fn cost_change_is_shown_in_percent_once() {
        let one = |cost: f64| {
            let mut s = sample(
                0,
                OutputSource::Called,
                Some("ok"),
                vec![check("contains", true, "ok")],
            );
            s.cost_usd = cost;
            let mut r = scenario("s", "a", vec![s]);
            r.cost_usd = cost;
            r
        };
        let base = vec![one(1.0)];
        let head = vec![one(1.2)];
        let verdict = crate::policy::decide(
            &head,
            Some(&base),
            &[],
            &GatePolicy::default(),
            &BudgetPolicy::default(),
            Default::default(),
        );
        let text = render(&verdict);
        assert!(text.contains("(+20.0%)"), "{text}");
        let md = crate::report::render_comment(&verdict, &Default::default());
        assert!(md.contains("+20.0%") && !md.contains("2000.0%"), "{md}");
    }
}
