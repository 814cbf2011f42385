//! The PostgreSQL implementation of [`Store`](crate::Store), for cluster mode.
//!
//! Many identical Banter nodes share one set of PostgreSQL databases, so
//! every invariant is kept by PostgreSQL itself rather than by a single
//! writer: row locks on the conversation serialise appends and membership
//! changes, UNIQUE constraints keep usernames, direct pairs and idempotency
//! keys single, and each write is one transaction.
//!
//! Layout:
//! * [`shards`]: the databases (one or more), migrations, and which one
//!   holds a given conversation (sharding by conversation id);
//! * [`user_shards`]: the per-user index of the shards holding a user's
//!   memberships, so per-user questions (list, sync, contacts, search, the
//!   export) ask only those shards;
//! * [`appender`]: batched appends, group-committed like the SQLite writer
//!   but correct with several nodes writing concurrently;
//! * [`accounts`], [`devices`], [`conversations`], [`messages`],
//!   [`markers`], [`presence`], [`push`], [`settings`]: each implements its
//!   domain trait ([`AccountStore`](crate::AccountStore) in `accounts`, and
//!   so on) with its SQL, choosing the shard each query runs on;
//! * [`directory`]: the routing directory of cluster mode (which nodes
//!   hold which users), partitioned by user id over the shards;
//! * [`rate_limits`]: the cluster-wide token buckets
//!   ([`RateLimitStore`](crate::RateLimitStore)), which only this backend has;
//! * [`rows`]: sqlx error classification and row decoding they share.
//!
//! sqlx with runtime-bound queries (`sqlx::query` + binds): no database is
//! needed at build time.

mod accounts;
mod appender;
mod blocks;
mod conversations;
mod devices;
mod directory;
mod leaving;
mod markers;
mod messages;
mod presence;
mod push;
mod rate_limits;
mod rows;
mod search;
mod settings;
mod shards;
mod user_shards;

use async_trait::async_trait;

pub use self::directory::PgDirectory;
use self::appender::Appender;
use self::shards::Shards;
use crate::{StoreLifecycle, StoreResult};

/// How to reach the databases.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// One URL per shard (`postgres://user@host:port/db`), in a fixed order:
    /// shard 0 also holds the accounts. Never reorder or resize a deployed
    /// list (the store checks and refuses).
    pub urls: Vec<String>,
    /// Pooled connections per shard on this node.
    pub max_connections: u32,
}

impl PgConfig {
    /// A single database with the default pool size.
    pub fn single(url: impl Into<String>) -> PgConfig {
        PgConfig { urls: vec![url.into()], max_connections: 16 }
    }
}

/// A [`Store`](crate::Store) on one or more PostgreSQL databases.
pub struct PgStore {
    shards: Shards,
    /// One appender per shard, same order.
    appenders: Vec<Appender>,
}

impl PgStore {
    /// Connects, applies migrations to every shard and starts the appenders.
    /// Must be called inside a tokio runtime.
    pub async fn connect(config: &PgConfig) -> StoreResult<PgStore> {
        let shards = Shards::connect(&config.urls, config.max_connections).await?;
        user_shards::backfill(&shards).await?;
        let appenders = (0..shards.count())
            .map(|index| {
                let others = (0..shards.count()).filter(|i| *i != index).map(|i| shards.get(i).clone()).collect();
                Appender::start(shards.get(index).clone(), others)
            })
            .collect();
        tracing::info!(shards = shards.count(), "opened PostgreSQL store");
        Ok(PgStore { shards, appenders })
    }
}

#[async_trait]
impl StoreLifecycle for PgStore {
    async fn probe(&self) -> StoreResult<()> {
        self.shards.probe().await
    }

    fn node_directory(&self) -> Option<std::sync::Arc<dyn crate::NodeDirectory>> {
        let pools = (0..self.shards.count()).map(|i| self.shards.get(i).clone()).collect();
        Some(std::sync::Arc::new(PgDirectory::new(pools)))
    }

    fn rate_limits(&self) -> Option<std::sync::Arc<dyn crate::RateLimitStore>> {
        let shards = (0..self.shards.count()).map(|index| self.shards.get(index).clone()).collect();
        Some(std::sync::Arc::new(rate_limits::PgRateLimits::new(shards)))
    }

    async fn close(&self) {
        for appender in &self.appenders {
            appender.close().await;
        }
        self.shards.close().await;
    }
}
