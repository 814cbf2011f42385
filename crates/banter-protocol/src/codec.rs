//! Decoding WebSocket text frames into [`ClientFrame`]s and [`ServerFrame`]s.
//!
//! One place for both directions so the server (decoding what devices send)
//! and the SDK (decoding what the server sends) apply the same rules, and so
//! the fuzz targets in `fuzz/` exercise exactly the code that runs. Encoding
//! is plain `serde_json::to_string`; decoding adds one thing serde does not
//! give: telling an unknown `type` (`unknown_frame_type`) apart from a known
//! type with bad fields (`invalid_json`).
//!
//! The frames read most — `send` on the server, `message`, `ack` and
//! `sync_batch` on a device — take a shorter road to the same result (see
//! [`fast`]).

use serde::{de::DeserializeOwned, Deserialize};

use crate::{ClientFrame, ErrorCode, ServerFrame};

mod fast;

/// At most this many characters of an unknown `type` are echoed back in
/// the error, so a hostile frame cannot make the answer large.
pub const SHOWN_TYPE_MAX_CHARS: usize = 40;

/// Why a text frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameDecodeError {
    /// The frame is a JSON object whose `type` is not one of the known ones.
    /// Holds the type, cut to [`SHOWN_TYPE_MAX_CHARS`] characters.
    #[error("unknown frame type {0:?}")]
    UnknownType(String),
    /// Anything else: not JSON, not an object, no `type`, or a known type
    /// with missing or mistyped fields. Holds serde's description.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

impl FrameDecodeError {
    /// The wire error code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameDecodeError::UnknownType(_) => ErrorCode::UnknownFrameType,
            FrameDecodeError::Malformed(_) => ErrorCode::InvalidJson,
        }
    }
}

/// Parses one text frame a client sent.
pub fn decode_client_frame(text: &str) -> Result<ClientFrame, FrameDecodeError> {
    match fast::client_frame(text) {
        Some(frame) => Ok(frame),
        None => decode(text, ClientFrame::TYPES),
    }
}

/// Parses one text frame the server sent.
pub fn decode_server_frame(text: &str) -> Result<ServerFrame, FrameDecodeError> {
    match fast::server_frame(text) {
        Some(frame) => Ok(frame),
        None => decode(text, ServerFrame::TYPES),
    }
}

/// [`decode_client_frame`] without its fast path: for the fuzz targets and
/// tests that check both roads give the same answer.
#[doc(hidden)]
pub fn decode_client_frame_generic(text: &str) -> Result<ClientFrame, FrameDecodeError> {
    decode(text, ClientFrame::TYPES)
}

/// [`decode_server_frame`] without its fast path (see
/// [`decode_client_frame_generic`]).
#[doc(hidden)]
pub fn decode_server_frame_generic(text: &str) -> Result<ServerFrame, FrameDecodeError> {
    decode(text, ServerFrame::TYPES)
}

fn decode<F: DeserializeOwned>(text: &str, known_types: &[&str]) -> Result<F, FrameDecodeError> {
    // serde also reads a tagged enum from an array (`["sync", …]`, tag
    // first, fields by position); the protocol's frames are objects only.
    if !text.trim_start_matches([' ', '\t', '\n', '\r']).starts_with('{') {
        return Err(FrameDecodeError::Malformed("a frame is a JSON object".to_owned()));
    }
    serde_json::from_str::<F>(text).map_err(|err| {
        #[derive(Deserialize)]
        struct TypeOnly {
            #[serde(rename = "type")]
            frame_type: String,
        }
        // Only on the error path: find out whether the type was the problem.
        match serde_json::from_str::<TypeOnly>(text) {
            Ok(t) if !known_types.contains(&t.frame_type.as_str()) => {
                FrameDecodeError::UnknownType(t.frame_type.chars().take(SHOWN_TYPE_MAX_CHARS).collect())
            }
            _ => FrameDecodeError::Malformed(err.to_string()),
        }
    })
}

impl ClientFrame {
    /// Every client frame `type`, as it appears on the wire.
    pub const TYPES: &'static [&'static str] = &["send", "edit", "delete", "sync", "read", "delivered", "typing", "ping"];

    /// This frame's `type` on the wire.
    pub fn frame_type(&self) -> &'static str {
        match self {
            ClientFrame::Send { .. } => "send",
            ClientFrame::Edit { .. } => "edit",
            ClientFrame::Delete { .. } => "delete",
            ClientFrame::Sync { .. } => "sync",
            ClientFrame::Read { .. } => "read",
            ClientFrame::Delivered { .. } => "delivered",
            ClientFrame::Typing { .. } => "typing",
            ClientFrame::Ping => "ping",
        }
    }
}

