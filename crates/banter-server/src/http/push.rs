//! Push registration: the VAPID key and this device's Web Push
//! subscriptions, and its native app's FCM or APNs token.

use std::sync::Arc;

use axum::{extract::State, http::StatusCode};
use banter_protocol::{
    http::{NativePushProvider, NativePushRequest, PushSubscriptionCreated, PushSubscriptionRequest, VapidPublicKey},
    limits::{NATIVE_PUSH_TOKEN_MAX_BYTES, PUSH_ENDPOINT_MAX_BYTES},
    ErrorBody, ErrorCode,
};
use banter_store::{NewPushSubscription, PushSubscriptionCaps, PushTarget};

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
/// go to it while none of the user's devices is connected. An endpoint
/// belongs to the device that registered it: that device may register it
/// again (new keys), any other gets `push_endpoint_taken` until the holder
/// unsubscribes or is removed. Capped per device and per account.
#[utoipa::path(post, path = "/api/v1/push/subscriptions", tag = "push", security(("bearer" = [])),
    request_body = PushSubscriptionRequest,
    responses((status = 201, body = PushSubscriptionCreated),
              (status = 400, description = "invalid_push_subscription: endpoint not allowed, or malformed keys", body = ErrorBody),
              (status = 409, description = "push_endpoint_taken: another device holds this endpoint; too_many_push_subscriptions: the device or account is at its cap", body = ErrorBody)))]
pub async fn subscribe(State(state): State<Arc<AppState>>, auth: Authenticated, Json(req): Json<PushSubscriptionRequest>) -> ApiResult<(StatusCode, Json<PushSubscriptionCreated>)> {
    let invalid = |why: String| ApiError::new(ErrorCode::InvalidPushSubscription, why);
    if req.endpoint.len() > PUSH_ENDPOINT_MAX_BYTES {
        return Err(invalid(format!("endpoint is longer than {PUSH_ENDPOINT_MAX_BYTES} bytes")));
    }
    endpoint::check(&req.endpoint, &state.config.push_endpoint_hosts).map_err(invalid)?;
    decode_subscription(&req.endpoint, &req.keys.p256dh, &req.keys.auth).map_err(invalid)?;
    let subscription = NewPushSubscription {
        user_id: auth.user.id,
        device_id: auth.device_id,
        target: PushTarget::Web { endpoint: req.endpoint, p256dh: req.keys.p256dh, auth: req.keys.auth },
        created_at: now_ms(),
    };
    let caps = PushSubscriptionCaps {
        per_device: state.config.push_subscriptions_per_device,
        per_user: state.config.push_subscriptions_per_user,
    };
    let id = state.store.add_push_subscription(subscription, caps).await?;
    Ok((StatusCode::CREATED, Json(PushSubscriptionCreated { id })))
}

/// Removes the calling device's push subscriptions.
#[utoipa::path(delete, path = "/api/v1/push/subscriptions", tag = "push", security(("bearer" = [])),
    responses((status = 204)))]
pub async fn unsubscribe(State(state): State<Arc<AppState>>, auth: Authenticated) -> ApiResult<StatusCode> {
    state.store.remove_device_push_subscriptions(auth.device_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Registers the calling device's native push token (FCM for Android, APNs
/// for iOS), replacing the device's previous one: a device has at most one.
/// Notifications go to it while none of the user's devices is connected;
/// the app then connects and syncs. Registering the same token again keeps
/// its id. A token belongs to the device holding it (`push_endpoint_taken`
/// for any other) and is removed with the device. It counts against the
/// same caps as Web Push subscriptions.
#[utoipa::path(put, path = "/api/v1/push/native", tag = "push", security(("bearer" = [])),
    request_body = NativePushRequest,
    responses((status = 200, body = PushSubscriptionCreated),
              (status = 400, description = "invalid_push_subscription: the token is empty, over 4096 bytes, or (APNs) not hex", body = ErrorBody),
              (status = 409, description = "push_provider_not_configured: this server has no credentials for the provider; push_endpoint_taken: another device holds this token; too_many_push_subscriptions: the device or account is at its cap", body = ErrorBody)))]
pub async fn register_native(State(state): State<Arc<AppState>>, auth: Authenticated, Json(req): Json<NativePushRequest>) -> ApiResult<Json<PushSubscriptionCreated>> {
    check_native_token(&req).map_err(|why| ApiError::new(ErrorCode::InvalidPushSubscription, why))?;
    let target = match req.provider {
        NativePushProvider::Fcm => PushTarget::Fcm { token: req.token },
        NativePushProvider::Apns => PushTarget::Apns { token: req.token },
    };
    if !state.native_push.configured(&target) {
        let name = target.kind();
        return Err(ApiError::new(ErrorCode::PushProviderNotConfigured, format!("{name} push is not configured on this server")));
    }
    let subscription = NewPushSubscription { user_id: auth.user.id, device_id: auth.device_id, target, created_at: now_ms() };
    let caps = PushSubscriptionCaps {
        per_device: state.config.push_subscriptions_per_device,
        per_user: state.config.push_subscriptions_per_user,
    };
    let id = state.store.add_push_subscription(subscription, caps).await?;
    Ok(Json(PushSubscriptionCreated { id }))
}

/// Removes the calling device's native push token, if it has one.
#[utoipa::path(delete, path = "/api/v1/push/native", tag = "push", security(("bearer" = [])),
    responses((status = 204)))]
pub async fn unregister_native(State(state): State<Arc<AppState>>, auth: Authenticated) -> ApiResult<StatusCode> {
    state.store.remove_device_native_push(auth.device_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a native token must look like; the error says what is wrong. Only
/// the shape: whether the token is live is the provider's answer (a dead
/// one is removed at the first notification).
fn check_native_token(req: &NativePushRequest) -> Result<(), String> {
    if req.token.is_empty() {
        return Err("token is empty".to_owned());
    }
    if req.token.len() > NATIVE_PUSH_TOKEN_MAX_BYTES {
        return Err(format!("token is longer than {NATIVE_PUSH_TOKEN_MAX_BYTES} bytes"));
    }
    match req.provider {
        NativePushProvider::Apns if !req.token.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Err("an APNs device token is hex digits".to_owned())
        }
        // FCM tokens are opaque, but printable ASCII without spaces: they go
        // into a JSON body, never a URL or header, yet nothing else is valid.
        NativePushProvider::Fcm if !req.token.bytes().all(|b| b.is_ascii_graphic()) => {
            Err("an FCM registration token is printable ASCII without spaces".to_owned())
        }
        _ => Ok(()),
    }
}
