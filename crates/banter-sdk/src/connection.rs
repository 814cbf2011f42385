//! [`Connection`]: one device's WebSocket at `/api/v1/ws`.
//!
//! The connection is a plain request/response-plus-events pipe with no
//! background task: frames are read only when a method is awaited. Methods
//! that wait for a specific answer ([`Connection::send_message`],
//! [`Connection::sync_all`], [`Connection::ping`]) set aside every other frame
//! they read, and [`Connection::next_frame`] returns those first, in arrival
//! order, so no event is lost or reordered.
//!
//! Nothing pings automatically: an application that may stay idle should call
//! [`Connection::ping`] every [`Hello::heartbeat_interval_ms`].

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use banter_protocol::frames::{ConnectionLimits, SyncCursor};
use banter_protocol::{
    ClientFrame, Content, ConversationId, DeviceId, Message, Seq, ServerFrame, TimestampMs, User,
};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use crate::error::{snippet, SdkError};
use crate::event_stream::{Event, EventStream};
use crate::http::api_url;
use crate::sync::SyncState;

type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Which way a [`Connection`] talks to the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TransportKind {
    /// The WebSocket at `/api/v1/ws`.
    #[default]
    WebSocket,
    /// The fallback for networks that block WebSocket upgrades: an event
    /// stream down, POSTs up (docs/PROTOCOL.md, "Fallback transport").
    EventStream,
}

enum Transport {
    WebSocket(Box<WsStream>),
    EventStream(Box<EventStream>),
}

/// Default bound on the handshake plus the wait for `hello`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on waiting for the answer to a request (ack, sync batch, pong).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The WebSocket URL for a server base URL: `http` → `ws`, `https` → `wss`
/// (`ws`/`wss` are kept), plus `/api/v1/ws` after any path prefix.
pub fn ws_url(base_url: &str) -> Result<Url, SdkError> {
    let mut url = Url::parse(base_url)
        .map_err(|e| SdkError::Config(format!("invalid base URL {base_url:?}: {e}")))?;
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => {
            return Err(SdkError::Config(format!(
                "unsupported URL scheme {other:?} in {base_url:?}"
            )))
        }
    };
    url.set_scheme(scheme).map_err(|()| {
        SdkError::Config(format!("cannot derive a WebSocket URL from {base_url:?}"))
    })?;
    Ok(api_url(&url, &["ws"]))
}

/// How to open a [`Connection`].
#[derive(Clone)]
pub struct ConnectOptions {
    /// Sent as `Authorization: Bearer <token>`; `None` sends no credentials.
    pub token: Option<String>,
    /// Extra handshake headers, e.g. `("Origin", "https://evil.example")`.
    pub headers: Vec<(String, String)>,
    /// Bound on the handshake plus the wait for `hello`.
    pub connect_timeout: Duration,
    /// Bound on waiting for an answer in `send_message`, `sync_all`, `ping`.
    pub request_timeout: Duration,
    /// Local address to bind the TCP socket to before connecting (port
    /// chosen by the OS). `None` lets the OS pick. A load generator spreads
    /// its connections over several source addresses (e.g. `127.0.0.2`,
    /// `127.0.0.3`, … on loopback) because one source address can hold only
    /// as many connections to one server address as there are ephemeral ports.
    pub local_addr: Option<IpAddr>,
    /// Size of the WebSocket read buffer allocated per connection; `None`
    /// keeps tungstenite's default (128 KiB). Clients holding thousands of
    /// mostly idle connections set it small (e.g. 4 KiB); larger frames
    /// still work, the buffer grows for them.
    pub read_buffer_size: Option<usize>,
    /// WebSocket (the default) or the event-stream fallback.
    pub transport: TransportKind,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            token: None,
            headers: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            local_addr: None,
            read_buffer_size: None,
            transport: TransportKind::WebSocket,
        }
    }
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("headers", &self.headers)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("local_addr", &self.local_addr)
            .field("read_buffer_size", &self.read_buffer_size)
            .finish()
    }
}

