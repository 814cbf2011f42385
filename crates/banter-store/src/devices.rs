//! Devices: one row per logged-in session, found by the hash of its bearer
//! token. Whether a session has expired is the server's rule
//! (`banter-server/src/sessions/`); the store keeps the two times it is
//! measured from and removes what the server says is expired.

use async_trait::async_trait;
use banter_protocol::{DeviceId, TimestampMs, User, UserId};

use crate::StoreResult;

/// What the server needs to know about an authenticated device: who it is,
/// and the two times its session lifetime is measured from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedDevice {
    pub user: User,
    pub device_id: DeviceId,
    pub created_at: TimestampMs,
    pub last_active_at: TimestampMs,
}

/// A device row as stored (the token hash is never returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub id: DeviceId,
    pub user_id: UserId,
    pub name: String,
    pub created_at: TimestampMs,
    pub last_active_at: TimestampMs,
}

/// Durable storage of devices (sessions). Removing a device removes its push
/// subscriptions in the same transaction: an ended session must not keep
/// receiving notifications.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Registers a logged-in device whose bearer token hashes to `token_hash`.
    /// Device ids are never reused. Errors:
    /// [`StoreError::UserNotFound`](crate::StoreError::UserNotFound).
    async fn create_device(
        &self,
        user_id: UserId,
        name: &str,
        token_hash: &[u8],
        now: TimestampMs,
    ) -> StoreResult<DeviceRecord>;

    /// The device (and its user) holding the token with this hash, if not
    /// revoked. Whether its session has expired is the caller's rule.
    async fn device_by_token_hash(&self, token_hash: &[u8]) -> StoreResult<Option<AuthenticatedDevice>>;

    /// Records that these devices were used at `now` (the marker only moves
    /// forward; revoked devices are ignored). One write for the whole batch.
    async fn touch_devices(&self, device_ids: &[DeviceId], now: TimestampMs) -> StoreResult<()>;

    /// Those of `device_ids` that still exist (not revoked), in any order:
    /// one read for a whole node's connected devices.
    async fn devices_by_id(&self, device_ids: &[DeviceId]) -> StoreResult<Vec<DeviceRecord>>;

    /// Removes up to `limit` devices created before `created_before` or last
    /// active before `active_before` (expired sessions), with their push
    /// subscriptions, and returns them. A device used concurrently is left
    /// for the next sweep rather than waited for.
    async fn remove_expired_devices(
        &self,
        created_before: TimestampMs,
        active_before: TimestampMs,
        limit: u32,
    ) -> StoreResult<Vec<DeviceRecord>>;

    /// The user's devices, oldest first.
    async fn list_devices(&self, user_id: UserId) -> StoreResult<Vec<DeviceRecord>>;

    /// Revokes (deletes) one of the user's devices and its token.
    /// Errors: [`StoreError::DeviceNotFound`](crate::StoreError::DeviceNotFound)
    /// if it is not this user's device.
    async fn revoke_device(&self, user_id: UserId, device_id: DeviceId) -> StoreResult<()>;
}
