//! One connection, from `hello` to close: a WebSocket, or the fallback's
//! event stream and POSTs (`transport.rs` has the difference).
//!
//! A connection is a single task running three parts concurrently:
//!
//! * the **reader** decodes client frames one at a time, enforces the rate
//!   limits (`frame_limits.rs`) and idle timeout, and handles each frame; a
//!   `send` is only queued (`sends.rs`), so pings, syncs and the rest are
//!   answered while a send waits on the store;
//! * the **sender** takes the queued sends in order, stores each (waiting
//!   for the durable commit) and answers it before taking the next, so one
//!   device's messages are stored and acknowledged in the order it sent them
//!   (a task of its own, started on the connection's first send);
//! * the **writer** drains the bounded outbound queue into the socket, every
//!   write under `write_timeout`, and on a kick (slow consumer, revoked
//!   session, idle, shutdown) drops what is queued, finishes the frame it
//!   was writing and sends a close frame with the reason, if the socket
//!   takes it within a short deadline (2 s, or `write_timeout` if shorter).
//!
//! A kick overtakes whatever is queued. The one close that must not is 4029:
//! the reader queues it *behind* its answers ([`Reader::close_after_answers`]),
//! so a client sees `rate_limited` for every refused frame before the close.
//!
//! **Shutdown** is a drain, not a kick: the reader stops taking new work —
//! sends read from now on, and those queued but not yet started, are
//! answered `shutting_down` — waits until the send being stored is answered
//! (an ack if it committed), then closes with 1001 behind those answers
//! like 4029 does. The server bounds the whole drain
//! (`shutdown_drain_timeout`) and kicks what is left.
//!
//! Whichever part ends first ends the connection (a kick ends the reader at
//! once; the writer still sends its close frame; a send being stored goes on
//! in a task of its own, see `messaging::send_message`); the registry entry
//! is removed on the way out.