impl ConnectOptions {
    /// Defaults: no token, no extra headers, 10 s connect and 30 s request timeouts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Authenticates with `token`.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Adds a handshake header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the connect (handshake + `hello`) timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the request timeout.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Binds the TCP socket to `addr` (any port) before connecting.
    pub fn local_addr(mut self, addr: IpAddr) -> Self {
        self.local_addr = Some(addr);
        self
    }

    /// WebSocket (the default) or the event-stream fallback.
    pub fn transport(mut self, transport: TransportKind) -> Self {
        self.transport = transport;
        self
    }

    /// Sets the per-connection WebSocket read buffer size.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = Some(bytes);
        self
    }
}

/// The contents of the server's `hello` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The authenticated user.
    pub user: User,
    /// The device (session) this connection belongs to.
    pub device_id: DeviceId,
    /// Send a frame (e.g. `ping`) at least this often.
    pub heartbeat_interval_ms: u64,
    /// The server closes a connection silent for this long.
    pub idle_timeout_ms: u64,
    /// A user goes offline after this long without a frame from any device.
    pub presence_grace_ms: u64,
    /// Limits that apply to this connection.
    pub limits: ConnectionLimits,
    /// The user's contacts' presence at connect time (up to 200).
    pub presence: Vec<banter_protocol::Presence>,
    /// After losing this connection without a close from the server, wait
    /// a random delay below this before reconnecting (the
    /// [`ReconnectingClient`](crate::ReconnectingClient) does), so that a
    /// lost node's clients do not all come back at once. 0: at once.
    pub reconnect_spread_ms: u64,
}

/// A durable acknowledgement of a sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The id the message was sent with.
    pub client_msg_id: String,
    /// The message's conversation.
    pub conversation_id: ConversationId,
    /// The message's position in its conversation.
    pub seq: Seq,
    /// When the server stored it.
    pub server_ts: TimestampMs,
    /// True when the server had already stored this `client_msg_id` (a retry).
    pub duplicate: bool,
}

impl TryFrom<ServerFrame> for Ack {
    type Error = ServerFrame;

    /// The ack an `ack` frame carries; any other frame is given back.
    fn try_from(frame: ServerFrame) -> Result<Ack, ServerFrame> {
        match frame {
            ServerFrame::Ack {
                client_msg_id,
                conversation_id,
                seq,
                server_ts,
                duplicate,
            } => Ok(Ack {
                client_msg_id,
                conversation_id,
                seq,
                server_ts,
                duplicate,
            }),
            other => Err(other),
        }
    }
}

/// One `sync_batch` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPage {
    /// In `(conversation_id, seq)` order, each conversation contiguous from its cursor + 1.
    pub messages: Vec<Message>,
    /// False when more messages remain: sync again with advanced cursors.
    pub complete: bool,
}

/// What a waiting method does with a frame it read.
enum Pick<T> {
    /// The awaited answer (or error).
    Take(Result<T, SdkError>),
    /// Not the answer: set it aside for `next_frame`.
    Keep(ServerFrame),
}

/// An open WebSocket of one device. See the [module docs](self).
pub struct Connection {
    transport: Transport,
    hello: Hello,
    /// Frames read while waiting for something else, for `next_frame`.
    pub(crate) buffered: VecDeque<ServerFrame>,
    /// Set once the connection ended: the close code and reason.
    closed: Option<(Option<u16>, String)>,
    pub(crate) request_timeout: Duration,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("hello", &self.hello)
            .field("buffered", &self.buffered.len())
            .field("closed", &self.closed)
            .finish()
    }
}

impl Connection {
    /// Opens the WebSocket of the server at `base_url` (an `http(s)` base URL)
    /// with a device token and waits for `hello`.
    pub async fn connect(base_url: &str, token: &str) -> Result<Connection, SdkError> {
        Self::connect_with(base_url, ConnectOptions::new().token(token)).await
    }

