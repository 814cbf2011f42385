//! [`SyncState`]: what a device holds, per conversation, so that every message
//! is shown exactly once and holes are noticed.
//!
//! Messages reach a device twice in normal operation: live (`message` frames)
//! and through `sync` after a reconnect, and the two overlap. Within a
//! conversation every message has a `seq` 1, 2, 3, … without gaps, so the
//! state needed is small: the *cursor* (the highest seq up to which the device
//! holds everything) plus the few seqs received above a hole. Pure logic, no
//! I/O.

use std::collections::{BTreeMap, BTreeSet};

use banter_protocol::frames::SyncCursor;
use banter_protocol::{ConversationId, Message, Seq};

/// What [`SyncState::accept`] concluded about a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Not seen before, and everything before it is held: show it.
    New,
    /// Already held (or not a valid seq): ignore it.
    Duplicate,
    /// Not seen before, so show it, but messages `expected..got` are missing:
    /// run a sync (from [`SyncState::cursors`]) to fill the hole. The sync
    /// will return this message again, which is then a `Duplicate`.
    Gap {
        /// The first missing seq.
        expected: Seq,
        /// The seq of the message just accepted.
        got: Seq,
    },
}

impl Accepted {
    /// True when the message was not held before (`New` or `Gap`): display it.
    pub fn is_new(self) -> bool {
        !matches!(self, Accepted::Duplicate)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ConversationState {
    /// Every seq `1..=cursor` is held.
    cursor: Seq,
    /// Seqs held above `cursor + 1` (a hole lies just after `cursor`).
    ahead: BTreeSet<Seq>,
}

impl ConversationState {
    /// Moves the cursor over the seqs held just above it. Stops at
    /// `Seq::MAX` rather than overflowing: seqs come from the server, and a
    /// wrong or hostile one must not crash the client.
    fn absorb_ahead(&mut self) {
        while let Some(next) = self.cursor.checked_add(1) {
            if !self.ahead.remove(&next) {
                break;
            }
            self.cursor = next;
        }
    }
}

/// Per-conversation cursors of one device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    conversations: BTreeMap<ConversationId, ConversationState>,
}

impl SyncState {
    /// An empty state: every conversation starts at cursor 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// A state resumed from stored cursors (e.g. persisted at shutdown).
    pub fn from_cursors(cursors: &[SyncCursor]) -> Self {
        let mut state = Self::new();
        for c in cursors {
            state.set_cursor(c.conversation_id, c.seq);
        }
        state
    }

    /// Records a message received live or through sync and says whether it
    /// is new.
    pub fn accept(&mut self, message: &Message) -> Accepted {
        self.accept_seq(message.conversation_id, message.seq)
    }

    /// [`SyncState::accept`] for a bare `(conversation, seq)`.
    pub fn accept_seq(&mut self, conversation_id: ConversationId, seq: Seq) -> Accepted {
        if seq < 1 {
            return Accepted::Duplicate;
        }
        let conv = self.conversations.entry(conversation_id).or_default();
        if seq <= conv.cursor || conv.ahead.contains(&seq) {
            return Accepted::Duplicate;
        }
        let expected = conv.cursor + 1;
        if seq == expected {
            conv.cursor = seq;
            // The hole may now be closed: absorb what was held above it.
            conv.absorb_ahead();
            Accepted::New
        } else {
            conv.ahead.insert(seq);
            Accepted::Gap { expected, got: seq }
        }
    }

    /// The highest contiguous seq held for a conversation (0 when none).
    pub fn cursor(&self, conversation_id: ConversationId) -> Seq {
        self.conversations
            .get(&conversation_id)
            .map_or(0, |c| c.cursor)
    }

    /// Moves a conversation's cursor forward to `seq` (never back), e.g. to
    /// skip old history and start from a conversation's `last_seq`.
    pub fn set_cursor(&mut self, conversation_id: ConversationId, seq: Seq) {
        let conv = self.conversations.entry(conversation_id).or_default();
        if seq > conv.cursor {
            conv.cursor = seq;
            conv.ahead.retain(|&s| s > seq);
            conv.absorb_ahead();
        }
    }

    /// Forgets a conversation (e.g. after leaving it).
    pub fn forget(&mut self, conversation_id: ConversationId) {
        self.conversations.remove(&conversation_id);
    }

    /// True when some conversation has a hole: run a sync.
    pub fn has_gaps(&self) -> bool {
        self.conversations.values().any(|c| !c.ahead.is_empty())
    }

    /// Conversations with a hole, with the first missing seq of each.
    pub fn gaps(&self) -> Vec<(ConversationId, Seq)> {
        self.conversations
            .iter()
            .filter(|(_, c)| !c.ahead.is_empty())
            .map(|(&id, c)| (id, c.cursor + 1))
            .collect()
    }

