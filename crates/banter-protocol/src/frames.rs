//! WebSocket frames. Each frame is one JSON text message with a `type` field.
//!
//! A device opens `/api/v1/ws` with its token, receives [`ServerFrame::Hello`],
//! then sends [`ClientFrame::Sync`] with its cursors to catch up, and from then
//! on receives live [`ServerFrame::Message`]s. Every `send` is answered by an
//! [`ServerFrame::Ack`] (durable) or an [`ServerFrame::Error`] carrying the same
//! `client_msg_id`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ConversationId, ErrorCode, Message, Seq, TimestampMs, User, UserId};

/// The highest *contiguous* seq a device holds for one conversation: every
/// message up to it is present. A device that received seq 7 live while
/// missing 5 keeps its cursor at 4, so sync fills the gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SyncCursor {
    pub conversation_id: ConversationId,
    pub seq: Seq,
}

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Send a message. Retrying with the same `client_msg_id` from the same
    /// device never stores it twice: the retry gets the original ack.
    Send { client_msg_id: String, conversation_id: ConversationId, text: String },
    /// Ask for messages after the given cursors. Conversations the user is a
    /// member of but that are not listed start from seq 0. Answered by one
    /// [`ServerFrame::SyncBatch`]; repeat with advanced cursors until
    /// `complete` is true.
    Sync {
        #[serde(default)]
        cursors: Vec<SyncCursor>,
        /// Most messages in the answer (default 50, at most 200).
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Mark everything up to `seq` read in a conversation (for all of the
    /// user's devices). Markers only move forward.
    Read { conversation_id: ConversationId, seq: Seq },
    /// This device has received every message of the conversation up to
    /// `seq` (live or by sync). Moves the user's delivered marker forward;
    /// in a direct conversation the peer is told with a `receipt`.
    Delivered { conversation_id: ConversationId, seq: Seq },
    /// The user is typing in a conversation. Send it at most every few
    /// seconds while typing; other members see it for `expires_in_ms`. The
    /// server drops typing frames that arrive faster than once per
    /// [`TYPING_MIN_INTERVAL_MS`](crate::limits::TYPING_MIN_INTERVAL_MS) per
    /// conversation on one connection. Never stored.
    Typing { conversation_id: ConversationId },
    /// Heartbeat. The server answers with `pong`. Any frame counts as a sign
    /// of life; send `ping` when idle for `heartbeat_interval_ms`.
    Ping,
}

/// The limits that apply to this connection, announced in `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConnectionLimits {
    pub max_message_chars: usize,
    pub max_frame_bytes: usize,
    pub max_group_members: usize,
    /// Frames per second allowed on one connection (burst allowed up to `burst`).
    pub frames_per_second: u32,
    pub burst: u32,
}

/// Why a conversation changed, in [`ServerFrame::ConversationUpdated`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationChange {
    /// The user was added to (or created) the conversation.
    Joined,
    /// The user was removed or left: the conversation is no longer readable.
    Left,
    /// Members or the name changed.
    MembersChanged,
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame on every connection.
    Hello {
        user: User,
        device_id: crate::DeviceId,
        /// Send a frame (e.g. `ping`) at least this often.
        heartbeat_interval_ms: u64,
        /// The server closes a connection silent for this long.
        idle_timeout_ms: u64,
        /// A user goes offline once none of their devices has sent a frame
        /// for this long.
        presence_grace_ms: u64,
        limits: ConnectionLimits,
    },
    /// The message with this `client_msg_id` is durably stored as `seq`.
    Ack {
        client_msg_id: String,
        conversation_id: ConversationId,
        seq: Seq,
        server_ts: TimestampMs,
        /// True when this answers a retry of an already stored message.
        duplicate: bool,
    },
    /// A new message, delivered live to every connected device of every
    /// member, the sender's other devices included.
    Message { message: Message },
    /// Answer to `sync`: messages in `(conversation_id, seq)` order, each
    /// conversation contiguous from its cursor + 1.
    SyncBatch { messages: Vec<Message>, complete: bool },
    /// A user's read marker moved (sent to that user's devices).
    ReadMarker { conversation_id: ConversationId, user_id: UserId, seq: Seq },
    /// Membership or metadata of a conversation changed; fetch it over HTTP.
    ConversationUpdated { conversation_id: ConversationId, change: ConversationChange },
    /// Another member is typing. Hide it after `expires_in_ms` unless
    /// refreshed, or as soon as a message from that user arrives.
    Typing { conversation_id: ConversationId, user_id: UserId, expires_in_ms: u64 },
    /// A contact (someone sharing a direct conversation with this user) went
    /// online or offline.
    Presence { user_id: UserId, online: bool, last_seen_at: Option<TimestampMs> },
    /// In a direct conversation, the peer's delivery or read marker moved.
    Receipt { conversation_id: ConversationId, user_id: UserId, delivered_seq: Seq, read_seq: Seq },
    /// Answer to `ping`.
    Pong,
    /// A frame could not be processed. `client_msg_id` is set when the error
    /// answers a `send`.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<String>,
    },
}

/// WebSocket close codes the server uses: RFC 6455's for protocol
/// violations (§7.4.1), 4000–4999 for the application's own reasons.
pub mod close_code {
    /// Normal closure: the server echoes it (or the client's own valid code)
    /// when the client starts the close handshake.
    pub const NORMAL: u16 = 1000;
    /// The client broke the WebSocket framing rules: an unmasked frame,
    /// reserved bits set, an unknown opcode, a control frame over 125 bytes
    /// or fragmented, a continuation with nothing to continue, a new message
    /// inside a fragmented one, or a close frame with an invalid code.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text message (or a close reason) that is not valid UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// The device's outbound queue filled up: it read too slowly. Reconnect and sync.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// Nothing was received for `idle_timeout_ms`.
    pub const IDLE_TIMEOUT: u16 = 4000;
    /// The device's session was revoked (logout or device removal).
    pub const SESSION_REVOKED: u16 = 4001;
    /// Too many frames; the connection exceeded its rate limit repeatedly.
    pub const RATE_LIMITED: u16 = 4029;
    /// The server is shutting down; reconnect and sync.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame, or a message of several fragments, exceeded the size limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
}