    /// Opens the WebSocket with explicit options and waits for `hello`.
    ///
    /// The TCP connection is opened by the SDK (bound to
    /// [`ConnectOptions::local_addr`] if set, with `TCP_NODELAY`, since chat
    /// frames are small and latency-bound). A handshake the server refuses
    /// (bad token, disallowed Origin) fails with [`SdkError::Api`] carrying
    /// the HTTP status and error code.
    pub async fn connect_with(
        base_url: &str,
        options: ConnectOptions,
    ) -> Result<Connection, SdkError> {
        let deadline = Instant::now() + options.connect_timeout;
        if options.transport == TransportKind::EventStream {
            let open = EventStream::open(
                base_url,
                options.token.as_deref(),
                &options.headers,
                options.request_timeout,
                options.local_addr,
            );
            let stream = match tokio::time::timeout_at(deadline, open).await {
                Err(_) => return Err(SdkError::Timeout),
                Ok(stream) => stream?,
            };
            let conn = Self::new(Transport::EventStream(Box::new(stream)), options.request_timeout);
            return conn.await_hello(deadline).await;
        }
        let request = handshake_request(base_url, &options)?;
        let stream =
            match tokio::time::timeout_at(deadline, open_tcp(&request, options.local_addr)).await {
                Err(_) => return Err(SdkError::Timeout),
                Ok(stream) => stream?,
            };
        Self::handshake(request, stream, options, deadline).await
    }

    /// Opens the WebSocket over a TCP connection the caller already made
    /// (e.g. from a socket with special options) and waits for `hello`.
    /// `base_url` still gives the scheme (TLS for `https`), host and path of
    /// the handshake. [`ConnectOptions::local_addr`] is ignored.
    pub async fn connect_over(
        stream: TcpStream,
        base_url: &str,
        options: ConnectOptions,
    ) -> Result<Connection, SdkError> {
        let request = handshake_request(base_url, &options)?;
        let deadline = Instant::now() + options.connect_timeout;
        Self::handshake(request, stream, options, deadline).await
    }

    /// The WebSocket handshake over `stream`, then the wait for `hello`.
    async fn handshake(
        request: Request,
        stream: TcpStream,
        options: ConnectOptions,
        deadline: Instant,
    ) -> Result<Connection, SdkError> {
        let config = options.read_buffer_size.map(|bytes| {
            let mut config = WebSocketConfig::default();
            config.read_buffer_size = bytes;
            config
        });
        let (ws, _response) = match tokio::time::timeout_at(
            deadline,
            tokio_tungstenite::client_async_tls_with_config(request, stream, config, None),
        )
        .await
        {
            Err(_) => return Err(SdkError::Timeout),
            Ok(Err(tungstenite::Error::Http(resp))) => {
                let body = resp.body().as_deref().unwrap_or_default();
                return Err(SdkError::from_response(resp.status().as_u16(), body));
            }
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(pair)) => pair,
        };

