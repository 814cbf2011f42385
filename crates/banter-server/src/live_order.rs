//! Live `message` frames of one conversation leave this node in seq order.
//!
//! Every send runs in a task of its own (so a vanished connection cannot
//! skip the fan-out), and concurrent senders' tasks finish in any order: the
//! task that committed seq 8 may publish before the one that committed seq 7,
//! and every watcher then sees a gap, waits and syncs. This module puts the
//! publishes of one node back into commit order without knowing in advance
//! which seq an append will get (the PostgreSQL appender runs several batches
//! per shard at once, so queue order is *not* commit order there).
//!
//! The rule rests on one fact: an append that is enqueued after another
//! append's commit is known commits after it, so it gets a higher seq. Hence:
//!
//! * before appending, a send takes a [`Ticket`] (a number, increasing);
//! * when the append commits with seq `s`, the tickets still in flight are the
//!   only appends of this node that can still get a seq below `s`. The frame
//!   is *held* until all of them have finished (committed, failed or found a
//!   duplicate) — or released at once when `s` directly follows the last
//!   seq released, since then nothing can come before it;
//! * held frames leave in seq order, the smallest first.
//!
//! Bounds, so a stuck predecessor or a flood never costs more than a little
//! latency or memory: a frame is held at most [`HOLD_DEADLINE`]; a
//! conversation holds at most [`MAX_HELD_PER_CONVERSATION`] frames and the
//! node at most [`MAX_HELD_BYTES`] of frames (beyond them the smallest is
//! released early). The map of conversations only has entries while a send
//! of that conversation is in flight or a frame is held: an idle
//! conversation's entry is removed.
//!
//! Across nodes nothing is ordered: frames of other nodes' sends come over
//! NATS, interleaved as they arrive. Clients place frames by seq and sync on
//! a gap that persists (docs/PROTOCOL.md, "Delivery contract").

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard, PoisonError,
    },
    time::Duration,
};

// tokio's clock, so the deadline follows the runtime's time (and a paused
// clock in tests) like the timer that enforces it.
use tokio::time::Instant;

use banter_protocol::{ConversationId, Seq};

/// Longest time a frame waits for an earlier append of its conversation.
/// A commit normally takes milliseconds; this only matters when one is
/// stuck (a slow PostgreSQL batch), and stays below the 300 ms a client
/// waits on a gap before syncing.
pub const HOLD_DEADLINE: Duration = Duration::from_millis(250);
/// Most frames held for one conversation; beyond it the smallest leaves early.
pub const MAX_HELD_PER_CONVERSATION: usize = 1024;
/// Most bytes of frames held on this node; beyond it frames leave early.
pub const MAX_HELD_BYTES: usize = 32 * 1024 * 1024;
/// Lock stripes: conversations spread over this many maps.
const STRIPES: usize = 16;
/// Idle conversations remembered per stripe (only their last released seq,
/// which lets the next frame go without waiting); beyond it they are
/// forgotten, so the map holds at most `STRIPES × this` idle entries.
const IDLE_LANES_PER_STRIPE: usize = 256;

/// What a released frame does: publish to the router (never blocks).
pub type Publish = Box<dyn FnOnce() + Send>;

/// The per-conversation publish order of this node's sends.
pub struct LiveOrder {
    stripes: Box<[Mutex<HashMap<ConversationId, Lane>>]>,
    next_ticket: AtomicU64,
    held_bytes: AtomicUsize,
}

/// One conversation's sends in flight and frames held.
#[derive(Default)]
struct Lane {
    in_flight: BTreeSet<u64>,
    held: BTreeMap<Seq, Held>,
    last_released: Option<Seq>,
    timer_armed: bool,
}

impl Lane {
    fn is_idle(&self) -> bool {
        self.in_flight.is_empty() && self.held.is_empty() && !self.timer_armed
    }
}

struct Held {
    /// The highest ticket in flight when this frame's append committed
    /// (`None`: none was). It may leave once no ticket up to it remains.
    waits_for: Option<u64>,
    since: Instant,
    bytes: usize,
    publish: Publish,
}

impl Default for LiveOrder {
    fn default() -> Self {
        LiveOrder {
            stripes: (0..STRIPES).map(|_| Mutex::new(HashMap::new())).collect(),
            next_ticket: AtomicU64::new(0),
            held_bytes: AtomicUsize::new(0),
        }
    }
}

impl LiveOrder {
    pub fn new() -> Arc<LiveOrder> {
        Arc::new(LiveOrder::default())
    }

    /// Registers an append about to be made in `conversation_id`. Take it
    /// before the append is handed to the store.
    pub fn ticket(self: &Arc<Self>, conversation_id: ConversationId) -> Ticket {
        let mut stripe = self.stripe(conversation_id);
        let id = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        if stripe.len() >= IDLE_LANES_PER_STRIPE && !stripe.contains_key(&conversation_id) {
            stripe.retain(|_, lane| !lane.is_idle());
        }
        stripe.entry(conversation_id).or_default().in_flight.insert(id);
        Ticket { order: self.clone(), conversation_id, id, finished: false }
    }

