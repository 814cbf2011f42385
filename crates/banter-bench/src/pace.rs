//! The open-loop, rate-paced send schedule.
//!
//! A total rate `R` is split evenly over `S` senders: sender `i` sends at
//! `R/S` per second, its first send offset by `i/S` of an interval so that
//! the senders interleave instead of firing together. The schedule never
//! waits for answers (open loop, as real users do not wait for each other),
//! so a slow server shows up as latency, not as a lower offered rate. If a
//! sender falls behind (its task did not get the CPU in time) it sends the
//! overdue messages at once; how far behind it was is reported as *sender
//! lag*, so a run whose load generator could not keep up is visible.

use super::clock;

/// One sender's schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    first_us: u64,
    interval_us: f64,
    end_us: u64,
    sent: u64,
}

impl Schedule {
    /// Sender `index` of `senders`, sharing `total_rate` messages/s, from
    /// `start_us` until `end_us` (clock microseconds).
    pub fn new(index: usize, senders: usize, total_rate: f64, start_us: u64, end_us: u64) -> Schedule {
        let per_sender = (total_rate / senders.max(1) as f64).max(1e-9);
        let interval_us = 1e6 / per_sender;
        let offset = interval_us * index as f64 / senders.max(1) as f64;
        Schedule { first_us: start_us + offset as u64, interval_us, end_us, sent: 0 }
    }

    /// When the next message is due, or `None` once the schedule is over.
    pub fn next_due_us(&self) -> Option<u64> {
        let due = self.first_us + (self.interval_us * self.sent as f64) as u64;
        (due < self.end_us).then_some(due)
    }

    /// Marks the due message as sent.
    pub fn advance(&mut self) {
        self.sent += 1;
    }
}

/// Waits until `due_us` on the run clock.
pub async fn sleep_until_us(due_us: u64) {
    tokio::time::sleep_until(clock::instant_at(due_us).into()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_share_the_rate_and_interleave() {
        // 4 senders at 400/s total: each sends every 10 ms, 2.5 ms apart.
        let mut a = Schedule::new(0, 4, 400.0, 1_000, 1_000_000);
        let b = Schedule::new(1, 4, 400.0, 1_000, 1_000_000);
        assert_eq!(a.next_due_us(), Some(1_000));
        assert_eq!(b.next_due_us(), Some(3_500));
        a.advance();
        assert_eq!(a.next_due_us(), Some(11_000));
    }

    #[test]
    fn a_schedule_ends_at_its_end_time() {
        let mut s = Schedule::new(0, 1, 10.0, 0, 250_000);
        let mut n = 0;
        while s.next_due_us().is_some() {
            s.advance();
            n += 1;
        }
        assert_eq!(n, 3); // at 0, 100 and 200 ms
    }
}
