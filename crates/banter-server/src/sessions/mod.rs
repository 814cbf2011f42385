//! Session lifetimes: when a device token stops working, and how a revoked
//! or expired device loses its open sockets on every node.
//!
//! A session (one device's token) ends at the first of:
//!
//! * **revocation** — logout or `DELETE /devices/{id}` deletes the device
//!   row, then asks the router to close its sockets everywhere;
//! * **absolute lifetime** — `session_max_age` after login, however much it
//!   is used, which bounds what a stolen token is worth;
//! * **idle timeout** — `session_idle_timeout` without use (a lost or
//!   abandoned device).
//!
//! The rule lives in [`SessionPolicy`]; the store only keeps `created_at`
//! and `last_active_at`, so changing the settings applies to existing
//! sessions too.
//!
//! Three checks make sure a device whose session ended keeps no socket,
//! without trusting any single event (the NATS revocation event is best
//! effort, and a handshake may pass the token check just before a revoke):
//!
//! 1. every HTTP request and WebSocket handshake looks the token up and
//!    applies the policy ([`crate::auth::Authenticated::from_token`]);
//! 2. right after a connection is registered, its device is read again
//!    ([`confirm_connection`]): a revoke that deleted the row before the
//!    registration is seen here, one that came after found the connection
//!    registered and kicked it — no order of the two escapes both;
//! 3. every `session_check_interval`, each node re-reads all its connected
//!    devices in one batched query and sweeps expired sessions
//!    ([`checker`]), so a dropped revocation event costs at most one interval.
//!
//! Use is recorded cheaply: a request only *marks* its device when the
//! stored `last_active_at` is older than [`SessionPolicy::touch_interval`]
//! (a minute), and one task writes all marked devices in a single batched
//! update. So `last_active_at` moves at most about once a minute per device,
//! not once per request.

pub mod checker;

use std::{sync::Arc, time::Duration};

use banter_protocol::{DeviceId, TimestampMs, UserId};
use banter_store::Store;
use tokio_util::sync::CancellationToken;

use crate::{
    config::ServerConfig,
    dirty_set::DirtySet,
    registry::{CloseReason, Kick},
    state::{now_ms, AppState},
};

/// At most how often a device's use is written down.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    max_age_ms: TimestampMs,
    idle_timeout_ms: TimestampMs,
}

impl SessionPolicy {
    /// The policy from `session_max_age` and `session_idle_timeout`.
    pub fn from_config(config: &ServerConfig) -> SessionPolicy {
        SessionPolicy { max_age_ms: millis(config.session_max_age), idle_timeout_ms: millis(config.session_idle_timeout) }
    }

    /// When a session logged in at `created_at` and last used at
    /// `last_active_at` ends unless it is used again.
    pub fn expires_at(&self, created_at: TimestampMs, last_active_at: TimestampMs) -> TimestampMs {
        created_at.saturating_add(self.max_age_ms).min(last_active_at.saturating_add(self.idle_timeout_ms))
    }

    /// Whether that session has ended by `now`.
    pub fn is_expired(&self, created_at: TimestampMs, last_active_at: TimestampMs, now: TimestampMs) -> bool {
        now >= self.expires_at(created_at, last_active_at)
    }

    /// `(created_before, active_before)`: a device created before the first
    /// or last used before the second has expired at `now` (the sweep's
    /// form of [`Self::is_expired`]).
    pub fn expired_bounds(&self, now: TimestampMs) -> (TimestampMs, TimestampMs) {
        (now.saturating_sub(self.max_age_ms).saturating_add(1), now.saturating_sub(self.idle_timeout_ms).saturating_add(1))
    }

    /// How stale `last_active_at` may get before a use is written down: a
    /// minute, or a tenth of the idle timeout if that is shorter (so a
    /// device in use never looks idle).
    pub fn touch_interval_ms(&self) -> TimestampMs {
        millis(TOUCH_INTERVAL).min(self.idle_timeout_ms / 10)
    }
}

fn millis(d: Duration) -> TimestampMs {
    TimestampMs::try_from(d.as_millis()).unwrap_or(TimestampMs::MAX)
}

