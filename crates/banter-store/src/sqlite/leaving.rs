//! [`LeavingStore`] on SQLite: deleting an account in one transaction on
//! the writer, and the pages of the export.

use async_trait::async_trait;
use banter_protocol::{ConversationId, DeviceId, Seq, TimestampMs, UserId};
use rusqlite::Connection;

use super::conversations::remove_member;
use super::messages::read_into;
use super::rows::{message_columns, DbResult};
use super::SqliteStore;
use crate::leaving::ExportWalk;
use crate::rows::deleted_username;
use crate::{DeletedAccount, LeavingStore, SentPage, StoreError, StoreResult, EXPORT_SCAN_CONVERSATIONS};

#[async_trait]
impl LeavingStore for SqliteStore {
    async fn delete_account(&self, user_id: UserId, now: TimestampMs) -> StoreResult<DeletedAccount> {
        self.write(move |c| delete_account(c, user_id, now)).await
    }

    async fn sent_messages(
        &self,
        user_id: UserId,
        after: Option<(ConversationId, Seq)>,
        limit: u32,
    ) -> StoreResult<SentPage> {
        self.read(move |c| sent_messages(c, user_id, after, limit)).await
    }
}

/// The user's direct conversations, each with the other user.
const DIRECT_PEERS: &str = "SELECT c.id, o.user_id FROM members m
     JOIN conversations c ON c.id = m.conversation_id AND c.kind = 'direct'
     JOIN members o ON o.conversation_id = c.id AND o.user_id <> m.user_id
     WHERE m.user_id = ?1 ORDER BY c.id";

fn delete_account(conn: &Connection, user_id: UserId, now: TimestampMs) -> StoreResult<DeletedAccount> {
    let live = conn
        .prepare_cached("SELECT 1 FROM users WHERE id = ?1 AND deleted_at IS NULL")
        .db()?
        .exists([user_id])
        .db()?;
    if !live {
        return Err(StoreError::UserNotFound);
    }
    // Devices, and the push subscriptions of every kind that go with them.
    let device_ids = {
        let mut stmt = conn.prepare_cached("SELECT id FROM devices WHERE user_id = ?1 ORDER BY id").db()?;
        let rows = stmt.query_map([user_id], |row| row.get(0)).db()?;
        rows.collect::<rusqlite::Result<Vec<DeviceId>>>().db()?
    };
    conn.prepare_cached("DELETE FROM push_subscriptions WHERE user_id = ?1").db()?.execute([user_id]).db()?;
    conn.prepare_cached("DELETE FROM devices WHERE user_id = ?1").db()?.execute([user_id]).db()?;
    // Groups: left as by leaving, admin handed on.
    let groups = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT m.conversation_id FROM members m JOIN conversations c ON c.id = m.conversation_id
                 WHERE m.user_id = ?1 AND c.kind = 'group' ORDER BY m.conversation_id",
            )
            .db()?;
        let rows = stmt.query_map([user_id], |row| row.get(0)).db()?;
        rows.collect::<rusqlite::Result<Vec<ConversationId>>>().db()?
    };
    let mut left_groups = Vec::with_capacity(groups.len());
    for conversation_id in groups {
        left_groups.push(remove_member(conn, conversation_id, user_id, user_id)?);
    }
    conn.prepare_cached("DELETE FROM blocks WHERE blocker_id = ?1 OR blocked_id = ?1")
        .db()?
        .execute([user_id])
        .db()?;
    // The profile: erased, the name reserved (see the migration).
    conn.prepare_cached(
        "UPDATE users SET reserved_username = username, username = ?2, display_name = '', password_hash = '',
                          last_seen_at = NULL, deleted_at = ?3
         WHERE id = ?1",
    )
    .db()?
    .execute((user_id, deleted_username(user_id), now))
    .db()?;
    // Its direct conversations stay (the peer keeps the history), closed:
    // `direct_closed` is true once one of the two is deleted.
    let closed_directs = {
        let mut stmt = conn.prepare_cached(DIRECT_PEERS).db()?;
        let rows = stmt.query_map([user_id], |row| Ok((row.get(0)?, row.get(1)?))).db()?;
        rows.collect::<rusqlite::Result<Vec<(ConversationId, UserId)>>>().db()?
    };
    conn.prepare_cached(
        "UPDATE conversations SET closed = 1
         WHERE kind = 'direct' AND id IN (SELECT conversation_id FROM members WHERE user_id = ?1)",
    )
    .db()?
    .execute([user_id])
    .db()?;
    Ok(DeletedAccount { device_ids, left_groups, closed_directs })
}

fn sent_messages(
    conn: &Connection,
    user_id: UserId,
    after: Option<(ConversationId, Seq)>,
    limit: u32,
) -> StoreResult<SentPage> {
    let mut walk = ExportWalk::new(after, limit);
    let conversations = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT c.id, c.last_seq FROM conversations c
                 WHERE c.id >= ?2
                   AND c.id IN (SELECT conversation_id FROM members WHERE user_id = ?1
                                UNION ALL SELECT conversation_id FROM former_members WHERE user_id = ?1)
                 ORDER BY c.id LIMIT ?3",
            )
            .db()?;
        let rows = stmt
            .query_map((user_id, walk.first_conversation(), EXPORT_SCAN_CONVERSATIONS), |row| Ok((row.get(0)?, row.get(1)?)))
            .db()?;
        rows.collect::<rusqlite::Result<Vec<(ConversationId, Seq)>>>().db()?
    };
    let listed_more = conversations.len() >= EXPORT_SCAN_CONVERSATIONS as usize;
    for (conversation_id, last_seq) in conversations {
        let window = walk.window(conversation_id, last_seq);
        if window.1 > window.0 {
            read_into(
                &mut walk.page,
                conn,
                concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM messages
                     WHERE conversation_id = ?1 AND seq > ?2 AND seq <= ?3
                       AND sender_id = ?4 AND kind = 'text' AND deleted = 0
                     ORDER BY seq"
                ),
                (conversation_id, window.0, window.1, user_id),
            )?;
        }
        if !walk.advance(conversation_id, window, last_seq) {
            break;
        }
    }
    Ok(walk.finish(listed_more))
}
