//! [`AccountStore`] on SQLite: users.
//!
//! The SQL is plain synchronous functions over a `&Connection`; the trait
//! methods say which thread runs each (the writer, inside a batch
//! transaction, or a reader).

use async_trait::async_trait;
use banter_protocol::{TimestampMs, User, UserId};
use rusqlite::{Connection, OptionalExtension};

use super::rows::{is_unique_violation, user_at, DbResult};
use super::SqliteStore;
use crate::{AccountStore, StoreError, StoreResult};

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        display_name: &str,
        now: TimestampMs,
    ) -> StoreResult<User> {
        let (username, password_hash, display_name) =
            (username.to_owned(), password_hash.to_owned(), display_name.to_owned());
        self.write(move |c| create_user(c, &username, &password_hash, &display_name, now)).await
    }

    async fn user_credentials(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        let username = username.to_owned();
        self.read(move |c| user_credentials(c, &username)).await
    }

    async fn user_by_id(&self, user_id: UserId) -> StoreResult<Option<User>> {
        self.read(move |c| user_by_id(c, user_id)).await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let username = username.to_owned();
        self.read(move |c| user_by_username(c, &username)).await
    }

    async fn update_display_name(&self, user_id: UserId, display_name: &str) -> StoreResult<User> {
        let display_name = display_name.to_owned();
        self.write(move |c| update_display_name(c, user_id, &display_name)).await
    }
}

fn create_user(
    conn: &Connection,
    username: &str,
    password_hash: &str,
    display_name: &str,
    now: TimestampMs,
) -> StoreResult<User> {
    let id: UserId = conn
        .prepare_cached(
            "INSERT INTO users (username, password_hash, display_name, created_at) VALUES (?1, ?2, ?3, ?4)
             RETURNING id",
        )
        .db()?
        .query_row((username, password_hash, display_name, now), |row| row.get(0))
        .map_err(|e| {
            // The UNIQUE constraint is the check: the writer is single, so
            // there is no window between a SELECT and the INSERT to guard.
            // A deleted account's reserved name is held by its own index.
            if is_unique_violation(&e, "users.username") || is_unique_violation(&e, "users_name_or_reserved") {
                StoreError::UsernameTaken
            } else {
                StoreError::Unavailable(e.to_string())
            }
        })?;
    Ok(User { id, username: username.to_owned(), display_name: display_name.to_owned(), deleted: false })
}

fn user_credentials(conn: &Connection, username: &str) -> StoreResult<Option<(User, String)>> {
    conn.prepare_cached("SELECT id, username, display_name, password_hash FROM users WHERE username = ?1")
        .db()?
        .query_row([username], |row| Ok((user_at(row, 0)?, row.get(3)?)))
        .optional()
        .db()
}

fn user_by_id(conn: &Connection, user_id: UserId) -> StoreResult<Option<User>> {
    conn.prepare_cached("SELECT id, username, display_name FROM users WHERE id = ?1")
        .db()?
        .query_row([user_id], |row| user_at(row, 0))
        .optional()
        .db()
}

fn user_by_username(conn: &Connection, username: &str) -> StoreResult<Option<User>> {
    conn.prepare_cached("SELECT id, username, display_name FROM users WHERE username = ?1")
        .db()?
        .query_row([username], |row| user_at(row, 0))
        .optional()
        .db()
}

/// Whether a user with this id exists (a deleted account does not: nobody
/// may open a conversation with it, add it or block it).
pub(super) fn user_exists(conn: &Connection, user_id: UserId) -> StoreResult<bool> {
    conn.prepare_cached("SELECT 1 FROM users WHERE id = ?1 AND deleted_at IS NULL").db()?.exists([user_id]).db()
}

/// Fails with [`StoreError::UserNotFound`] unless the user exists.
pub(super) fn require_user(conn: &Connection, user_id: UserId) -> StoreResult<()> {
    if user_exists(conn, user_id)? {
        Ok(())
    } else {
        Err(StoreError::UserNotFound)
    }
}

fn update_display_name(conn: &Connection, user_id: UserId, display_name: &str) -> StoreResult<User> {
    conn.prepare_cached("UPDATE users SET display_name = ?2 WHERE id = ?1 RETURNING id, username, display_name")
        .db()?
        .query_row((user_id, display_name), |row| user_at(row, 0))
        .optional()
        .db()?
        .ok_or(StoreError::UserNotFound)
}

