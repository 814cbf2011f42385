//! The objects the protocol talks about: users, devices, conversations, messages.
//!
//! Identifiers are 64-bit integers assigned by the server and always below
//! 2^53, so JavaScript clients can hold them as numbers. Times are
//! milliseconds since the Unix epoch (UTC).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
}

/// One logged-in device (session) of the current user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Device {
    pub id: DeviceId,
    pub name: String,
    pub created_at: TimestampMs,
    pub last_active_at: TimestampMs,
    /// True for the device whose token made this request.
    pub current: bool,
}

/// A stored chat message. `(conversation_id, seq)` identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub conversation_id: ConversationId,
    pub seq: Seq,
    pub sender_id: UserId,
    pub sender_device_id: DeviceId,
    /// The idempotency key the sending device chose.
    pub client_msg_id: String,
    pub text: String,
    pub server_ts: TimestampMs,
}

/// Whether a conversation is between exactly two users or a named group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    Direct,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// May add and remove members. The creator of a group is its first admin.
    Admin,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Conversation {
    pub id: ConversationId,
    pub kind: ConversationKind,
    /// The group's name; `None` for direct conversations.
    pub name: Option<String>,
    pub created_at: TimestampMs,
    /// Seq of the newest message (0 when there is none).
    pub last_seq: Seq,
    /// Highest seq this user has marked read (sending a message marks it read).
    pub read_seq: Seq,
    /// Messages after `read_seq`: `last_seq - read_seq`.
    pub unread_count: i64,
    pub member_count: i64,
    /// For a direct conversation, the other participant.
    pub peer: Option<User>,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    pub user: User,
    pub role: MemberRole,
    pub joined_at: TimestampMs,
    /// Highest seq delivered to any of this member's devices.
    #[serde(default)]
    pub delivered_seq: Seq,
    /// This member's read marker.
    #[serde(default)]
    pub read_seq: Seq,
}

/// Whether a user is online, and when they were last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Presence {
    pub user_id: UserId,
    /// True while at least one of the user's devices is connected and
    /// heartbeating (with a grace period, so a brief drop does not flap).
    pub online: bool,
    /// The last time any of the user's devices showed a sign of life; `None`
    /// if the user has never connected.
    pub last_seen_at: Option<TimestampMs>,
}

/// A user's delivery and read markers in one conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Markers {
    /// Highest seq delivered to any of the user's devices (never below `read_seq`).
    pub delivered_seq: Seq,
    /// Highest seq the user has read.
    pub read_seq: Seq,
}

/// A conversation with its full member list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConversationDetail {
    pub conversation: Conversation,
    pub members: Vec<Member>,
}
