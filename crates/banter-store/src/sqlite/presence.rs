//! [`PresenceStore`] on SQLite: last-seen times and who may see whom.

use async_trait::async_trait;
use banter_protocol::{TimestampMs, UserId};
use rusqlite::{Connection, OptionalExtension};

use super::rows::DbResult;
use super::SqliteStore;
use crate::{PresenceStore, StoreResult};

#[async_trait]
impl PresenceStore for SqliteStore {
    async fn record_last_seen(&self, seen: &[(UserId, TimestampMs)]) -> StoreResult<()> {
        let seen = seen.to_vec();
        self.write(move |c| record_last_seen(c, &seen)).await
    }

    async fn last_seen(&self, user_ids: &[UserId]) -> StoreResult<Vec<(UserId, Option<TimestampMs>)>> {
        let user_ids = user_ids.to_vec();
        self.read(move |c| last_seen(c, &user_ids)).await
    }

    async fn contacts(&self, user_id: UserId) -> StoreResult<Vec<UserId>> {
        self.read(move |c| contacts(c, user_id)).await
    }

    async fn related_users(&self, viewer: UserId, candidates: &[UserId]) -> StoreResult<Vec<UserId>> {
        let candidates = candidates.to_vec();
        self.read(move |c| related_users(c, viewer, &candidates)).await
    }
}

fn record_last_seen(conn: &Connection, seen: &[(UserId, TimestampMs)]) -> StoreResult<()> {
    let mut stmt = conn
        .prepare_cached("UPDATE users SET last_seen_at = max(coalesce(last_seen_at, 0), ?2) WHERE id = ?1")
        .db()?;
    for &(user_id, at) in seen {
        stmt.execute((user_id, at)).db()?;
    }
    Ok(())
}

fn last_seen(conn: &Connection, user_ids: &[UserId]) -> StoreResult<Vec<(UserId, Option<TimestampMs>)>> {
    let mut stmt = conn.prepare_cached("SELECT last_seen_at FROM users WHERE id = ?1").db()?;
    let mut found = Vec::with_capacity(user_ids.len());
    for &user_id in user_ids {
        if let Some(at) = stmt.query_row([user_id], |row| row.get::<_, Option<TimestampMs>>(0)).optional().db()? {
            found.push((user_id, at));
        }
    }
    Ok(found)
}

fn contacts(conn: &Connection, user_id: UserId) -> StoreResult<Vec<UserId>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT DISTINCT peer.user_id
             FROM members me
             JOIN conversations c ON c.id = me.conversation_id AND c.kind = 'direct' AND c.closed = 0
             JOIN members peer ON peer.conversation_id = me.conversation_id AND peer.user_id <> me.user_id
             WHERE me.user_id = ?1
             ORDER BY peer.user_id",
        )
        .db()?;
    let rows = stmt.query_map([user_id], |row| row.get(0)).db()?;
    rows.collect::<rusqlite::Result<Vec<UserId>>>().db()
}

fn related_users(conn: &Connection, viewer: UserId, candidates: &[UserId]) -> StoreResult<Vec<UserId>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT EXISTS (
                 SELECT 1 FROM members mine JOIN members theirs ON theirs.conversation_id = mine.conversation_id
                 WHERE mine.user_id = ?1 AND theirs.user_id = ?2
             ) AND NOT EXISTS (
                 SELECT 1 FROM blocks
                 WHERE (blocker_id = ?1 AND blocked_id = ?2) OR (blocker_id = ?2 AND blocked_id = ?1)
             )",
        )
        .db()?;
    let mut related = Vec::new();
    for &candidate in candidates {
        if candidate == viewer || stmt.query_row((viewer, candidate), |row| row.get::<_, bool>(0)).db()? {
            related.push(candidate);
        }
    }
    Ok(related)
}
