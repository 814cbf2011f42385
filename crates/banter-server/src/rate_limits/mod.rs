//! Rate limits that span connections: login attempts (per address, per
//! username and address, and per username, against password guessing
//! without a lockout anyone can trigger), signups per client address
//! (account-creation spam), signed-in HTTP requests per account and class
//! of endpoint, and frames per account (a user cannot multiply the
//! per-connection limit by opening sockets).
//!
//! **Where they count.** In the embedded mode every limit counts in this
//! node's memory ([`KeyedLimiter`], governor's GCRA), which sees every
//! attempt. In cluster mode (PostgreSQL) logins, signups and account frames
//! count cluster-wide, in token buckets every node shares
//! ([`SharedBuckets`] over the store's [`RateLimitStore`](banter_store::RateLimitStore)),
//! so spreading attempts over N nodes no longer buys N budgets:
//!
//! * **Logins and signups** are rare and already cost an argon2 hash
//!   (tens of ms), so each budget is one statement per attempt on the
//!   database ([`login`]): a login takes from up to three buckets in turn
//!   (address, username and address, username), a signup from one; the
//!   addresses that logged in to an account are remembered in the store
//!   too, so the per-username exception holds on every node.
//! * **Frames** are frequent, so a node leases a chunk of the account's
//!   budget (a tenth of the burst) in one statement and spends it in memory
//!   ([`frames`]): cluster-wide an account gets at most its budget plus one
//!   chunk per node holding its connections.
//! * **Signed-in HTTP requests per account** still count per node: they
//!   are abuse brakes on cheap reads, not a defence against guessing.
//!
//! The store failing or answering late never opens or closes the gates: a
//! limit then counts on this node alone ([`shared`] says how long and how
//! it is reported). docs/SCALING.md has the cost, SECURITY.md the bounds.
//!
//! Keyed limiters remember a key only while its bucket is not full again;
//! [`KeyedLimiter`] sweeps the rest every few thousand checks so memory stays
//! bounded by recent activity; the store's buckets are swept the same way
//! ([`SharedBuckets::spawn_sweeper`]).

mod frames;
mod login;
mod shared;

pub use frames::AccountFrameLimits;
pub use login::{KnownAddresses, LoginLimits, SignupLimits};
pub use shared::SharedBuckets;

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    num::NonZeroU32,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use banter_protocol::UserId;
use banter_store::Bucket;
use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::{
    config::{AccountHttpLimits, Budget, ServerConfig},
    error::ApiError,
};

/// One budget of one kind of key: counted cluster-wide in the shared
/// bucket named `<name> <key>` when the node has [`SharedBuckets`] that
/// answer, else in this node's [`KeyedLimiter`]. The same [`Bucket`] shapes
/// both, so a node alone behaves as the cluster does.
pub(crate) struct Limit<K: Hash + Eq + Clone> {
    name: &'static str,
    bucket: Bucket,
    here: KeyedLimiter<K>,
}

impl<K: Hash + Eq + Clone> Limit<K> {
    pub(crate) fn new(name: &'static str, bucket: Bucket) -> Self {
        Limit { name, bucket, here: KeyedLimiter::new(quota(bucket)) }
    }

    /// Takes one token for `key`: `Err` with the time until one is back.
    /// `shared_key` names the key in the shared bucket's name.
    pub(crate) async fn check(&self, shared: Option<&SharedBuckets>, key: &K, shared_key: impl FnOnce() -> String) -> Result<(), Duration> {
        if let Some(shared) = shared {
            let name = format!("{} {}", self.name, shared_key());
            if let Some(taken) = shared.take(self.name, &name, self.bucket, 1).await {
                return if taken.granted > 0 { Ok(()) } else { Err(taken.retry_after.max(Duration::from_millis(1))) };
            }
        }
        self.here.check(key)
    }
}

/// The governor quota of a bucket shape.
fn quota(bucket: Bucket) -> Quota {
    let burst = NonZeroU32::new(bucket.burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(bucket.interval).unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX)).allow_burst(burst)
}

/// Checks between sweeps of forgotten keys.
const SWEEP_EVERY: u64 = 4096;

