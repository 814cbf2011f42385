//! The OpenAPI document, generated from the handlers' annotations and the
//! protocol types, served at `GET /api/v1/openapi.json`. The WebSocket
//! frames are included as schemas (`ClientFrame`, `ServerFrame`).

use axum::response::IntoResponse;
use banter_protocol::{
    frames::{ClientFrame, ConnectionLimits, ConversationChange, ServerFrame, SyncCursor},
    http::PushPayload,
    ErrorBody, ErrorCode,
};
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

use super::{accounts, conversations, presence, push};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Banter API", description = "HTTP API of the Banter chat server. Real-time messaging runs over the WebSocket at /api/v1/ws; its frames are the ClientFrame and ServerFrame schemas. See docs/PROTOCOL.md."),
    paths(
        accounts::signup, accounts::login, accounts::logout, accounts::me, accounts::update_profile,
        accounts::user_by_username, accounts::list_devices, accounts::revoke_device,
        conversations::create_direct, conversations::create_group, conversations::list, conversations::get,
        conversations::add_members, conversations::remove_member, conversations::history, conversations::mark_read,
        conversations::receipts, conversations::mute, presence::query, push::vapid_public_key, push::subscribe,
        push::unsubscribe, super::health,
    ),
    components(schemas(ClientFrame, ServerFrame, SyncCursor, ConnectionLimits, ConversationChange, ErrorBody, ErrorCode, PushPayload)),
    modifiers(&BearerAuth),
    tags((name = "accounts"), (name = "conversations"), (name = "messages"), (name = "presence"), (name = "push"), (name = "meta"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        }
    }
}

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> impl IntoResponse {
    axum::Json(ApiDoc::openapi())
}
