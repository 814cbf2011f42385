//! The cluster-wide side of the rate limits: the store's shared token
//! buckets ([`RateLimitStore`], PostgreSQL) behind a deadline and a
//! fallback.
//!
//! A limit that cannot reach the store in time neither opens (admitting
//! everything) nor closes (refusing everyone until the store is back): it
//! counts in this node's memory, as a single node always does, so during a
//! store outage each node grants at most its own budget — the cluster's
//! budget times the number of nodes, for as long as the outage lasts. After
//! a failure the node does not ask the store again for
//! [`REST_AFTER_FAILURE`], so an outage costs a limit one deadline per rest,
//! not one per attempt. Each fallback is counted in
//! `banter_rate_limit_fallbacks_total` and each failure logged (at most one
//! warning per rest).
//!
//! The buckets use the store's connection pool, so a pool that stays busy
//! past the deadline (every connection held by appends) counts as
//! unavailable too: the limits degrade to per node rather than add to the
//! queue.
//!
//! In practice only frames see the fallback often: logins and signups need
//! the accounts shard anyway (credentials, the new user), so when it is down
//! they fail with `storage_unavailable` whatever the limit says.

use std::borrow::Cow;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use banter_store::{Bucket, RateLimitStore, StoreResult, Taken};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

/// The longest a limit waits for the store before counting on this node alone.
pub const STORE_DEADLINE: Duration = Duration::from_millis(500);
/// After a failure, how long the node counts on its own before asking the store again.
pub const REST_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// How often full buckets are swept from the store (by every node).
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Usernames longer than this (never valid ones) are keyed by their hash,
/// so a 60 KiB login name does not become a 60 KiB primary key.
const USERNAME_KEY_MAX: usize = 64;

/// The store's shared buckets, as the limits use them. See the module doc.
pub struct SharedBuckets {
    store: Arc<dyn RateLimitStore>,
    /// Until when the store is not asked, after a failure.
    resting_until: Mutex<Option<Instant>>,
}

impl SharedBuckets {
    pub fn new(store: Arc<dyn RateLimitStore>) -> Self {
        SharedBuckets { store, resting_until: Mutex::new(None) }
    }

    /// Takes up to `want` tokens from the cluster-wide bucket `key`; `None`
    /// when the store did not answer in time (or failed within the last
    /// rest): the caller counts on this node alone.
    pub async fn take(&self, limit: &'static str, key: &str, bucket: Bucket, want: u32) -> Option<Taken> {
        self.ask(limit, self.store.take_tokens(key, bucket, want)).await
    }

    /// Whether `address` logged in to `username` before, on any node;
    /// `None` when the store did not answer.
    pub async fn is_known_login_address(&self, username: &str, address: IpAddr) -> Option<bool> {
        self.ask("login", self.store.is_known_login_address(username, address)).await
    }

    /// Remembers a successful login for every node (best effort: a miss
    /// only makes the owner wait for the shared budget, as from a new address).
    pub async fn remember_login_address(&self, username: &str, address: IpAddr) {
        self.ask("login", self.store.remember_login_address(username, address)).await;
    }

    /// Sweeps full buckets every [`SWEEP_INTERVAL`] until `shutdown`.
    pub fn spawn_sweeper(self: &Arc<Self>, shutdown: CancellationToken) {
        let shared = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SWEEP_INTERVAL);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = every.tick() => {}
                }
                match tokio::time::timeout(SWEEP_INTERVAL / 2, shared.store.sweep_rate_limits()).await {
                    Ok(Ok(swept)) => tracing::debug!(swept, "swept full rate-limit buckets"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "sweeping rate-limit buckets failed"),
                    Err(_) => tracing::warn!("sweeping rate-limit buckets took too long"),
                }
            }
        });
    }

    async fn ask<T>(&self, limit: &'static str, call: impl Future<Output = StoreResult<T>>) -> Option<T> {
        if self.resting() {
            crate::metrics::rate_limit_fallback(limit);
            return None;
        }
        let failure = match tokio::time::timeout(STORE_DEADLINE, call).await {
            Ok(Ok(answer)) => return Some(answer),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {STORE_DEADLINE:?}"),
        };
        *self.resting_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Instant::now() + REST_AFTER_FAILURE);
        tracing::warn!(limit, error = %failure, rest = ?REST_AFTER_FAILURE, "cluster-wide rate limits unavailable; counting on this node alone");
        crate::metrics::rate_limit_fallback(limit);
        None
    }

    fn resting(&self) -> bool {
        let mut until = self.resting_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match *until {
            Some(at) if Instant::now() < at => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }
}

/// A username as it appears in a bucket key: itself, or for an overlong
/// (never valid) one its SHA-256.
pub fn username_key(username: &str) -> Cow<'_, str> {
    if username.len() <= USERNAME_KEY_MAX {
        return Cow::Borrowed(username);
    }
    let digest = Sha256::digest(username.as_bytes());
    Cow::Owned(digest.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use async_trait::async_trait;
    use banter_store::StoreError;

    use super::*;

    /// A store that fails (or hangs) and counts the calls it got.
    struct Broken {
        hang: bool,
        calls: AtomicU32,
    }

    #[async_trait]
    impl RateLimitStore for Broken {
        async fn take_tokens(&self, _: &str, _: Bucket, _: u32) -> StoreResult<Taken> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            if self.hang {
                std::future::pending::<()>().await;
            }
            Err(StoreError::Unavailable("down".into()))
        }
        async fn remember_login_address(&self, _: &str, _: IpAddr) -> StoreResult<()> {
            Err(StoreError::Unavailable("down".into()))
        }
        async fn is_known_login_address(&self, _: &str, _: IpAddr) -> StoreResult<bool> {
            Err(StoreError::Unavailable("down".into()))
        }
        async fn sweep_rate_limits(&self) -> StoreResult<u64> {
            Ok(0)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_that_does_not_answer_is_left_alone_for_the_rest_after_the_deadline() {
        let store = Arc::new(Broken { hang: true, calls: AtomicU32::new(0) });
        let shared = SharedBuckets::new(store.clone());
        let bucket = Bucket::new(1, Duration::from_secs(1), 1);
        let started = tokio::time::Instant::now();
        assert_eq!(shared.take("test", "k", bucket, 1).await, None);
        assert_eq!(started.elapsed(), STORE_DEADLINE, "waited exactly the deadline");
        assert_eq!(shared.take("test", "k", bucket, 1).await, None, "resting: not asked");
        assert_eq!(store.calls.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_limit_whose_store_fails_counts_on_this_node_neither_open_nor_closed() {
        let shared = SharedBuckets::new(Arc::new(Broken { hang: false, calls: AtomicU32::new(0) }));
        let limit = super::super::Limit::new("test", Bucket::new(2, Duration::from_secs(60), 2));
        let key = || "k".to_owned();
        assert!(limit.check(Some(&shared), &1, key).await.is_ok(), "not closed");
        assert!(limit.check(Some(&shared), &1, key).await.is_ok());
        assert!(limit.check(Some(&shared), &1, key).await.is_err(), "not open: this node's budget");
    }

    #[test]
    fn overlong_usernames_are_keyed_by_their_hash() {
        assert_eq!(username_key("alice"), "alice");
        let long = "x".repeat(60_000);
        assert_eq!(username_key(&long).len(), 64);
        assert_ne!(username_key(&long), username_key(&"y".repeat(60_000)));
    }
}