/// The one clock every limiter reads. `governor`'s default makes a new
/// quanta clock wherever one is asked for — for each limiter created (one
/// per connection) and each refusal's wait — and making one runs CPUID a
/// few times to check the TSC, which a virtual machine traps to its
/// hypervisor: 4 % of the server's CPU in a 10,000-device connect-and-sync
/// storm (perf, docs/BENCHMARKS.md). Made once, it is cheap to copy.
pub(crate) fn clock() -> &'static governor::clock::QuantaClock {
    static CLOCK: std::sync::LazyLock<governor::clock::QuantaClock> =
        std::sync::LazyLock::new(governor::clock::QuantaClock::default);
    &CLOCK
}

/// A keyed token bucket with periodic cleanup.
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    pub fn new(quota: Quota) -> Self {
        let limiter = RateLimiter::new(quota, governor::state::keyed::DefaultKeyedStateStore::default(), clock().clone());
        KeyedLimiter { limiter, checks: AtomicU64::new(0) }
    }

    /// `Ok` if `key` may act now, else how long until it may.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(key).map_err(|not_until| not_until.wait_time_from(clock().now()))
    }
}

/// `n` per minute, `n` at once: the shape of the login budgets.
fn per_minute(n: u32) -> Bucket {
    Bucket::new(n, Duration::from_secs(60), n)
}

fn budget(budget: Budget) -> Quota {
    quota(Bucket::new(budget.per_minute, Duration::from_secs(60), budget.burst))
}

/// The classes of signed-in HTTP endpoints, each with its own per-account
/// budget (`http::account_limits` says which endpoint is in which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointClass {
    Reads,
    Lookups,
    Membership,
    Updates,
    Profile,
    Sessions,
    Push,
}

impl EndpointClass {
    pub const ALL: [EndpointClass; 7] = [
        EndpointClass::Reads,
        EndpointClass::Lookups,
        EndpointClass::Membership,
        EndpointClass::Updates,
        EndpointClass::Profile,
        EndpointClass::Sessions,
        EndpointClass::Push,
    ];

    /// The name in metrics, messages and docs.
    pub fn name(self) -> &'static str {
        match self {
            EndpointClass::Reads => "reads",
            EndpointClass::Lookups => "lookups",
            EndpointClass::Membership => "membership",
            EndpointClass::Updates => "updates",
            EndpointClass::Profile => "profile",
            EndpointClass::Sessions => "sessions",
            EndpointClass::Push => "push",
        }
    }

    fn budget(self, limits: &AccountHttpLimits) -> Budget {
        match self {
            EndpointClass::Reads => limits.reads,
            EndpointClass::Lookups => limits.lookups,
            EndpointClass::Membership => limits.membership,
            EndpointClass::Updates => limits.updates,
            EndpointClass::Profile => limits.profile,
            EndpointClass::Sessions => limits.sessions,
            EndpointClass::Push => limits.push,
        }
    }
}

/// Signed-in HTTP requests per account, per [`EndpointClass`]; lookups also
/// per client address.
pub struct AccountHttpRequestLimits {
    by_class: HashMap<EndpointClass, KeyedLimiter<UserId>>,
    lookups_by_address: KeyedLimiter<IpAddr>,
}

impl AccountHttpRequestLimits {
    pub fn new(config: &ServerConfig) -> Self {
        let limits = &config.account_http_limits;
        let by_class = EndpointClass::ALL.into_iter().map(|class| (class, KeyedLimiter::new(budget(class.budget(limits))))).collect();
        AccountHttpRequestLimits { by_class, lookups_by_address: KeyedLimiter::new(budget(limits.lookups_per_address)) }
    }

    /// Errors with `rate_limited` (429, `Retry-After`) when `user` has spent
    /// the budget of `class` (or, for lookups, `address` has).
    pub fn check(&self, class: EndpointClass, user: UserId, address: Option<IpAddr>) -> Result<(), ApiError> {
        let refuse = |wait| {
            crate::metrics::rate_limited(class.name());
            ApiError::rate_limited(&format!("too many {} requests", class.name()), wait)
        };
        if let Some(limiter) = self.by_class.get(&class) {
            limiter.check(&user).map_err(refuse)?;
        }
        if class == EndpointClass::Lookups {
            if let Some(ip) = address {
                self.lookups_by_address.check(&ip).map_err(refuse)?;
            }
        }
        Ok(())
    }
}

