//! Cluster routing over core NATS (no JetStream: nothing here is stored).
//!
//! Each user has a subject, `<prefix>.user.<id>` (prefix `banter` by
//! default; distinct prefixes let several clusters share a NATS server). A node subscribes to the
//! subjects of the users connected to it — when a user's first connection
//! arrives, and unsubscribes when the last one leaves (the registry's
//! [`UserWatcher`] events, applied in order by one task). Publishing an event
//! for some users delivers it to this node's own connections directly, then
//! publishes it on each user's subject for the other nodes; the connection
//! is opened with `no_echo`, so a node never gets its own events back.
//!
//! Each NATS message carries the frame as its payload (encoded once, never
//! re-encoded) and an envelope in headers: the origin node and, for a send,
//! the origin connection to skip. Connection ids are per node, so `skip`
//! only ever applies on the origin node — which delivers there itself.
//! Revocations travel the same way, so logging out closes the device's
//! sockets on every node.
//!
//! Best effort, like all routing: publishes are queued in a bounded outbox
//! (full → dropped and logged), NATS outages are ridden out by the client's
//! reconnect loop (it re-subscribes by itself), and whatever was missed in
//! between is recovered by sync.
//!
//! The server tells a connection to sync (a `resync` frame) whenever it
//! knows live events may have passed it by, rather than leaving a quiet
//! conversation stale until the device's next reconnect:
//! * the NATS connection came back after an outage (events published
//!   meanwhile by other nodes never arrived): every connection here;
//! * a frame arrived more than [`STALE_AFTER_MS`] after it was created
//!   (the client library flushing its buffer after a reconnect): it is
//!   dropped rather than replayed — a burst of old frames helps nobody and
//!   delays the new ones — and its recipients resync instead;
//! * a user's subscription became active: the first connection's `hello`
//!   went out before it, so events in between were not received.
//!
//! Resyncs are coalesced and sent at most once per [`RESYNC_MIN_INTERVAL`].
//! The age check compares clocks of two nodes: keep them NTP-synchronised
//! (a skew of a second is harmless; one beyond the bound drops live frames
//! from the lagging node, and sync still delivers them).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use banter_protocol::{DeviceId, UserId};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Router;
use crate::dirty_set::{DirtySet, LatestByKey};
use crate::frame::{encode, EncodedFrame};
use crate::state::now_ms;
use crate::registry::{CloseReason, ConnectionId, ConnectionRegistry, UserWatcher};

const HEADER_ORIGIN: &str = "Banter-Origin";
const HEADER_KIND: &str = "Banter-Kind";
const HEADER_SKIP: &str = "Banter-Skip";
const HEADER_DEVICE: &str = "Banter-Device";
const HEADER_CREATED: &str = "Banter-Created-Ms";
const KIND_FRAME: &str = "frame";
const KIND_REVOKE: &str = "revoke";

/// Events queued for publishing before new ones are dropped.
const OUTBOX_CAPACITY: usize = 16 * 1024;
/// Messages the NATS client buffers per subscription (per user) before it
/// drops them as a slow consumer; delivery into the registry never waits,
/// so this is only ever reached in bursts.
const SUBSCRIPTION_CAPACITY: usize = 1024;

