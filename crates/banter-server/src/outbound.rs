//! A connection's outbound queue: bounded in frames and in bytes, allocated
//! on first use, and drained in batches.
//!
//! Fan-out pushes without waiting ([`OutboundQueue::try_push`]); when the
//! queue is full the connection is a slow consumer and is closed by the
//! caller. The connection's own answers (acks, errors, sync batches) wait
//! for room instead, but only up to a deadline ([`OutboundQueue::push`]):
//! a client that sends requests and never reads its answers is closed too,
//! rather than holding the answers in memory. The writer takes everything
//! queued at once ([`OutboundQueue::take_all`]) so a burst goes out in one
//! socket write.
//!
//! The byte bound is what makes a connection's memory bounded: a frame's
//! bytes count from the moment it is queued until the writer reports it
//! written to the socket ([`OutboundQueue::written`]), so the batch in the
//! writer's hands counts too. A frame larger than the whole bound is still
//! taken when nothing else is held, so the queue holds at most
//! `max(max_bytes, largest frame)`; and when a connection is dropped its
//! frames are freed at once ([`OutboundQueue::abandon`]).
//!
//! Why not a `tokio::sync::mpsc` channel: it allocates its first block of
//! 32 slots plus the channel (~1.5 KiB) when created, for every connection,
//! most of which sit idle; this costs ~100 bytes until a frame is queued
//! (docs/BENCHMARKS.md, memory per connection). Nor does it count bytes.

use std::{collections::VecDeque, sync::Mutex, time::Duration};

use crate::frame::EncodedFrame;
use tokio::sync::Notify;

/// The largest frame the server sends: a sync batch holding
/// [`PAGE_TEXT_BYTES`](banter_store::PAGE_TEXT_BYTES) of text, which JSON
/// escaping at most doubles (`"`, `\\`, tab, CR and LF take two bytes; other
/// control characters are refused in messages), plus the fields of up to
/// 200 messages (under 300 bytes each). The socket's write buffer is sized
/// to hold one such frame, and the memory bound per connection is built on
/// it (SECURITY.md).
pub const LARGEST_FRAME_BYTES: usize = 2 * banter_store::PAGE_TEXT_BYTES + 64 * 1024;

/// The most memory one WebSocket connection can hold, in bytes, with an
/// outbound queue bound of `outbound_queue_bytes` (SECURITY.md, "Memory
/// per connection"):
///
/// * the outbound queue, frames being written included:
///   `max(outbound_queue_bytes, LARGEST_FRAME_BYTES)`;
/// * one answer waiting for room, and the page it was encoded from:
///   `LARGEST_FRAME_BYTES + PAGE_TEXT_BYTES`;
/// * the socket's write buffer (the frame being written, then the close
///   frame): `LARGEST_FRAME_BYTES + 4 KiB`;
/// * reading: a message being assembled, the one being handled and its
///   decoded form, each at most `MAX_WS_FRAME_BYTES`;
/// * sends waiting to be stored (`gateway::sends`): their text, at most
///   `MAX_SEND_TEXT_BYTES`, and per send its id and the answer of a send
///   refused as read or answered by the sender (each under
///   [`SEND_ANSWER_BYTES`]).
///
/// About 13 MiB at the defaults; a typical idle connection holds a few KiB.
pub fn connection_memory_bound(outbound_queue_bytes: usize) -> usize {
    use crate::gateway::sends::{MAX_QUEUED_SENDS, MAX_SEND_TEXT_BYTES};
    outbound_queue_bytes.max(LARGEST_FRAME_BYTES)
        + LARGEST_FRAME_BYTES
        + banter_store::PAGE_TEXT_BYTES
        + LARGEST_FRAME_BYTES
        + 4096
        + 3 * banter_protocol::limits::MAX_WS_FRAME_BYTES
        + MAX_SEND_TEXT_BYTES
        + (MAX_QUEUED_SENDS + 2) * SEND_ANSWER_BYTES
}

/// An upper bound on a send's id plus an `ack` or `error` answer to it
/// (ids are at most 64 bytes; error messages are the server's own short
/// texts, retry hints included).
pub const SEND_ANSWER_BYTES: usize = 1024;

/// What [`OutboundQueue::try_push`] and [`OutboundQueue::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// No room (too many frames or bytes held; for an answer: not within
    /// its deadline): the frame was dropped.
    Full,
    /// The connection is ending: the frame was dropped.
    Closed,
}

#[derive(Debug, Default)]
struct Frames {
    queue: VecDeque<EncodedFrame>,
    /// Bytes queued plus bytes taken by the writer and not yet written.
    held_bytes: usize,
    closed: bool,
}

