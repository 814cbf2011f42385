//! The task behind a [`ReconnectingClient`](super::ReconnectingClient): it
//! owns the connection, the outbox and the [`SyncState`], and is the only
//! code that touches them, so no lock is held anywhere.
//!
//! Its life is a loop of three phases: **down** (wait out the backoff while
//! queueing the application's sends), **connect** (handshake, catch-up,
//! outbox flush), **up** (frames in, commands out, heartbeat, resends of
//! rate-limited messages) until the connection is lost.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use banter_protocol::frames::ConversationChange;
use banter_protocol::{ClientFrame, ErrorCode, ServerFrame};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::backoff::Backoff;
use super::{Command, Event, JoinedConversations, ReconnectOptions, Shared};
use crate::connection::{Ack, Connection, TransportKind};
use crate::error::SdkError;
use crate::outbox::OutgoingMessage;
use crate::session::Session;
use crate::sync::{Accepted, SyncState};

/// A message of the outbox, until its ack or a refusal for good.
#[derive(Debug)]
struct Pending {
    message: OutgoingMessage,
    /// Refused with `rate_limited`: sent again at `Worker::resend_at`.
    refused: bool,
}

/// Why the up phase ended.
enum Ended {
    /// The connection failed: reconnect.
    Lost(SdkError),
    /// On the fallback, a WebSocket opened: go on over it.
    Upgrade(Box<Connection>),
    /// The application closed the client or went away: stop.
    Stop,
}

/// How long a WebSocket probe from the fallback may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// A WebSocket lost this soon after it connected, [`SHORT_LIVED_LIMIT`]
/// times in a row, is taken for a proxy that lets upgrades through and then
/// cuts them: the next connection uses the fallback.
const SHORT_LIVED: Duration = Duration::from_secs(15);
const SHORT_LIVED_LIMIT: u32 = 3;

/// The longest reconnect hint honoured (a server's shutdown spread is
/// seconds; this keeps a wrong one from silencing the client for long).
const MAX_RECONNECT_HINT: Duration = Duration::from_secs(60);

/// Why a connect attempt failed.
enum Failed {
    /// Try again after the backoff.
    Retry(SdkError),
    /// The token is refused: stop for good.
    SessionEnded(SdkError),
    /// The application went away meanwhile.
    Stop,
}

pub(super) struct Worker {
    session: Session,
    options: ReconnectOptions,
    sync: SyncState,
    outbox: Vec<Pending>,
    /// When to send the refused messages again (the server's `retry_after_ms`).
    resend_at: Option<Instant>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    shared: Arc<Shared>,
    /// WebSockets in a row lost within [`SHORT_LIVED`] of connecting.
    short_lived: u32,
    /// When a shutting-down server asked to be reconnected to (its
    /// `retry_after_ms`): the next wait, instead of the backoff's.
    reconnect_hint: Option<Duration>,
    /// The last `hello`'s `reconnect_spread_ms`: how long to spread the
    /// first reconnect over after a loss without a close from the server.
    spread_after_loss: Duration,
}

impl Worker {
    pub(super) fn new(
        session: Session,
        sync: SyncState,
        options: ReconnectOptions,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
        shared: Arc<Shared>,
    ) -> Worker {
        Worker {
            session,
            options,
            sync,
            outbox: Vec::new(),
            resend_at: None,
            commands,
            events,
            shared,
            short_lived: 0,
            reconnect_hint: None,
            spread_after_loss: Duration::ZERO,
        }
    }

