//! Stable error codes. Every error the server reports, over HTTP or the
//! WebSocket, carries one of these codes plus a human-readable message.
//! Codes never change meaning; new ones may be added.

use serde::{Deserialize, Serialize};

/// A machine-readable error code. Serialized in `snake_case`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The HTTP request (its body) did not arrive within the server's
    /// request deadline.
    RequestTimeout,

    // --- authentication and access ---
    /// No token, an unknown token or a revoked token.
    Unauthorized,
    /// The token's session has expired (absolute lifetime or idle timeout):
    /// log in again.
    SessionExpired,
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
    /// The username is not 3–32 characters from `a-z 0-9 _ . -` starting with a letter or digit.
    InvalidUsername,
    /// The password is too short or too long.
    InvalidPassword,
    /// Display, group or device name is empty, too long or has control characters.
    InvalidName,
    /// Another account has this username.
    UsernameTaken,
    /// No user with that id or username.
    UserNotFound,
    /// No device with that id among the caller's.
    DeviceNotFound,

    // --- conversations ---
    /// No such conversation, or the caller is not a member (the two are not told apart).
    ConversationNotFound,
    /// The group would exceed 100 members.
    GroupFull,
    /// A direct conversation with yourself, or a member operation on a direct conversation.
    InvalidConversation,
    /// The user is a member already.
    AlreadyMember,

    // --- messages ---
    /// No message with that seq in the conversation.
    MessageNotFound,
    /// The text is empty or shows nothing (only whitespace or zero-width characters).
    MessageEmpty,
    /// More than 100,000 characters.
    MessageTooLong,
    /// The text holds a control character other than tab, LF or CR.
    InvalidText,
    /// The `client_msg_id` is not 1–64 characters from `[A-Za-z0-9_-]`.
    InvalidClientMsgId,
    /// This device already used the `client_msg_id` for another message (in
    /// another conversation, or with another text); nothing was stored.
    /// Only an exact retry gets the original ack.
    ClientMsgIdReused,
    /// `reply_to` is not the seq of an earlier `text` message of the same
    /// conversation.
    InvalidReply,
    /// Only the sender of a message may edit or delete it.
    NotYourMessage,
    /// The message was deleted: it can no longer be edited or deleted.
    MessageDeleted,
    /// The message is older than the server's edit (or delete) window
    /// (`edit_window`, `delete_window`; 24 h and 7 days by default).
    EditWindowClosed,
    /// The message was edited as often as the server allows (`max_edits`,
    /// 20 by default).
    TooManyEdits,

    // --- search ---
    /// The search is longer than 256 characters.
    QueryTooLong,
    /// The search has nothing to look for (no letter or digit), or more than
    /// 16 different words.
    InvalidQuery,

    // --- blocks and leaving (issue 16) ---
    /// A block stands between the caller and this user (either blocked the
    /// other): no direct conversation is opened and nothing new is sent
    /// into it, and a blocked user cannot add the user who blocked them to
    /// a group.
    Blocked,
    /// A user cannot block themselves.
    CannotBlockYourself,
    /// The caller's block list holds as many users as the server allows
    /// (`max_blocked_users`, 10,000 by default).
    TooManyBlocks,
    /// The password given to confirm deleting the account is wrong.
    WrongPassword,

    // --- push ---
    /// The push subscription's endpoint is not allowed, or its keys are malformed.
    InvalidPushSubscription,
    /// Another device holds this push endpoint; it must unsubscribe (or be
    /// removed) before the endpoint can be registered again.
    PushEndpointTaken,
    /// The device or the account already has as many push subscriptions as
    /// the server allows.
    TooManyPushSubscriptions,
    /// The native push service named (`fcm` or `apns`) is not configured on
    /// this server, so its tokens cannot be registered.
    PushProviderNotConfigured,

    // --- server side ---
    /// Storage could not commit (disk full, read-only, I/O error, database
    /// unreachable). Nothing was stored, unless the message says the commit
    /// was interrupted; either way, retry later with the same `client_msg_id`.
    StorageUnavailable,
    /// The server is shutting down (the send was not stored); reconnect (to
    /// another node), sync, and resend.
    ShuttingDown,
    /// A bug or an unexpected failure on the server; the details are in its logs.
    Internal,
    /// No such path.
    NotFound,
    /// The path exists but not with this HTTP method (the `Allow` header
    /// lists the methods it takes).
    MethodNotAllowed,
}

