//! Stable error codes. Every error the server reports, over HTTP or the
//! WebSocket, carries one of these codes plus a human-readable message.
//! Codes never change meaning; new ones may be added.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A machine-readable error code. Serialized in `snake_case`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // --- request shape ---
    /// The body or frame is not valid JSON, or fields have the wrong type.
    InvalidJson,
    /// A WebSocket frame has an unknown `type`.
    UnknownFrameType,
    /// A WebSocket binary frame was sent; the protocol is JSON text frames.
    BinaryFrame,
    /// A request parameter is out of range or malformed.
    InvalidRequest,
    /// The frame or body is larger than the limit.
    PayloadTooLarge,

    // --- authentication and access ---
    /// No token, an unknown token or a revoked token.
    Unauthorized,
    /// Wrong username or password.
    InvalidCredentials,
    /// The user is not a member of the conversation (or it does not exist).
    NotAMember,
    /// The user is a member but lacks the right (e.g. only admins add members).
    Forbidden,
    /// The WebSocket handshake came from an Origin that is not allowed.
    OriginNotAllowed,
    /// Too many requests or frames; slow down and retry later.
    RateLimited,

    // --- accounts ---
    InvalidUsername,
    InvalidPassword,
    /// Display, group or device name is empty, too long or has control characters.
    InvalidName,
    UsernameTaken,
    UserNotFound,
    DeviceNotFound,

    // --- conversations ---
    ConversationNotFound,
    /// The group would exceed 100 members.
    GroupFull,
    /// A direct conversation with yourself, or a member operation on a direct conversation.
    InvalidConversation,
    AlreadyMember,

    // --- messages ---
    /// No message with that seq in the conversation.
    MessageNotFound,
    MessageEmpty,
    /// More than 100,000 characters.
    MessageTooLong,
    /// The text holds a control character other than tab, LF or CR.
    InvalidText,
    InvalidClientMsgId,

    // --- push ---
    /// The push subscription's endpoint is not allowed, or its keys are malformed.
    InvalidPushSubscription,

    // --- server side ---
    /// Storage could not commit (disk full, read-only, I/O error). Nothing was stored; retry later.
    StorageUnavailable,
    /// The server is shutting down; reconnect (to another node) and sync.
    ShuttingDown,
    Internal,
    NotFound,
}

impl ErrorCode {
    /// The HTTP status this code is answered with.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidJson | UnknownFrameType | BinaryFrame | InvalidRequest | InvalidUsername | InvalidPassword
            | InvalidName | MessageEmpty | MessageTooLong | InvalidText | InvalidClientMsgId
            | InvalidConversation | InvalidPushSubscription => 400,
            Unauthorized | InvalidCredentials => 401,
            NotAMember | Forbidden | OriginNotAllowed => 403,
            UserNotFound | DeviceNotFound | ConversationNotFound | MessageNotFound | NotFound => 404,
            UsernameTaken | AlreadyMember | GroupFull => 409,
            PayloadTooLarge => 413,
            RateLimited => 429,
            Internal => 500,
            StorageUnavailable | ShuttingDown => 503,
        }
    }

    /// The code's wire name, e.g. `"message_too_long"`.
    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// The JSON body of every HTTP error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}
