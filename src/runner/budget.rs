//! The hard spending cap of a run (`budget.max_run_usd`, per-suite `max_usd`).
//!
//! Before each call the runner reserves an upper bound of its cost: every byte of the prompt
//! counted as a token (no tokenizer produces more tokens than bytes, plus a per-message
//! overhead) and the full `max_tokens` of output. A call whose reservation could cross a cap
//! is not issued. After the call the reservation is replaced by the real cost, so the sum of
//! real costs never exceeds the cap.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::config::{Message, Price};

/// Output tokens assumed when a provider sets no `max_tokens`.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u64 = 1024;

/// An upper bound on the input tokens of these messages.
pub fn input_tokens_upper_bound(messages: &[Message]) -> u64 {
    messages
        .iter()
        .map(|m| m.content.len() as u64 + 8)
        .sum::<u64>()
        + 16
}

pub fn cost_upper_bound(messages: &[Message], max_tokens: Option<u32>, price: Price) -> f64 {
    let input = input_tokens_upper_bound(messages) as f64;
    let output = max_tokens
        .map(u64::from)
        .unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS) as f64;
    (input * price.input + output * price.output) / 1_000_000.0
}

#[derive(Debug, Default)]
struct Ledger {
    spent: f64,
    reserved: f64,
    suite_spent: HashMap<String, f64>,
    suite_reserved: HashMap<String, f64>,
    stopped: bool,
}

#[derive(Debug)]
pub struct Budget {
    cap: Option<f64>,
    suite_caps: HashMap<String, f64>,
    ledger: Mutex<Ledger>,
}

/// A granted reservation; give it back with [`Budget::settle`].
#[derive(Debug)]
pub struct Reservation {
    suite: String,
    amount: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    Run {
        cap: f64,
        committed: f64,
        needed: f64,
    },
    Suite {
        suite: String,
        cap: f64,
        committed: f64,
        needed: f64,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Run {
                cap,
                committed,
                needed,
            } => write!(
                f,
                "not run: budget.max_run_usd = {cap} would be exceeded (${committed:.6} spent or reserved, this call may cost up to ${needed:.6})"
            ),
            Refusal::Suite {
                suite,
                cap,
                committed,
                needed,
            } => write!(
                f,
                "not run: max_usd = {cap} of suite `{suite}` would be exceeded (${committed:.6} spent or reserved, this call may cost up to ${needed:.6})"
            ),
        }
    }
}

impl Budget {
    pub fn new(cap: Option<f64>, suite_caps: HashMap<String, f64>) -> Self {
        Budget {
            cap,
            suite_caps,
            ledger: Mutex::new(Ledger::default()),
        }
    }

    pub fn cap(&self) -> Option<f64> {
        self.cap
    }

    pub fn has_caps(&self) -> bool {
        self.cap.is_some() || !self.suite_caps.is_empty()
    }

    pub fn suite_cap(&self, suite: &str) -> Option<f64> {
        self.suite_caps.get(suite).copied()
    }

    /// Reserves `amount` for a call of `suite`, or refuses when a cap could be crossed.
    pub fn reserve(&self, suite: &str, amount: f64) -> Result<Reservation, Refusal> {
        let mut l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cap) = self.cap {
            let committed = l.spent + l.reserved;
            if committed + amount > cap + 1e-12 {
                l.stopped = true;
                return Err(Refusal::Run {
                    cap,
                    committed,
                    needed: amount,
                });
            }
        }
        if let Some(&cap) = self.suite_caps.get(suite) {
            let committed = l.suite_spent.get(suite).copied().unwrap_or(0.0)
                + l.suite_reserved.get(suite).copied().unwrap_or(0.0);
            if committed + amount > cap + 1e-12 {
                l.stopped = true;
                return Err(Refusal::Suite {
                    suite: suite.to_string(),
                    cap,
                    committed,
                    needed: amount,
                });
            }
        }
        l.reserved += amount;
        *l.suite_reserved.entry(suite.to_string()).or_default() += amount;
        Ok(Reservation {
            suite: suite.to_string(),
            amount,
        })
    }

    /// Replaces a reservation by what the call really cost (0 when it failed).
    pub fn settle(&self, reservation: Reservation, actual: f64) {
        let mut l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        l.reserved = (l.reserved - reservation.amount).max(0.0);
        if let Some(r) = l.suite_reserved.get_mut(&reservation.suite) {
            *r = (*r - reservation.amount).max(0.0);
        }
        l.spent += actual;
        *l.suite_spent.entry(reservation.suite).or_default() += actual;
    }

    /// Records spending that needed no reservation (no cap is set).
    pub fn record(&self, suite: &str, actual: f64) {
        let mut l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        l.spent += actual;
        *l.suite_spent.entry(suite.to_string()).or_default() += actual;
    }

    pub fn spent(&self) -> f64 {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner()).spent
    }

    pub fn stopped(&self) -> bool {
        self.ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_never_let_spending_cross_the_cap() {
        let b = Budget::new(Some(1.0), HashMap::new());
        let r1 = b.reserve("s", 0.6).expect("first fits");
        assert!(b.reserve("s", 0.5).is_err(), "0.6 reserved + 0.5 > 1.0");
        b.settle(r1, 0.2);
        let r2 = b.reserve("s", 0.5).expect("0.2 spent + 0.5 fits");
        b.settle(r2, 0.5);
        assert!((b.spent() - 0.7).abs() < 1e-12);
        assert!(b.stopped());
    }

    #[test]
    fn suite_caps_are_separate() {
        let b = Budget::new(None, HashMap::from([("a".to_string(), 0.1)]));
        let r = b.reserve("a", 0.1).expect("fits exactly");
        b.settle(r, 0.1);
        assert!(matches!(b.reserve("a", 0.01), Err(Refusal::Suite { .. })));
        assert!(b.reserve("b", 5.0).is_ok());
    }

    #[test]
    fn upper_bound_counts_bytes_and_max_tokens() {
        let m = vec![Message {
            role: crate::config::Role::User,
            content: "abcd".into(),
        }];
        let p = Price {
            input: 1_000_000.0,
            output: 2_000_000.0,
        };
        // (4 + 8 + 16) input tokens at $1 each, 10 output tokens at $2 each.
        assert_eq!(cost_upper_bound(&m, Some(10), p), 28.0 + 20.0);
    }
}
