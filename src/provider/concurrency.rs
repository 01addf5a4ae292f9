//! How many requests one provider may have in flight: `max_concurrency`, lowered when the
//! provider answers 429 and raised again while it keeps answering.
//!
//! The policy is additive-increase / multiplicative-decrease: a 429 halves the effective limit
//! (never below 1), and every [`RECOVER_AFTER`] consecutive successes add one slot back (never
//! above the configured maximum). Only the first 429 of a "generation" halves: requests that
//! were already in flight when the limit dropped answer 429 too, and counting each of them
//! would collapse the limit to 1 on a single burst.

use std::sync::Mutex;

use tokio::sync::{Semaphore, SemaphorePermit};

/// Consecutive successes that earn one slot back.
pub(super) const RECOVER_AFTER: u32 = 10;

pub(super) struct AdaptiveLimit {
    semaphore: Semaphore,
    max: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The effective limit.
    limit: usize,
    /// Permits to retire as they come back, after a decrease below the number in use.
    debt: usize,
    successes: u32,
    /// Bumped on every decrease; a permit taken before it cannot decrease again.
    generation: u64,
}

/// A slot; returns itself to the limit when dropped, unless the limit shrank meanwhile.
pub(super) struct Slot<'a> {
    owner: &'a AdaptiveLimit,
    permit: Option<SemaphorePermit<'a>>,
    generation: u64,
}

impl AdaptiveLimit {
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        AdaptiveLimit {
            semaphore: Semaphore::new(max),
            max,
            state: Mutex::new(State {
                limit: max,
                debt: 0,
                successes: 0,
                generation: 0,
            }),
        }
    }

    pub async fn acquire(&self) -> Slot<'_> {
        // The semaphore is never closed, so acquire cannot fail; treat it as "no permit".
        let permit = self.semaphore.acquire().await.ok();
        let generation = self.lock().generation;
        Slot {
            owner: self,
            permit,
            generation,
        }
    }

    /// The effective limit right now.
    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves consistent counters; keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Slot<'_> {
    /// The request succeeded: count towards recovering one slot.
    pub fn succeeded(&self) {
        let owner = self.owner;
        let mut state = owner.lock();
        state.successes += 1;
        if state.successes >= RECOVER_AFTER && state.limit < owner.max {
            state.successes = 0;
            state.limit += 1;
            if state.debt > 0 {
                state.debt -= 1;
            } else {
                owner.semaphore.add_permits(1);
            }
        }
    }

    /// The provider answered 429: halve the limit, once per generation.
    pub fn rate_limited(&self) {
        let owner = self.owner;
        let mut state = owner.lock();
        state.successes = 0;
        if state.generation != self.generation || state.limit <= 1 {
            return;
        }
        state.generation += 1;
        let new_limit = (state.limit / 2).max(1);
        let mut retire = state.limit - new_limit;
        state.limit = new_limit;
        // Retire idle permits now; the rest as in-flight requests finish.
        retire -= owner.semaphore.forget_permits(retire);
        state.debt += retire;
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let mut state = self.owner.lock();
        if state.debt > 0 {
            state.debt -= 1;
            permit.forget();
        } else {
            drop(state);
            drop(permit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limit_halves_once_per_generation_and_recovers() {
        let limit = AdaptiveLimit::new(8);
        let slots: Vec<_> = futures_join(&limit, 8).await;
        assert_eq!(limit.semaphore.available_permits(), 0);
        // Eight in-flight requests all answer 429: only the first halves.
        for slot in &slots {
            slot.rate_limited();
        }
        assert_eq!(limit.limit(), 4);
        drop(slots);
        assert_eq!(limit.semaphore.available_permits(), 4);

        // A fresh 429 halves again, down to 1 and never below.
        for want in [2, 1, 1] {
            let slot = limit.acquire().await;
            slot.rate_limited();
            drop(slot);
            assert_eq!(limit.limit(), want);
            assert_eq!(limit.semaphore.available_permits(), want);
        }

        // Ten successes earn one slot; the maximum is a ceiling.
        for _ in 0..(RECOVER_AFTER * 20) {
            let slot = limit.acquire().await;
            slot.succeeded();
        }
        assert_eq!(limit.limit(), 8);
        assert_eq!(limit.semaphore.available_permits(), 8);
    }

    #[tokio::test]
    async fn zero_max_means_one() {
        let limit = AdaptiveLimit::new(0);
        assert_eq!(limit.limit(), 1);
        let _slot = limit.acquire().await;
        assert!(limit.semaphore.try_acquire().is_err());
    }

    async fn futures_join(limit: &AdaptiveLimit, n: usize) -> Vec<Slot<'_>> {
        let mut slots = Vec::new();
        for _ in 0..n {
            slots.push(limit.acquire().await);
        }
        slots
    }
}
