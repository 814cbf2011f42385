//! [`BlockStore`] on PostgreSQL: block rows on the accounts shard, and the
//! `closed` flag of the direct conversation on the pair's shard.
//!
//! The two live on different databases, so no one transaction covers them.
//! Every change of a pair's flag ([`refresh_direct_closed`]) runs under a
//! transaction-level advisory lock on the pair, taken on the accounts
//! shard: blocks, unblocks and a new direct conversation of the same pair
//! then recompute the flag one after another, each from what the others
//! committed, so the last to run leaves it right.

use std::collections::HashSet;

use async_trait::async_trait;
use banter_protocol::{TimestampMs, UserId};
use sqlx::{PgConnection, PgPool};

use super::accounts::require_users;
use super::rows::{user, DbResult, UserRow};
use super::shards::Shards;
use super::PgStore;
use crate::blocks::{check_block, check_block_cap, check_not_blocked_by, direct_closed};
use crate::conversations::direct_key;
use crate::{BlockEntry, BlockStore, StoreError, StoreResult};

#[async_trait]
impl BlockStore for PgStore {
    async fn block_user(&self, blocker: UserId, blocked: UserId, cap: usize, now: TimestampMs) -> StoreResult<()> {
        check_block(blocker, blocked)?;
        let shards = &self.shards;
        require_users(shards.accounts(), &[blocked]).await?;
        let mut tx = shards.accounts().begin().await.db()?;
        lock_pair(&mut tx, blocker, blocked).await?;
        // The blocker's row too: two blocks by one user wait for each other,
        // so the cap holds.
        sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE").bind(blocker).execute(&mut *tx).await.db()?;
        if is_blocked_by(&mut tx, blocker, blocked).await? {
            return Ok(());
        }
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM blocks WHERE blocker_id = $1")
            .bind(blocker)
            .fetch_one(&mut *tx)
            .await
            .db()?;
        check_block_cap(count, cap)?;
        sqlx::query("INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3)")
            .bind(blocker)
            .bind(blocked)
            .bind(now)
            .execute(&mut *tx)
            .await
            .db()?;
        write_direct_closed(&mut tx, shards, blocker, blocked).await?;
        tx.commit().await.db()
    }

    async fn unblock_user(&self, blocker: UserId, blocked: UserId) -> StoreResult<()> {
        let shards = &self.shards;
        let mut tx = shards.accounts().begin().await.db()?;
        lock_pair(&mut tx, blocker, blocked).await?;
        let removed = sqlx::query("DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2")
            .bind(blocker)
            .bind(blocked)
            .execute(&mut *tx)
            .await
            .db()?
            .rows_affected();
        if removed > 0 {
            write_direct_closed(&mut tx, shards, blocker, blocked).await?;
        }
        tx.commit().await.db()
    }

    async fn blocked_users(&self, blocker: UserId) -> StoreResult<Vec<BlockEntry>> {
        let rows: Vec<(i64, String, String, TimestampMs)> = sqlx::query_as(
            "SELECT u.id, u.username, u.display_name, b.created_at
             FROM blocks b JOIN users u ON u.id = b.blocked_id
             WHERE b.blocker_id = $1 ORDER BY b.created_at DESC, b.blocked_id DESC",
        )
        .bind(blocker)
        .fetch_all(self.shards.accounts())
        .await
        .db()?;
        Ok(rows
            .into_iter()
            .map(|(id, username, display_name, blocked_at)| BlockEntry {
                user: user((id, username, display_name) as UserRow),
                blocked_at,
            })
            .collect())
    }

    async fn blocks_between(&self, user: UserId, others: &[UserId]) -> StoreResult<Vec<UserId>> {
        blocks_between(self.shards.accounts(), user, others).await
    }
}

/// The users among `others` with a block between them and `user`, in the
/// order given.
pub(super) async fn blocks_between(accounts: &PgPool, user: UserId, others: &[UserId]) -> StoreResult<Vec<UserId>> {
    if others.is_empty() {
        return Ok(Vec::new());
    }
    let found: HashSet<UserId> = sqlx::query_scalar(
        "SELECT blocked_id FROM blocks WHERE blocker_id = $1 AND blocked_id = ANY($2)
         UNION SELECT blocker_id FROM blocks WHERE blocked_id = $1 AND blocker_id = ANY($2)",
    )
    .bind(user)
    .bind(others)
    .fetch_all(accounts)
    .await
    .db()?
    .into_iter()
    .collect();
    Ok(others.iter().copied().filter(|id| found.contains(id)).collect())
}

