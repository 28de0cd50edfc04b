//! A queue's rate limit on one node: a token bucket that holds up to one second's worth of
//! starts, refilled continuously. The worker claims no more tasks than it has tokens.

use std::time::Duration;

use tokio::time::Instant;

/// Starts allowed per second, with a burst of one second's worth.
#[derive(Debug)]
pub(super) struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

impl RateLimiter {
    /// A full bucket for `rate` starts per second (more than 0).
    pub(super) fn new(rate: f64, now: Instant) -> Self {
        let burst = rate.max(1.0);
        RateLimiter {
            rate,
            burst,
            tokens: burst,
            refilled: now,
        }
    }

    /// How many tasks may start now.
    pub(super) fn available(&mut self, now: Instant) -> usize {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled = now;
        self.tokens.floor() as usize
    }

    /// Counts `started` tasks.
    pub(super) fn take(&mut self, started: usize) {
        self.tokens = (self.tokens - started as f64).max(0.0);
    }

    /// How long until one more task may start (at most an hour: a worker wakes at least that
    /// often anyway).
    pub(super) fn until_next(&self) -> Duration {
        let missing = (1.0 - self.tokens).max(0.0);
        Duration::try_from_secs_f64(missing / self.rate)
            .unwrap_or(Duration::MAX)
            .min(Duration::from_secs(3600))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_are_spread_at_the_rate() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(2.0, start);
        assert_eq!(limiter.available(start), 2);
        limiter.take(2);
        assert_eq!(limiter.available(start), 0);
        assert_eq!(limiter.until_next(), Duration::from_millis(500));
        assert_eq!(limiter.available(start + Duration::from_millis(500)), 1);
        assert_eq!(
            limiter.available(start + Duration::from_secs(60)),
            2,
            "bursts are capped"
        );
    }

    #[test]
    fn a_slow_rate_allows_one_start_at_a_time() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(0.5, start);
        assert_eq!(limiter.available(start), 1);
        limiter.take(1);
        assert_eq!(limiter.until_next(), Duration::from_secs(2));
    }
}