    pub(super) async fn run(mut self) {
        let mut backoff = Backoff::new(self.options.backoff_min, self.options.backoff_max);
        loop {
            // Whether the server cut this connection without a close frame.
            let mut cut = false;
            match self.connect().await {
                Ok(connection) => {
                    backoff.reset();
                    let mut connection = connection;
                    let ended = loop {
                        let websocket = connection.transport() == TransportKind::WebSocket;
                        let since = Instant::now();
                        match self.up(connection).await {
                            Ended::Upgrade(websocket) => match self.resume(*websocket).await {
                                Ok(resumed) => {
                                    // One early cut of it is enough to go back.
                                    self.short_lived = SHORT_LIVED_LIMIT - 1;
                                    connection = resumed;
                                }
                                Err(Failed::Retry(error)) => break Ended::Lost(error),
                                Err(Failed::SessionEnded(error)) => {
                                    let _ = self.events.send(Event::SessionEnded { error }).await;
                                    return;
                                }
                                Err(Failed::Stop) => break Ended::Stop,
                            },
                            other => {
                                if websocket {
                                    let short = since.elapsed() < SHORT_LIVED;
                                    self.short_lived = if short { self.short_lived + 1 } else { 0 };
                                }
                                break other;
                            }
                        }
                    };
                    self.shared.connected.store(false, Ordering::Release);
                    match ended {
                        Ended::Stop | Ended::Upgrade(_) => return,
                        Ended::Lost(error) => {
                            tracing::debug!(%error, "connection lost");
                            cut = error.close_code().is_none();
                            if !self.emit(Event::Disconnected { error }).await {
                                return;
                            }
                        }
                    }
                }
                Err(Failed::Retry(error)) => tracing::debug!(%error, "connect failed"),
                Err(Failed::SessionEnded(error)) => {
                    let _ = self.events.send(Event::SessionEnded { error }).await;
                    return;
                }
                Err(Failed::Stop) => return,
            }
            // A hint from a server going down spreads its clients' returns;
            // the backoff goes on as it was. A node lost without a word
            // (killed, crashed, cut off) lost all its clients at this same
            // moment: the first return is spread over what its `hello` said.
            let delay = backoff.next_delay();
            let delay = match self.reconnect_hint.take() {
                Some(hint) => hint,
                None if cut => delay.max(super::backoff::random_below(self.spread_after_loss)),
                None => delay,
            };
            if !self.down(delay).await {
                return;
            }
        }
    }

