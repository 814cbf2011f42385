//! Request and response bodies of the HTTP API (`/api/v1/...`).
//! Authenticated endpoints take `Authorization: Bearer <token>`.

use serde::{Deserialize, Serialize};

use crate::{ConversationId, Device, DeviceId, Message, Presence, Seq, TimestampMs, User, UserId};

/// `POST /api/v1/auth/signup`. Creates the account and logs this device in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignupRequest {
    /// The new account's username: 3–32 characters from `a-z 0-9 _ . -`, starting with a letter or digit.
    pub username: String,
    /// At least 8 characters.
    pub password: String,
    /// Defaults to the username.
    #[serde(default)]
    pub display_name: Option<String>,
    /// A label for this device, e.g. "Firefox on laptop". Defaults to "device".
    #[serde(default)]
    pub device_name: Option<String>,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    /// The account's username.
    pub username: String,
    /// The account's password.
    pub password: String,
    /// A label for this device, e.g. "Firefox on laptop". Defaults to "device".
    #[serde(default)]
    pub device_name: Option<String>,
}

/// Answer to signup and login: a new device session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionResponse {
    /// The account.
    pub user: User,
    /// The new device's id.
    pub device_id: DeviceId,
    /// Bearer token for this device. Shown once; the server keeps only its hash.
    pub token: String,
}

/// `PATCH /api/v1/me`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateProfileRequest {
    /// The new display name.
    pub display_name: String,
}

/// `GET /api/v1/devices`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceList {
    /// The caller's devices, this one included.
    pub devices: Vec<Device>,
}

/// `POST /api/v1/conversations/direct`: get or create the 1:1 conversation
/// with a user, given by `user_id` or `username`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateDirectRequest {
    /// The other user, by id.
    #[serde(default)]
    pub user_id: Option<UserId>,
    /// The other user, by username.
    #[serde(default)]
    pub username: Option<String>,
}

/// `POST /api/v1/conversations/groups`: the creator is added as admin.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateGroupRequest {
    /// The group's name.
    pub name: String,
    /// The first members besides the creator.
    #[serde(default)]
    pub member_ids: Vec<UserId>,
}

/// `POST /api/v1/conversations/{id}/members` (admins only).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddMembersRequest {
    /// The users to add.
    pub user_ids: Vec<UserId>,
}

/// `GET /api/v1/conversations`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationList {
    /// Newest activity first.
    pub conversations: Vec<crate::Conversation>,
}

/// Query of `GET /api/v1/conversations/{id}/messages`. Give at most one of
/// `before` and `after`. With neither, the newest page is returned.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct HistoryQuery {
    /// Messages with seq < before, newest page first (returned in ascending order).
    #[serde(default)]
    pub before: Option<Seq>,
    /// Messages with seq > after, in ascending order.
    #[serde(default)]
    pub after: Option<Seq>,
    /// Page size, 1–200 (default 50).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 200))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 200))]
    pub limit: Option<u32>,
}

/// A page of history, always in ascending seq order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryPage {
    /// The page's messages, ascending by seq.
    pub messages: Vec<Message>,
    /// True when more messages exist in the direction asked for.
    pub has_more: bool,
}

/// `GET /api/v1/conversations`: the caller's conversations, optionally only
/// those whose name matches.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct ConversationListQuery {
    /// Only conversations whose name (a group's name; a direct
    /// conversation's peer's display name or username) contains this, case
    /// and accents ignored. At most 256 characters.
    #[serde(default)]
    pub q: Option<String>,
}

/// `GET /api/v1/search`: full-text search over the messages of the caller's
/// conversations.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct SearchParams {
    /// What to look for: words (each must be found, as a whole word) and
    /// runs of Chinese, Japanese, Korean or Thai characters (found as
    /// typed). Case and accents are ignored. At most 256 characters and 16
    /// different words.
    pub q: String,
    /// Only this conversation (the caller must be a member).
    #[serde(default)]
    pub conversation_id: Option<ConversationId>,
    /// `relevance` (default) or `recent`.
    #[serde(default)]
    pub order: Option<SearchOrder>,
    /// Results to skip: the `next_offset` of the previous page.
    #[serde(default)]
    pub offset: Option<u32>,
    /// Page size, 1–20 (default 20).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 20))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 20))]
    pub limit: Option<u32>,
}

/// How search results are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SearchOrder {
    /// Best match first (BM25 over the matches looked at: rarer words and
    /// more of them count more, long messages less), newer first among
    /// equals.
    #[default]
    Relevance,
    /// Newest first.
    Recent,
}

/// A page of search results.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResults {
    /// The page, in the order asked for.
    pub results: Vec<SearchResult>,
    /// The `offset` of the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u32>,
    /// True when more than 1,000 messages matched: only the newest 1,000
    /// were ranked and paged. Narrow the search to see older ones.
    #[serde(default)]
    pub truncated: bool,
}

/// One message that matched, as a snippet of its text around the match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResult {
    /// Where the message is: open the conversation at this seq.
    pub conversation_id: ConversationId,
    /// The message's seq.
    pub seq: Seq,
    /// Who sent it.
    pub sender_id: UserId,
    /// When the server stored it.
    pub server_ts: TimestampMs,
    /// When it was last edited, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<TimestampMs>,
    /// About 160 characters of the text around the first match, in parts:
    /// the matched words have `hit: true`. "…" marks text cut off. Plain
    /// text: show it as text, never as HTML.
    pub snippet: Vec<SnippetPart>,
}

/// A piece of a snippet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnippetPart {
    /// The text.
    pub text: String,
    /// True for a word the search matched (to highlight).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hit: bool,
}

