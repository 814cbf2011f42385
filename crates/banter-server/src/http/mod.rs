//! The HTTP API under `/api/v1`: routes parse requests and shape answers;
//! the rules live in the store and in [`crate::messaging`]. Two layers wrap
//! them: the per-account budgets of signed-in routes
//! ([`account_limits`]) and, around everything, the request deadline
//! ([`deadline`]).

mod account_limits;
mod accounts;
mod blocks;
mod conversations;
mod deadline;
mod extract;
mod health;
mod leaving;
mod openapi;
mod presence;
mod push;
mod search;
mod static_files;

use std::sync::Arc;

use axum::{
    extract::DefaultBodyLimit,
    middleware,
    routing::{delete, get, post, put, MethodRouter},
    Router,
};
use banter_protocol::{limits::MAX_HTTP_BODY_BYTES, ErrorCode};

pub use extract::Json;
pub use openapi::ApiDoc;

use crate::{error::ApiError, gateway, state::AppState};

/// Every route under `/api/v1`, in one table: the router is built from it,
/// and the OpenAPI test checks that the document describes each of its
/// paths with the methods the router takes.
fn api_routes() -> Vec<(&'static str, MethodRouter<Arc<AppState>>)> {
    vec![
        ("/auth/signup", post(accounts::signup)),
        ("/auth/login", post(accounts::login)),
        ("/auth/logout", post(accounts::logout)),
        ("/me", get(accounts::me).patch(accounts::update_profile).delete(leaving::delete_account)),
        ("/me/export", get(leaving::export)),
        ("/users/{username}", get(accounts::user_by_username)),
        ("/devices", get(accounts::list_devices)),
        ("/devices/{device_id}", delete(accounts::revoke_device)),
        ("/conversations", get(conversations::list)),
        ("/conversations/direct", post(conversations::create_direct)),
        ("/conversations/groups", post(conversations::create_group)),
        ("/conversations/{id}", get(conversations::get)),
        ("/conversations/{id}/members", post(conversations::add_members)),
        ("/conversations/{id}/members/{user_id}", delete(conversations::remove_member)),
        ("/conversations/{id}/messages", get(conversations::history)),
        ("/conversations/{id}/messages/{seq}/receipts", get(conversations::receipts)),
        ("/conversations/{id}/read", post(conversations::mark_read)),
        ("/conversations/{id}/mute", put(conversations::mute)),
        ("/blocks", get(blocks::list)),
        ("/blocks/{user_id}", put(blocks::block).delete(blocks::unblock)),
        ("/presence", get(presence::query)),
        ("/search", get(search::search)),
        ("/push/vapid-public-key", get(push::vapid_public_key)),
        ("/push/subscriptions", post(push::subscribe).delete(push::unsubscribe)),
        ("/push/native", put(push::register_native).delete(push::unregister_native)),
        ("/health", get(health::health)),
        ("/ready", get(health::ready)),
        ("/openapi.json", get(openapi::serve)),
        ("/ws", get(gateway::upgrade)),
        ("/events", get(gateway::events::open)),
        ("/events/{stream_id}", post(gateway::events::post)),
    ]
}

/// The paths the router serves under `/api/v1` (without the prefix).
pub fn api_paths() -> Vec<&'static str> {
    api_routes().into_iter().map(|(path, _)| path).collect()
}

/// Every route of the server.
pub fn routes(state: Arc<AppState>) -> Router {
    let api = api_routes()
        .into_iter()
        .fold(Router::new(), |api, (path, route)| api.route(path, route))
        .route_layer(middleware::from_fn_with_state(state.clone(), account_limits::limit))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_HTTP_BODY_BYTES));
    let request_timeout = state.config.http_request_timeout;
    Router::new()
        .nest("/api/v1", api)
        .fallback(static_files::serve)
        .with_state(state)
        .layer(middleware::from_fn_with_state(request_timeout, deadline::request_deadline))
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}

/// A known path with the wrong method: the same `{code, message}` body as
/// every other error (axum adds the `Allow` header).
async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, "this endpoint does not take that method; see the Allow header")
}
