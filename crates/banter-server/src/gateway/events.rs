//! The fallback transport, for networks whose proxies refuse WebSocket
//! upgrades: the same frames, limits and guarantees as `/api/v1/ws`, over
//! plain HTTP.
//!
//! * `GET /api/v1/events` (token in `Authorization`, Origin checked as for
//!   the WebSocket) opens an **event stream** (`text/event-stream`). Its
//!   first event, `stream`, names the stream; then every server frame is one
//!   `data:` event, `hello` first, in the order a WebSocket would carry them;
//!   the last is a `close` event with the code and reason a close frame
//!   would carry.
//! * `POST /api/v1/events/{stream_id}` (same token, the same device) takes
//!   client frames, one JSON frame per line, and hands them to the
//!   connection in order, as if read from a WebSocket. It answers `204`
//!   once every frame was taken; the answers (acks, errors, pongs) come on
//!   the stream. One POST of a stream is taken at a time, the next waits
//!   its turn: a client keeps one in flight to keep its frames in order.
//!
//! Behind both runs the one connection of `connection.rs`: a registry
//! entry, the byte-bounded outbound queue with its write deadline, the
//! frame rate limits, the idle timeout (a client POSTs `ping`s like it
//! would send them), kicks and the shutdown drain. What differs is in
//! `transport.rs`. The stream's response is sent with `Connection: close`,
//! and once the connection has ended the HTTP connection under it gets
//! [`END_GRACE`] to finish before it is dropped ([`ConnectionAbort`]): a
//! client that stops reading cannot keep it open.

use std::{collections::HashMap, sync::Arc, sync::Mutex, time::Duration};

use axum::{
    body::Body,
    extract::{ws::Utf8Bytes, Path, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};
use banter_protocol::{limits::MAX_WS_FRAME_BYTES, DeviceId, ErrorBody, ErrorCode};
use bytes::Bytes;
use tokio::sync::mpsc;

use super::{
    connection, origin,
    transport::{event_bytes, EventSink, Inbound, Outbound},
};
use crate::{
    auth::{bearer_token, new_token, Authenticated},
    error::ApiError,
    listener::ConnectionAbort,
    state::AppState,
};

/// After the connection behind a stream ended, how long the HTTP connection
/// may take to write the last events out before it is dropped.
pub const END_GRACE: Duration = Duration::from_secs(2);

/// The open event streams of this node, by stream id.
#[derive(Default)]
pub struct EventStreams {
    streams: Mutex<HashMap<String, StreamEntry>>,
}

#[derive(Clone)]
struct StreamEntry {
    device_id: DeviceId,
    /// Into the connection's reader; room for one frame, so a POST waits
    /// while the reader is busy (and the request deadline bounds the wait).
    frames: mpsc::Sender<Utf8Bytes>,
    /// Held by the POST being taken.
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl EventStreams {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, StreamEntry>> {
        self.streams.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many streams are open on this node.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Removes a stream from the table when its connection ends.
struct Registered<'a> {
    streams: &'a EventStreams,
    id: String,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.streams.lock().remove(&self.id);
    }
}

/// `GET /api/v1/events`: opens an event stream.
#[utoipa::path(get, path = "/api/v1/events", tag = "messages", security(("bearer" = [])),
    description = "The fallback transport where WebSocket upgrades are blocked: a `text/event-stream` carrying the server frames (`ServerFrame`), one `data:` event each, after a first `stream` event `{\"stream_id\"}`; it ends with a `close` event `{\"code\", \"reason\"}`. Client frames go to `POST /api/v1/events/{stream_id}`. docs/PROTOCOL.md, \"Fallback transport\".",
    responses((status = 200, description = "the event stream", content_type = "text/event-stream", body = String),
              (status = 401, description = "unauthorized, session_expired", body = ErrorBody),
              (status = 403, description = "origin_not_allowed", body = ErrorBody),
              (status = 503, description = "shutting_down, storage_unavailable", body = ErrorBody)))]
