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

/// A stored chat message. `(conversation_id, seq)` identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The text, as sent.
    pub text: String,
    /// When the server stored it.
    pub server_ts: TimestampMs,
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
