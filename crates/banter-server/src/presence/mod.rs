//! Presence: who is online, and telling their contacts when that changes.
//!
//! A user is **online** while at least one of their devices is connected and
//! has sent something (any frame counts as a heartbeat) within the grace
//! period (`presence_grace`, default 30 s). A user goes offline only when
//! the grace runs out with no sign of life from any device, so a phone
//! switching networks does not flap; a device that vanished without closing
//! (killed app, dead TCP) is caught the same way, by its silence.
//!
//! The [`PresenceTracker`] keeps the live state and reports transitions; the
//! [`run_notifier`] task turns each transition into a `presence` frame for
//! the user's contacts (people sharing a direct conversation with them) and
//! records last-seen times in the store. [`LocalPresence`] is the embedded
//! tracker; [`ClusterPresence`] spans the nodes of a cluster through the
//! routing directory.

mod cluster;
mod local;

use std::sync::Arc;

use banter_protocol::{limits::MAX_PRESENCE_QUERY_USERS, Presence, ServerFrame, TimestampMs, UserId};
use futures_util::StreamExt;

pub use cluster::ClusterPresence;
pub use local::LocalPresence;

use crate::{dirty_set::LatestByKey, error::ApiResult, frame::encode, state::AppState};

/// Transitions waiting for the notifier, coalesced per user: a user's
/// latest change replaces one not yet taken, so a burst (a reconnect storm
/// of thousands of devices) never drops a change — contacts always end up
/// with each user's latest state — and memory is bounded by the number of
/// users, not by the event rate.
pub type PresenceChanges = LatestByKey<UserId, PresenceChange>;

/// A user went online or offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceChange {
    pub user_id: UserId,
    pub online: bool,
    /// The user's latest sign of life.
    pub last_seen_at: TimestampMs,
}

/// What the tracker knows about a user right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveState {
    pub online: bool,
    /// Open connections on the whole system (a device may have several).
    pub connections: u32,
    pub last_seen_at: TimestampMs,
}

/// Live presence state. Calls never block, except [`PresenceTracker::live`]
/// (cluster mode asks the routing directory, with a deadline); transitions
/// are reported on the channel given at construction.
#[async_trait::async_trait]
pub trait PresenceTracker: Send + Sync + 'static {
    /// A connection of `user_id` opened.
    fn connected(&self, user_id: UserId);
    /// A sign of life from one of the user's connections.
    fn heartbeat(&self, user_id: UserId);
    /// A connection of `user_id` closed. The user stays online until the
    /// grace period passes without a heartbeat from another device.
    fn disconnected(&self, user_id: UserId);
    /// The live state of each user the tracker knows; `None` for users with
    /// no recent activity (their last seen is in the store).
    async fn live(&self, user_ids: &[UserId]) -> Vec<Option<LiveState>>;
    /// Every user currently online with their last sign of life, to record
    /// last-seen times at shutdown.
    fn online_users(&self) -> Vec<(UserId, TimestampMs)>;
}

/// Presence of `user_ids` for `viewer`: only users sharing a conversation
/// with the viewer are reported (presence is not public).
pub async fn query(state: &AppState, viewer: UserId, user_ids: &[UserId]) -> ApiResult<Vec<Presence>> {
    let mut ids = user_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids.truncate(MAX_PRESENCE_QUERY_USERS);
    let related = state.store.related_users(viewer, &ids).await?;
    presence_of(state, &related).await
}

/// Live state merged with the stored last-seen times of `user_ids`, who
/// the caller has already established the viewer may see.
async fn presence_of(state: &AppState, user_ids: &[UserId]) -> ApiResult<Vec<Presence>> {
    let live = state.presence.live(user_ids).await;
    let stored = state.store.last_seen(user_ids).await?;
    let mut answer = Vec::with_capacity(user_ids.len());
    for (user_id, live) in user_ids.iter().zip(live) {
        let stored_seen = stored.iter().find(|(id, _)| id == user_id).and_then(|(_, at)| *at);
        answer.push(match live {
            Some(live) => Presence {
                user_id: *user_id,
                online: live.online,
                last_seen_at: Some(live.last_seen_at.max(stored_seen.unwrap_or(0))),
            },
            None => Presence { user_id: *user_id, online: false, last_seen_at: stored_seen },
        });
    }
    Ok(answer)
}

