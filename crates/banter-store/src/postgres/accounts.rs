//! [`AccountStore`] on PostgreSQL: users, on the accounts shard.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use banter_protocol::{TimestampMs, User, UserId};
use sqlx::PgPool;

use super::rows::{is_unique_violation, unavailable, user, DbResult, UserRow};
use super::PgStore;
use crate::rows::stored_user;
use crate::{AccountStore, StoreError, StoreResult};

#[async_trait]
impl AccountStore for PgStore {
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        display_name: &str,
        now: TimestampMs,
    ) -> StoreResult<User> {
        let pool = self.shards.accounts();
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
            if is_unique_violation(&e, "users_username_key") || is_unique_violation(&e, "users_name_or_reserved") {
                StoreError::UsernameTaken
            } else {
                unavailable(e)
            }
        })?;
        Ok(User { id, username: username.to_owned(), display_name: display_name.to_owned(), deleted: false })
    }

    async fn user_credentials(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        let pool = self.shards.accounts();
        let row: Option<(i64, String, String, String)> =
            sqlx::query_as("SELECT id, username, display_name, password_hash FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(pool)
                .await
                .db()?;
        Ok(row.map(|(id, username, display_name, hash)| (stored_user(id, username, display_name), hash)))
    }

    async fn user_by_id(&self, user_id: UserId) -> StoreResult<Option<User>> {
        let pool = self.shards.accounts();
        let row: Option<UserRow> = sqlx::query_as("SELECT id, username, display_name FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(pool)
            .await
            .db()?;
        Ok(row.map(user))
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let pool = self.shards.accounts();
        let row: Option<UserRow> = sqlx::query_as("SELECT id, username, display_name FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(pool)
            .await
            .db()?;
        Ok(row.map(user))
    }

    async fn update_display_name(&self, user_id: UserId, display_name: &str) -> StoreResult<User> {
        let pool = self.shards.accounts();
        let row: Option<UserRow> =
            sqlx::query_as("UPDATE users SET display_name = $2 WHERE id = $1 RETURNING id, username, display_name")
                .bind(user_id)
                .bind(display_name)
                .fetch_optional(pool)
                .await
                .db()?;
        row.map(user).ok_or(StoreError::UserNotFound)
    }
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

/// The listed users that exist and were not deleted.
pub(super) async fn live_user_ids(pool: &PgPool, ids: &[UserId]) -> StoreResult<HashSet<UserId>> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let rows: Vec<UserId> = sqlx::query_scalar("SELECT id FROM users WHERE id = ANY($1) AND deleted_at IS NULL")
        .bind(ids)
        .fetch_all(pool)
        .await
        .db()?;
    Ok(rows.into_iter().collect())
}

/// Fails with [`StoreError::UserNotFound`] unless every listed user exists
/// and was not deleted. Rows are never removed, and the check runs outside
/// the writing transaction (which may be on another shard): an account
/// deleted in between is caught by the deletion itself, which leaves every
/// group it finds the account in and closes its direct conversations.
pub(super) async fn require_users(pool: &PgPool, ids: &[UserId]) -> StoreResult<()> {
    let found = live_user_ids(pool, ids).await?;
    if ids.iter().all(|id| found.contains(id)) {
        Ok(())
    } else {
        Err(StoreError::UserNotFound)
    }
}
