//! Row decoding, error mapping and membership lookups shared by the SQLite
//! query modules. Values both schemas spell alike (`kind`, `role`) are
//! parsed in [`crate::rows`].

use banter_protocol::{MemberRole, Message, User};
use rusqlite::{Connection, OptionalExtension, Row};

use crate::rows::{parse_message_kind, parse_role};
use crate::{StoreError, StoreResult};

/// Converts a rusqlite result into a store result. Errors that have a domain
/// meaning are mapped at their call sites; everything left is an I/O-ish
/// failure the caller cannot fix, hence `Unavailable`.
pub(super) trait DbResult<T> {
    fn db(self) -> StoreResult<T>;
}

impl<T> DbResult<T> for rusqlite::Result<T> {
    fn db(self) -> StoreResult<T> {
        self.map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

/// True when `e` is a UNIQUE constraint violation on `column`
/// (spelled `table.column`, as SQLite reports it).
pub(super) fn is_unique_violation(e: &rusqlite::Error, column: &str) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(err, Some(msg)) => {
            err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE && msg.contains(column)
        }
        _ => false,
    }
}

/// Decodes `id, username, display_name` starting at column `at`.
pub(super) fn user_at(row: &Row<'_>, at: usize) -> rusqlite::Result<User> {
    Ok(crate::rows::stored_user(row.get(at)?, row.get(at + 1)?, row.get(at + 2)?))
}

/// The column list [`message_from_row`] expects, in order.
///
/// Kept as a macro so it can be spliced into SQL literals with `concat!`,
/// giving `prepare_cached` a `&'static str` instead of a string built per call.
macro_rules! message_columns {
    () => {
        "conversation_id, seq, sender_id, sender_device_id, client_msg_id, text, server_ts, kind, reply_to, target_seq, edited_at, deleted"
    };
}
pub(super) use message_columns;

/// Decodes a row selected with [`message_columns!`].
pub(super) fn message_from_row(row: &Row<'_>) -> rusqlite::Result<Message> {
    // Read in place: a sync page decodes up to 200 rows, and a copy of
    // each kind's name was one more allocation per row.
    let conversion = |e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, e)
    };
    let kind = row.get_ref(7)?.as_str().map_err(|e| conversion(Box::new(e)))?;
    let kind = parse_message_kind(kind).map_err(|e| conversion(Box::new(e)))?;
    Ok(Message {
        conversation_id: row.get(0)?,
        seq: row.get(1)?,
        sender_id: row.get(2)?,
        sender_device_id: row.get(3)?,
        client_msg_id: row.get(4)?,
        text: row.get(5)?,
        server_ts: row.get(6)?,
        kind,
        reply_to: row.get(8)?,
        target_seq: row.get(9)?,
        edited_at: row.get(10)?,
        deleted: row.get(11)?,
    })
}

/// The user's role in the conversation, `None` if not a member (or if the
/// conversation does not exist).
pub(super) fn role_of(conn: &Connection, conversation_id: i64, user_id: i64) -> StoreResult<Option<MemberRole>> {
    let role: Option<String> = conn
        .prepare_cached("SELECT role FROM members WHERE conversation_id = ?1 AND user_id = ?2")
        .db()?
        .query_row((conversation_id, user_id), |row| row.get(0))
        .optional()
        .db()?;
    role.as_deref().map(parse_role).transpose()
}

/// Fails with [`StoreError::NotAMember`] unless the user is a member.
pub(super) fn require_member(conn: &Connection, conversation_id: i64, user_id: i64) -> StoreResult<MemberRole> {
    role_of(conn, conversation_id, user_id)?.ok_or(StoreError::NotAMember)
}

/// Every member's id, ascending.
pub(super) fn member_ids(conn: &Connection, conversation_id: i64) -> StoreResult<Vec<i64>> {
    let mut stmt =
        conn.prepare_cached("SELECT user_id FROM members WHERE conversation_id = ?1 ORDER BY user_id").db()?;
    let ids = stmt.query_map([conversation_id], |row| row.get(0)).db()?;
    ids.collect::<rusqlite::Result<Vec<i64>>>().db()
}
