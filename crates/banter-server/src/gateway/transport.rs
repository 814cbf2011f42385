//! The two ways a connection's frames travel: a WebSocket, or the fallback
//! for networks that block WebSocket upgrades (`events.rs`): an event
//! stream (`text/event-stream`) down and HTTP POSTs up. Everything above
//! this file — hello, limits, sends in order, acks, sync, fan-out, kicks,
//! the drain — is the same code for both; only reading a client frame,
//! writing a server frame and closing differ.

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::{Bytes, BytesMut};
use futures_util::{
    stream::{SplitSink, SplitStream},
    SinkExt, StreamExt,
};
use tokio::sync::mpsc;

use crate::{frame::EncodedFrame, registry::CloseReason};

/// Where client frames come from.
pub(crate) enum Inbound {
    WebSocket(SplitStream<WebSocket>),
    /// Frames POSTed to the stream, one text frame per item, in order.
    Posted(mpsc::Receiver<Utf8Bytes>),
}

impl Inbound {
    /// The next client frame; `None` once the client is gone.
    pub(crate) async fn next(&mut self) -> Option<Result<Message, axum::Error>> {
        match self {
            Inbound::WebSocket(stream) => stream.next().await,
            Inbound::Posted(frames) => frames.recv().await.map(|text| Ok(Message::Text(text))),
        }
    }

    /// After a close was sent or received. A WebSocket reads on until the
    /// client's close answer (RFC 6455; a socket closed with unread input
    /// is reset, and a reset can destroy the answers and the close frame
    /// still on their way), bounded by [`CLOSE_HANDSHAKE_TIMEOUT`]. Posted
    /// frames have no handshake: the event stream's `close` event is the end.
    pub(crate) async fn finish_close(&mut self) {
        if let Inbound::WebSocket(stream) = self {
            let drain = async {
                while let Some(Ok(_)) = stream.next().await {}
            };
            let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, drain).await;
        }
    }
}

/// How long the close echo may take to write.
const CLOSE_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Where server frames go.
pub(crate) enum Outbound {
    WebSocket(SplitSink<WebSocket, Message>),
    EventStream(EventSink),
}

/// The transport failed or the client went away.
#[derive(Debug)]
pub(crate) struct Gone;

impl Outbound {
    /// Adds a frame to what the next [`Outbound::flush`] writes.
    pub(crate) async fn feed(&mut self, frame: EncodedFrame) -> Result<(), Gone> {
        match self {
            Outbound::WebSocket(sink) => sink.feed(Message::Text(frame.into_websocket_text())).await.map_err(|_| Gone),
            Outbound::EventStream(sink) => {
                sink.event(None, frame.as_str());
                // Chunks stay small: the response holds one waiting and
                // hyper one being written, each at most this plus a frame.
                if sink.pending.len() >= CHUNK_BYTES {
                    sink.flush().await?;
                }
                Ok(())
            }
        }
    }

    /// Writes out what was fed.
    pub(crate) async fn flush(&mut self) -> Result<(), Gone> {
        match self {
            Outbound::WebSocket(sink) => sink.flush().await.map_err(|_| Gone),
            Outbound::EventStream(sink) => sink.flush().await,
        }
    }

    /// Sends the close (a close frame, or a `close` event) after whatever
    /// was fed.
    pub(crate) async fn close(&mut self, reason: CloseReason) -> Result<(), Gone> {
        match self {
            Outbound::WebSocket(sink) => {
                let close = CloseFrame { code: reason.code, reason: Utf8Bytes::from_static(reason.reason) };
                sink.send(Message::Close(Some(close))).await.map_err(|_| Gone)
            }
            Outbound::EventStream(sink) => {
                let data = serde_json::json!({ "code": reason.code, "reason": reason.reason }).to_string();
                sink.event(Some("close"), &data);
                sink.flush().await
            }
        }
    }

    /// Resolves when the client is known to be gone without a frame being
    /// written: the event stream's response was dropped (a WebSocket's end
    /// is seen by its reader instead, so this never resolves for one).
    pub(crate) async fn gone(&self) {
        match self {
            Outbound::WebSocket(_) => std::future::pending().await,
            Outbound::EventStream(sink) => sink.body.closed().await,
        }
    }
}

/// An event-stream chunk is handed over once it holds this much.
pub(crate) const CHUNK_BYTES: usize = 64 * 1024;

/// The writing end of an event stream: frames become `data:` events, and
/// each flush hands one chunk to the HTTP response body through a channel
/// of one chunk, so the writer waits (under its write deadline) while the
/// client is not reading, exactly as on a WebSocket.
pub(crate) struct EventSink {
    body: mpsc::Sender<Bytes>,
    pending: BytesMut,
}

impl EventSink {
    pub(crate) fn new(body: mpsc::Sender<Bytes>) -> EventSink {
        EventSink { body, pending: BytesMut::new() }
    }

    /// Appends one event. Frames are JSON, compact and without raw line
    /// breaks (serde escapes them in strings), so one `data:` line holds one.
    fn event(&mut self, name: Option<&str>, data: &str) {
        self.pending.extend_from_slice(&event_bytes(name, data));
    }

    async fn flush(&mut self) -> Result<(), Gone> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = self.pending.split().freeze();
        self.body.send(chunk).await.map_err(|_| Gone)
    }
}

/// One server-sent event: `event: <name>` (when named) and one `data:` line.
pub(crate) fn event_bytes(name: Option<&str>, data: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    if let Some(name) = name {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data.as_bytes());
    out.extend_from_slice(b"\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_one_data_line_each_named_when_not_a_frame() {
        assert_eq!(event_bytes(None, r#"{"type":"pong"}"#), b"data: {\"type\":\"pong\"}\n\n");
        assert_eq!(event_bytes(Some("close"), "{}"), b"event: close\ndata: {}\n\n");
    }

    #[tokio::test]
    async fn an_event_sink_hands_each_flush_over_as_one_chunk_and_waits_for_room() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut out = Outbound::EventStream(EventSink::new(tx));
        out.feed(crate::frame::encode(&banter_protocol::ServerFrame::Pong)).await.expect("fed");
        out.feed(crate::frame::encode(&banter_protocol::ServerFrame::Pong)).await.expect("fed");
        out.flush().await.expect("flushed");
        assert_eq!(rx.recv().await.expect("chunk"), Bytes::from_static(b"data: {\"type\":\"pong\"}\n\ndata: {\"type\":\"pong\"}\n\n"));
        // Nothing fed: a flush sends nothing.
        out.flush().await.expect("flushed");
        assert!(rx.try_recv().is_err());
        // The channel holds one chunk: the second waits until it is taken.
        out.feed(crate::frame::encode(&banter_protocol::ServerFrame::Pong)).await.expect("fed");
        out.flush().await.expect("first chunk");
        out.feed(crate::frame::encode(&banter_protocol::ServerFrame::Pong)).await.expect("fed");
        assert!(tokio::time::timeout(std::time::Duration::from_millis(50), out.flush()).await.is_err(), "no room");
        drop(rx);
        out.feed(crate::frame::encode(&banter_protocol::ServerFrame::Pong)).await.expect("fed");
        assert!(out.flush().await.is_err(), "the response is gone");
    }
}
