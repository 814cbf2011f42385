//! Decoding what a device sends: any text a client can put in a WebSocket
//! text frame goes through `decode_client_frame`, exactly as in the server's
//! gateway.
//!
//! Properties: the fast path and the generic one give the same answer;
//! and, beyond "never panics":
//! * a decoded frame encodes, and the encoding decodes to the same frame;
//! * the decoded variant is the one the text's `type` names;
//! * `unknown_frame_type` is only reported for types that are really
//!   unknown, and echoes at most `SHOWN_TYPE_MAX_CHARS` of them.
#![no_main]

use banter_protocol::{codec::SHOWN_TYPE_MAX_CHARS, decode_client_frame, ClientFrame, FrameDecodeError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A WebSocket text frame is valid UTF-8 (the server's WebSocket layer
    // refuses anything else with 1007 before decoding).
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The fast path (`codec/fast.rs`) changes how fast, never what.
    assert_eq!(decode_client_frame(text), banter_protocol::codec::decode_client_frame_generic(text), "fast and generic roads differ on {text:?}");
    match decode_client_frame(text) {
        Ok(frame) => {
            let encoded = serde_json::to_string(&frame).expect("a decoded frame encodes");
            assert_eq!(decode_client_frame(&encoded).as_ref(), Ok(&frame), "round trip of {encoded}");
            let value: serde_json::Value = serde_json::from_str(text).expect("a decoded frame is JSON");
            assert_eq!(value["type"].as_str(), Some(frame.frame_type()), "the variant is the one named by `type`");
        }
        Err(FrameDecodeError::UnknownType(shown)) => {
            assert!(shown.chars().count() <= SHOWN_TYPE_MAX_CHARS);
            assert!(!ClientFrame::TYPES.contains(&shown.as_str()), "{shown:?} is a known type");
        }
        Err(FrameDecodeError::Malformed(_)) => {}
    }
});
