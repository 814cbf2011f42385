//! Leaving for good: `DELETE /me` (the account, password confirmed) and
//! `GET /me/export` (the caller's data, in pages). The rules are
//! [`crate::leaving`]'s.

use std::sync::Arc;

use axum::{extract::State, http::StatusCode};
use banter_protocol::{
    http::{DeleteAccountRequest, ExportPage, ExportQuery},
    ErrorBody,
};

use super::extract::{Json, Query};
use crate::{auth::Authenticated, error::ApiResult, leaving, state::AppState};

type AppStateRef = State<Arc<AppState>>;

/// Deletes the caller's account for good, confirmed with its password:
/// every device is logged out (open connections close), push
/// subscriptions go, the account leaves its groups, its profile is erased
/// and its username stays reserved. Messages it sent stay, shown as from
/// a deleted user.
#[utoipa::path(delete, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])), request_body = DeleteAccountRequest,
    responses((status = 204),
              (status = 403, description = "wrong_password", body = ErrorBody)))]
pub async fn delete_account(State(state): AppStateRef, auth: Authenticated, Json(req): Json<DeleteAccountRequest>) -> ApiResult<StatusCode> {
    leaving::delete_account(&state, &auth.user, req.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One page of the caller's data: their profile and the messages they
/// sent (at most 500 or 1 MiB of text per page); follow `next` until it
/// is absent.
#[utoipa::path(get, path = "/api/v1/me/export", tag = "accounts", security(("bearer" = [])),
    params(ExportQuery),
    responses((status = 200, body = ExportPage),
              (status = 400, description = "invalid_request: only one of after_conversation_id and after_seq", body = ErrorBody)))]
pub async fn export(State(state): AppStateRef, auth: Authenticated, Query(query): Query<ExportQuery>) -> ApiResult<Json<ExportPage>> {
    Ok(Json(leaving::export_page(&state, auth.user, query.after_conversation_id, query.after_seq).await?))
}