/// `POST /api/v1/conversations/{id}/read`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarkReadRequest {
    /// Read up to and including this seq.
    pub seq: Seq,
}

/// Answer to mark-read: the marker after the update (never moves back).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadMarkerResponse {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The caller's read marker.
    pub read_seq: Seq,
}

/// `GET /api/v1/presence?user_ids=1,2,3`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct PresenceQuery {
    /// Comma-separated user ids, at most 200.
    pub user_ids: String,
}

/// Presence of the asked-for users that share a conversation with the caller
/// (others are left out, so presence does not leak to strangers).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PresenceList {
    /// One entry per visible user.
    pub presence: Vec<Presence>,
}

/// `GET /api/v1/conversations/{id}/messages/{seq}/receipts`: who has the
/// message and who read it. The sender is not counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageReceipts {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The message.
    pub seq: Seq,
    /// Current members, sender excluded.
    pub member_count: i64,
    /// How many of `member_count` have it delivered.
    pub delivered_count: i64,
    /// How many of `member_count` have read it.
    pub read_count: i64,
    /// Members (sender excluded) whose delivered marker reached `seq`.
    pub delivered_to: Vec<UserId>,
    /// Members (sender excluded) whose read marker reached `seq`.
    pub read_by: Vec<UserId>,
}

/// `PUT /api/v1/conversations/{id}/mute`, and its answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MuteRequest {
    /// True to mute (no push notifications), false to unmute.
    pub muted: bool,
}

/// The mute state after a change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MuteState {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// True when muted.
    pub muted: bool,
}

/// `GET /api/v1/push/vapid-public-key`: the server's VAPID key (RFC 8292).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VapidPublicKey {
    /// Uncompressed P-256 point, base64url without padding: pass it as
    /// `applicationServerKey` to `pushManager.subscribe`.
    pub public_key: String,
}

/// The keys of a Web Push subscription, base64url (as in `PushSubscription.toJSON()`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushKeys {
    /// The subscription's P-256 public key (65 bytes uncompressed).
    pub p256dh: String,
    /// The 16-byte authentication secret.
    pub auth: String,
}

/// `POST /api/v1/push/subscriptions`: the browser's `PushSubscription.toJSON()`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushSubscriptionRequest {
    /// The push service URL (https, or http on loopback for tests).
    pub endpoint: String,
    /// The subscription's keys.
    pub keys: PushKeys,
}

/// Answer to registering a push subscription.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushSubscriptionCreated {
    /// The subscription's id.
    pub id: i64,
}

/// A native push service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum NativePushProvider {
    /// Firebase Cloud Messaging (Android): a registration token.
    Fcm,
    /// Apple Push Notification service (iOS): a device token, hex.
    Apns,
}

/// `PUT /api/v1/push/native`: the calling device's native push token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NativePushRequest {
    /// Which service the token is for.
    pub provider: NativePushProvider,
    /// The token the platform gave the app: non-empty, at most 4096 bytes;
    /// hex for APNs.
    pub token: String,
}

/// The JSON a push notification carries (encrypted end to end to the device).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushPayload {
    /// Always `"message"` for now.
    #[serde(rename = "type")]
    pub kind: String,
    /// The message's conversation.
    pub conversation_id: ConversationId,
    /// The message's seq.
    pub seq: Seq,
    /// Who sent it.
    pub sender_id: UserId,
    /// The sender's display name.
    pub sender_name: String,
    /// The group's name; `None` for direct conversations.
    pub conversation_name: Option<String>,
    /// The start of the message, at most 200 characters.
    pub preview: String,
    /// When the server stored it.
    pub server_ts: TimestampMs,
}

/// `GET /api/v1/health`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `"ok"` when the server can serve.
    pub status: String,
    /// The server's version.
    pub version: String,
}

// --- Blocks (issue 16) ---

/// One user on the caller's block list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockedUser {
    /// The blocked user's profile.
    pub user: User,
    /// When the caller blocked them.
    pub blocked_at: TimestampMs,
}

/// `GET /api/v1/blocks`: everyone the caller has blocked, most recent
/// first (at most `max_blocked_users`, 10,000 by default).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockList {
    /// The blocked users.
    pub blocked: Vec<BlockedUser>,
}

// --- Leaving for good (issue 16) ---

/// `DELETE /api/v1/me`: the account's password, to confirm.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeleteAccountRequest {
    /// The account's current password.
    pub password: String,
}

/// `GET /api/v1/me/export`: where the page starts. Both or neither: the
/// page holds the caller's messages after this position, in (conversation,
/// seq) order; neither starts at the beginning. Pass the previous page's
/// `next`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct ExportQuery {
    /// The previous page's `next.conversation_id`.
    #[serde(default)]
    pub after_conversation_id: Option<ConversationId>,
    /// The previous page's `next.seq`.
    #[serde(default)]
    pub after_seq: Option<Seq>,
}

/// Where the next export page starts: the last message of this one, or
/// the position the server's walk reached (a page looks at a bounded
/// number of messages, so it may hold few or none and still have a next).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportCursor {
    /// Pass as `after_conversation_id`.
    pub conversation_id: ConversationId,
    /// Pass as `after_seq`.
    pub seq: Seq,
}

/// One page of `GET /api/v1/me/export`: the caller's profile and the text
/// messages they sent (as they stand: edited text, deleted ones left out),
/// at most 500 messages or 1 MiB of text per page. Read pages until `next`
/// is absent; a page may be empty and still have a `next`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportPage {
    /// The caller's profile.
    pub user: User,
    /// The caller's messages of this page, in (conversation, seq) order.
    pub messages: Vec<Message>,
    /// Where the next page starts; absent on the last page (and only there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<ExportCursor>,
}
