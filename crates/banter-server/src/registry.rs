//! Which devices are connected to this node, and how to reach them.
//!
//! Each WebSocket connection registers a [`ConnectionHandle`]: a queue of
//! pre-encoded frames bounded in frames and bytes, and a way to close it.
//! Delivery never waits: if a connection's queue is full its consumer is too
//! slow, so its queued frames are dropped at once and it is closed with
//! [`close_code::SLOW_CONSUMER`]; it catches up by sync when it comes back.
//! Server memory per connection is therefore bounded by the queue's byte
//! bound (the whole per-connection formula is in SECURITY.md).
//!
//! In cluster mode the router must know which users this node holds (it
//! writes them to the routing directory): a [`UserWatcher`] hears when a user's
//! first connection arrives and when their last one leaves.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, OnceLock,
    },
};

use banter_protocol::{frames::close_code, DeviceId, UserId};

use crate::{
    frame::EncodedFrame,
    outbound::{OutboundQueue, Pushed},
};

/// Identifies one WebSocket connection (a device may have several, e.g. tabs).
pub type ConnectionId = u64;

/// Why the server closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: &'static str,
}

impl CloseReason {
    /// The session (device token) was revoked: logout or device removal.
    pub const SESSION_REVOKED: CloseReason = CloseReason { code: close_code::SESSION_REVOKED, reason: "session revoked" };
    /// The device does not read fast enough: its queue filled, an answer
    /// found no room within `write_timeout`, or a socket write took longer.
    pub const SLOW_CONSUMER: CloseReason =
        CloseReason { code: close_code::SLOW_CONSUMER, reason: "slow consumer: reconnect and sync" };
}

/// Told when a user starts and stops having connections on this node.
///
/// Called with the registry's lock held, so calls arrive in the order the
/// registry changed: an implementation must not block or call back into the
/// registry (queue the event instead).
pub trait UserWatcher: Send + Sync + std::fmt::Debug {
    /// The user's first connection on this node was registered.
    fn first_connection(&self, user_id: UserId);
    /// The user's last connection on this node was unregistered.
    fn last_connection_closed(&self, user_id: UserId);
}