        let conn = Self::new(Transport::WebSocket(Box::new(ws)), options.request_timeout);
        conn.await_hello(deadline).await
    }

    fn new(transport: Transport, request_timeout: Duration) -> Connection {
        Connection {
            transport,
            hello: Hello {
                user: User {
                    id: 0,
                    username: String::new(),
                    display_name: String::new(),
                    deleted: false,
                },
                device_id: 0,
                heartbeat_interval_ms: 0,
                idle_timeout_ms: 0,
                presence_grace_ms: 0,
                limits: ConnectionLimits::default(),
                presence: Vec::new(),
                reconnect_spread_ms: 0,
            },
            buffered: VecDeque::new(),
            closed: None,
            request_timeout,
        }
    }

    /// Waits for `hello`, the first frame.
    async fn await_hello(mut self, deadline: Instant) -> Result<Connection, SdkError> {
        let first = match tokio::time::timeout_at(deadline, self.read_frame()).await {
            Err(_) => return Err(SdkError::Timeout),
            Ok(frame) => frame?,
        };
        match first {
            ServerFrame::Hello {
                user,
                device_id,
                heartbeat_interval_ms,
                idle_timeout_ms,
                presence_grace_ms,
                limits,
                presence,
                reconnect_spread_ms,
            } => {
                self.hello = Hello {
                    user,
                    device_id,
                    heartbeat_interval_ms,
                    idle_timeout_ms,
                    presence_grace_ms,
                    limits,
                    presence,
                    reconnect_spread_ms,
                };
                Ok(self)
            }
            ServerFrame::Error { code, message, .. } => Err(SdkError::from_frame(code, message)),
            other => Err(SdkError::Protocol(format!(
                "expected hello as the first frame, got {other:?}"
            ))),
        }
    }

    /// The server's `hello`: user, device, heartbeat interval and limits.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// The transport this connection runs over.
    pub fn transport(&self) -> TransportKind {
        match self.transport {
            Transport::WebSocket(_) => TransportKind::WebSocket,
            Transport::EventStream(_) => TransportKind::EventStream,
        }
    }

    /// Changes the bound on waiting for answers (default 30 s).
    pub fn set_request_timeout(&mut self, timeout: Duration) {
        self.request_timeout = timeout;
    }

    /// The close code and reason, once the connection has ended.
    pub fn close_info(&self) -> Option<(Option<u16>, &str)> {
        self.closed
            .as_ref()
            .map(|(code, reason)| (*code, reason.as_str()))
    }

    // ----- sending -----

    /// Sends one frame without waiting for any answer.
    pub async fn send_frame(&mut self, frame: ClientFrame) -> Result<(), SdkError> {
        let text = serde_json::to_string(&frame)
            .map_err(|e| SdkError::Protocol(format!("cannot encode frame: {e}")))?;
        self.send_ws(WsMessage::text(text)).await
    }

    /// Sends an arbitrary text frame, valid JSON or not (for tests).
    pub async fn send_raw_text(&mut self, text: String) -> Result<(), SdkError> {
        self.send_ws(WsMessage::text(text)).await
    }

    /// Sends a binary frame, which the protocol does not allow (for tests).
    pub async fn send_raw_binary(&mut self, data: Vec<u8>) -> Result<(), SdkError> {
        self.send_ws(WsMessage::binary(data)).await
    }

    /// Sends a message with a fresh random `client_msg_id` and waits for its
    /// durable `ack`. A refusal (`error` frame for this id) is
    /// [`SdkError::Api`].
    ///
    /// If this fails with a timeout or a closed connection the message may or
    /// may not be stored: retry with [`Connection::send_message_with_id`] and
    /// the same id (from [`new_client_msg_id`]) on a new connection, which
    /// never stores it twice.
    pub async fn send_message(
        &mut self,
        conversation_id: ConversationId,
        text: impl Into<String>,
    ) -> Result<Ack, SdkError> {
        let id = new_client_msg_id();
        self.send_message_with_id(conversation_id, &id, text).await
    }

    /// Sends a message with the given `client_msg_id` and waits for the `ack`
    /// or `error` carrying that id. Other frames read meanwhile are kept for
    /// [`Connection::next_frame`]. The text is not validated locally.
    pub async fn send_message_with_id(
        &mut self,
        conversation_id: ConversationId,
        client_msg_id: &str,
        text: impl Into<String>,
    ) -> Result<Ack, SdkError> {
        self.send_content_with_id(conversation_id, client_msg_id, Content::text(text)).await
    }

    /// Sends a reply to (quote of) the message `seq` of the same
    /// conversation, with a fresh `client_msg_id`, and waits for its ack.
    /// Refused with `invalid_reply` unless `seq` is an earlier message.
    pub async fn reply_to_message(
        &mut self,
        conversation_id: ConversationId,
        seq: Seq,
        text: impl Into<String>,
    ) -> Result<Ack, SdkError> {
        let content = Content::Text { text: text.into(), reply_to: Some(seq) };
        self.send_content_with_id(conversation_id, &new_client_msg_id(), content).await
    }

    /// Edits the user's message `seq` for everyone and waits for the ack of
    /// the `edit` entry (its own seq). Refusals: `message_not_found`,
    /// `not_your_message`, `message_deleted`, `edit_window_closed`,
    /// `too_many_edits`.
    pub async fn edit_message(
        &mut self,
        conversation_id: ConversationId,
        seq: Seq,
        text: impl Into<String>,
    ) -> Result<Ack, SdkError> {
        let content = Content::Edit { target: seq, text: text.into() };
        self.send_content_with_id(conversation_id, &new_client_msg_id(), content).await
    }

    /// Deletes the user's message `seq` for everyone and waits for the ack
    /// of the `delete` entry. Refused as [`edit_message`](Self::edit_message) is.
    pub async fn delete_message(&mut self, conversation_id: ConversationId, seq: Seq) -> Result<Ack, SdkError> {
        self.send_content_with_id(conversation_id, &new_client_msg_id(), Content::Delete { target: seq }).await
    }

    /// Sends a `send`, `edit` or `delete` with the given `client_msg_id`
    /// and waits for the `ack` or `error` carrying that id (retries reuse
    /// the id, as for [`send_message_with_id`](Self::send_message_with_id)).
    pub async fn send_content_with_id(
        &mut self,
        conversation_id: ConversationId,
        client_msg_id: &str,
        content: Content,
    ) -> Result<Ack, SdkError> {
        let frame = ClientFrame::from_content(client_msg_id.to_owned(), conversation_id, content);
        self.send_frame(frame).await?;
        self.wait_for(|frame| match frame {
            ServerFrame::Ack {
                client_msg_id: ref id,
                ..
            } if id == client_msg_id => match Ack::try_from(frame) {
                Ok(ack) => Pick::Take(Ok(ack)),
                Err(frame) => Pick::Keep(frame),
            },
            ServerFrame::Error {
                code,
                message,
                client_msg_id: Some(id),
                ..
            } if id == client_msg_id => Pick::Take(Err(SdkError::from_frame(code, message))),
            other => Pick::Keep(other),
        })
        .await
    }

    /// Sends a `read` frame (moves this user's read marker; no answer is awaited).
    pub async fn send_read(
        &mut self,
        conversation_id: ConversationId,
        seq: Seq,
    ) -> Result<(), SdkError> {
        self.send_frame(ClientFrame::Read {
            conversation_id,
            seq,
        })
        .await
    }

    /// Sends a `delivered` frame: this device has every message of the
    /// conversation up to `seq` (no answer is awaited).
    pub async fn send_delivered(
        &mut self,
        conversation_id: ConversationId,
        seq: Seq,
    ) -> Result<(), SdkError> {
        self.send_frame(ClientFrame::Delivered {
            conversation_id,
            seq,
        })
        .await
    }

    /// Sends a `typing` frame for a conversation (no answer is awaited;
    /// the server drops it if sent more often than every 2 s).
    pub async fn send_typing(&mut self, conversation_id: ConversationId) -> Result<(), SdkError> {
        self.send_frame(ClientFrame::Typing { conversation_id })
            .await
    }

    /// Sends `ping` and waits for `pong`; returns the round-trip time.
    pub async fn ping(&mut self) -> Result<Duration, SdkError> {
        let start = Instant::now();
        self.send_frame(ClientFrame::Ping).await?;
        self.wait_for(|frame| match frame {
            ServerFrame::Pong => Pick::Take(Ok(())),
            other => Pick::Keep(other),
        })
        .await?;
        Ok(start.elapsed())
    }

    // ----- sync -----

    /// One `sync` round trip: the next batch after `cursors` (`limit` defaults
    /// to 50 on the server, at most 200). An `error` frame without a
    /// `client_msg_id` read while waiting is taken as the answer.
    pub async fn sync_once(
        &mut self,
        cursors: &[SyncCursor],
        limit: Option<u32>,
    ) -> Result<SyncPage, SdkError> {
        self.send_frame(ClientFrame::Sync {
            cursors: cursors.to_vec(),
            limit,
        })
        .await?;
        self.wait_for(|frame| match frame {
            ServerFrame::SyncBatch { messages, complete } => {
                Pick::Take(Ok(SyncPage { messages, complete }))
            }
            ServerFrame::Error {
                code,
                message,
                client_msg_id: None,
                ..
            } => Pick::Take(Err(SdkError::from_frame(code, message))),
            other => Pick::Keep(other),
        })
        .await
    }

    /// Catches up: syncs repeatedly from `cursors`, advancing them past each
    /// batch (conversations not listed start at 0), until the server says
    /// `complete`. Returns every message of every batch, in order.
    ///
    /// Live `message` frames that arrive meanwhile are kept for
    /// [`Connection::next_frame`]; they may repeat synced messages, so pass
    /// everything through a [`SyncState`] (or use [`Connection::catch_up`]).
    pub async fn sync_all(&mut self, cursors: &[SyncCursor]) -> Result<Vec<Message>, SdkError> {
        let mut positions: BTreeMap<ConversationId, Seq> = BTreeMap::new();
        for c in cursors {
            let p = positions.entry(c.conversation_id).or_insert(c.seq);
            *p = (*p).max(c.seq);
        }
        let mut all = Vec::new();
        loop {
            let cursors: Vec<SyncCursor> = positions
                .iter()
                .map(|(&conversation_id, &seq)| SyncCursor {
                    conversation_id,
                    seq,
                })
                .collect();
            let page = self.sync_once(&cursors, None).await?;
            let mut progressed = false;
            for m in &page.messages {
                let p = positions.entry(m.conversation_id).or_insert(0);
                if m.seq > *p {
                    *p = m.seq;
                    progressed = true;
                }
            }
            all.extend(page.messages);
            if page.complete {
                return Ok(all);
            }
            if !progressed {
                return Err(SdkError::Protocol(
                    "sync batch is incomplete but advances no cursor".into(),
                ));
            }
        }
    }

    /// Catches up a [`SyncState`]: [`Connection::sync_all`] from its cursors,
    /// returning only the messages that are new to it.
    pub async fn catch_up(&mut self, state: &mut SyncState) -> Result<Vec<Message>, SdkError> {
        let messages = self.sync_all(&state.cursors()).await?;
        Ok(messages
            .into_iter()
            .filter(|m| state.accept(m).is_new())
            .collect())
    }

    // ----- receiving -----

    /// The next server frame: first any set aside by the waiting methods, then
    /// from the socket. Waits indefinitely. When the server closes the
    /// connection this returns [`SdkError::Closed`] with its close code, and
    /// keeps returning it.
    pub async fn next_frame(&mut self) -> Result<ServerFrame, SdkError> {
        if let Some(frame) = self.buffered.pop_front() {
            return Ok(frame);
        }
        self.read_frame().await
    }

    /// [`Connection::next_frame`], failing with [`SdkError::Timeout`] after
    /// `timeout`. Nothing is lost on timeout.
    pub async fn next_frame_timeout(&mut self, timeout: Duration) -> Result<ServerFrame, SdkError> {
        match tokio::time::timeout(timeout, self.next_frame()).await {
            Ok(result) => result,
            Err(_) => Err(SdkError::Timeout),
        }
    }

    /// Frames already read but not yet returned by `next_frame`.
    pub fn buffered_frames(&self) -> usize {
        self.buffered.len()
    }

    /// Closes the connection normally (close code 1000) and waits briefly for
    /// the server's close reply.
    pub async fn close(mut self) -> Result<(), SdkError> {
        if self.closed.is_some() {
            return Ok(());
        }
        // An event stream ends when its response is dropped.
        let Transport::WebSocket(ws) = &mut self.transport else {
            return Ok(());
        };
        match (**ws).close(None).await {
            Ok(()) => {}
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(())
            }
            Err(e) => return Err(e.into()),
        }
        // Drain until the server's close frame or the end of the stream.
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
        Ok(())
    }

    // ----- plumbing -----

    async fn send_ws(&mut self, message: WsMessage) -> Result<(), SdkError> {
        if let Some((code, reason)) = &self.closed {
            return Err(SdkError::Closed {
                code: *code,
                reason: reason.clone(),
            });
        }
        let ws = match &mut self.transport {
            Transport::WebSocket(ws) => ws,
            Transport::EventStream(stream) => {
                let WsMessage::Text(text) = message else {
                    return Err(SdkError::Config("the event-stream transport carries text frames only".into()));
                };
                return stream.post(&[text.as_str().to_owned()]).await.map_err(|e| match e {
                    // The stream is gone: the close (and its code) may still be
                    // waiting to be read on it.
                    SdkError::Api { status: 404, .. } => SdkError::Closed {
                        code: None,
                        reason: "the event stream is closed".into(),
                    },
                    e => e,
                });
            }
        };
        // A failed write does not mark the connection closed: the server's
        // close frame (with its code) may still be waiting to be read.
        ws.send(message).await.map_err(|e| match e {
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                SdkError::Closed {
                    code: None,
                    reason: "connection already closed".into(),
                }
            }
            tungstenite::Error::Io(io) if is_disconnect(&io) => SdkError::Closed {
                code: None,
                reason: format!("write failed: {io}"),
            },
            e => e.into(),
        })
    }

    /// Reads frames until `pick` takes one, within the request timeout; the
    /// others are set aside for `next_frame`.
    async fn wait_for<T>(
        &mut self,
        mut pick: impl FnMut(ServerFrame) -> Pick<T>,
    ) -> Result<T, SdkError> {
        let deadline = Instant::now() + self.request_timeout;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.read_frame()).await {
                Err(_) => return Err(SdkError::Timeout),
                Ok(frame) => frame?,
            };
            match pick(frame) {
                Pick::Take(result) => return result,
                Pick::Keep(frame) => self.buffered.push_back(frame),
            }
        }
    }

    /// Reads the next frame from the socket (ignoring the buffer). Cancel-safe.
    pub(crate) async fn read_frame(&mut self) -> Result<ServerFrame, SdkError> {
        loop {
            if let Some((code, reason)) = &self.closed {
                return Err(SdkError::Closed {
                    code: *code,
                    reason: reason.clone(),
                });
            }
            let ws = match &mut self.transport {
                Transport::WebSocket(ws) => ws,
                Transport::EventStream(stream) => match stream.next_event().await {
                    Ok(Event::Frame(text)) => {
                        return banter_protocol::decode_server_frame(&text).map_err(|e| {
                            SdkError::Protocol(format!(
                                "invalid server frame ({e}): {}",
                                snippet(text.as_bytes())
                            ))
                        })
                    }
                    Ok(Event::Close { code, reason }) => {
                        self.mark_closed(Some(code), reason);
                        continue;
                    }
                    Ok(Event::End) => {
                        self.mark_closed(None, "event stream ended without a close event".into());
                        continue;
                    }
                    Err(SdkError::Http(e)) => {
                        self.mark_closed(None, format!("event stream lost: {e}"));
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            match ws.next().await {
                None => self.mark_closed(None, "connection ended without a close frame".into()),
                Some(Ok(WsMessage::Text(text))) => {
                    return banter_protocol::decode_server_frame(text.as_str()).map_err(|e| {
                        SdkError::Protocol(format!(
                            "invalid server frame ({e}): {}",
                            snippet(text.as_bytes())
                        ))
                    });
                }
                Some(Ok(WsMessage::Binary(data))) => {
                    return Err(SdkError::Protocol(format!(
                        "server sent a binary frame of {} bytes",
                        data.len()
                    )));
                }
                Some(Ok(WsMessage::Close(frame))) => {
                    let (code, reason) = match frame {
                        Some(f) => (Some(u16::from(f.code)), f.reason.as_str().to_owned()),
                        None => (None, String::new()),
                    };
                    tracing::debug!(?code, %reason, "server closed the WebSocket");
                    // Let tungstenite send its queued close reply.
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.flush()).await;
                    self.mark_closed(code, reason);
                }
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => {}
                Some(Err(e)) => match e {
                    tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                        self.mark_closed(None, "connection closed".into())
                    }
                    tungstenite::Error::Protocol(
                        tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                    ) => self.mark_closed(None, "connection reset without a close frame".into()),
                    tungstenite::Error::Io(io) if is_disconnect(&io) => {
                        self.mark_closed(None, format!("connection lost: {io}"))
                    }
                    e => return Err(e.into()),
                },
            }
        }
    }

    /// Records the end of the connection (the first reason wins); the read
    /// loop then reports it.
    fn mark_closed(&mut self, code: Option<u16>, reason: String) {
        if self.closed.is_none() {
            self.closed = Some((code, reason));
        }
    }
}

