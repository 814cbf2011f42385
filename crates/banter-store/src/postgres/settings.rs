//! [`SettingsStore`] on PostgreSQL: server-wide settings (accounts shard).

use async_trait::async_trait;

use super::rows::DbResult;
use super::PgStore;
use crate::{SettingsStore, StoreError, StoreResult};

#[async_trait]
impl SettingsStore for PgStore {
    /// The setting's value, storing `initial` first if absent; concurrent
    /// first starts of several nodes all read the one value that won.
    async fn setting_or_init(&self, name: &str, initial: &str) -> StoreResult<String> {
        let shards = &self.shards;
        let pool = shards.accounts();
        sqlx::query("INSERT INTO server_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(initial)
            .execute(pool)
            .await
            .db()?;
        sqlx::query_scalar("SELECT value FROM server_settings WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await
            .db()?
            .ok_or_else(|| StoreError::Unavailable(format!("setting {name} vanished")))
    }
}
