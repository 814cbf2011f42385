//! When to try again after a failed or lost connection: exponential backoff
//! with jitter, so that thousands of clients cut off together (a restart, a
//! network blip) do not all come back in the same millisecond.

use std::time::Duration;

use rand::Rng;

/// The delay before each reconnect attempt. Pure logic but for the random
/// jitter.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    /// The base of the next delay: `min` after a success, doubled by each
    /// failure up to `max`.
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Backoff {
        let max = max.max(min);
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The delay before the next attempt: the current base times a jitter
    /// factor in `[0.5, 1.5)`. The base then doubles (up to `max`).
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next.mul_f64(rand::thread_rng().gen_range(0.5..1.5));
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// A connection was established: the next loss starts from `min` again.
    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
}

/// A random delay in `[0, spread)`: where, in a window a lost node's
/// clients share, this one comes back (zero for no window).
pub(crate) fn random_below(spread: Duration) -> Duration {
    if spread.is_zero() {
        return Duration::ZERO;
    }
    spread.mul_f64(rand::thread_rng().gen_range(0.0..1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_millis(250);
    const MAX: Duration = Duration::from_secs(10);

    fn within(delay: Duration, base: Duration) -> bool {
        delay >= base.mul_f64(0.5) && delay < base.mul_f64(1.5)
    }

    #[test]
    fn the_delay_doubles_with_each_failure_up_to_the_maximum() {
        let mut backoff = Backoff::new(MIN, MAX);
        let mut base = MIN;
        for _ in 0..12 {
            let delay = backoff.next_delay();
            assert!(within(delay, base), "{delay:?} is the base {base:?} ± 50%");
            base = (base * 2).min(MAX);
        }
        assert!(within(backoff.next_delay(), MAX), "capped at the maximum");
    }

    #[test]
    fn a_success_starts_the_backoff_over() {
        let mut backoff = Backoff::new(MIN, MAX);
        for _ in 0..6 {
            backoff.next_delay();
        }
        backoff.reset();
        assert!(within(backoff.next_delay(), MIN));
    }

    #[test]
    fn jitter_spreads_clients_that_failed_together() {
        let delays: std::collections::BTreeSet<Duration> = (0..20)
            .map(|_| Backoff::new(MIN, MAX).next_delay())
            .collect();
        assert!(
            delays.len() > 10,
            "twenty clients do not retry in lockstep: {delays:?}"
        );
    }

    #[test]
    fn clients_of_a_lost_node_are_spread_over_the_window() {
        assert_eq!(random_below(Duration::ZERO), Duration::ZERO);
        let spread = Duration::from_secs(10);
        let delays: Vec<Duration> = (0..200).map(|_| random_below(spread)).collect();
        assert!(delays.iter().all(|d| *d < spread));
        // 200 uniform draws: each tenth of the window gets some.
        for tenth in 0..10 {
            let (from, to) = (spread * tenth / 10, spread * (tenth + 1) / 10);
            assert!(delays.iter().any(|d| *d >= from && *d < to), "nothing in [{from:?}, {to:?})");
        }
    }
}
