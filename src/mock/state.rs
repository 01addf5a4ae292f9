//! What the mock counts: requests (by path and by prompt), rule uses, and requests in flight.
//! Counters are atomics; the one map (by prompt) is locked only to bump an entry, never
//! across a delay.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde_json::{Map, Value, json};

use super::config::{MockConfig, Rule};

/// The model endpoints, in the order of [`MockState::by_path`].
pub(super) const MODEL_PATHS: [&str; 3] = ["/v1/chat/completions", "/v1/messages", "/http"];

pub(super) struct MockState {
    pub config: MockConfig,
    rule_uses: Vec<AtomicU64>,
    requests: AtomicU64,
    by_path: [AtomicU64; 3],
    by_prompt: Mutex<HashMap<String, u64>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// Counts one request as in flight until dropped.
pub(super) struct InFlight<'a>(&'a MockState);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl MockState {
    pub fn new(config: MockConfig) -> Self {
        let rule_uses = config.rules.iter().map(|_| AtomicU64::new(0)).collect();
        MockState {
            config,
            rule_uses,
            requests: AtomicU64::new(0),
            by_path: Default::default(),
            by_prompt: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        }
    }

    /// Counts a model request on `path_index`; returns its number (0-based) and the
    /// in-flight guard.
    pub fn begin(&self, path_index: usize) -> (u64, InFlight<'_>) {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if let Some(counter) = self.by_path.get(path_index) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        (self.requests.fetch_add(1, Ordering::SeqCst), InFlight(self))
    }

    pub fn count_prompt(&self, prompt: &str) {
        let mut map = self.by_prompt.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(prompt) {
            Some(n) => *n += 1,
            None => {
                map.insert(prompt.to_string(), 1);
            }
        }
    }

    /// The first rule that matches `prompt` on `path` and still has uses left.
    pub fn pick_rule(&self, path: &str, prompt: &str) -> Option<&Rule> {
        for (rule, uses) in self.config.rules.iter().zip(&self.rule_uses) {
            if rule.path.as_deref().is_some_and(|p| p != path) || !prompt.contains(&rule.matches) {
                continue;
            }
            if let Some(times) = rule.times
                && uses.fetch_add(1, Ordering::SeqCst) >= times
            {
                continue;
            }
            return Some(rule);
        }
        None
    }

    /// Whether request number `n` fails at random: a pure function of the seed and `n`, so
    /// a run is reproducible whatever the order requests arrive in.
    pub fn random_failure(&self, n: u64) -> bool {
        let p = self.config.fail_rate;
        if p <= 0.0 {
            return false;
        }
        let draw = splitmix64(self.config.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 11;
        (draw as f64 / (1u64 << 53) as f64) < p
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Requests whose last user message contains `substring`.
    pub fn requests_for(&self, substring: &str) -> u64 {
        let map = self.by_prompt.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .filter(|(prompt, _)| prompt.contains(substring))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn stats(&self) -> Value {
        let by_path: Map<String, Value> = MODEL_PATHS
            .iter()
            .zip(&self.by_path)
            .map(|(path, n)| (path.to_string(), json!(n.load(Ordering::Relaxed))))
            .collect();
        let by_prompt: Map<String, Value> = {
            let map = self.by_prompt.lock().unwrap_or_else(|p| p.into_inner());
            let mut entries: Vec<_> = map.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.into_iter().collect()
        };
        json!({
            "requests": self.requests(),
            "by_path": by_path,
            "by_prompt": by_prompt,
            "in_flight": self.in_flight.load(Ordering::SeqCst),
            "max_in_flight": self.max_in_flight(),
        })
    }

    /// Forgets counts and rule uses; `max_in_flight` restarts from what is in flight now.
    pub fn reset(&self) {
        self.requests.store(0, Ordering::SeqCst);
        for counter in self.by_path.iter().chain(&self.rule_uses) {
            counter.store(0, Ordering::SeqCst);
        }
        self.by_prompt
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.max_in_flight
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_fall_through_after_their_uses() {
        let state = MockState::new(MockConfig {
            rules: vec![
                Rule::matching("paris").status(429).times(2),
                Rule::matching("").reply("any"),
            ],
            ..MockConfig::default()
        });
        let picked: Vec<_> = (0..4)
            .map(|_| {
                state
                    .pick_rule("/http", "capital paris")
                    .and_then(|r| r.status)
            })
            .collect();
        assert_eq!(picked, vec![Some(429), Some(429), None, None]);
        assert_eq!(
            state
                .pick_rule("/http", "rome")
                .and_then(|r| r.reply.clone())
                .as_deref(),
            Some("any")
        );
        state.reset();
        assert_eq!(
            state.pick_rule("/http", "paris").and_then(|r| r.status),
            Some(429)
        );
    }

    #[test]
    fn random_failures_follow_the_rate_and_the_seed() {
        let state = |seed| {
            MockState::new(MockConfig {
                fail_rate: 0.25,
                seed,
                ..MockConfig::default()
            })
        };
        let (a, b) = (state(1), state(1));
        let fails = (0..10_000).filter(|&n| a.random_failure(n)).count();
        assert!((2000..3000).contains(&fails), "{fails}");
        assert!((0..100).all(|n| a.random_failure(n) == b.random_failure(n)));
    }
}
