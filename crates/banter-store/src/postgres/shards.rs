//! The PostgreSQL databases a store spans, and which one holds what.
//!
//! Shard 0 holds the accounts (users, devices) and its share of the
//! conversations; every shard holds the conversations whose id maps to it,
//! with their members and messages. The mapping is arithmetic, so every node
//! computes it alike with no directory to consult:
//!
//! * shard `i` of `n` hands out conversation ids `i+1, i+1+n, i+1+2n, …`, so
//!   a conversation lives on shard `(id - 1) mod n`;
//! * a direct conversation is created on the shard its user pair hashes to,
//!   so "one direct conversation per pair" is still one UNIQUE constraint;
//! * groups go round-robin.
//!
//! The shard list is fixed for the life of a deployment (each database
//! records its index and the count; a store opened with another list refuses
//! to start). To grow, start with more shards than primaries — several
//! databases per PostgreSQL server — and move databases to new primaries
//! later; ids never change. docs/SCALING.md has the numbers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use super::rows::DbResult;
use crate::{StoreError, StoreResult};

/// The migrations, embedded in the binary at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a request waits for a free pooled connection before failing
/// with `Unavailable` (instead of queueing without bound).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The databases of one store.
pub(super) struct Shards {
    pools: Vec<PgPool>,
    next_group_shard: AtomicUsize,
}

impl Shards {
    /// Connects to every shard, applies migrations and checks (or, the first
    /// time, records) each database's place in the list.
    pub(super) async fn connect(urls: &[String], max_connections: u32) -> StoreResult<Shards> {
        if urls.is_empty() {
            return Err(StoreError::Unavailable("no database URL given".into()));
        }
        let mut pools = Vec::with_capacity(urls.len());
        for (index, url) in urls.iter().enumerate() {
            let options: PgConnectOptions = url
                .parse::<PgConnectOptions>()
                .map_err(|e| StoreError::Unavailable(format!("invalid database URL for shard {index}: {e}")))?
                // One log line per statement would drown the server's log.
                .disable_statement_logging();
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(2))
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await
                .map_err(|e| StoreError::Unavailable(format!("cannot connect to shard {index}: {e}")))?;
            MIGRATOR
                .run(&pool)
                .await
                .map_err(|e| StoreError::Unavailable(format!("migrating shard {index} failed: {e}")))?;
            claim_identity(&pool, index, urls.len()).await?;
            pools.push(pool);
        }
        Ok(Shards { pools, next_group_shard: AtomicUsize::new(0) })
    }

    pub(super) fn count(&self) -> usize {
        self.pools.len()
    }

    /// The database holding users and devices.
    pub(super) fn accounts(&self) -> &PgPool {
        &self.pools[0]
    }

    pub(super) fn get(&self, index: usize) -> &PgPool {
        &self.pools[index]
    }

    pub(super) fn all(&self) -> &[PgPool] {
        &self.pools
    }

    /// The shard index of a conversation. Any id maps somewhere; an id that
    /// does not exist is simply not found there.
    pub(super) fn index_of_conversation(&self, conversation_id: i64) -> usize {
        shard_of(conversation_id, self.count())
    }

    pub(super) fn for_conversation(&self, conversation_id: i64) -> &PgPool {
        self.get(self.index_of_conversation(conversation_id))
    }

    /// Where the direct conversation of a pair lives: a fixed function of
    /// the pair, identical on every node and release.
    pub(super) fn index_for_direct(&self, a: i64, b: i64) -> usize {
        let (lo, hi) = (a.min(b) as u64, a.max(b) as u64);
        // A simple mix; it only has to spread pairs evenly.
        let mixed = lo.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ hi.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        ((mixed >> 17) % self.count() as u64) as usize
    }

    /// Where the next new group goes.
    pub(super) fn index_for_new_group(&self) -> usize {
        self.next_group_shard.fetch_add(1, Ordering::Relaxed) % self.count()
    }

    pub(super) async fn close(&self) {
        for pool in &self.pools {
            pool.close().await;
        }
    }
}

/// `(id - 1) mod count`: inverse of the id sequence each shard is given.
pub(super) fn shard_of(conversation_id: i64, count: usize) -> usize {
    (conversation_id - 1).rem_euclid(count as i64) as usize
}

/// Records which shard this database is (first open) or checks it (later).
/// On first open of shard `index` of `count > 1`, its conversation id
/// sequence is set to `index+1` stepping by `count`.
async fn claim_identity(pool: &PgPool, index: usize, count: usize) -> StoreResult<()> {
    let mut tx = pool.begin().await.db()?;
    // Nodes starting together must not both claim.
    sqlx::query("LOCK TABLE shard_identity IN EXCLUSIVE MODE").execute(&mut *tx).await.db()?;
    let existing: Option<(i32, i32)> = sqlx::query_as("SELECT shard_index, shard_count FROM shard_identity")
        .fetch_optional(&mut *tx)
        .await
        .db()?;
    match existing {
        Some((i, n)) if (i as usize, n as usize) == (index, count) => {}
        Some((i, n)) => {
            return Err(StoreError::Unavailable(format!(
                "database given as shard {index} of {count} is shard {i} of {n}; the shard list must not change"
            )))
        }
        None => {
            let conversations: i64 = sqlx::query_scalar("SELECT count(*) FROM conversations")
                .fetch_one(&mut *tx)
                .await
                .db()?;
            if conversations > 0 && count > 1 {
                return Err(StoreError::Unavailable(format!(
                    "shard {index} already holds conversations but has no shard identity"
                )));
            }
            if count > 1 {
                // Values are ours (integers), not user input.
                let sql = format!(
                    "ALTER TABLE conversations ALTER COLUMN id SET INCREMENT BY {count} RESTART WITH {}",
                    index + 1
                );
                sqlx::query(&sql).execute(&mut *tx).await.db()?;
            }
            sqlx::query("INSERT INTO shard_identity (shard_index, shard_count) VALUES ($1, $2)")
                .bind(index as i32)
                .bind(count as i32)
                .execute(&mut *tx)
                .await
                .db()?;
        }
    }
    tx.commit().await.db()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_handed_out_by_a_shard_map_back_to_it() {
        for count in 1..=5usize {
            for index in 0..count {
                for k in 0..10i64 {
                    let id = index as i64 + 1 + k * count as i64;
                    assert_eq!(shard_of(id, count), index);
                }
            }
        }
        assert_eq!(shard_of(-7, 3), shard_of(-7 + 3, 3), "any id maps somewhere");
    }
}
