//! The state shared by every request and connection.

use std::sync::Arc;

use banter_store::Store;
use tokio_util::sync::CancellationToken;

use crate::{
    auth::PasswordHashing, config::ServerConfig, presence::PresenceTracker, push::PushDispatcher,
    rate_limits::{AccountFrameLimits, LoginLimits, SignupLimits},
    registry::ConnectionRegistry, router::Router,
};

/// Shared server state, behind an `Arc`.
pub struct AppState {
    pub config: ServerConfig,
    pub store: Arc<dyn Store>,
    pub registry: Arc<ConnectionRegistry>,
    pub router: Arc<dyn Router>,
    pub presence: Arc<dyn PresenceTracker>,
    pub push: PushDispatcher,
    /// The VAPID public key clients subscribe with (base64url).
    pub vapid_public_key: String,
    pub passwords: PasswordHashing,
    pub login_limits: LoginLimits,
    pub signup_limits: SignupLimits,
    pub account_frame_limits: AccountFrameLimits,
    /// Cancelled when the server starts shutting down.
    pub shutdown: CancellationToken,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