impl ServerFrame {
    /// Every server frame `type`, as it appears on the wire.
    pub const TYPES: &'static [&'static str] = &[
        "hello",
        "ack",
        "message",
        "sync_batch",
        "read_marker",
        "conversation_updated",
        "blocks_changed",
        "typing",
        "presence",
        "receipt",
        "pong",
        "resync",
        "error",
    ];

    /// This frame's `type` on the wire.
    pub fn frame_type(&self) -> &'static str {
        match self {
            ServerFrame::Hello { .. } => "hello",
            ServerFrame::Ack { .. } => "ack",
            ServerFrame::Message { .. } => "message",
            ServerFrame::SyncBatch { .. } => "sync_batch",
            ServerFrame::ReadMarker { .. } => "read_marker",
            ServerFrame::ConversationUpdated { .. } => "conversation_updated",
            ServerFrame::BlocksChanged { .. } => "blocks_changed",
            ServerFrame::Typing { .. } => "typing",
            ServerFrame::Presence { .. } => "presence",
            ServerFrame::Receipt { .. } => "receipt",
            ServerFrame::Pong => "pong",
            ServerFrame::Resync { .. } => "resync",
            ServerFrame::Error { .. } => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{frames::SyncCursor, Message};

    fn wire_type(frame: &impl serde::Serialize) -> String {
        let value = serde_json::to_value(frame).expect("frames serialize");
        value["type"].as_str().expect("frames carry a type").to_owned()
    }

    fn every_client_frame() -> Vec<ClientFrame> {
        vec![
            ClientFrame::Send { client_msg_id: "a1".into(), conversation_id: 3, text: "hi".into(), reply_to: Some(2) },
            ClientFrame::Edit { client_msg_id: "a2".into(), conversation_id: 3, seq: 1, text: "hi!".into() },
            ClientFrame::Delete { client_msg_id: "a3".into(), conversation_id: 3, seq: 1 },
            ClientFrame::Sync { cursors: vec![SyncCursor { conversation_id: 1, seq: 2 }], limit: Some(10) },
            ClientFrame::Read { conversation_id: 1, seq: 2 },
            ClientFrame::Delivered { conversation_id: 1, seq: 2 },
            ClientFrame::Typing { conversation_id: 1 },
            ClientFrame::Ping,
        ]
    }

    #[test]
    fn every_client_frame_type_is_listed_and_named_as_on_the_wire() {
        let frames = every_client_frame();
        assert_eq!(frames.len(), ClientFrame::TYPES.len());
        for frame in frames {
            assert_eq!(wire_type(&frame), frame.frame_type());
            assert!(ClientFrame::TYPES.contains(&frame.frame_type()));
            let text = serde_json::to_string(&frame).unwrap();
            assert_eq!(decode_client_frame(&text), Ok(frame));
        }
    }

    #[test]
    fn every_server_frame_type_is_named_as_on_the_wire() {
        let message = Message {
            conversation_id: 1,
            seq: 1,
            sender_id: 1,
            sender_device_id: 1,
            client_msg_id: "c".into(),
            text: "t".into(),
            server_ts: 0,
            reply_to: Some(1),
            edited_at: Some(2),
            ..Message::default()
        };
        let change = Message { kind: crate::MessageKind::Delete, target_seq: Some(1), deleted: true, ..message.clone() };
        let frames = vec![
            ServerFrame::Message { message: change },
            ServerFrame::Ack { client_msg_id: "c".into(), conversation_id: 1, seq: 1, server_ts: 0, duplicate: false },
            ServerFrame::Message { message: message.clone() },
            ServerFrame::SyncBatch { messages: vec![message], complete: true },
            ServerFrame::ReadMarker { conversation_id: 1, user_id: 1, seq: 1 },
            ServerFrame::ConversationUpdated { conversation_id: 1, change: crate::frames::ConversationChange::Left },
            ServerFrame::BlocksChanged { user_id: 2, blocked: true },
            ServerFrame::Typing { conversation_id: 1, user_id: 1, expires_in_ms: 5 },
            ServerFrame::Presence { user_id: 1, online: true, last_seen_at: None },
            ServerFrame::Receipt { conversation_id: 1, user_id: 1, delivered_seq: 1, read_seq: 0 },
            ServerFrame::Pong,
            ServerFrame::Resync { reason: "bus_reconnected".into() },
            ServerFrame::Error { code: ErrorCode::Internal, message: "m".into(), client_msg_id: None, retry_after_ms: None },
            ServerFrame::Error {
                code: ErrorCode::RateLimited,
                message: "m".into(),
                client_msg_id: Some("c".into()),
                retry_after_ms: Some(5),
            },
        ];
        for frame in frames {
            assert_eq!(wire_type(&frame), frame.frame_type());
            assert!(ServerFrame::TYPES.contains(&frame.frame_type()));
            let text = serde_json::to_string(&frame).unwrap();
            assert_eq!(decode_server_frame(&text), Ok(frame));
        }
        assert!(ServerFrame::TYPES.contains(&"hello"));
    }

    #[test]
    fn known_frames_decode() {
        let f = decode_client_frame(r#"{"type":"send","client_msg_id":"a1","conversation_id":3,"text":"hi"}"#).unwrap();
        assert_eq!(f, ClientFrame::Send { client_msg_id: "a1".into(), conversation_id: 3, text: "hi".into(), reply_to: None });
        assert_eq!(decode_client_frame(r#"{"type":"ping"}"#).unwrap(), ClientFrame::Ping);
        assert_eq!(decode_client_frame(r#"{"type":"sync"}"#).unwrap(), ClientFrame::Sync { cursors: vec![], limit: None });
    }

    /// Fields added to `hello.limits` and `error` later are optional on the
    /// wire: frames from a server that does not send them still decode.
    #[test]
    fn frames_without_the_later_limit_fields_still_decode() {
        let hello = r#"{"type":"hello","user":{"id":1,"username":"a","display_name":"A"},"device_id":2,
            "heartbeat_interval_ms":1,"idle_timeout_ms":2,"presence_grace_ms":3,
            "limits":{"max_message_chars":4,"max_frame_bytes":5,"max_group_members":6,"frames_per_second":7,"burst":8}}"#;
        let ServerFrame::Hello { limits, .. } = decode_server_frame(hello).unwrap() else { panic!("hello expected") };
        assert_eq!((limits.frames_per_second, limits.burst, limits.account_frames_per_second), (7, 8, 0));
        assert_eq!((limits.close_after_refusals, limits.outbound_queue_bytes), (0, None));
        let ServerFrame::Hello { reconnect_spread_ms, .. } = decode_server_frame(hello).unwrap() else { panic!("hello expected") };
        assert_eq!(reconnect_spread_ms, 0, "absent: reconnect at once");
        let error = decode_server_frame(r#"{"type":"error","code":"rate_limited","message":"m"}"#).unwrap();
        assert!(matches!(error, ServerFrame::Error { retry_after_ms: None, client_msg_id: None, .. }));
    }

    #[test]
    fn unknown_types_and_malformed_json_get_distinct_codes() {
        let code = |text: &str| decode_client_frame(text).unwrap_err().code();
        assert_eq!(code(r#"{"type":"launch_missiles"}"#), ErrorCode::UnknownFrameType);
        assert_eq!(code("{not json"), ErrorCode::InvalidJson);
        assert_eq!(code(r#"{"type":"send","conversation_id":"three"}"#), ErrorCode::InvalidJson);
        assert_eq!(code(r#"[1,2,3]"#), ErrorCode::InvalidJson);
        assert_eq!(code(r#"{"type":"read","conversation_id":1,"seq":1e999}"#), ErrorCode::InvalidJson);
    }

    /// Regression: `delivered` and `typing` were missing from the server's
    /// list of known types, so a malformed one was called unknown.
    #[test]
    fn a_known_type_with_missing_fields_is_malformed_not_unknown() {
        for text in [r#"{"type":"typing"}"#, r#"{"type":"delivered","seq":1}"#, r#"{"type":"read"}"#] {
            assert_eq!(decode_client_frame(text).unwrap_err().code(), ErrorCode::InvalidJson, "{text}");
        }
    }

    #[test]
    fn an_unknown_type_is_echoed_only_in_part() {
        let long = format!(r#"{{"type":"{}"}}"#, "x".repeat(10_000));
        let FrameDecodeError::UnknownType(shown) = decode_client_frame(&long).unwrap_err() else { panic!("unknown type expected") };
        assert_eq!(shown.chars().count(), SHOWN_TYPE_MAX_CHARS);
    }

    /// Found by the `client_frame` fuzz target: serde reads a tagged enum
    /// from an array too (`["ping"]` was a ping). Frames are objects only.
    #[test]
    fn a_frame_in_array_form_is_malformed() {
        for text in ["[\r\"sync\"]\n\n", r#"["ping"]"#, r#"["read", 1, 2]"#, r#" ["pong"]"#] {
            assert!(matches!(decode_client_frame(text), Err(FrameDecodeError::Malformed(_))), "{text:?}");
            assert!(matches!(decode_server_frame(text), Err(FrameDecodeError::Malformed(_))), "{text:?}");
        }
        assert_eq!(decode_client_frame(" \r\n\t{\"type\":\"ping\"}"), Ok(ClientFrame::Ping));
    }
}
