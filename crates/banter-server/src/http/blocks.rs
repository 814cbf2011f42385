//! The caller's block list: `GET /blocks`, `PUT /blocks/{user_id}` to
//! block, `DELETE /blocks/{user_id}` to unblock. Both changes are
//! idempotent, and each tells the caller's devices (`blocks_changed`).
//! What a block refuses is `banter_store::blocks`' rule.

use std::sync::Arc;

use axum::{extract::State, http::StatusCode};
use banter_protocol::{
    http::{BlockList, BlockedUser},
    ErrorBody, ServerFrame, UserId,
};

use super::extract::{Json, Path};
use crate::{
    auth::Authenticated,
    error::ApiResult,
    frame::encode,
    state::{now_ms, AppState},
};

type AppStateRef = State<Arc<AppState>>;

/// Everyone the caller has blocked, most recent first.
#[utoipa::path(get, path = "/api/v1/blocks", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = BlockList)))]
pub async fn list(State(state): AppStateRef, auth: Authenticated) -> ApiResult<Json<BlockList>> {
    let blocked = state
        .store
        .blocked_users(auth.user.id)
        .await?
        .into_iter()
        .map(|entry| BlockedUser { user: entry.user, blocked_at: entry.blocked_at })
        .collect();
    Ok(Json(BlockList { blocked }))
}

/// Blocks a user: from now on neither can open their direct conversation
/// or send into it, they cannot add the caller to groups, and presence and
/// typing stop flowing between them. Blocking again changes nothing.
#[utoipa::path(put, path = "/api/v1/blocks/{user_id}", tag = "accounts", security(("bearer" = [])),
    params(("user_id" = i64, Path)),
    responses((status = 204),
              (status = 400, description = "cannot_block_yourself", body = ErrorBody),
              (status = 404, description = "user_not_found", body = ErrorBody),
              (status = 409, description = "too_many_blocks: the list holds `max_blocked_users` (10,000 by default)", body = ErrorBody)))]
pub async fn block(State(state): AppStateRef, auth: Authenticated, Path(user_id): Path<UserId>) -> ApiResult<StatusCode> {
    let cap = state.config.max_blocked_users as usize;
    state.store.block_user(auth.user.id, user_id, cap, now_ms()).await?;
    tell_own_devices(&state, auth.user.id, user_id, true);
    Ok(StatusCode::NO_CONTENT)
}

/// Lifts the caller's block of a user (if any).
#[utoipa::path(delete, path = "/api/v1/blocks/{user_id}", tag = "accounts", security(("bearer" = [])),
    params(("user_id" = i64, Path)),
    responses((status = 204)))]
pub async fn unblock(State(state): AppStateRef, auth: Authenticated, Path(user_id): Path<UserId>) -> ApiResult<StatusCode> {
    state.store.unblock_user(auth.user.id, user_id).await?;
    tell_own_devices(&state, auth.user.id, user_id, false);
    Ok(StatusCode::NO_CONTENT)
}

/// `blocks_changed` to every device of `blocker` (on every node), so each
/// shows the list as it is. Best effort like every live frame: a device
/// that misses it reads the list again when it next starts.
fn tell_own_devices(state: &AppState, blocker: UserId, user_id: UserId, blocked: bool) {
    state.router.publish(&[blocker], encode(&ServerFrame::BlocksChanged { user_id, blocked }), None);
}
