//! What a run tells its reporters, as it happens. Reporters (terminal, JSON results file,
//! snapshots) implement [`Observer`]; the runner calls them from one task, in order, so they
//! can be plain synchronous code.

use super::ScenarioResult;

/// Facts about a run that every reporter may print or store.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunInfo {
    pub run_id: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub evalgit_version: String,
    pub git_commit: Option<String>,
    pub profile: Option<String>,
    pub scenarios: usize,
    pub samples: usize,
    /// Samples that need a model call (not replayable).
    pub to_call: usize,
    /// Samples that can neither call nor replay (`--offline`, `--affected-since`): skipped.
    #[serde(default)]
    pub to_skip: usize,
    pub shard: Option<String>,
    /// Models, prices, thresholds and budgets in force (absent in files from older runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<super::provenance::Provenance>,
}

pub trait Observer {
    fn started(&mut self, _info: &RunInfo) {}
    /// A scenario has all its samples; called once per scenario, in completion order.
    fn scenario_finished(&mut self, _result: &ScenarioResult) {}
    /// Something the user should know that does not stop the run (corrupt cache entry...).
    fn warning(&mut self, _message: &str) {}
}

/// Sends every event to several observers.
pub struct Fanout<'a>(pub Vec<&'a mut dyn Observer>);

impl Observer for Fanout<'_> {
    fn started(&mut self, info: &RunInfo) {
        for o in self.0.iter_mut() {
            o.started(info);
        }
    }
    fn scenario_finished(&mut self, result: &ScenarioResult) {
        for o in self.0.iter_mut() {
            o.scenario_finished(result);
        }
    }
    fn warning(&mut self, message: &str) {
        for o in self.0.iter_mut() {
            o.warning(message);
        }
    }
}
