//! [`ReconnectingClient`]: a device that stays connected, for applications
//! that want messages in and out and nothing to do with sockets.
//!
//! A [`Connection`](crate::Connection) is one WebSocket: when it ends, the
//! application must reconnect, catch up and resend what was not
//! acknowledged. This client does all of that in one background task that
//! owns the connection:
//!
//! - **Reconnects** with exponential backoff and jitter (250 ms doubling to
//!   10 s by default) after a lost connection or a failed attempt, and
//!   declares a connection dead when the server has been silent for one and
//!   a half heartbeat intervals despite its pings. A server shutting down
//!   says when to come back (`error` `shutting_down` with
//!   `retry_after_ms`, spread over its clients): that wait replaces the
//!   backoff's once (at most 60 s). A connection cut without a close from
//!   the server (the node was killed or cut off, and all its clients with
//!   it) is first retried after a random delay below the `hello`'s
//!   `reconnect_spread_ms` (at most 60 s), if that is longer than the
//!   backoff's, so that they do not all come back and sync at once.
//! - **Outbox**: [`ReconnectingClient::send`] gives each message a
//!   `client_msg_id` and keeps it until its `ack` (or a refusal for good).
//!   After every reconnect the whole outbox is sent again *with the same
//!   ids* through [`Connection::send_all`](crate::Connection::send_all)
//!   (paced by the server's limits), so a message whose ack was lost is
//!   answered `duplicate: true` and never stored twice. A live send refused
//!   with `rate_limited` is sent again after the `retry_after_ms` it carries.
//! - **Catch-up by cursor**: a [`SyncState`] (given at start) is caught up
//!   after every connect, when a live message reveals a hole, and when the
//!   server sends `resync`; every message reaches the application once, in
//!   seq order per conversation.
//!
//! The application reads [`Event`]s with [`ReconnectingClient::next_event`],
//! which is cancel-safe (use it in `tokio::select!` beside user input).
//! Events are queued in a bounded channel: an application that stops
//! reading holds the task back, the server eventually drops the slow
//! connection, and the next connect catches up, so memory stays bounded.

mod backoff;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use banter_protocol::{ClientFrame, ConversationId, Message, Seq, ServerFrame};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::connection::{Ack, Hello, TransportKind};
use crate::error::SdkError;
use crate::outbox::OutgoingMessage;
use crate::session::Session;
use crate::sync::SyncState;

/// How a [`ReconnectingClient`] behaves.
#[derive(Debug, Clone)]
pub struct ReconnectOptions {
    /// First delay before reconnecting (before jitter of ±50 %).
    pub backoff_min: Duration,
    /// Longest delay between attempts.
    pub backoff_max: Duration,
    /// Most messages waiting for their ack; [`ReconnectingClient::send`]
    /// refuses more with [`SdkError::OutboxFull`]. A message is at most
    /// 100,000 characters (400 KB of UTF-8), so the outbox holds at most
    /// `outbox_limit` × 400 KB (the default: 1,000 messages).
    pub outbox_limit: usize,
    /// Where a conversation this device joins while connected starts.
    pub joined_conversations: JoinedConversations,
    /// On the fallback transport (a WebSocket could not be opened, see
    /// [`TransportKind::EventStream`]), how often a WebSocket is tried
    /// again; the client moves to it as soon as one opens.
    pub websocket_probe_interval: Duration,
}

impl Default for ReconnectOptions {
    fn default() -> Self {
        ReconnectOptions {
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
            outbox_limit: 1000,
            joined_conversations: JoinedConversations::FromStart,
            websocket_probe_interval: Duration::from_secs(300),
        }
    }
}

/// Which messages of a conversation joined while connected reach the
/// application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinedConversations {
    /// All of them, from seq 1: the history is caught up like any gap.
    FromStart,
    /// Only those sent after joining: on `conversation_updated` (`joined`)
    /// the client reads the conversation's newest seq over HTTP and starts
    /// its cursor there, before it reads the next frame (a terminal client
    /// does not print a group's old history; it is there for `history`).
    FromNewest,
}

