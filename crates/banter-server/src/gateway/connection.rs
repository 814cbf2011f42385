//! One WebSocket connection, from `hello` to close.
//!
//! A connection is a single task running two halves concurrently:
//!
//! * the **reader** decodes client frames one at a time, enforces the rate
//!   limit and idle timeout, and handles each frame (a `send` waits for the
//!   durable commit before the next frame is read, so one device's messages
//!   are stored in the order it sent them);
//! * the **writer** drains the bounded outbound queue into the socket, and on
//!   a kick (slow consumer, revoked session, idle, shutdown) sends a close
//!   frame with the reason.
//!
//! Whichever half ends first ends the connection; the registry entry is
//! removed on the way out.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use banter_protocol::{
    frames::{close_code, ConnectionLimits},
    limits::{MAX_GROUP_MEMBERS, MAX_MESSAGE_CHARS, MAX_WS_FRAME_BYTES, TYPING_MIN_INTERVAL_MS},
    ClientFrame, ConversationId, ErrorCode, ServerFrame,
};
use futures_util::{SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::mpsc;

use super::decode::{client_msg_id_of, decode};
use crate::{
    auth::Authenticated,
    error::ApiError,
    messaging,
    registry::{CloseReason, ConnectionHandle, ConnectionId, Kick},
    router::encode,
    state::{now_ms, AppState},
};

/// How often a busy connection reports its heartbeat to presence: at most
/// once a second, and well inside the grace period.
fn heartbeat_report_interval(grace: Duration) -> Duration {
    (grace / 4).min(Duration::from_secs(1))
}

/// Runs a connection until it closes.
pub async fn run(state: Arc<AppState>, socket: WebSocket, auth: Authenticated) {
    let (sink, stream) = socket.split();
    let (outbound, outbound_rx) = mpsc::channel::<Utf8Bytes>(state.config.outbound_queue_frames.max(8));
    let kick = Arc::new(Kick::default());
    let id = state.registry.next_connection_id();
    let handle = ConnectionHandle { id, device_id: auth.device_id, outbound: outbound.clone(), kick: kick.clone() };

    let hello = ServerFrame::Hello {
        user: auth.user.clone(),
        device_id: auth.device_id,
        heartbeat_interval_ms: state.config.heartbeat_interval.as_millis() as u64,
        idle_timeout_ms: state.config.idle_timeout.as_millis() as u64,
        presence_grace_ms: state.config.presence_grace.as_millis() as u64,
        limits: ConnectionLimits {
            max_message_chars: MAX_MESSAGE_CHARS,
            max_frame_bytes: MAX_WS_FRAME_BYTES,
            max_group_members: MAX_GROUP_MEMBERS,
            frames_per_second: state.config.frames_per_second,
            burst: state.config.frames_burst,
        },
    };
    // The queue is empty, so this cannot fail for lack of room.
    let _ = outbound.try_send(encode(&hello));
    state.registry.register(auth.user.id, handle);
    state.presence.connected(auth.user.id);
    if state.shutdown.is_cancelled() {
        kick.kick(CloseReason { code: close_code::GOING_AWAY, reason: "server shutting down" });
    }
    if let Err(e) = state.store.touch_device(auth.device_id, now_ms()).await {
        tracing::debug!(error = %e, "could not record device activity");
    }
    tracing::debug!(connection = id, user = auth.user.id, device = auth.device_id, "connected");

    let reader = Reader {
        state: &state,
        auth: &auth,
        connection: id,
        outbound,
        kick: &kick,
        limiter: limiter(&state),
        typing: Mutex::new(TypingThrottle::default()),
    };
    tokio::select! {
        () = reader.run(stream) => {}
        () = write_frames(sink, outbound_rx, &kick) => {}
    }

    state.registry.unregister(auth.user.id, id);
    state.presence.disconnected(auth.user.id);
    tracing::debug!(connection = id, user = auth.user.id, "disconnected");
}

fn limiter(state: &AppState) -> DefaultDirectRateLimiter {
    let per_second = NonZeroU32::new(state.config.frames_per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(state.config.frames_burst).unwrap_or(per_second);
    RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst))
}

