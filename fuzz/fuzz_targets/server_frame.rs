//! Decoding what the server sends, as the SDK does (`decode_server_frame`):
//! a client must survive any text from a broken or hostile server.
//!
//! Properties: the fast path and the generic one give the same answer;
//! and: a decoded frame round-trips through its encoding, its variant
//! is the one its `type` names, and `unknown_frame_type` is only reported
//! for types that are really unknown.
#![no_main]

use banter_protocol::{decode_server_frame, FrameDecodeError, ServerFrame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The fast path (`codec/fast.rs`) changes how fast, never what.
    assert_eq!(decode_server_frame(text), banter_protocol::codec::decode_server_frame_generic(text), "fast and generic roads differ on {text:?}");
    match decode_server_frame(text) {
        Ok(frame) => {
            let encoded = serde_json::to_string(&frame).expect("a decoded frame encodes");
            assert_eq!(decode_server_frame(&encoded).as_ref(), Ok(&frame), "round trip of {encoded}");
            let value: serde_json::Value = serde_json::from_str(text).expect("a decoded frame is JSON");
            assert_eq!(value["type"].as_str(), Some(frame.frame_type()), "the variant is the one named by `type`");
        }
        Err(FrameDecodeError::UnknownType(shown)) => {
            assert!(!ServerFrame::TYPES.contains(&shown.as_str()), "{shown:?} is a known type");
        }
        Err(FrameDecodeError::Malformed(_)) => {}
    }
});
