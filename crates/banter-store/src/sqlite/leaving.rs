//! [`LeavingStore`] on SQLite: deleting an account in one transaction on
//! the writer, and the pages of the export.

use async_trait::async_trait;
use banter_protocol::{ConversationId, DeviceId, Seq, TimestampMs, UserId};
use rusqlite::Connection;

use super::conversations::remove_member;
use super::messages::read_into;
use super::rows::{message_columns, DbResult};
use super::SqliteStore;
use crate::page::PageBuilder;
use crate::rows::deleted_username;
use crate::{DeletedAccount, LeavingStore, MessagePage, StoreError, StoreResult};

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
    ) -> StoreResult<MessagePage> {
        self.read(move |c| sent_messages(c, user_id, after, limit)).await
    }
}

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
    conn.prepare_cached(
        "UPDATE conversations SET closed = 1
         WHERE kind = 'direct' AND id IN (SELECT conversation_id FROM members WHERE user_id = ?1)",
    )
    .db()?
    .execute([user_id])
    .db()?;
    Ok(DeletedAccount { device_ids, left_groups })
}

fn sent_messages(
    conn: &Connection,
    user_id: UserId,
    after: Option<(ConversationId, Seq)>,
    limit: u32,
) -> StoreResult<MessagePage> {
    let (after_conversation, after_seq) = after.unwrap_or((0, 0));
    let mut page = PageBuilder::new(limit);
    // `kind = 'text'` as the partial index `messages_by_sender` spells it.
    read_into(
        &mut page,
        conn,
        concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE sender_id = ?1 AND kind = 'text' AND deleted = 0
               AND (conversation_id, seq) > (?2, ?3)
             ORDER BY conversation_id, seq"
        ),
        (user_id, after_conversation, after_seq),
    )?;
    Ok(page.finish(false))
}