/// A frame older than this (ms since it was published on its node) when it
/// arrives is dropped, and its recipients are told to resync.
pub const STALE_AFTER_MS: i64 = 3_000;
/// Resync frames go out at most this often (bursts coalesce).
const RESYNC_MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Who should resync, and why (the `reason` of the frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ResyncTarget {
    Everyone,
    User(UserId),
}

type Resyncs = LatestByKey<ResyncTarget, &'static str>;

/// Why the router could not start.
#[derive(Debug, thiserror::Error)]
pub enum NatsRouterError {
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect { url: String, source: async_nats::ConnectError },
    #[error("cannot subscribe on NATS: {0}")]
    Subscribe(String),
}

/// Routes through NATS to the node holding each connection.
pub struct NatsRouter {
    node_id: u64,
    subjects: Subjects,
    registry: Arc<ConnectionRegistry>,
    outbox: mpsc::Sender<Outgoing>,
    client: async_nats::Client,
}

/// An event on its way to NATS.
enum Outgoing {
    Frame { user_ids: Vec<UserId>, frame: EncodedFrame, skip: Option<ConnectionId>, created_ms: i64 },
    Revoke { user_id: UserId, device_id: DeviceId },
}

impl NatsRouter {
    /// Connects to NATS (failing fast if it is unreachable now; later
    /// outages are retried forever) and starts following `registry`.
    pub async fn connect(
        url: &str,
        subject_prefix: &str,
        registry: Arc<ConnectionRegistry>,
    ) -> Result<Arc<NatsRouter>, NatsRouterError> {
        let node_id: u64 = rand::random();
        let subjects = Subjects { prefix: subject_prefix.to_owned() };
        let resyncs = Arc::new(Resyncs::default());
        let on_event = resyncs.clone();
        let client = async_nats::ConnectOptions::new()
            .name(format!("banter-node-{node_id:016x}"))
            .no_echo()
            .max_reconnects(None)
            .reconnect_delay_callback(|attempts| Duration::from_millis((attempts as u64 * 100).min(2_000)))
            .subscription_capacity(SUBSCRIPTION_CAPACITY)
            .event_callback(move |event| {
                if matches!(event, async_nats::Event::Connected) {
                    // Back after an outage (or the first connect, when
                    // nobody is connected yet): whatever other nodes
                    // published meanwhile never reached us.
                    on_event.mark(ResyncTarget::Everyone, "bus_reconnected");
                }
                async move { tracing::info!(%event, "NATS connection event") }
            })
            .connect(url)
            .await
            .map_err(|source| NatsRouterError::Connect { url: crate::config::redacted_url(url), source })?;
        let (outbox, outbox_rx) = mpsc::channel(OUTBOX_CAPACITY);
        tokio::spawn(publish_loop(client.clone(), subjects.clone(), node_id, outbox_rx));
        let changed = Arc::new(DirtySet::default());
        tokio::spawn(subscription_loop(
            client.clone(),
            subjects.clone(),
            node_id,
            registry.clone(),
            changed.clone(),
            resyncs.clone(),
        ));
        tokio::spawn(resync_loop(registry.clone(), resyncs));
        registry.watch_users(Arc::new(SubscriptionWatcher { changed }));
        tracing::info!(node = %format!("{node_id:016x}"), url = %crate::config::redacted_url(url), "routing over NATS");
        Ok(Arc::new(NatsRouter { node_id, subjects, registry, outbox, client }))
    }

    /// This node's id in envelopes (random per process).
    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// The NATS connection, for other cluster services (presence).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The subject prefix this cluster uses.
    pub fn subject_prefix(&self) -> &str {
        &self.subjects.prefix
    }

    fn enqueue(&self, event: Outgoing) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.outbox.try_send(event) {
            // Best effort: the recipients on other nodes will sync.
            tracing::warn!("NATS outbox full; dropping a cross-node event");
            metrics::counter!(crate::metrics::ROUTER_DROPPED).increment(1);
        }
    }
}

impl Router for NatsRouter {
    fn publish(&self, user_ids: &[UserId], frame: EncodedFrame, skip: Option<ConnectionId>) {
        self.registry.deliver_to_users(user_ids, &frame, skip);
        self.enqueue(Outgoing::Frame { user_ids: user_ids.to_vec(), frame, skip, created_ms: now_ms() });
    }

    fn revoke_device(&self, user_id: UserId, device_id: DeviceId) {
        self.registry.kick_device(user_id, device_id, CloseReason::SESSION_REVOKED);
        self.enqueue(Outgoing::Revoke { user_id, device_id });
    }
}

/// Names the subjects of one cluster.
#[derive(Debug, Clone)]
struct Subjects {
    prefix: String,
}