/// What happened, in the order it happened.
#[derive(Debug)]
pub enum Event {
    /// Connected (again) and caught up. `missed` holds the messages that
    /// arrived while away, new to the [`SyncState`], in seq order per
    /// conversation. The outbox is flushed right after this event. It
    /// also comes, without a `Disconnected` before it, when the client
    /// moves from the fallback transport back to a WebSocket.
    Connected {
        /// The server's `hello` on this connection.
        hello: Box<Hello>,
        /// Messages caught up by cursor.
        missed: Vec<Message>,
    },
    /// The connection ended; the client reconnects after a backoff.
    /// Reported once per lost connection, not for every failed attempt.
    Disconnected {
        /// Why: see [`SdkError::close_code`] for the server's close code.
        error: SdkError,
    },
    /// A message received live, new to the [`SyncState`].
    Message(Message),
    /// Messages caught up while connected: a live message revealed a hole,
    /// or the server sent `resync`.
    CaughtUp(Vec<Message>),
    /// A message of the outbox is stored (possibly by an earlier attempt:
    /// then `ack.duplicate` is true). Reported once per message.
    Sent {
        /// The message as given to [`ReconnectingClient::send`].
        message: OutgoingMessage,
        /// The server's durable acknowledgement.
        ack: Ack,
    },
    /// The server refused a message of the outbox for good (e.g.
    /// `message_too_long`, `not_a_member`); it is not retried.
    NotSent {
        /// The message as given to [`ReconnectingClient::send`].
        message: OutgoingMessage,
        /// The refusal, with the server's [`SdkError::code`].
        error: SdkError,
    },
    /// Any other frame: presence, receipts, typing, conversation changes,
    /// `resync`, errors that answer no message of the outbox.
    Frame(ServerFrame),
    /// The server no longer accepts this device's token (logged out,
    /// revoked, expired). The client has stopped; the outbox is dropped.
    SessionEnded {
        /// The handshake's refusal (status 401).
        error: SdkError,
    },
}

/// What the application asks of the task.
#[derive(Debug)]
enum Command {
    Send(OutgoingMessage),
    Frame(ClientFrame),
    Close,
}

/// State the application reads without asking the task.
#[derive(Debug, Default)]
struct Shared {
    connected: AtomicBool,
    /// The connection is on the event-stream fallback.
    on_fallback: AtomicBool,
    /// Messages in the outbox (reserved by `send`, released by the task).
    pending: AtomicUsize,
}

/// Events queued for the application at most.
const EVENT_QUEUE: usize = 1024;
/// Frames without delivery guarantee (`read`, `typing`, …) waiting for the
/// task at most; beyond them [`ReconnectingClient::send_frame`] drops the
/// frame. The command queue holds these, every message the outbox limit
/// allows, and a close.
const FRAME_BACKLOG: usize = 64;
/// How long [`ReconnectingClient::close`] waits for a clean close.
const CLOSE_WAIT: Duration = Duration::from_secs(6);

/// A device that stays connected. See the [module docs](self).
#[derive(Debug)]
pub struct ReconnectingClient {
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<Event>,
    shared: Arc<Shared>,
    outbox_limit: usize,
    task: JoinHandle<()>,
}

impl ReconnectingClient {
    /// Starts connecting `session`'s device at once, in a task of the
    /// current tokio runtime. `sync` holds the cursors to catch up from
    /// (e.g. [`SyncState::new`] for everything, or each conversation's
    /// `last_seq` to skip old history).
    pub fn start(
        session: Session,
        sync: SyncState,
        options: ReconnectOptions,
    ) -> ReconnectingClient {
        let (commands, command_rx) = mpsc::channel(options.outbox_limit.saturating_add(FRAME_BACKLOG + 1).min(1 << 24));
        let (event_tx, events) = mpsc::channel(EVENT_QUEUE);
        let shared = Arc::new(Shared::default());
        let outbox_limit = options.outbox_limit;
        let worker =
            worker::Worker::new(session, sync, options, command_rx, event_tx, shared.clone());
        let task = tokio::spawn(worker.run());
        ReconnectingClient {
            commands,
            events,
            shared,
            outbox_limit,
            task,
        }
    }

    /// Queues a message for `conversation_id` with a fresh `client_msg_id`
    /// and returns it. It is sent now if connected, else after the next
    /// connect; [`Event::Sent`] or [`Event::NotSent`] reports its fate.
    ///
    /// Fails with [`SdkError::OutboxFull`] when
    /// [`ReconnectOptions::outbox_limit`] messages are waiting, and with
    /// [`SdkError::Closed`] once the client has stopped.
    pub fn send(
        &self,
        conversation_id: ConversationId,
        text: impl Into<String>,
    ) -> Result<OutgoingMessage, SdkError> {
        self.queue(OutgoingMessage::new(conversation_id, text))
    }

