//! [`MarkerStore`] on SQLite: delivered and read seqs, receipts, mute.
//!
//! The marker rule is [`MarkerUpdate::advance`]; it runs on the writer,
//! between the read of the member's markers and their write.

use async_trait::async_trait;
use banter_protocol::{ConversationId, ConversationKind, Markers, Seq, UserId};
use rusqlite::{Connection, OptionalExtension};

use super::rows::{require_member, DbResult};
use super::SqliteStore;
use crate::rows::parse_kind;
use crate::{Marker, MarkerStore, MarkerUpdate, Receipts, StoreError, StoreResult};

#[async_trait]
impl MarkerStore for SqliteStore {
    async fn mark_read(&self, conversation_id: ConversationId, user_id: UserId, seq: Seq) -> StoreResult<MarkerUpdate> {
        self.write(move |c| advance(c, conversation_id, user_id, seq, Marker::Read)).await
    }

    async fn mark_delivered(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        seq: Seq,
    ) -> StoreResult<MarkerUpdate> {
        self.write(move |c| advance(c, conversation_id, user_id, seq, Marker::Delivered)).await
    }

    async fn message_receipts(&self, conversation_id: ConversationId, viewer: UserId, seq: Seq) -> StoreResult<Receipts> {
        self.read(move |c| message_receipts(c, conversation_id, viewer, seq)).await
    }

    async fn set_muted(&self, conversation_id: ConversationId, user_id: UserId, muted: bool) -> StoreResult<()> {
        self.write(move |c| set_muted(c, conversation_id, user_id, muted)).await
    }
}

fn advance(
    conn: &Connection,
    conversation_id: ConversationId,
    user_id: UserId,
    seq: Seq,
    marker: Marker,
) -> StoreResult<MarkerUpdate> {
    let (delivered, read, last_seq, kind): (Seq, Seq, Seq, String) = conn
        .prepare_cached(
            "SELECT m.delivered_seq, m.read_seq, c.last_seq, c.kind
             FROM members m JOIN conversations c ON c.id = m.conversation_id
             WHERE m.conversation_id = ?1 AND m.user_id = ?2",
        )
        .db()?
        .query_row((conversation_id, user_id), |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
        .optional()
        .db()?
        .ok_or(StoreError::NotAMember)?;
    let mut update = MarkerUpdate::advance(Markers { delivered_seq: delivered, read_seq: read }, marker, seq, last_seq);
    if update.changed {
        conn.prepare_cached(
            "UPDATE members SET delivered_seq = ?3, read_seq = ?4 WHERE conversation_id = ?1 AND user_id = ?2",
        )
        .db()?
        .execute((conversation_id, user_id, update.markers.delivered_seq, update.markers.read_seq))
        .db()?;
    }
    update.direct_peer = match parse_kind(&kind)? {
        ConversationKind::Group => None,
        ConversationKind::Direct => conn
            .prepare_cached("SELECT user_id FROM members WHERE conversation_id = ?1 AND user_id <> ?2 LIMIT 1")
            .db()?
            .query_row((conversation_id, user_id), |row| row.get(0))
            .optional()
            .db()?,
    };
    Ok(update)
}

fn message_receipts(
    conn: &Connection,
    conversation_id: ConversationId,
    viewer: UserId,
    seq: Seq,
) -> StoreResult<Receipts> {
    require_member(conn, conversation_id, viewer)?;
    let sender_id: UserId = conn
        .prepare_cached("SELECT sender_id FROM messages WHERE conversation_id = ?1 AND seq = ?2")
        .db()?
        .query_row((conversation_id, seq), |row| row.get(0))
        .optional()
        .db()?
        .ok_or(StoreError::MessageNotFound)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT user_id, delivered_seq, read_seq FROM members
             WHERE conversation_id = ?1 AND user_id <> ?2 ORDER BY user_id",
        )
        .db()?;
    let others = stmt
        .query_map((conversation_id, sender_id), |row| {
            Ok((row.get::<_, UserId>(0)?, row.get::<_, Seq>(1)?, row.get::<_, Seq>(2)?))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    Ok(Receipts::from_markers(conversation_id, seq, others))
}

fn set_muted(conn: &Connection, conversation_id: ConversationId, user_id: UserId, muted: bool) -> StoreResult<()> {
    let updated = conn
        .prepare_cached("UPDATE members SET muted = ?3 WHERE conversation_id = ?1 AND user_id = ?2")
        .db()?
        .execute((conversation_id, user_id, muted))
        .db()?;
    if updated == 0 {
        Err(StoreError::NotAMember)
    } else {
        Ok(())
    }
}