impl Subjects {
    fn user(&self, user_id: UserId) -> String {
        format!("{}.user.{user_id}", self.prefix)
    }
}

/// Drains the outbox into NATS. The client buffers while disconnected and
/// flushes on reconnect.
async fn publish_loop(
    client: async_nats::Client,
    subjects: Subjects,
    node_id: u64,
    mut outbox: mpsc::Receiver<Outgoing>,
) {
    while let Some(event) = outbox.recv().await {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_ORIGIN, node_id.to_string().as_str());
        let (user_ids, payload) = match event {
            Outgoing::Frame { user_ids, frame, skip, created_ms } => {
                headers.insert(HEADER_KIND, KIND_FRAME);
                headers.insert(HEADER_CREATED, created_ms.to_string().as_str());
                if let Some(skip) = skip {
                    headers.insert(HEADER_SKIP, skip.to_string().as_str());
                }
                (user_ids, frame.into_bytes())
            }
            Outgoing::Revoke { user_id, device_id } => {
                headers.insert(HEADER_KIND, KIND_REVOKE);
                headers.insert(HEADER_DEVICE, device_id.to_string().as_str());
                (vec![user_id], Bytes::new())
            }
        };
        for user_id in user_ids {
            if let Err(e) = client.publish_with_headers(subjects.user(user_id), headers.clone(), payload.clone()).await {
                tracing::debug!(error = %e, user = user_id, "NATS publish failed");
            }
        }
    }
}

/// Tells [`subscription_loop`] which users' connections on this node changed.
#[derive(Debug)]
struct SubscriptionWatcher {
    changed: Arc<DirtySet<UserId>>,
}

impl UserWatcher for SubscriptionWatcher {
    fn first_connection(&self, user_id: UserId) {
        self.changed.mark(user_id);
    }

    fn last_connection_closed(&self, user_id: UserId) {
        self.changed.mark(user_id);
    }
}

/// Keeps this node subscribed to exactly the users it holds: for each user
/// whose connections changed, compares the registry with the subscriptions
/// (so subscribe / unsubscribe / subscribe of a reconnecting user ends
/// subscribed, whatever the interleaving).
async fn subscription_loop(
    client: async_nats::Client,
    subjects: Subjects,
    node_id: u64,
    registry: Arc<ConnectionRegistry>,
    changed: Arc<DirtySet<UserId>>,
    resyncs: Arc<Resyncs>,
) {
    let mut subscribed: HashMap<UserId, CancellationToken> = HashMap::new();
    loop {
        let mut started = Vec::new();
        for user_id in changed.drain().await {
            let held = registry.has_user(user_id);
            if !held {
                if let Some(stop) = subscribed.remove(&user_id) {
                    stop.cancel();
                }
                continue;
            }
            if subscribed.contains_key(&user_id) {
                continue;
            }
            match client.subscribe(subjects.user(user_id)).await {
                Ok(subscriber) => {
                    let stop = CancellationToken::new();
                    subscribed.insert(user_id, stop.clone());
                    tokio::spawn(deliver_loop(subscriber, stop, node_id, registry.clone(), user_id, resyncs.clone()));
                    started.push(user_id);
                }
                Err(e) => tracing::warn!(error = %e, user = user_id, "NATS subscribe failed"),
            }
        }
        if !started.is_empty() {
            // Once the server has the subscriptions (one round trip for the
            // batch), anything published from now on arrives; what was
            // published since these users' `hello` may not have.
            if let Err(e) = client.flush().await {
                tracing::debug!(error = %e, "NATS flush after subscribing failed");
            }
            for user_id in started {
                resyncs.mark(ResyncTarget::User(user_id), "subscription_started");
            }
        }
    }
}

