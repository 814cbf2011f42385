//! Push notifications for users with no connected device.
//!
//! After a message is stored and fanned out, [`crate::messaging`] hands the
//! members that no device of theirs is connected for to the
//! [`PushDispatcher`]. Nothing here can slow message delivery: the hand-off
//! is a non-blocking `try_send` into a bounded queue of small jobs (the
//! preview, not the message), and a full queue drops the notification
//! (logged) — the message itself is safe and arrives by sync.
//!
//! The dispatcher prepares jobs concurrently (a few at a time: loading the
//! subscriptions, skipping members who muted the conversation, building one
//! [`PushPayload`]) and hands each subscription to [`delivery`], which
//! sends them fairly: every user has their own bounded queue and at most
//! [`delivery::PER_USER_IN_FLIGHT`] requests in flight, under one global
//! bound, so one account with many subscriptions or slow endpoints cannot
//! stall anyone else's notifications. A subscription goes to the service its
//! kind names ([`native::Providers`]: Web Push, FCM or APNs); a Web Push
//! endpoint is checked against the current allow-list again right before it
//! is contacted. A subscription the push service reports gone (404/410,
//! FCM's `UNREGISTERED`, APNs' `Unregistered`) is deleted whatever its kind;
//! temporary failures are retried with exponential backoff.

pub mod apns;
mod delivery;
pub mod endpoint;
pub mod fcm;
pub mod native;
pub mod provider;
pub mod vapid;
pub mod web_push;

use std::{sync::Arc, time::Duration};

use banter_protocol::{
    http::PushPayload, limits::PUSH_PREVIEW_MAX_CHARS, ConversationId, Message, Seq, TimestampMs, UserId,
};
use banter_store::Store;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

pub use provider::{PushError, PushProvider};

use self::delivery::Deliveries;

/// Notification jobs waiting for the dispatcher.
const QUEUE_JOBS: usize = 1024;
/// Jobs being prepared (store reads) at once.
const PREPARING: usize = 8;

/// One message to notify some members about. Holds the preview, not the
/// text: a full queue of jobs stays small however long the messages.
/// (Serialized when a cluster node hands the decision to another: see
/// `router/late_push.rs`.)
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PushJob {
    pub conversation_id: ConversationId,
    pub seq: Seq,
    pub sender_id: UserId,
    pub server_ts: TimestampMs,
    /// [`preview`] of the text.
    pub preview: String,
    /// Members with no connected device (the sender is never among them).
    pub recipients: Vec<UserId>,
}

impl PushJob {
    /// The job for `message`, for these recipients.
    pub fn new(message: &Message, recipients: Vec<UserId>) -> PushJob {
        PushJob {
            conversation_id: message.conversation_id,
            seq: message.seq,
            sender_id: message.sender_id,
            server_ts: message.server_ts,
            preview: preview(&message.text),
            recipients,
        }
    }
}

/// Retry policy for temporary failures.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the first retry; doubles each time.
    pub base_delay: Duration,
}

/// How the dispatcher sends.
#[derive(Debug, Clone)]
pub struct PushSettings {
    pub retry: RetryPolicy,
    /// `push_endpoint_hosts`: checked again before every send, so a
    /// subscription stored under an older allow-list is never contacted.
    pub endpoint_hosts: Vec<String>,
}

/// The hand-off point for push jobs.
#[derive(Clone)]
pub struct PushDispatcher {
    queue: mpsc::Sender<PushJob>,
}

impl PushDispatcher {
    /// Starts the dispatcher; it stops when `shutdown` is cancelled.
    pub fn start(
        store: Arc<dyn Store>,
        provider: Arc<dyn PushProvider>,
        settings: PushSettings,
        shutdown: CancellationToken,
    ) -> PushDispatcher {
        let (queue, jobs) = mpsc::channel(QUEUE_JOBS);
        let deliveries = Deliveries::new(store.clone(), provider, settings, shutdown.clone());
        tokio::spawn(run(Preparer { store, deliveries }, jobs, shutdown));
        PushDispatcher { queue }
    }

    /// Queues a job without waiting; when the queue is full it is dropped.
    pub fn enqueue(&self, job: PushJob) {
        if let Err(mpsc::error::TrySendError::Full(job)) = self.queue.try_send(job) {
            tracing::warn!(conversation = job.conversation_id, seq = job.seq, "push queue full; notification dropped");
            crate::metrics::push("dropped");
        }
    }
}

/// Turns jobs into per-subscription deliveries.
#[derive(Clone)]
struct Preparer {
    store: Arc<dyn Store>,
    deliveries: Arc<Deliveries>,
}

async fn run(preparer: Preparer, mut jobs: mpsc::Receiver<PushJob>, shutdown: CancellationToken) {
    let preparing = Arc::new(Semaphore::new(PREPARING));
    loop {
        let job = tokio::select! {
            () = shutdown.cancelled() => return,
            job = jobs.recv() => match job { Some(job) => job, None => return },
        };
        // Waits only for another job's store reads, never for a push service.
        let Ok(permit) = preparing.clone().acquire_owned().await else { return };
        let preparer = preparer.clone();
        tokio::spawn(async move {
            if let Err(e) = preparer.prepare(job).await {
                tracing::warn!(error = %e, "could not prepare push notifications");
            }
            drop(permit);
        });
    }
}

impl Preparer {
    async fn prepare(&self, job: PushJob) -> Result<(), banter_store::StoreError> {
        let targets = self.store.push_targets(job.conversation_id, &job.recipients).await?;
        let Some(first) = targets.first() else { return Ok(()) };
        let conversation = self.store.conversation(job.conversation_id, first.user_id).await?;
        let sender_name = match self.store.user_by_id(job.sender_id).await? {
            Some(user) => user.display_name,
            None => String::new(),
        };
        let payload = PushPayload {
            kind: "message".to_owned(),
            conversation_id: job.conversation_id,
            seq: job.seq,
            sender_id: job.sender_id,
            sender_name,
            conversation_name: conversation.name,
            preview: job.preview,
            server_ts: job.server_ts,
        };
        let payload = Arc::new(payload);
        for target in targets {
            self.deliveries.enqueue(target, payload.clone());
        }
        Ok(())
    }
}

/// The start of a message, at most [`PUSH_PREVIEW_MAX_CHARS`] characters.
pub fn preview(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(PUSH_PREVIEW_MAX_CHARS - 1) {
        None => text.to_owned(),
        Some(_) if text.chars().count() == PUSH_PREVIEW_MAX_CHARS => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_bounded_in_characters_not_bytes() {
        assert_eq!(preview("  hi  "), "hi");
        let exact = "é".repeat(PUSH_PREVIEW_MAX_CHARS);
        assert_eq!(preview(&exact), exact);
        let long = preview(&"é".repeat(10_000));
        assert_eq!(long.chars().count(), PUSH_PREVIEW_MAX_CHARS);
        assert!(long.ends_with('…'));
    }
}
