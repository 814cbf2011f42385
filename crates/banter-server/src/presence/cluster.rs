//! Presence shared by every node of a cluster, over core NATS.
//!
//! Each node tracks its own connections with a [`LocalPresence`] (same grace
//! and heartbeat rules as the embedded server) and announces, on the subject
//! `<prefix>.presence.<node>`, every user it holds as
//! `u <user> <connections> <last seen ms>` — when the user's connections on
//! the node change, and all of them together every third of the grace — and
//! `d <user>` once the user is offline there. Every node subscribes to
//! `<prefix>.presence.*` and keeps a mirror, so [`PresenceTracker::live`]
//! answers from memory: a user is online while *any* node has a fresh entry
//! for them — a user with devices on two nodes stays online until both are
//! gone.
//!
//! Entries expire: one not refreshed within the grace is dropped, which is
//! how a node that died (or was cut off) has its users go offline. That is
//! the semantics of a KV bucket with `max_age` = grace (Debian's nats-server
//! 2.9 has no per-key TTL), without the bucket: creating a KV bucket with
//! async-nats 0.51 against nats-server 2.9 failed here (the client could
//! not parse the server's answer: "data did not match any variant of
//! untagged enum Response"), and presence is soft state rebuilt from the
//! refreshes within a third of the grace anyway, so nothing is lost by not
//! storing it. A node that starts (or reconnects) learns the
//! whole cluster's state within one refresh period.
//!
//! Transitions (for contacts' `presence` frames and last-seen) are emitted
//! once, not once per node: a node reports a user online or offline when
//! its own view of the user changes and no other node holds the user; when
//! a node dies, the live node with the lowest id reports its users offline.
//! A rare race can report a transition twice, which clients absorb (a
//! presence frame is a state, not a delta).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use banter_protocol::{TimestampMs, UserId};
use futures_util::StreamExt;
use tokio::time::Instant;

use super::{LiveState, LocalPresence, PresenceChange, PresenceChanges, PresenceTracker};
use crate::dirty_set::DirtySet;
use crate::router::NatsRouterError;

/// Another node's view of one user.
#[derive(Debug, Clone, Copy)]
struct Remote {
    connections: u32,
    last_seen_at: TimestampMs,
    refreshed: Instant,
}

#[derive(Debug, Default)]
struct Mirror {
    /// user → node → entry, for other nodes only (this node's state is `local`).
    users: HashMap<UserId, HashMap<String, Remote>>,
    /// When each other node was last heard from.
    nodes: HashMap<String, Instant>,
}

/// The cluster presence tracker.
pub struct ClusterPresence {
    local: Arc<LocalPresence>,
    node: String,
    grace: Duration,
    mirror: Mutex<Mirror>,
    /// Users whose connections on this node changed: announce them.
    dirty: Arc<DirtySet<UserId>>,
    changes: Arc<PresenceChanges>,
}

impl ClusterPresence {
    /// Subscribes to the cluster's presence subject and starts the
    /// announcer, listener and sweeper tasks. Cluster transitions go to
    /// `changes`.
    pub async fn start(
        client: async_nats::Client,
        subject_prefix: &str,
        node_id: u64,
        grace: Duration,
        changes: Arc<PresenceChanges>,
    ) -> Result<Arc<ClusterPresence>, NatsRouterError> {
        let node = format!("{node_id:016x}");
        let subscriber = client
            .subscribe(format!("{subject_prefix}.presence.*"))
            .await
            .map_err(|e| NatsRouterError::Subscribe(e.to_string()))?;
        let local_changes = Arc::new(PresenceChanges::default());
        let dirty = Arc::new(DirtySet::default());
        let tracker = Arc::new(ClusterPresence {
            local: LocalPresence::start(grace, local_changes.clone()),
            node: node.clone(),
            grace,
            mirror: Mutex::new(Mirror::default()),
            dirty: dirty.clone(),
            changes,
        });
        let subject = format!("{subject_prefix}.presence.{node}");
        tokio::spawn(announce_loop(tracker.clone(), client, subject, local_changes, dirty));
        tokio::spawn(listen_loop(Arc::downgrade(&tracker), subscriber));
        tokio::spawn(sweep_loop(Arc::downgrade(&tracker)));
        Ok(tracker)
    }

