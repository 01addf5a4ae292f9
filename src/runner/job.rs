//! Expanding suites into jobs: one job per (scenario, repeat), with its rendered messages and
//! fingerprints. Plain synchronous code; the async part of the runner only executes jobs.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::cache::{
    Fingerprint, ProviderFingerprint, assertions_fingerprint, provider_fingerprint,
    scenario_fingerprint,
};
use crate::config::{
    Diagnostic, Diagnostics, Message, Project, Severity, Source, template::CompiledPrompt,
};
use crate::snapshot::glob_match;

/// Which scenarios to run. Filters apply first, then the shard.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Suite names; empty means every suite.
    pub suites: Vec<String>,
    /// Scenario id patterns (`*` and `?` globs, or exact ids); empty means every scenario.
    pub ids: Vec<String>,
    pub shard: Option<Shard>,
}

/// `--shard K/N`: this process runs shard K (1-based) of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parses `K/N` with 1 <= K <= N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("invalid shard `{text}`: expected K/N, e.g. 1/4"))?;
        let index: u32 = k
            .trim()
            .parse()
            .map_err(|_| format!("invalid shard `{text}`: K must be a number"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("invalid shard `{text}`: N must be a number"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("invalid shard `{text}`: need 1 <= K <= N"));
        }
        Ok(Shard { index, count })
    }

    /// The stable shard assignment, the same on every machine: the first 8 bytes (little
    /// endian) of blake3(`suite` + `\0` + `scenario id`), modulo N, plus one.
    pub fn of(suite: &str, id: &str, count: u32) -> u32 {
        let mut h = blake3::Hasher::new();
        h.update(suite.as_bytes());
        h.update(&[0]);
        h.update(id.as_bytes());
        let bytes = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&bytes.as_bytes()[..8]);
        (u64::from_le_bytes(first) % u64::from(count)) as u32 + 1
    }

    pub fn contains(&self, suite: &str, id: &str) -> bool {
        Shard::of(suite, id, self.count) == self.index
    }
}

impl JobFilter {
    pub fn selects_suite(&self, suite: &str) -> bool {
        self.suites.is_empty() || self.suites.iter().any(|s| s == suite)
    }

    pub fn selects(&self, suite: &str, id: &str) -> bool {
        if !self.selects_suite(suite) {
            return false;
        }
        if !self.ids.is_empty() {
            let qualified = format!("{suite}/{id}");
            if !self
                .ids
                .iter()
                .any(|p| glob_match(p, id) || glob_match(p, &qualified))
            {
                return false;
            }
        }
        match self.shard {
            Some(shard) => shard.contains(suite, id),
            None => true,
        }
    }
}

/// One model call to make or replay: a scenario's sample.
#[derive(Debug, Clone)]
pub struct Job {
    pub suite_index: usize,
    pub scenario_index: usize,
    pub suite: Arc<str>,
    pub scenario_id: Arc<str>,
    pub repeat: u32,
    /// Samples this scenario has in all (its repeat count).
    pub samples: u32,
    pub messages: Arc<Vec<Message>>,
    pub provider: Arc<str>,
    pub fingerprint: Fingerprint,
    pub assertions_fingerprint: Fingerprint,
}

/// The jobs of a project, plus what was computed on the way that others need.
#[derive(Debug, Clone)]
pub struct JobSet {
    pub jobs: Vec<Job>,
    /// Per provider name, its fingerprint (for change attribution in `plan`).
    pub providers: BTreeMap<String, ProviderFingerprint>,
}

/// Renders every selected scenario's messages and computes its fingerprints.
pub fn expand_jobs(
    project: &Project,
    source: &dyn Source,
    filter: &JobFilter,
) -> Result<JobSet, Diagnostics> {
    let mut providers = BTreeMap::new();
    for (name, config) in &project.settings.providers {
        providers.insert(name.clone(), provider_fingerprint(config, source));
    }
    let mut diagnostics = Diagnostics::default();
    let mut jobs = Vec::new();
    for (suite_index, suite) in project.suites.iter().enumerate() {
        if !filter.selects_suite(&suite.name) {
            continue;
        }
        let Some(provider_fp) = providers.get(&suite.provider) else {
            diagnostics.push(Diagnostic::whole_file(
                Severity::Error,
                suite.file.clone(),
                format!(
                    "suite `{}` uses provider `{}`, which evalgit.toml does not define",
                    suite.name, suite.provider
                ),
            ));
            continue;
        };
        let prompt = match CompiledPrompt::new(&suite.prompt) {
            Ok(p) => p,
            Err(e) => {
                diagnostics.push(Diagnostic::whole_file(
                    Severity::Error,
                    suite.file.clone(),
                    format!("prompt template: {e}"),
                ));
                continue;
            }
        };
        let suite_name: Arc<str> = Arc::from(suite.name.as_str());
        let provider_name: Arc<str> = Arc::from(suite.provider.as_str());
        for (scenario_index, scenario) in suite.scenarios.iter().enumerate() {
            if !filter.selects(&suite.name, &scenario.id) {
                continue;
            }
            // Built for the moment: the project stores vars compactly (`config::Vars`).
            let vars = scenario.vars.to_map();
            let messages = match prompt.render(&vars) {
                Ok(m) => Arc::new(m),
                Err(e) => {
                    let mut d = Diagnostic::whole_file(
                        Severity::Error,
                        scenario.file.clone(),
                        format!("scenario `{}`: cannot render the prompt: {e}", scenario.id),
                    );
                    d.line = scenario.line;
                    d.column = 1;
                    diagnostics.push(d);
                    continue;
                }
            };
            let samples = scenario.repeat.unwrap_or(suite.repeat).max(1);
            let rule = scenario.pass_rule.unwrap_or(suite.pass_rule);
            let assertions_fp = assertions_fingerprint(&scenario.asserts, scenario.threshold, rule);
            let scenario_id: Arc<str> = Arc::from(scenario.id.as_str());
            for repeat in 0..samples {
                jobs.push(Job {
                    suite_index,
                    scenario_index,
                    suite: suite_name.clone(),
                    scenario_id: scenario_id.clone(),
                    repeat,
                    samples,
                    messages: messages.clone(),
                    provider: provider_name.clone(),
                    fingerprint: scenario_fingerprint(provider_fp, &messages, &vars, repeat),
                    assertions_fingerprint: assertions_fp,
                });
            }
        }
    }
    if diagnostics.has_errors() {
        Err(diagnostics)
    } else {
        Ok(JobSet { jobs, providers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_parse_rejects_bad_input() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "1/0", "x/2", "3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_partition_scenarios_and_are_stable() {
        // Pinned: the assignment must be the same on every machine and every release.
        assert_eq!(
            Shard::of("capitals", "france", 4),
            Shard::of("capitals", "france", 4)
        );
        let mut counts = [0u32; 4];
        for i in 0..4000 {
            let id = format!("s{i}");
            let owners: Vec<u32> = (1..=4)
                .filter(|k| {
                    Shard {
                        index: *k,
                        count: 4,
                    }
                    .contains("suite", &id)
                })
                .collect();
            assert_eq!(owners.len(), 1);
            counts[(owners[0] - 1) as usize] += 1;
        }
        for c in counts {
            assert!((800..1200).contains(&c), "unbalanced shards: {counts:?}");
        }
    }
}