pub async fn open(State(state): State<Arc<AppState>>, abort: Option<Extension<ConnectionAbort>>, headers: HeaderMap) -> Response {
    if state.shutdown.is_cancelled() {
        return ApiError::new(ErrorCode::ShuttingDown, "server is shutting down").into_response();
    }
    let auth = match authenticate(&state, &headers).await {
        Ok(auth) => auth,
        Err(e) => return e.into_response(),
    };
    let id = new_token();
    let (body_tx, body_rx) = mpsc::channel::<Bytes>(1);
    let (frames_tx, frames_rx) = mpsc::channel::<Utf8Bytes>(1);
    let first = event_bytes(Some("stream"), &serde_json::json!({ "stream_id": id }).to_string());
    // The channel is new and holds one chunk: this cannot fail.
    let _ = body_tx.try_send(Bytes::from(first));
    let entry = StreamEntry { device_id: auth.device_id, frames: frames_tx, turn: Arc::default() };
    state.event_streams.lock().insert(id.clone(), entry);
    let abort = abort.map(|Extension(abort)| abort);
    tokio::spawn(async move {
        let registered = Registered { streams: &state.event_streams, id };
        connection::run(state.clone(), Inbound::Posted(frames_rx), Outbound::EventStream(EventSink::new(body_tx)), auth).await;
        drop(registered);
        if let Some(ConnectionAbort(abort)) = abort {
            tokio::time::sleep(END_GRACE).await;
            abort.cancel();
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(body_rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), rx))
    }));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    // No caching, and no proxy may transform (compress, buffer) the stream;
    // nginx reads X-Accel-Buffering.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-transform"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// `POST /api/v1/events/{stream_id}`: client frames for an open stream.
#[utoipa::path(post, path = "/api/v1/events/{stream_id}", tag = "messages", security(("bearer" = [])),
    params(("stream_id" = String, Path, description = "from the stream's first event")),
    request_body(content = String, content_type = "application/x-ndjson", description = "client frames (`ClientFrame`), one JSON object per line, at most 1 MiB in all"),
    description = "Hands client frames to the connection behind an event stream, in order, as a WebSocket would read them; their answers come on the stream. One POST per stream is taken at a time.",
    responses((status = 204, description = "every frame was taken"),
              (status = 400, description = "invalid_request: the body is not UTF-8", body = ErrorBody),
              (status = 401, description = "unauthorized, session_expired", body = ErrorBody),
              (status = 403, description = "origin_not_allowed", body = ErrorBody),
              (status = 404, description = "not_found: no open stream of this device by that id (it closed: open a new one)", body = ErrorBody),
              (status = 413, description = "payload_too_large: the body is over 1 MiB", body = ErrorBody)))]
pub async fn post(State(state): State<Arc<AppState>>, Path(stream_id): Path<String>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let auth = match authenticate(&state, &parts.headers).await {
        Ok(auth) => auth,
        Err(e) => return e.into_response(),
    };
    let entry = state.event_streams.lock().get(&stream_id).filter(|entry| entry.device_id == auth.device_id).cloned();
    let Some(entry) = entry else {
        return stream_gone().into_response();
    };
    // Wait for the turn before reading the body: a POST waiting holds no
    // more than its request head.
    let _turn = entry.turn.lock().await;
    let body = match axum::body::to_bytes(body, MAX_WS_FRAME_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            let message = format!("the frames of one POST are at most {MAX_WS_FRAME_BYTES} bytes");
            return ApiError::new(ErrorCode::PayloadTooLarge, message).into_response();
        }
    };
    let Ok(text) = Utf8Bytes::try_from(body) else {
        return ApiError::invalid_request("the body is not UTF-8 text").into_response();
    };
    for line in text.as_str().split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        if entry.frames.send(Utf8Bytes::from(line.to_owned())).await.is_err() {
            return stream_gone().into_response();
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

fn stream_gone() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no open event stream of this device has that id; open GET /api/v1/events again")
}

/// Origin and token, as the WebSocket handshake checks them. Only the
/// `Authorization` header carries the token here: a `fetch` can set it.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Authenticated, ApiError> {
    origin::check(headers, &state.config.allowed_origins)?;
    let token = bearer_token(headers).ok_or_else(ApiError::unauthorized)?;
    Authenticated::from_token(state, token).await
}
