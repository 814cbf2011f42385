//! Per-member markers: delivered and read seqs, receipts, mute.
//!
//! `delivered_seq >= read_seq` always holds: reading implies delivery, so
//! moving the read marker drags the delivered marker along. Both only move
//! forward and never past the conversation's last seq.

use banter_protocol::http::MessageReceipts;
use banter_protocol::{ConversationId, ConversationKind, Markers, Seq, UserId};
use rusqlite::{Connection, OptionalExtension};

use super::rows::{parse_kind, require_member, DbResult};
use crate::{advance_markers, MarkerUpdate, StoreError, StoreResult};

pub(super) use crate::Marker;

pub(super) fn advance(
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
    let Markers { delivered_seq: new_delivered, read_seq: new_read } =
        advance_markers(Markers { delivered_seq: delivered, read_seq: read }, marker, seq, last_seq);
    let changed = new_read != read || new_delivered != delivered;
    if changed {
        conn.prepare_cached(
            "UPDATE members SET delivered_seq = ?3, read_seq = ?4 WHERE conversation_id = ?1 AND user_id = ?2",
        )
        .db()?
        .execute((conversation_id, user_id, new_delivered, new_read))
        .db()?;
    }
    let direct_peer = match parse_kind(&kind)? {
        ConversationKind::Group => None,
        ConversationKind::Direct => conn
            .prepare_cached("SELECT user_id FROM members WHERE conversation_id = ?1 AND user_id <> ?2 LIMIT 1")
            .db()?
            .query_row((conversation_id, user_id), |row| row.get(0))
            .optional()
            .db()?,
    };
    Ok(MarkerUpdate { markers: Markers { delivered_seq: new_delivered, read_seq: new_read }, changed, direct_peer })
}

pub(super) fn message_receipts(
    conn: &Connection,
    conversation_id: ConversationId,
    viewer: UserId,
    seq: Seq,
) -> StoreResult<MessageReceipts> {
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
    let rows = stmt
        .query_map((conversation_id, sender_id), |row| {
            Ok((row.get::<_, UserId>(0)?, row.get::<_, Seq>(1)?, row.get::<_, Seq>(2)?))
        })
        .db()?;
    let mut receipts = MessageReceipts {
        conversation_id,
        seq,
        member_count: 0,
        delivered_count: 0,
        read_count: 0,
        delivered_to: Vec::new(),
        read_by: Vec::new(),
    };
    for row in rows {
        let (user_id, delivered, read) = row.db()?;
        receipts.member_count += 1;
        if delivered >= seq {
            receipts.delivered_to.push(user_id);
        }
        if read >= seq {
            receipts.read_by.push(user_id);
        }
    }
    receipts.delivered_count = receipts.delivered_to.len() as i64;
    receipts.read_count = receipts.read_by.len() as i64;
    Ok(receipts)
}

pub(super) fn set_muted(conn: &Connection, conversation_id: ConversationId, user_id: UserId, muted: bool) -> StoreResult<()> {
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
