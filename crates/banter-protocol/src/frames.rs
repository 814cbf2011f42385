//! WebSocket frames. Each frame is one JSON text message with a `type` field.
//!
//! A device opens `/api/v1/ws` with its token, receives [`ServerFrame::Hello`],
//! then sends [`ClientFrame::Sync`] with its cursors to catch up, and from then
//! on receives live [`ServerFrame::Message`]s. Every `send` is answered by an
//! [`ServerFrame::Ack`] (durable) or an [`ServerFrame::Error`] carrying the same
//! `client_msg_id`.

use serde::{Deserialize, Serialize};

use crate::{Content, ConversationId, ErrorCode, Message, Seq, TimestampMs, User, UserId};

/// The highest *contiguous* seq a device holds for one conversation: every
/// message up to it is present. A device that received seq 7 live while
/// missing 5 keeps its cursor at 4, so sync fills the gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncCursor {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Every message up to this seq is held (0: none).
    pub seq: Seq,
}

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Send a message. Retrying with the same `client_msg_id` from the same
    /// device never stores it twice: the retry (same conversation, same
    /// text) gets the original ack; any other reuse of the id by the device
    /// is refused with `client_msg_id_reused`.
    Send {
        /// Chosen by the device (1–64 of `[A-Za-z0-9_-]`), unique per device.
        #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]{1,64}$", min_length = 1, max_length = 64))]
        client_msg_id: String,
        /// Where to send it; the sender must be a member.
        conversation_id: ConversationId,
        /// The message text, at most `max_message_chars`.
        text: String,
        /// Reply to (quote) the message with this seq of the same
        /// conversation: an earlier `text` message, deleted or not.
        /// Otherwise refused with `invalid_reply`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<Seq>,
    },
    /// Edit one of your own messages for everyone: stored as an `edit`
    /// entry with the next seq (acked like a `send`, same idempotency
    /// rule), and the message at `seq` then reads `text`, marked edited.
    /// Refused with `message_not_found`, `not_your_message`,
    /// `message_deleted`, `edit_window_closed` or `too_many_edits`.
    Edit {
        /// Chosen by the device, as for `send`.
        #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]{1,64}$", min_length = 1, max_length = 64))]
        client_msg_id: String,
        /// The message's conversation.
        conversation_id: ConversationId,
        /// The seq of the message to edit (a `text` message you sent).
        seq: Seq,
        /// The new text, under the same rules as a `send`'s.
        text: String,
    },
    /// Delete one of your own messages for everyone: stored as a `delete`
    /// entry with the next seq (acked like a `send`); the message at `seq`
    /// becomes a tombstone (`deleted: true`, empty text) in history, sync
    /// and search. Refused like `edit` (no edit count applies).
    Delete {
        /// Chosen by the device, as for `send`.
        #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]{1,64}$", min_length = 1, max_length = 64))]
        client_msg_id: String,
        /// The message's conversation.
        conversation_id: ConversationId,
        /// The seq of the message to delete (a `text` message you sent).
        seq: Seq,
    },
    /// Ask for messages after the given cursors. Conversations the user is a
    /// member of but that are not listed start from seq 0. Answered by one
    /// [`ServerFrame::SyncBatch`]; repeat with advanced cursors until
    /// `complete` is true.
    Sync {
        /// What the device holds, per conversation.
        #[serde(default)]
        cursors: Vec<SyncCursor>,
        /// Most messages in the answer (default 50, at most 200).
        #[serde(default)]
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 200))]
        limit: Option<u32>,
    },
    /// Mark everything up to `seq` read in a conversation (for all of the
    /// user's devices). Markers only move forward.
    Read {
        /// The conversation.
        conversation_id: ConversationId,
        /// Read up to and including this seq.
        seq: Seq,
    },
    /// This device has received every message of the conversation up to
    /// `seq` (live or by sync). Moves the user's delivered marker forward;
    /// in a direct conversation the peer is told with a `receipt`.
    Delivered {
        /// The conversation.
        conversation_id: ConversationId,
        /// Received up to and including this seq.
        seq: Seq,
    },
    /// The user is typing in a conversation. Send it at most every few
    /// seconds while typing; other members see it for `expires_in_ms`. The
    /// server drops typing frames that arrive faster than once per
    /// [`TYPING_MIN_INTERVAL_MS`](crate::limits::TYPING_MIN_INTERVAL_MS) per
    /// conversation on one connection. Never stored.
    Typing {
        /// Where the user is typing.
        conversation_id: ConversationId,
    },
    /// Heartbeat. The server answers with `pong`. Any frame counts as a sign
    /// of life; send `ping` when idle for `heartbeat_interval_ms`.
    Ping,
}

