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
//! A user's conversations are therefore on any shard; which ones is the
//! per-user index's job ([`user_shards`](super::user_shards)), so per-user
//! questions ask only those.
//!
//! The shard list is fixed for the life of a deployment (each database
//! records its index and the count; a store opened with another list refuses
//! to start). To grow, start with more shards than primaries — several
//! databases per PostgreSQL server — and move databases to new primaries
//! later; ids never change. docs/SCALING.md has the numbers.
//!
//! **Durability.** An ack means committed *and durable*, which on
//! PostgreSQL depends on `synchronous_commit`: with `off`, COMMIT returns
//! before the WAL is flushed and a crash of the database loses acknowledged
//! messages. Every connection asks for `on` in its start-up packet (which
//! overrides any `ALTER ROLE/DATABASE … SET`), and at start the store reads
//! the setting back on each shard: if it is still not `on` (a pooler such
//! as PgBouncer in transaction mode drops start-up options), the store
//! refuses to start with one line saying so ([`durability_check`]); with
//! `fsync = off` it starts but warns, since no client setting can make such
//! a server durable. `local`, `remote_write` and `remote_apply` (each flushes
//! the primary's WAL before answering) are accepted too.
//!
//! **Reachability.** Each shard also has a one-connection pool of its own
//! for [`Shards::probe`], the readiness check, so a busy main pool never
//! makes the probe fail and the probe never takes a connection from work.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use super::rows::DbResult;
use crate::{StoreError, StoreResult};

/// The migrations, embedded in the binary at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a request waits for a pooled connection (a free one, or a new
/// one being opened) before failing with `Unavailable` instead of queueing
/// without bound. It is also how long an operation waits while the database
/// refuses connections (sqlx retries refused connects until then), so it is
/// the answer time of most requests during an outage: a few seconds, not
/// the tens of seconds a client would give up after.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The longest a readiness probe waits for its answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The databases of one store.
pub(super) struct Shards {
    pools: Vec<PgPool>,
    /// One single-connection pool per shard, for [`Shards::probe`] only.
    probes: Vec<PgPool>,
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
        let mut probes = Vec::with_capacity(urls.len());
        for (index, url) in urls.iter().enumerate() {
            let options: PgConnectOptions = url
                .parse::<PgConnectOptions>()
                .map_err(|e| StoreError::Unavailable(format!("invalid database URL for shard {index}: {e}")))?
                // Acknowledged = durable: see the module doc.
                .options([("synchronous_commit", "on")])
                // One log line per statement would drown the server's log.
                .disable_statement_logging();
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(2))
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
                .await
                .map_err(|e| StoreError::Unavailable(format!("cannot connect to shard {index}: {e}")))?;
            check_durability(&pool, index).await?;
            MIGRATOR
                .run(&pool)
                .await
                .map_err(|e| StoreError::Unavailable(format!("migrating shard {index} failed: {e}")))?;
            claim_identity(&pool, index, urls.len()).await?;
            super::search::backfill(&pool, index).await?;
            pools.push(pool);
            // The probe's own query is its test: no ping before it.
            probes.push(
                PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(PROBE_TIMEOUT)
                    .test_before_acquire(false)
                    .connect_lazy_with(options),
            );
        }
        Ok(Shards { pools, probes, next_group_shard: AtomicUsize::new(0) })
    }

    /// Whether every shard answers a trivial query within [`PROBE_TIMEOUT`]
    /// (each on its own probe connection, all shards at once). `Err` names
    /// the first shard that did not.
    pub(super) async fn probe(&self) -> StoreResult<()> {
        let checks = self.probes.iter().enumerate().map(|(index, pool)| async move {
            let query = sqlx::query("SELECT 1").execute(pool);
            match tokio::time::timeout(PROBE_TIMEOUT, query).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(StoreError::Unavailable(format!("shard {index} is unreachable: {e}"))),
                Err(_) => Err(StoreError::Unavailable(format!("shard {index} did not answer within {PROBE_TIMEOUT:?}"))),
            }
        });
        futures_util::future::join_all(checks).await.into_iter().collect::<StoreResult<Vec<()>>>().map(|_| ())
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
        for pool in self.pools.iter().chain(&self.probes) {
            pool.close().await;
        }
    }
}

/// Reads back the settings "acknowledged = durable" rests on and applies
/// [`durability_check`].
async fn check_durability(pool: &PgPool, index: usize) -> StoreResult<()> {
    let mut connection = pool.acquire().await.db()?;
    let synchronous_commit: String = sqlx::query_scalar("SHOW synchronous_commit").fetch_one(&mut *connection).await.db()?;
    let fsync: String = sqlx::query_scalar("SHOW fsync").fetch_one(&mut *connection).await.db()?;
    match durability_check(&synchronous_commit, &fsync) {
        Ok(None) => Ok(()),
        Ok(Some(warning)) => {
            tracing::warn!(shard = index, "{warning}");
            Ok(())
        }
        Err(refusal) => Err(StoreError::Unavailable(format!("shard {index}: {refusal}"))),
    }
}

/// The verdict on a shard's `synchronous_commit` and `fsync` as a session
/// of this store sees them: `Err` (refuse to start) when commits are
/// acknowledged before they are flushed, a warning when the server itself
/// does not flush.
pub(super) fn durability_check(synchronous_commit: &str, fsync: &str) -> Result<Option<String>, String> {
    match synchronous_commit {
        // `local` flushes this server's WAL before answering, only not a standby's.
        "on" | "local" | "remote_write" | "remote_apply" => {}
        other => {
            return Err(format!(
                "synchronous_commit is '{other}' on this connection although the store asks for 'on' \
                 (is a pooler dropping start-up options?); acknowledged messages would not be durable"
            ))
        }
    }
    if fsync != "on" {
        return Ok(Some(format!(
            "the PostgreSQL server runs with fsync = {fsync}: a crash of the database server can lose acknowledged messages"
        )));
    }
    Ok(None)
}

/// `(id - 1) mod count`: inverse of the id sequence each shard is given.
pub(super) fn shard_of(conversation_id: i64, count: usize) -> usize {
    (conversation_id - 1).rem_euclid(count as i64) as usize
}

/// The shard of a rate-limit bucket: a fixed function of its key (64-bit
/// FNV-1a), identical on every node and release, so every node takes from
/// the same row and the buckets spread over the shards.
pub(super) fn shard_of_bucket(key: &str, count: usize) -> usize {
    let hash = key.bytes().fold(0xCBF2_9CE4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3));
    (hash % count.max(1) as u64) as usize
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
    fn a_session_without_synchronous_commit_is_refused_and_a_server_without_fsync_is_warned_about() {
        assert_eq!(durability_check("on", "on"), Ok(None));
        assert_eq!(durability_check("remote_apply", "on"), Ok(None));
        assert_eq!(durability_check("local", "on"), Ok(None));
        let refusal = durability_check("off", "on").unwrap_err();
        assert!(refusal.contains("synchronous_commit is 'off'"), "{refusal}");
        assert!(!refusal.contains('\n'), "one line");
        assert!(durability_check("on", "off").unwrap().unwrap().contains("fsync = off"));
    }

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
