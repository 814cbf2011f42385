//! Push notifications for users with no connected device.
//!
//! After a message is stored and fanned out, [`crate::messaging`] hands the
//! members that no device of theirs is connected for to the
//! [`PushDispatcher`]. Its task loads their subscriptions (skipping members
//! who muted the conversation), builds one [`PushPayload`] and sends it
//! through a [`PushProvider`] to each subscription, concurrently and bounded.
//! A subscription the push service reports gone (404/410) is deleted;
//! temporary failures are retried with exponential backoff. Nothing here can
//! slow message delivery: the hand-off is a non-blocking `try_send` into a
//! bounded queue, and a full queue drops the notification (logged) — the
//! message itself is safe and arrives by sync.

pub mod endpoint;
pub mod provider;
pub mod vapid;
pub mod web_push;

use std::{sync::Arc, time::Duration};

use banter_protocol::{http::PushPayload, limits::PUSH_PREVIEW_MAX_CHARS, Message, UserId};
use banter_store::{PushSubscriptionRecord, Store};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

pub use provider::{PushError, PushProvider};

/// Notification jobs waiting for the dispatcher.
const QUEUE_JOBS: usize = 1024;
/// Push requests in flight at once.
const MAX_IN_FLIGHT: usize = 64;

/// One message to notify some members about.
#[derive(Debug, Clone)]
pub struct PushJob {
    pub message: Message,
    /// Members with no connected device (the sender is never among them).
    pub recipients: Vec<UserId>,
}

/// Retry policy for temporary failures.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the first retry; doubles each time.
    pub base_delay: Duration,
}

/// The hand-off point for push jobs.
#[derive(Clone)]
pub struct PushDispatcher {
    queue: mpsc::Sender<PushJob>,
}

impl PushDispatcher {
    /// Starts the dispatcher task; it stops when `shutdown` is cancelled.
    pub fn start(
        store: Arc<dyn Store>,
        provider: Arc<dyn PushProvider>,
        retry: RetryPolicy,
        shutdown: CancellationToken,
    ) -> PushDispatcher {
        let (queue, jobs) = mpsc::channel(QUEUE_JOBS);
        tokio::spawn(run(Worker { store, provider, retry, shutdown, in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)) }, jobs));
        PushDispatcher { queue }
    }

    /// Queues a job without waiting; when the queue is full it is dropped.
    pub fn enqueue(&self, job: PushJob) {
        if let Err(mpsc::error::TrySendError::Full(job)) = self.queue.try_send(job) {
            tracing::warn!(conversation = job.message.conversation_id, seq = job.message.seq, "push queue full; notification dropped");
            crate::metrics::push("dropped");
        }
    }
}

#[derive(Clone)]
struct Worker {
    store: Arc<dyn Store>,
    provider: Arc<dyn PushProvider>,
    retry: RetryPolicy,
    shutdown: CancellationToken,
    in_flight: Arc<Semaphore>,
}

async fn run(worker: Worker, mut jobs: mpsc::Receiver<PushJob>) {
    loop {
        let job = tokio::select! {
            () = worker.shutdown.cancelled() => return,
            job = jobs.recv() => match job { Some(job) => job, None => return },
        };
        if let Err(e) = worker.dispatch(job).await {
            tracing::warn!(error = %e, "could not prepare push notifications");
        }
    }
}

impl Worker {
    async fn dispatch(&self, job: PushJob) -> Result<(), banter_store::StoreError> {
        let message = &job.message;
        let targets = self.store.push_targets(message.conversation_id, &job.recipients).await?;
        let Some(first) = targets.first() else { return Ok(()) };
        let conversation = self.store.conversation(message.conversation_id, first.user_id).await?;
        let sender_name = match self.store.user_by_id(message.sender_id).await? {
            Some(user) => user.display_name,
            None => String::new(),
        };
        let payload = PushPayload {
            kind: "message".to_owned(),
            conversation_id: message.conversation_id,
            seq: message.seq,
            sender_id: message.sender_id,
            sender_name,
            conversation_name: conversation.name,
            preview: preview(&message.text),
            server_ts: message.server_ts,
        };
        let payload: Arc<[u8]> = serde_json::to_vec(&payload).unwrap_or_default().into();
        for target in targets {
            let Ok(permit) = self.in_flight.clone().acquire_owned().await else { return Ok(()) };
            let (worker, payload) = (self.clone(), payload.clone());
            tokio::spawn(async move {
                worker.deliver(&target, &payload).await;
                drop(permit);
            });
        }
        Ok(())
    }

    /// Sends to one subscription, retrying temporary failures.
    async fn deliver(&self, target: &PushSubscriptionRecord, payload: &[u8]) {
        let mut delay = self.retry.base_delay;
        for attempt in 1..=self.retry.max_attempts.max(1) {
            match self.provider.send(target, payload).await {
                Ok(()) => {
                    tracing::debug!(subscription = target.id, user = target.user_id, "push delivered");
                    crate::metrics::push("delivered");
                    return;
                }
                Err(PushError::Gone) => {
                    tracing::info!(subscription = target.id, user = target.user_id, "push subscription gone; removed");
                    crate::metrics::push("gone");
                    if let Err(e) = self.store.remove_push_subscription(target.id).await {
                        tracing::warn!(error = %e, "could not remove a dead push subscription");
                    }
                    return;
                }
                Err(PushError::Rejected(why)) => {
                    tracing::warn!(subscription = target.id, %why, "push rejected");
                    crate::metrics::push("rejected");
                    return;
                }
                Err(PushError::Temporary(why)) => {
                    tracing::debug!(subscription = target.id, attempt, %why, "push failed; will retry");
                    if attempt == self.retry.max_attempts {
                        tracing::warn!(subscription = target.id, %why, "push failed after every attempt");
                        crate::metrics::push("failed");
                        return;
                    }
                    tokio::select! {
                        () = self.shutdown.cancelled() => return,
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = delay.saturating_mul(2);
                }
            }
        }
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
