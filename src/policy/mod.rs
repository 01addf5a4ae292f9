//! The verdict: suite statistics, the paired comparison with a baseline, and the gate that
//! allows or blocks a merge. Plain synchronous code; formulas in `docs/statistics.md`.

mod gate;
mod redact;
pub mod stats;
mod verdict;

pub use gate::{SuiteGateConfig, decide};
pub use redact::{Redactor, SECRET_MARK, SECRET_MIN_CHARS, configured_secrets};

pub use verdict::{
    BudgetReport, ChangeKind, ChangeStatus, GateDecision, GateLevel, GateReason, GateReasonKind,
    ScenarioChange, Significance, SuiteComparison, SuiteStats, ThresholdCheck, Verdict,
    suite_stats,
};
