//! Rate limits that span connections: login attempts (per address, per
//! username and address, and per username, against password guessing
//! without a lockout anyone can trigger), signups per client address
//! (account-creation spam), signed-in HTTP requests per account and class
//! of endpoint, and frames per account (a user cannot multiply the
//! per-connection limit by opening sockets).
//!
//! The counters live in this node's memory: in cluster mode each node counts
//! on its own (see docs/SCALING.md).
//!
//! Keyed limiters remember a key only while its bucket is not full again;
//! [`KeyedLimiter`] sweeps the rest every few thousand checks so memory stays
//! bounded by recent activity.

use std::{
    collections::HashMap,
    hash::{BuildHasher, Hash},
    net::IpAddr,
    num::NonZeroU32,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

use banter_protocol::UserId;
use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::{
    config::{AccountHttpLimits, Budget, ServerConfig},
    error::ApiError,
};

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

fn budget(budget: Budget) -> Quota {
    let burst = NonZeroU32::new(budget.burst).unwrap_or(NonZeroU32::MIN);
    per_minute(budget.per_minute).allow_burst(burst)
}

/// Login attempts, counted before any password hashing, whether they then
/// succeed or not. Three budgets (OWASP Authentication Cheat Sheet: throttle
/// per account, but never let the throttle become a lockout anyone can
/// trigger):
///
/// * per client address (guessing across many usernames);
/// * per username and address (one address guessing one password): the
///   attacker's own address runs out, nobody else's;
/// * per username over all addresses (distributed guessing): once spent,
///   only addresses that have logged in to that account before (remembered
///   in [`KnownAddresses`]) may still try, each within its own
///   per-username-and-address budget. The owner logs in from a known
///   address, or from a new one once the shared budget refills.
pub struct LoginLimits {
    by_address: KeyedLimiter<IpAddr>,
    by_username_and_address: KeyedLimiter<(String, IpAddr)>,
    by_username: KeyedLimiter<String>,
    known: KnownAddresses,
}

impl LoginLimits {
    pub fn new(config: &ServerConfig) -> Self {
        LoginLimits {
            by_address: KeyedLimiter::new(per_minute(config.login_attempts_per_minute_per_address)),
            by_username_and_address: KeyedLimiter::new(per_minute(
                config.login_attempts_per_minute_per_user_and_address,
            )),
            by_username: KeyedLimiter::new(per_minute(config.login_attempts_per_minute_per_user)),
            known: KnownAddresses::new(KNOWN_ACCOUNTS, KNOWN_ADDRESSES_PER_ACCOUNT),
        }
    }

    /// Errors with `rate_limited` (429, `Retry-After`) when a budget that
    /// applies is spent. `username` is already normalised (lowercase).
    pub fn check(&self, username: &str, address: Option<IpAddr>) -> Result<(), ApiError> {
        let refuse = |what: &str, wait| {
            crate::metrics::rate_limited("login");
            ApiError::rate_limited(what, wait)
        };
        if let Some(ip) = address {
            self.by_address.check(&ip).map_err(|wait| refuse("too many login attempts from this address", wait))?;
            self.by_username_and_address
                .check(&(username.to_owned(), ip))
                .map_err(|wait| refuse("too many login attempts for this username from this address", wait))?;
        }
        if let Err(wait) = self.by_username.check(&username.to_owned()) {
            if !address.is_some_and(|ip| self.known.contains(username, ip)) {
                return Err(refuse("too many login attempts for this username", wait));
            }
        }
        Ok(())
    }

    /// Remembers that `address` authenticated as `username` (login or
    /// signup), so the per-username budget never refuses it.
    pub fn succeeded(&self, username: &str, address: Option<IpAddr>) {
        if let Some(ip) = address {
            self.known.remember(username, ip);
        }
    }
}

/// Accounts remembered by [`KnownAddresses`] (the most recently successful).
const KNOWN_ACCOUNTS: usize = 32_768;
/// Addresses remembered per account (the most recent).
const KNOWN_ADDRESSES_PER_ACCOUNT: usize = 4;

/// The addresses each account last logged in from, in bounded memory:
/// usernames are kept as 64-bit keyed hashes, at most `per_account`
/// addresses each, and when `accounts` is reached the least recently
/// successful quarter is forgotten (memory stays under ~4 MiB by default).
/// Forgetting only means the owner waits for the shared budget, as from a
/// new address.
pub struct KnownAddresses {
    hasher: std::hash::RandomState,
    entries: Mutex<KnownEntries>,
    accounts: usize,
    per_account: usize,
}

#[derive(Default)]
struct KnownEntries {
    by_account: HashMap<u64, (u64, Vec<IpAddr>)>,
    /// Incremented on every success: the recency of an entry.
    tick: u64,
}

impl KnownAddresses {
    pub fn new(accounts: usize, per_account: usize) -> Self {
        KnownAddresses {
            hasher: std::hash::RandomState::new(),
            entries: Mutex::new(KnownEntries::default()),
            accounts: accounts.max(1),
            per_account: per_account.max(1),
        }
    }

    pub fn contains(&self, username: &str, ip: IpAddr) -> bool {
        let key = self.hasher.hash_one(username);
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.by_account.get(&key).is_some_and(|(_, addresses)| addresses.contains(&ip))
    }

    pub fn remember(&self, username: &str, ip: IpAddr) {
        let key = self.hasher.hash_one(username);
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.tick += 1;
        let tick = entries.tick;
        if !entries.by_account.contains_key(&key) && entries.by_account.len() >= self.accounts {
            // Forget the least recently successful quarter at once, so the
            // scan is paid once per `accounts / 4` new accounts.
            let mut ticks: Vec<u64> = entries.by_account.values().map(|(t, _)| *t).collect();
            let cut = ticks.len() / 4;
            let (_, oldest_kept, _) = ticks.select_nth_unstable(cut);
            let oldest_kept = *oldest_kept;
            entries.by_account.retain(|_, (t, _)| *t >= oldest_kept);
        }
        let (last, addresses) = entries.by_account.entry(key).or_default();
        *last = tick;
        addresses.retain(|known| *known != ip);
        if addresses.len() >= self.per_account {
            addresses.remove(0);
        }
        addresses.push(ip);
    }

    /// Accounts remembered now.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).by_account.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    /// Errors with `rate_limited` (429, `Retry-After`) when `address` has
    /// created its quota of accounts. Counted before any work, so failed
    /// attempts (taken usernames) count too.
    pub fn check(&self, address: Option<IpAddr>) -> Result<(), ApiError> {
        address.map_or(Ok(()), |ip| self.by_address.check(&ip)).map_err(|wait| {
            crate::metrics::rate_limited("signup");
            ApiError::rate_limited("too many accounts created from this address", wait)
        })
    }
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

    /// Takes one frame from the account's budget: `Err` with the time until
    /// the account may send again when it is spent.
    pub fn check(&self, user_id: UserId) -> Result<(), Duration> {
        self.by_user.check(&user_id)
    }
}

#[cfg(test)]
mod tests {
    use banter_protocol::ErrorCode;

    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([198, 51, 100, n])
    }

    #[test]
    fn known_addresses_keep_the_most_recent_per_account() {
        let known = KnownAddresses::new(10, 2);
        known.remember("alice", ip(1));
        known.remember("alice", ip(2));
        known.remember("alice", ip(3));
        assert!(!known.contains("alice", ip(1)), "the oldest address is forgotten");
        assert!(known.contains("alice", ip(2)) && known.contains("alice", ip(3)));
        assert!(!known.contains("bob", ip(3)), "addresses are per account");
    }

    #[test]
    fn known_addresses_stay_bounded_and_forget_the_least_recent_accounts() {
        let known = KnownAddresses::new(100, 4);
        for n in 0..1_000 {
            known.remember(&format!("user{n}"), ip(1));
            assert!(known.len() <= 100);
        }
        assert!(known.contains("user999", ip(1)), "the latest is kept");
        assert!(!known.contains("user0", ip(1)), "the oldest is forgotten");
    }

    #[test]
    fn a_spent_username_budget_still_admits_known_addresses_only() {
        let config = ServerConfig {
            login_attempts_per_minute_per_user: 2,
            login_attempts_per_minute_per_user_and_address: 5,
            ..ServerConfig::default()
        };
        let limits = LoginLimits::new(&config);
        limits.succeeded("victim", Some(ip(9)));
        assert!(limits.check("victim", Some(ip(1))).is_ok());
        assert!(limits.check("victim", Some(ip(2))).is_ok());
        let refused = limits.check("victim", Some(ip(3))).unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        assert!(refused.retry_after.is_some());
        assert!(limits.check("victim", Some(ip(9))).is_ok(), "the owner's known address gets in");
    }
}
