//! `GET /health` (liveness) and `GET /ready` (readiness); see
//! [`crate::readiness`] for why they differ.

use std::sync::Arc;

use axum::extract::State;
use banter_protocol::{http::Health, ErrorBody, ErrorCode};

use super::Json;
use crate::{error::ApiError, state::AppState};

/// Liveness and version: 503 while shutting down (from the first moment of
/// the drain, so a load balancer stops sending new clients) or once storage
/// has failed for good (the process is about to exit so that its supervisor
/// restarts it). A database that is only unreachable does not fail it: see
/// `/ready`.
#[utoipa::path(
    get, path = "/api/v1/health", tag = "meta",
    responses(
        (status = 200, body = Health),
        (status = 503, body = ErrorBody, description = "`shutting_down` while the server drains; `storage_unavailable` once storage has failed for good"),
    )
)]
pub(super) async fn health(State(state): State<Arc<AppState>>) -> Result<Json<Health>, ApiError> {
    refuse_if_stopping(&state)?;
    Ok(Json(Health { status: "ok".into(), version: env!("CARGO_PKG_VERSION").into() }))
}

/// Readiness: everything `/health` checks, and that the database answers
/// (one trivial query per shard, 2 s timeout, the answer reused for 1 s).
/// Load balancers should route on this one.
#[utoipa::path(
    get, path = "/api/v1/ready", tag = "meta",
    responses(
        (status = 200, body = Health, description = "status `ready`"),
        (status = 503, body = ErrorBody, description = "`storage_unavailable` while the database is unreachable (or storage has failed for good); `shutting_down` while the server drains"),
    )
)]
pub(super) async fn ready(State(state): State<Arc<AppState>>) -> Result<Json<Health>, ApiError> {
    refuse_if_stopping(&state)?;
    if let Err(reason) = state.readiness.check(&*state.store).await {
        tracing::debug!(%reason, "not ready: storage unreachable");
        return Err(ApiError::new(ErrorCode::StorageUnavailable, format!("storage is unreachable: {reason}")));
    }
    Ok(Json(Health { status: "ready".into(), version: env!("CARGO_PKG_VERSION").into() }))
}

fn refuse_if_stopping(state: &AppState) -> Result<(), ApiError> {
    if state.shutdown.is_cancelled() {
        return Err(ApiError::new(ErrorCode::ShuttingDown, "server is shutting down"));
    }
    if let Some(failure) = state.store.fatal_error() {
        return Err(ApiError::new(ErrorCode::StorageUnavailable, format!("storage has failed: {failure}")));
    }
    Ok(())
}
