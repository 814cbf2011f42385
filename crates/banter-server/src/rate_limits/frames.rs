//! Frames per account, over all of its connections: in the embedded mode
//! one bucket in this node's memory; in cluster mode a share of one
//! cluster-wide bucket, leased in chunks.
//!
//! **Leases.** A frame is too frequent for a statement each, so a node
//! takes [`chunk`] tokens (a tenth of the burst) from the account's shared
//! bucket in one statement and spends them in memory, one per frame; only
//! when its lease is empty does it ask again. Hence:
//!
//! * **bound**: over any window of length `t` the shared bucket grants at
//!   most `burst + rate·t` tokens, and a node can enter the window holding
//!   at most `chunk − 1` unspent ones, so the account's frames admitted
//!   cluster-wide are at most `burst + rate·t + N·(chunk − 1)` with its
//!   connections on N nodes (defaults: 800 + 400/s·t + 79·N), where
//!   counting per node allowed N·(burst + rate·t);
//! * **cost**: one statement per chunk of frames, and no more than one per
//!   `chunk · interval` (200 ms at the defaults) per node while the bucket
//!   is short: a refusal, or a partial grant, holds the next ask back that
//!   long (a refused frame is told to wait until then), so a flood costs
//!   each node at most 5 such statements per second per account, plus the
//!   full chunks, which the bucket grants at most `rate / chunk` (5) per
//!   second cluster-wide;
//! * leases left unspent are never returned (the account just had fewer
//!   frames); a lease idle for [`LEASE_IDLE`] is forgotten.
//!
//! The per-account, per-node lease is behind an async lock, so the
//! account's connections on one node never lease two chunks at once.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use banter_protocol::UserId;
use banter_store::Bucket;
use tokio::time::Instant;

use super::{Limit, SharedBuckets};
use crate::config::ServerConfig;

/// A lease unused this long is forgotten (with its unspent tokens).
const LEASE_IDLE: Duration = Duration::from_secs(60);
/// Checks between sweeps of idle leases.
const SWEEP_EVERY: u64 = 4096;

/// The tokens a node leases at once: a tenth of the burst, at least one.
pub fn chunk(bucket: Bucket) -> u32 {
    (bucket.burst / 10).max(1)
}

/// Frames per second per account, over all of its connections.
pub struct AccountFrameLimits {
    /// The bucket in this node's memory: the embedded mode's, and cluster
    /// mode's while the store does not answer.
    here: Limit<UserId>,
    leases: Option<Leases>,
}

impl AccountFrameLimits {
    /// Counted cluster-wide in `shared` when given, else in this node.
    pub fn new(config: &ServerConfig, shared: Option<Arc<SharedBuckets>>) -> Self {
        let per_second = config.account_frames_per_second.max(1);
        let burst = NonZeroU32::new(config.account_frames_burst).map_or(per_second, NonZeroU32::get);
        let bucket = Bucket::new(per_second, Duration::from_secs(1), burst);
        let leases = shared.map(|shared| Leases { shared, bucket, by_user: Mutex::default(), checks: AtomicU64::new(0) });
        AccountFrameLimits { here: Limit::new("account_frames", bucket), leases }
    }

    /// Takes one frame from the account's budget: `Err` with the time until
    /// the account may send again when it is spent.
    pub async fn check(&self, user_id: UserId) -> Result<(), Duration> {
        if let Some(leases) = &self.leases {
            if let Some(verdict) = leases.check(user_id).await {
                return verdict;
            }
        }
        self.here.check(None, &user_id, String::new).await
    }
}

/// This node's leases of cluster-wide account budgets.
struct Leases {
    shared: Arc<SharedBuckets>,
    bucket: Bucket,
    by_user: Mutex<HashMap<UserId, Arc<tokio::sync::Mutex<Lease>>>>,
    checks: AtomicU64,
}

/// One account's lease on this node.
struct Lease {
    /// Leased and not yet spent.
    tokens: u32,
    /// Not before this may the store be asked again (after a refusal or a
    /// partial grant).
    next_ask: Instant,
    last_used: Instant,
}

