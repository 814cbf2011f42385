//! A connection's sends in flight: stored one after another, in the order
//! the device sent them, and answered in that order — while the reader goes
//! on with the frames behind them.
//!
//! Before this, the reader awaited each send's commit before reading the
//! next frame, so during a database outage a connection answered nothing,
//! pings included, for as long as the send waited. Now the reader only
//! queues a `send` here and reads on; one task per connection (the
//! connection's third part, [`super::connection`], started on its first
//! send) takes the sends in
//! order, stores each, answers it, and takes the next ([`answer_sends`]).
//! It outlives the connection if need be: sends already read are stored
//! even when the device goes away meanwhile (as the one being stored always
//! was), unless the connection was kicked. One at a time keeps
//! the device's order: with several in the store at once, two batches of
//! the PostgreSQL appender could commit them the other way round.
//!
//! A send refused as it is read (`rate_limited`, malformed) is queued too,
//! as its answer ([`Work::Answer`]), so that every send is answered in the
//! order it came. Frames without a `client_msg_id` (`ping`, `sync`, …) are
//! answered at once and may overtake the answers to earlier sends.
//!
//! Bounded in items and bytes: at most [`MAX_QUEUED_SENDS`] sends wait
//! behind the one being stored, and all of them together hold at most
//! [`MAX_SEND_TEXT_BYTES`] of message text (the one being stored
//! included). When either is full the reader waits for room — up to the
//! connection's `write_timeout`, after which that send is refused
//! `storage_unavailable` at once (its answer then overtakes the answers
//! still pending). The one being stored waits at most [`SEND_DEADLINE`] for
//! the store (which bounds itself more tightly: a few seconds while a
//! database is unreachable).

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use banter_protocol::{Content, ConversationId, ErrorCode, ServerFrame};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::connection::Replier;
use crate::{auth::Authenticated, error::ApiError, messaging, state::AppState};

/// Sends that may wait behind the one being stored, per connection.
/// The Rust SDK's outbox and the web client keep at most 32 unanswered anyway.
pub const MAX_QUEUED_SENDS: usize = 32;

/// Message text (UTF-8 bytes) a connection's queued sends may hold
/// together, the one being stored included. A largest message (100,000
/// characters, at most 400 KB) always fits.
pub const MAX_SEND_TEXT_BYTES: usize = 1024 * 1024;

/// The longest a send waits for the store before it is answered
/// `storage_unavailable` ("may have been stored: retry with the same
/// `client_msg_id`"). A backstop: the stores answer sooner by themselves.
pub const SEND_DEADLINE: Duration = Duration::from_secs(20);

/// A `send` frame read and not yet answered. Holds its share of the byte
/// budget until dropped.
pub struct QueuedSend {
    pub client_msg_id: String,
    pub work: Work,
    /// This send's share of [`MAX_SEND_TEXT_BYTES`]; dropped once answered.
    pub bytes: OwnedSemaphorePermit,
}

/// What the sender does with a queued send.
pub enum Work {
    /// Store it and answer with the ack (or the store's refusal).
    Store { conversation_id: ConversationId, content: Content },
    /// It was refused as it was read (`rate_limited`, malformed): send this
    /// answer, in its place among the others. Boxed: the channel allocates
    /// room for 32 sends per connection up front, and an unboxed frame made
    /// each slot ~250 bytes (8 KB per idle connection, docs/BENCHMARKS.md).
    Answer(Box<ServerFrame>),
}

/// The reader's end of the pipeline.
///
/// Created empty: the channel (its first block holds room for 32 sends)
/// and the answering task are made on the connection's first send, so an
/// idle connection, or one that only syncs, pays for neither
/// (docs/BENCHMARKS.md, "Memory per connection").
pub struct SendQueue {
    sends: OnceLock<mpsc::Sender<QueuedSend>>,
    text_bytes: Arc<Semaphore>,
}

impl Default for SendQueue {
    fn default() -> Self {
        SendQueue::new()
    }
}

/// Why a send could not be queued.
pub enum NotQueued {
    /// No room within the deadline.
    Full,
    /// The answering half has ended (the connection is closing).
    Closed,
}