/// The presence of `user_id`'s contacts, for `hello`: a device that was
/// away missed the changes in between, and without this it would show
/// stale dots until each contact's next change. At most
/// [`MAX_PRESENCE_QUERY_USERS`] contacts (the same bound as
/// `GET /presence`); a client with more asks for the rest there.
pub async fn snapshot(state: &AppState, user_id: UserId) -> ApiResult<Vec<Presence>> {
    let mut contacts = state.store.contacts(user_id).await?;
    contacts.truncate(MAX_PRESENCE_QUERY_USERS);
    if contacts.is_empty() {
        return Ok(Vec::new());
    }
    // Contacts may see each other by definition: no relation check needed.
    presence_of(state, &contacts).await
}

/// Cluster mode: sends each user marked in `reachable` (their devices on
/// this node became reachable from every node, about a second after their
/// first connection here) their contacts' presence as it is now, one
/// `presence` frame per contact — the transitions in that second may have
/// passed them by, and sync does not recover presence. One snapshot (at
/// most [`MAX_PRESENCE_QUERY_USERS`] contacts) per user at a time.
pub async fn resend_on_reachable(state: Arc<AppState>, reachable: Arc<crate::dirty_set::DirtySet<UserId>>) {
    loop {
        let users = tokio::select! {
            () = state.shutdown.cancelled() => return,
            users = reachable.drain() => users,
        };
        for user_id in users {
            let presence = match snapshot(&state, user_id).await {
                Ok(presence) => presence,
                Err(e) => {
                    tracing::debug!(error = %e, user = user_id, "no presence snapshot for a reachable user");
                    continue;
                }
            };
            for p in presence {
                let frame = encode(&ServerFrame::Presence { user_id: p.user_id, online: p.online, last_seen_at: p.last_seen_at });
                state.registry.deliver_to_users(&[user_id], &frame, None);
            }
        }
    }
}

/// Consumes presence transitions until the channel closes: records last
/// seen for users going offline and tells each user's online contacts.
pub async fn run_notifier(state: Arc<AppState>, changes: Arc<PresenceChanges>) {
    loop {
        let batch = tokio::select! {
            () = state.shutdown.cancelled() => return,
            batch = changes.drain() => batch,
        };
        let offline: Vec<(UserId, TimestampMs)> =
            batch.iter().filter(|c| !c.online).map(|c| (c.user_id, c.last_seen_at)).collect();
        if !offline.is_empty() {
            if let Err(e) = state.store.record_last_seen(&offline).await {
                tracing::warn!(error = %e, "could not record last-seen times");
            }
        }
        // One change per user (the queue coalesces). Contacts are looked up
        // several at a time so a connect burst is worked off quickly.
        futures_util::stream::iter(batch)
            .for_each_concurrent(CONTACT_LOOKUPS_IN_FLIGHT, |change| notify_contacts(&state, change))
            .await;
    }
}

/// Contact lookups the notifier runs at once.
const CONTACT_LOOKUPS_IN_FLIGHT: usize = 16;

/// Sends one presence change to the user's contacts.
async fn notify_contacts(state: &AppState, change: PresenceChange) {
    let contacts = match state.store.contacts(change.user_id).await {
        Ok(contacts) => contacts,
        Err(e) => {
            tracing::warn!(error = %e, user = change.user_id, "could not load contacts for presence");
            return;
        }
    };
    if contacts.is_empty() {
        return;
    }
    let frame = encode(&ServerFrame::Presence { user_id: change.user_id, online: change.online, last_seen_at: Some(change.last_seen_at) });
    state.router.publish(&contacts, frame, None);
}
