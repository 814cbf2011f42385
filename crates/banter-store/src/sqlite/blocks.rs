//! [`BlockStore`] on SQLite: block rows, and the `closed` flag of the
//! direct conversation they concern, changed in the same transaction.

use async_trait::async_trait;
use banter_protocol::{TimestampMs, UserId};
use rusqlite::Connection;

use super::accounts::require_user;
use super::rows::{user_at, DbResult};
use super::SqliteStore;
use crate::blocks::{check_block, check_block_cap, direct_closed, check_not_blocked_by};
use crate::conversations::direct_key;
use crate::{BlockEntry, BlockStore, StoreResult};

#[async_trait]
impl BlockStore for SqliteStore {
    async fn block_user(&self, blocker: UserId, blocked: UserId, cap: usize, now: TimestampMs) -> StoreResult<()> {
        self.write(move |c| block_user(c, blocker, blocked, cap, now)).await
    }

    async fn unblock_user(&self, blocker: UserId, blocked: UserId) -> StoreResult<()> {
        self.write(move |c| unblock_user(c, blocker, blocked)).await
    }

    async fn blocked_users(&self, blocker: UserId) -> StoreResult<Vec<BlockEntry>> {
        self.read(move |c| blocked_users(c, blocker)).await
    }

    async fn blocks_between(&self, user: UserId, others: &[UserId]) -> StoreResult<Vec<UserId>> {
        let others = others.to_vec();
        self.read(move |c| blocks_between(c, user, &others)).await
    }
}

fn block_user(conn: &Connection, blocker: UserId, blocked: UserId, cap: usize, now: TimestampMs) -> StoreResult<()> {
    check_block(blocker, blocked)?;
    require_user(conn, blocked)?;
    if is_blocked_by(conn, blocker, blocked)? {
        return Ok(());
    }
    let count: i64 = conn
        .prepare_cached("SELECT count(*) FROM blocks WHERE blocker_id = ?1")
        .db()?
        .query_row([blocker], |row| row.get(0))
        .db()?;
    check_block_cap(count, cap)?;
    conn.prepare_cached("INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES (?1, ?2, ?3)")
        .db()?
        .execute((blocker, blocked, now))
        .db()?;
    refresh_direct_closed(conn, blocker, blocked)
}

fn unblock_user(conn: &Connection, blocker: UserId, blocked: UserId) -> StoreResult<()> {
    let removed = conn
        .prepare_cached("DELETE FROM blocks WHERE blocker_id = ?1 AND blocked_id = ?2")
        .db()?
        .execute((blocker, blocked))
        .db()?;
    if removed > 0 {
        refresh_direct_closed(conn, blocker, blocked)?;
    }
    Ok(())
}

fn blocked_users(conn: &Connection, blocker: UserId) -> StoreResult<Vec<BlockEntry>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT u.id, u.username, u.display_name, b.created_at
             FROM blocks b JOIN users u ON u.id = b.blocked_id
             WHERE b.blocker_id = ?1 ORDER BY b.created_at DESC, b.blocked_id DESC",
        )
        .db()?;
    let rows = stmt.query_map([blocker], |row| Ok(BlockEntry { user: user_at(row, 0)?, blocked_at: row.get(3)? })).db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

/// The users among `others` with a block between them and `user`.
pub(super) fn blocks_between(conn: &Connection, user: UserId, others: &[UserId]) -> StoreResult<Vec<UserId>> {
    let mut between = Vec::new();
    for &other in others {
        if is_blocked_by(conn, user, other)? || is_blocked_by(conn, other, user)? {
            between.push(other);
        }
    }
    Ok(between)
}

/// Whether `blocker` has blocked `blocked`.
fn is_blocked_by(conn: &Connection, blocker: UserId, blocked: UserId) -> StoreResult<bool> {
    conn.prepare_cached("SELECT 1 FROM blocks WHERE blocker_id = ?1 AND blocked_id = ?2")
        .db()?
        .exists((blocker, blocked))
        .db()
}

/// Refuses when any of `user_ids` has blocked `actor`
/// ([`check_not_blocked_by`]): for group creation and adds.
pub(super) fn require_not_blocked_by(conn: &Connection, actor: UserId, user_ids: &[UserId]) -> StoreResult<()> {
    let mut blockers = Vec::new();
    for &user_id in user_ids {
        if is_blocked_by(conn, user_id, actor)? {
            blockers.push(user_id);
        }
    }
    check_not_blocked_by(&blockers)
}

/// Whether a block stands between `a` and `b`, either way.
pub(super) fn blocked_either_way(conn: &Connection, a: UserId, b: UserId) -> StoreResult<bool> {
    Ok(is_blocked_by(conn, a, b)? || is_blocked_by(conn, b, a)?)
}

/// Sets the `closed` flag of the direct conversation of `a` and `b` (if
/// there is one) from the blocks and deletions that stand now.
pub(super) fn refresh_direct_closed(conn: &Connection, a: UserId, b: UserId) -> StoreResult<()> {
    let someone_deleted = conn
        .prepare_cached("SELECT 1 FROM users WHERE id IN (?1, ?2) AND deleted_at IS NOT NULL")
        .db()?
        .exists((a, b))
        .db()?;
    let closed = direct_closed(blocked_either_way(conn, a, b)?, someone_deleted);
    conn.prepare_cached("UPDATE conversations SET closed = ?2 WHERE direct_key = ?1")
        .db()?
        .execute((direct_key(a, b)?, closed))
        .db()?;
    Ok(())
}