    /// Waits `delay` before the next attempt, queueing the application's
    /// sends. False if the client is to stop.
    async fn down(&mut self, delay: Duration) -> bool {
        let retry_at = Instant::now() + delay;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(retry_at) => return true,
                command = self.commands.recv() => match command {
                    Some(Command::Send(message)) => self.outbox.push(Pending { message, refused: false }),
                    // Receipts and typing are about now: not kept for later.
                    Some(Command::Frame(_)) => {}
                    Some(Command::Close) | None => return false,
                },
            }
        }
    }

    /// Connects (a WebSocket, or the fallback where a WebSocket cannot be
    /// opened), catches up and reports [`Event::Connected`].
    async fn connect(&mut self) -> Result<Connection, Failed> {
        let first = if self.short_lived >= SHORT_LIVED_LIMIT {
            tracing::debug!("WebSockets keep being cut soon after connecting; using the event-stream fallback");
            self.short_lived = 0;
            TransportKind::EventStream
        } else {
            TransportKind::WebSocket
        };
        let connection = match self.session.connect_over(first).await {
            Ok(connection) => connection,
            Err(e) if e.status() == Some(401) => return Err(Failed::SessionEnded(e)),
            // Not refused by the server itself (that would be an API
            // error): maybe a proxy refusing upgrades. The fallback at once.
            Err(e) if first == TransportKind::WebSocket && !matches!(e, SdkError::Api { .. } | SdkError::Config(_)) => {
                tracing::debug!(error = %e, "no WebSocket; trying the event-stream fallback");
                match self.session.connect_over(TransportKind::EventStream).await {
                    Ok(connection) => connection,
                    Err(e) if e.status() == Some(401) => return Err(Failed::SessionEnded(e)),
                    Err(e) => return Err(Failed::Retry(e)),
                }
            }
            Err(e) => return Err(Failed::Retry(e)),
        };
        self.resume(connection).await
    }

    /// Catches a new connection up and reports [`Event::Connected`].
    async fn resume(&mut self, mut connection: Connection) -> Result<Connection, Failed> {
        self.shared.on_fallback.store(connection.transport() == TransportKind::EventStream, Ordering::Release);
        let missed = connection
            .catch_up(&mut self.sync)
            .await
            .map_err(Failed::Retry)?;
        self.shared.connected.store(true, Ordering::Release);
        self.spread_after_loss = Duration::from_millis(connection.hello().reconnect_spread_ms).min(MAX_RECONNECT_HINT);
        let hello = Box::new(connection.hello().clone());
        if !self.emit(Event::Connected { hello, missed }).await {
            return Err(Failed::Stop);
        }
        Ok(connection)
    }

    /// Sends the whole outbox again with the same ids, paced by the
    /// server's limits, and reports each answer.
    async fn flush(&mut self, connection: &mut Connection) -> Result<(), SdkError> {
        if self.outbox.is_empty() {
            return Ok(());
        }
        self.resend_at = None;
        let outgoing: Vec<OutgoingMessage> = self
            .outbox
            .iter_mut()
            .map(|pending| {
                pending.refused = false;
                pending.message.clone()
            })
            .collect();
        let ids: Vec<String> = outgoing.iter().map(|m| m.client_msg_id.clone()).collect();
        let flushed = connection.send_all(outgoing).await?;
        for (id, result) in ids.into_iter().zip(flushed.results) {
            match result {
                Ok(ack) => self.acknowledged(ack).await,
                Err(error) => {
                    if let Some(index) = self.position(&id) {
                        let pending = self.remove(index);
                        self.emit(Event::NotSent {
                            message: pending.message,
                            error,
                        })
                        .await;
                    }
                }
            }
        }
        Ok(())
    }

    /// The up phase: flush the outbox, then serve frames and commands until
    /// the connection is lost or the client stops.
    async fn up(&mut self, mut connection: Connection) -> Ended {
        // Ping at half the server's heartbeat interval; a connection that
        // answers nothing for three pings' time is dead (the server's pong
        // comes back at once).
        let interval =
            Duration::from_millis(connection.hello().heartbeat_interval_ms.clamp(1000, 60_000) / 2);
        let silence_limit = interval * 3;
        let mut heartbeat = tokio::time::interval_at(Instant::now() + interval, interval);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // On the fallback: a WebSocket is tried now and then.
        let on_fallback = connection.transport() == TransportKind::EventStream;
        let probe_every = self.options.websocket_probe_interval.max(Duration::from_millis(100));
        let mut probe = tokio::time::interval_at(Instant::now() + probe_every, probe_every);
        probe.set_missed_tick_behavior(MissedTickBehavior::Delay);
        if let Err(e) = self.flush(&mut connection).await {
            return Ended::Lost(e);
        }
        // A flush or a catch-up reads answers itself, for as long as it
        // takes: the silence is counted from when it returns.
        let mut last_heard = Instant::now();
        loop {
            let resend_at = self.resend_at;
            tokio::select! {
                frame = connection.next_frame() => match frame {
                    Ok(frame) => {
                        if let Err(ended) = self.received(&mut connection, frame).await {
                            return ended;
                        }
                        last_heard = Instant::now();
                    }
                    Err(e) => return Ended::Lost(e),
                },
                command = self.commands.recv() => match command {
                    Some(Command::Send(message)) => {
                        let frame = message.frame();
                        self.outbox.push(Pending { message, refused: false });
                        if let Err(e) = connection.send_frame(frame).await {
                            return Ended::Lost(e);
                        }
                    }
                    Some(Command::Frame(frame)) => {
                        if let Err(e) = connection.send_frame(frame).await {
                            return Ended::Lost(e);
                        }
                    }
                    Some(Command::Close) | None => {
                        let _ = connection.close().await;
                        return Ended::Stop;
                    }
                },
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > silence_limit {
                        return Ended::Lost(SdkError::Timeout);
                    }
                    if let Err(e) = connection.send_frame(ClientFrame::Ping).await {
                        return Ended::Lost(e);
                    }
                }
                _ = probe.tick(), if on_fallback => {
                    // Bounded: meanwhile the stream is not read.
                    let attempt = self.session.connect_over(TransportKind::WebSocket);
                    if let Ok(Ok(websocket)) = tokio::time::timeout(PROBE_TIMEOUT, attempt).await {
                        tracing::debug!("a WebSocket opened: leaving the event-stream fallback");
                        return Ended::Upgrade(Box::new(websocket));
                    }
                }
                () = tokio::time::sleep_until(resend_at.unwrap_or_else(Instant::now)), if resend_at.is_some() => {
                    if let Err(e) = self.resend_refused(&mut connection).await {
                        return Ended::Lost(e);
                    }
                }
            }
        }
    }

    /// Handles one frame of the up phase.
    async fn received(
        &mut self,
        connection: &mut Connection,
        frame: ServerFrame,
    ) -> Result<(), Ended> {
        match frame {
            ServerFrame::Ack { .. } => {
                if let Ok(ack) = Ack::try_from(frame) {
                    self.acknowledged(ack).await;
                }
            }
            ServerFrame::Message { message } => {
                let accepted = self.sync.accept(&message);
                if accepted.is_new() && !self.emit(Event::Message(message)).await {
                    return Err(Ended::Stop);
                }
                if let Accepted::Gap { .. } = accepted {
                    self.catch_up(connection).await?;
                }
            }
            ServerFrame::Error {
                code,
                message,
                client_msg_id: Some(id),
                retry_after_ms,
            } if self.position(&id).is_some() => {
                let index = self.position(&id).unwrap_or_default();
                if code == ErrorCode::RateLimited {
                    // Kept, and sent again once the server says it may be.
                    self.outbox[index].refused = true;
                    let at = Instant::now() + Duration::from_millis(retry_after_ms.unwrap_or(1000));
                    self.resend_at = Some(self.resend_at.map_or(at, |earlier| earlier.max(at)));
                } else {
                    let pending = self.remove(index);
                    let error = SdkError::from_frame(code, message);
                    self.emit(Event::NotSent {
                        message: pending.message,
                        error,
                    })
                    .await;
                }
            }
            ServerFrame::Error {
                code: ErrorCode::ShuttingDown,
                client_msg_id: None,
                retry_after_ms: Some(ms),
                ..
            } => {
                self.reconnect_hint = Some(Duration::from_millis(ms).min(MAX_RECONNECT_HINT));
                self.emit(Event::Frame(frame)).await;
            }
            ServerFrame::Resync { .. } => {
                self.catch_up(connection).await?;
                self.emit(Event::Frame(frame)).await;
            }
            ServerFrame::ConversationUpdated {
                conversation_id,
                change: ConversationChange::Joined,
            } if self.options.joined_conversations == JoinedConversations::FromNewest => {
                match self.session.api().conversation(conversation_id).await {
                    Ok(detail) => self
                        .sync
                        .set_cursor(conversation_id, detail.conversation.last_seq),
                    Err(error) => {
                        tracing::debug!(%error, conversation_id, "cannot read a joined conversation")
                    }
                }
                self.emit(Event::Frame(frame)).await;
            }
            // Answers to the client's own pings and stray sync answers.
            ServerFrame::Pong | ServerFrame::SyncBatch { .. } | ServerFrame::Hello { .. } => {}
            other => {
                self.emit(Event::Frame(other)).await;
            }
        }
        Ok(())
    }

    /// Syncs from the cursors and reports what was missing.
    async fn catch_up(&mut self, connection: &mut Connection) -> Result<(), Ended> {
        let missed = connection
            .catch_up(&mut self.sync)
            .await
            .map_err(Ended::Lost)?;
        if !missed.is_empty() && !self.emit(Event::CaughtUp(missed)).await {
            return Err(Ended::Stop);
        }
        Ok(())
    }

    /// Sends again, with the same ids, what was refused with `rate_limited`.
    async fn resend_refused(&mut self, connection: &mut Connection) -> Result<(), SdkError> {
        self.resend_at = None;
        for pending in self.outbox.iter_mut().filter(|p| p.refused) {
            pending.refused = false;
            connection.send_frame(pending.message.frame()).await?;
        }
        Ok(())
    }

    /// A message of the outbox is stored: report it once.
    async fn acknowledged(&mut self, ack: Ack) {
        let Some(index) = self.position(&ack.client_msg_id) else {
            return;
        };
        let pending = self.remove(index);
        // The live copy of one's own message is then a duplicate.
        self.sync.accept_seq(ack.conversation_id, ack.seq);
        self.emit(Event::Sent {
            message: pending.message,
            ack,
        })
        .await;
    }

    fn position(&self, client_msg_id: &str) -> Option<usize> {
        self.outbox
            .iter()
            .position(|p| p.message.client_msg_id == client_msg_id)
    }

    fn remove(&mut self, index: usize) -> Pending {
        self.shared.pending.fetch_sub(1, Ordering::AcqRel);
        self.outbox.remove(index)
    }

    /// Queues an event; false when the application has gone away.
    async fn emit(&self, event: Event) -> bool {
        self.events.send(event).await.is_ok()
    }
}


