//! Row decoding and error mapping shared by the PostgreSQL query modules.

use banter_protocol::{Message, User};

use crate::rows::parse_message_kind;
use crate::{StoreError, StoreResult};

/// Converts an sqlx result into a store result. Errors with a domain meaning
/// (a taken username, say) are mapped at their call sites; everything left
/// is a failure the caller cannot fix, hence `Unavailable`.
pub(super) trait DbResult<T> {
    fn db(self) -> StoreResult<T>;
}

impl<T> DbResult<T> for Result<T, sqlx::Error> {
    fn db(self) -> StoreResult<T> {
        self.map_err(unavailable)
    }
}

pub(super) fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// The SQLSTATE of a database error, if it is one.
fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned())
}

/// True when `e` violates the UNIQUE constraint named `constraint`.
pub(super) fn is_unique_violation(e: &sqlx::Error, constraint: &str) -> bool {
    sqlstate(e).as_deref() == Some("23505")
        && e.as_database_error().and_then(|d| d.constraint()) == Some(constraint)
}

/// True for errors that a concurrent transaction caused and that the same
/// work, tried again, will not hit: a unique violation (another node stored
/// the same idempotency key first), a serialization failure or a deadlock.
pub(super) fn is_retryable(e: &sqlx::Error) -> bool {
    matches!(sqlstate(e).as_deref(), Some("23505" | "40001" | "40P01"))
}

/// What a failed batch of appends says about its jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BatchFailure {
    /// One job may be the cause (a constraint or data error: another node
    /// stored the same idempotency key first, a value out of range), or a
    /// concurrent transaction got in the way (serialization failure,
    /// deadlock): the jobs are worth trying one by one.
    JobSpecific,
    /// The database cannot be reached or cannot work (connection refused
    /// or lost, pool timed out, shutting down, out of resources): every
    /// job would fail the same way, so all are answered at once.
    Unavailable,
}

/// Classifies an error by SQLSTATE class: 22 (data exception), 23
/// (integrity constraint violation) and 40 (transaction rollback:
/// serialization failure, deadlock) can be caused by one job; everything
/// else — errors without a SQLSTATE (I/O, TLS, protocol, pool timeout) and
/// classes such as 08 (connection), 53 (resources), 57 (operator
/// intervention: shutdown), 58 (system) — is the database being
/// unavailable.
pub(super) fn classify(e: &sqlx::Error) -> BatchFailure {
    match sqlstate(e).as_deref().and_then(|code| code.get(..2)) {
        Some("22" | "23" | "40") => BatchFailure::JobSpecific,
        _ => BatchFailure::Unavailable,
    }
}

/// The column list [`MessageRow`] expects, in order; a macro so it can be
/// spliced into SQL literals with `concat!`.
macro_rules! message_columns {
    () => {
        "conversation_id, seq, sender_id, sender_device_id, client_msg_id, text, server_ts, kind, reply_to, target_seq, edited_at, deleted"
    };
}
pub(super) use message_columns;

/// A row selected with [`message_columns!`]; `T` is the text's type
/// (`Option<String>` where a page's byte budget leaves it out).
pub(super) type MessageRow<T = String> =
    (i64, i64, i64, i64, String, T, i64, String, Option<i64>, Option<i64>, Option<i64>, bool);

pub(super) fn message(row: MessageRow) -> StoreResult<Message> {
    let (conversation_id, seq, sender_id, sender_device_id, client_msg_id, text, server_ts, kind, reply_to, target_seq, edited_at, deleted) =
        row;
    Ok(Message {
        conversation_id,
        seq,
        sender_id,
        sender_device_id,
        client_msg_id,
        text,
        server_ts,
        kind: parse_message_kind(&kind)?,
        reply_to,
        target_seq,
        edited_at,
        deleted,
    })
}

/// A row of `id, username, display_name`.
pub(super) type UserRow = (i64, String, String);

pub(super) fn user(row: UserRow) -> User {
    let (id, username, display_name) = row;
    crate::rows::stored_user(id, username, display_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_without_a_sqlstate_mean_the_database_is_unavailable() {
        let refused = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(classify(&refused), BatchFailure::Unavailable);
        assert_eq!(classify(&sqlx::Error::PoolTimedOut), BatchFailure::Unavailable);
        assert_eq!(classify(&sqlx::Error::PoolClosed), BatchFailure::Unavailable);
    }
}
