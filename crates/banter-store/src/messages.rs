//! Messages: appending (the hot path), history pages and sync, and the
//! idempotency rule every backend applies to a send.
//!
//! [`Message`], [`ConversationId`], [`Seq`] and the other ids are
//! `banter_protocol`'s model types, used here as the domain types: a stored
//! message is exactly what is delivered. A sync cursor, by contrast, is a
//! wire frame's field, so the store takes its own [`ConversationCursor`].

use std::collections::HashMap;

use async_trait::async_trait;
use banter_protocol::{ConversationId, DeviceId, Message, Seq, TimestampMs, UserId};

use crate::{StoreError, StoreResult};

/// A message to append. `text` has already been validated.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub conversation_id: ConversationId,
    pub sender_id: UserId,
    pub sender_device_id: DeviceId,
    pub client_msg_id: String,
    pub text: String,
    pub server_ts: TimestampMs,
}

impl NewMessage {
    /// The idempotency rule, the same on every backend and shard count: a
    /// device's `client_msg_id` names one message. A send whose key is
    /// already stored is a retry of the message stored under it (in
    /// `conversation_id` with `text`) — answered with its ack,
    /// `duplicate: true` — only when it names the same conversation and the
    /// same text (byte for byte); otherwise it is refused with
    /// [`StoreError::ClientMsgIdReused`] and nothing is stored, so a client
    /// that reuses ids by mistake learns it instead of losing the text.
    pub fn is_retry_of(&self, conversation_id: ConversationId, text: &str) -> bool {
        self.conversation_id == conversation_id && self.text == text
    }

    /// The answer to a send whose key is already stored as `original`, in a
    /// conversation whose members are `original_members`: `Ok` (a retry,
    /// answered with the original) only if [`is_retry_of`](Self::is_retry_of)
    /// holds and the sender may still see the original; otherwise
    /// [`StoreError::ClientMsgIdReused`] or [`StoreError::NotAMember`].
    pub(crate) fn check_retry(&self, original: &Message, original_members: &[UserId]) -> StoreResult<()> {
        if !self.is_retry_of(original.conversation_id, &original.text) {
            return Err(StoreError::ClientMsgIdReused);
        }
        require_sender(original_members, self.sender_id)
    }

    /// The stored message once `seq` is assigned. Takes `self`: the text
    /// (up to 400 KB) is moved, not copied.
    pub(crate) fn into_message(self, seq: Seq) -> Message {
        Message {
            conversation_id: self.conversation_id,
            seq,
            sender_id: self.sender_id,
            sender_device_id: self.sender_device_id,
            client_msg_id: self.client_msg_id,
            text: self.text,
            server_ts: self.server_ts,
        }
    }
}

/// Only members append or read: fails with [`StoreError::NotAMember`]
/// unless `sender` is among `members`. A conversation that does not exist
/// has no members, so outsiders learn nothing.
pub(crate) fn require_sender(members: &[UserId], sender: UserId) -> StoreResult<()> {
    if members.contains(&sender) {
        Ok(())
    } else {
        Err(StoreError::NotAMember)
    }
}

/// The result of [`MessageStore::append_message`].
#[derive(Debug, Clone)]
pub struct AppendOutcome {
    /// The stored message: the new one, or the original on a retry.
    pub message: Message,
    /// True when `(sender_device_id, client_msg_id)` already existed and
    /// nothing new was stored.
    pub duplicate: bool,
    /// Every current member of the conversation (sender included): the
    /// fan-out list, read in the same transaction as the membership check.
    pub member_ids: Vec<UserId>,
    /// In a direct conversation, the member other than the sender: sending
    /// moved the sender's read marker to the message, and this is who is
    /// told with a receipt. `None` for groups.
    pub direct_peer: Option<UserId>,
}

impl AppendOutcome {
    /// The outcome for `message` (sent by its `sender_id`) in a
    /// conversation with `member_ids`, direct or not.
    pub(crate) fn new(message: Message, duplicate: bool, member_ids: Vec<UserId>, is_direct: bool) -> AppendOutcome {
        let direct_peer = if is_direct { member_ids.iter().copied().find(|id| *id != message.sender_id) } else { None };
        AppendOutcome { message, duplicate, member_ids, direct_peer }
    }
}

/// Which page of history to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryRange {
    /// The newest messages.
    Latest,
    /// Messages with seq < the given one (the page just before it).
    Before(Seq),
    /// Messages with seq > the given one.
    After(Seq),
}

