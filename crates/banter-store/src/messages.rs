//! Messages: appending (the hot path), history pages and sync, and the
//! idempotency rule every backend applies to a send.
//!
//! [`Message`], [`ConversationId`], [`Seq`] and the other ids are
//! `banter_protocol`'s model types, used here as the domain types: a stored
//! message is exactly what is delivered. A sync cursor, by contrast, is a
//! wire frame's field, so the store takes its own [`ConversationCursor`].

use std::collections::HashMap;

use async_trait::async_trait;
use banter_protocol::{Content, ConversationId, DeviceId, Message, MessageKind, Seq, TimestampMs, UserId};

use crate::{StoreError, StoreResult};

/// An entry to append: a message, or an edit or delete of one. Its text
/// has already been validated.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub conversation_id: ConversationId,
    pub sender_id: UserId,
    pub sender_device_id: DeviceId,
    pub client_msg_id: String,
    pub content: Content,
    pub server_ts: TimestampMs,
    /// The limits an edit or delete is held to.
    pub rules: ChangeRules,
}

/// How long after sending, and how often, a message may be changed: the
/// server's `edit_window`, `delete_window` and `max_edits` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeRules {
    /// An edit is refused once the message is older than this (ms).
    pub edit_window_ms: i64,
    /// A delete is refused once the message is older than this (ms).
    pub delete_window_ms: i64,
    /// Most edits of one message.
    pub max_edits: u32,
}

impl ChangeRules {
    /// 24 hours to edit, at most 20 times; 7 days to delete (the server's
    /// defaults are these).
    pub const DEFAULT: ChangeRules =
        ChangeRules { edit_window_ms: 24 * 3_600_000, delete_window_ms: 7 * 24 * 3_600_000, max_edits: 20 };
}

impl Default for ChangeRules {
    fn default() -> Self {
        ChangeRules::DEFAULT
    }
}

/// What the rules need to know of the message that a reply, edit or delete
/// names (its conversation's row at `target_seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target {
    pub sender_id: UserId,
    pub kind: MessageKind,
    pub server_ts: TimestampMs,
    pub deleted: bool,
    pub edit_count: u32,
}

impl Target {
    /// The target as it stands once `new` (a change that passed
    /// [`NewMessage::check_target`]) is stored, for a later change in the
    /// same batch.
    pub(crate) fn after(mut self, new: &NewMessage) -> Target {
        match new.content {
            Content::Edit { .. } => self.edit_count = self.edit_count.saturating_add(1),
            Content::Delete { .. } => self.deleted = true,
            Content::Text { .. } => {}
        }
        self
    }

    /// A text message as it is stored: the target of later replies and
    /// changes in the same batch.
    pub(crate) fn of_new(new: &NewMessage) -> Option<Target> {
        matches!(new.content, Content::Text { .. }).then_some(Target {
            sender_id: new.sender_id,
            kind: MessageKind::Text,
            server_ts: new.server_ts,
            deleted: false,
            edit_count: 0,
        })
    }
}

impl NewMessage {
    /// The idempotency rule, the same on every backend and shard count: a
    /// device's `client_msg_id` names one entry. A send whose key is
    /// already stored is a retry of `original` — answered with its ack,
    /// `duplicate: true` — only when it asks for the same thing: the same
    /// conversation, kind, reply or target, and the same text (byte for
    /// byte; not compared once the original was edited or deleted, since
    /// its text changed). Otherwise it is refused with
    /// [`StoreError::ClientMsgIdReused`] and nothing is stored, so a client
    /// that reuses ids by mistake learns it instead of losing the text.
    pub fn is_retry_of(&self, original: &Message) -> bool {
        let text_changed = original.deleted || original.edited_at.is_some();
        self.conversation_id == original.conversation_id
            && self.content.kind() == original.kind
            && self.content.reply_to() == original.reply_to
            && self.content.target_seq() == original.target_seq
            && (text_changed || self.content.text_str() == original.text)
    }

    /// True when `other` (with the same key, earlier in one batch) asks for
    /// exactly the same thing.
    pub(crate) fn same_request(&self, other: &NewMessage) -> bool {
        self.conversation_id == other.conversation_id && self.content == other.content
    }

    /// The answer to a send whose key is already stored as `original`, in a
    /// conversation whose members are `original_members`: `Ok` (a retry,
    /// answered with the original) only if [`is_retry_of`](Self::is_retry_of)
    /// holds and the sender may still see the original; otherwise
    /// [`StoreError::ClientMsgIdReused`] or [`StoreError::NotAMember`].
    pub(crate) fn check_retry(&self, original: &Message, original_members: &[UserId]) -> StoreResult<()> {
        if !self.is_retry_of(original) {
            return Err(StoreError::ClientMsgIdReused);
        }
        require_sender(original_members, self.sender_id)
    }

    /// The seq of the message this entry names (the message a reply quotes,
    /// or that an edit or delete changes), which the backend looks up
    /// before [`check_target`](Self::check_target).
    pub(crate) fn referenced_seq(&self) -> Option<Seq> {
        self.content.reply_to().or(self.content.target_seq())
    }

