//! The periodic session check: the path that does not depend on any event.
//!
//! Every `session_check_interval`, each node:
//!
//! 1. reads the devices of all its open connections in batched queries
//!    ([`Store::devices_by_id`], [`CHECK_BATCH`] ids each — one query for
//!    any ordinary node, never one per connection) and closes with 4001 the
//!    connections whose device is gone (revoked on another node while the
//!    NATS event was lost) or whose session expired; devices still in use
//!    get their last-used time refreshed if it is stale;
//! 2. removes expired sessions from the store ([`Store::remove_expired_devices`],
//!    in batches), so their tokens and push subscriptions go even if the
//!    device never comes back.
//!
//! Errors are logged and the next interval tries again: a failed read never
//! closes anyone.
//!
//! [`Store::devices_by_id`]: banter_store::DeviceStore::devices_by_id
//! [`Store::remove_expired_devices`]: banter_store::DeviceStore::remove_expired_devices

use std::{collections::HashMap, sync::Arc};

use banter_protocol::DeviceId;
use tokio::time::MissedTickBehavior;

use super::SESSION_EXPIRED;
use crate::{
    registry::CloseReason,
    state::{now_ms, AppState},
};

/// Devices per batched read.
const CHECK_BATCH: usize = 10_000;
/// Expired devices removed per store call.
const SWEEP_BATCH: u32 = 500;

/// Runs the check every `session_check_interval` until shutdown.
pub async fn run(state: Arc<AppState>) {
    let mut ticks = tokio::time::interval(state.config.session_check_interval.max(std::time::Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        check_connected_devices(&state).await;
        sweep_expired_sessions(&state).await;
    }
}

/// Step 1: one batched read of every connected device.
pub async fn check_connected_devices(state: &AppState) {
    let connected = state.registry.connected_devices();
    for batch in connected.chunks(CHECK_BATCH) {
        let ids: Vec<DeviceId> = batch.iter().map(|&(_, device_id)| device_id).collect();
        let found = match state.store.devices_by_id(&ids).await {
            Ok(found) => found.into_iter().map(|d| (d.id, d)).collect::<HashMap<_, _>>(),
            Err(e) => {
                tracing::warn!(error = %e, devices = ids.len(), "session check failed; trying again next interval");
                return;
            }
        };
        let now = now_ms();
        for &(user_id, device_id) in batch {
            match found.get(&device_id) {
                None => {
                    tracing::info!(user = user_id, device = device_id, "connected device was revoked; closing");
                    state.registry.kick_device(user_id, device_id, CloseReason::SESSION_REVOKED);
                }
                Some(device) if state.sessions.policy.is_expired(device.created_at, device.last_active_at, now) => {
                    tracing::info!(user = user_id, device = device_id, "connected device's session expired; closing");
                    state.registry.kick_device(user_id, device_id, SESSION_EXPIRED);
                }
                // An open connection is use (the idle timeout closes silent ones).
                Some(device) => state.sessions.note_use(device_id, device.last_active_at, now),
            }
        }
    }
}

/// Step 2: removes expired sessions, a batch at a time.
pub async fn sweep_expired_sessions(state: &AppState) {
    let (created_before, active_before) = state.sessions.policy.expired_bounds(now_ms());
    loop {
        match state.store.remove_expired_devices(created_before, active_before, SWEEP_BATCH).await {
            Ok(removed) => {
                for device in &removed {
                    state.registry.kick_device(device.user_id, device.id, SESSION_EXPIRED);
                }
                if !removed.is_empty() {
                    tracing::info!(devices = removed.len(), "removed expired sessions");
                }
                if removed.len() < SWEEP_BATCH as usize || state.shutdown.is_cancelled() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not remove expired sessions; trying again next interval");
                return;
            }
        }
    }
}
