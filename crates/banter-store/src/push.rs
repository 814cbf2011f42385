//! Push subscriptions of every kind (Web Push, FCM, APNs), and the
//! registration rules every backend
//! applies (`push_endpoint_holder`, `PushSubscriptionCaps::check`) in
//! the same transaction as the insert, so concurrent registrations cannot
//! pass them.

use async_trait::async_trait;
use banter_protocol::{ConversationId, DeviceId, TimestampMs, UserId};

use crate::{StoreError, StoreResult};

/// Where a subscription's notifications go, by kind. One table holds all
/// kinds: the address (`endpoint` or `token`) is unique per kind, and the
/// caps count every kind together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushTarget {
    /// A browser's Web Push subscription. Keys are base64url as the browser
    /// gave them.
    Web { endpoint: String, p256dh: String, auth: String },
    /// A native Android (or other FCM) app's registration token.
    Fcm { token: String },
    /// A native iOS app's APNs device token (hex).
    Apns { token: String },
}

impl PushTarget {
    /// The kind as stored (`web`, `fcm`, `apns`).
    pub fn kind(&self) -> &'static str {
        match self {
            PushTarget::Web { .. } => "web",
            PushTarget::Fcm { .. } => "fcm",
            PushTarget::Apns { .. } => "apns",
        }
    }

    /// The address the kind is unique on: the endpoint URL or the token.
    pub fn address(&self) -> &str {
        match self {
            PushTarget::Web { endpoint, .. } => endpoint,
            PushTarget::Fcm { token } | PushTarget::Apns { token } => token,
        }
    }

    /// Whether this is a native app's token (a device has at most one).
    pub fn is_native(&self) -> bool {
        !matches!(self, PushTarget::Web { .. })
    }

    /// The keys as stored: empty for native tokens.
    pub(crate) fn keys(&self) -> (&str, &str) {
        match self {
            PushTarget::Web { p256dh, auth, .. } => (p256dh, auth),
            _ => ("", ""),
        }
    }

    /// Rebuilds a target from its stored columns; `None` for a kind this
    /// version does not know (a newer server's row), which is skipped.
    pub(crate) fn from_columns(kind: &str, address: String, p256dh: String, auth: String) -> Option<PushTarget> {
        match kind {
            "web" => Some(PushTarget::Web { endpoint: address, p256dh, auth }),
            "fcm" => Some(PushTarget::Fcm { token: address }),
            "apns" => Some(PushTarget::Apns { token: address }),
            _ => None,
        }
    }
}

/// A push subscription to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPushSubscription {
    pub user_id: UserId,
    pub device_id: DeviceId,
    pub target: PushTarget,
    pub created_at: TimestampMs,
}

/// The caps on push subscriptions, enforced by the store in the same
/// transaction as the insert so concurrent registrations cannot pass them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushSubscriptionCaps {
    pub per_device: u32,
    pub per_user: u32,
}

/// Which cap a registration would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushCapScope {
    Device,
    Account,
}

impl std::fmt::Display for PushCapScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PushCapScope::Device => "this device",
            PushCapScope::Account => "this account",
        })
    }
}

/// The rule for registering an endpoint (or native token) someone may already hold, shared
/// by every backend. `holder` is the subscription that has the endpoint now,
/// if any, as `(subscription id, device id)`.
///
/// An endpoint belongs to the device that registered it: that device may
/// register it again (new keys, same subscription, so it does not count
/// twice: `Ok(Some(id))`, update it); any other device or user is refused
/// until the holder unsubscribes or is removed, or anyone who learns an
/// endpoint could take its notifications over. `Ok(None)`: nobody holds it,
/// insert a new one (if [`PushSubscriptionCaps::check`] allows).
pub(crate) fn push_endpoint_holder(holder: Option<(i64, DeviceId)>, device_id: DeviceId) -> StoreResult<Option<i64>> {
    match holder {
        Some((id, holder_device)) if holder_device == device_id => Ok(Some(id)),
        Some(_) => Err(StoreError::PushEndpointTaken),
        None => Ok(None),
    }
}

impl PushSubscriptionCaps {
    /// Whether one more subscription fits, given how many the device and
    /// its user have now (as counted by SQL: a negative count reads as 0).
    pub(crate) fn check(&self, device_count: i64, user_count: i64) -> StoreResult<()> {
        if device_count >= i64::from(self.per_device) {
            return Err(StoreError::TooManyPushSubscriptions { scope: PushCapScope::Device, limit: self.per_device });
        }
        if user_count >= i64::from(self.per_user) {
            return Err(StoreError::TooManyPushSubscriptions { scope: PushCapScope::Account, limit: self.per_user });
        }
        Ok(())
    }
}

/// A stored push subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscriptionRecord {
    pub id: i64,
    pub user_id: UserId,
    pub device_id: DeviceId,
    pub target: PushTarget,
}

/// Durable storage of push subscriptions.
#[async_trait]
pub trait PushStore: Send + Sync {
    /// Stores a push subscription for a device, by the rules of this module:
    /// the device holding the endpoint (or token, per kind) may register it
    /// again (new keys, same id); anyone else gets
    /// [`StoreError::PushEndpointTaken`]; a new one past a cap gets
    /// [`StoreError::TooManyPushSubscriptions`]. A native token replaces the
    /// device's previous native token (a device has at most one), in the same
    /// transaction. Atomic with the cap check. Errors: [`StoreError::DeviceNotFound`] if the device is
    /// not the user's (revoked meanwhile). Returns the subscription id.
    async fn add_push_subscription(
        &self,
        subscription: NewPushSubscription,
        caps: PushSubscriptionCaps,
    ) -> StoreResult<i64>;

    /// Removes every push subscription of a device; returns how many.
    async fn remove_device_push_subscriptions(&self, device_id: DeviceId) -> StoreResult<u64>;

    /// Removes the device's native (FCM or APNs) token; returns how many
    /// (0 or 1).
    async fn remove_device_native_push(&self, device_id: DeviceId) -> StoreResult<u64>;

    /// Removes one subscription (e.g. the push service answered 404/410).
    async fn remove_push_subscription(&self, subscription_id: i64) -> StoreResult<()>;

    /// The subscriptions of those `user_ids` that are members of the
    /// conversation and have not muted it.
    async fn push_targets(
        &self,
        conversation_id: ConversationId,
        user_ids: &[UserId],
    ) -> StoreResult<Vec<PushSubscriptionRecord>>;
}
