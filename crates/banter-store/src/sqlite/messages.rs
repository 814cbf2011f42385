//! [`MessageStore`] on SQLite: append (the hot path), history and sync.
//!
//! `append_message` runs on the writer thread; seqs are dense
//! because that thread is the only writer and a failed job rolls back its
//! savepoint, taking its `last_seq` increment with it.

use async_trait::async_trait;
use banter_protocol::{Content, ConversationId, DeviceId, Message, Seq, UserId};
use rusqlite::{Connection, OptionalExtension, Params};

use super::rows::{member_ids, message_columns, message_from_row, require_member, DbResult};
use super::SqliteStore;
use crate::blocks::check_entry;
use crate::messages::{cursor_map, require_sender, Target};
use crate::rows::parse_message_kind;
use crate::{
    page::PageBuilder, AppendOutcome, ConversationCursor, HistoryRange, MessagePage, MessageStore, NewMessage,
    StoreResult,
};

#[async_trait]
impl MessageStore for SqliteStore {
    async fn append_message(&self, message: NewMessage) -> StoreResult<AppendOutcome> {
        self.write(move |c| append_message(c, message)).await
    }

    async fn history(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
        range: HistoryRange,
        limit: u32,
    ) -> StoreResult<MessagePage> {
        self.read(move |c| history(c, conversation_id, viewer, range, limit)).await
    }

    async fn sync(&self, user_id: UserId, cursors: &[ConversationCursor], limit: u32) -> StoreResult<MessagePage> {
        let cursors = cursors.to_vec();
        self.read(move |c| sync(c, user_id, &cursors, limit)).await
    }
}

