//! Rate limits that span connections: login attempts (per username and per
//! client address, against password guessing), signups per client address
//! (account-creation spam) and frames per account (a user cannot multiply
//! the per-connection limit by opening sockets).
//!
//! The counters live in this node's memory: in cluster mode each node counts
//! on its own (see docs/SCALING.md).
//!
//! Keyed limiters remember a key only while its bucket is not full again;
//! [`KeyedLimiter`] sweeps the rest every few thousand checks so memory stays
//! bounded by recent activity.

use std::{
    hash::Hash,
    net::IpAddr,
    num::NonZeroU32,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use banter_protocol::{ErrorCode, UserId};
use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::{config::ServerConfig, error::ApiError};

/// Checks between sweeps of forgotten keys.
const SWEEP_EVERY: u64 = 4096;

/// A keyed token bucket with periodic cleanup.
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    pub fn new(quota: Quota) -> Self {
        KeyedLimiter { limiter: RateLimiter::keyed(quota), checks: AtomicU64::new(0) }
    }

    /// `Ok` if `key` may act now, else how long until it may.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(key).map_err(|not_until| not_until.wait_time_from(governor::clock::DefaultClock::default().now()))
    }
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

/// Login attempts, counted whether they succeed or not.
pub struct LoginLimits {
    by_username: KeyedLimiter<String>,
    by_address: KeyedLimiter<IpAddr>,
}

impl LoginLimits {
    pub fn new(config: &ServerConfig) -> Self {
        LoginLimits {
            by_username: KeyedLimiter::new(per_minute(config.login_attempts_per_minute_per_user)),
            by_address: KeyedLimiter::new(per_minute(config.login_attempts_per_minute_per_address)),
        }
    }

    /// Errors with `rate_limited` (429) when either limit is exhausted.
    pub fn check(&self, username: &str, address: Option<IpAddr>) -> Result<(), ApiError> {
        let by_user = self.by_username.check(&username.to_owned());
        let by_address = address.map_or(Ok(()), |ip| self.by_address.check(&ip));
        match by_user.and(by_address) {
            Ok(()) => Ok(()),
            Err(wait) => Err({
                crate::metrics::rate_limited("login");
                ApiError::new(
                ErrorCode::RateLimited,
                format!("too many login attempts; try again in {} s", wait.as_secs().max(1)),
            )
            }),
        }
    }
}

/// Accounts created per client address.
pub struct SignupLimits {
    by_address: KeyedLimiter<IpAddr>,
}

impl SignupLimits {
    pub fn new(config: &ServerConfig) -> Self {
        let per_hour = NonZeroU32::new(config.signups_per_hour_per_address).unwrap_or(NonZeroU32::MIN);
        SignupLimits { by_address: KeyedLimiter::new(Quota::per_hour(per_hour)) }
    }

    /// Errors with `rate_limited` (429) when `address` has created its
    /// quota of accounts. Counted before any work, so failed attempts
    /// (taken usernames) count too.
    pub fn check(&self, address: Option<IpAddr>) -> Result<(), ApiError> {
        match address.map_or(Ok(()), |ip| self.by_address.check(&ip)) {
            Ok(()) => Ok(()),
            Err(wait) => Err({
                crate::metrics::rate_limited("signup");
                ApiError::new(
                ErrorCode::RateLimited,
                format!("too many accounts created from this address; try again in {} s", wait.as_secs().max(1)),
            )
            }),
        }
    }
}

/// Frames per second per account, over all of its connections.
pub struct AccountFrameLimits {
    by_user: KeyedLimiter<UserId>,
}

impl AccountFrameLimits {
    pub fn new(config: &ServerConfig) -> Self {
        let per_second = NonZeroU32::new(config.account_frames_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.account_frames_burst).unwrap_or(per_second);
        AccountFrameLimits { by_user: KeyedLimiter::new(Quota::per_second(per_second).allow_burst(burst)) }
    }

    pub fn allow(&self, user_id: UserId) -> bool {
        self.by_user.check(&user_id).is_ok()
    }
}
