//! Token buckets every node of a cluster shares, so a rate limit counts a
//! key's attempts on all nodes together (login, signup, frames per account:
//! the server's `rate_limits` module says which key is which), and the
//! addresses each account logged in from, which the login limit exempts.
//!
//! **The rule: GCRA** (generic cell rate algorithm, the token bucket written
//! as one number). A [`Bucket`] refills one token every `interval` up to
//! `burst` tokens. Its state is one time, the *theoretical arrival time*
//! (TAT): the moment the bucket is full again. At `now` the bucket holds
//! `(now + burst·interval − max(TAT, now)) / interval` whole tokens; taking
//! `g` of them moves the TAT to `max(TAT, now) + g·interval`. A take asks
//! for up to `want` tokens and is granted as many as the bucket holds, none
//! if it is empty ([`Taken`]). So over any window of length `t` a bucket
//! grants at most `burst + t / interval` tokens, whoever asks.
//!
//! A row whose TAT has passed is a full bucket, the same as no row: the
//! backend may forget it ([`RateLimitStore::sweep_rate_limits`]), which
//! keeps the table bounded by the keys active within one refill of their
//! bucket. Times are the database's clock, never a node's, so nodes whose
//! clocks disagree still share one bucket correctly.
//!
//! Only the cluster backend (PostgreSQL) implements this trait, and
//! [`StoreLifecycle::rate_limits`](crate::StoreLifecycle::rate_limits) hands
//! it out: the embedded store has one process, whose memory already sees
//! every attempt.

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;

use crate::StoreResult;

/// Addresses remembered per account by [`RateLimitStore::remember_login_address`]
/// (the most recent).
pub const KNOWN_ADDRESSES_PER_ACCOUNT: usize = 4;

/// A token bucket's shape: one token every `interval`, at most `burst`
/// held. Keys with different shapes must have different names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Time to refill one token (the emission interval); at least 1 µs.
    pub interval: Duration,
    /// Tokens a full bucket holds; at least 1.
    pub burst: u32,
}

impl Bucket {
    /// `burst` tokens, refilled at `per_period` per `period`.
    pub fn new(per_period: u32, period: Duration, burst: u32) -> Bucket {
        let interval = period / per_period.max(1);
        Bucket { interval: interval.max(Duration::from_micros(1)), burst: burst.max(1) }
    }

    /// The interval in whole microseconds, as the backend stores times.
    pub fn interval_us(&self) -> i64 {
        i64::try_from(self.interval.as_micros()).unwrap_or(i64::MAX).max(1)
    }

    /// How long after `now_us` a bucket whose TAT is `tat_us` holds one
    /// token again (zero if it holds one now).
    pub fn wait_for_one(&self, tat_us: i64, now_us: i64) -> Duration {
        let ready_at = tat_us.saturating_sub(i64::from(self.burst.saturating_sub(1)).saturating_mul(self.interval_us()));
        Duration::from_micros(u64::try_from(ready_at.saturating_sub(now_us)).unwrap_or(0))
    }
}

/// What a take got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// Tokens granted: between 0 (the bucket is empty) and the number asked.
    pub granted: u32,
    /// When nothing was granted: how long until the bucket holds a token.
    pub retry_after: Duration,
}

/// Cluster-wide token buckets and known login addresses (see the module
/// documentation). Every call is one statement on one database; callers
/// bound each wait with a deadline of their own.
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Takes up to `want` tokens (at most `bucket.burst`) from the bucket
    /// named `key`, atomically with every other node's takes. `key` is at
    /// most a few hundred bytes (it is a primary key).
    async fn take_tokens(&self, key: &str, bucket: Bucket, want: u32) -> StoreResult<Taken>;

    /// Remembers that `address` logged in to (or signed up as) `username`,
    /// keeping the account's [`KNOWN_ADDRESSES_PER_ACCOUNT`] most recent.
    async fn remember_login_address(&self, username: &str, address: IpAddr) -> StoreResult<()>;

    /// Whether `address` is one of `username`'s remembered addresses.
    async fn is_known_login_address(&self, username: &str, address: IpAddr) -> StoreResult<bool>;

    /// Forgets full buckets (TAT passed); returns how many.
    async fn sweep_rate_limits(&self) -> StoreResult<u64>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_one_token_per_interval() {
        let bucket = Bucket::new(10, Duration::from_secs(60), 10);
        assert_eq!(bucket.interval, Duration::from_secs(6));
        let second = 1_000_000;
        // Ten tokens taken at 0: the TAT is 60 s, the next token is back at 6 s.
        assert_eq!(bucket.wait_for_one(60 * second, 0), Duration::from_secs(6));
        assert_eq!(bucket.wait_for_one(60 * second, 6 * second), Duration::ZERO);
        assert_eq!(bucket.wait_for_one(0, 5 * second), Duration::ZERO, "a full bucket waits for nothing");
    }

    #[test]
    fn shapes_never_reach_zero() {
        let bucket = Bucket::new(0, Duration::ZERO, 0);
        assert_eq!((bucket.interval_us(), bucket.burst), (1, 1));
    }
}