impl ClientFrame {
    /// For a `send`, `edit` or `delete`: its `client_msg_id`, conversation
    /// and what it adds to the conversation. `None` for every other frame.
    pub fn into_content(self) -> Option<(String, ConversationId, Content)> {
        match self {
            ClientFrame::Send { client_msg_id, conversation_id, text, reply_to } => {
                Some((client_msg_id, conversation_id, Content::Text { text, reply_to }))
            }
            ClientFrame::Edit { client_msg_id, conversation_id, seq, text } => {
                Some((client_msg_id, conversation_id, Content::Edit { target: seq, text }))
            }
            ClientFrame::Delete { client_msg_id, conversation_id, seq } => {
                Some((client_msg_id, conversation_id, Content::Delete { target: seq }))
            }
            _ => None,
        }
    }

    /// The frame that adds `content` to a conversation: `send`, `edit` or
    /// `delete` (the inverse of [`into_content`](Self::into_content)).
    pub fn from_content(client_msg_id: String, conversation_id: ConversationId, content: Content) -> ClientFrame {
        match content {
            Content::Text { text, reply_to } => ClientFrame::Send { client_msg_id, conversation_id, text, reply_to },
            Content::Edit { target, text } => ClientFrame::Edit { client_msg_id, conversation_id, seq: target, text },
            Content::Delete { target } => ClientFrame::Delete { client_msg_id, conversation_id, seq: target },
        }
    }
}

/// The limits that apply to this connection, announced in `hello`, so a
/// client can pace itself instead of learning them from refusals.
///
/// Fields added after the first release carry `#[serde(default)]`: from an
/// older server they read as 0 (or `None`), meaning "not announced".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionLimits {
    /// Longest message text, in Unicode scalar values.
    pub max_message_chars: usize,
    /// Largest WebSocket message (one frame, or its fragments together).
    pub max_frame_bytes: usize,
    /// Most members in a group, its creator included.
    pub max_group_members: usize,
    /// Frames per second allowed on one connection (burst allowed up to `burst`).
    pub frames_per_second: u32,
    /// Frames a connection may send at once above `frames_per_second`.
    pub burst: u32,
    /// Frames per second allowed over all connections of the account.
    #[serde(default)]
    pub account_frames_per_second: u32,
    /// The account's burst, over all its connections.
    #[serde(default)]
    pub account_burst: u32,
    /// The connection is closed with 4029 when more than this many of its
    /// frames are refused (`rate_limited`) within `refusal_window_ms`.
    #[serde(default)]
    pub close_after_refusals: u32,
    /// The window over which refusals are counted, in milliseconds.
    #[serde(default)]
    pub refusal_window_ms: u64,
    /// Most messages in one `sync` or history page (`limit`).
    #[serde(default)]
    pub max_page_size: u32,
    /// The page size when `limit` is not given.
    #[serde(default)]
    pub default_page_size: u32,
    /// Bytes of frames the server keeps queued for this connection before
    /// closing it with 4008 (slow consumer). `None`: not announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_queue_bytes: Option<u64>,
    /// How long one socket write may take before the connection is closed
    /// (4008), in milliseconds. `None`: not announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_timeout_ms: Option<u64>,
}