    /// Queues a reply to the message `seq` of `conversation_id`, as
    /// [`send`](Self::send) does.
    pub fn reply(
        &self,
        conversation_id: ConversationId,
        seq: Seq,
        text: impl Into<String>,
    ) -> Result<OutgoingMessage, SdkError> {
        self.queue(OutgoingMessage::reply(conversation_id, seq, text))
    }

    /// Queues an edit of the user's message `seq`, as [`send`](Self::send)
    /// does; every device (this one included) then gets the `edit` entry,
    /// to apply with [`Message::apply_change`].
    pub fn edit(
        &self,
        conversation_id: ConversationId,
        seq: Seq,
        text: impl Into<String>,
    ) -> Result<OutgoingMessage, SdkError> {
        self.queue(OutgoingMessage::edit(conversation_id, seq, text))
    }

    /// Queues a delete, for everyone, of the user's message `seq`, as
    /// [`send`](Self::send) does.
    pub fn delete(&self, conversation_id: ConversationId, seq: Seq) -> Result<OutgoingMessage, SdkError> {
        self.queue(OutgoingMessage::delete(conversation_id, seq))
    }

    /// Queues any outbox entry (its `client_msg_id` is kept for retries).
    pub fn queue(&self, message: OutgoingMessage) -> Result<OutgoingMessage, SdkError> {
        let limit = self.outbox_limit;
        if self
            .shared
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_err()
        {
            return Err(SdkError::OutboxFull { limit });
        }
        match self.commands.try_send(Command::Send(message.clone())) {
            Ok(()) => Ok(message),
            Err(e) => {
                self.shared.pending.fetch_sub(1, Ordering::AcqRel);
                match e {
                    mpsc::error::TrySendError::Full(_) => Err(SdkError::OutboxFull { limit }),
                    mpsc::error::TrySendError::Closed(_) => Err(stopped()),
                }
            }
        }
    }

    /// Sends a frame that needs no delivery guarantee (`read`,
    /// `delivered`, `typing`, `ping`) if connected; while disconnected, or
    /// when 64 such frames already wait for the task, it is dropped. Messages go through [`ReconnectingClient::send`] and
    /// catching up is the client's job: `send` and `sync` frames are
    /// refused with [`SdkError::Config`].
    pub fn send_frame(&self, frame: ClientFrame) -> Result<(), SdkError> {
        if matches!(
            frame,
            ClientFrame::Send { .. } | ClientFrame::Edit { .. } | ClientFrame::Delete { .. } | ClientFrame::Sync { .. }
        ) {
            return Err(SdkError::Config(
                "send messages with ReconnectingClient::send; the client syncs by itself".into(),
            ));
        }
        // Room stays for every message the outbox may still take and for a
        // close; a frame that would use it is dropped, as while disconnected.
        let reserved = self.outbox_limit.saturating_sub(self.pending()) + 1;
        if self.commands.capacity() <= reserved {
            return Ok(());
        }
        match self.commands.try_send(Command::Frame(frame)) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(stopped()),
        }
    }

    /// The next event; `None` once the client has stopped (after
    /// [`Event::SessionEnded`]). Cancel-safe.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// True while a connection is up (caught up or catching up).
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    /// The transport of the current (or last) connection: a WebSocket, or
    /// the event-stream fallback where WebSocket upgrades are refused.
    pub fn transport(&self) -> TransportKind {
        if self.shared.on_fallback.load(Ordering::Acquire) {
            TransportKind::EventStream
        } else {
            TransportKind::WebSocket
        }
    }

    /// Messages sent but not yet acknowledged or refused.
    pub fn pending(&self) -> usize {
        self.shared.pending.load(Ordering::Acquire)
    }

    /// Closes the connection normally (close code 1000) and stops the
    /// task; whatever is still in the outbox is dropped. Dropping the
    /// client does the same without waiting.
    pub async fn close(self) {
        let ReconnectingClient {
            commands,
            events,
            mut task,
            ..
        } = self;
        // With no room for the close, dropping the sender ends the task too.
        let _ = commands.try_send(Command::Close);
        drop(commands);
        // The task may be waiting for room in the event queue.
        drop(events);
        if tokio::time::timeout(CLOSE_WAIT, &mut task).await.is_err() {
            task.abort();
        }
    }
}

fn stopped() -> SdkError {
    SdkError::Closed {
        code: None,
        reason: "the reconnecting client has stopped".into(),
    }
}