/// Sends the `resync` frames marked by the other loops, coalesced, at most
/// once per [`RESYNC_MIN_INTERVAL`].
async fn resync_loop(registry: Arc<ConnectionRegistry>, resyncs: Arc<Resyncs>) {
    loop {
        let mut by_reason: HashMap<&'static str, Vec<UserId>> = HashMap::new();
        let mut everyone = None;
        let marked = resyncs.drain_keyed().await;
        for (target, reason) in marked {
            match target {
                ResyncTarget::Everyone => everyone = Some(reason),
                ResyncTarget::User(user_id) => by_reason.entry(reason).or_default().push(user_id),
            }
        }
        if let Some(reason) = everyone {
            metrics::counter!(crate::metrics::RESYNCS_SENT, "reason" => reason).increment(1);
            registry.deliver_to_all(&resync_frame(reason));
        } else {
            for (reason, user_ids) in by_reason {
                metrics::counter!(crate::metrics::RESYNCS_SENT, "reason" => reason).increment(user_ids.len() as u64);
                registry.deliver_to_users(&user_ids, &resync_frame(reason), None);
            }
        }
        tokio::time::sleep(RESYNC_MIN_INTERVAL).await;
    }
}

fn resync_frame(reason: &str) -> EncodedFrame {
    encode(&banter_protocol::ServerFrame::Resync { reason: reason.to_owned() })
}

/// Delivers one user's events from other nodes into this node's registry.
async fn deliver_loop(
    mut subscriber: async_nats::Subscriber,
    stop: CancellationToken,
    node_id: u64,
    registry: Arc<ConnectionRegistry>,
    user_id: UserId,
    resyncs: Arc<Resyncs>,
) {
    loop {
        let message = tokio::select! {
            () = stop.cancelled() => {
                let _ = subscriber.unsubscribe().await;
                return;
            }
            message = subscriber.next() => match message {
                Some(message) => message,
                None => return,
            },
        };
        let Some(headers) = message.headers.as_ref() else { continue };
        let header = |name: &str| headers.get(name).map(|v| v.as_str().to_owned());
        let origin: Option<u64> = header(HEADER_ORIGIN).and_then(|v| v.parse().ok());
        if origin == Some(node_id) {
            // Our own event (only possible if echo were on): delivered already.
            continue;
        }
        match header(HEADER_KIND).as_deref() {
            Some(KIND_FRAME) if is_stale(header(HEADER_CREATED).and_then(|v| v.parse().ok()), now_ms()) => {
                metrics::counter!(crate::metrics::ROUTER_STALE_DROPPED).increment(1);
                resyncs.mark(ResyncTarget::User(user_id), "stale_events");
            }
            Some(KIND_FRAME) => match EncodedFrame::from_utf8(message.payload) {
                // The skipped connection is the origin node's; none here.
                Ok(frame) => registry.deliver_to_users(&[user_id], &frame, None),
                Err(_) => tracing::warn!(user = user_id, "dropping a non-UTF-8 frame from NATS"),
            },
            Some(KIND_REVOKE) => {
                if let Some(device_id) = header(HEADER_DEVICE).and_then(|v| v.parse().ok()) {
                    registry.kick_device(user_id, device_id, CloseReason::SESSION_REVOKED);
                }
            }
            other => tracing::debug!(kind = ?other, "ignoring an unknown NATS event"),
        }
    }
}

/// Whether a frame created at `created_ms` (on its node's clock) is too old
/// to deliver live at `now_ms`. Frames without the header (older nodes
/// during a rolling upgrade) are delivered.
fn is_stale(created_ms: Option<i64>, now_ms: i64) -> bool {
    created_ms.is_some_and(|created| now_ms.saturating_sub(created) > STALE_AFTER_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_frames_older_than_the_bound_are_stale() {
        assert!(!is_stale(None, 10_000), "no header: delivered");
        assert!(!is_stale(Some(10_000), 10_000 + STALE_AFTER_MS));
        assert!(is_stale(Some(10_000), 10_001 + STALE_AFTER_MS));
        assert!(!is_stale(Some(20_000), 10_000), "a clock ahead of ours is not stale");
    }
}