/// Drains the outbound queue into the socket until kicked or the socket fails.
///
/// The kick is raced against the socket write too: a consumer that stopped
/// reading blocks the write once its TCP buffers are full, and it is exactly
/// then that it must be dropped.
async fn write_frames(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Utf8Bytes>,
    kick: &Kick,
) {
    loop {
        let frame = tokio::select! {
            biased;
            reason = kick.kicked() => {
                let close = CloseFrame { code: reason.code, reason: Utf8Bytes::from_static(reason.reason) };
                let _ = sink.send(Message::Close(Some(close))).await;
                return;
            }
            frame = queue.recv() => match frame {
                Some(frame) => frame,
                None => return,
            },
        };
        tokio::select! {
            biased;
            // The socket is stuck mid-write, so no close frame can follow:
            // dropping it closes the TCP connection.
            _ = kick.kicked() => return,
            sent = sink.send(Message::Text(frame)) => if sent.is_err() { return },
        }
    }
}

/// The inbound half of a connection.
struct Reader<'a> {
    state: &'a AppState,
    auth: &'a Authenticated,
    connection: ConnectionId,
    /// This connection's own queue; answers (acks, errors) wait for room
    /// rather than kicking, since a client that does not read its answers
    /// simply stops being read.
    outbound: mpsc::Sender<Utf8Bytes>,
    kick: &'a Kick,
    limiter: DefaultDirectRateLimiter,
    typing: Mutex<TypingThrottle>,
}

/// Drops typing frames for a conversation that come faster than
/// [`TYPING_MIN_INTERVAL_MS`]. Bounded: it remembers at most
/// [`TypingThrottle::MAX_CONVERSATIONS`] conversations.
#[derive(Debug, Default)]
struct TypingThrottle {
    last_sent: HashMap<ConversationId, Instant>,
}

impl TypingThrottle {
    const MAX_CONVERSATIONS: usize = 64;

    /// Whether a typing frame for `conversation_id` may go out now.
    fn allow(&mut self, conversation_id: ConversationId) -> bool {
        let now = Instant::now();
        let interval = Duration::from_millis(TYPING_MIN_INTERVAL_MS);
        if let Some(last) = self.last_sent.get(&conversation_id) {
            if now.duration_since(*last) < interval {
                return false;
            }
        }
        if self.last_sent.len() >= Self::MAX_CONVERSATIONS {
            self.last_sent.retain(|_, last| now.duration_since(*last) < interval);
        }
        if self.last_sent.len() >= Self::MAX_CONVERSATIONS {
            return false;
        }
        self.last_sent.insert(conversation_id, now);
        true
    }
}

