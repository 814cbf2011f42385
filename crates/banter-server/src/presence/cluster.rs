//! Presence across the nodes of a cluster, from the routing directory:
//! nothing about presence is broadcast, so what a node hears grows with its
//! own users' contacts, never with the size of the cluster.
//!
//! Each node tracks its own connections with a [`LocalPresence`] (the same
//! grace and heartbeat rules as the embedded server). Which nodes hold
//! connections of a user is the routing directory's knowledge
//! (`router/directory.rs`). Transitions are decided where they happen and
//! reach the user's contacts as ordinary routed frames (by node, only to
//! nodes holding a contact):
//!
//! * **Online**: a user's first sign of life on a node is reported at once.
//!   If the user was already online through another node, contacts get a
//!   second `online`, which they absorb (a presence frame is a state, not a
//!   delta) — cheaper than a directory question on every connect.
//! * **Offline**: when a node's own view of a user turns offline (the grace
//!   ran out without a sign of life), it asks the directory whether another
//!   node holds a connection of the user, and reports offline only if none
//!   does (one query per batch of transitions).
//! * **Departures**: when a node's last connection of a user closes while
//!   it already saw the user offline (a silent connection that finally timed
//!   out), and when a dead node's entries are swept (by whichever node
//!   sweeps), the node asks again and reports a user nobody holds and who is
//!   not online here. A node removes its own entry *before* it asks, so of
//!   two nodes losing the same user at once at least one sees the other gone
//!   and reports: the user never stays online by mistake. A dead node's
//!   users go offline once its lease has run out and a sweep has run: within
//!   4/3 of `cluster_node_lease` (20 s by default, inside the 30 s grace).
//! * **Live state** for `GET /presence` and `hello`'s snapshot: this node's
//!   view for users online here, the directory for the others (online while
//!   some node holds a connection). One difference from the embedded
//!   server: a user whose last connection on *another* node closed less than
//!   a grace ago shows offline in these answers (their contacts' live
//!   frames still say online until the grace ends).
//!
//! A directory question that fails (database unreachable) is asked again a
//! second later: an offline is delayed, never invented.

use std::{collections::HashSet, sync::Arc, time::Duration};

use banter_protocol::{TimestampMs, UserId};
use banter_store::{NodeDirectory, NodeId};

use super::{LiveState, LocalPresence, PresenceChange, PresenceChanges, PresenceTracker};
use crate::dirty_set::DirtySet;
use crate::router::NatsRouter;
use crate::state::now_ms;

/// A failed question is asked again after this.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The cluster presence tracker.
pub struct ClusterPresence {
    local: Arc<LocalPresence>,
    node: NodeId,
    directory: Arc<dyn NodeDirectory>,
    changes: Arc<PresenceChanges>,
    /// Users to look at again (the router's departures, and failed asks).
    departures: Arc<DirtySet<UserId>>,
}

impl ClusterPresence {
    /// Starts the tracker beside `router`; cluster transitions go to
    /// `changes`.
    pub fn start(router: &NatsRouter, grace: Duration, changes: Arc<PresenceChanges>) -> Arc<ClusterPresence> {
        let local_changes = Arc::new(PresenceChanges::default());
        let tracker = Arc::new(ClusterPresence {
            local: LocalPresence::start(grace, local_changes.clone()),
            node: router.node_id(),
            directory: router.directory().clone(),
            changes,
            departures: router.departures().clone(),
        });
        tokio::spawn(transitions_loop(tracker.clone(), local_changes));
        tracker
    }

    fn emit(&self, change: PresenceChange) {
        self.changes.mark(change.user_id, change);
    }

    /// Which of `user_ids` another node holds a connection of; `None` if
    /// the directory could not answer in time.
    async fn held_elsewhere(&self, user_ids: &[UserId]) -> Option<HashSet<UserId>> {
        crate::router::directory::held_elsewhere(&*self.directory, self.node, user_ids).await
    }

    /// Reports each change (all offline) whose user no other node holds.
    async fn report_offline_unless_held(&self, offline: Vec<PresenceChange>) {
        if offline.is_empty() {
            return;
        }
        let user_ids: Vec<UserId> = offline.iter().map(|c| c.user_id).collect();
        match self.held_elsewhere(&user_ids).await {
            Some(held) => {
                for change in offline.into_iter().filter(|c| !held.contains(&c.user_id)) {
                    self.emit(change);
                }
            }
            None => {
                let departures = self.departures.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(RETRY_AFTER).await;
                    for user_id in user_ids {
                        departures.mark(user_id);
                    }
                });
            }
        }
    }
}

/// Turns this node's transitions and the departures into cluster
/// transitions (see the module doc).
async fn transitions_loop(tracker: Arc<ClusterPresence>, local: Arc<PresenceChanges>) {
    loop {
        let offline: Vec<PresenceChange> = tokio::select! {
            changes = local.drain() => {
                let (online, offline): (Vec<_>, Vec<_>) = changes.into_iter().partition(|c| c.online);
                for change in online {
                    tracker.emit(change);
                }
                offline
            }
            users = tracker.departures.drain() => {
                // Users online here are reported by their own transition
                // when this node's grace runs out.
                let states = tracker.local.live_now(&users);
                users
                    .into_iter()
                    .zip(states)
                    .filter(|(_, state)| !state.is_some_and(|s| s.online || s.connections > 0))
                    .map(|(user_id, state)| PresenceChange {
                        user_id,
                        online: false,
                        last_seen_at: state.map_or_else(now_ms, |s| s.last_seen_at),
                    })
                    .collect()
            }
        };
        tracker.report_offline_unless_held(offline).await;
    }
}

#[async_trait::async_trait]
impl PresenceTracker for ClusterPresence {
    fn connected(&self, user_id: UserId) {
        self.local.connected(user_id);
    }

    fn heartbeat(&self, user_id: UserId) {
        self.local.heartbeat(user_id);
    }

    fn disconnected(&self, user_id: UserId) {
        self.local.disconnected(user_id);
    }

    async fn live(&self, user_ids: &[UserId]) -> Vec<Option<LiveState>> {
        let here = self.local.live_now(user_ids);
        let elsewhere: Vec<UserId> =
            user_ids.iter().zip(&here).filter(|(_, h)| !h.is_some_and(|h| h.online)).map(|(id, _)| *id).collect();
        if elsewhere.is_empty() {
            return here;
        }
        let Some(held) = self.held_elsewhere(&elsewhere).await else { return here };
        let now = now_ms();
        user_ids
            .iter()
            .zip(here)
            .map(|(user_id, here)| match held.contains(user_id) {
                true => Some(LiveState {
                    online: true,
                    connections: here.map_or(0, |h| h.connections) + 1,
                    last_seen_at: now,
                }),
                false => here,
            })
            .collect()
    }

    fn online_users(&self) -> Vec<(UserId, TimestampMs)> {
        // This node's users only: each node records its own at shutdown.
        self.local.online_users()
    }
}
