//! Durable storage for Banter.
//!
//! [`Store`] is the boundary between the server's rules and the database. The
//! server validates input (text length, names) and decides who may do what at
//! the request level; the store keeps the invariants that must hold
//! atomically, because only it sees every concurrent write:
//!
//! * per-conversation `seq` is 1, 2, 3, … with no gap and no reuse;
//! * `(sender_device_id, client_msg_id)` is stored at most once — a retry gets
//!   the original message back;
//! * a group never exceeds [`MAX_GROUP_MEMBERS`](banter_protocol::limits::MAX_GROUP_MEMBERS);
//! * only members append or read, only admins add or remove others;
//! * exactly one direct conversation exists per pair of users;
//! * a method that returns `Ok` after a write has committed it to disk.
//!
//! Implementations: [`sqlite::SqliteStore`] (embedded default: one writer
//! thread with group commit, a pool of reader threads, WAL) and
//! [`postgres::PgStore`] (cluster mode: many nodes, one or more PostgreSQL
//! shards, batched appends under row locks). Both pass the same test suite
//! (`tests/store_conformance.rs`).

use async_trait::async_trait;
use banter_protocol::{
    frames::SyncCursor, http::MessageReceipts, Conversation, ConversationId, DeviceId, Markers, Member, MemberRole,
    Message, Seq, TimestampMs, User, UserId,
};

pub mod postgres;
pub mod sqlite;

/// Errors a [`Store`] reports. Each maps to one wire error code in the server.
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
    /// The database could not read or commit: disk full, read-only, I/O error,
    /// or the store is shutting down. Nothing was written.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// What the server needs to know about an authenticated device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedDevice {
    pub user: User,
    pub device_id: DeviceId,
}

/// A device row as stored (the token hash is never returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub id: DeviceId,
    pub user_id: UserId,
    pub name: String,
    pub created_at: TimestampMs,
    pub last_active_at: TimestampMs,
}

/// A message to append. `text` has already been validated.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub conversation_id: ConversationId,
    pub sender_id: UserId,
    pub sender_device_id: DeviceId,
    pub client_msg_id: String,
    pub text: String,
    pub server_ts: TimestampMs,
}

/// The result of [`Store::append_message`].
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

/// A page of messages in ascending seq order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    /// More messages exist beyond this page in the direction read.
    pub has_more: bool,
}

/// The result of [`Store::add_members`] and [`Store::remove_member`]: who is
/// a member now, so the server can notify everyone concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipChange {
    pub conversation_id: ConversationId,
    /// Members after the change.
    pub member_ids: Vec<UserId>,
    /// Users added (for add) or removed (for remove) by this change.
    pub changed_user_ids: Vec<UserId>,
}

/// The result of moving a user's delivery or read marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerUpdate {
    /// The markers after the update (they never move back).
    pub markers: Markers,
    /// True when either marker moved.
    pub changed: bool,
    /// In a direct conversation, the other member: the one who sees
    /// delivered/read receipts. `None` for groups.
    pub direct_peer: Option<UserId>,
}

/// Which marker a call moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Delivered,
    Read,
}

/// The one rule for moving markers, shared by every backend: forward only,
/// never past `last_seq`, and reading implies delivery
/// (`delivered_seq >= read_seq`).
pub fn advance_markers(current: Markers, marker: Marker, seq: Seq, last_seq: Seq) -> Markers {
    let target = seq.min(last_seq);
    let read_seq = match marker {
        Marker::Read => current.read_seq.max(target),
        Marker::Delivered => current.read_seq,
    };
    Markers { delivered_seq: current.delivered_seq.max(target).max(read_seq), read_seq }
}

/// A Web Push subscription to store. Keys are base64url as the browser gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPushSubscription {
    pub user_id: UserId,
    pub device_id: DeviceId,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub created_at: TimestampMs,
}

/// A stored Web Push subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscriptionRecord {
    pub id: i64,
    pub user_id: UserId,
    pub device_id: DeviceId,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
}

