//! The state shared by every request and connection.

use std::sync::Arc;

use banter_store::Store;
use tokio_util::sync::CancellationToken;

use crate::{
    auth::PasswordHashing, config::ServerConfig, live_order::LiveOrder, presence::PresenceTracker, push::{native::NativePush, PushDispatcher},
    readiness::StoreReadiness,
    rate_limits::{AccountFrameLimits, AccountHttpRequestLimits, LoginLimits, SignupLimits},
    registry::ConnectionRegistry, router::Router, sessions::Sessions,
};

/// Shared server state, behind an `Arc`.
pub struct AppState {
    pub config: ServerConfig,
    pub store: Arc<dyn Store>,
    pub registry: Arc<ConnectionRegistry>,
    pub router: Arc<dyn Router>,
    /// Puts this node's live `message` frames of a conversation in seq order.
    pub live_order: Arc<LiveOrder>,
    pub presence: Arc<dyn PresenceTracker>,
    pub push: PushDispatcher,
    /// The native push clients configured (FCM, APNs), for registrations.
    pub native_push: Arc<NativePush>,
    /// The VAPID public key clients subscribe with (base64url).
    pub vapid_public_key: String,
    pub passwords: PasswordHashing,
    /// Session lifetimes and the recording of device use.
    pub sessions: Sessions,
    pub login_limits: LoginLimits,
    pub signup_limits: SignupLimits,
    pub account_frame_limits: AccountFrameLimits,
    pub account_http_limits: AccountHttpRequestLimits,
    /// Turns for syncs against storage (`max_concurrent_syncs`).
    pub sync_admission: crate::messaging::SyncAdmission,
    /// Cancelled when the server starts shutting down: the drain begins
    /// (health 503, no new WebSockets, connections answer what they hold
    /// and close with 1001).
    pub shutdown: CancellationToken,
    /// The cached storage probe behind `GET /ready`.
    pub readiness: StoreReadiness,
    /// The open event streams of the fallback transport (`gateway::events`).
    pub event_streams: crate::gateway::events::EventStreams,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
