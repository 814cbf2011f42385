//! Queries on users and devices.
//!
//! Plain synchronous functions over a `&Connection`: the caller decides
//! whether they run on the writer thread (inside a batch transaction) or on
//! a reader thread.

use banter_protocol::{DeviceId, TimestampMs, User, UserId};
use rusqlite::{Connection, OptionalExtension};

use super::rows::{is_unique_violation, user_at, DbResult};
use crate::{AuthenticatedDevice, DeviceRecord, StoreError, StoreResult};

pub(super) fn create_user(
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
            if is_unique_violation(&e, "users.username") {
                StoreError::UsernameTaken
            } else {
                StoreError::Unavailable(e.to_string())
            }
        })?;
    Ok(User { id, username: username.to_owned(), display_name: display_name.to_owned() })
}

pub(super) fn user_credentials(conn: &Connection, username: &str) -> StoreResult<Option<(User, String)>> {
    conn.prepare_cached("SELECT id, username, display_name, password_hash FROM users WHERE username = ?1")
        .db()?
        .query_row([username], |row| Ok((user_at(row, 0)?, row.get(3)?)))
        .optional()
        .db()
}

pub(super) fn user_by_id(conn: &Connection, user_id: UserId) -> StoreResult<Option<User>> {
    conn.prepare_cached("SELECT id, username, display_name FROM users WHERE id = ?1")
        .db()?
        .query_row([user_id], |row| user_at(row, 0))
        .optional()
        .db()
}

pub(super) fn user_by_username(conn: &Connection, username: &str) -> StoreResult<Option<User>> {
    conn.prepare_cached("SELECT id, username, display_name FROM users WHERE username = ?1")
        .db()?
        .query_row([username], |row| user_at(row, 0))
        .optional()
        .db()
}

/// Fails with [`StoreError::UserNotFound`] unless the user exists.
pub(super) fn require_user(conn: &Connection, user_id: UserId) -> StoreResult<()> {
    let exists = conn.prepare_cached("SELECT 1 FROM users WHERE id = ?1").db()?.exists([user_id]).db()?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::UserNotFound)
    }
}

pub(super) fn update_display_name(conn: &Connection, user_id: UserId, display_name: &str) -> StoreResult<User> {
    conn.prepare_cached("UPDATE users SET display_name = ?2 WHERE id = ?1 RETURNING id, username, display_name")
        .db()?
        .query_row((user_id, display_name), |row| user_at(row, 0))
        .optional()
        .db()?
        .ok_or(StoreError::UserNotFound)
}

pub(super) fn create_device(
    conn: &Connection,
    user_id: UserId,
    name: &str,
    token_hash: &[u8],
    now: TimestampMs,
) -> StoreResult<DeviceRecord> {
    // Checked explicitly so the caller gets UserNotFound rather than a
    // foreign-key failure reported as Unavailable.
    require_user(conn, user_id)?;
    let id: DeviceId = conn
        .prepare_cached(
            "INSERT INTO devices (user_id, name, token_hash, created_at, last_active_at) VALUES (?1, ?2, ?3, ?4, ?4)
             RETURNING id",
        )
        .db()?
        .query_row((user_id, name, token_hash, now), |row| row.get(0))
        .db()?;
    Ok(DeviceRecord { id, user_id, name: name.to_owned(), created_at: now, last_active_at: now })
}

pub(super) fn device_by_token_hash(conn: &Connection, token_hash: &[u8]) -> StoreResult<Option<AuthenticatedDevice>> {
    conn.prepare_cached(
        "SELECT u.id, u.username, u.display_name, d.id
         FROM devices d JOIN users u ON u.id = d.user_id
         WHERE d.token_hash = ?1",
    )
    .db()?
    .query_row([token_hash], |row| Ok(AuthenticatedDevice { user: user_at(row, 0)?, device_id: row.get(3)? }))
    .optional()
    .db()
}

pub(super) fn touch_device(conn: &Connection, device_id: DeviceId, now: TimestampMs) -> StoreResult<()> {
    // max(): touches may arrive out of order; the marker never goes back.
    // A revoked device simply matches no row.
    conn.prepare_cached("UPDATE devices SET last_active_at = max(last_active_at, ?2) WHERE id = ?1")
        .db()?
        .execute((device_id, now))
        .db()?;
    Ok(())
}

pub(super) fn list_devices(conn: &Connection, user_id: UserId) -> StoreResult<Vec<DeviceRecord>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, user_id, name, created_at, last_active_at FROM devices WHERE user_id = ?1
             ORDER BY created_at, id",
        )
        .db()?;
    let rows = stmt
        .query_map([user_id], |row| {
            Ok(DeviceRecord {
                id: row.get(0)?,
                user_id: row.get(1)?,
                name: row.get(2)?,
                created_at: row.get(3)?,
                last_active_at: row.get(4)?,
            })
        })
        .db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

pub(super) fn revoke_device(conn: &Connection, user_id: UserId, device_id: DeviceId) -> StoreResult<()> {
    let deleted = conn
        .prepare_cached("DELETE FROM devices WHERE id = ?1 AND user_id = ?2")
        .db()?
        .execute((device_id, user_id))
        .db()?;
    if deleted == 0 {
        return Err(StoreError::DeviceNotFound);
    }
    // A revoked device must not keep receiving notifications.
    conn.prepare_cached("DELETE FROM push_subscriptions WHERE device_id = ?1").db()?.execute([device_id]).db()?;
    Ok(())
}