/// A one-shot "please close" signal with the reason attached, and the
/// server's "shutting down: drain" signal.
///
/// A `Notify` and the reason, inside the connection's own allocation: no
/// token of its own (a `CancellationToken` is a separate ~110-byte
/// allocation per connection). The drain is told to each connection here
/// too ([`ConnectionRegistry::drain_all`]) rather than waited for on the
/// server's one shutdown token: polling that token's wait takes its lock,
/// one lock shared by every connection, on every frame read.
#[derive(Debug, Default)]
pub struct Kick {
    reason: OnceLock<CloseReason>,
    drain: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Kick {
    /// Asks the connection to close; the first reason given wins.
    pub fn kick(&self, reason: CloseReason) {
        let _ = self.reason.set(reason);
        self.notify.notify_waiters();
    }

    /// Whether the connection has been asked to close.
    pub fn is_kicked(&self) -> bool {
        self.reason.get().is_some()
    }

    /// Asks the connection to drain: the server is shutting down.
    pub fn drain(&self) {
        self.drain.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// Whether the connection has been asked to drain (an atomic load).
    pub fn is_draining(&self) -> bool {
        self.drain.load(Ordering::Acquire)
    }

    /// Resolves once the connection has been asked to drain.
    pub async fn draining(&self) {
        loop {
            // Registered before the check, as in `kicked`.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.drain.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// Resolves once the connection has been kicked.
    pub async fn kicked(&self) -> CloseReason {
        loop {
            // Registered before the check, so a kick between the two still
            // wakes this wait.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(reason) = self.reason.get() {
                return *reason;
            }
            notified.await;
        }
    }
}

/// How the rest of the server reaches one connection.
#[derive(Debug, Clone)]
pub struct ConnectionHandle {
    pub id: ConnectionId,
    pub device_id: DeviceId,
    pub outbound: Arc<OutboundQueue>,
    pub kick: Arc<Kick>,
}

impl ConnectionHandle {
    /// Queues a frame without waiting; a full queue closes the connection
    /// and drops what it held.
    pub fn deliver(&self, frame: EncodedFrame) {
        match self.outbound.try_push(frame) {
            Pushed::Queued | Pushed::Closed => {}
            Pushed::Full => {
                tracing::info!(connection = self.id, device = self.device_id, "slow consumer disconnected: queue full");
                metrics::counter!(crate::metrics::SLOW_CONSUMERS).increment(1);
                self.outbound.abandon();
                self.kick.kick(CloseReason::SLOW_CONSUMER);
            }
        }
    }
}

/// The connections on this node, by user.
#[derive(Debug, Default)]
pub struct ConnectionRegistry {
    by_user: Mutex<HashMap<UserId, Vec<ConnectionHandle>>>,
    /// The connections in `by_user`, kept beside it so that counting them
    /// (every `hello` does) costs no walk of the map.
    connections: AtomicUsize,
    next_id: AtomicU64,
    watcher: OnceLock<Arc<dyn UserWatcher>>,
}

impl ConnectionRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh connection id.
    pub fn next_connection_id(&self) -> ConnectionId {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Installs the one watcher (cluster routing). Users already connected
    /// are reported to it at once. Returns false if one was already set.
    pub fn watch_users(&self, watcher: Arc<dyn UserWatcher>) -> bool {
        let by_user = self.lock();
        if self.watcher.set(watcher.clone()).is_err() {
            return false;
        }
        for &user_id in by_user.keys() {
            watcher.first_connection(user_id);
        }
        true
    }

    pub fn register(&self, user_id: UserId, handle: ConnectionHandle) {
        let mut by_user = self.lock();
        let list = by_user.entry(user_id).or_default();
        list.push(handle);
        self.connections.fetch_add(1, Ordering::Relaxed);
        if list.len() == 1 {
            if let Some(watcher) = self.watcher.get() {
                watcher.first_connection(user_id);
            }
        }
    }

    pub fn unregister(&self, user_id: UserId, connection_id: ConnectionId) {
        let mut by_user = self.lock();
        if let Some(list) = by_user.get_mut(&user_id) {
            let before = list.len();
            list.retain(|h| h.id != connection_id);
            self.connections.fetch_sub(before - list.len(), Ordering::Relaxed);
            if list.is_empty() {
                by_user.remove(&user_id);
                if let Some(watcher) = self.watcher.get() {
                    watcher.last_connection_closed(user_id);
                }
            }
        }
    }

    /// Whether the user has a connection on this node.
    pub fn has_user(&self, user_id: UserId) -> bool {
        self.lock().contains_key(&user_id)
    }

    /// Those of `user_ids` with no connection on this node (one lock).
    pub fn users_without_connection(&self, user_ids: &[UserId]) -> Vec<UserId> {
        let by_user = self.lock();
        user_ids.iter().copied().filter(|id| !by_user.contains_key(id)).collect()
    }

    /// Every user with a connection on this node.
    pub fn users(&self) -> Vec<UserId> {
        self.lock().keys().copied().collect()
    }

    /// Delivers `frame` to every connection of every listed user, except the
    /// connection `skip` (the sender's own, which gets an ack instead).
    pub fn deliver_to_users(&self, user_ids: &[UserId], frame: &EncodedFrame, skip: Option<ConnectionId>) {
        let by_user = self.lock();
        for user_id in user_ids {
            for handle in by_user.get(user_id).into_iter().flatten() {
                if Some(handle.id) != skip {
                    handle.deliver(frame.clone());
                }
            }
        }
    }

    /// Delivers `frame` to every connection on this node.
    pub fn deliver_to_all(&self, frame: &EncodedFrame) {
        for handle in self.lock().values().flatten() {
            handle.deliver(frame.clone());
        }
    }

    /// Closes every connection of one device (its session was revoked).
    pub fn kick_device(&self, user_id: UserId, device_id: DeviceId, reason: CloseReason) {
        for handle in self.lock().get(&user_id).into_iter().flatten() {
            if handle.device_id == device_id {
                handle.kick.kick(reason);
            }
        }
    }

    /// Every device with a connection on this node, once each (the
    /// periodic session check reads them all in one batch).
    pub fn connected_devices(&self) -> Vec<(UserId, DeviceId)> {
        let mut devices: Vec<(UserId, DeviceId)> =
            self.lock().iter().flat_map(|(&user_id, handles)| handles.iter().map(move |h| (user_id, h.device_id))).collect();
        devices.sort_unstable();
        devices.dedup();
        devices
    }

    /// Closes every connection (shutdown).
    pub fn kick_all(&self, reason: CloseReason) {
        for handle in self.lock().values().flatten() {
            handle.kick.kick(reason);
        }
    }

    /// Asks every connection to drain (shutdown). Connections registered
    /// after this see the server's shutdown token cancelled and close.
    pub fn drain_all(&self) {
        for handle in self.lock().values().flatten() {
            handle.kick.drain();
        }
    }

    /// Number of open connections on this node.
    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Vec<ConnectionHandle>>> {
        // A poisoned lock only means another thread panicked mid-update of a
        // plain map; the map itself is still usable.
        self.by_user.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(registry: &ConnectionRegistry, device_id: DeviceId, capacity: usize) -> (ConnectionHandle, Arc<OutboundQueue>) {
        let queue = Arc::new(OutboundQueue::new(capacity, usize::MAX));
        let h = ConnectionHandle { id: registry.next_connection_id(), device_id, outbound: queue.clone(), kick: Arc::new(Kick::default()) };
        (h, queue)
    }

    #[tokio::test]
    async fn delivery_reaches_every_connection_of_each_user_but_the_skipped_one() {
        let registry = ConnectionRegistry::new();
        let (a1, a1_rx) = handle(&registry, 1, 4);
        let (a2, a2_rx) = handle(&registry, 2, 4);
        let (b1, b1_rx) = handle(&registry, 3, 4);
        registry.register(10, a1.clone());
        registry.register(10, a2);
        registry.register(20, b1);
        registry.deliver_to_users(&[10, 20], &EncodedFrame::text("x"), Some(a1.id));
        assert!(a1_rx.drain_now().is_empty());
        assert_eq!(a2_rx.drain_now(), vec![EncodedFrame::text("x")]);
        assert_eq!(b1_rx.drain_now(), vec![EncodedFrame::text("x")]);
    }

    #[tokio::test]
    async fn a_full_queue_kicks_the_connection_as_a_slow_consumer() {
        let registry = ConnectionRegistry::new();
        let (a, _rx) = handle(&registry, 1, 2);
        registry.register(10, a.clone());
        for _ in 0..3 {
            registry.deliver_to_users(&[10], &EncodedFrame::text("x"), None);
        }
        assert_eq!(a.kick.kicked().await.code, close_code::SLOW_CONSUMER);
        assert_eq!(a.outbound.held_bytes(), 0, "its frames were dropped at once");
    }

    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<(UserId, bool)>>);

    impl UserWatcher for Recorder {
        fn first_connection(&self, user_id: UserId) {
            self.0.lock().unwrap().push((user_id, true));
        }
        fn last_connection_closed(&self, user_id: UserId) {
            self.0.lock().unwrap().push((user_id, false));
        }
    }

    #[test]
    fn the_watcher_hears_only_a_users_first_arrival_and_last_departure() {
        let registry = ConnectionRegistry::new();
        let (early, _rx0) = handle(&registry, 9, 2);
        registry.register(5, early);
        let recorder = Arc::new(Recorder::default());
        assert!(registry.watch_users(recorder.clone()));
        let (a1, _rx1) = handle(&registry, 1, 2);
        let (a2, _rx2) = handle(&registry, 2, 2);
        registry.register(10, a1.clone());
        registry.register(10, a2.clone());
        registry.unregister(10, a1.id);
        registry.unregister(10, a2.id);
        registry.register(10, a1.clone());
        assert_eq!(*recorder.0.lock().unwrap(), vec![(5, true), (10, true), (10, false), (10, true)]);
        assert!(!registry.watch_users(recorder), "only one watcher");
    }

    #[tokio::test]
    async fn drain_all_tells_every_connection_and_a_drain_is_not_a_kick() {
        let registry = ConnectionRegistry::new();
        let (a, _rx1) = handle(&registry, 1, 2);
        let (b, _rx2) = handle(&registry, 2, 2);
        registry.register(10, a.clone());
        registry.register(11, b.clone());
        // A wait that began before the drain is woken by it.
        let waiting = tokio::spawn({
            let kick = a.kick.clone();
            async move { kick.draining().await }
        });
        tokio::task::yield_now().await;
        assert!(!a.kick.is_draining());
        registry.drain_all();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await.expect("woken").expect("task");
        // And one that begins after it returns at once.
        tokio::time::timeout(std::time::Duration::from_secs(5), b.kick.draining()).await.expect("drained");
        assert!(a.kick.is_draining() && b.kick.is_draining());
        assert!(!a.kick.is_kicked(), "draining, not closed");
    }

    #[test]
    fn unregistering_the_last_connection_forgets_the_user() {
        let registry = ConnectionRegistry::new();
        let (a, _rx) = handle(&registry, 1, 2);
        registry.register(10, a.clone());
        let (b, _rx2) = handle(&registry, 2, 2);
        registry.register(10, b.clone());
        assert_eq!(registry.connection_count(), 2);
        registry.unregister(10, a.id);
        assert_eq!(registry.connection_count(), 1);
        registry.unregister(10, a.id);
        assert_eq!(registry.connection_count(), 1, "a connection unregistered twice is counted off once");
        registry.unregister(10, b.id);
        assert_eq!(registry.connection_count(), 0);
        assert!(!registry.has_user(10));
    }
}
