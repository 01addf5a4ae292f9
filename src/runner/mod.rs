//! Turning suites into jobs and running them: replay what is known, call a provider for the
//! rest, score, and stream results to the reporters.

mod budget;
mod execute;
mod job;
mod observer;
mod provenance;
mod result;

pub use budget::{Budget, Refusal, cost_upper_bound};
pub use execute::{Recordings, RunOptions, RunOutcome, execute};
pub use job::{Job, JobFilter, JobSet, Shard, expand_jobs};
pub use observer::{Fanout, Observer, RunInfo};
pub use provenance::{PriceRecord, Provenance, ProviderRecord, SuiteRecord};
pub use result::{
    CheckResult, ErrorCause, OutputSource, RESULTS_SCHEMA, SampleResult, ScenarioResult,
    ScenarioStatus,
};
