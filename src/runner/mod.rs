//! Turning suites into jobs and running them: replay what is known, call a provider for the
//! rest, score, and stream results to the reporters.

mod result;

pub use result::{CheckResult, OutputSource, RESULTS_SCHEMA, SampleResult, ScenarioResult, ScenarioStatus};
