//! Queries on messages: append (the hot path), history and sync.
//!
//! `append_message` runs on the writer thread; seqs are dense
//! because that thread is the only writer and a failed job rolls back its
//! savepoint, taking its `last_seq` increment with it.

use std::collections::HashMap;

use banter_protocol::frames::SyncCursor;
use banter_protocol::{ConversationId, DeviceId, Message, Seq, UserId};
use rusqlite::{Connection, OptionalExtension, Params};

use super::rows::{member_ids, message_columns, message_from_row, require_member, DbResult};
use crate::{AppendOutcome, HistoryRange, MessagePage, NewMessage, StoreError, StoreResult};

pub(super) fn append_message(conn: &Connection, new: NewMessage) -> StoreResult<AppendOutcome> {
    // 1. A retry: hand back the original, provided the sender may still see it.
    if let Some(original) = by_client_msg_id(conn, new.sender_device_id, &new.client_msg_id)? {
        let member_ids = member_ids(conn, original.conversation_id)?;
        if !member_ids.contains(&new.sender_id) {
            return Err(StoreError::NotAMember);
        }
        return Ok(AppendOutcome { message: original, duplicate: true, member_ids });
    }
    // 2. One query is both the membership check and the fan-out list. A
    //    conversation that does not exist has no members, hence NotAMember.
    let member_ids = member_ids(conn, new.conversation_id)?;
    if !member_ids.contains(&new.sender_id) {
        return Err(StoreError::NotAMember);
    }
    // 3. Next seq. A plain UPDATE and a SELECT rather than `UPDATE …
    //    RETURNING`: SQLite runs RETURNING through an ephemeral table, which
    //    cost more than the rest of this step on the hot path.
    conn.prepare_cached(
        "UPDATE conversations SET last_seq = last_seq + 1, last_activity_at = max(last_activity_at, ?2) WHERE id = ?1",
    )
    .db()?
    .execute((new.conversation_id, new.server_ts))
    .db()?;
    let seq: Seq = conn
        .prepare_cached("SELECT last_seq FROM conversations WHERE id = ?1")
        .db()?
        .query_row([new.conversation_id], |row| row.get(0))
        .db()?;
    // 4. The message.
    conn.prepare_cached(concat!("INSERT INTO messages (", message_columns!(), ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"))
        .db()?
        .execute((
            new.conversation_id,
            seq,
            new.sender_id,
            new.sender_device_id,
            &new.client_msg_id,
            &new.text,
            new.server_ts,
        ))
        .db()?;
    // 5. Sending implies having read everything before it, so unread counts
    //    only other people's messages.
    conn.prepare_cached(
        "UPDATE members SET read_seq = max(read_seq, ?3), delivered_seq = max(delivered_seq, ?3)
         WHERE conversation_id = ?1 AND user_id = ?2",
    )
        .db()?
        .execute((new.conversation_id, new.sender_id, seq))
        .db()?;
    let message = Message {
        conversation_id: new.conversation_id,
        seq,
        sender_id: new.sender_id,
        sender_device_id: new.sender_device_id,
        // Moved, not cloned: a text can be 400 KB.
        client_msg_id: new.client_msg_id,
        text: new.text,
        server_ts: new.server_ts,
    };
    Ok(AppendOutcome { message, duplicate: false, member_ids })
}

fn by_client_msg_id(conn: &Connection, device_id: DeviceId, client_msg_id: &str) -> StoreResult<Option<Message>> {
    conn.prepare_cached(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE sender_device_id = ?1 AND client_msg_id = ?2"
    ))
    .db()?
    .query_row((device_id, client_msg_id), message_from_row)
    .optional()
    .db()
}

pub(super) fn history(
    conn: &Connection,
    conversation_id: ConversationId,
    viewer: UserId,
    range: HistoryRange,
    limit: u32,
) -> StoreResult<MessagePage> {
    require_member(conn, conversation_id, viewer)?;
    // One extra row tells whether more exist beyond the page.
    let fetch = i64::from(limit) + 1;
    let (mut messages, newest_first) = match range {
        HistoryRange::Latest => (
            query_messages(
                conn,
                concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM messages WHERE conversation_id = ?1 ORDER BY seq DESC LIMIT ?2"
                ),
                (conversation_id, fetch),
            )?,
            true,
        ),
        HistoryRange::Before(seq) => (
            query_messages(
                conn,
                concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM messages WHERE conversation_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
                ),
                (conversation_id, seq, fetch),
            )?,
            true,
        ),
        HistoryRange::After(seq) => (
            query_messages(
                conn,
                concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM messages WHERE conversation_id = ?1 AND seq > ?2 ORDER BY seq ASC LIMIT ?3"
                ),
                (conversation_id, seq, fetch),
            )?,
            false,
        ),
    };
    let has_more = messages.len() > limit as usize;
    // The extra row is the one furthest from the starting point, i.e. last.
    messages.truncate(limit as usize);
    if newest_first {
        messages.reverse();
    }
    Ok(MessagePage { messages, has_more })
}

pub(super) fn sync(conn: &Connection, user_id: UserId, cursors: &[SyncCursor], limit: u32) -> StoreResult<MessagePage> {
    let cursors: HashMap<ConversationId, Seq> = cursors.iter().map(|c| (c.conversation_id, c.seq.max(0))).collect();
    let conversations: Vec<(ConversationId, Seq)> = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT c.id, c.last_seq FROM members m JOIN conversations c ON c.id = m.conversation_id
                 WHERE m.user_id = ?1 ORDER BY c.id",
            )
            .db()?;
        let rows = stmt.query_map([user_id], |row| Ok((row.get(0)?, row.get(1)?))).db()?;
        rows.collect::<rusqlite::Result<_>>().db()?
    };
    let mut budget = i64::from(limit);
    let mut messages = Vec::new();
    let mut has_more = false;
    for (conversation_id, last_seq) in conversations {
        let cursor = cursors.get(&conversation_id).copied().unwrap_or(0);
        // Seqs are dense, so this is exactly how many messages are missing.
        let missing = last_seq - cursor;
        if missing <= 0 {
            continue;
        }
        if budget == 0 {
            has_more = true;
            break;
        }
        let page = query_messages(
            conn,
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE conversation_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
            ),
            (conversation_id, cursor, budget),
        )?;
        budget -= page.len() as i64;
        if (page.len() as i64) < missing {
            has_more = true;
        }
        messages.extend(page);
    }
    Ok(MessagePage { messages, has_more })
}

fn query_messages(conn: &Connection, sql: &'static str, params: impl Params) -> StoreResult<Vec<Message>> {
    let mut stmt = conn.prepare_cached(sql).db()?;
    let rows = stmt.query_map(params, message_from_row).db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}
