//! The seam between "notify this subscription" and a concrete push service.

use async_trait::async_trait;
use banter_store::PushSubscriptionRecord;

/// How a push attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The subscription no longer exists (HTTP 404/410): delete it.
    #[error("subscription is gone")]
    Gone,
    /// Worth retrying later (network error, 429, 5xx).
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// The push service refused this request for good (e.g. 400, 413).
    #[error("rejected: {0}")]
    Rejected(String),
}

/// Delivers one encrypted notification to one subscription.
///
/// [`WebPush`](super::web_push::WebPush) implements RFC 8030/8291/8292 for
/// browsers. Native apps would add an APNs provider (HTTP/2 to
/// `api.push.apple.com` with a JWT signed by the team's p8 key) and an FCM
/// provider (HTTP v1 API with a service-account OAuth token); each maps the
/// service's "unregistered device" answer to [`PushError::Gone`]. The
/// dispatcher would pick the provider by the subscription's kind.
#[async_trait]
pub trait PushProvider: Send + Sync + 'static {
    /// Sends `payload` (plaintext JSON; the provider encrypts it as its
    /// protocol requires).
    async fn send(&self, subscription: &PushSubscriptionRecord, payload: &[u8]) -> Result<(), PushError>;
}
