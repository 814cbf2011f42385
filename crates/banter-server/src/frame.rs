//! An encoded server frame, shared cheaply between connections.
//!
//! A frame for many devices (a message to a group, a presence change to
//! every contact) is serialized once, here, and the same buffer is queued
//! on every recipient's connection, published on NATS and handed to the
//! socket: cloning an [`EncodedFrame`] bumps a reference count, it never
//! copies the text.
//!
//! Why a type of our own: the registry, the router, the outbound queues and
//! the messaging rules pass frames around but do not own a socket, so they
//! should not name the WebSocket library's types. Only the gateway, which
//! owns the socket, turns a frame into a WebSocket message
//! ([`EncodedFrame::into_websocket_text`]).
//!
//! Why it wraps the WebSocket layer's `Utf8Bytes` rather than plain bytes:
//! a WebSocket text message must be UTF-8, and `Utf8Bytes` is a shared
//! buffer that carries that proof. Wrapping it lets the gateway send a
//! frame with no copy and no second UTF-8 check per recipient; holding
//! plain `Bytes` would force one `O(len)` validation per connection per
//! frame (the safe conversion), which is what fan-out must not cost.
//! Invariant: the text is valid UTF-8, checked once — by construction when
//! encoded here, by [`EncodedFrame::from_utf8`] for frames from other
//! nodes.

use axum::extract::ws::Utf8Bytes;
use banter_protocol::ServerFrame;
use bytes::Bytes;

/// One server frame as JSON text, ready for any number of connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame(Utf8Bytes);

/// Encodes a frame once, to be shared by every recipient.
pub fn encode(frame: &ServerFrame) -> EncodedFrame {
    // Serializing our own enum of plain data cannot fail.
    EncodedFrame(Utf8Bytes::from(serde_json::to_string(frame).unwrap_or_default()))
}

/// The bytes of a frame from elsewhere (another node) were not UTF-8.
#[derive(Debug, thiserror::Error)]
#[error("a frame is not valid UTF-8")]
pub struct NotUtf8;

impl EncodedFrame {
    /// A frame encoded by another node (its NATS payload). Checked once
    /// here, on arrival, whatever the number of local recipients.
    pub fn from_utf8(bytes: Bytes) -> Result<EncodedFrame, NotUtf8> {
        Utf8Bytes::try_from(bytes).map(EncodedFrame).map_err(|_| NotUtf8)
    }

    /// The frame's size in bytes (what it counts against queue bounds).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the frame is empty (never true of an encoded frame).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The frame's text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The shared buffer, for a payload to another node (no copy).
    pub fn into_bytes(self) -> Bytes {
        Bytes::from(self.0)
    }

    /// The WebSocket text message's payload (no copy, no re-validation).
    /// Only the gateway calls this.
    pub(crate) fn into_websocket_text(self) -> Utf8Bytes {
        self.0
    }
}

#[cfg(test)]
impl EncodedFrame {
    /// A frame of any text (tests of queues and routing).
    pub(crate) fn text(text: impl Into<String>) -> EncodedFrame {
        EncodedFrame(Utf8Bytes::from(text.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_encoded_as_its_json_and_clones_share_the_buffer() {
        let frame = encode(&ServerFrame::Pong);
        assert_eq!(frame.as_str(), r#"{"type":"pong"}"#);
        let copy = frame.clone();
        assert_eq!(copy.as_str().as_ptr(), frame.as_str().as_ptr(), "a clone shares the bytes");
    }

    #[test]
    fn bytes_from_another_node_must_be_utf8() {
        assert!(EncodedFrame::from_utf8(Bytes::from_static(&[0xff, 0xfe])).is_err());
        let frame = EncodedFrame::from_utf8(Bytes::from_static(br#"{"type":"pong"}"#)).expect("utf-8");
        assert_eq!(frame.into_bytes(), Bytes::from_static(br#"{"type":"pong"}"#));
    }
}
