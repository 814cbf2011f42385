//! The objects the protocol talks about: users, devices, conversations, messages.
//!
//! Identifiers are 64-bit integers assigned by the server and always below
//! 2^53, so JavaScript clients can hold them as numbers. Times are
//! milliseconds since the Unix epoch (UTC).

use serde::{Deserialize, Serialize};

/// Identifies a user account.
pub type UserId = i64;
/// Identifies one logged-in device (one session) of a user.
pub type DeviceId = i64;
/// Identifies a conversation (1:1 or group).
pub type ConversationId = i64;
/// Position of a message inside its conversation: 1, 2, 3, … with no gaps.
pub type Seq = i64;
/// Milliseconds since the Unix epoch, UTC.
pub type TimestampMs = i64;

/// A user's public profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// The unique login name.
    pub username: String,
    /// The name shown to others.
    pub display_name: String,
    /// True once the account was deleted: `username` and `display_name`
    /// are then empty (the profile is erased) and clients show "Deleted
    /// user". The messages it sent stay, under this id.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// One logged-in device (session) of the current user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Device {
    /// The device's id.
    pub id: DeviceId,
    /// Its label, e.g. "Firefox on laptop".
    pub name: String,
    /// When the device logged in.
    pub created_at: TimestampMs,
    /// When the device last used its token (an HTTP request, a WebSocket
    /// handshake, or an open WebSocket). Recorded at most once a minute, so
    /// it may lag by that much.
    pub last_active_at: TimestampMs,
    /// When the session ends unless it is used again before (idle timeout),
    /// and at the latest (absolute lifetime): after this the token is refused
    /// with `session_expired`.
    pub expires_at: TimestampMs,
    /// True for the device whose token made this request.
    pub current: bool,
}

/// What an entry of a conversation's log is. Every entry has its own seq,
/// so a device that was away learns of an edit or a delete by catching up
/// from its cursor, like any message (see docs/PROTOCOL.md, "Edits and
/// deletes").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A message people see.
    #[default]
    Text,
    /// A change, not shown by itself: the message at `target_seq` now reads
    /// `text`.
    Edit,
    /// A change, not shown by itself: the message at `target_seq` was
    /// deleted for everyone.
    Delete,
}

impl MessageKind {
    /// The stable lowercase name used on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Edit => "edit",
            MessageKind::Delete => "delete",
        }
    }

    /// True for `text`, the default, which the wire leaves out.
    pub fn is_text(&self) -> bool {
        *self == MessageKind::Text
    }
}

/// A stored entry of a conversation, usually a chat message.
/// `(conversation_id, seq)` identifies it.
///
/// Fields added after the first release are left out of the JSON when they
/// hold their default (`kind: text`, no reply, not edited, not deleted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    /// The conversation it belongs to.
    pub conversation_id: ConversationId,
    /// Its position in the conversation: 1, 2, 3, … without gaps.
    pub seq: Seq,
    /// Who sent it.
    pub sender_id: UserId,
    /// From which of the sender's devices.
    pub sender_device_id: DeviceId,
    /// The idempotency key the sending device chose.
    pub client_msg_id: String,
    /// The text: as sent, or as last edited; empty once deleted. For an
    /// `edit` entry, the new text.
    pub text: String,
    /// When the server stored it.
    pub server_ts: TimestampMs,
    /// `text` (absent), or a change to an earlier message: `edit`, `delete`.
    #[serde(default, skip_serializing_if = "MessageKind::is_text")]
    pub kind: MessageKind,
    /// For a `text` message that replies to (quotes) an earlier message of
    /// the same conversation: that message's seq.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Seq>,
    /// For an `edit` or `delete`: the seq of the message it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_seq: Option<Seq>,
    /// For a `text` message edited since it was sent: when it was last edited
    /// (show it as "edited").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<TimestampMs>,
    /// True once the message was deleted for everyone: a tombstone whose
    /// `text` is empty. An `edit` of a deleted message is blanked the same way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl Message {
    /// True for an `edit` or `delete` entry: applied to the message at
    /// `target_seq`, never shown by itself (and never unread).
    pub fn is_change(&self) -> bool {
        !self.kind.is_text()
    }

    /// Applies `change` (an `edit` or `delete` entry aimed at this message)
    /// to this copy, as the server applied it to the stored one; in any
    /// order and any number of times, the copy ends as the server's (an
    /// edit older than the copy's `edited_at` is skipped; a delete wins).
    /// Returns false, changing nothing, when `change` is not a change of
    /// this message.
    pub fn apply_change(&mut self, change: &Message) -> bool {
        if !change.is_change()
            || change.conversation_id != self.conversation_id
            || change.target_seq != Some(self.seq)
            || self.is_change()
        {
            return false;
        }
        match change.kind {
            // An older edit (from an older history page, say) never undoes
            // a newer one: the copy may already show a later text.
            MessageKind::Edit
                if !self.deleted && !change.deleted && self.edited_at.is_none_or(|at| change.server_ts >= at) =>
            {
                self.text.clone_from(&change.text);
                self.edited_at = Some(change.server_ts);
            }
            MessageKind::Edit => {}
            MessageKind::Delete | MessageKind::Text => {
                self.text.clear();
                self.deleted = true;
            }
        }
        true
    }
}

/// What a device adds to a conversation with `send`, `edit` or `delete`,
/// before the server gives it a seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A message people see.
    Text {
        /// The text.
        text: String,
        /// The earlier message it replies to, if any.
        reply_to: Option<Seq>,
    },
    /// An edit of one's own message.
    Edit {
        /// The message edited.
        target: Seq,
        /// Its new text.
        text: String,
    },
    /// A delete, for everyone, of one's own message.
    Delete {
        /// The message deleted.
        target: Seq,
    },
}

