//! Web Push registration: the VAPID key and this device's subscriptions.

use std::sync::Arc;

use axum::{extract::State, http::StatusCode};
use banter_protocol::{
    http::{PushSubscriptionCreated, PushSubscriptionRequest, VapidPublicKey},
    limits::PUSH_ENDPOINT_MAX_BYTES,
    ErrorBody, ErrorCode,
};
use banter_store::NewPushSubscription;

use super::extract::Json;
use crate::{
    auth::Authenticated,
    error::{ApiError, ApiResult},
    push::{endpoint, web_push::decode_subscription},
    state::{now_ms, AppState},
};

/// The server's VAPID public key, for `pushManager.subscribe({applicationServerKey})`.
#[utoipa::path(get, path = "/api/v1/push/vapid-public-key", tag = "push",
    responses((status = 200, body = VapidPublicKey)))]
pub async fn vapid_public_key(State(state): State<Arc<AppState>>) -> Json<VapidPublicKey> {
    Json(VapidPublicKey { public_key: state.vapid_public_key.clone() })
}

/// Registers a Web Push subscription for the calling device. Notifications
/// go to it while none of the user's devices is connected.
#[utoipa::path(post, path = "/api/v1/push/subscriptions", tag = "push", security(("bearer" = [])),
    request_body = PushSubscriptionRequest,
    responses((status = 201, body = PushSubscriptionCreated),
              (status = 400, description = "invalid_push_subscription: endpoint not allowed, or malformed keys", body = ErrorBody)))]
pub async fn subscribe(State(state): State<Arc<AppState>>, auth: Authenticated, Json(req): Json<PushSubscriptionRequest>) -> ApiResult<(StatusCode, Json<PushSubscriptionCreated>)> {
    let invalid = |why: String| ApiError::new(ErrorCode::InvalidPushSubscription, why);
    if req.endpoint.len() > PUSH_ENDPOINT_MAX_BYTES {
        return Err(invalid(format!("endpoint is longer than {PUSH_ENDPOINT_MAX_BYTES} bytes")));
    }
    endpoint::check(&req.endpoint, &state.config.push_endpoint_hosts).map_err(invalid)?;
    decode_subscription(&req.endpoint, &req.keys.p256dh, &req.keys.auth).map_err(invalid)?;
    let id = state
        .store
        .add_push_subscription(NewPushSubscription {
            user_id: auth.user.id,
            device_id: auth.device_id,
            endpoint: req.endpoint,
            p256dh: req.keys.p256dh,
            auth: req.keys.auth,
            created_at: now_ms(),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(PushSubscriptionCreated { id })))
}

/// Removes the calling device's push subscriptions.
#[utoipa::path(delete, path = "/api/v1/push/subscriptions", tag = "push", security(("bearer" = [])),
    responses((status = 204)))]
pub async fn unsubscribe(State(state): State<Arc<AppState>>, auth: Authenticated) -> ApiResult<StatusCode> {
    state.store.remove_device_push_subscriptions(auth.device_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