/// The handshake request for `base_url` with the token and extra headers.
fn handshake_request(base_url: &str, options: &ConnectOptions) -> Result<Request, SdkError> {
    let url = ws_url(base_url)?;
    let mut request = url.as_str().into_client_request()?;
    let headers = request.headers_mut();
    if let Some(token) = &options.token {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| SdkError::Config("the token is not a valid header value".into()))?;
        headers.insert(AUTHORIZATION, value);
    }
    for (name, value) in &options.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| SdkError::Config(format!("invalid header name {name:?}")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| SdkError::Config(format!("invalid value for header {name}")))?;
        headers.insert(name, value);
    }
    Ok(request)
}

/// Connects to the request's host and port (trying each resolved address),
/// from `local_addr` if given, with `TCP_NODELAY`.
async fn open_tcp(request: &Request, local_addr: Option<IpAddr>) -> Result<TcpStream, SdkError> {
    let uri = request.uri();
    let host = uri
        .host()
        .ok_or_else(|| SdkError::Config(format!("no host in {uri}")))?;
    // `[::1]` in a URI is `::1` to the resolver.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("wss") => 443,
        _ => 80,
    });
    let mut last_error = None;
    for addr in tokio::net::lookup_host((host, port))
        .await
        .map_err(io_error)?
    {
        let attempt = async {
            let socket = if addr.is_ipv4() {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }?;
            if let Some(ip) = local_addr {
                socket.bind(SocketAddr::new(ip, 0))?;
            }
            let stream = socket.connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok::<_, std::io::Error>(stream)
        };
        match attempt.await {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.map_or_else(
        || SdkError::Config(format!("{host} resolved to no address")),
        io_error,
    ))
}

