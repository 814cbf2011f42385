//! [`SettingsStore`] on SQLite: server-wide settings.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension};

use super::rows::DbResult;
use super::SqliteStore;
use crate::{SettingsStore, StoreError, StoreResult};

#[async_trait]
impl SettingsStore for SqliteStore {
    async fn setting_or_init(&self, name: &str, initial: &str) -> StoreResult<String> {
        let (name, initial) = (name.to_owned(), initial.to_owned());
        self.write(move |c| setting_or_init(c, &name, &initial)).await
    }
}

fn setting_or_init(conn: &Connection, name: &str, initial: &str) -> StoreResult<String> {
    conn.prepare_cached("INSERT INTO server_settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING")
        .db()?
        .execute((name, initial))
        .db()?;
    conn.prepare_cached("SELECT value FROM server_settings WHERE name = ?1")
        .db()?
        .query_row([name], |row| row.get(0))
        .optional()
        .db()?
        .ok_or_else(|| StoreError::Unavailable(format!("setting {name} vanished")))
}