fn append_message(conn: &Connection, new: NewMessage) -> StoreResult<AppendOutcome> {
    // 1. A retry: hand back the original, provided it is the same message
    //    and the sender may still see it.
    if let Some(original) = by_client_msg_id(conn, new.sender_device_id, &new.client_msg_id)? {
        let member_ids = member_ids(conn, original.conversation_id)?;
        new.check_retry(&original, &member_ids)?;
        let direct = is_direct(conn, original.conversation_id)?;
        return Ok(AppendOutcome::new(original, true, member_ids, direct));
    }
    // 2. One query is both the membership check and the fan-out list.
    let member_ids = member_ids(conn, new.conversation_id)?;
    require_sender(&member_ids, new.sender_id)?;
    // 3. A reply, edit or delete names a message the rules accept.
    let target = match new.referenced_seq() {
        Some(seq) => target_at(conn, new.conversation_id, seq)?,
        None => None,
    };
    new.check_target(target.as_ref())?;
    // 4. Next seq. A plain UPDATE and a SELECT rather than `UPDATE …
    //    RETURNING`: SQLite runs RETURNING through an ephemeral table, which
    //    cost more than the rest of this step on the hot path.
    conn.prepare_cached(
        "UPDATE conversations SET last_seq = last_seq + 1, last_activity_at = max(last_activity_at, ?2) WHERE id = ?1",
    )
    .db()?
    .execute((new.conversation_id, new.server_ts))
    .db()?;
    let (seq, direct, closed): (Seq, bool, bool) = conn
        .prepare_cached("SELECT last_seq, kind = 'direct', closed FROM conversations WHERE id = ?1")
        .db()?
        .query_row([new.conversation_id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .db()?;
    // A closed direct conversation (a block, a deleted account): the
    // error rolls this job's savepoint back, the seq bump with it.
    check_entry(closed, new.content.kind())?;
    // 5. The entry.
    conn.prepare_cached(concat!(
        "INSERT INTO messages (",
        message_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, 0)"
    ))
    .db()?
    .execute((
        new.conversation_id,
        seq,
        new.sender_id,
        new.sender_device_id,
        &new.client_msg_id,
        new.content.text_str(),
        new.server_ts,
        new.content.kind().as_str(),
        new.content.reply_to(),
        new.content.target_seq(),
    ))
    .db()?;
    // 6. An edit or delete changes the message it names, in this transaction.
    apply_change(conn, &new)?;
    // 7. Sending implies having read everything before it, so unread counts
    //    only other people's messages.
    conn.prepare_cached(
        "UPDATE members SET read_seq = max(read_seq, ?3), delivered_seq = max(delivered_seq, ?3)
         WHERE conversation_id = ?1 AND user_id = ?2",
    )
        .db()?
        .execute((new.conversation_id, new.sender_id, seq))
        .db()?;
    Ok(AppendOutcome::new(new.into_message(seq), false, member_ids, direct))
}

/// The row at `seq` as the reply and change rules see it.
fn target_at(conn: &Connection, conversation_id: ConversationId, seq: Seq) -> StoreResult<Option<Target>> {
    let row: Option<(UserId, String, i64, bool, u32)> = conn
        .prepare_cached(
            "SELECT sender_id, kind, server_ts, deleted, edit_count FROM messages WHERE conversation_id = ?1 AND seq = ?2",
        )
        .db()?
        .query_row((conversation_id, seq), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .optional()
        .db()?;
    row.map(|(sender_id, kind, server_ts, deleted, edit_count)| {
        Ok(Target { sender_id, kind: parse_message_kind(&kind)?, server_ts, deleted, edit_count })
    })
    .transpose()
}

/// Step 6: an edit rewrites the message's text and marks it edited; a
/// delete empties it (and the edit entries that held its later texts) and
/// marks it deleted.
fn apply_change(conn: &Connection, new: &NewMessage) -> StoreResult<()> {
    match &new.content {
        Content::Text { .. } => return Ok(()),
        Content::Edit { target, text } => conn
            .prepare_cached(
                "UPDATE messages SET text = ?3, edited_at = ?4, edit_count = edit_count + 1
                 WHERE conversation_id = ?1 AND seq = ?2",
            )
            .db()?
            .execute((new.conversation_id, target, text, new.server_ts)),
        Content::Delete { target } => {
            conn.prepare_cached("UPDATE messages SET text = '', deleted = 1 WHERE conversation_id = ?1 AND seq = ?2")
                .db()?
                .execute((new.conversation_id, target))
                .db()?;
            // `kind <> 'text'` spelled out: SQLite uses the partial index
            // `messages_changes` only when the query repeats its condition.
            conn.prepare_cached(
                "UPDATE messages SET text = '', deleted = 1
                 WHERE conversation_id = ?1 AND kind <> 'text' AND kind = 'edit' AND target_seq = ?2",
            )
            .db()?
            .execute((new.conversation_id, target))
        }
    }
    .db()?;
    Ok(())
}

fn is_direct(conn: &Connection, conversation_id: ConversationId) -> StoreResult<bool> {
    conn.prepare_cached("SELECT kind = 'direct' FROM conversations WHERE id = ?1")
        .db()?
        .query_row([conversation_id], |row| row.get(0))
        .optional()
        .db()
        .map(|direct| direct.unwrap_or(false))
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

/// A history page read backwards from a cursor (`?2`), newest first;
/// `?3` rows at most.
const HISTORY_BACKWARD: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
);

/// A history page read forwards from a cursor (`?2`), oldest first.
const HISTORY_FORWARD: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = ?1 AND seq > ?2 ORDER BY seq ASC LIMIT ?3"
);

fn history(
    conn: &Connection,
    conversation_id: ConversationId,
    viewer: UserId,
    range: HistoryRange,
    limit: u32,
) -> StoreResult<MessagePage> {
    require_member(conn, conversation_id, viewer)?;
    let mut page = PageBuilder::new(limit);
    // One extra row tells whether more exist beyond the page.
    let fetch = i64::from(limit) + 1;
    let (cursor, newest_first) = range.cursor();
    let sql = if newest_first { HISTORY_BACKWARD } else { HISTORY_FORWARD };
    read_into(&mut page, conn, sql, (conversation_id, cursor, fetch))?;
    Ok(page.finish(newest_first))
}

fn sync(conn: &Connection, user_id: UserId, cursors: &[ConversationCursor], limit: u32) -> StoreResult<MessagePage> {
    let cursors = cursor_map(cursors);
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
    let mut page = PageBuilder::new(limit);
    for (conversation_id, last_seq) in conversations {
        let cursor = cursors.get(&conversation_id).copied().unwrap_or(0);
        // Seqs are dense, so this is exactly how many messages are missing.
        let missing = last_seq - cursor;
        if missing <= 0 {
            continue;
        }
        if page.is_complete() {
            page.more_exist();
            break;
        }
        let (before, remaining) = (page.len(), page.remaining() as i64);
        read_into(
            &mut page,
            conn,
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE conversation_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
            ),
            (conversation_id, cursor, remaining),
        )?;
        if ((page.len() - before) as i64) < missing {
            page.more_exist();
            break;
        }
    }
    Ok(page.finish(false))
}

/// Steps through the rows of `sql` in reading order, offering each to
/// `page`, and stops at the first that does not fit: rows after it are
/// never read, so the page's byte budget bounds the work as well as the
/// result.
pub(super) fn read_into(page: &mut PageBuilder, conn: &Connection, sql: &'static str, params: impl Params) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached(sql).db()?;
    let mut rows = stmt.query(params).db()?;
    while let Some(row) = rows.next().db()? {
        if !page.offer(message_from_row(row).db()?) {
            break;
        }
    }
    Ok(())
}