/// See the module documentation.
#[derive(Debug)]
pub struct OutboundQueue {
    frames: Mutex<Frames>,
    max_frames: usize,
    max_bytes: usize,
    /// Woken when a frame is queued (the writer waits on it).
    queued: Notify,
    /// Woken when the writer took or wrote frames (answers wait on it for room).
    drained: Notify,
}

impl OutboundQueue {
    /// A queue holding at most `max_frames` frames and `max_bytes` bytes
    /// (see the module documentation for a frame larger than that).
    pub fn new(max_frames: usize, max_bytes: usize) -> OutboundQueue {
        OutboundQueue {
            frames: Mutex::default(),
            max_frames: max_frames.max(1),
            max_bytes,
            queued: Notify::new(),
            drained: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Frames> {
        self.frames.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `frame` if there is room.
    pub fn try_push(&self, frame: EncodedFrame) -> Pushed {
        let mut frames = self.lock();
        if frames.closed {
            return Pushed::Closed;
        }
        let over_bytes = frames.held_bytes > 0 && frames.held_bytes + frame.len() > self.max_bytes;
        if frames.queue.len() >= self.max_frames || over_bytes {
            return Pushed::Full;
        }
        frames.held_bytes += frame.len();
        frames.queue.push_back(frame);
        drop(frames);
        self.queued.notify_one();
        Pushed::Queued
    }

    /// Queues `frame`, waiting up to `deadline` for room: `Full` if there
    /// was none by then, `Closed` if the queue was closed.
    pub async fn push(&self, frame: EncodedFrame, deadline: Duration) -> Pushed {
        let wait = async {
            loop {
                // Registered before checking, so a drain in between is not missed.
                let drained = self.drained.notified();
                tokio::pin!(drained);
                drained.as_mut().enable();
                match self.try_push(frame.clone()) {
                    Pushed::Full => drained.await,
                    pushed => return pushed,
                }
            }
        };
        tokio::time::timeout(deadline, wait).await.unwrap_or(Pushed::Full)
    }

    /// Waits until something is queued and moves all of it into `batch`
    /// (in order); its bytes stay counted until [`written`](Self::written).
    /// False once the queue is closed and empty.
    pub async fn take_all(&self, batch: &mut Vec<EncodedFrame>) -> bool {
        loop {
            let queued = self.queued.notified();
            tokio::pin!(queued);
            queued.as_mut().enable();
            {
                let mut frames = self.lock();
                if !frames.queue.is_empty() {
                    batch.extend(frames.queue.drain(..));
                    // Give back a burst's memory once it is out.
                    if frames.queue.capacity() > 64 {
                        frames.queue.shrink_to(16);
                    }
                    drop(frames);
                    // Room for frames (not yet for bytes).
                    self.drained.notify_waiters();
                    return true;
                }
                if frames.closed {
                    return false;
                }
            }
            queued.await;
        }
    }

    /// The writer wrote `bytes` (of frames it took) to the socket.
    pub fn written(&self, bytes: usize) {
        {
            let mut frames = self.lock();
            frames.held_bytes = frames.held_bytes.saturating_sub(bytes);
        }
        self.drained.notify_waiters();
    }

    /// Bytes held now: queued, or taken and not yet written.
    pub fn held_bytes(&self) -> usize {
        self.lock().held_bytes
    }

    /// What is queued now, taken without waiting (tests).
    #[cfg(test)]
    pub(crate) fn drain_now(&self) -> Vec<EncodedFrame> {
        let mut frames = self.lock();
        frames.held_bytes = 0;
        frames.queue.drain(..).collect()
    }

    /// Refuses further frames and wakes everyone waiting; what is queued
    /// still goes out.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake_all();
    }

    /// Closes and drops everything queued at once: the connection is being
    /// dropped and its memory should be back now, not when its socket
    /// finally gives up. (The writer drops the batch in its hands itself.)
    pub fn abandon(&self) {
        let dropped = {
            let mut frames = self.lock();
            frames.closed = true;
            frames.held_bytes = 0;
            std::mem::take(&mut frames.queue)
        };
        drop(dropped);
        self.wake_all();
    }

    fn wake_all(&self) {
        self.queued.notify_waiters();
        self.queued.notify_one();
        self.drained.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use super::*;

    fn frame(n: usize) -> EncodedFrame {
        EncodedFrame::text(format!("frame {n}"))
    }

    const NO_BYTE_LIMIT: usize = usize::MAX;
    const LONG: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn frames_come_out_in_order_in_one_batch() {
        let queue = OutboundQueue::new(10, NO_BYTE_LIMIT);
        for n in 0..3 {
            assert_eq!(queue.try_push(frame(n)), Pushed::Queued);
        }
        let mut batch = Vec::new();
        assert!(queue.take_all(&mut batch).await);
        assert_eq!(batch, vec![frame(0), frame(1), frame(2)]);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_a_closed_one_ends_the_writer() {
        let queue = OutboundQueue::new(2, NO_BYTE_LIMIT);
        queue.try_push(frame(0));
        queue.try_push(frame(1));
        assert_eq!(queue.try_push(frame(2)), Pushed::Full);
        queue.close();
        assert_eq!(queue.try_push(frame(3)), Pushed::Closed);
        let mut batch = Vec::new();
        assert!(queue.take_all(&mut batch).await, "what was queued still goes out");
        assert!(!queue.take_all(&mut batch).await);
    }

    #[tokio::test]
    async fn an_answer_waits_for_room_and_the_writer_waits_for_frames() {
        let queue = Arc::new(OutboundQueue::new(1, NO_BYTE_LIMIT));
        queue.try_push(frame(0));
        let answer = tokio::spawn({
            let queue = queue.clone();
            async move { queue.push(frame(1), LONG).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!answer.is_finished(), "no room yet");
        let mut batch = Vec::new();
        queue.take_all(&mut batch).await;
        assert_eq!(answer.await.unwrap(), Pushed::Queued, "queued once the writer drained");
        batch.clear();
        queue.take_all(&mut batch).await;
        assert_eq!(batch, vec![frame(1)]);

        let writer = tokio::spawn({
            let queue = queue.clone();
            async move {
                let mut batch = Vec::new();
                queue.take_all(&mut batch).await.then_some(batch)
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!writer.is_finished(), "nothing queued yet");
        queue.try_push(frame(2));
        assert_eq!(writer.await.unwrap(), Some(vec![frame(2)]));
    }

    #[tokio::test]
    async fn bytes_count_until_written_and_a_full_queue_refuses_by_bytes() {
        let queue = OutboundQueue::new(100, 20);
        assert_eq!(queue.try_push(EncodedFrame::text("a".repeat(15))), Pushed::Queued);
        assert_eq!(queue.try_push(EncodedFrame::text("b".repeat(10))), Pushed::Full, "15 + 10 > 20");
        let mut batch = Vec::new();
        assert!(queue.take_all(&mut batch).await);
        assert_eq!(queue.held_bytes(), 15, "the writer's batch still counts");
        assert_eq!(queue.try_push(EncodedFrame::text("b".repeat(10))), Pushed::Full);
        queue.written(15);
        assert_eq!(queue.held_bytes(), 0);
        assert_eq!(queue.try_push(EncodedFrame::text("b".repeat(10))), Pushed::Queued);
    }

    #[tokio::test]
    async fn a_frame_larger_than_the_bound_goes_in_only_alone() {
        let queue = OutboundQueue::new(100, 20);
        assert_eq!(queue.try_push(EncodedFrame::text("a".repeat(50))), Pushed::Queued);
        assert_eq!(queue.try_push(frame(1)), Pushed::Full);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_gives_up_at_its_deadline() {
        let queue = OutboundQueue::new(1, NO_BYTE_LIMIT);
        queue.try_push(frame(0));
        assert_eq!(queue.push(frame(1), Duration::from_secs(3)).await, Pushed::Full);
    }

    #[tokio::test]
    async fn abandoning_drops_what_is_queued_and_wakes_the_waiters() {
        let queue = Arc::new(OutboundQueue::new(1, NO_BYTE_LIMIT));
        queue.try_push(frame(0));
        let answer = tokio::spawn({
            let queue = queue.clone();
            async move { queue.push(frame(1), LONG).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        queue.abandon();
        assert_eq!(answer.await.unwrap(), Pushed::Closed);
        assert_eq!(queue.held_bytes(), 0);
        let mut batch = Vec::new();
        assert!(!queue.take_all(&mut batch).await, "nothing is left to write");
    }

    #[test]
    fn the_largest_sync_batch_fits_in_the_largest_frame() {
        let per_message = banter_store::PAGE_TEXT_BYTES / banter_protocol::limits::MAX_PAGE_SIZE as usize;
        let messages = (0..banter_protocol::limits::MAX_PAGE_SIZE)
            .map(|_| banter_protocol::Message {
                conversation_id: i64::MIN,
                seq: i64::MIN,
                sender_id: i64::MIN,
                sender_device_id: i64::MIN,
                client_msg_id: "x".repeat(banter_protocol::limits::CLIENT_MSG_ID_MAX_CHARS),
                // Every character escaped: the worst case.
                text: "\"".repeat(per_message),
                server_ts: i64::MIN,
                ..Default::default()
            })
            .collect();
        let frame = crate::frame::encode(&banter_protocol::ServerFrame::SyncBatch { messages, complete: false });
        assert!(frame.len() > 2 * banter_store::PAGE_TEXT_BYTES - 1024, "the text really was escaped: {}", frame.len());
        assert!(frame.len() <= LARGEST_FRAME_BYTES, "{} > {LARGEST_FRAME_BYTES}", frame.len());
    }
}
