//! Cluster routing over core NATS (no JetStream: nothing here is stored).
//!
//! **By node, not by user.** Each node subscribes once to its own subject,
//! `<prefix>.node.<node id>`, and to `<prefix>.all` (prefix `banter` by
//! default; distinct prefixes let several clusters share a NATS server).
//! Publishing an event for some users delivers it to this node's own
//! connections directly, looks up which other nodes hold the rest in the
//! routing directory (PostgreSQL, through a one-second cache: see
//! [`super::directory`]), and sends **one NATS message per node** that
//! holds recipients, naming them — nothing at all for users no node holds.
//! So a node's NATS traffic is what its own users receive, and its memory
//! per connection is the embedded figure: no subscription per user. If the
//! directory cannot be asked (database outage), the event goes to
//! `<prefix>.all` instead, which every node hears and filters by its
//! registry: slower, still correct.
//!
//! Each NATS message carries the frame as its payload (encoded once, never
//! re-encoded) and an envelope in headers: the origin node, the kind, the
//! creation time and the recipients (at most [`MAX_RECIPIENTS_PER_MESSAGE`]
//! per message). Revocations travel the same way, so logging out closes the
//! device's sockets on every node (and the periodic session check closes
//! them even if the event is lost).
//!
//! Best effort, like all routing: publishes are queued in an outbox bounded
//! in events and bytes
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
//! * a user was added to the directory for this node: publishers may have
//!   used an older answer for up to the cache's lifetime
//!   (`directory_joined`, sent once that has passed).
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
use banter_store::{NodeDirectory, NodeId};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::directory::{self, DirectoryWatcher, NodeCache};
use super::late_push::{self, LatePush};
use super::Router;
use crate::dirty_set::{DirtySet, LatestByKey};
use crate::frame::{encode, EncodedFrame};
use crate::push::{PushDispatcher, PushJob};
use crate::registry::{CloseReason, ConnectionId, ConnectionRegistry};
use crate::state::now_ms;

const HEADER_ORIGIN: &str = "Banter-Origin";
const HEADER_KIND: &str = "Banter-Kind";
const HEADER_USERS: &str = "Banter-Users";
const HEADER_DEVICE: &str = "Banter-Device";
const HEADER_CREATED: &str = "Banter-Created-Ms";
/// Recipients of this message who had no connection on the publishing
/// node, and the push job for them (see [`super::late_push`]).
const HEADER_PUSH_USERS: &str = "Banter-Push-Users";
const HEADER_PUSH_JOB: &str = "Banter-Push-Job";
const KIND_FRAME: &str = "frame";
const KIND_REVOKE: &str = "revoke";

/// Events queued for publishing before new ones are dropped.
const OUTBOX_CAPACITY: usize = 16 * 1024;
/// Bytes the queued events may hold (frames, recipient lists, push jobs),
/// so the outbox is bounded in bytes too: a burst of large messages is
/// dropped (and synced) rather than held.
const OUTBOX_BYTES: usize = 64 * 1024 * 1024;
/// Events the publishing task takes at once: their directory misses are
/// looked up in one query.
const PUBLISH_BATCH: usize = 256;
/// Messages the NATS client buffers for this node's subscriptions before it
/// drops them as a slow consumer; delivery into the registry never waits,
/// so this is only ever reached in bursts. The client bounds it in messages
/// only: in bytes at most this × the server's `max_payload` (1 MiB by
/// default), ~1 KiB × this for ordinary chat traffic.
const SUBSCRIPTION_CAPACITY: usize = 4 * 1024;
/// Recipients named in one NATS message (a longer list is split): bounds
/// the header a receiving node parses to ~12 KiB.
pub const MAX_RECIPIENTS_PER_MESSAGE: usize = 512;