    fn lock(&self) -> MutexGuard<'_, Mirror> {
        self.mirror.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether another node holds a fresh entry for the user.
    fn held_elsewhere(&self, user_id: UserId) -> bool {
        let fresh = Instant::now() - self.grace;
        self.lock().users.get(&user_id).is_some_and(|nodes| nodes.values().any(|r| r.refreshed >= fresh))
    }

    fn emit(&self, change: PresenceChange) {
        self.changes.mark(change.user_id, change);
    }

    /// Ages out entries of nodes that stopped refreshing; reports their
    /// users offline if this is the lowest live node and nobody holds them.
    fn sweep(&self) {
        let stale_before = Instant::now() - self.grace;
        let mut gone: Vec<(UserId, TimestampMs)> = Vec::new();
        let reporter = {
            let mut mirror = self.lock();
            mirror.nodes.retain(|_, refreshed| *refreshed >= stale_before);
            let reporter = mirror.nodes.keys().all(|other| *other > self.node);
            mirror.users.retain(|user_id, nodes| {
                let before = nodes.len();
                let last_seen = nodes.values().map(|r| r.last_seen_at).max().unwrap_or(0);
                nodes.retain(|_, r| r.refreshed >= stale_before);
                if before > 0 && nodes.is_empty() {
                    gone.push((*user_id, last_seen));
                }
                !nodes.is_empty()
            });
            reporter
        };
        if !reporter {
            return;
        }
        for (user_id, last_seen_at) in gone {
            let here = self.local.live(&[user_id])[0];
            if !here.is_some_and(|s| s.online) {
                self.emit(PresenceChange { user_id, online: false, last_seen_at });
            }
        }
    }