impl SendQueue {
    /// An empty queue: nothing is allocated for the sends themselves
    /// until the first [`SendQueue::push`].
    pub fn new() -> SendQueue {
        SendQueue { sends: OnceLock::new(), text_bytes: Arc::new(Semaphore::new(MAX_SEND_TEXT_BYTES)) }
    }

    /// Queues a send, waiting up to `deadline` for room (items and bytes).
    /// The first push creates the channel and hands its receiving end to
    /// `start`, which starts the task that answers the sends.
    pub async fn push(
        &self,
        client_msg_id: String,
        work: Work,
        deadline: Duration,
        start: impl FnOnce(mpsc::Receiver<QueuedSend>),
    ) -> Result<(), NotQueued> {
        let sends = self.sends.get_or_init(|| {
            let (sends, queued) = mpsc::channel(MAX_QUEUED_SENDS);
            start(queued);
            sends
        });
        // At least one permit, so an answer or an empty text still counts
        // until answered (and `drained` sees it); a text never needs more
        // than the budget.
        let cost = match &work {
            Work::Store { content, .. } => content.text_str().len(),
            Work::Answer(_) => 0,
        };
        let cost = cost.clamp(1, MAX_SEND_TEXT_BYTES) as u32;
        let queue = async {
            let bytes = self.text_bytes.clone().acquire_many_owned(cost).await.map_err(|_| NotQueued::Closed)?;
            sends.send(QueuedSend { client_msg_id, work, bytes }).await.map_err(|_| NotQueued::Closed)
        };
        tokio::time::timeout(deadline, queue).await.unwrap_or(Err(NotQueued::Full))
    }

    /// Resolves once every queued send has been answered (its permit back).
    pub async fn drained(&self) {
        if let Ok(all) = self.text_bytes.acquire_many(MAX_SEND_TEXT_BYTES as u32).await {
            drop(all);
        }
    }
}