/// Durable storage for accounts, devices, conversations and messages.
///
/// All methods are cancellation-safe in the sense that a dropped future never
/// leaves a partial write: each write is one transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ---------- accounts ----------

    /// Creates a user. `username` is already validated and lowercased.
    /// Errors: [`StoreError::UsernameTaken`].
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        display_name: &str,
        now: TimestampMs,
    ) -> StoreResult<User>;

    /// The user and their password hash, for login.
    async fn user_credentials(&self, username: &str) -> StoreResult<Option<(User, String)>>;

    async fn user_by_id(&self, user_id: UserId) -> StoreResult<Option<User>>;

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;

    /// Errors: [`StoreError::UserNotFound`].
    async fn update_display_name(&self, user_id: UserId, display_name: &str) -> StoreResult<User>;

    // ---------- devices (sessions) ----------

    /// Registers a logged-in device whose bearer token hashes to `token_hash`.
    /// Device ids are never reused.
    async fn create_device(
        &self,
        user_id: UserId,
        name: &str,
        token_hash: &[u8],
        now: TimestampMs,
    ) -> StoreResult<DeviceRecord>;

    /// The device (and its user) holding the token with this hash, if not revoked.
    async fn device_by_token_hash(&self, token_hash: &[u8]) -> StoreResult<Option<AuthenticatedDevice>>;

    /// Records activity; cheap and best-effort (may be batched).
    async fn touch_device(&self, device_id: DeviceId, now: TimestampMs) -> StoreResult<()>;

    /// The user's devices, oldest first.
    async fn list_devices(&self, user_id: UserId) -> StoreResult<Vec<DeviceRecord>>;

    /// Revokes (deletes) one of the user's devices and its token.
    /// Errors: [`StoreError::DeviceNotFound`] if it is not this user's device.
    async fn revoke_device(&self, user_id: UserId, device_id: DeviceId) -> StoreResult<()>;

    // ---------- conversations ----------

    /// The direct conversation between two distinct users, created if absent.
    /// Returns its id and whether it was created now.
    /// Errors: [`StoreError::UserNotFound`], [`StoreError::InvalidConversation`] when `a == b`.
    async fn get_or_create_direct(
        &self,
        a: UserId,
        b: UserId,
        now: TimestampMs,
    ) -> StoreResult<(ConversationId, bool)>;

    /// Creates a group; `creator` becomes its admin, `members` (deduplicated,
    /// creator ignored if listed) plain members.
    /// Errors: [`StoreError::GroupFull`], [`StoreError::UserNotFound`].
    async fn create_group(
        &self,
        creator: UserId,
        name: &str,
        members: &[UserId],
        now: TimestampMs,
    ) -> StoreResult<ConversationId>;

    /// Adds users to a group; `actor` must be an admin. All or nothing.
    /// Errors: NotAMember, NotAdmin, GroupFull, UserNotFound, AlreadyMember,
    /// InvalidConversation (direct).
    async fn add_members(
        &self,
        conversation_id: ConversationId,
        actor: UserId,
        user_ids: &[UserId],
        now: TimestampMs,
    ) -> StoreResult<MembershipChange>;

    /// Removes `target` from a group. `actor` must be an admin, or `target`
    /// itself (leaving). If the last admin leaves, the longest-standing member
    /// becomes admin. Errors: NotAMember (actor or target), NotAdmin,
    /// InvalidConversation (direct).
    async fn remove_member(
        &self,
        conversation_id: ConversationId,
        actor: UserId,
        target: UserId,
    ) -> StoreResult<MembershipChange>;

    /// The user's role in the conversation, or `None` if not a member.
    async fn membership(&self, conversation_id: ConversationId, user_id: UserId) -> StoreResult<Option<MemberRole>>;

    /// Ids of every member.
    async fn member_ids(&self, conversation_id: ConversationId) -> StoreResult<Vec<UserId>>;

    /// Members with profiles, oldest member first. Errors: NotAMember if
    /// `viewer` is not a member.
    async fn members(&self, conversation_id: ConversationId, viewer: UserId) -> StoreResult<Vec<Member>>;

    /// One conversation as `viewer` sees it (read marker, unread count, peer,
    /// last message). Errors: NotAMember.
    async fn conversation(&self, conversation_id: ConversationId, viewer: UserId) -> StoreResult<Conversation>;

    /// Every conversation `viewer` is a member of, most recent activity first.
    async fn list_conversations(&self, viewer: UserId) -> StoreResult<Vec<Conversation>>;

    // ---------- messages ----------

    /// Appends a message with the next seq of its conversation, unless this
    /// device already sent this `client_msg_id` (then returns the original
    /// with `duplicate: true`). Sending advances the sender's read marker to
    /// the new seq. Returns once committed. Errors: NotAMember.
    async fn append_message(&self, message: NewMessage) -> StoreResult<AppendOutcome>;

    /// A page of history. `limit` is already clamped. Errors: NotAMember.
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
    /// order. `has_more` is false once nothing beyond the page exists.
    async fn sync(&self, user_id: UserId, cursors: &[SyncCursor], limit: u32) -> StoreResult<MessagePage>;

    /// Moves the user's read marker forward to `seq` (clamped to the
    /// conversation's last seq; never backwards). Reading implies delivery,
    /// so the delivered marker moves at least as far. Errors: NotAMember.
    async fn mark_read(&self, conversation_id: ConversationId, user_id: UserId, seq: Seq) -> StoreResult<MarkerUpdate>;

    /// Moves the user's delivered marker forward to `seq` (clamped to the
    /// conversation's last seq; never backwards). Errors: NotAMember.
    async fn mark_delivered(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        seq: Seq,
    ) -> StoreResult<MarkerUpdate>;

    /// Which current members (the sender excluded) have message `seq`
    /// delivered and read. Errors: NotAMember (viewer), MessageNotFound.
    async fn message_receipts(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
        seq: Seq,
    ) -> StoreResult<MessageReceipts>;

    /// Mutes or unmutes push notifications of a conversation for one member.
    /// Errors: NotAMember.
    async fn set_muted(&self, conversation_id: ConversationId, user_id: UserId, muted: bool) -> StoreResult<()>;

    // ---------- presence ----------

    /// Records when users were last seen (a marker only moves forward).
    /// Unknown users are ignored.
    async fn record_last_seen(&self, seen: &[(UserId, TimestampMs)]) -> StoreResult<()>;

    /// The stored last-seen time of each listed user that exists, in the
    /// order given.
    async fn last_seen(&self, user_ids: &[UserId]) -> StoreResult<Vec<(UserId, Option<TimestampMs>)>>;

    /// The user's contacts: everyone they share a direct conversation with.
    async fn contacts(&self, user_id: UserId) -> StoreResult<Vec<UserId>>;

    /// The subset of `candidates` that share at least one conversation with
    /// `viewer` (the viewer counts as related to itself).
    async fn related_users(&self, viewer: UserId, candidates: &[UserId]) -> StoreResult<Vec<UserId>>;

    // ---------- push ----------

    /// Stores a push subscription for a device; registering an endpoint
    /// again replaces its owner and keys. Returns its id.
    async fn add_push_subscription(&self, subscription: NewPushSubscription) -> StoreResult<i64>;

    /// Removes every push subscription of a device; returns how many.
    async fn remove_device_push_subscriptions(&self, device_id: DeviceId) -> StoreResult<u64>;

    /// Removes one subscription (e.g. the push service answered 404/410).
    async fn remove_push_subscription(&self, subscription_id: i64) -> StoreResult<()>;

    /// The subscriptions of those `user_ids` that are members of the
    /// conversation and have not muted it.
    async fn push_targets(
        &self,
        conversation_id: ConversationId,
        user_ids: &[UserId],
    ) -> StoreResult<Vec<PushSubscriptionRecord>>;

    // ---------- server settings ----------

    /// The value of a server-wide setting, storing `initial` first if the
    /// setting does not exist yet. Every node sees the same value.
    async fn setting_or_init(&self, name: &str, initial: &str) -> StoreResult<String>;

    /// Flushes pending writes and stops the writer. Later writes fail with
    /// [`StoreError::Unavailable`].
    async fn close(&self);
}
