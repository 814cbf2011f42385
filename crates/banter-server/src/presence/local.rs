//! The embedded presence tracker: one map on this node.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, Weak},
    time::Duration,
};

use banter_protocol::{TimestampMs, UserId};
use tokio::time::Instant;

use super::{LiveState, PresenceChange, PresenceChanges, PresenceTracker};
use crate::state::now_ms;

#[derive(Debug)]
struct Entry {
    connections: u32,
    online: bool,
    last_beat: Instant,
    last_beat_ms: TimestampMs,
}

/// Presence for a single node: every connection is on this process.
///
/// A sweeper task (stopped when the tracker is dropped) turns users offline
/// once `grace` has passed without a heartbeat, and forgets users with no
/// connection left.
pub struct LocalPresence {
    users: Mutex<HashMap<UserId, Entry>>,
    grace: Duration,
    changes: Arc<PresenceChanges>,
}

impl LocalPresence {
    /// Starts the tracker and its sweeper. Transitions go to `changes`.
    pub fn start(grace: Duration, changes: Arc<PresenceChanges>) -> Arc<LocalPresence> {
        let tracker = Arc::new(LocalPresence { users: Mutex::new(HashMap::new()), grace, changes });
        let weak = Arc::downgrade(&tracker);
        // Sweeping at a fifth of the grace bounds the lateness of an offline
        // transition to 20 % of the grace.
        let period = (grace / 5).clamp(Duration::from_millis(50), Duration::from_secs(2));
        tokio::spawn(sweep_forever(weak, period));
        tracker
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<UserId, Entry>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, change: PresenceChange) {
        self.changes.mark(change.user_id, change);
    }

    /// Marks users silent for longer than the grace offline.
    fn sweep(&self) {
        let now = Instant::now();
        let mut gone_offline = Vec::new();
        {
            let mut users = self.lock();
            users.retain(|user_id, entry| {
                if entry.online && now.duration_since(entry.last_beat) > self.grace {
                    entry.online = false;
                    gone_offline.push(PresenceChange { user_id: *user_id, online: false, last_seen_at: entry.last_beat_ms });
                }
                entry.online || entry.connections > 0
            });
        }
        for change in gone_offline {
            self.emit(change);
        }
    }

    /// The live state of each user, from memory.
    pub fn live_now(&self, user_ids: &[UserId]) -> Vec<Option<LiveState>> {
        let users = self.lock();
        user_ids
            .iter()
            .map(|id| {
                users.get(id).map(|e| LiveState {
                    online: e.online,
                    connections: e.connections,
                    last_seen_at: e.last_beat_ms,
                })
            })
            .collect()
    }

    /// Records a heartbeat; returns the change if the user just came online.
    fn beat(entry: &mut Entry, user_id: UserId) -> Option<PresenceChange> {
        entry.last_beat = Instant::now();
        entry.last_beat_ms = now_ms();
        if entry.online || entry.connections == 0 {
            return None;
        }
        entry.online = true;
        Some(PresenceChange { user_id, online: true, last_seen_at: entry.last_beat_ms })
    }
}

async fn sweep_forever(tracker: Weak<LocalPresence>, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match tracker.upgrade() {
            Some(tracker) => tracker.sweep(),
            None => return,
        }
    }
}

#[async_trait::async_trait]
impl PresenceTracker for LocalPresence {
    fn connected(&self, user_id: UserId) {
        let change = {
            let mut users = self.lock();
            let entry = users.entry(user_id).or_insert_with(|| Entry {
                connections: 0,
                online: false,
                last_beat: Instant::now(),
                last_beat_ms: now_ms(),
            });
            entry.connections += 1;
            Self::beat(entry, user_id)
        };
        if let Some(change) = change {
            self.emit(change);
        }
    }

    fn heartbeat(&self, user_id: UserId) {
        let change = self.lock().get_mut(&user_id).and_then(|entry| Self::beat(entry, user_id));
        if let Some(change) = change {
            self.emit(change);
        }
    }

    fn disconnected(&self, user_id: UserId) {
        if let Some(entry) = self.lock().get_mut(&user_id) {
            entry.connections = entry.connections.saturating_sub(1);
            // Leaving is a sign of life too: last seen is now.
            entry.last_beat = Instant::now();
            entry.last_beat_ms = now_ms();
        }
    }

    async fn live(&self, user_ids: &[UserId]) -> Vec<Option<LiveState>> {
        self.live_now(user_ids)
    }

    fn online_users(&self) -> Vec<(UserId, TimestampMs)> {
        self.lock().iter().filter(|(_, e)| e.online).map(|(id, e)| (*id, e.last_beat_ms)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(grace_ms: u64) -> (Arc<LocalPresence>, Changes) {
        let changes = Arc::new(PresenceChanges::default());
        (LocalPresence::start(Duration::from_millis(grace_ms), changes.clone()), Changes(changes))
    }

    /// The queue as the tests read it: one change at a time.
    struct Changes(Arc<PresenceChanges>);

    impl Changes {
        async fn recv(&mut self) -> Option<PresenceChange> {
            let mut all = self.0.drain().await;
            assert_eq!(all.len(), 1, "one change at a time here: {all:?}");
            all.pop()
        }

        fn try_recv(&mut self) -> Result<PresenceChange, ()> {
            let mut all = self.0.take_now();
            assert!(all.len() <= 1, "one change at a time here: {all:?}");
            all.pop().ok_or(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn online_on_first_connection_offline_after_the_grace() {
        let (presence, mut changes) = tracker(1_000);
        presence.connected(7);
        presence.connected(7);
        let first = changes.recv().await.unwrap();
        assert_eq!((first.user_id, first.online), (7, true));
        presence.disconnected(7);
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            presence.heartbeat(7);
        }
        assert!(changes.try_recv().is_err(), "the other device is connected and heartbeating");
        assert!(presence.live_now(&[7])[0].unwrap().online);
        presence.heartbeat(7);
        presence.disconnected(7);
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(changes.try_recv().is_err(), "still inside the grace");
        tokio::time::sleep(Duration::from_millis(800)).await;
        let offline = changes.try_recv().unwrap();
        assert_eq!((offline.user_id, offline.online), (7, false));
        assert_eq!(presence.live_now(&[7]), vec![None], "forgotten once offline with no connection");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reconnect_within_the_grace_does_not_flap() {
        let (presence, mut changes) = tracker(1_000);
        presence.connected(1);
        assert!(changes.recv().await.unwrap().online);
        presence.disconnected(1);
        tokio::time::sleep(Duration::from_millis(500)).await;
        presence.connected(1);
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        // The connection is silent for 2 s > grace: it counts as gone.
        let change = changes.try_recv().unwrap();
        assert!(!change.online, "a silent connection goes offline: {change:?}");
        assert!(changes.try_recv().is_err(), "no online/offline flap in between");
        presence.heartbeat(1);
        assert!(changes.recv().await.unwrap().online, "a heartbeat after silence is online again");
    }
}
