//! Accounts: users, their credentials and profiles.
//!
//! [`User`] is `banter_protocol`'s model type, kept here as the domain type:
//! it is exactly what the store holds of a profile (the password hash stays
//! apart and is returned only for login).

use async_trait::async_trait;
use banter_protocol::{TimestampMs, User, UserId};

use crate::StoreResult;

/// Durable storage of user accounts.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates a user. `username` is already validated and lowercased.
    /// Errors: [`StoreError::UsernameTaken`](crate::StoreError::UsernameTaken).
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        display_name: &str,
        now: TimestampMs,
    ) -> StoreResult<User>;

    /// The user and their password hash, for login.
    async fn user_credentials(&self, username: &str) -> StoreResult<Option<(User, String)>>;

    /// The user with this id, if any.
    async fn user_by_id(&self, user_id: UserId) -> StoreResult<Option<User>>;

    /// The user with this (lowercased) username, if any.
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;

    /// Errors: [`StoreError::UserNotFound`](crate::StoreError::UserNotFound).
    async fn update_display_name(&self, user_id: UserId, display_name: &str) -> StoreResult<User>;
}