fn io_error(e: std::io::Error) -> SdkError {
    SdkError::WebSocket(Box::new(tungstenite::Error::Io(e)))
}

fn is_disconnect(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | NotConnected
    )
}

/// A fresh random `client_msg_id`: 32 lowercase hex digits (128 bits).
pub fn new_client_msg_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_url_follows_the_http_scheme() {
        assert_eq!(
            ws_url("http://127.0.0.1:8080").unwrap().as_str(),
            "ws://127.0.0.1:8080/api/v1/ws"
        );
        assert_eq!(
            ws_url("https://chat.example.com").unwrap().as_str(),
            "wss://chat.example.com/api/v1/ws"
        );
        assert_eq!(
            ws_url("ws://localhost:9/").unwrap().as_str(),
            "ws://localhost:9/api/v1/ws"
        );
        assert_eq!(
            ws_url("wss://localhost:9").unwrap().as_str(),
            "wss://localhost:9/api/v1/ws"
        );
    }

    #[test]
    fn ws_url_keeps_a_path_prefix_and_drops_query() {
        assert_eq!(
            ws_url("https://example.com/chat").unwrap().as_str(),
            "wss://example.com/chat/api/v1/ws"
        );
        assert_eq!(
            ws_url("http://example.com/chat/?a=b#c").unwrap().as_str(),
            "ws://example.com/chat/api/v1/ws"
        );
    }

    #[test]
    fn ws_url_refuses_other_schemes() {
        assert!(matches!(
            ws_url("ftp://example.com"),
            Err(SdkError::Config(_))
        ));
        assert!(matches!(
            ws_url("example.com:8080"),
            Err(SdkError::Config(_))
        ));
        assert!(matches!(ws_url(""), Err(SdkError::Config(_))));
    }

    #[test]
    fn client_msg_ids_are_valid_and_distinct() {
        let a = new_client_msg_id();
        let b = new_client_msg_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(banter_protocol::limits::validate_client_msg_id(&a).is_ok());
    }
}
