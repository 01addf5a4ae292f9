//! The hard spending cap of a run (`budget.max_run_usd`, per-suite `max_usd`).
//!
//! Before each call the runner reserves an upper bound of its cost: every byte of the prompt
//! counted as a token (no tokenizer produces more tokens than bytes, plus a per-message
//! overhead) and the full `max_tokens` of output. A call whose reservation could cross a cap
//! is not issued. After the call the reservation is replaced by the real cost, so the sum of
//! real costs never exceeds the cap; a call whose provider reported no token usage keeps its
//! whole reservation as its cost ([`Charge`]), as its real cost is unknown. A call that does not fit only because other calls'
//! reservations are outstanding waits for them to settle (their real cost is usually far
//! below the bound); a call that cannot fit even then is not run.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::config::{Message, Price};
use crate::provider::{Usage, cost_usd};

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

/// What a finished call counts against the budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Charge {
    pub usd: f64,
    /// The provider reported no token usage, so `usd` is the call's upper bound, not its
    /// price: the real cost is unknown, and a cap must hold all the same.
    pub estimated: bool,
}

impl Charge {
    /// The price of `usage`; when the provider reported none (an `http` provider without
    /// usage paths, an `exec` command printing plain text, a server that omits `usage`),
    /// `upper_bound`, the amount reserved for the call. Every call sends at least one token,
    /// so zero tokens in and out means that the provider did not say.
    pub fn of(usage: Usage, price: Price, upper_bound: f64) -> Charge {
        if usage.total() == 0 {
            Charge {
                usd: upper_bound,
                estimated: true,
            }
        } else {
            Charge {
                usd: cost_usd(usage, price),
                estimated: false,
            }
        }
    }
}

#[derive(Debug, Default)]
struct Ledger {
    spent: f64,
    reserved: f64,
    suite_spent: HashMap<String, f64>,
    suite_reserved: HashMap<String, f64>,
    stopped: bool,
    /// The policies that refused a call, e.g. `budget.max_run_usd = 1`.
    caps_hit: std::collections::BTreeSet<String>,
}

