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
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidJson => "invalid_json",
            UnknownFrameType => "unknown_frame_type",
            BinaryFrame => "binary_frame",
            InvalidRequest => "invalid_request",
            PayloadTooLarge => "payload_too_large",
            Unauthorized => "unauthorized",
            InvalidCredentials => "invalid_credentials",
            NotAMember => "not_a_member",
            Forbidden => "forbidden",
            OriginNotAllowed => "origin_not_allowed",
            RateLimited => "rate_limited",
            InvalidUsername => "invalid_username",
            InvalidPassword => "invalid_password",
            InvalidName => "invalid_name",
            UsernameTaken => "username_taken",
            UserNotFound => "user_not_found",
            DeviceNotFound => "device_not_found",
            ConversationNotFound => "conversation_not_found",
            GroupFull => "group_full",
            InvalidConversation => "invalid_conversation",
            AlreadyMember => "already_member",
            MessageNotFound => "message_not_found",
            MessageEmpty => "message_empty",
            MessageTooLong => "message_too_long",
            InvalidText => "invalid_text",
            InvalidClientMsgId => "invalid_client_msg_id",
            InvalidPushSubscription => "invalid_push_subscription",
            StorageUnavailable => "storage_unavailable",
            ShuttingDown => "shutting_down",
            Internal => "internal",
            NotFound => "not_found",
        }
    }

    /// Every code, for documentation and tests.
    pub const ALL: &'static [ErrorCode] = &[ErrorCode::InvalidJson, ErrorCode::UnknownFrameType, ErrorCode::BinaryFrame, ErrorCode::InvalidRequest, ErrorCode::PayloadTooLarge, ErrorCode::Unauthorized, ErrorCode::InvalidCredentials, ErrorCode::NotAMember, ErrorCode::Forbidden, ErrorCode::OriginNotAllowed, ErrorCode::RateLimited, ErrorCode::InvalidUsername, ErrorCode::InvalidPassword, ErrorCode::InvalidName, ErrorCode::UsernameTaken, ErrorCode::UserNotFound, ErrorCode::DeviceNotFound, ErrorCode::ConversationNotFound, ErrorCode::GroupFull, ErrorCode::InvalidConversation, ErrorCode::AlreadyMember, ErrorCode::MessageNotFound, ErrorCode::MessageEmpty, ErrorCode::MessageTooLong, ErrorCode::InvalidText, ErrorCode::InvalidClientMsgId, ErrorCode::InvalidPushSubscription, ErrorCode::StorageUnavailable, ErrorCode::ShuttingDown, ErrorCode::Internal, ErrorCode::NotFound];
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

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn as_str_is_the_wire_name_of_every_code() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str(), "{code:?}");
        }
    }
}