impl HistoryRange {
    /// Where a page reads from and which way, the same on every backend:
    /// `(cursor, backwards)`, reading the seqs strictly beyond `cursor`.
    /// `Latest` reads backwards from past the end (no seq reaches
    /// `Seq::MAX`).
    pub(crate) fn cursor(self) -> (Seq, bool) {
        match self {
            HistoryRange::Latest => (Seq::MAX, true),
            HistoryRange::Before(seq) => (seq, true),
            HistoryRange::After(seq) => (seq, false),
        }
    }
}

/// A page of messages in ascending seq order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    /// More messages exist beyond this page in the direction read.
    pub has_more: bool,
}

/// Where a device stands in one conversation: it holds every message up to
/// `seq` (0: none). What [`MessageStore::sync`] reads after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversationCursor {
    pub conversation_id: ConversationId,
    pub seq: Seq,
}

/// The cursors a sync reads from, by conversation: a negative seq counts as
/// 0, and when a conversation is listed twice the later cursor wins.
pub(crate) fn cursor_map(cursors: &[ConversationCursor]) -> HashMap<ConversationId, Seq> {
    cursors.iter().map(|c| (c.conversation_id, c.seq.max(0))).collect()
}

/// Durable storage of messages.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Appends a message with the next seq of its conversation, unless this
    /// device already sent this `client_msg_id`: an exact retry returns the
    /// original with `duplicate: true`, any other reuse is refused
    /// ([`NewMessage::is_retry_of`]). Sending advances the sender's read
    /// marker to the new seq. Returns once committed. Errors: NotAMember,
    /// ClientMsgIdReused.
    async fn append_message(&self, message: NewMessage) -> StoreResult<AppendOutcome>;

    /// A page of history: at most `limit` messages (already clamped) and,
    /// beyond the first, at most [`PAGE_TEXT_BYTES`](crate::PAGE_TEXT_BYTES)
    /// of text, contiguous with the cursor (the newest end for `Latest` and
    /// `Before`, the oldest for `After`). The budget is applied while
    /// reading, so a page costs about its own size. Errors: NotAMember.
    async fn history(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
        range: HistoryRange,
        limit: u32,
    ) -> StoreResult<MessagePage>;

    /// Up to `limit` messages the user's device is missing: for every
    /// conversation the user is a member of, in ascending conversation id,
    /// the messages after its cursor (0 if absent from `cursors`), in seq
    /// order. Like history, the page also ends once it holds
    /// [`PAGE_TEXT_BYTES`](crate::PAGE_TEXT_BYTES) of text (at least one
    /// message). `has_more` is false once nothing beyond the page exists.
    async fn sync(&self, user_id: UserId, cursors: &[ConversationCursor], limit: u32) -> StoreResult<MessagePage>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(conversation_id: ConversationId, text: &str) -> NewMessage {
        NewMessage {
            conversation_id,
            sender_id: 1,
            sender_device_id: 10,
            client_msg_id: "k".into(),
            text: text.into(),
            server_ts: 0,
        }
    }

    #[test]
    fn a_retry_is_the_same_conversation_and_text_from_a_member() {
        let original = send(3, "hi").into_message(5);
        assert!(send(3, "hi").check_retry(&original, &[1, 2]).is_ok());
        assert!(matches!(send(3, "hi!").check_retry(&original, &[1, 2]), Err(StoreError::ClientMsgIdReused)));
        assert!(matches!(send(4, "hi").check_retry(&original, &[1, 2]), Err(StoreError::ClientMsgIdReused)));
        assert!(matches!(send(3, "hi").check_retry(&original, &[2]), Err(StoreError::NotAMember)));
    }

    #[test]
    fn only_a_direct_conversation_has_a_peer() {
        let message = send(3, "hi").into_message(1);
        assert_eq!(AppendOutcome::new(message.clone(), false, vec![1, 2], true).direct_peer, Some(2));
        assert_eq!(AppendOutcome::new(message, false, vec![1, 2], false).direct_peer, None);
    }

    #[test]
    fn the_later_cursor_of_a_conversation_wins_and_negative_is_zero() {
        let map = cursor_map(&[
            ConversationCursor { conversation_id: 1, seq: 4 },
            ConversationCursor { conversation_id: 1, seq: 9 },
            ConversationCursor { conversation_id: 2, seq: -3 },
        ]);
        assert_eq!(map[&1], 9);
        assert_eq!(map[&2], 0);
    }
}
