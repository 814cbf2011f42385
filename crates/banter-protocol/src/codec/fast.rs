//! The frames read most, decoded straight into their fields.
//!
//! serde reads an internally tagged enum (`{"type": …, …}`, where `type`
//! may come anywhere in the object) by first copying the whole object into
//! a tree of its own, then reading the variant from that copy: every key
//! and every string allocated twice. For a device receiving a group's live
//! messages that copy was a quarter of its CPU (BENCHMARKS.md, "group").
//!
//! Both ends write `type` first (serde puts the tag first), so a frame that
//! starts with `{"type":"<t>"` for one of the types below is read directly
//! into a struct with that variant's fields plus `type` itself. That struct
//! accepts what the variant accepts: the same fields with the same
//! defaults, unknown fields ignored, a second `type` key refused as a
//! duplicate (so the `type` is the one peeked: it is the first key, and
//! there is no other; its value is not read again). The generic road
//! also reads every value of the frame, unknown fields included, so a value
//! no field would take — a string with a lone surrogate escape
//! (`"\ud800"`), a number out of range (`1e999`), arrays nested past
//! serde_json's depth limit — makes the frame malformed, where a struct
//! would skip what it does not know without reading it (the `client_frame`
//! fuzz target found this). So each struct, and the message inside, keeps
//! its unknown fields in a `#[serde(flatten)]` [`Unknown`]: serde reads them
//! exactly as the generic road does, and a frame without unknown fields (all
//! of them, from this server) pays nothing for it. Anything else — another
//! type, another key order, whitespace, any error — returns `None` and the
//! caller takes the generic road, which also words the error. So this
//! changes how fast a frame decodes, never what it decodes to (the fuzz
//! targets check the two roads against each other on every input).
//!
//! Each frame is built with an exhaustive struct literal: a field added to
//! one of these variants does not compile until it is added here too.

use serde::{
    de::{IgnoredAny, MapAccess, SeqAccess, Visitor},
    Deserialize, Deserializer,
};

use crate::{ClientFrame, ConversationId, Message, Seq, ServerFrame, TimestampMs};

/// The `type` a frame written tag-first names, without parsing it: `None`
/// when the text does not start exactly so, or the type has an escape.
fn peeked_type(text: &str) -> Option<&str> {
    let rest = text.strip_prefix(r#"{"type":""#)?;
    let end = rest.find(['"', '\\'])?;
    (rest.as_bytes()[end] == b'"').then(|| &rest[..end])
}

/// A struct's unknown fields. serde has already read each of them the way
/// the generic road does when this sees them (that is what `flatten`
/// does); this only walks them, keeps nothing, and has no size.
struct Unknown;

impl<'de> Deserialize<'de> for Unknown {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UnknownVisitor)
    }
}

struct UnknownVisitor;

