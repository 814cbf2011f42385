//! Encoding then decoding any frame gives the same frame back, for frames
//! built from arbitrary field values (extreme ids, any Unicode text, long
//! texts), in both directions, by the decoders' fast path (`codec/fast.rs`)
//! and by their generic one alike.
//!
//! Also the size claim behind `MAX_WS_FRAME_BYTES`: every `send` or `edit` frame that
//! passes validation (text ≤ 100,000 characters, a valid `client_msg_id`)
//! encodes to at most `MAX_WS_FRAME_BYTES`, so no valid message is ever
//! refused for its frame size.
#![no_main]

use arbitrary::Arbitrary;
use banter_protocol::{
    codec::{decode_client_frame_generic, decode_server_frame_generic},
    decode_client_frame, decode_server_frame,
    frames::{ConversationChange, SyncCursor},
    limits::{validate_client_msg_id, validate_message_text, MAX_MESSAGE_CHARS, MAX_WS_FRAME_BYTES},
    ClientFrame, ErrorCode, Message, MessageKind, ServerFrame,
};
use libfuzzer_sys::fuzz_target;

/// Text built from a fragment repeated, so that inputs of a few bytes reach
/// the 100,000-character limit (and stop just past it, to keep runs fast).
#[derive(Arbitrary, Debug)]
struct LongText {
    fragment: String,
    repeat: u16,
}

impl LongText {
    fn build(&self) -> String {
        let unit = self.fragment.chars().count().max(1);
        let times = (self.repeat as usize).min((MAX_MESSAGE_CHARS + 2) / unit + 1);
        self.fragment.repeat(times.max(1))
    }
}

#[derive(Arbitrary, Debug)]
enum AnyClientFrame {
    Send { client_msg_id: String, conversation_id: i64, text: LongText, reply_to: Option<i64> },
    Edit { client_msg_id: String, conversation_id: i64, seq: i64, text: LongText },
    Delete { client_msg_id: String, conversation_id: i64, seq: i64 },
    Sync { cursors: Vec<(i64, i64)>, limit: Option<u32> },
    Read { conversation_id: i64, seq: i64 },
    Delivered { conversation_id: i64, seq: i64 },
    Typing { conversation_id: i64 },
    Ping,
}

#[derive(Arbitrary, Debug)]
struct AnyMessage {
    conversation_id: i64,
    seq: i64,
    sender_id: i64,
    sender_device_id: i64,
    client_msg_id: String,
    text: String,
    server_ts: i64,
    kind: u8,
    reply_to: Option<i64>,
    target_seq: Option<i64>,
    edited_at: Option<i64>,
    deleted: bool,
}

#[derive(Arbitrary, Debug)]
enum AnyServerFrame {
    Ack { client_msg_id: String, conversation_id: i64, seq: i64, server_ts: i64, duplicate: bool },
    Message(AnyMessage),
    SyncBatch { messages: Vec<AnyMessage>, complete: bool },
    ReadMarker { conversation_id: i64, user_id: i64, seq: i64 },
    ConversationUpdated { conversation_id: i64, change: u8 },
    BlocksChanged { user_id: i64, blocked: bool },
    Typing { conversation_id: i64, user_id: i64, expires_in_ms: u64 },
    Presence { user_id: i64, online: bool, last_seen_at: Option<i64> },
    Receipt { conversation_id: i64, user_id: i64, delivered_seq: i64, read_seq: i64 },
    Pong,
    Resync { reason: String },
    Error { code: u8, message: String, client_msg_id: Option<String>, retry_after_ms: Option<u64> },
}

#[derive(Arbitrary, Debug)]
enum Input {
    Client(AnyClientFrame),
    Server(AnyServerFrame),
}

fn message(m: AnyMessage) -> Message {
    Message {
        conversation_id: m.conversation_id,
        seq: m.seq,
        sender_id: m.sender_id,
        sender_device_id: m.sender_device_id,
        client_msg_id: m.client_msg_id,
        text: m.text,
        server_ts: m.server_ts,
        kind: [MessageKind::Text, MessageKind::Edit, MessageKind::Delete][m.kind as usize % 3],
        reply_to: m.reply_to,
        target_seq: m.target_seq,
        edited_at: m.edited_at,
        deleted: m.deleted,
    }
}

/// A spread of codes; the mapping of every code is checked by unit tests.
const CODES: &[ErrorCode] = &[
    ErrorCode::InvalidJson,
    ErrorCode::UnknownFrameType,
    ErrorCode::RateLimited,
    ErrorCode::MessageTooLong,
    ErrorCode::NotAMember,
    ErrorCode::ClientMsgIdReused,
    ErrorCode::TooManyEdits,
    ErrorCode::StorageUnavailable,
    ErrorCode::Internal,
];

