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
//! Frames beyond the rate limits are refused, and a client that ignores
//! the refusals is closed with 4029 (`frame_limits.rs`).

mod connection;
mod decode;
pub mod events;
mod frame_limits;
mod origin;
mod read_error;
pub mod sends;
mod transport;

use std::sync::Arc;

use axum::{
    extract::{ws::rejection::WebSocketUpgradeRejection, State, WebSocketUpgrade},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use banter_protocol::{limits::MAX_WS_FRAME_BYTES, ErrorBody, ErrorCode};

use crate::{
    auth::{bearer_token, Authenticated},
    error::ApiError,
    outbound::LARGEST_FRAME_BYTES,
    state::AppState,
};

/// Subprotocol a browser offers along with its token.
pub const SUBPROTOCOL: &str = "banter.v1";
const TOKEN_SUBPROTOCOL_PREFIX: &str = "banter.token.";

/// `GET /api/v1/ws`: checks Origin and token, then upgrades. A request that
/// is not a valid WebSocket upgrade gets `400 invalid_request` with the
/// usual error body (not axum's plain text).
#[utoipa::path(get, path = "/api/v1/ws", tag = "messages", security(("bearer" = [])),
    description = "WebSocket upgrade (RFC 6455). The token goes in `Authorization: Bearer <token>` or, from browsers, as the subprotocol `banter.token.<token>` next to `banter.v1`. Frames: the ClientFrame and ServerFrame schemas; docs/PROTOCOL.md.",
    responses((status = 101, description = "switching protocols: the WebSocket is open; the first frame is `hello`"),
              (status = 400, description = "invalid_request: not a valid WebSocket upgrade request", body = ErrorBody),
              (status = 401, description = "unauthorized, session_expired", body = ErrorBody),
              (status = 403, description = "origin_not_allowed: an Origin header that is not the server's own or allowed", body = ErrorBody),
              (status = 503, description = "shutting_down, storage_unavailable", body = ErrorBody)))]
pub async fn upgrade(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
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
    // The write buffer holds at most the frame being written (the writer
    // feeds the next only once it is out) and the close frame after it, so
    // its ceiling is the largest frame the server sends; this is part of the
    // per-connection memory bound in SECURITY.md.
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return ApiError::invalid_request(rejection.body_text()).into_response(),
    };
    ws.protocols([SUBPROTOCOL])
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_write_buffer_size(LARGEST_FRAME_BYTES + 4096)
        .max_message_size(MAX_WS_FRAME_BYTES)
        .max_frame_size(MAX_WS_FRAME_BYTES)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "websocket upgrade failed"))
        .on_upgrade(move |socket| {
            use futures_util::StreamExt;
            let (sink, stream) = socket.split();
            connection::run(state, transport::Inbound::WebSocket(stream), transport::Outbound::WebSocket(sink), auth)
        })
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
