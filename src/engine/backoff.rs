//! The delay before a retry: exponential, capped, with jitter.

use std::time::Duration;

/// The delay before attempt `attempt + 1` after attempt `attempt` (1-based) failed: `base`
/// doubled for each earlier attempt, capped at `max`, then drawn uniformly from its upper half
/// so that tasks failing together do not retry together.
pub fn retry_delay(base: Duration, max: Duration, attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(31);
    let full = base.saturating_mul(1u32 << doublings).min(max);
    let half = full / 2;
    half + full.mul_f64(fastrand::f64() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_the_base_within_jitter_and_stops_at_the_cap() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        for (attempt, full) in [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (40, 60)] {
            let full = Duration::from_secs(full);
            for _ in 0..100 {
                let delay = retry_delay(base, max, attempt);
                assert!(delay >= full / 2 && delay <= full, "{attempt}: {delay:?}");
            }
        }
    }

    #[test]
    fn jitter_spreads_the_delays() {
        let delays: std::collections::HashSet<_> = (0..50)
            .map(|_| retry_delay(Duration::from_secs(10), Duration::from_secs(10), 1))
            .collect();
        assert!(delays.len() > 10);
    }
}