#[derive(Debug)]
pub struct Budget {
    cap: Option<f64>,
    suite_caps: HashMap<String, f64>,
    ledger: Mutex<Ledger>,
    settled: tokio::sync::Notify,
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
            settled: tokio::sync::Notify::new(),
        }
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn cap(&self) -> Option<f64> {
        self.cap
    }

    /// Whether a call of `suite` is capped (by the run cap or the suite's own), so it needs
    /// a price to be reserved.
    pub fn applies_to(&self, suite: &str) -> bool {
        self.cap.is_some() || self.suite_caps.contains_key(suite)
    }

    pub fn suite_cap(&self, suite: &str) -> Option<f64> {
        self.suite_caps.get(suite).copied()
    }

    /// Reserves `amount` for a call of `suite`, or refuses when a cap could be crossed.
    pub fn reserve(&self, suite: &str, amount: f64) -> Result<Reservation, Refusal> {
        self.try_reserve(suite, amount)
            .map_err(|(refusal, _)| self.refuse(refusal))
    }

    /// Like [`Budget::reserve`], but a call that would fit once the reservations of calls
    /// in flight have settled waits for them instead of being refused.
    pub async fn reserve_waiting(&self, suite: &str, amount: f64) -> Result<Reservation, Refusal> {
        loop {
            // Registered before the check, so a settlement in between is not missed.
            let settled = self.settled.notified();
            match self.try_reserve(suite, amount) {
                Ok(r) => return Ok(r),
                Err((_, true)) => settled.await,
                Err((refusal, false)) => return Err(self.refuse(refusal)),
            }
        }
    }

    fn refuse(&self, refusal: Refusal) -> Refusal {
        let mut l = self.ledger();
        l.stopped = true;
        l.caps_hit.insert(match &refusal {
            Refusal::Run { cap, .. } => format!("budget.max_run_usd = {cap}"),
            Refusal::Suite { suite, cap, .. } => format!("max_usd = {cap} (suite `{suite}`)"),
        });
        refusal
    }

    /// `Err((refusal, true))` when the call would fit once outstanding reservations settle.
    fn try_reserve(&self, suite: &str, amount: f64) -> Result<Reservation, (Refusal, bool)> {
        let mut l = self.ledger();
        if let Some(cap) = self.cap {
            let committed = l.spent + l.reserved;
            if committed + amount > cap + 1e-12 {
                let can_wait = l.reserved > 0.0 && l.spent + amount <= cap + 1e-12;
                return Err((
                    Refusal::Run {
                        cap,
                        committed,
                        needed: amount,
                    },
                    can_wait,
                ));
            }
        }
        if let Some(&cap) = self.suite_caps.get(suite) {
            let spent = l.suite_spent.get(suite).copied().unwrap_or(0.0);
            let reserved = l.suite_reserved.get(suite).copied().unwrap_or(0.0);
            if spent + reserved + amount > cap + 1e-12 {
                let can_wait = reserved > 0.0 && spent + amount <= cap + 1e-12;
                let refusal = Refusal::Suite {
                    suite: suite.to_string(),
                    cap,
                    committed: spent + reserved,
                    needed: amount,
                };
                return Err((refusal, can_wait));
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
        let mut l = self.ledger();
        l.reserved = (l.reserved - reservation.amount).max(0.0);
        if let Some(r) = l.suite_reserved.get_mut(&reservation.suite) {
            *r = (*r - reservation.amount).max(0.0);
        }
        l.spent += actual;
        *l.suite_spent.entry(reservation.suite).or_default() += actual;
        drop(l);
        self.settled.notify_waiters();
    }

    /// Records spending that needed no reservation (no cap is set).
    pub fn record(&self, suite: &str, actual: f64) {
        let mut l = self.ledger();
        l.spent += actual;
        *l.suite_spent.entry(suite.to_string()).or_default() += actual;
    }

    pub fn spent(&self) -> f64 {
        self.ledger().spent
    }

    pub fn stopped(&self) -> bool {
        self.ledger().stopped
    }

    /// The caps that refused a call, as policy text.
    pub fn caps_hit(&self) -> Vec<String> {
        self.ledger().caps_hit.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A suite's own cap needs prices for that suite's calls only; a run cap for every call.
    #[test]
    fn caps_apply_to_their_own_suites() {
        let cases = [
            (None, &[][..], "a", false),
            (None, &[("a", 1.0)][..], "a", true),
            (None, &[("a", 1.0)][..], "b", false),
            (Some(2.0), &[][..], "b", true),
        ];
        for (run, suites, suite, want) in cases {
            let caps = suites.iter().map(|(s, c)| (s.to_string(), *c)).collect();
            assert_eq!(
                Budget::new(run, caps).applies_to(suite),
                want,
                "{run:?} {suites:?} {suite}"
            );
        }
    }

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

    // Regression: with many calls in flight, calls that would fit were refused for good while
    // other reservations were outstanding, so a cap stopped the run far below its limit.
    #[tokio::test]
    async fn a_call_that_fits_after_settlement_waits_instead_of_being_refused() {
        let b = std::sync::Arc::new(Budget::new(Some(1.0), HashMap::new()));
        let first = b.reserve("s", 0.9).expect("fits");
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move { b.reserve_waiting("s", 0.5).await.map(|_| ()) })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "waits while 0.9 is reserved");
        b.settle(first, 0.1);
        assert!(waiter.await.expect("joins").is_ok(), "0.1 spent + 0.5 fits");
        // Cannot fit even with nothing outstanding: refused at once, and the cap is named.
        assert!(b.reserve_waiting("s", 0.95).await.is_err());
        assert_eq!(b.caps_hit(), ["budget.max_run_usd = 1"]);
    }

    #[test]
    fn suite_caps_are_separate() {
        let b = Budget::new(None, HashMap::from([("a".to_string(), 0.1)]));
        let r = b.reserve("a", 0.1).expect("fits exactly");
        b.settle(r, 0.1);
        assert!(matches!(b.reserve("a", 0.01), Err(Refusal::Suite { .. })));
        assert!(b.reserve("b", 5.0).is_ok());
    }

    // Regression: a provider that reports no usage (an `http` provider without usage paths,
    // an `exec` command printing plain text) was charged $0 a call, so a cap never bound.
    #[test]
    fn a_call_without_reported_usage_is_charged_its_upper_bound() {
        let p = Price {
            input: 1.0,
            output: 2.0,
        };
        let cases = [
            (
                0,
                0,
                Charge {
                    usd: 0.5,
                    estimated: true,
                },
            ),
            (
                1_000_000,
                0,
                Charge {
                    usd: 1.0,
                    estimated: false,
                },
            ),
            (
                0,
                1_000_000,
                Charge {
                    usd: 2.0,
                    estimated: false,
                },
            ),
        ];
        for (input_tokens, output_tokens, want) in cases {
            let usage = Usage {
                input_tokens,
                output_tokens,
            };
            assert_eq!(Charge::of(usage, p, 0.5), want, "{usage:?}");
        }
        // Charged at its bound, a call leaves room for exactly as many calls as the cap holds.
        let b = Budget::new(Some(1.0), HashMap::new());
        let mut calls = 0;
        while let Ok(r) = b.reserve("s", 0.3) {
            b.settle(r, Charge::of(Usage::default(), p, 0.3).usd);
            calls += 1;
        }
        assert_eq!(calls, 3);
        assert!((b.spent() - 0.9).abs() < 1e-12);
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