use std::{
    collections::HashMap,
    ops::ControlFlow,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use axum::extract::ws::Message;
use banter_protocol::{
    frames::{close_code, ConnectionLimits},
    limits::{DEFAULT_PAGE_SIZE, MAX_GROUP_MEMBERS, MAX_MESSAGE_CHARS, MAX_PAGE_SIZE, MAX_WS_FRAME_BYTES, TYPING_MIN_INTERVAL_MS},
    ClientFrame, ConversationId, ErrorCode, ServerFrame,
};

use super::{
    decode::{client_msg_id_of, decode},
    frame_limits::{FrameLimits, Verdict},
    read_error::close_for,
    sends::{NotQueued, SendQueue, Work, SEND_DEADLINE},
    transport::{Inbound, Outbound},
};
use crate::{
    auth::Authenticated,
    error::ApiError,
    frame::{encode, EncodedFrame},
    messaging,
    outbound::{OutboundQueue, Pushed},
    registry::{CloseReason, ConnectionHandle, ConnectionId, Kick},
    state::AppState,
};

/// How often a busy connection reports its heartbeat to presence: at most
/// once a second, and well inside the grace period.
fn heartbeat_report_interval(grace: Duration) -> Duration {
    (grace / 4).min(Duration::from_secs(1))
}

/// Runs a connection until it closes.
pub async fn run(state: Arc<AppState>, mut inbound: Inbound, outbound_transport: Outbound, auth: Authenticated) {
    let outbound =
        Arc::new(OutboundQueue::new(state.config.outbound_queue_frames.max(8), state.config.outbound_queue_bytes));
    let kick = Arc::new(Kick::default());
    let id = state.registry.next_connection_id();
    let handle = ConnectionHandle { id, device_id: auth.device_id, outbound: outbound.clone(), kick: kick.clone() };

    // Contacts' presence as it is now, for `hello`. Read before this
    // connection is registered: a change in the few milliseconds between
    // is not sent to it (the contact's next change is).
    let presence = crate::presence::snapshot(&state, auth.user.id).await.unwrap_or_else(|e| {
        tracing::debug!(error = %e, "no presence snapshot for a new connection");
        Vec::new()
    });
    // The queue is empty, so this cannot fail for lack of room. (The frame
    // is not kept: whatever lives across an await below is part of every
    // connection's task for as long as it is open.)
    outbound.try_push(encode(&hello(&state, &auth, presence)));
    state.registry.register(auth.user.id, handle);
    state.presence.connected(auth.user.id);
    if state.shutdown.is_cancelled() {
        kick.kick(CloseReason { code: close_code::GOING_AWAY, reason: "server shutting down" });
    }
    // A revoke between the handshake's token check and `register` above
    // would otherwise leave this socket open (see `sessions`).
    crate::sessions::confirm_connection(&state, auth.user.id, auth.device_id, &kick).await;
    tracing::debug!(connection = id, user = auth.user.id, device = auth.device_id, "connected");

    let final_close = OnceLock::new();
    let replier = Replier { connection: id, outbound: outbound.clone(), kick: kick.clone(), write_timeout: state.config.write_timeout };
    let reader = Reader {
        state: &state,
        auth: &auth,
        connection: id,
        outbound: outbound.clone(),
        kick: &kick,
        final_close: &final_close,
        typing: Mutex::new(TypingThrottle::default()),
        sends: SendQueue::new(),
        replier,
    };
    // Once kicked, the reader stops (no more work for a connection that is
    // going) while the writer gets its close frame out.
    let reading = async {
        tokio::select! {
            () = reader.run(&mut inbound) => {}
            _ = kick.kicked() => std::future::pending().await,
        }
    };
    let write_timeout = state.config.write_timeout;
    let event_stream = matches!(outbound_transport, Outbound::EventStream(_));
    let writing = write_frames(outbound_transport, &outbound, &kick, &final_close, write_timeout);
    tokio::pin!(writing);
    let written_out = tokio::select! {
        () = reading => false,
        () = &mut writing => true,
    };
    // A WebSocket's reader ends a graceful close (4029, the drain) only
    // once the client answered the close frame, so the writer is done. An
    // event stream has no such answer: let the writer get the last answers
    // and the `close` event out, within its own deadlines.
    if event_stream && !written_out && final_close.get().is_some() {
        let _ = tokio::time::timeout(write_timeout + CLOSE_FRAME_TIMEOUT, &mut writing).await;
    }
    outbound.abandon();

    state.registry.unregister(auth.user.id, id);
    state.presence.disconnected(auth.user.id);
    tracing::debug!(connection = id, user = auth.user.id, "disconnected");
}

/// The connection's first frame.
fn hello(state: &AppState, auth: &Authenticated, presence: Vec<banter_protocol::Presence>) -> ServerFrame {
    ServerFrame::Hello {
        user: auth.user.clone(),
        device_id: auth.device_id,
        heartbeat_interval_ms: state.config.heartbeat_interval.as_millis() as u64,
        idle_timeout_ms: state.config.idle_timeout.as_millis() as u64,
        presence_grace_ms: state.config.presence_grace.as_millis() as u64,
        limits: connection_limits(&state.config),
        presence,
        // This connection is registered just after: count it.
        reconnect_spread_ms: reconnect_spread(&state.config, state.registry.connection_count() + 1).as_millis() as u64,
    }
}

/// How long this node's clients should spread their reconnects over if it
/// is lost without warning: its `connections` at the pace of
/// `reconnect_spread_rate`, at most `reconnect_spread_max`.
fn reconnect_spread(config: &crate::config::ServerConfig, connections: usize) -> Duration {
    match config.reconnect_spread_rate {
        0 => Duration::ZERO,
        rate => Duration::from_secs_f64(connections as f64 / f64::from(rate)).min(config.reconnect_spread_max),
    }
}

/// Every limit a client of this server can meet on its connection, for `hello`.
fn connection_limits(config: &crate::config::ServerConfig) -> ConnectionLimits {
    ConnectionLimits {
        max_message_chars: MAX_MESSAGE_CHARS,
        max_frame_bytes: MAX_WS_FRAME_BYTES,
        max_group_members: MAX_GROUP_MEMBERS,
        frames_per_second: config.frames_per_second,
        burst: config.frames_burst,
        account_frames_per_second: config.account_frames_per_second,
        account_burst: config.account_frames_burst,
        close_after_refusals: config.frames_refused_before_close,
        refusal_window_ms: config.frames_refusal_window.as_millis() as u64,
        max_page_size: MAX_PAGE_SIZE,
        default_page_size: DEFAULT_PAGE_SIZE,
        outbound_queue_bytes: Some(config.outbound_queue_bytes as u64),
        write_timeout_ms: Some(config.write_timeout.as_millis() as u64),
    }
}

/// Drains the outbound queue into the socket until kicked or the socket
/// fails.
///
/// The kick is raced against the socket write too: a consumer that stopped
/// reading blocks the write once its TCP buffers are full, and it is exactly
/// then that it must be dropped. Every write and flush has `write_timeout`;
/// a socket that takes no more within it is a slow consumer.
async fn write_frames(
    mut sink: Outbound,
    queue: &OutboundQueue,
    kick: &Kick,
    final_close: &OnceLock<CloseReason>,
    write_timeout: Duration,
) {
    let mut batch = Vec::new();
    // One wait for the kick for the whole connection, not one per batch.
    let kicked = kick.kicked();
    tokio::pin!(kicked);
    let reason = loop {
        let more = tokio::select! {
            biased;
            reason = &mut kicked => break reason,
            () = sink.gone() => return,
            more = queue.take_all(&mut batch) => more,
        };
        if !more {
            // The reader closed the queue behind its last answer
            // (`Reader::close_after_answers`): everything is written, the
            // close frame goes last.
            // The reader then ends the connection, once the client has
            // answered the close or after a deadline.
            if let Some(reason) = final_close.get() {
                let sent = Box::pin(tokio::time::timeout(write_timeout.min(CLOSE_FRAME_TIMEOUT), sink.close(*reason))).await;
                if matches!(sent, Ok(Ok(()))) && matches!(sink, Outbound::WebSocket(_)) {
                    std::future::pending::<()>().await;
                }
            }
            return;
        }
        let bytes = batch.iter().map(|frame| frame.len()).sum();
        tokio::select! {
            biased;
            reason = &mut kicked => break reason,
            written = Box::pin(write_batch(&mut sink, &mut batch, write_timeout)) => match written {
                Ok(()) => queue.written(bytes),
                // The socket took nothing for a whole `write_timeout`: a
                // close frame would not get through either. Dropping the
                // socket closes the TCP connection.
                Err(WriteFailed::TimedOut) => {
                    tracing::info!(timeout = ?write_timeout, "slow consumer disconnected: socket write timed out");
                    metrics::counter!(crate::metrics::SLOW_CONSUMERS).increment(1);
                    kick.kick(CloseReason::SLOW_CONSUMER);
                    queue.abandon();
                    return;
                }
                Err(WriteFailed::Socket) => return,
            },
        }
    };
    // Memory back first: nothing queued will be sent now.
    queue.abandon();
    batch.clear();
    // The close goes out after the rest of the frame that was being written
    // (the socket layer still holds it), so the client sees a whole frame
    // and then the reason, unless its socket takes nothing more in time.
    let deadline = write_timeout.min(CLOSE_FRAME_TIMEOUT);
    if Box::pin(tokio::time::timeout(deadline, sink.close(reason))).await.is_err() {
        tracing::debug!(code = reason.code, "close frame not taken within the write timeout");
    }
}

/// How long a kicked connection's close frame (after the rest of the frame
/// being written) may take to go out, at most: the connection stays open
/// that long, holding only its socket's write buffer.
const CLOSE_FRAME_TIMEOUT: Duration = Duration::from_secs(2);

/// Why [`write_batch`] stopped.
enum WriteFailed {
    /// The socket took nothing more within the write timeout.
    TimedOut,
    /// The socket failed or closed.
    Socket,
}

/// Everything taken goes out, then one flush, each step within `deadline`.
async fn write_batch(sink: &mut Outbound, batch: &mut Vec<EncodedFrame>, deadline: Duration) -> Result<(), WriteFailed> {
    for frame in batch.drain(..) {
        match tokio::time::timeout(deadline, sink.feed(frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(WriteFailed::Socket),
            Err(_) => return Err(WriteFailed::TimedOut),
        }
    }
    match tokio::time::timeout(deadline, sink.flush()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(WriteFailed::Socket),
        Err(_) => Err(WriteFailed::TimedOut),
    }
}

/// The inbound half of a connection.
struct Reader<'a> {
    state: &'a Arc<AppState>,
    auth: &'a Authenticated,
    connection: ConnectionId,
    /// This connection's own queue; answers (acks, errors) wait for room
    /// rather than kicking at once, since a client that does not read its
    /// answers simply stops being read, but only up to `write_timeout`.
    outbound: Arc<OutboundQueue>,
    kick: &'a Kick,
    /// The close the writer sends once the queue is written out and ended.
    final_close: &'a OnceLock<CloseReason>,
    typing: Mutex<TypingThrottle>,
    /// Sends read and not yet answered, for the sender (`sends::answer_sends`).
    sends: SendQueue,
    replier: Replier,
}

/// How a connection's answers are queued, shared by the reader and the
/// sender.
#[derive(Clone)]
pub(super) struct Replier {
    pub(super) connection: ConnectionId,
    pub(super) outbound: Arc<OutboundQueue>,
    pub(super) kick: Arc<Kick>,
    pub(super) write_timeout: Duration,
}

impl Replier {
    /// Queues an answer, waiting up to `write_timeout` for room: a client
    /// that keeps asking and never reads is closed as a slow consumer
    /// rather than have its answers pile up in memory.
    pub(super) async fn reply(&self, frame: &ServerFrame) {
        match self.outbound.push(encode(frame), self.write_timeout).await {
            // Closed: the connection is ending anyway.
            Pushed::Queued | Pushed::Closed => {}
            Pushed::Full => {
                tracing::info!(connection = self.connection, "slow consumer disconnected: answers not read");
                metrics::counter!(crate::metrics::SLOW_CONSUMERS).increment(1);
                self.outbound.abandon();
                self.kick.kick(CloseReason::SLOW_CONSUMER);
            }
        }
    }

    pub(super) async fn reply_error(&self, error: ApiError, client_msg_id: Option<String>) {
        // A wait the error names (a rate limit, a sync turned away) goes
        // to the client as `retry_after_ms`, as `Retry-After` over HTTP.
        let retry_after_ms = error.retry_after.map(|wait| u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1));
        self.reply(&ServerFrame::Error { code: error.code, message: error.message, client_msg_id, retry_after_ms }).await;
    }
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
    /// Everything done for a frame runs boxed (`Box::pin`, [`Reader::take`]):
    /// a future lives inside its caller's, so an inline `handle` would make
    /// every connection's task as large as the largest frame's work (~1 KB)
    /// for as long as it is open, idle or not. A box per frame costs one
    /// allocation, freed when the frame is done.
    async fn run(&self, stream: &mut Inbound) {
        let idle = self.state.config.idle_timeout;
        let mut limits = FrameLimits::new(&self.state.config, &self.state.account_frame_limits, self.auth.user.id);
        let mut last_heartbeat = Instant::now();
        let report_every = heartbeat_report_interval(self.state.config.presence_grace);
        let mut draining = false;
        // Made once, not per frame: each would register anew with the
        // connection's kick and with the timer. The drain is told to this
        // connection's own `Kick` (`ConnectionRegistry::drain_all`), not
        // waited for on the server's one shutdown token, whose wait takes a
        // lock shared by every connection each time it is polled. The idle
        // timer is moved only when it fires early: a frame just notes the
        // time (`last_frame`).
        let shutdown = self.kick.draining();
        tokio::pin!(shutdown);
        let mut last_frame = tokio::time::Instant::now();
        let idle_timer = tokio::time::sleep_until(last_frame + idle);
        tokio::pin!(idle_timer);
        loop {
            // Draining: read on (each send is answered `shutting_down`)
            // until every send is answered, then close behind the answers.
            let next = tokio::select! {
                biased;
                () = &mut shutdown, if !draining => {
                    draining = true;
                    continue;
                }
                () = self.sends.drained(), if draining => {
                    // Frames the device sent before it could know are read
                    // (and answered) too, until it has been quiet briefly.
                    match tokio::time::timeout(DRAIN_QUIET, stream.next()).await {
                        Ok(next) => next,
                        Err(_) => {
                            // Boxed, as the close: inline, its state would sit in
                            // every idle connection's task.
                            return Box::pin(async {
                                self.reply(&reconnect_hint(self.state.config.shutdown_reconnect_spread)).await;
                                self.close_after_answers(stream, close_code::GOING_AWAY, "server shutting down").await
                            })
                            .await;
                        }
                    }
                }
                next = stream.next() => next,
                () = &mut idle_timer => {
                    let deadline = last_frame + idle;
                    if deadline > tokio::time::Instant::now() {
                        idle_timer.as_mut().reset(deadline);
                        continue;
                    }
                    return self.close(close_code::IDLE_TIMEOUT, "idle timeout: no frame received").await;
                }
            };
            last_frame = tokio::time::Instant::now();
            // Any frame is a sign of life; presence hears of it now and then.
            if matches!(next, Some(Ok(_))) && last_heartbeat.elapsed() >= report_every {
                last_heartbeat = Instant::now();
                self.state.presence.heartbeat(self.auth.user.id);
            }
            let message = match next {
                None => return,
                Some(Err(e)) => {
                    tracing::debug!(connection = self.connection, error = %e, "websocket read failed");
                    match close_for(&e) {
                        Some(fail) => return self.close(fail.code, fail.reason).await,
                        None => return,
                    }
                }
                Some(Ok(Message::Close(_))) => return Box::pin(stream.finish_close()).await,
                Some(Ok(message)) => message,
            };
            if Box::pin(self.take(message, &mut limits, stream)).await.is_break() {
                return;
            }
        }
    }

    /// One message read: the rate limits, then the frame. `Break` once the
    /// connection is closing.
    async fn take(&self, message: Message, limits: &mut FrameLimits<'_>, stream: &mut Inbound) -> ControlFlow<()> {
        // Every message counts, WebSocket pings and pongs too: each costs
        // the server a read and, for a ping, an answer.
        if let Verdict::Refuse { retry_after, close } = limits.check().await {
            let client_msg_id = match &message {
                Message::Text(text) => client_msg_id_of(text),
                _ => None,
            };
            let error = ApiError::new(ErrorCode::RateLimited, "too many frames; wait retry_after_ms, then send again");
            let retry_after_ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX).max(1);
            self.answer_in_order(ServerFrame::Error {
                code: error.code,
                message: error.message,
                client_msg_id,
                retry_after_ms: Some(retry_after_ms),
            })
            .await;
            if close {
                tracing::info!(connection = self.connection, user = self.auth.user.id, "closed: frames refused repeatedly");
                self.close_after_answers(stream, close_code::RATE_LIMITED, "rate limit exceeded repeatedly").await;
                return ControlFlow::Break(());
            }
            return ControlFlow::Continue(());
        }
        match message {
            Message::Text(text) => match decode(&text) {
                Ok(frame) => self.handle(frame).await,
                Err(error) => {
                    let client_msg_id = client_msg_id_of(&text);
                    self.answer_in_order(ServerFrame::Error {
                        code: error.code,
                        message: error.message,
                        client_msg_id,
                        retry_after_ms: None,
                    })
                    .await
                }
            },
            Message::Binary(_) => {
                self.reply_error(ApiError::new(ErrorCode::BinaryFrame, "binary frames are not supported; send JSON text frames"), None).await;
            }
            // Answered by the WebSocket layer (pings) or nothing to do.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => {}
        }
        ControlFlow::Continue(())
    }

    async fn handle(&self, frame: ClientFrame) {
        match frame {
            frame @ (ClientFrame::Send { .. } | ClientFrame::Edit { .. } | ClientFrame::Delete { .. }) => {
                let Some((client_msg_id, conversation_id, content)) = frame.into_content() else { return };
                let wait = self.state.config.write_timeout;
                match self.sends.push(client_msg_id.clone(), Work::Store { conversation_id, content }, wait, self.start_sender()).await {
                    Ok(()) => {}
                    Err(NotQueued::Full) => {
                        let error = ApiError::new(
                            ErrorCode::StorageUnavailable,
                            "too many sends on this connection are waiting for storage; nothing was stored, retry later",
                        );
                        self.reply_error(error, Some(client_msg_id)).await;
                    }
                    // The connection is ending.
                    Err(NotQueued::Closed) => {}
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

    /// Answers a frame the reader refused. An answer to a send (it carries
    /// a `client_msg_id`) queues behind the sends before it, so that sends
    /// are answered in order; anything else goes out at once.
    async fn answer_in_order(&self, frame: ServerFrame) {
        let client_msg_id = match &frame {
            ServerFrame::Error { client_msg_id: Some(id), .. } => id.clone(),
            _ => return self.reply(&frame).await,
        };
        let wait = self.state.config.write_timeout;
        match self.sends.push(client_msg_id, Work::Answer(Box::new(frame.clone())), wait, self.start_sender()).await {
            Ok(()) | Err(NotQueued::Closed) => {}
            // No room behind the sends within the wait: out of order beats never.
            Err(NotQueued::Full) => self.reply(&frame).await,
        }
    }

    /// Starts the sender on the connection's first send. A task of its
    /// own: sends already read are stored (in order) even if the device
    /// goes away meanwhile, like the one being stored.
    fn start_sender(&self) -> impl FnOnce(tokio::sync::mpsc::Receiver<super::sends::QueuedSend>) + '_ {
        move |queued| {
            let (state, auth, replier) = (self.state.clone(), self.auth.clone(), self.replier.clone());
            tokio::spawn(super::sends::answer_sends(state, auth, replier, queued));
        }
    }

    async fn reply(&self, frame: &ServerFrame) {
        self.replier.reply(frame).await;
    }

    async fn reply_error(&self, error: ApiError, client_msg_id: Option<String>) {
        self.replier.reply_error(error, client_msg_id).await;
    }

    /// Closes with `code` once every frame queued so far (the answers to
    /// earlier frames) has been written.
    ///
    /// The writer writes what is queued, finds the queue ended and sends the
    /// close; fan-out frames from now on are dropped (the client syncs when
    /// it comes back). Meanwhile the reader goes on reading, and discarding,
    /// until the client answers the close: a socket closed with unread input
    /// is reset (RST), and a reset can destroy the answers and the close
    /// frame still on their way. Bounded (see [`Inbound::finish_close`]), for
    /// a client that reads nothing; returning ends the connection.
    async fn close_after_answers(&self, stream: &mut Inbound, code: u16, reason: &'static str) {
        // The sends already read are answered first (the sender goes on
        // meanwhile); bounded by how long one send may take.
        let _ = tokio::time::timeout(SEND_DEADLINE + self.state.config.write_timeout, self.sends.drained()).await;
        let _ = self.final_close.set(CloseReason { code, reason });
        self.outbound.close();
        stream.finish_close().await;
    }

    /// Asks the writer to close with `code` at once, then waits for it to do so.
    async fn close(&self, code: u16, reason: &'static str) {
        self.kick.kick(CloseReason { code, reason });
        std::future::pending::<()>().await
    }
}

/// The last frame before a shutdown's close: when to reconnect, a random
/// moment within `spread`, so the node's clients do not all come back to
/// the other nodes (and sync) at the same moment. A zero spread says "at
/// once".
fn reconnect_hint(spread: Duration) -> ServerFrame {
    let spread_ms = u64::try_from(spread.as_millis()).unwrap_or(u64::MAX);
    ServerFrame::Error {
        code: ErrorCode::ShuttingDown,
        message: "the server is shutting down: reconnect after retry_after_ms (to another node) and sync".into(),
        client_msg_id: None,
        retry_after_ms: Some(rand::Rng::gen_range(&mut rand::thread_rng(), 0..=spread_ms)),
    }
}

/// While draining for shutdown, once every send read is answered, how long
/// the reader waits for one more frame before it closes: frames already
/// sent when the drain began are answered rather than left unread.
const DRAIN_QUIET: Duration = Duration::from_millis(200);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reconnect_spread_grows_with_the_nodes_connections_up_to_its_maximum() {
        let config = crate::config::ServerConfig { reconnect_spread_rate: 1_000, ..Default::default() };
        assert_eq!(reconnect_spread(&config, 1), Duration::from_millis(1));
        assert_eq!(reconnect_spread(&config, 12_000), Duration::from_secs(12));
        assert_eq!(reconnect_spread(&config, 500_000), config.reconnect_spread_max, "capped");
        let off = crate::config::ServerConfig { reconnect_spread_rate: 0, ..config };
        assert_eq!(reconnect_spread(&off, 500_000), Duration::ZERO);
    }
}
