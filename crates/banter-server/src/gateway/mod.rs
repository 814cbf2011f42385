//! The WebSocket gateway at `/api/v1/ws`: one connection per device (or tab).
//!
//! The handshake is refused with an HTTP error before any upgrade when the
//! token is missing, unknown or revoked (`401 unauthorized`) or the Origin is
//! foreign (`403 origin_not_allowed`, against cross-site WebSocket
//! hijacking). Browsers cannot set headers on a WebSocket, so besides
//! `Authorization: Bearer <token>` the token may come as the subprotocol
//! `banter.token.<token>` next to `banter.v1`.
//!
//! After the upgrade, framing violations (RFC 6455) close the connection
//! with 1002, invalid UTF-8 with 1007 and oversized messages with 1009
//! (`read_error.rs`); `tests/websocket_rfc6455.rs` is the specification.

mod connection;
mod decode;
mod origin;
mod read_error;

use std::sync::Arc;

use axum::{
    extract::{State, WebSocketUpgrade},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use banter_protocol::{limits::MAX_WS_FRAME_BYTES, ErrorCode};

use crate::{
    auth::{bearer_token, Authenticated},
    error::ApiError,
    state::AppState,
};

/// Subprotocol a browser offers along with its token.
pub const SUBPROTOCOL: &str = "banter.v1";
const TOKEN_SUBPROTOCOL_PREFIX: &str = "banter.token.";

/// `GET /api/v1/ws`: checks Origin and token, then upgrades.
pub async fn upgrade(State(state): State<Arc<AppState>>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if state.shutdown.is_cancelled() {
        return ApiError::new(ErrorCode::ShuttingDown, "server is shutting down").into_response();
    }
    if let Err(e) = origin::check(&headers, &state.config.allowed_origins) {
        return e.into_response();
    }
    let Some(token) = bearer_token(&headers).map(str::to_owned).or_else(|| subprotocol_token(&headers)) else {
        return ApiError::unauthorized().into_response();
    };
    let auth = match Authenticated::from_token(&state, &token).await {
        Ok(auth) => auth,
        Err(e) => return e.into_response(),
    };
    // Small buffers: most frames are tiny, and per-connection memory is what
    // bounds how many devices one node holds. Large frames still work; the
    // buffers grow for them. The read buffer is allocated up front for every
    // connection: 1 KiB holds several typical frames (a send is ~150 bytes).
    ws.protocols([SUBPROTOCOL])
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WS_FRAME_BYTES * 4)
        .max_message_size(MAX_WS_FRAME_BYTES)
        .max_frame_size(MAX_WS_FRAME_BYTES)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "websocket upgrade failed"))
        .on_upgrade(move |socket| connection::run(state, socket, auth))
}

fn subprotocol_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|p| p.strip_prefix(TOKEN_SUBPROTOCOL_PREFIX))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}