/// The sender: stores the queued sends one at a time, in order, and answers
/// each before taking the next. Ends when the reader's end of the queue is
/// gone and the queue is empty.
///
/// A send taken after shutdown began is not started: `shutting_down`.
/// A send refused for want of storage takes with it every send queued
/// behind it at that moment (same answer, nothing stored): they would each
/// wait and fail the same way, and storing a later one while an earlier one
/// is refused would break the device's order. Once the connection has been
/// kicked (slow consumer, revoked session, …) nothing more is started.
pub(super) async fn answer_sends(
    state: Arc<AppState>,
    auth: Authenticated,
    replier: Replier,
    mut queued: mpsc::Receiver<QueuedSend>,
) {
    while let Some(send) = queued.recv().await {
        // `bytes` is held until the answer is queued.
        let QueuedSend { client_msg_id, work, bytes } = send;
        let (conversation_id, content) = match work {
            Work::Answer(frame) => {
                replier.reply(&frame).await;
                continue;
            }
            Work::Store { .. } if replier.kick.is_kicked() => continue,
            // The connection's own drain flag, not the server's token (whose
            // check takes a lock every connection shares).
            Work::Store { .. } if replier.kick.is_draining() => {
                let error = ApiError::new(
                    ErrorCode::ShuttingDown,
                    "server is shutting down; nothing was stored: resend after reconnecting (to another node)",
                );
                replier.reply_error(error, Some(client_msg_id)).await;
                continue;
            }
            Work::Store { conversation_id, content } => (conversation_id, content),
        };
        let stored = messaging::send_message(&state, &auth, Some(replier.connection), conversation_id, client_msg_id.clone(), content);
        let result = tokio::time::timeout(SEND_DEADLINE, stored).await.unwrap_or_else(|_| {
            Err(ApiError::new(
                ErrorCode::StorageUnavailable,
                "storage did not answer in time; this may have been stored: retry with the same client_msg_id",
            ))
        });
        match result {
            Ok(ack) => {
                replier
                    .reply(&ServerFrame::Ack {
                        client_msg_id,
                        conversation_id: ack.conversation_id,
                        seq: ack.seq,
                        server_ts: ack.server_ts,
                        duplicate: ack.duplicate,
                    })
                    .await
            }
            Err(error) => {
                let storage_failed = error.code == ErrorCode::StorageUnavailable;
                replier.reply_error(error, Some(client_msg_id)).await;
                if storage_failed {
                    while let Ok(behind) = queued.try_recv() {
                        match behind.work {
                            Work::Answer(frame) => replier.reply(&frame).await,
                            Work::Store { .. } => {
                                let error = ApiError::new(
                                    ErrorCode::StorageUnavailable,
                                    "storage is unavailable (an earlier send on this connection failed); nothing was stored, retry later",
                                );
                                replier.reply_error(error, Some(behind.client_msg_id)).await;
                            }
                        }
                    }
                }
            }
        }
        drop(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(text: String) -> Work {
        Work::Store { conversation_id: 1, content: Content::text(text) }
    }

    const SHORT: Duration = Duration::from_millis(50);

    /// A queue and, once its first send is pushed, the receiving end its
    /// answering task would read.
    #[derive(Default)]
    struct Started(std::sync::Mutex<Option<mpsc::Receiver<QueuedSend>>>);

    impl Started {
        fn start(&self) -> impl FnOnce(mpsc::Receiver<QueuedSend>) + '_ {
            |queued| *self.0.lock().expect("lock") = Some(queued)
        }

        async fn take_one(&self) -> Option<QueuedSend> {
            let mut queued = self.0.lock().expect("lock").take().expect("started");
            let send = queued.recv().await;
            *self.0.lock().expect("lock") = Some(queued);
            send
        }
    }

    #[tokio::test]
    async fn nothing_is_started_until_the_first_send_and_it_is_started_once() {
        let queue = SendQueue::new();
        let started = Started::default();
        assert!(started.0.lock().expect("lock").is_none());
        queue.drained().await;
        assert!(queue.push("a".into(), store("hi".into()), SHORT, started.start()).await.is_ok());
        assert!(started.0.lock().expect("lock").is_some(), "the first send starts the answering side");
        assert!(
            queue.push("b".into(), store("hi".into()), SHORT, |_| panic!("started a second time")).await.is_ok(),
            "later sends use the same channel"
        );
        assert_eq!(started.take_one().await.map(|s| s.client_msg_id), Some("a".into()));
        assert_eq!(started.take_one().await.map(|s| s.client_msg_id), Some("b".into()));
    }

    #[tokio::test]
    async fn at_most_max_queued_sends_wait_and_the_next_is_refused_at_the_deadline() {
        let queue = SendQueue::new();
        let started = Started::default();
        for n in 0..MAX_QUEUED_SENDS {
            assert!(queue.push(format!("m{n}"), store("hi".into()), SHORT, started.start()).await.is_ok(), "send {n} queued");
        }
        assert!(matches!(queue.push("over".into(), store("hi".into()), SHORT, started.start()).await, Err(NotQueued::Full)));
        // Room again once the answering side takes one.
        drop(started.take_one().await);
        assert!(queue.push("again".into(), store("hi".into()), SHORT, started.start()).await.is_ok());
    }

    #[tokio::test]
    async fn at_most_max_send_text_bytes_of_text_wait() {
        let queue = SendQueue::new();
        let started = Started::default();
        let half = "x".repeat(MAX_SEND_TEXT_BYTES / 2);
        assert!(queue.push("a".into(), store(half.clone()), SHORT, started.start()).await.is_ok());
        assert!(queue.push("b".into(), store(half.clone()), SHORT, started.start()).await.is_ok());
        // Two sends, far below the item limit, but the byte budget is spent.
        assert!(matches!(queue.push("c".into(), store("y".into()), SHORT, started.start()).await, Err(NotQueued::Full)));
        // An answered send gives its bytes back.
        drop(started.take_one().await);
        assert!(queue.push("c".into(), store(half), SHORT, started.start()).await.is_ok());
    }

    /// A channel allocates its first block of 32 slots at once: a large
    /// slot is paid by every connection that sends (an unboxed `ServerFrame`
    /// made it ~8 KB each).
    #[test]
    fn a_queued_send_is_small_since_every_connection_holds_32_slots_of_them() {
        let size = std::mem::size_of::<QueuedSend>();
        assert!(size <= 96, "QueuedSend is {size} bytes");
    }
}