impl Reader<'_> {
    async fn run(self, mut stream: futures_util::stream::SplitStream<WebSocket>) {
        let idle = self.state.config.idle_timeout;
        let mut strikes = 0u32;
        let mut last_heartbeat = Instant::now();
        let report_every = heartbeat_report_interval(self.state.config.presence_grace);
        loop {
            let next = match tokio::time::timeout(idle, stream.next()).await {
                Ok(next) => next,
                Err(_) => return self.close(close_code::IDLE_TIMEOUT, "idle timeout: no frame received").await,
            };
            // Any frame is a sign of life; presence hears of it now and then.
            if matches!(next, Some(Ok(_))) && last_heartbeat.elapsed() >= report_every {
                last_heartbeat = Instant::now();
                self.state.presence.heartbeat(self.auth.user.id);
            }
            let text = match next {
                None => return,
                Some(Err(e)) => {
                    if is_capacity_error(&e) {
                        return self.close(close_code::MESSAGE_TOO_BIG, "frame exceeds the size limit").await;
                    }
                    tracing::debug!(connection = self.connection, error = %e, "websocket read failed");
                    return;
                }
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Binary(_))) => {
                    self.reply_error(ApiError::new(ErrorCode::BinaryFrame, "binary frames are not supported; send JSON text frames"), None).await;
                    continue;
                }
                Some(Ok(Message::Close(_))) => return,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            };
            let limited = if self.limiter.check().is_err() {
                Some("connection_frames")
            } else if !self.state.account_frame_limits.allow(self.auth.user.id) {
                Some("account_frames")
            } else {
                None
            };
            if let Some(limit) = limited {
                crate::metrics::rate_limited(limit);
                strikes += 1;
                // A client that keeps going after being told to slow down is
                // disconnected rather than answered forever.
                if strikes > self.state.config.frames_burst {
                    return self.close(close_code::RATE_LIMITED, "rate limit exceeded repeatedly").await;
                }
                let error = ApiError::new(ErrorCode::RateLimited, "too many frames; slow down");
                self.reply_error(error, client_msg_id_of(&text)).await;
                continue;
            }
            strikes = 0;
            match decode(&text) {
                Ok(frame) => self.handle(frame).await,
                Err(error) => self.reply_error(error, client_msg_id_of(&text)).await,
            }
        }
    }

    async fn handle(&self, frame: ClientFrame) {
        match frame {
            ClientFrame::Send { client_msg_id, conversation_id, text } => {
                let result = messaging::send_message(
                    self.state,
                    self.auth,
                    Some(self.connection),
                    conversation_id,
                    client_msg_id.clone(),
                    text,
                )
                .await;
                match result {
                    Ok(ack) => {
                        self.reply(&ServerFrame::Ack {
                            client_msg_id,
                            conversation_id: ack.conversation_id,
                            seq: ack.seq,
                            server_ts: ack.server_ts,
                            duplicate: ack.duplicate,
                        })
                        .await
                    }
                    Err(error) => self.reply_error(error, Some(client_msg_id)).await,
                }
            }
            ClientFrame::Sync { cursors, limit } => {
                match messaging::sync_page(self.state, self.auth.user.id, &cursors, limit).await {
                    Ok(page) => self.reply(&ServerFrame::SyncBatch { messages: page.messages, complete: !page.has_more }).await,
                    Err(error) => self.reply_error(error, None).await,
                }
            }
            ClientFrame::Read { conversation_id, seq } => {
                if let Err(error) = messaging::mark_read(self.state, self.auth.user.id, conversation_id, seq).await {
                    self.reply_error(error, None).await;
                }
            }
            ClientFrame::Delivered { conversation_id, seq } => {
                if let Err(error) = messaging::mark_delivered(self.state, self.auth.user.id, conversation_id, seq).await {
                    self.reply_error(error, None).await;
                }
            }
            ClientFrame::Typing { conversation_id } => {
                let allowed = self.typing.lock().map(|mut t| t.allow(conversation_id)).unwrap_or(false);
                if allowed {
                    if let Err(error) = messaging::typing(self.state, self.auth.user.id, conversation_id).await {
                        self.reply_error(error, None).await;
                    }
                }
            }
            ClientFrame::Ping => self.reply(&ServerFrame::Pong).await,
        }
    }

    async fn reply(&self, frame: &ServerFrame) {
        // Fails only when the writer has gone, and then the connection is ending.
        let _ = self.outbound.send(encode(frame)).await;
    }

    async fn reply_error(&self, error: ApiError, client_msg_id: Option<String>) {
        self.reply(&ServerFrame::Error { code: error.code, message: error.message, client_msg_id }).await;
    }

    /// Asks the writer to close with `code`, then waits for it to do so.
    async fn close(&self, code: u16, reason: &'static str) {
        self.kick.kick(CloseReason { code, reason });
        std::future::pending::<()>().await
    }
}

/// Whether a read error is tungstenite's "message/frame too big".
fn is_capacity_error(error: &axum::Error) -> bool {
    let text = error.to_string();
    text.contains("Space limit exceeded") || text.contains("too long") || text.contains("too big")
}