/// Refuses when any of `user_ids` has blocked `actor` (group creation and
/// adds). Read before the group's transaction, which is on another shard.
pub(super) async fn require_not_blocked_by(accounts: &PgPool, actor: UserId, user_ids: &[UserId]) -> StoreResult<()> {
    check_not_blocked_by(&blockers_of(accounts, actor, user_ids).await?)
}

/// Which of `user_ids` have blocked `actor`. Read on the accounts pool
/// **before** any transaction is open: with one shard that pool is the
/// conversation's too, and a transaction waiting for a second connection
/// of its own pool deadlocks once the pool is exhausted.
pub(super) async fn blockers_of(accounts: &PgPool, actor: UserId, user_ids: &[UserId]) -> StoreResult<Vec<UserId>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar("SELECT blocker_id FROM blocks WHERE blocked_id = $1 AND blocker_id = ANY($2)")
        .bind(actor)
        .bind(user_ids)
        .fetch_all(accounts)
        .await
        .db()
}

/// Whether a block stands between `a` and `b`, either way.
pub(super) async fn blocked_either_way(accounts: &PgPool, a: UserId, b: UserId) -> StoreResult<bool> {
    Ok(!blocks_between(accounts, a, &[b]).await?.is_empty())
}

/// Recomputes the `closed` flag of the pair's direct conversation under
/// the pair's lock (after creating one: a block may have committed while
/// it was being created, and its own recompute found no conversation).
pub(super) async fn refresh_direct_closed(shards: &Shards, a: UserId, b: UserId) -> StoreResult<()> {
    let mut tx = shards.accounts().begin().await.db()?;
    lock_pair(&mut tx, a, b).await?;
    write_direct_closed(&mut tx, shards, a, b).await?;
    tx.commit().await.db()
}

/// Serialises every change of the pair's flag (module doc). Released at
/// the end of the transaction.
async fn lock_pair(tx: &mut PgConnection, a: UserId, b: UserId) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('banter.block:' || $1))")
        .bind(direct_key(a.min(b), a.max(b)).unwrap_or_default())
        .execute(&mut *tx)
        .await
        .db()?;
    Ok(())
}

async fn is_blocked_by(tx: &mut PgConnection, blocker: UserId, blocked: UserId) -> StoreResult<bool> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = $2")
        .bind(blocker)
        .bind(blocked)
        .fetch_optional(&mut *tx)
        .await
        .db()?;
    Ok(found.is_some())
}

/// Reads the pair's blocks and deletions in `tx` (the accounts shard, pair
/// locked) and writes the flag on the conversation's shard.
async fn write_direct_closed(tx: &mut PgConnection, shards: &Shards, a: UserId, b: UserId) -> StoreResult<()> {
    let blocked = is_blocked_by(tx, a, b).await? || is_blocked_by(tx, b, a).await?;
    let deleted: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id IN ($1, $2) AND deleted_at IS NOT NULL)")
            .bind(a)
            .bind(b)
            .fetch_one(&mut *tx)
            .await
            .db()?;
    let key = direct_key(a, b).map_err(|_| StoreError::BlockingYourself)?;
    let update =
        sqlx::query("UPDATE conversations SET closed = $2 WHERE direct_key = $1").bind(key).bind(direct_closed(blocked, deleted));
    let shard = shards.index_for_direct(a, b);
    if std::ptr::eq(shards.get(shard), shards.accounts()) {
        // The pair's shard is the accounts shard: in this transaction. A
        // second connection from the pool, taken while this one is held,
        // deadlocked once as many refreshes ran at once as the pool has
        // connections (each holding one, waiting for another): every one
        // then failed after the acquire timeout.
        update.execute(&mut *tx).await.db()?;
    } else {
        update.execute(shards.get(shard)).await.db()?;
    }
    Ok(())
}
