//! Request and response bodies of the HTTP API (`/api/v1/...`).
//! Authenticated endpoints take `Authorization: Bearer <token>`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{ConversationId, Device, DeviceId, Message, Seq, User, UserId};

/// `POST /api/v1/auth/signup`. Creates the account and logs this device in.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignupRequest {
    pub username: String,
    pub password: String,
    /// Defaults to the username.
    #[serde(default)]
    pub display_name: Option<String>,
    /// A label for this device, e.g. "Firefox on laptop". Defaults to "device".
    #[serde(default)]
    pub device_name: Option<String>,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub device_name: Option<String>,
}

/// Answer to signup and login: a new device session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionResponse {
    pub user: User,
    pub device_id: DeviceId,
    /// Bearer token for this device. Shown once; the server keeps only its hash.
    pub token: String,
}

/// `PATCH /api/v1/me`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpdateProfileRequest {
    pub display_name: String,
}

/// `GET /api/v1/devices`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceList {
    pub devices: Vec<Device>,
}

/// `POST /api/v1/conversations/direct`: get or create the 1:1 conversation
/// with a user, given by `user_id` or `username`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateDirectRequest {
    #[serde(default)]
    pub user_id: Option<UserId>,
    #[serde(default)]
    pub username: Option<String>,
}

/// `POST /api/v1/conversations/groups`: the creator is added as admin.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateGroupRequest {
    pub name: String,
    #[serde(default)]
    pub member_ids: Vec<UserId>,
}

/// `POST /api/v1/conversations/{id}/members` (admins only).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AddMembersRequest {
    pub user_ids: Vec<UserId>,
}

/// `GET /api/v1/conversations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConversationList {
    /// Newest activity first.
    pub conversations: Vec<crate::Conversation>,
}

/// Query of `GET /api/v1/conversations/{id}/messages`. Give at most one of
/// `before` and `after`. With neither, the newest page is returned.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Messages with seq < before, newest page first (returned in ascending order).
    #[serde(default)]
    pub before: Option<Seq>,
    /// Messages with seq > after, in ascending order.
    #[serde(default)]
    pub after: Option<Seq>,
    /// Page size, 1–200 (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A page of history, always in ascending seq order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistoryPage {
    pub messages: Vec<Message>,
    /// True when more messages exist in the direction asked for.
    pub has_more: bool,
}

/// `POST /api/v1/conversations/{id}/read`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MarkReadRequest {
    pub seq: Seq,
}

/// Answer to mark-read: the marker after the update (never moves back).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReadMarkerResponse {
    pub conversation_id: ConversationId,
    pub read_seq: Seq,
}

/// `GET /api/v1/health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
}