/// The server's session bookkeeping: the policy, and the devices whose use
/// is waiting to be written down.
pub struct Sessions {
    pub policy: SessionPolicy,
    used: Arc<DirtySet<DeviceId>>,
}

impl Sessions {
    /// Starts the task that writes marked uses; it stops with `shutdown`.
    pub fn start(config: &ServerConfig, store: Arc<dyn Store>, shutdown: CancellationToken) -> Sessions {
        let used = Arc::new(DirtySet::default());
        tokio::spawn(write_uses(store, used.clone(), shutdown));
        Sessions { policy: SessionPolicy::from_config(config), used }
    }

    /// Notes that a device was used now; written down (batched, by another
    /// task) only when the stored time is older than the touch interval.
    pub fn note_use(&self, device_id: DeviceId, stored_last_active_at: TimestampMs, now: TimestampMs) {
        if now.saturating_sub(stored_last_active_at) >= self.policy.touch_interval_ms() {
            self.used.mark(device_id);
        }
    }
}

/// Writes marked devices' use, one batched update per wake-up: marks that
/// arrive while a write is in flight coalesce into the next one.
async fn write_uses(store: Arc<dyn Store>, used: Arc<DirtySet<DeviceId>>, shutdown: CancellationToken) {
    loop {
        let devices = tokio::select! {
            () = shutdown.cancelled() => return,
            devices = used.drain() => devices,
        };
        if let Err(e) = store.touch_devices(&devices, now_ms()).await {
            tracing::warn!(error = %e, devices = devices.len(), "could not record device activity");
        }
    }
}

/// Why the server closes a device's connections when its session ended.
pub const SESSION_EXPIRED: CloseReason = CloseReason { code: CloseReason::SESSION_REVOKED.code, reason: "session expired" };

/// The re-check right after a connection was registered (see the module
/// doc): closes it if its device was revoked or expired meanwhile. A store
/// error leaves it open; the periodic check will look again.
pub async fn confirm_connection(state: &AppState, user_id: UserId, device_id: DeviceId, kick: &Kick) {
    match state.store.devices_by_id(&[device_id]).await {
        Ok(found) => match found.first() {
            None => {
                tracing::info!(user = user_id, device = device_id, "device revoked during its handshake; closing");
                kick.kick(CloseReason::SESSION_REVOKED);
            }
            Some(device) if state.sessions.policy.is_expired(device.created_at, device.last_active_at, now_ms()) => {
                kick.kick(SESSION_EXPIRED);
            }
            Some(_) => {}
        },
        Err(e) => tracing::warn!(error = %e, device = device_id, "could not re-check a new connection's device"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_age_ms: i64, idle_timeout_ms: i64) -> SessionPolicy {
        SessionPolicy { max_age_ms, idle_timeout_ms }
    }

    #[test]
    fn a_session_ends_at_the_first_of_its_absolute_and_idle_limits() {
        let p = policy(1_000, 300);
        assert_eq!(p.expires_at(0, 0), 300, "unused since login: idle first");
        assert_eq!(p.expires_at(0, 900), 1_000, "in use: the absolute lifetime");
        assert!(!p.is_expired(0, 500, 799));
        assert!(p.is_expired(0, 500, 800));
        assert!(p.is_expired(0, 999, 1_000), "used a moment ago, but too old");
    }

    #[test]
    fn the_sweep_bounds_agree_with_is_expired() {
        let p = policy(1_000, 300);
        let now = 5_000;
        let (created_before, active_before) = p.expired_bounds(now);
        for created_at in 3_900..4_100 {
            for last_active_at in [created_at, 4_600, 4_700, 4_701, 4_800] {
                let swept = created_at < created_before || last_active_at < active_before;
                assert_eq!(swept, p.is_expired(created_at, last_active_at, now), "{created_at} {last_active_at}");
            }
        }
    }

    #[test]
    fn use_is_written_at_most_once_a_minute_or_a_tenth_of_the_idle_timeout() {
        assert_eq!(policy(i64::MAX, 30 * 24 * 3_600_000).touch_interval_ms(), 60_000);
        assert_eq!(policy(i64::MAX, 2_000).touch_interval_ms(), 200);
    }
}