    /// Conversations with an entry: sends in flight, frames held, or
    /// recently active (bounded).
    pub fn tracked_conversations(&self) -> usize {
        self.stripes.iter().map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len()).sum()
    }

    fn stripe(&self, conversation_id: ConversationId) -> MutexGuard<'_, HashMap<ConversationId, Lane>> {
        let index = conversation_id.rem_euclid(STRIPES as i64) as usize;
        self.stripes[index].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends `ticket`: holds `publish` for `seq` (if any) and releases what
    /// may now go. Returns true when something stays held and no timer
    /// watches the lane yet (the caller arms one).
    fn finish(&self, conversation_id: ConversationId, ticket: u64, frame: Option<(Seq, usize, Publish)>) -> bool {
        let mut stripe = self.stripe(conversation_id);
        let Some(lane) = stripe.get_mut(&conversation_id) else {
            // Cannot happen (a ticket keeps its lane); publish rather than lose it.
            drop(stripe);
            if let Some((_, _, publish)) = frame {
                publish();
            }
            return false;
        };
        lane.in_flight.remove(&ticket);
        if let Some((seq, bytes, publish)) = frame {
            let held = Held { waits_for: lane.in_flight.last().copied(), since: Instant::now(), bytes, publish };
            self.held_bytes.fetch_add(bytes, Ordering::Relaxed);
            if let Some(clash) = lane.held.insert(seq, held) {
                // Two frames with one seq: cannot happen with dense seqs.
                self.held_bytes.fetch_sub(clash.bytes, Ordering::Relaxed);
                (clash.publish)();
            }
        }
        self.release(lane, Instant::now());
        let arm = !lane.held.is_empty() && !lane.timer_armed;
        if arm {
            lane.timer_armed = true;
        }
        arm
    }

    /// Publishes held frames, smallest seq first, while the smallest may go.
    fn release(&self, lane: &mut Lane, now: Instant) {
        // Everything up to the newest overdue frame leaves, in order.
        let overdue_up_to =
            lane.held.iter().filter(|(_, h)| now.duration_since(h.since) >= HOLD_DEADLINE).map(|(s, _)| *s).max();
        loop {
            let crowded = lane.held.len() > MAX_HELD_PER_CONVERSATION;
            let Some(entry) = lane.held.first_entry() else { break };
            let seq = *entry.key();
            let held = entry.get();
            let follows_last = lane.last_released.is_some_and(|last| seq <= last + 1);
            let predecessors_done =
                held.waits_for.is_none_or(|w| lane.in_flight.first().is_none_or(|first| *first > w));
            let overdue = overdue_up_to.is_some_and(|up_to| seq <= up_to);
            let over_budget = crowded || self.held_bytes.load(Ordering::Relaxed) > MAX_HELD_BYTES;
            if !(follows_last || predecessors_done || overdue || over_budget) {
                break;
            }
            let held = entry.remove();
            self.held_bytes.fetch_sub(held.bytes, Ordering::Relaxed);
            lane.last_released = Some(lane.last_released.map_or(seq, |last| last.max(seq)));
            (held.publish)();
        }
    }

    /// The lane's timer: wakes when its oldest held frame is due, until
    /// nothing is held.
    async fn watch(self: Arc<Self>, conversation_id: ConversationId) {
        let mut due = Instant::now() + HOLD_DEADLINE;
        loop {
            tokio::time::sleep_until(due).await;
            let mut stripe = self.stripe(conversation_id);
            let Some(lane) = stripe.get_mut(&conversation_id) else { return };
            self.release(lane, Instant::now());
            match lane.held.values().map(|h| h.since).min() {
                Some(oldest) => due = oldest + HOLD_DEADLINE,
                None => {
                    lane.timer_armed = false;
                    return;
                }
            }
        }
    }
}

/// One append in flight. Finish it with [`Ticket::publish_in_order`] once
/// committed; dropping it (failed append, duplicate) lets later frames go.
pub struct Ticket {
    order: Arc<LiveOrder>,
    conversation_id: ConversationId,
    id: u64,
    finished: bool,
}