impl Leases {
    /// A frame's verdict, or `None` when the store does not answer (the
    /// caller counts on this node alone).
    async fn check(&self, user_id: UserId) -> Option<Result<(), Duration>> {
        let lease = self.lease_of(user_id);
        let mut lease = lease.lock().await;
        let now = Instant::now();
        lease.last_used = now;
        if lease.tokens > 0 {
            lease.tokens -= 1;
            return Some(Ok(()));
        }
        if lease.next_ask > now {
            return Some(Err(lease.next_ask - now));
        }
        let chunk = chunk(self.bucket);
        let taken = self.shared.take("account_frames", &format!("account_frames {user_id}"), self.bucket, chunk).await?;
        // Ask again at once only after a full chunk: a short bucket is
        // asked at most once per chunk's refill time.
        let hold = self.bucket.interval * chunk;
        if taken.granted == 0 {
            let wait = taken.retry_after.max(hold);
            lease.next_ask = now + wait;
            return Some(Err(wait));
        }
        lease.tokens = taken.granted - 1;
        if taken.granted < chunk {
            lease.next_ask = now + hold;
        }
        Some(Ok(()))
    }

    fn lease_of(&self, user_id: UserId) -> Arc<tokio::sync::Mutex<Lease>> {
        let mut by_user = self.by_user.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            // In use (another connection holds it) or used lately: kept.
            by_user.retain(|_, lease| {
                Arc::strong_count(lease) > 1 || lease.try_lock().map_or(true, |lease| lease.last_used.elapsed() < LEASE_IDLE)
            });
        }
        by_user
            .entry(user_id)
            .or_insert_with(|| {
                let now = Instant::now();
                Arc::new(tokio::sync::Mutex::new(Lease { tokens: 0, next_ask: now, last_used: now }))
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use async_trait::async_trait;
    use banter_store::{RateLimitStore, StoreError, StoreResult, Taken};

    use super::*;

    /// A shared bucket that holds `tokens` (never refilled), or fails, and
    /// counts the statements it was asked.
    struct Counted {
        tokens: Mutex<u32>,
        fail: bool,
        takes: AtomicU64,
    }

    #[async_trait]
    impl RateLimitStore for Counted {
        async fn take_tokens(&self, _: &str, _: Bucket, want: u32) -> StoreResult<Taken> {
            self.takes.fetch_add(1, Ordering::Relaxed);
            if self.fail {
                return Err(StoreError::Unavailable("down".into()));
            }
            let mut tokens = self.tokens.lock().unwrap();
            let granted = want.min(*tokens);
            *tokens -= granted;
            Ok(Taken { granted, retry_after: Duration::from_millis(1) })
        }
        async fn remember_login_address(&self, _: &str, _: IpAddr) -> StoreResult<()> {
            Ok(())
        }
        async fn is_known_login_address(&self, _: &str, _: IpAddr) -> StoreResult<bool> {
            Ok(false)
        }
        async fn sweep_rate_limits(&self) -> StoreResult<u64> {
            Ok(0)
        }
    }

    fn limits(tokens: u32, fail: bool) -> (AccountFrameLimits, Arc<Counted>) {
        let store = Arc::new(Counted { tokens: Mutex::new(tokens), fail, takes: AtomicU64::new(0) });
        let config = ServerConfig { account_frames_per_second: 400, account_frames_burst: 800, ..ServerConfig::default() };
        (AccountFrameLimits::new(&config, Some(Arc::new(SharedBuckets::new(store.clone())))), store)
    }

    #[tokio::test]
    async fn frames_cost_one_statement_per_chunk_of_a_tenth_of_the_burst() {
        let (limits, store) = limits(10_000, false);
        for _ in 0..400 {
            assert!(limits.check(7).await.is_ok());
        }
        assert_eq!(store.takes.load(Ordering::Relaxed), 5, "400 frames in chunks of 80");
        assert!(limits.check(8).await.is_ok());
        assert_eq!(store.takes.load(Ordering::Relaxed), 6, "each account has its own lease");
    }

    #[tokio::test]
    async fn a_spent_shared_bucket_refuses_and_is_asked_again_only_after_a_chunks_refill() {
        let (limits, store) = limits(100, false);
        for _ in 0..100 {
            assert!(limits.check(7).await.is_ok());
        }
        // 80 + the 20 left (a partial grant holds the next ask back).
        assert_eq!(store.takes.load(Ordering::Relaxed), 2);
        for _ in 0..50 {
            let wait = limits.check(7).await.unwrap_err();
            assert!(wait > Duration::from_millis(150) && wait <= Duration::from_millis(200), "a chunk's refill: {wait:?}");
        }
        assert_eq!(store.takes.load(Ordering::Relaxed), 2, "refusals in the hold cost no statement");
    }

    #[tokio::test]
    async fn without_the_store_an_account_gets_this_nodes_budget_neither_more_nor_none() {
        let (limits, _) = limits(0, true);
        for _ in 0..800 {
            assert!(limits.check(7).await.is_ok(), "not closed");
        }
        assert!(limits.check(7).await.is_err(), "not open: the burst, counted here");
    }
}
