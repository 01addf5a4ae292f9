//! `evalgit plan`: which scenarios a change affects and why, how many model calls that means
//! and what they should cost, before anything is spent.
//!
//! The runner expands both sides (a git revision and the working tree) into samples with
//! their fingerprints ([`PlanInput`]); [`compute_plan`] compares them scenario by scenario
//! and names the input that changed ([`Reason`]); [`Plan`] renders the result for a terminal
//! or as JSON.

mod compute;
mod input;
mod reason;
mod summary;

pub use compute::{DEFAULT_OUTPUT_TOKENS, compute_plan};
pub use input::PlanInput;
pub use reason::Reason;
pub use summary::{AffectedScenario, PLAN_SCHEMA, Plan, PlanGroup};
