//! The login and signup budgets (see the parent module for where they
//! count): three per login attempt, one per signup, and the addresses that
//! logged in to each account, which the per-username budget exempts.

use std::{
    collections::HashMap,
    hash::BuildHasher,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use banter_store::Bucket;

use super::{per_minute, shared::username_key, Limit, SharedBuckets};
use crate::{config::ServerConfig, error::ApiError};

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
    by_address: Limit<IpAddr>,
    by_username_and_address: Limit<(String, IpAddr)>,
    by_username: Limit<String>,
    /// This node's memory of known addresses: the whole memory in the
    /// embedded mode; in cluster mode a cache in front of the store's, and
    /// the fallback when it does not answer.
    known: KnownAddresses,
    shared: Option<Arc<SharedBuckets>>,
}

impl LoginLimits {
    /// Counted cluster-wide in `shared` when given, else in this node.
    pub fn new(config: &ServerConfig, shared: Option<Arc<SharedBuckets>>) -> Self {
        LoginLimits {
            by_address: Limit::new("login.address", per_minute(config.login_attempts_per_minute_per_address)),
            by_username_and_address: Limit::new(
                "login.address_user",
                per_minute(config.login_attempts_per_minute_per_user_and_address),
            ),
            by_username: Limit::new("login.user", per_minute(config.login_attempts_per_minute_per_user)),
            known: KnownAddresses::new(KNOWN_ACCOUNTS, KNOWN_ADDRESSES_PER_ACCOUNT),
            shared,
        }
    }

    /// Errors with `rate_limited` (429, `Retry-After`) when a budget that
    /// applies is spent. `username` is already normalised (lowercase).
    /// The budgets are taken in turn and a refused one ends the check, so
    /// an attempt refused for its address costs the username nothing.
    pub async fn check(&self, username: &str, address: Option<IpAddr>) -> Result<(), ApiError> {
        let refuse = |what: &str, wait| {
            crate::metrics::rate_limited("login");
            ApiError::rate_limited(what, wait)
        };
        let shared = self.shared.as_deref();
        if let Some(ip) = address {
            self.by_address
                .check(shared, &ip, || ip.to_string())
                .await
                .map_err(|wait| refuse("too many login attempts from this address", wait))?;
            self.by_username_and_address
                .check(shared, &(username.to_owned(), ip), || format!("{ip} {}", username_key(username)))
                .await
                .map_err(|wait| refuse("too many login attempts for this username from this address", wait))?;
        }
        if let Err(wait) = self.by_username.check(shared, &username.to_owned(), || username_key(username).into_owned()).await {
            if !self.is_known(username, address).await {
                return Err(refuse("too many login attempts for this username", wait));
            }
        }
        Ok(())
    }

    /// Whether `address` has logged in to `username` before: on this node,
    /// or (cluster mode) on any.
    async fn is_known(&self, username: &str, address: Option<IpAddr>) -> bool {
        let Some(ip) = address else { return false };
        if self.known.contains(username, ip) {
            return true;
        }
        match &self.shared {
            Some(shared) => shared.is_known_login_address(username, ip).await.unwrap_or(false),
            None => false,
        }
    }

    /// Remembers that `address` authenticated as `username` (login or
    /// signup), so the per-username budget never refuses it, on any node.
    pub async fn succeeded(&self, username: &str, address: Option<IpAddr>) {
        if let Some(ip) = address {
            self.known.remember(username, ip);
            if let Some(shared) = &self.shared {
                shared.remember_login_address(username, ip).await;
            }
        }
    }
}

/// Accounts remembered by [`KnownAddresses`] (the most recently successful).
const KNOWN_ACCOUNTS: usize = 32_768;
/// Addresses remembered per account (the most recent).
const KNOWN_ADDRESSES_PER_ACCOUNT: usize = banter_store::KNOWN_ADDRESSES_PER_ACCOUNT;

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
    by_address: Limit<IpAddr>,
    shared: Option<Arc<SharedBuckets>>,
}

impl SignupLimits {
    /// Counted cluster-wide in `shared` when given, else in this node.
    pub fn new(config: &ServerConfig, shared: Option<Arc<SharedBuckets>>) -> Self {
        let per_hour = config.signups_per_hour_per_address;
        SignupLimits { by_address: Limit::new("signup.address", Bucket::new(per_hour, Duration::from_secs(3600), per_hour)), shared }
    }

    /// Errors with `rate_limited` (429, `Retry-After`) when `address` has
    /// created its quota of accounts. Counted before any work, so failed
    /// attempts (taken usernames) count too.
    pub async fn check(&self, address: Option<IpAddr>) -> Result<(), ApiError> {
        let Some(ip) = address else { return Ok(()) };
        self.by_address.check(self.shared.as_deref(), &ip, || ip.to_string()).await.map_err(|wait| {
            crate::metrics::rate_limited("signup");
            ApiError::rate_limited("too many accounts created from this address", wait)
        })
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

    #[tokio::test]
    async fn a_spent_username_budget_still_admits_known_addresses_only() {
        let config = ServerConfig {
            login_attempts_per_minute_per_user: 2,
            login_attempts_per_minute_per_user_and_address: 5,
            ..ServerConfig::default()
        };
        let limits = LoginLimits::new(&config, None);
        limits.succeeded("victim", Some(ip(9))).await;
        assert!(limits.check("victim", Some(ip(1))).await.is_ok());
        assert!(limits.check("victim", Some(ip(2))).await.is_ok());
        let refused = limits.check("victim", Some(ip(3))).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        assert!(refused.retry_after.is_some());
        assert!(limits.check("victim", Some(ip(9))).await.is_ok(), "the owner's known address gets in");
    }
}
