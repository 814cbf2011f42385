//! The frame-rate contract of one connection (docs/PROTOCOL.md, "Rate limits").
//!
//! Every WebSocket message a client sends except its close — text, binary,
//! ping, pong — takes a token from two buckets: the connection's
//! (`frames_per_second`, `frames_burst`) and its account's, shared by all the
//! account's connections, on every node in cluster mode ([`AccountFrameLimits`]:
//! leased from the store in chunks, spent in memory). A frame
//! that finds either bucket empty is *refused*: the reader answers it with
//! `rate_limited` and `retry_after_ms`, the time until a token is back, and
//! does nothing else with it.
//!
//! A client that keeps sending anyway is closed with 4029 once more than
//! `frames_refused_before_close` of its frames were refused within
//! `frames_refusal_window`. The count is of refusals in a sliding window,
//! not of refusals in a row: a flood lets a frame through every time a
//! token comes back, and a count that reset on every accepted frame would
//! never reach the limit (issue 12 measured 97,602 refusals and no close).
//! A client that waits `retry_after_ms` when told is refused at most the
//! frames it already had in flight, so it stays far below the limit.

use std::{collections::VecDeque, num::NonZeroU32, time::Duration};

use banter_protocol::UserId;
use governor::{clock::Clock, DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use crate::{config::ServerConfig, rate_limits::AccountFrameLimits};

/// What to do with a frame just read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limits: handle it.
    Accept,
    /// Answer `rate_limited` with `retry_after`, and close the connection
    /// with 4029 after that answer when `close` is set.
    Refuse { retry_after: Duration, close: bool },
}

/// One connection's view of the frame limits. See the module documentation.
pub struct FrameLimits<'a> {
    connection: DefaultDirectRateLimiter,
    account: &'a AccountFrameLimits,
    user_id: UserId,
    /// When each refusal still inside the window happened, oldest first; at
    /// most `close_after + 1` entries, allocated on the first refusal.
    refusals: VecDeque<Instant>,
    close_after: u32,
    window: Duration,
}

impl<'a> FrameLimits<'a> {
    pub fn new(config: &ServerConfig, account: &'a AccountFrameLimits, user_id: UserId) -> Self {
        let per_second = NonZeroU32::new(config.frames_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.frames_burst).unwrap_or(per_second);
        FrameLimits {
            connection: RateLimiter::direct_with_clock(
                Quota::per_second(per_second).allow_burst(burst),
                crate::rate_limits::clock().clone(),
            ),
            account,
            user_id,
            refusals: VecDeque::new(),
            close_after: config.frames_refused_before_close,
            window: config.frames_refusal_window,
        }
    }

    /// Counts one frame against the limits.
    pub async fn check(&mut self) -> Verdict {
        let refused = match self.connection.check() {
            Err(not_until) => Some(("connection_frames", not_until.wait_time_from(crate::rate_limits::clock().now()))),
            Ok(()) => self.account.check(self.user_id).await.err().map(|wait| ("account_frames", wait)),
        };
        let Some((limit, wait)) = refused else { return Verdict::Accept };
        crate::metrics::rate_limited(limit);
        Verdict::Refuse { retry_after: wait.max(Duration::from_millis(1)), close: self.refused_too_often(Instant::now()) }
    }

    /// Records a refusal at `now`; true if it makes more than `close_after`
    /// within the window.
    fn refused_too_often(&mut self, now: Instant) -> bool {
        while self.refusals.front().is_some_and(|&at| now.duration_since(at) >= self.window) {
            self.refusals.pop_front();
        }
        if self.refusals.is_empty() && self.refusals.capacity() > 16 {
            self.refusals = VecDeque::new();
        }
        self.refusals.push_back(now);
        if self.refusals.len() > self.close_after as usize {
            // Keep the bound even if the caller were to go on.
            self.refusals.pop_front();
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(account: &AccountFrameLimits, tweak: impl FnOnce(&mut ServerConfig)) -> FrameLimits<'_> {
        let mut config = ServerConfig { frames_refused_before_close: 3, frames_refusal_window: Duration::from_secs(10), ..ServerConfig::default() };
        tweak(&mut config);
        FrameLimits::new(&config, account, 1)
    }

    #[test]
    fn more_refusals_than_allowed_within_the_window_close_and_older_ones_expire() {
        let account = AccountFrameLimits::new(&ServerConfig::default(), None);
        let mut limits = limits(&account, |_| {});
        let start = Instant::now();
        let second = Duration::from_secs(1);
        assert!(!limits.refused_too_often(start));
        assert!(!limits.refused_too_often(start + second));
        assert!(!limits.refused_too_often(start + 2 * second));
        // The first refusal has left the window: still three within it.
        assert!(!limits.refused_too_often(start + 10 * second));
        assert!(limits.refused_too_often(start + 10 * second + second / 2), "four within ten seconds (from 1 s to 10.5 s)");
        assert!(limits.refusals.len() <= 3, "bounded");
    }

    #[tokio::test]
    async fn refusals_carry_the_wait_for_a_token_and_the_one_over_the_limit_closes() {
        let account = AccountFrameLimits::new(&ServerConfig::default(), None);
        let mut limits = limits(&account, |c| {
            c.frames_per_second = 1;
            c.frames_burst = 1;
        });
        let mut verdicts = Vec::new();
        for _ in 0..5 {
            verdicts.push(limits.check().await);
        }
        assert_eq!(verdicts[0], Verdict::Accept);
        let closes: Vec<bool> = verdicts[1..].iter().map(|v| matches!(v, Verdict::Refuse { close: true, .. })).collect();
        assert_eq!(closes, [false, false, false, true]);
        let Verdict::Refuse { retry_after, .. } = verdicts[1] else { panic!("refused") };
        assert!(retry_after > Duration::from_millis(900) && retry_after <= Duration::from_secs(1), "{retry_after:?}");
    }
}