impl ErrorCode {
    /// The HTTP status this code is answered with.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidJson | UnknownFrameType | BinaryFrame | InvalidRequest | InvalidUsername | InvalidPassword
            | InvalidName | MessageEmpty | MessageTooLong | InvalidText | InvalidClientMsgId
            | InvalidConversation | InvalidPushSubscription | InvalidReply | CannotBlockYourself | QueryTooLong | InvalidQuery => 400,
            Unauthorized | SessionExpired | InvalidCredentials => 401,
            NotAMember | Forbidden | OriginNotAllowed | NotYourMessage | EditWindowClosed | Blocked | WrongPassword => 403,
            UserNotFound | DeviceNotFound | ConversationNotFound | MessageNotFound | NotFound => 404,
            MethodNotAllowed => 405,
            UsernameTaken | AlreadyMember | GroupFull | PushEndpointTaken | TooManyPushSubscriptions
            | PushProviderNotConfigured
            | ClientMsgIdReused | MessageDeleted | TooManyEdits | TooManyBlocks => 409,
            RequestTimeout => 408,
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
            RequestTimeout => "request_timeout",
            Unauthorized => "unauthorized",
            SessionExpired => "session_expired",
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
            ClientMsgIdReused => "client_msg_id_reused",
            InvalidReply => "invalid_reply",
            NotYourMessage => "not_your_message",
            MessageDeleted => "message_deleted",
            EditWindowClosed => "edit_window_closed",
            TooManyEdits => "too_many_edits",
            QueryTooLong => "query_too_long",
            InvalidQuery => "invalid_query",
            Blocked => "blocked",
            CannotBlockYourself => "cannot_block_yourself",
            TooManyBlocks => "too_many_blocks",
            WrongPassword => "wrong_password",
            InvalidPushSubscription => "invalid_push_subscription",
            PushEndpointTaken => "push_endpoint_taken",
            TooManyPushSubscriptions => "too_many_push_subscriptions",
            PushProviderNotConfigured => "push_provider_not_configured",
            StorageUnavailable => "storage_unavailable",
            ShuttingDown => "shutting_down",
            Internal => "internal",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
        }
    }

    /// Every code, for documentation and tests.
    pub const ALL: &'static [ErrorCode] = &[ErrorCode::InvalidJson, ErrorCode::UnknownFrameType, ErrorCode::BinaryFrame, ErrorCode::InvalidRequest, ErrorCode::PayloadTooLarge, ErrorCode::RequestTimeout, ErrorCode::Unauthorized, ErrorCode::SessionExpired, ErrorCode::InvalidCredentials, ErrorCode::NotAMember, ErrorCode::Forbidden, ErrorCode::OriginNotAllowed, ErrorCode::RateLimited, ErrorCode::InvalidUsername, ErrorCode::InvalidPassword, ErrorCode::InvalidName, ErrorCode::UsernameTaken, ErrorCode::UserNotFound, ErrorCode::DeviceNotFound, ErrorCode::ConversationNotFound, ErrorCode::GroupFull, ErrorCode::InvalidConversation, ErrorCode::AlreadyMember, ErrorCode::MessageNotFound, ErrorCode::MessageEmpty, ErrorCode::MessageTooLong, ErrorCode::InvalidText, ErrorCode::InvalidClientMsgId, ErrorCode::ClientMsgIdReused, ErrorCode::InvalidReply, ErrorCode::NotYourMessage, ErrorCode::MessageDeleted, ErrorCode::EditWindowClosed, ErrorCode::TooManyEdits, ErrorCode::QueryTooLong, ErrorCode::InvalidQuery, ErrorCode::Blocked, ErrorCode::CannotBlockYourself, ErrorCode::TooManyBlocks, ErrorCode::WrongPassword, ErrorCode::InvalidPushSubscription, ErrorCode::PushEndpointTaken, ErrorCode::TooManyPushSubscriptions, ErrorCode::PushProviderNotConfigured, ErrorCode::StorageUnavailable, ErrorCode::ShuttingDown, ErrorCode::Internal, ErrorCode::NotFound, ErrorCode::MethodNotAllowed];
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of every HTTP error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// The stable, machine-readable reason.
    pub code: ErrorCode,
    /// A human-readable explanation (not stable; do not parse it).
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
