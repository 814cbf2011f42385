//! The one error type of every store method, so the server maps storage
//! failures to wire errors in one place (`banter-server/src/error.rs`).

use banter_protocol::UserId;

use crate::push::PushCapScope;

/// Errors a [`Store`](crate::Store) reports. Each maps to one wire error
/// code in the server.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("username is already taken")]
    UsernameTaken,
    #[error("user not found")]
    UserNotFound,
    #[error("device not found")]
    DeviceNotFound,
    #[error("conversation not found")]
    ConversationNotFound,
    #[error("message not found")]
    MessageNotFound,
    /// The acting user is not a member of the conversation. Also returned for
    /// conversations that do not exist, so non-members learn nothing.
    #[error("not a member of this conversation")]
    NotAMember,
    /// The acting user is a member but not an admin.
    #[error("only group admins may do this")]
    NotAdmin,
    #[error("the group would have {would_have} members; the limit is {limit}")]
    GroupFull { would_have: usize, limit: usize },
    /// A direct conversation with oneself, or a group operation on a direct conversation.
    #[error("{0}")]
    InvalidConversation(&'static str),
    #[error("user {0} is already a member")]
    AlreadyMember(UserId),
    /// The sending device already used this `client_msg_id` for a message
    /// in another conversation or with another text. Nothing was stored.
    #[error("this client_msg_id was already used by this device for another message")]
    ClientMsgIdReused,
    /// A reply to something other than an earlier text message of the
    /// same conversation.
    #[error("reply_to must be the seq of an earlier message of this conversation")]
    InvalidReply,
    /// An edit or delete of someone else's message.
    #[error("only its sender may edit or delete a message")]
    NotYourMessage,
    /// An edit or delete of a deleted message.
    #[error("the message was deleted")]
    MessageDeleted,
    /// An edit or delete after the window the server allows.
    #[error("the message is older than the {0} window")]
    EditWindowClosed(&'static str),
    /// One edit more than the server allows.
    #[error("the message was already edited {0} times, the most allowed")]
    TooManyEdits(u32),
    /// A block stands between the two users (either way): no direct
    /// conversation opened, nothing sent into it, no adding the blocker.
    #[error("a block stands between you and this user")]
    Blocked,
    /// A user tried to block themselves.
    #[error("you cannot block yourself")]
    BlockingYourself,
    /// The blocker's list is full.
    #[error("you have blocked {limit} users, the most allowed")]
    TooManyBlocks { limit: usize },
    /// Another device holds this push endpoint.
    #[error("another device has registered this push endpoint")]
    PushEndpointTaken,
    /// Registering one more push subscription would pass a cap.
    #[error("{scope} already has {limit} push subscriptions, the most allowed")]
    TooManyPushSubscriptions { scope: PushCapScope, limit: u32 },
    /// The database could not read or commit: disk full, read-only, I/O error,
    /// unreachable, or the store is shutting down. Nothing was written.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The connection failed while the commit was under way, so whether it
    /// committed is unknown (PostgreSQL: the COMMIT was sent, its answer
    /// never came). A retry of the same idempotent write finds out: an
    /// append retried with the same `client_msg_id` returns the original
    /// if it was stored, and stores it once if it was not.
    #[error("storage became unavailable during the commit, which may have succeeded: {0}")]
    CommitUnknown(String),
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

