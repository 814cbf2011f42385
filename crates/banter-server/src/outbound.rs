//! A connection's outbound queue: bounded, allocated on first use, and
//! drained in batches.
//!
//! Fan-out pushes without waiting ([`OutboundQueue::try_push`]); when the
//! queue holds `capacity` frames the connection is a slow consumer and is
//! closed by the caller. The connection's own answers (acks, errors) wait
//! for room instead ([`OutboundQueue::push`]). The writer takes everything
//! queued at once ([`OutboundQueue::take_all`]) so a burst goes out in one
//! socket write.
//!
//! Why not a `tokio::sync::mpsc` channel: it allocates its first block of
//! 32 slots plus the channel (~1.5 KiB) when created, for every connection,
//! most of which sit idle; this costs ~100 bytes until a frame is queued
//! (docs/BENCHMARKS.md, memory per connection).

use std::{collections::VecDeque, sync::Mutex};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

/// What [`OutboundQueue::try_push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// The queue holds `capacity` frames: the frame was dropped.
    Full,
    /// The connection is ending: the frame was dropped.
    Closed,
}

#[derive(Debug, Default)]
struct Frames {
    queue: VecDeque<Utf8Bytes>,
    closed: bool,
}

/// See the module documentation.
#[derive(Debug)]
pub struct OutboundQueue {
    frames: Mutex<Frames>,
    capacity: usize,
    /// Woken when a frame is queued (the writer waits on it).
    queued: Notify,
    /// Woken when the writer took frames (answers wait on it for room).
    drained: Notify,
}

impl OutboundQueue {
    pub fn new(capacity: usize) -> OutboundQueue {
        OutboundQueue { frames: Mutex::default(), capacity: capacity.max(1), queued: Notify::new(), drained: Notify::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Frames> {
        self.frames.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `frame` if there is room.
    pub fn try_push(&self, frame: Utf8Bytes) -> Pushed {
        let mut frames = self.lock();
        if frames.closed {
            return Pushed::Closed;
        }
        if frames.queue.len() >= self.capacity {
            return Pushed::Full;
        }
        frames.queue.push_back(frame);
        drop(frames);
        self.queued.notify_one();
        Pushed::Queued
    }

    /// Queues `frame`, waiting for room; false if the queue was closed.
    pub async fn push(&self, frame: Utf8Bytes) -> bool {
        loop {
            // Registered before checking, so a drain in between is not missed.
            let drained = self.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            match self.try_push(frame.clone()) {
                Pushed::Queued => return true,
                Pushed::Closed => return false,
                Pushed::Full => drained.await,
            }
        }
    }

    /// Waits until something is queued and moves all of it into `batch`
    /// (in order). False once the queue is closed and empty.
    pub async fn take_all(&self, batch: &mut Vec<Utf8Bytes>) -> bool {
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

    /// What is queued now, taken without waiting (tests).
    #[cfg(test)]
    pub(crate) fn drain_now(&self) -> Vec<Utf8Bytes> {
        self.lock().queue.drain(..).collect()
    }

    /// Refuses further frames and wakes everyone waiting.
    pub fn close(&self) {
        self.lock().closed = true;
        self.queued.notify_waiters();
        self.queued.notify_one();
        self.drained.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use super::*;

    fn frame(n: usize) -> Utf8Bytes {
        Utf8Bytes::from(format!("frame {n}"))
    }

    #[tokio::test]
    async fn frames_come_out_in_order_in_one_batch() {
        let queue = OutboundQueue::new(10);
        for n in 0..3 {
            assert_eq!(queue.try_push(frame(n)), Pushed::Queued);
        }
        let mut batch = Vec::new();
        assert!(queue.take_all(&mut batch).await);
        assert_eq!(batch, vec![frame(0), frame(1), frame(2)]);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_a_closed_one_ends_the_writer() {
        let queue = OutboundQueue::new(2);
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
        let queue = Arc::new(OutboundQueue::new(1));
        queue.try_push(frame(0));
        let answer = tokio::spawn({
            let queue = queue.clone();
            async move { queue.push(frame(1)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!answer.is_finished(), "no room yet");
        let mut batch = Vec::new();
        queue.take_all(&mut batch).await;
        assert!(answer.await.unwrap(), "queued once the writer drained");
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
}
