//! The store as a running component: its health and its shutdown, apart
//! from the data it holds.

use async_trait::async_trait;

use std::sync::Arc;

use crate::{NodeDirectory, RateLimitStore, StoreResult};

/// Health and shutdown of a store.
#[async_trait]
pub trait StoreLifecycle: Send + Sync {
    /// Flushes pending writes and stops the writer. Later writes fail with
    /// [`StoreError::Unavailable`](crate::StoreError::Unavailable).
    async fn close(&self);

    /// A failure the store cannot recover from by itself (the embedded
    /// writer thread died): every later write would fail, so the process
    /// should stop and be restarted. `None` while the store works, and for
    /// failures that pass by themselves (a database briefly unreachable).
    fn fatal_error(&self) -> Option<String> {
        None
    }

    /// A cheap check that the database answers right now (readiness): `Err`
    /// ([`StoreError::Unavailable`](crate::StoreError::Unavailable)) when it
    /// is unreachable. Bounded by a short timeout of its own; callers cache
    /// the answer rather than ask per request. The embedded store is always
    /// reachable (its failures are [`StoreLifecycle::fatal_error`]).
    async fn probe(&self) -> StoreResult<()> {
        Ok(())
    }

    /// The routing directory of cluster mode, on stores that several nodes
    /// share (PostgreSQL); `None` for the embedded store.
    fn node_directory(&self) -> Option<Arc<dyn NodeDirectory>> {
        None
    }

    /// The token buckets every node shares, for cluster-wide rate limits
    /// ([`crate::rate_limits`]), on stores that several nodes share
    /// (PostgreSQL); `None` for the embedded store, whose one process
    /// counts in memory.
    fn rate_limits(&self) -> Option<Arc<dyn RateLimitStore>> {
        None
    }
}