impl Ticket {
    /// The append committed `seq`: `publish` runs once every earlier append
    /// of this node that could hold a lower seq has finished (or after
    /// [`HOLD_DEADLINE`]). It runs under a lock: it must not block.
    pub fn publish_in_order(mut self, seq: Seq, bytes: usize, publish: Publish) {
        self.finished = true;
        let order = self.order.clone();
        if order.finish(self.conversation_id, self.id, Some((seq, bytes, publish))) {
            arm_timer(order, self.conversation_id);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.finished && self.order.finish(self.conversation_id, self.id, None) {
            arm_timer(self.order.clone(), self.conversation_id);
        }
    }
}

fn arm_timer(order: Arc<LiveOrder>, conversation_id: ConversationId) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(order.watch(conversation_id));
        }
        // No runtime (the process is ending): let everything go now.
        Err(_) => {
            let mut stripe = order.stripe(conversation_id);
            if let Some(mut lane) = stripe.remove(&conversation_id) {
                for (_, held) in std::mem::take(&mut lane.held) {
                    order.held_bytes.fetch_sub(held.bytes, Ordering::Relaxed);
                    (held.publish)();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Log = Arc<Mutex<Vec<Seq>>>;

    fn recorder(log: &Log, seq: Seq) -> Publish {
        let log = log.clone();
        Box::new(move || log.lock().unwrap().push(seq))
    }

    fn published(log: &Log) -> Vec<Seq> {
        log.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn a_later_commit_waits_for_an_earlier_append_still_in_flight() {
        let order = LiveOrder::new();
        let log = Log::default();
        let first = order.ticket(1);
        let second = order.ticket(1);
        second.publish_in_order(2, 10, recorder(&log, 2));
        assert!(published(&log).is_empty(), "seq 2 waits: the first append may still get seq 1");
        first.publish_in_order(1, 10, recorder(&log, 1));
        assert_eq!(published(&log), vec![1, 2]);
    }

    #[tokio::test]
    async fn a_frame_that_follows_the_last_released_seq_goes_at_once() {
        let order = LiveOrder::new();
        let log = Log::default();
        order.ticket(1).publish_in_order(1, 10, recorder(&log, 1));
        let slow = order.ticket(1);
        let first = order.ticket(1);
        // `slow` is in flight, but seq 1 went out already, so 2 cannot be
        // overtaken by anything.
        first.publish_in_order(2, 10, recorder(&log, 2));
        assert_eq!(published(&log), vec![1, 2]);
        drop(slow);
    }

    #[tokio::test]
    async fn a_failed_append_releases_the_frames_waiting_for_it() {
        let order = LiveOrder::new();
        let log = Log::default();
        let failing = order.ticket(1);
        order.ticket(1).publish_in_order(7, 10, recorder(&log, 7));
        assert!(published(&log).is_empty());
        drop(failing);
        assert_eq!(published(&log), vec![7]);
    }

    #[tokio::test]
    async fn appends_started_after_a_commit_do_not_hold_it() {
        let order = LiveOrder::new();
        let log = Log::default();
        let old = order.ticket(1);
        let done = order.ticket(1);
        done.publish_in_order(5, 10, recorder(&log, 5));
        // Taken after seq 5 committed: it can only get a higher seq.
        let newer = order.ticket(1);
        drop(old);
        assert_eq!(published(&log), vec![5]);
        newer.publish_in_order(6, 10, recorder(&log, 6));
        assert_eq!(published(&log), vec![5, 6]);
    }

    #[tokio::test]
    async fn conversations_do_not_wait_for_each_other() {
        let order = LiveOrder::new();
        let log = Log::default();
        let other = order.ticket(2);
        order.ticket(1).publish_in_order(3, 10, recorder(&log, 3));
        assert_eq!(published(&log), vec![3]);
        drop(other);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_predecessor_holds_later_frames_only_until_the_deadline() {
        let order = LiveOrder::new();
        let log = Log::default();
        let stuck = order.ticket(1);
        order.ticket(1).publish_in_order(4, 10, recorder(&log, 4));
        order.ticket(1).publish_in_order(3, 10, recorder(&log, 3));
        tokio::time::sleep(HOLD_DEADLINE / 2).await;
        assert!(published(&log).is_empty());
        tokio::time::sleep(HOLD_DEADLINE).await;
        assert_eq!(published(&log), vec![3, 4], "released in seq order at the deadline");
        drop(stuck);
    }

    #[tokio::test]
    async fn idle_conversations_are_forgotten_beyond_a_bound() {
        let order = LiveOrder::new();
        let log = Log::default();
        for conversation in 0..10_000 {
            order.ticket(conversation).publish_in_order(1, 10, recorder(&log, 1));
        }
        assert_eq!(published(&log).len(), 10_000);
        assert!(order.tracked_conversations() <= STRIPES * IDLE_LANES_PER_STRIPE);
        assert_eq!(order.held_bytes.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_conversation_holds_a_bounded_number_of_frames() {
        let order = LiveOrder::new();
        let log = Log::default();
        let stuck = order.ticket(1);
        // Every other seq, so none follows another and each must wait.
        for n in 0..(MAX_HELD_PER_CONVERSATION as Seq + 10) {
            let seq = 2 + 2 * n;
            order.ticket(1).publish_in_order(seq, 1, recorder(&log, seq));
        }
        assert_eq!(published(&log).len(), 10, "the smallest leave early, in order");
        assert!(published(&log).windows(2).all(|w| w[0] < w[1]));
        drop(stuck);
        assert_eq!(published(&log).len(), MAX_HELD_PER_CONVERSATION + 10);
    }
}
