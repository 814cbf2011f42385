//! The HTTP API under `/api/v1`: routes parse requests and shape answers;
//! the rules live in the store and in [`crate::messaging`].

mod accounts;
mod conversations;
mod extract;
mod openapi;
mod presence;
mod push;
mod static_files;

use std::sync::Arc;

use axum::{
    extract::{DefaultBodyLimit, State},
    routing::{delete, get, post, put},
    Router,
};
use banter_protocol::{http::Health, limits::MAX_HTTP_BODY_BYTES, ErrorBody, ErrorCode};

pub use extract::Json;
pub use openapi::ApiDoc;

use crate::{error::ApiError, gateway, state::AppState};

/// Every route of the server.
pub fn routes(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/auth/signup", post(accounts::signup))
        .route("/auth/login", post(accounts::login))
        .route("/auth/logout", post(accounts::logout))
        .route("/me", get(accounts::me).patch(accounts::update_profile))
        .route("/users/{username}", get(accounts::user_by_username))
        .route("/devices", get(accounts::list_devices))
        .route("/devices/{device_id}", delete(accounts::revoke_device))
        .route("/conversations", get(conversations::list))
        .route("/conversations/direct", post(conversations::create_direct))
        .route("/conversations/groups", post(conversations::create_group))
        .route("/conversations/{id}", get(conversations::get))
        .route("/conversations/{id}/members", post(conversations::add_members))
        .route("/conversations/{id}/members/{user_id}", delete(conversations::remove_member))
        .route("/conversations/{id}/messages", get(conversations::history))
        .route("/conversations/{id}/messages/{seq}/receipts", get(conversations::receipts))
        .route("/conversations/{id}/read", post(conversations::mark_read))
        .route("/conversations/{id}/mute", put(conversations::mute))
        .route("/presence", get(presence::query))
        .route("/push/vapid-public-key", get(push::vapid_public_key))
        .route("/push/subscriptions", post(push::subscribe).delete(push::unsubscribe))
        .route("/health", get(health))
        .route("/openapi.json", get(openapi::serve))
        .route("/ws", get(gateway::upgrade))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_HTTP_BODY_BYTES));
    Router::new().nest("/api/v1", api).fallback(static_files::serve).with_state(state)
}

/// Liveness and version.
#[utoipa::path(get, path = "/api/v1/health", tag = "meta", responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
async fn health(State(state): State<Arc<AppState>>) -> Result<Json<Health>, ApiError> {
    if state.shutdown.is_cancelled() {
        return Err(ApiError::new(ErrorCode::ShuttingDown, "server is shutting down"));
    }
    Ok(Json(Health { status: "ok".into(), version: env!("CARGO_PKG_VERSION").into() }))
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}
