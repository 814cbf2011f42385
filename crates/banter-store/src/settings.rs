//! Server-wide settings that every node must agree on (the VAPID key pair,
//! say): stored once, read by all.

use async_trait::async_trait;

use crate::StoreResult;

/// Durable storage of server-wide settings.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// The value of a server-wide setting, storing `initial` first if the
    /// setting does not exist yet. Every node sees the same value: of
    /// concurrent first starts, all read the one value that won.
    async fn setting_or_init(&self, name: &str, initial: &str) -> StoreResult<String>;
}