    /// The rules of replies, edits and deletes, given the row `target` at
    /// [`referenced_seq`](Self::referenced_seq) (`None`: no such seq in the
    /// conversation):
    ///
    /// * a reply names a `text` entry of the conversation (deleted or not),
    ///   else [`StoreError::InvalidReply`];
    /// * an edit or delete names a `text` entry, else `MessageNotFound`;
    ///   sent by the same user, else `NotYourMessage`; not deleted, else
    ///   `MessageDeleted`; younger than the edit (delete) window, else
    ///   `EditWindowClosed`; an edit only while the message has been
    ///   edited fewer than `max_edits` times, else `TooManyEdits`.
    pub(crate) fn check_target(&self, target: Option<&Target>) -> StoreResult<()> {
        let target = target.filter(|t| t.kind == MessageKind::Text);
        let (window_ms, what) = match self.content {
            Content::Text { reply_to: None, .. } => return Ok(()),
            Content::Text { reply_to: Some(_), .. } => return target.map(|_| ()).ok_or(StoreError::InvalidReply),
            Content::Edit { .. } => (self.rules.edit_window_ms, "edit"),
            Content::Delete { .. } => (self.rules.delete_window_ms, "delete"),
        };
        let target = target.ok_or(StoreError::MessageNotFound)?;
        if target.sender_id != self.sender_id {
            return Err(StoreError::NotYourMessage);
        }
        if target.deleted {
            return Err(StoreError::MessageDeleted);
        }
        if self.server_ts.saturating_sub(target.server_ts) > window_ms {
            return Err(StoreError::EditWindowClosed(what));
        }
        if matches!(self.content, Content::Edit { .. }) && target.edit_count >= self.rules.max_edits {
            return Err(StoreError::TooManyEdits(self.rules.max_edits));
        }
        Ok(())
    }

    /// The stored entry once `seq` is assigned. Takes `self`: the text
    /// (up to 400 KB) is moved, not copied.
    pub(crate) fn into_message(self, seq: Seq) -> Message {
        let (kind, reply_to, target_seq) = (self.content.kind(), self.content.reply_to(), self.content.target_seq());
        Message {
            conversation_id: self.conversation_id,
            seq,
            sender_id: self.sender_id,
            sender_device_id: self.sender_device_id,
            client_msg_id: self.client_msg_id,
            text: self.content.into_text(),
            server_ts: self.server_ts,
            kind,
            reply_to,
            target_seq,
            edited_at: None,
            deleted: false,
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
            content: Content::text(text),
            server_ts: 0,
            rules: ChangeRules::default(),
        }
    }

    fn change(content: Content, sender_id: UserId, server_ts: TimestampMs) -> NewMessage {
        NewMessage { content, sender_id, server_ts, ..send(3, "") }
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
    fn a_retry_asks_for_the_same_reply_or_change_and_its_text_is_not_compared_once_edited() {
        let reply = change(Content::Text { text: "hi".into(), reply_to: Some(2) }, 1, 0);
        let original = reply.clone().into_message(5);
        assert!(reply.is_retry_of(&original));
        assert!(!send(3, "hi").is_retry_of(&original), "the same text without the reply is another message");
        let edit = change(Content::Edit { target: 2, text: "hi".into() }, 1, 0);
        assert!(!edit.is_retry_of(&original));
        let edited = Message { text: "changed since".into(), edited_at: Some(9), ..original.clone() };
        assert!(reply.is_retry_of(&edited));
        let deleted = Message { text: String::new(), deleted: true, ..original };
        assert!(reply.is_retry_of(&deleted));
    }

    fn target(sender_id: UserId) -> Target {
        Target { sender_id, kind: MessageKind::Text, server_ts: 1_000, deleted: false, edit_count: 0 }
    }

    #[test]
    fn a_reply_names_a_text_message_of_the_conversation() {
        let reply = change(Content::Text { text: "re".into(), reply_to: Some(2) }, 1, 2_000);
        assert!(reply.check_target(Some(&target(2))).is_ok());
        assert!(reply.check_target(Some(&Target { deleted: true, ..target(2) })).is_ok());
        assert!(matches!(reply.check_target(None), Err(StoreError::InvalidReply)));
        let edit_entry = Target { kind: MessageKind::Edit, ..target(2) };
        assert!(matches!(reply.check_target(Some(&edit_entry)), Err(StoreError::InvalidReply)));
        assert!(send(3, "plain").check_target(None).is_ok());
    }

    #[test]
    fn only_the_sender_changes_a_live_message_within_the_window_and_the_edit_count() {
        let rules = ChangeRules { edit_window_ms: 10_000, delete_window_ms: 20_000, max_edits: 2 };
        let edit = |at| NewMessage { rules, ..change(Content::Edit { target: 2, text: "new".into() }, 1, at) };
        let delete = |at| NewMessage { rules, ..change(Content::Delete { target: 2 }, 1, at) };
        assert!(edit(11_000).check_target(Some(&target(1))).is_ok());
        assert!(matches!(edit(11_001).check_target(Some(&target(1))), Err(StoreError::EditWindowClosed("edit"))));
        assert!(delete(21_000).check_target(Some(&target(1))).is_ok());
        assert!(matches!(delete(21_001).check_target(Some(&target(1))), Err(StoreError::EditWindowClosed("delete"))));
        assert!(matches!(edit(2_000).check_target(Some(&target(2))), Err(StoreError::NotYourMessage)));
        assert!(matches!(delete(2_000).check_target(None), Err(StoreError::MessageNotFound)));
        let change_entry = Target { kind: MessageKind::Delete, ..target(1) };
        assert!(matches!(edit(2_000).check_target(Some(&change_entry)), Err(StoreError::MessageNotFound)));
        let twice = target(1).after(&edit(2_000)).after(&edit(3_000));
        assert!(matches!(edit(4_000).check_target(Some(&twice)), Err(StoreError::TooManyEdits(2))));
        assert!(delete(4_000).check_target(Some(&twice)).is_ok(), "the edit count does not limit a delete");
        let gone = target(1).after(&delete(2_000));
        assert!(matches!(edit(3_000).check_target(Some(&gone)), Err(StoreError::MessageDeleted)));
        assert!(matches!(delete(3_000).check_target(Some(&gone)), Err(StoreError::MessageDeleted)));
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
