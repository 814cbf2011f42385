//! Per-member markers (delivered and read seqs), receipts and mute, and the
//! one marker rule every backend applies (`MarkerUpdate::advance`).
//!
//! `delivered_seq >= read_seq` always holds: reading implies delivery, so
//! moving the read marker drags the delivered marker along. Both only move
//! forward and never past the conversation's last seq. [`Markers`] is
//! `banter_protocol`'s model type, used here as the domain type; receipts
//! come back as the store's own [`Receipts`], which the server turns into
//! its HTTP body.

use async_trait::async_trait;
use banter_protocol::{ConversationId, Markers, Seq, UserId};

use crate::StoreResult;

/// Which marker a call moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Delivered,
    Read,
}

/// The result of moving a user's delivery or read marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerUpdate {
    /// The markers after the update (they never move back).
    pub markers: Markers,
    /// True when either marker moved.
    pub changed: bool,
    /// In a direct conversation, the other member: the one who sees
    /// delivered/read receipts. `None` for groups.
    pub direct_peer: Option<UserId>,
}

impl MarkerUpdate {
    /// The one rule for moving markers, shared by every backend: `marker`
    /// moves forward to `seq`, never past `last_seq`, and reading implies
    /// delivery (`delivered_seq >= read_seq`). `direct_peer` is left `None`
    /// for the backend to fill in. A backend writes `markers` back only when
    /// `changed`.
    pub(crate) fn advance(current: Markers, marker: Marker, seq: Seq, last_seq: Seq) -> MarkerUpdate {
        let target = seq.min(last_seq);
        let read_seq = match marker {
            Marker::Read => current.read_seq.max(target),
            Marker::Delivered => current.read_seq,
        };
        let markers = Markers { delivered_seq: current.delivered_seq.max(target).max(read_seq), read_seq };
        MarkerUpdate { changed: markers != current, markers, direct_peer: None }
    }
}

/// Who has one message delivered and read: current members, the sender
/// excluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipts {
    pub conversation_id: ConversationId,
    pub seq: Seq,
    /// Current members, sender excluded.
    pub member_count: usize,
    /// Those whose delivered marker reached `seq`, ascending.
    pub delivered_to: Vec<UserId>,
    /// Those whose read marker reached `seq`, ascending.
    pub read_by: Vec<UserId>,
}

impl Receipts {
    /// The receipts of message `seq` from the markers of the members other
    /// than its sender, as `(user_id, delivered_seq, read_seq)` ascending by
    /// user id.
    pub(crate) fn from_markers(
        conversation_id: ConversationId,
        seq: Seq,
        others: impl IntoIterator<Item = (UserId, Seq, Seq)>,
    ) -> Receipts {
        let mut receipts =
            Receipts { conversation_id, seq, member_count: 0, delivered_to: Vec::new(), read_by: Vec::new() };
        for (user_id, delivered_seq, read_seq) in others {
            receipts.member_count += 1;
            if delivered_seq >= seq {
                receipts.delivered_to.push(user_id);
            }
            if read_seq >= seq {
                receipts.read_by.push(user_id);
            }
        }
        receipts
    }
}

/// Durable storage of per-member markers and mute.
#[async_trait]
pub trait MarkerStore: Send + Sync {
    /// Moves the user's read marker forward to `seq` (clamped to the
    /// conversation's last seq; never backwards). Reading implies delivery,
    /// so the delivered marker moves at least as far. Errors: NotAMember.
    async fn mark_read(&self, conversation_id: ConversationId, user_id: UserId, seq: Seq) -> StoreResult<MarkerUpdate>;

    /// Moves the user's delivered marker forward to `seq` (clamped to the
    /// conversation's last seq; never backwards). Errors: NotAMember.
    async fn mark_delivered(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        seq: Seq,
    ) -> StoreResult<MarkerUpdate>;

    /// Which current members (the sender excluded) have message `seq`
    /// delivered and read. Errors: NotAMember (viewer), MessageNotFound.
    async fn message_receipts(&self, conversation_id: ConversationId, viewer: UserId, seq: Seq) -> StoreResult<Receipts>;

    /// Mutes or unmutes push notifications of a conversation for one member.
    /// Errors: NotAMember.
    async fn set_muted(&self, conversation_id: ConversationId, user_id: UserId, muted: bool) -> StoreResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: fn(Seq, Seq) -> Markers = |delivered_seq, read_seq| Markers { delivered_seq, read_seq };

    #[test]
    fn markers_move_forward_only_and_never_past_the_last_seq() {
        let moved = MarkerUpdate::advance(AT(3, 2), Marker::Delivered, 9, 5);
        assert_eq!((moved.markers, moved.changed), (AT(5, 2), true));
        let stayed = MarkerUpdate::advance(AT(3, 2), Marker::Read, 1, 5);
        assert_eq!((stayed.markers, stayed.changed), (AT(3, 2), false));
    }

    #[test]
    fn reading_implies_delivery() {
        assert_eq!(MarkerUpdate::advance(AT(1, 1), Marker::Read, 4, 5).markers, AT(4, 4));
    }

    #[test]
    fn receipts_count_members_whose_markers_reached_the_message() {
        let receipts = Receipts::from_markers(7, 3, [(1, 3, 3), (2, 3, 1), (4, 2, 2)]);
        assert_eq!(receipts.member_count, 3);
        assert_eq!(receipts.delivered_to, vec![1, 2]);
        assert_eq!(receipts.read_by, vec![1]);
    }
}