/// A frame older than this (ms since it was published on its node) when it
/// arrives is dropped, and its recipients are told to resync.
pub const STALE_AFTER_MS: i64 = 3_000;
/// Resync frames go out at most this often (bursts coalesce).
const RESYNC_MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Who should resync, and why (the `reason` of the frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum ResyncTarget {
    Everyone,
    User(UserId),
}

pub(super) type Resyncs = LatestByKey<ResyncTarget, &'static str>;

/// Why the router could not start.
#[derive(Debug, thiserror::Error)]
pub enum NatsRouterError {
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect { url: String, source: async_nats::ConnectError },
    #[error("cannot subscribe on NATS: {0}")]
    Subscribe(String),
    #[error("cluster routing needs a shared store with a routing directory (PostgreSQL)")]
    NoDirectory,
}

/// Routes through NATS to the nodes holding each connection.
pub struct NatsRouter {
    node_id: NodeId,
    subjects: Subjects,
    registry: Arc<ConnectionRegistry>,
    outbox: mpsc::Sender<Queued>,
    /// Permits for [`OUTBOX_BYTES`]; each queued event holds its size's.
    outbox_bytes: Arc<tokio::sync::Semaphore>,
    client: async_nats::Client,
    directory: Arc<dyn NodeDirectory>,
    departures: Arc<DirtySet<UserId>>,
    reachable: Arc<DirtySet<UserId>>,
}

/// An event in the outbox, with the byte permits it holds until published.
type Queued = (Outgoing, tokio::sync::OwnedSemaphorePermit);

/// An event on its way to NATS.
enum Outgoing {
    /// `push`: a new message's members with no connection on this node;
    /// those no other node holds are notified.
    Frame { user_ids: Vec<UserId>, frame: EncodedFrame, created_ms: i64, push: Option<PushJob> },
    Revoke { user_id: UserId, device_id: DeviceId },
}

impl Outgoing {
    /// What it holds, for the outbox's byte bound.
    fn size(&self) -> usize {
        let push = |job: &Option<PushJob>| job.as_ref().map_or(0, |j| j.preview.len() + j.recipients.len() * 8);
        match self {
            Outgoing::Frame { user_ids, frame, push: job, .. } => frame.len() + user_ids.len() * 8 + push(job),
            Outgoing::Revoke { .. } => 16,
        }
    }

    fn user_ids(&self) -> &[UserId] {
        match self {
            Outgoing::Frame { user_ids, .. } => user_ids,
            Outgoing::Revoke { user_id, .. } => std::slice::from_ref(user_id),
        }
    }
}

impl NatsRouter {
    /// Connects to NATS (failing fast if it is unreachable now; later
    /// outages are retried forever), subscribes to this node's subjects and
    /// starts keeping `directory` true to `registry`.
    pub async fn connect(
        url: &str,
        subject_prefix: &str,
        registry: Arc<ConnectionRegistry>,
        directory: Arc<dyn NodeDirectory>,
        lease: Duration,
        push: PushDispatcher,
    ) -> Result<Arc<NatsRouter>, NatsRouterError> {
        let node_id: NodeId = rand::random();
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
        let subscribe = |subject: String| {
            let client = client.clone();
            async move { client.subscribe(subject).await.map_err(|e| NatsRouterError::Subscribe(e.to_string())) }
        };
        let own = subscribe(subjects.node(node_id)).await?;
        let all = subscribe(subjects.all()).await?;
        let late_push = LatePush::start(directory.clone(), node_id, push.clone());
        tokio::spawn(deliver_loop(futures_util::stream::select(own, all), node_id, registry.clone(), resyncs.clone(), late_push));
        let (outbox, outbox_rx) = mpsc::channel(OUTBOX_CAPACITY);
        tokio::spawn(publish_loop(client.clone(), subjects.clone(), node_id, directory.clone(), push, outbox_rx));
        let changed = Arc::new(DirtySet::default());
        let departures = Arc::new(DirtySet::default());
        let reachable = Arc::new(DirtySet::default());
        tokio::spawn(directory::maintain(
            directory.clone(),
            node_id,
            lease,
            registry.clone(),
            changed.clone(),
            resyncs.clone(),
            departures.clone(),
            reachable.clone(),
        ));
        tokio::spawn(resync_loop(registry.clone(), resyncs));
        registry.watch_users(Arc::new(DirectoryWatcher { changed }));
        tracing::info!(node = %format!("{node_id:016x}"), url = %crate::config::redacted_url(url), "routing over NATS");
        let outbox_bytes = Arc::new(tokio::sync::Semaphore::new(OUTBOX_BYTES));
        Ok(Arc::new(NatsRouter { node_id, subjects, registry, outbox, outbox_bytes, client, directory, departures, reachable }))
    }

    /// This node's id in envelopes and in the directory (random per process).
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The NATS connection, for other cluster services (presence).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The routing directory, for cluster presence.
    pub fn directory(&self) -> &Arc<dyn NodeDirectory> {
        &self.directory
    }

    /// Users whose directory entries went (see [`super::directory`]),
    /// drained by cluster presence.
    pub fn departures(&self) -> &Arc<DirtySet<UserId>> {
        &self.departures
    }

    /// Users that every other node can reach now, a cache lifetime after
    /// they were added to the directory for this node (see
    /// [`super::directory`]); what they missed meanwhile is recovered by
    /// sync, and their contacts' presence is sent again from these.
    pub fn reachable(&self) -> &Arc<DirtySet<UserId>> {
        &self.reachable
    }

    /// The subject prefix this cluster uses.
    pub fn subject_prefix(&self) -> &str {
        &self.subjects.prefix
    }

    fn enqueue(&self, event: Outgoing) {
        let size = u32::try_from(event.size()).unwrap_or(u32::MAX);
        let queued = self.outbox_bytes.clone().try_acquire_many_owned(size).ok().map(|permit| (event, permit));
        let full = match queued {
            Some(queued) => matches!(self.outbox.try_send(queued), Err(mpsc::error::TrySendError::Full(_))),
            None => true,
        };
        if full {
            // Best effort: the recipients on other nodes will sync.
            tracing::warn!("NATS outbox full; dropping a cross-node event");
            metrics::counter!(crate::metrics::ROUTER_DROPPED).increment(1);
        }
    }
}

impl Router for NatsRouter {
    fn publish(&self, user_ids: &[UserId], frame: EncodedFrame, skip: Option<ConnectionId>) {
        self.registry.deliver_to_users(user_ids, &frame, skip);
        self.enqueue(Outgoing::Frame { user_ids: user_ids.to_vec(), frame, created_ms: now_ms(), push: None });
    }

    fn publish_message(&self, user_ids: &[UserId], frame: EncodedFrame, skip: Option<ConnectionId>, push: Option<PushJob>) {
        self.registry.deliver_to_users(user_ids, &frame, skip);
        self.enqueue(Outgoing::Frame { user_ids: user_ids.to_vec(), frame, created_ms: now_ms(), push });
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
    /// The one subject a node hears its frames on.
    fn node(&self, node_id: NodeId) -> String {
        format!("{}.node.{node_id:016x}", self.prefix)
    }

    /// The subject every node hears (when the directory cannot answer).
    fn all(&self) -> String {
        format!("{}.all", self.prefix)
    }
}

/// Drains the outbox into NATS, one message per destination node. The
/// client buffers while disconnected and flushes on reconnect.
async fn publish_loop(
    client: async_nats::Client,
    subjects: Subjects,
    node_id: NodeId,
    directory: Arc<dyn NodeDirectory>,
    push: PushDispatcher,
    mut outbox: mpsc::Receiver<Queued>,
) {
    let mut cache = NodeCache::default();
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    let origin = node_id.to_string();
    loop {
        if outbox.recv_many(&mut batch, PUBLISH_BATCH).await == 0 {
            return;
        }
        cache.refresh(&*directory, batch.iter().flat_map(|(event, _)| event.user_ids().iter().copied())).await;
        let now = Instant::now();
        // Each event's byte permits go back once it is published.
        for (mut event, _permit) in batch.drain(..) {
            let mut headers = HeaderMap::new();
            headers.insert(HEADER_ORIGIN, origin.as_str());
            // Push candidates no node holds are pushed now; those another
            // node seems to hold travel with the frame, for that node to
            // check (the answer may be a second old).
            let mut handed_over: Option<(Vec<UserId>, String)> = None;
            if let Outgoing::Frame { push: job, .. } = &mut event {
                if let Some(job) = job.take() {
                    let (now_unreachable, elsewhere): (Vec<UserId>, Vec<UserId>) =
                        job.recipients.iter().partition(|user_id| unreachable(&cache, node_id, **user_id, now));
                    if !elsewhere.is_empty() {
                        handed_over = late_push::encode_job(&job).map(|header| (elsewhere, header));
                    }
                    if !now_unreachable.is_empty() {
                        push.enqueue(PushJob { recipients: now_unreachable, ..job });
                    }
                }
            }
            let payload = match &event {
                Outgoing::Frame { frame, created_ms, .. } => {
                    headers.insert(HEADER_KIND, KIND_FRAME);
                    headers.insert(HEADER_CREATED, created_ms.to_string().as_str());
                    frame.clone().into_bytes()
                }
                Outgoing::Revoke { device_id, .. } => {
                    headers.insert(HEADER_KIND, KIND_REVOKE);
                    headers.insert(HEADER_DEVICE, device_id.to_string().as_str());
                    Bytes::new()
                }
            };
            for (subject, users) in destinations(&cache, &subjects, node_id, event.user_ids(), now) {
                for chunk in users.chunks(MAX_RECIPIENTS_PER_MESSAGE) {
                    let mut headers = headers.clone();
                    headers.insert(HEADER_USERS, recipients_header(chunk).as_str());
                    if let Some((candidates, job)) = &handed_over {
                        let here: Vec<UserId> = chunk.iter().copied().filter(|u| candidates.contains(u)).collect();
                        if !here.is_empty() {
                            headers.insert(HEADER_PUSH_USERS, recipients_header(&here).as_str());
                            headers.insert(HEADER_PUSH_JOB, job.as_str());
                        }
                    }
                    if let Err(e) = client.publish_with_headers(subject.clone(), headers, payload.clone()).await {
                        tracing::debug!(error = %e, %subject, "NATS publish failed");
                    }
                }
            }
        }
    }
}

/// Where one event goes: each other node holding some of `user_ids`, with
/// those users; users without a fresh directory answer go to every node.
fn destinations(
    cache: &NodeCache,
    subjects: &Subjects,
    own: NodeId,
    user_ids: &[UserId],
    now: Instant,
) -> Vec<(String, Vec<UserId>)> {
    let mut by_node: HashMap<NodeId, Vec<UserId>> = HashMap::new();
    let mut unknown = Vec::new();
    for &user_id in user_ids {
        match cache.fresh(user_id, now) {
            Some(nodes) => {
                for &node in nodes.iter().filter(|n| **n != own) {
                    by_node.entry(node).or_default().push(user_id);
                }
            }
            None => unknown.push(user_id),
        }
    }
    let mut out: Vec<(String, Vec<UserId>)> =
        by_node.into_iter().map(|(node, users)| (subjects.node(node), users)).collect();
    if !unknown.is_empty() {
        metrics::counter!(crate::metrics::ROUTER_BROADCASTS).increment(1);
        out.push((subjects.all(), unknown));
    }
    out
}

/// Whether a push candidate (no connection on this node when its message
/// was stored) has no connection on any other node either. An unknown
/// answer (the directory could not be asked) counts as unreachable: a
/// notification too many beats a message nobody is told about.
fn unreachable(cache: &NodeCache, own: NodeId, user_id: UserId, now: Instant) -> bool {
    match cache.fresh(user_id, now) {
        Some(nodes) => nodes.iter().all(|n| *n == own),
        None => true,
    }
}

fn recipients_header(user_ids: &[UserId]) -> String {
    let mut header = String::with_capacity(user_ids.len() * 8);
    for (i, user_id) in user_ids.iter().enumerate() {
        if i > 0 {
            header.push(',');
        }
        header.push_str(&user_id.to_string());
    }
    header
}

/// The recipients of a NATS message; `None` if the header is missing or
/// malformed (the message is then ignored: it did not come from a node of
/// this version) or longer than [`MAX_RECIPIENTS_PER_MESSAGE`].
fn parse_recipients(header: &str) -> Option<Vec<UserId>> {
    let users: Vec<UserId> = header.split(',').map(|u| u.parse().ok()).collect::<Option<_>>()?;
    (users.len() <= MAX_RECIPIENTS_PER_MESSAGE).then_some(users)
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

/// Delivers the events other nodes send this node (on its own subject or
/// to all) into the registry.
async fn deliver_loop(
    mut messages: impl futures_util::Stream<Item = async_nats::Message> + Unpin,
    node_id: NodeId,
    registry: Arc<ConnectionRegistry>,
    resyncs: Arc<Resyncs>,
    late_push: LatePush,
) {
    while let Some(message) = messages.next().await {
        metrics::counter!(crate::metrics::NATS_RECEIVED_MESSAGES, "stream" => "router").increment(1);
        metrics::counter!(crate::metrics::NATS_RECEIVED_BYTES, "stream" => "router").increment(message.length as u64);
        let Some(headers) = message.headers.as_ref() else { continue };
        let header = |name: &str| headers.get(name).map(|v| v.as_str());
        let origin: Option<NodeId> = header(HEADER_ORIGIN).and_then(|v| v.parse().ok());
        if origin == Some(node_id) {
            // Our own event (only possible if echo were on): delivered already.
            continue;
        }
        let Some(user_ids) = header(HEADER_USERS).and_then(parse_recipients) else {
            tracing::debug!("ignoring a NATS event without a valid recipient list");
            continue;
        };
        match header(HEADER_KIND) {
            Some(KIND_FRAME) if is_stale(header(HEADER_CREATED).and_then(|v| v.parse().ok()), now_ms()) => {
                metrics::counter!(crate::metrics::ROUTER_STALE_DROPPED).increment(1);
                for user_id in user_ids {
                    resyncs.mark(ResyncTarget::User(user_id), "stale_events");
                }
            }
            Some(KIND_FRAME) => {
                match EncodedFrame::from_utf8(message.payload.clone()) {
                    // The skipped connection is the origin node's; none here.
                    Ok(frame) => registry.deliver_to_users(&user_ids, &frame, None),
                    Err(_) => tracing::warn!("dropping a non-UTF-8 frame from NATS"),
                }
                let candidates = header(HEADER_PUSH_USERS).and_then(parse_recipients).unwrap_or_default();
                let gone = registry.users_without_connection(&candidates);
                if let Some(job) = header(HEADER_PUSH_JOB).filter(|_| !gone.is_empty()).and_then(|h| late_push::decode_job(h, gone)) {
                    late_push.check(job);
                }
            }
            Some(KIND_REVOKE) => {
                if let Some(device_id) = header(HEADER_DEVICE).and_then(|v| v.parse().ok()) {
                    for user_id in user_ids {
                        registry.kick_device(user_id, device_id, CloseReason::SESSION_REVOKED);
                    }
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

    #[test]
    fn an_event_goes_once_to_each_other_node_holding_recipients_and_unknown_users_go_to_all() {
        let subjects = Subjects { prefix: "t".into() };
        let (own, other, third) = (1, 2, 3);
        let now = Instant::now();
        let mut cache = NodeCache::default();
        cache.insert(10, vec![own, other], now);
        cache.insert(11, vec![other], now);
        cache.insert(12, vec![], now);
        cache.insert(13, vec![third], now - directory::CACHE_TTL);
        let mut sent = destinations(&cache, &subjects, own, &[10, 11, 12, 13, 14], now);
        sent.sort();
        assert_eq!(
            sent,
            vec![
                ("t.all".to_owned(), vec![13, 14]),
                (subjects.node(other), vec![10, 11]),
            ],
            "own node skipped, nobody's users dropped, stale and unknown answers broadcast"
        );
        assert!(destinations(&cache, &subjects, own, &[12], now).is_empty(), "a user no node holds costs nothing");
    }

    #[test]
    fn a_recipient_list_round_trips_and_a_bad_or_overlong_one_is_refused() {
        let users: Vec<UserId> = vec![1, 42, 9_000_000_000];
        assert_eq!(parse_recipients(&recipients_header(&users)), Some(users));
        assert_eq!(parse_recipients("1,x,3"), None);
        assert_eq!(parse_recipients(""), None);
        let most: Vec<UserId> = (1..=MAX_RECIPIENTS_PER_MESSAGE as UserId).collect();
        assert!(parse_recipients(&recipients_header(&most)).is_some());
        let too_many: Vec<UserId> = (1..=MAX_RECIPIENTS_PER_MESSAGE as UserId + 1).collect();
        assert_eq!(parse_recipients(&recipients_header(&too_many)), None);
    }
}