/// Why a conversation changed, in [`ServerFrame::ConversationUpdated`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame on every connection.
    Hello {
        /// The authenticated user.
        user: User,
        /// The device (session) this connection belongs to.
        device_id: crate::DeviceId,
        /// Send a frame (e.g. `ping`) at least this often.
        heartbeat_interval_ms: u64,
        /// The server closes a connection silent for this long.
        idle_timeout_ms: u64,
        /// A user goes offline once none of their devices has sent a frame
        /// for this long.
        presence_grace_ms: u64,
        /// The limits that apply to this connection.
        limits: ConnectionLimits,
        /// The user's contacts (people sharing a direct conversation) as
        /// they are at connect time, up to 200: a device that was away
        /// starts from the truth, then follows `presence` frames.
        #[serde(default)]
        presence: Vec<crate::Presence>,
        /// If this connection is lost without a close from the server (the
        /// node died, the network cut), wait a random delay in
        /// `[0, reconnect_spread_ms)` before the first reconnect, so that a
        /// node's clients do not all come back and sync in the same
        /// second. Scaled by the node's connection count; 0 (or absent):
        /// reconnect at once.
        #[serde(default)]
        reconnect_spread_ms: u64,
    },
    /// The message with this `client_msg_id` is durably stored as `seq`.
    Ack {
        /// The id the `send` carried.
        client_msg_id: String,
        /// The message's conversation.
        conversation_id: ConversationId,
        /// The message's position in its conversation.
        seq: Seq,
        /// When the server stored it.
        server_ts: TimestampMs,
        /// True when this answers a retry of an already stored message.
        duplicate: bool,
    },
    /// A new message, delivered live to every connected device of every
    /// member, the sender's other devices included.
    Message {
        /// The stored message.
        message: Message,
    },
    /// Answer to `sync`: messages in `(conversation_id, seq)` order, each
    /// conversation contiguous from its cursor + 1.
    SyncBatch {
        /// The next messages after the cursors.
        messages: Vec<Message>,
        /// False when more remain: sync again with advanced cursors.
        complete: bool,
    },
    /// A user's read marker moved (sent to that user's devices).
    ReadMarker {
        /// The conversation.
        conversation_id: ConversationId,
        /// The user whose marker moved (the receiving device's own user).
        user_id: UserId,
        /// Read up to and including this seq.
        seq: Seq,
    },
    /// Membership or metadata of a conversation changed; fetch it over HTTP.
    ConversationUpdated {
        /// The conversation.
        conversation_id: ConversationId,
        /// What changed.
        change: ConversationChange,
    },
    /// The user's block list changed (on this device or another): `user_id`
    /// was blocked (`blocked: true`) or unblocked. Sent to every device of
    /// the user who blocks, never to the user blocked; fetch `GET /blocks`
    /// again for the list.
    BlocksChanged {
        /// Who was blocked or unblocked.
        user_id: UserId,
        /// Blocked now (else unblocked).
        blocked: bool,
    },
    /// Another member is typing. Hide it after `expires_in_ms` unless
    /// refreshed, or as soon as a message from that user arrives.
    Typing {
        /// Where.
        conversation_id: ConversationId,
        /// Who is typing.
        user_id: UserId,
        /// Hide the indicator after this long unless refreshed.
        expires_in_ms: u64,
    },
    /// A contact (someone sharing a direct conversation with this user) went
    /// online or offline.
    Presence {
        /// The contact.
        user_id: UserId,
        /// Whether any of their devices is connected.
        online: bool,
        /// When they were last online, if ever (set when going offline).
        last_seen_at: Option<TimestampMs>,
    },
    /// In a direct conversation, the peer's delivery or read marker moved.
    Receipt {
        /// The direct conversation.
        conversation_id: ConversationId,
        /// The peer whose markers moved.
        user_id: UserId,
        /// The peer's devices hold every message up to this seq.
        delivered_seq: Seq,
        /// The peer has read up to this seq.
        read_seq: Seq,
    },
    /// Answer to `ping`.
    Pong,
    /// This connection may have missed live events, and the server knows
    /// it: the cluster's message bus reconnected, events arrived too late to
    /// be worth showing and were dropped, or the connection's cross-node
    /// subscription became active only after `hello`. Refresh the
    /// conversation list and `sync` from your cursors; nothing else is
    /// needed. `reason` is for logs and may change.
    Resync {
        /// Why, for logs; may change.
        reason: String,
    },
    /// A frame could not be processed. `client_msg_id` is set when the error
    /// answers a `send`.
    Error {
        /// The stable, machine-readable reason.
        code: ErrorCode,
        /// A human-readable explanation (not stable).
        message: String,
        /// The `send` this refuses, if it answers one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<String>,
        /// With `rate_limited`: wait at least this long before sending the
        /// refused frame again (a `send` with the same `client_msg_id`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
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
    /// The device's session ended: revoked (logout or device removal; reason
    /// `session revoked`) or expired (reason `session expired`). Log in again.
    pub const SESSION_REVOKED: u16 = 4001;
    /// More than `close_after_refusals` frames were refused (`rate_limited`)
    /// within `refusal_window_ms` (see `hello.limits`). Sent after the
    /// answers to every frame read before it.
    pub const RATE_LIMITED: u16 = 4029;
    /// The server is shutting down; reconnect and sync.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame, or a message of several fragments, exceeded the size limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
}
