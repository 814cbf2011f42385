//! The whole-request deadline. hyper bounds the request head
//! (`http_header_timeout`, also the idle keep-alive deadline); this bounds
//! everything after it: the body, however slowly it trickles in, and the
//! handler. Without it a client declaring a 60 kB body and sending a byte a
//! second holds a connection and its buffers for as long as it likes.
//!
//! At the deadline the handler (and the half-read body) is dropped and the
//! client gets `408 request_timeout` with `Connection: close`; hyper then
//! closes the connection, since the rest of the body was never read. A
//! WebSocket upgrade is answered long before the deadline, and the upgraded
//! connection runs on its own task, so it is not cut.

use std::time::Duration;

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
};
use banter_protocol::ErrorCode;

use crate::error::ApiError;

/// Middleware: answers 408 when `next` has not answered within `timeout`.
pub async fn request_deadline(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::info!(%method, path, timeout_ms = timeout.as_millis() as u64, "request deadline passed");
            let message = format!("the request was not complete within {} ms", timeout.as_millis());
            let mut response = ApiError::new(ErrorCode::RequestTimeout, message).into_response();
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}