impl<'de> Visitor<'de> for UnknownVisitor {
    type Value = Unknown;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Unknown, E> {
        Ok(Unknown)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Unknown, E> {
        Ok(Unknown)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Unknown, E> {
        Ok(Unknown)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Unknown, E> {
        Ok(Unknown)
    }

    fn visit_str<E>(self, _: &str) -> Result<Unknown, E> {
        Ok(Unknown)
    }

    fn visit_unit<E>(self) -> Result<Unknown, E> {
        Ok(Unknown)
    }

    fn visit_none<E>(self) -> Result<Unknown, E> {
        Ok(Unknown)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Unknown, D::Error> {
        Unknown::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unknown, A::Error> {
        while seq.next_element::<Unknown>()?.is_some() {}
        Ok(Unknown)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unknown, A::Error> {
        while map.next_entry::<Unknown, Unknown>()?.is_some() {}
        Ok(Unknown)
    }
}

/// [`Message`]'s fields, with its unknown ones read as the generic road
/// reads them (see the module doc).
#[derive(Deserialize)]
struct MessageFields {
    conversation_id: ConversationId,
    seq: Seq,
    sender_id: crate::UserId,
    sender_device_id: crate::DeviceId,
    client_msg_id: String,
    text: String,
    server_ts: TimestampMs,
    #[serde(default)]
    kind: crate::MessageKind,
    #[serde(default)]
    reply_to: Option<Seq>,
    #[serde(default)]
    target_seq: Option<Seq>,
    #[serde(default)]
    edited_at: Option<TimestampMs>,
    #[serde(default)]
    deleted: bool,
    #[serde(flatten)]
    _unknown: Unknown,
}

impl From<MessageFields> for Message {
    fn from(f: MessageFields) -> Message {
        Message {
            conversation_id: f.conversation_id,
            seq: f.seq,
            sender_id: f.sender_id,
            sender_device_id: f.sender_device_id,
            client_msg_id: f.client_msg_id,
            text: f.text,
            server_ts: f.server_ts,
            kind: f.kind,
            reply_to: f.reply_to,
            target_seq: f.target_seq,
            edited_at: f.edited_at,
            deleted: f.deleted,
        }
    }
}

/// `Some` only for a frame the generic decoder would decode to the same.
pub(super) fn client_frame(text: &str) -> Option<ClientFrame> {
    match peeked_type(text)? {
        "send" => {
            #[derive(Deserialize)]
            struct Send {
                #[serde(rename = "type")]
                _type: IgnoredAny,
                client_msg_id: String,
                conversation_id: ConversationId,
                text: String,
                #[serde(default)]
                reply_to: Option<Seq>,
                #[serde(flatten)]
                _unknown: Unknown,
            }
            let f: Send = serde_json::from_str(text).ok()?;
            Some(ClientFrame::Send {
                client_msg_id: f.client_msg_id,
                conversation_id: f.conversation_id,
                text: f.text,
                reply_to: f.reply_to,
            })
        }
        _ => None,
    }
}

/// `Some` only for a frame the generic decoder would decode to the same.
pub(super) fn server_frame(text: &str) -> Option<ServerFrame> {
    match peeked_type(text)? {
        "message" => {
            #[derive(Deserialize)]
            struct Live {
                #[serde(rename = "type")]
                _type: IgnoredAny,
                message: MessageFields,
                #[serde(flatten)]
                _unknown: Unknown,
            }
            let f: Live = serde_json::from_str(text).ok()?;
            Some(ServerFrame::Message { message: f.message.into() })
        }
        "ack" => {
            #[derive(Deserialize)]
            struct Ack {
                #[serde(rename = "type")]
                _type: IgnoredAny,
                client_msg_id: String,
                conversation_id: ConversationId,
                seq: Seq,
                server_ts: TimestampMs,
                duplicate: bool,
                #[serde(flatten)]
                _unknown: Unknown,
            }
            let f: Ack = serde_json::from_str(text).ok()?;
            Some(ServerFrame::Ack {
                client_msg_id: f.client_msg_id,
                conversation_id: f.conversation_id,
                seq: f.seq,
                server_ts: f.server_ts,
                duplicate: f.duplicate,
            })
        }
        "sync_batch" => {
            #[derive(Deserialize)]
            struct SyncBatch {
                #[serde(rename = "type")]
                _type: IgnoredAny,
                messages: Vec<MessageFields>,
                complete: bool,
                #[serde(flatten)]
                _unknown: Unknown,
            }
            let f: SyncBatch = serde_json::from_str(text).ok()?;
            Some(ServerFrame::SyncBatch {
                messages: f.messages.into_iter().map(Message::from).collect(),
                complete: f.complete,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode_client_frame_generic, decode_server_frame_generic};
    use crate::MessageKind;

    fn message() -> Message {
        Message {
            conversation_id: 7,
            seq: 42,
            sender_id: 3,
            sender_device_id: 9,
            client_msg_id: "m-1".into(),
            text: "héllo \"quoted\" \\ \u{1F600}\n".into(),
            server_ts: 1_700_000_000_000,
            reply_to: Some(41),
            ..Message::default()
        }
    }

    #[test]
    fn only_a_frame_written_type_first_is_peeked() {
        assert_eq!(peeked_type(r#"{"type":"ack","seq":1}"#), Some("ack"));
        assert_eq!(peeked_type(r#"{"type":"","seq":1}"#), Some(""));
        assert_eq!(peeked_type(r#"{ "type":"ack"}"#), None);
        assert_eq!(peeked_type(r#"{"seq":1,"type":"ack"}"#), None);
        assert_eq!(peeked_type(r#"{"type":"a\"ck"}"#), None, "an escape goes the generic way");
        assert_eq!(peeked_type(r#"{"type":"ack"#), None);
        assert_eq!(peeked_type(r#"{"type":"#), None);
    }

    /// What the encoder writes takes the fast road, and lands where the
    /// generic one does.
    #[test]
    fn encoded_hot_frames_take_the_fast_road_to_the_same_frame() {
        let change = Message { kind: MessageKind::Edit, target_seq: Some(40), edited_at: Some(5), ..message() };
        let deleted = Message { kind: MessageKind::Delete, target_seq: Some(40), deleted: true, text: String::new(), ..message() };
        let frames = [
            ServerFrame::Message { message: message() },
            ServerFrame::Message { message: change.clone() },
            ServerFrame::Ack { client_msg_id: "m-1".into(), conversation_id: 7, seq: 42, server_ts: 5, duplicate: true },
            ServerFrame::SyncBatch { messages: vec![message(), change, deleted], complete: false },
            ServerFrame::SyncBatch { messages: vec![], complete: true },
        ];
        for frame in frames {
            let text = serde_json::to_string(&frame).unwrap();
            assert_eq!(server_frame(&text).as_ref(), Some(&frame), "{text}");
            assert_eq!(decode_server_frame_generic(&text).as_ref(), Ok(&frame), "{text}");
        }
        let sends = [
            ClientFrame::Send { client_msg_id: "a".into(), conversation_id: 1, text: "hi \u{0}".into(), reply_to: None },
            ClientFrame::Send { client_msg_id: "b".into(), conversation_id: 1, text: String::new(), reply_to: Some(3) },
        ];
        for frame in sends {
            let text = serde_json::to_string(&frame).unwrap();
            assert_eq!(client_frame(&text).as_ref(), Some(&frame), "{text}");
            assert_eq!(decode_client_frame_generic(&text).as_ref(), Ok(&frame), "{text}");
        }
    }

    /// Frames the generic road refuses are not accepted by the fast one
    /// (the caller then gets the generic error), and frames it reads
    /// differently never come out of the fast one.
    #[test]
    fn what_the_generic_road_refuses_the_fast_one_does_not_accept() {
        let refused = [
            // a second `type`, naming another frame or the same
            r#"{"type":"ack","type":"message","client_msg_id":"c","conversation_id":1,"seq":1,"server_ts":0,"duplicate":false}"#,
            r#"{"type":"ack","client_msg_id":"c","conversation_id":1,"seq":1,"server_ts":0,"duplicate":false,"type":"ack"}"#,
            // missing or mistyped fields
            r#"{"type":"ack","client_msg_id":"c","conversation_id":1,"seq":1,"server_ts":0}"#,
            r#"{"type":"ack","client_msg_id":"c","conversation_id":1,"seq":1.5,"server_ts":0,"duplicate":false}"#,
            r#"{"type":"message","message":{"seq":1}}"#,
            r#"{"type":"sync_batch","messages":null,"complete":true}"#,
            r#"{"type":"message","message":null}"#,
            // a duplicated field
            r#"{"type":"sync_batch","messages":[],"complete":true,"complete":false}"#,
            // not one JSON value
            r#"{"type":"sync_batch","messages":[],"complete":true} {}"#,
            r#"{"type":"sync_batch","messages":[],"complete":true"#,
        ];
        for text in refused {
            assert_eq!(server_frame(text), None, "{text}");
            assert!(decode_server_frame_generic(text).is_err(), "{text}");
        }
        for text in [
            r#"{"type":"send","conversation_id":1,"text":"x"}"#,
            r#"{"type":"send","client_msg_id":"a","conversation_id":1,"text":"x","reply_to":"1"}"#,
            r#"{"type":"send","type":"ping","client_msg_id":"a","conversation_id":1,"text":"x"}"#,
        ] {
            assert_eq!(client_frame(text), None, "{text}");
            assert!(decode_client_frame_generic(text).is_err(), "{text}");
        }
        // A value no field takes, in an unknown field, at the top or inside
        // the message (found by the `client_frame` fuzz target).
        for text in [
            r#"{"type":"send","client_msg_id":"a","conversation_id":1,"text":"x","later":"\ude00"}"#,
            r#"{"type":"send","client_msg_id":"a","conversation_id":1,"text":"x","later":[1e999]}"#,
            r#"{"type":"send","client_msg_id":"a","conversation_id":1,"text":"x","\ud800":1}"#,
        ] {
            assert_eq!(client_frame(text), None, "{text}");
            assert!(decode_client_frame_generic(text).is_err(), "{text}");
        }
        let deep = format!(
            r#"{{"type":"send","client_msg_id":"a","conversation_id":1,"text":"x","later":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert_eq!(client_frame(&deep), None, "past serde_json's depth limit");
        assert!(decode_client_frame_generic(&deep).is_err());
        let inner = r#"{"type":"message","message":{"conversation_id":1,"seq":2,"sender_id":3,"sender_device_id":4,
            "client_msg_id":"c","text":"t","server_ts":5,"later":"\ud83d"}}"#;
        assert_eq!(server_frame(inner), None);
        assert!(decode_server_frame_generic(inner).is_err());
        // A surrogate pair, escaped, is a character like any other.
        let pair = r#"{"type":"send","client_msg_id":"a","conversation_id":1,"text":"\ud83d\ude00","later":"\ud83d\ude00"}"#;
        assert!(matches!(client_frame(pair), Some(ClientFrame::Send { ref text, .. }) if text == "\u{1F600}"));
        assert_eq!(client_frame(pair).as_ref(), decode_client_frame_generic(pair).as_ref().ok());
        // Unknown fields are ignored by both; an explicit null for an
        // optional field reads as absent by both.
        let extra = r#"{"type":"send","client_msg_id":"a","conversation_id":1,"text":"x","reply_to":null,"later":{"a":[1]}}"#;
        assert_eq!(client_frame(extra).as_ref(), decode_client_frame_generic(extra).as_ref().ok());
        assert!(client_frame(extra).is_some());
        // Other types are left to the generic road.
        assert_eq!(client_frame(r#"{"type":"ping"}"#), None);
        assert_eq!(server_frame(r#"{"type":"pong"}"#), None);
    }
}