    /// The cursors to send in a `sync` frame, ordered by conversation id.
    /// Conversations not listed (never seen) are synced from the start.
    pub fn cursors(&self) -> Vec<SyncCursor> {
        self.conversations
            .iter()
            .map(|(&conversation_id, c)| SyncCursor {
                conversation_id,
                seq: c.cursor,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(conversation_id: ConversationId, seq: Seq) -> Message {
        Message {
            conversation_id,
            seq,
            sender_id: 1,
            sender_device_id: 1,
            client_msg_id: format!("m{seq}"),
            text: "hi".into(),
            server_ts: 0,
            ..Default::default()
        }
    }

    /// Regression: reaching the largest seq overflowed `cursor + 1` (a panic
    /// in debug builds, a wrapped cursor in release); the `sync_state` fuzz
    /// target finds it within a second on the old code.
    #[test]
    fn the_largest_seq_does_not_overflow_the_cursor() {
        let mut s = SyncState::new();
        s.set_cursor(1, Seq::MAX - 1);
        assert_eq!(s.accept_seq(1, Seq::MAX), Accepted::New);
        assert_eq!(s.cursor(1), Seq::MAX);
        assert_eq!(s.accept_seq(1, Seq::MAX), Accepted::Duplicate);
        let mut t = SyncState::new();
        t.accept_seq(2, Seq::MAX);
        t.set_cursor(2, Seq::MAX - 1);
        assert_eq!(t.cursor(2), Seq::MAX);
        assert!(!t.has_gaps());
    }

    #[test]
    fn in_order_messages_are_new_and_advance_the_cursor() {
        let mut s = SyncState::new();
        for seq in 1..=3 {
            assert_eq!(s.accept(&msg(7, seq)), Accepted::New);
        }
        assert_eq!(s.cursor(7), 3);
        assert_eq!(
            s.cursors(),
            vec![SyncCursor {
                conversation_id: 7,
                seq: 3
            }]
        );
        assert!(!s.has_gaps());
    }

    #[test]
    fn duplicates_are_reported_once_held() {
        let mut s = SyncState::new();
        assert_eq!(s.accept(&msg(1, 1)), Accepted::New);
        assert_eq!(s.accept(&msg(1, 2)), Accepted::New);
        assert_eq!(s.accept(&msg(1, 1)), Accepted::Duplicate);
        assert_eq!(s.accept(&msg(1, 2)), Accepted::Duplicate);
        assert_eq!(s.cursor(1), 2);
    }

    #[test]
    fn a_gap_is_detected_and_the_cursor_stays_below_it() {
        let mut s = SyncState::new();
        assert_eq!(s.accept(&msg(1, 1)), Accepted::New);
        assert_eq!(
            s.accept(&msg(1, 4)),
            Accepted::Gap {
                expected: 2,
                got: 4
            }
        );
        assert!(Accepted::Gap {
            expected: 2,
            got: 4
        }
        .is_new());
        assert_eq!(s.accept(&msg(1, 4)), Accepted::Duplicate);
        assert_eq!(s.cursor(1), 1);
        assert_eq!(s.gaps(), vec![(1, 2)]);
        assert_eq!(
            s.cursors(),
            vec![SyncCursor {
                conversation_id: 1,
                seq: 1
            }]
        );
    }

    #[test]
    fn a_sync_fills_the_gap_and_skips_what_was_held() {
        let mut s = SyncState::new();
        s.accept(&msg(1, 1));
        s.accept(&msg(1, 3));
        s.accept(&msg(1, 5));
        // Sync from cursor 1 returns 2..=5; 3 and 5 were already shown.
        let shown: Vec<Seq> = (2..=5)
            .filter(|&seq| s.accept(&msg(1, seq)).is_new())
            .collect();
        assert_eq!(shown, vec![2, 4]);
        assert_eq!(s.cursor(1), 5);
        assert!(!s.has_gaps());
        assert_eq!(s.accept(&msg(1, 6)), Accepted::New);
    }

    #[test]
    fn conversations_are_independent() {
        let mut s = SyncState::new();
        assert_eq!(s.accept(&msg(2, 1)), Accepted::New);
        assert_eq!(s.accept(&msg(1, 1)), Accepted::New);
        assert_eq!(s.accept(&msg(2, 1)), Accepted::Duplicate);
        assert_eq!(
            s.cursors(),
            vec![
                SyncCursor {
                    conversation_id: 1,
                    seq: 1
                },
                SyncCursor {
                    conversation_id: 2,
                    seq: 1
                }
            ]
        );
    }

    #[test]
    fn cursors_round_trip_and_only_move_forward() {
        let mut s = SyncState::from_cursors(&[SyncCursor {
            conversation_id: 3,
            seq: 10,
        }]);
        assert_eq!(s.accept(&msg(3, 10)), Accepted::Duplicate);
        assert_eq!(s.accept(&msg(3, 11)), Accepted::New);
        s.set_cursor(3, 5);
        assert_eq!(s.cursor(3), 11);
        s.accept(&msg(3, 14));
        s.set_cursor(3, 13);
        assert_eq!(
            s.cursor(3),
            14,
            "held seqs just above the new cursor are absorbed"
        );
        s.forget(3);
        assert_eq!(s.cursor(3), 0);
        assert!(s.cursors().is_empty());
    }

    #[test]
    fn invalid_seqs_are_ignored() {
        let mut s = SyncState::new();
        assert_eq!(s.accept(&msg(1, 0)), Accepted::Duplicate);
        assert_eq!(s.accept(&msg(1, -3)), Accepted::Duplicate);
        assert_eq!(s.cursor(1), 0);
    }
}