impl Content {
    /// A plain text message.
    pub fn text(text: impl Into<String>) -> Content {
        Content::Text { text: text.into(), reply_to: None }
    }

    /// The kind of entry it is stored as.
    pub fn kind(&self) -> MessageKind {
        match self {
            Content::Text { .. } => MessageKind::Text,
            Content::Edit { .. } => MessageKind::Edit,
            Content::Delete { .. } => MessageKind::Delete,
        }
    }

    /// The text it stores (empty for a delete).
    pub fn text_str(&self) -> &str {
        match self {
            Content::Text { text, .. } | Content::Edit { text, .. } => text,
            Content::Delete { .. } => "",
        }
    }

    /// The message a text replies to.
    pub fn reply_to(&self) -> Option<Seq> {
        match self {
            Content::Text { reply_to, .. } => *reply_to,
            _ => None,
        }
    }

    /// The message an edit or delete changes.
    pub fn target_seq(&self) -> Option<Seq> {
        match self {
            Content::Edit { target, .. } | Content::Delete { target } => Some(*target),
            Content::Text { .. } => None,
        }
    }

    /// The text, moved out.
    pub fn into_text(self) -> String {
        match self {
            Content::Text { text, .. } | Content::Edit { text, .. } => text,
            Content::Delete { .. } => String::new(),
        }
    }
}

/// Whether a conversation is between exactly two users or a named group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    /// Between exactly two users.
    Direct,
    /// A named group of up to 100 members.
    Group,
}

impl ConversationKind {
    /// The stable lowercase name used on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Direct => "direct",
            ConversationKind::Group => "group",
        }
    }
}

/// A member's rights in a group. In a direct conversation both are members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// May add and remove members. The creator of a group is its first admin.
    Admin,
    /// May read and write, not manage members.
    Member,
}

impl MemberRole {
    /// The stable lowercase name used on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Admin => "admin",
            MemberRole::Member => "member",
        }
    }
}

/// A conversation as seen by one of its members, for the conversation list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conversation {
    /// The conversation's id.
    pub id: ConversationId,
    /// Direct or group.
    pub kind: ConversationKind,
    /// The group's name; `None` for direct conversations.
    pub name: Option<String>,
    /// When it was created.
    pub created_at: TimestampMs,
    /// Seq of the newest message (0 when there is none).
    pub last_seq: Seq,
    /// Highest seq this user has marked read (sending a message marks it read).
    pub read_seq: Seq,
    /// Messages after `read_seq`: `last_seq - read_seq`.
    pub unread_count: i64,
    /// How many members it has.
    pub member_count: i64,
    /// For a direct conversation, the other participant.
    pub peer: Option<User>,
    /// The newest message, if any.
    pub last_message: Option<Message>,
    /// True when this user muted the conversation: no push notifications.
    #[serde(default)]
    pub muted: bool,
    /// For a direct conversation, the highest seq delivered to any of the
    /// peer's devices (`None` for groups).
    #[serde(default)]
    pub peer_delivered_seq: Option<Seq>,
    /// For a direct conversation, the peer's read marker (`None` for groups).
    #[serde(default)]
    pub peer_read_seq: Option<Seq>,
}

/// One member of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    /// The member.
    pub user: User,
    /// Their rights in the conversation.
    pub role: MemberRole,
    /// When they joined.
    pub joined_at: TimestampMs,
    /// Highest seq delivered to any of this member's devices.
    #[serde(default)]
    pub delivered_seq: Seq,
    /// This member's read marker.
    #[serde(default)]
    pub read_seq: Seq,
}

/// Whether a user is online, and when they were last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Presence {
    /// The user.
    pub user_id: UserId,
    /// True while at least one of the user's devices is connected and
    /// heartbeating (with a grace period, so a brief drop does not flap).
    pub online: bool,
    /// The last time any of the user's devices showed a sign of life; `None`
    /// if the user has never connected.
    pub last_seen_at: Option<TimestampMs>,
}

/// A user's delivery and read markers in one conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Markers {
    /// Highest seq delivered to any of the user's devices (never below `read_seq`).
    pub delivered_seq: Seq,
    /// Highest seq the user has read.
    pub read_seq: Seq,
}

/// A conversation with its full member list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationDetail {
    /// The conversation as the caller sees it.
    pub conversation: Conversation,
    /// Every member.
    pub members: Vec<Member>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: Seq, text: &str) -> Message {
        Message { conversation_id: 1, seq, text: text.into(), server_ts: seq * 10, ..Message::default() }
    }

    fn change(seq: Seq, kind: MessageKind, target: Seq, text: &str) -> Message {
        Message { kind, target_seq: Some(target), ..message(seq, text) }
    }

    #[test]
    fn changes_apply_in_any_order_and_end_as_the_server_has_it() {
        let (v2, v3) = (change(2, MessageKind::Edit, 1, "v2"), change(3, MessageKind::Edit, 1, "v3"));
        let mut m = message(1, "v1");
        assert!(m.apply_change(&v3));
        assert!(m.apply_change(&v2), "an older edit is a change of this message");
        assert_eq!((m.text.as_str(), m.edited_at), ("v3", Some(30)), "but it does not undo the newer one");
        assert!(m.apply_change(&change(4, MessageKind::Delete, 1, "")));
        assert!(m.apply_change(&v3));
        assert!(m.deleted && m.text.is_empty(), "a delete wins over any edit");
        let mut other = message(5, "x");
        assert!(!other.apply_change(&v2), "aimed at another message");
        assert!(!other.apply_change(&message(6, "not a change")));
        assert_eq!(other, message(5, "x"));
    }
}
