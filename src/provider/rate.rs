//! `requests_per_minute`: requests are spaced evenly (60 s / rpm apart) rather than sent in a
//! burst at the start of each minute, which is what provider rate limiters reward.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub(super) struct RateLimit {
    interval: Duration,
    /// The earliest instant the next request may start.
    next: Mutex<Option<Instant>>,
}

impl RateLimit {
    /// `None` when the limit is zero (no limit).
    pub fn per_minute(rpm: u32) -> Option<Self> {
        (rpm > 0).then(|| RateLimit {
            interval: Duration::from_secs(60) / rpm,
            next: Mutex::new(None),
        })
    }

    /// Waits for this request's turn. Turns are handed out in call order; the lock is held
    /// only to book the turn, never while waiting.
    pub async fn wait(&self) {
        let at = {
            let mut next = self
                .next
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = Instant::now();
            let at = match *next {
                Some(t) if t > now => t,
                _ => now,
            };
            *next = Some(at + self.interval);
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_evenly_spaced() {
        // 6000 per minute: 10 ms apart. Only a lower bound is asserted (never flaky).
        let limit = RateLimit::per_minute(6000).unwrap_or_else(|| panic!("limit"));
        let start = Instant::now();
        for _ in 0..6 {
            limit.wait().await;
        }
        assert!(Instant::now() - start >= Duration::from_millis(50));
        assert!(RateLimit::per_minute(0).is_none());
    }
}