fn client_frame(f: AnyClientFrame) -> ClientFrame {
    match f {
        AnyClientFrame::Send { client_msg_id, conversation_id, text, reply_to } => {
            ClientFrame::Send { client_msg_id, conversation_id, text: text.build(), reply_to }
        }
        AnyClientFrame::Edit { client_msg_id, conversation_id, seq, text } => {
            ClientFrame::Edit { client_msg_id, conversation_id, seq, text: text.build() }
        }
        AnyClientFrame::Delete { client_msg_id, conversation_id, seq } => {
            ClientFrame::Delete { client_msg_id, conversation_id, seq }
        }
        AnyClientFrame::Sync { cursors, limit } => ClientFrame::Sync {
            cursors: cursors.into_iter().map(|(conversation_id, seq)| SyncCursor { conversation_id, seq }).collect(),
            limit,
        },
        AnyClientFrame::Read { conversation_id, seq } => ClientFrame::Read { conversation_id, seq },
        AnyClientFrame::Delivered { conversation_id, seq } => ClientFrame::Delivered { conversation_id, seq },
        AnyClientFrame::Typing { conversation_id } => ClientFrame::Typing { conversation_id },
        AnyClientFrame::Ping => ClientFrame::Ping,
    }
}

fn server_frame(f: AnyServerFrame) -> ServerFrame {
    match f {
        AnyServerFrame::Ack { client_msg_id, conversation_id, seq, server_ts, duplicate } => {
            ServerFrame::Ack { client_msg_id, conversation_id, seq, server_ts, duplicate }
        }
        AnyServerFrame::Message(m) => ServerFrame::Message { message: message(m) },
        AnyServerFrame::SyncBatch { messages, complete } => {
            ServerFrame::SyncBatch { messages: messages.into_iter().map(message).collect(), complete }
        }
        AnyServerFrame::ReadMarker { conversation_id, user_id, seq } => ServerFrame::ReadMarker { conversation_id, user_id, seq },
        AnyServerFrame::ConversationUpdated { conversation_id, change } => {
            let change = [ConversationChange::Joined, ConversationChange::Left, ConversationChange::MembersChanged][change as usize % 3];
            ServerFrame::ConversationUpdated { conversation_id, change }
        }
        AnyServerFrame::BlocksChanged { user_id, blocked } => ServerFrame::BlocksChanged { user_id, blocked },
        AnyServerFrame::Typing { conversation_id, user_id, expires_in_ms } => ServerFrame::Typing { conversation_id, user_id, expires_in_ms },
        AnyServerFrame::Presence { user_id, online, last_seen_at } => ServerFrame::Presence { user_id, online, last_seen_at },
        AnyServerFrame::Receipt { conversation_id, user_id, delivered_seq, read_seq } => {
            ServerFrame::Receipt { conversation_id, user_id, delivered_seq, read_seq }
        }
        AnyServerFrame::Pong => ServerFrame::Pong,
        AnyServerFrame::Resync { reason } => ServerFrame::Resync { reason },
        AnyServerFrame::Error { code, message, client_msg_id, retry_after_ms } => {
            ServerFrame::Error { code: CODES[code as usize % CODES.len()], message, client_msg_id, retry_after_ms }
        }
    }
}

fuzz_target!(|input: Input| {
    match input {
        Input::Client(f) => {
            let frame = client_frame(f);
            let encoded = serde_json::to_string(&frame).expect("client frames encode");
            assert_eq!(decode_client_frame(&encoded).as_ref(), Ok(&frame));
            assert_eq!(decode_client_frame_generic(&encoded).as_ref(), Ok(&frame), "the generic road agrees");
            if let ClientFrame::Send { client_msg_id, text, .. } | ClientFrame::Edit { client_msg_id, text, .. } = &frame {
                if validate_message_text(text).is_ok() && validate_client_msg_id(client_msg_id).is_ok() {
                    assert!(
                        encoded.len() <= MAX_WS_FRAME_BYTES,
                        "a valid send frame of {} characters encodes to {} bytes, over the frame limit",
                        text.chars().count(),
                        encoded.len()
                    );
                }
            }
        }
        Input::Server(f) => {
            let frame = server_frame(f);
            let encoded = serde_json::to_string(&frame).expect("server frames encode");
            assert_eq!(decode_server_frame(&encoded).as_ref(), Ok(&frame));
            assert_eq!(decode_server_frame_generic(&encoded).as_ref(), Ok(&frame), "the generic road agrees");
        }
    }
});