    /// Applies one announcement from another node to the mirror.
    fn apply(&self, node: &str, payload: &str) {
        if node == self.node {
            return;
        }
        let now = Instant::now();
        let mut mirror = self.lock();
        mirror.nodes.insert(node.to_owned(), now);
        for line in payload.lines() {
            let mut fields = line.split(' ');
            let (kind, user) = (fields.next(), fields.next().and_then(|u| u.parse::<UserId>().ok()));
            match (kind, user) {
                (Some("u"), Some(user_id)) => {
                    let connections = fields.next().and_then(|c| c.parse().ok()).unwrap_or(0);
                    let last_seen_at = fields.next().and_then(|t| t.parse().ok()).unwrap_or(0);
                    let remote = Remote { connections, last_seen_at, refreshed: now };
                    mirror.users.entry(user_id).or_default().insert(node.to_owned(), remote);
                }
                (Some("d"), Some(user_id)) => {
                    if let Some(nodes) = mirror.users.get_mut(&user_id) {
                        nodes.remove(node);
                        if nodes.is_empty() {
                            mirror.users.remove(&user_id);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

impl PresenceTracker for ClusterPresence {
    fn connected(&self, user_id: UserId) {
        self.local.connected(user_id);
        self.dirty.mark(user_id);
    }

    fn heartbeat(&self, user_id: UserId) {
        self.local.heartbeat(user_id);
    }

    fn disconnected(&self, user_id: UserId) {
        self.local.disconnected(user_id);
        self.dirty.mark(user_id);
    }

    fn live(&self, user_ids: &[UserId]) -> Vec<Option<LiveState>> {
        let here = self.local.live(user_ids);
        let fresh = Instant::now() - self.grace;
        let mirror = self.lock();
        user_ids
            .iter()
            .zip(here)
            .map(|(user_id, here)| {
                let remote: Vec<Remote> = mirror
                    .users
                    .get(user_id)
                    .map(|nodes| nodes.values().filter(|r| r.refreshed >= fresh).copied().collect())
                    .unwrap_or_default();
                if remote.is_empty() {
                    return here;
                }
                let connections: u32 = remote.iter().map(|r| r.connections).sum();
                let last_seen_at = remote.iter().map(|r| r.last_seen_at).max().unwrap_or(0);
                Some(LiveState {
                    online: true,
                    connections: connections + here.map_or(0, |h| h.connections),
                    last_seen_at: last_seen_at.max(here.map_or(0, |h| h.last_seen_at)),
                })
            })
            .collect()
    }

    fn online_users(&self) -> Vec<(UserId, TimestampMs)> {
        // This node's users only: each node records its own at shutdown.
        self.local.online_users()
    }
}

/// Announcements are cut into messages of at most this many bytes (NATS
/// refuses payloads over its `max_payload`, 1 MiB by default; a node with
/// 200k users has ~6 MB to say every refresh).
const ANNOUNCEMENT_MAX_BYTES: usize = 64 * 1024;

/// Announces this node's users: on local transitions, on connection
/// changes, and all of them every third of the grace (which also says the
/// node is alive).
async fn announce_loop(
    tracker: Arc<ClusterPresence>,
    client: async_nats::Client,
    subject: String,
    local: Arc<PresenceChanges>,
    dirty: Arc<DirtySet<UserId>>,
) {
    let mut refresh = tokio::time::interval((tracker.grace / 3).max(Duration::from_millis(100)));
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let lines: Vec<String> = tokio::select! {
            changes = local.drain() => changes
                .into_iter()
                .map(|change| {
                    let line = user_line(&tracker, change.user_id);
                    if !tracker.held_elsewhere(change.user_id) {
                        tracker.emit(change);
                    }
                    line
                })
                .collect(),
            users = dirty.drain() => users.into_iter().map(|user_id| user_line(&tracker, user_id)).collect(),
            _ = refresh.tick() => {
                let users = tracker.local.online_users();
                // Sent even when empty: it says this node is alive.
                std::iter::once("n".to_owned())
                    .chain(users.iter().map(|(user_id, _)| user_line(&tracker, *user_id)))
                    .collect()
            }
        };
        for payload in chunk_lines(&lines, ANNOUNCEMENT_MAX_BYTES) {
            if let Err(e) = client.publish(subject.clone(), payload.into()).await {
                // NATS is down: the next refresh says it all again.
                tracing::debug!(error = %e, "presence announcement not published");
            }
        }
    }
}

/// Joins lines with `\n` into payloads of at most `max_bytes` (a single
/// longer line gets a payload of its own).
fn chunk_lines(lines: &[String], max_bytes: usize) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut current = String::new();
    for line in lines {
        if !current.is_empty() && current.len() + line.len() + 1 > max_bytes {
            payloads.push(std::mem::take(&mut current));
        }
        current.push_str(line);
        current.push('\n');
    }
    if !current.is_empty() {
        payloads.push(current);
    }
    payloads
}

/// `u <user> <connections> <last seen>` if the user is live on this node,
/// `d <user>` otherwise.
fn user_line(tracker: &ClusterPresence, user_id: UserId) -> String {
    match tracker.local.live(&[user_id])[0] {
        Some(state) if state.online || state.connections > 0 => {
            format!("u {user_id} {} {}", state.connections, state.last_seen_at)
        }
        _ => format!("d {user_id}"),
    }
}

/// Feeds other nodes' announcements into the mirror.
async fn listen_loop(tracker: std::sync::Weak<ClusterPresence>, mut subscriber: async_nats::Subscriber) {
    while let Some(message) = subscriber.next().await {
        let Some(tracker) = tracker.upgrade() else { return };
        metrics::counter!(crate::metrics::NATS_RECEIVED_MESSAGES, "stream" => "presence").increment(1);
        metrics::counter!(crate::metrics::NATS_RECEIVED_BYTES, "stream" => "presence").increment(message.length as u64);
        let node = message.subject.rsplit('.').next().unwrap_or_default();
        match std::str::from_utf8(&message.payload) {
            Ok(payload) => tracker.apply(node, payload),
            Err(_) => tracing::debug!("ignoring a non-UTF-8 presence announcement"),
        }
    }
}

async fn sweep_loop(tracker: std::sync::Weak<ClusterPresence>) {
    let period = match tracker.upgrade() {
        Some(t) => (t.grace / 5).clamp(Duration::from_millis(50), Duration::from_secs(2)),
        None => return,
    };
    let mut ticks = tokio::time::interval(period);
    loop {
        ticks.tick().await;
        match tracker.upgrade() {
            Some(tracker) => tracker.sweep(),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::chunk_lines;

    #[test]
    fn announcements_are_cut_at_line_boundaries_under_the_limit() {
        let lines: Vec<String> = (0..10_000).map(|n| format!("u {n} 1 1795440873721")).collect();
        let payloads = chunk_lines(&lines, 4096);
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() <= 4096 && p.ends_with('\n')));
        let rejoined: Vec<&str> = payloads.iter().flat_map(|p| p.lines()).collect();
        assert_eq!(rejoined, lines.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn an_empty_refresh_is_still_one_payload() {
        assert_eq!(chunk_lines(&["n".to_owned()], 4096), vec!["n\n".to_owned()]);
    }
}
