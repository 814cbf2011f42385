//! Accounts, sessions (devices) and profiles.

use std::sync::Arc;

use axum::{extract::State, http::StatusCode};
use banter_protocol::{
    http::{DeviceList, LoginRequest, SessionResponse, SignupRequest, UpdateProfileRequest},
    limits::{self, DEVICE_NAME_MAX_CHARS, DISPLAY_NAME_MAX_CHARS},
    Device, ErrorBody, ErrorCode, User,
};

use super::extract::{Json, Path};
use crate::{
    auth::{new_token, token_hash, Authenticated},
    client_address::ClientAddress,
    error::{ApiError, ApiResult},
    state::{now_ms, AppState},
};

type AppStateRef = State<Arc<AppState>>;

/// Creates an account and logs this device in.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "accounts", request_body = SignupRequest,
    responses((status = 201, body = SessionResponse),
              (status = 400, description = "invalid_username, invalid_password, invalid_name, invalid_json", body = ErrorBody),
              (status = 409, description = "username_taken", body = ErrorBody),
              (status = 429, description = "rate_limited: too many accounts from this address; `Retry-After` says when to retry", body = ErrorBody)))]
pub async fn signup(State(state): AppStateRef, ClientAddress(client): ClientAddress, Json(req): Json<SignupRequest>) -> ApiResult<(StatusCode, Json<SessionResponse>)> {
    state.signup_limits.check(client).await?;
    let username = req.username.trim().to_lowercase();
    limits::validate_username(&username)?;
    limits::validate_password(&req.password)?;
    let display_name = req.display_name.map(|n| n.trim().to_string()).unwrap_or_else(|| username.clone());
    limits::validate_name("display name", &display_name, DISPLAY_NAME_MAX_CHARS)?;
    let device_name = device_name(req.device_name)?;
    let phc = state.passwords.hash(req.password).await?;
    let user = state.store.create_user(&username, &phc, &display_name, now_ms()).await?;
    state.login_limits.succeeded(&username, client).await;
    let session = open_session(&state, user, &device_name).await?;
    tracing::info!(user = session.user.id, "signed up");
    Ok((StatusCode::CREATED, Json(session)))
}

/// Logs a new device in.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = SessionResponse), (status = 401, description = "invalid_credentials", body = ErrorBody),
              (status = 429, description = "rate_limited: too many attempts from this address, for this username from this address, or for this username from addresses that never logged in to it; `Retry-After` says when to retry", body = ErrorBody)))]
pub async fn login(State(state): AppStateRef, ClientAddress(client): ClientAddress, Json(req): Json<LoginRequest>) -> ApiResult<Json<SessionResponse>> {
    let invalid = || ApiError::new(ErrorCode::InvalidCredentials, "wrong username or password");
    let device_name = device_name(req.device_name)?;
    let username = req.username.trim().to_lowercase();
    // Counted before any work (argon2 included), successful or not:
    // guessing costs attempts.
    state.login_limits.check(&username, client).await?;
    if req.password.chars().count() > limits::PASSWORD_MAX_CHARS {
        return Err(invalid());
    }
    let Some((user, phc)) = state.store.user_credentials(&username).await? else {
        state.passwords.verify_dummy(req.password).await?;
        return Err(invalid());
    };
    if !state.passwords.verify(req.password, phc).await? {
        return Err(invalid());
    }
    state.login_limits.succeeded(&username, client).await;
    Ok(Json(open_session(&state, user, &device_name).await?))
}

/// Revokes the calling device's token and closes its connections.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(State(state): AppStateRef, auth: Authenticated) -> ApiResult<StatusCode> {
    revoke(&state, &auth, auth.device_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's profile.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
pub async fn me(auth: Authenticated) -> Json<User> {
    Json(auth.user)
}

/// Changes the caller's display name.
#[utoipa::path(patch, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])), request_body = UpdateProfileRequest,
    responses((status = 200, body = User), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn update_profile(State(state): AppStateRef, auth: Authenticated, Json(req): Json<UpdateProfileRequest>) -> ApiResult<Json<User>> {
    let name = req.display_name.trim();
    limits::validate_name("display name", name, DISPLAY_NAME_MAX_CHARS)?;
    Ok(Json(state.store.update_display_name(auth.user.id, name).await?))
}

/// Another user's public profile, by username.
#[utoipa::path(get, path = "/api/v1/users/{username}", tag = "accounts", security(("bearer" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = User), (status = 404, description = "user_not_found", body = ErrorBody)))]
pub async fn user_by_username(State(state): AppStateRef, _auth: Authenticated, Path(username): Path<String>) -> ApiResult<Json<User>> {
    let username = username.to_lowercase();
    let user = state.store.user_by_username(&username).await?;
    user.map(Json).ok_or_else(|| ApiError::new(ErrorCode::UserNotFound, "no user with that username"))
}

/// The caller's logged-in devices, with when each was last used and when
/// its session ends.
#[utoipa::path(get, path = "/api/v1/devices", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = DeviceList), (status = 401, description = "unauthorized, session_expired", body = ErrorBody)))]
pub async fn list_devices(State(state): AppStateRef, auth: Authenticated) -> ApiResult<Json<DeviceList>> {
    let policy = state.sessions.policy;
    let devices = state
        .store
        .list_devices(auth.user.id)
        .await?
        .into_iter()
        .map(|d| Device {
            current: d.id == auth.device_id,
            expires_at: policy.expires_at(d.created_at, d.last_active_at),
            id: d.id,
            name: d.name,
            created_at: d.created_at,
            last_active_at: d.last_active_at,
        })
        .collect();
    Ok(Json(DeviceList { devices }))
}

/// Revokes one of the caller's devices (logs it out everywhere).
#[utoipa::path(delete, path = "/api/v1/devices/{device_id}", tag = "accounts", security(("bearer" = [])),
    params(("device_id" = i64, Path)),
    responses((status = 204), (status = 404, description = "device_not_found", body = ErrorBody)))]
pub async fn revoke_device(State(state): AppStateRef, auth: Authenticated, Path(device_id): Path<i64>) -> ApiResult<StatusCode> {
    revoke(&state, &auth, device_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn revoke(state: &AppState, auth: &Authenticated, device_id: i64) -> ApiResult<()> {
    state.store.revoke_device(auth.user.id, device_id).await?;
    // Through the router: the device may be connected to another node.
    state.router.revoke_device(auth.user.id, device_id);
    Ok(())
}

async fn open_session(state: &AppState, user: User, device_name: &str) -> ApiResult<SessionResponse> {
    let token = new_token();
    let device = state.store.create_device(user.id, device_name, &token_hash(&token), now_ms()).await?;
    Ok(SessionResponse { user, device_id: device.id, token })
}

fn device_name(name: Option<String>) -> ApiResult<String> {
    let name = name.map(|n| n.trim().to_string()).unwrap_or_else(|| "device".to_string());
    limits::validate_name("device name", &name, DEVICE_NAME_MAX_CHARS)?;
    Ok(name)
}
