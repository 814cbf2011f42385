//! Queries on users and devices. They all run on the accounts shard.

use std::collections::HashMap;

use banter_protocol::{DeviceId, TimestampMs, User, UserId};
use sqlx::PgPool;

use super::rows::{is_unique_violation, unavailable, user, DbResult, UserRow};
use crate::{AuthenticatedDevice, DeviceRecord, StoreError, StoreResult};

pub(super) async fn create_user(
    pool: &PgPool,
    username: &str,
    password_hash: &str,
    display_name: &str,
    now: TimestampMs,
) -> StoreResult<User> {
    let id: UserId = sqlx::query_scalar(
        "INSERT INTO users (username, password_hash, display_name, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(username)
    .bind(password_hash)
    .bind(display_name)
    .bind(now)
    .fetch_one(pool)
    .await
    .map_err(|e| {
        // The constraint is the check: there is no window between a SELECT
        // and the INSERT for two nodes to race through.
        if is_unique_violation(&e, "users_username_key") {
            StoreError::UsernameTaken
        } else {
            unavailable(e)
        }
    })?;
    Ok(User { id, username: username.to_owned(), display_name: display_name.to_owned() })
}

pub(super) async fn user_credentials(pool: &PgPool, username: &str) -> StoreResult<Option<(User, String)>> {
    let row: Option<(i64, String, String, String)> =
        sqlx::query_as("SELECT id, username, display_name, password_hash FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(pool)
            .await
            .db()?;
    Ok(row.map(|(id, username, display_name, hash)| (User { id, username, display_name }, hash)))
}

pub(super) async fn user_by_id(pool: &PgPool, user_id: UserId) -> StoreResult<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as("SELECT id, username, display_name FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(pool)
        .await
        .db()?;
    Ok(row.map(user))
}

pub(super) async fn user_by_username(pool: &PgPool, username: &str) -> StoreResult<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as("SELECT id, username, display_name FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(pool)
        .await
        .db()?;
    Ok(row.map(user))
}

/// Profiles of the given users, by id (missing ids are simply absent).
pub(super) async fn users_by_ids(pool: &PgPool, ids: &[UserId]) -> StoreResult<HashMap<UserId, User>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<UserRow> = sqlx::query_as("SELECT id, username, display_name FROM users WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
        .db()?;
    Ok(rows.into_iter().map(|r| (r.0, user(r))).collect())
}

/// Fails with [`StoreError::UserNotFound`] unless every listed user exists.
/// Users are never deleted, so a check outside the writing transaction
/// (which may be on another shard) stays true.
pub(super) async fn require_users(pool: &PgPool, ids: &[UserId]) -> StoreResult<()> {
    let found = users_by_ids(pool, ids).await?;
    if ids.iter().all(|id| found.contains_key(id)) {
        Ok(())
    } else {
        Err(StoreError::UserNotFound)
    }
}

pub(super) async fn update_display_name(pool: &PgPool, user_id: UserId, display_name: &str) -> StoreResult<User> {
    let row: Option<UserRow> =
        sqlx::query_as("UPDATE users SET display_name = $2 WHERE id = $1 RETURNING id, username, display_name")
            .bind(user_id)
            .bind(display_name)
            .fetch_optional(pool)
            .await
            .db()?;
    row.map(user).ok_or(StoreError::UserNotFound)
}

pub(super) async fn create_device(
    pool: &PgPool,
    user_id: UserId,
    name: &str,
    token_hash: &[u8],
    now: TimestampMs,
) -> StoreResult<DeviceRecord> {
    // Checked explicitly so the caller gets UserNotFound rather than a
    // foreign-key failure reported as Unavailable.
    require_users(pool, &[user_id]).await?;
    let id: DeviceId = sqlx::query_scalar(
        "INSERT INTO devices (user_id, name, token_hash, created_at, last_active_at) VALUES ($1, $2, $3, $4, $4)
         RETURNING id",
    )
    .bind(user_id)
    .bind(name)
    .bind(token_hash)
    .bind(now)
    .fetch_one(pool)
    .await
    .db()?;
    Ok(DeviceRecord { id, user_id, name: name.to_owned(), created_at: now, last_active_at: now })
}

pub(super) async fn device_by_token_hash(pool: &PgPool, token_hash: &[u8]) -> StoreResult<Option<AuthenticatedDevice>> {
    let row: Option<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT u.id, u.username, u.display_name, d.id
         FROM devices d JOIN users u ON u.id = d.user_id WHERE d.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await
    .db()?;
    Ok(row.map(|(id, username, display_name, device_id)| AuthenticatedDevice {
        user: User { id, username, display_name },
        device_id,
    }))
}

pub(super) async fn touch_device(pool: &PgPool, device_id: DeviceId, now: TimestampMs) -> StoreResult<()> {
    // GREATEST: touches from several nodes may arrive out of order.
    sqlx::query("UPDATE devices SET last_active_at = GREATEST(last_active_at, $2) WHERE id = $1")
        .bind(device_id)
        .bind(now)
        .execute(pool)
        .await
        .db()?;
    Ok(())
}

pub(super) async fn list_devices(pool: &PgPool, user_id: UserId) -> StoreResult<Vec<DeviceRecord>> {
    let rows: Vec<(i64, i64, String, i64, i64)> = sqlx::query_as(
        "SELECT id, user_id, name, created_at, last_active_at FROM devices WHERE user_id = $1 ORDER BY created_at, id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
    .db()?;
    Ok(rows
        .into_iter()
        .map(|(id, user_id, name, created_at, last_active_at)| DeviceRecord {
            id,
            user_id,
            name,
            created_at,
            last_active_at,
        })
        .collect())
}

pub(super) async fn revoke_device(pool: &PgPool, user_id: UserId, device_id: DeviceId) -> StoreResult<()> {
    let mut tx = pool.begin().await.db()?;
    let deleted = sqlx::query("DELETE FROM devices WHERE id = $1 AND user_id = $2")
        .bind(device_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .db()?
        .rows_affected();
    if deleted == 0 {
        return Err(StoreError::DeviceNotFound);
    }
    // A revoked device must not keep receiving notifications.
    sqlx::query("DELETE FROM push_subscriptions WHERE device_id = $1").bind(device_id).execute(&mut *tx).await.db()?;
    tx.commit().await.db()
}
