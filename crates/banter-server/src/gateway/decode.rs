//! Decoding of inbound text frames into [`ClientFrame`]s with precise errors:
//! `unknown_frame_type` when the `type` is not one we know, `invalid_json`
//! for anything else malformed (bad JSON, wrong or missing fields).

use banter_protocol::{ClientFrame, ErrorCode};
use serde::Deserialize;

use crate::error::ApiError;

/// Parses one text frame.
pub fn decode(text: &str) -> Result<ClientFrame, ApiError> {
    serde_json::from_str::<ClientFrame>(text).map_err(|err| {
        #[derive(Deserialize)]
        struct TypeOnly {
            #[serde(rename = "type")]
            frame_type: String,
        }
        // Only on the error path: find out whether the type was the problem.
        match serde_json::from_str::<TypeOnly>(text) {
            Ok(t) if !KNOWN_TYPES.contains(&t.frame_type.as_str()) => {
                let shown: String = t.frame_type.chars().take(40).collect();
                ApiError::new(ErrorCode::UnknownFrameType, format!("unknown frame type {shown:?}"))
            }
            _ => ApiError::new(ErrorCode::InvalidJson, format!("malformed frame: {err}")),
        }
    })
}

const KNOWN_TYPES: &[&str] = &["send", "sync", "read", "ping"];

/// The `client_msg_id` of a frame that failed to decode, if one can be
/// found, so the client can match the error to its pending send.
pub fn client_msg_id_of(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        client_msg_id: String,
    }
    serde_json::from_str::<IdOnly>(text).ok().map(|i| i.client_msg_id).filter(|id| id.len() <= 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_frames_decode() {
        let f = decode(r#"{"type":"send","client_msg_id":"a1","conversation_id":3,"text":"hi"}"#).unwrap();
        assert_eq!(f, ClientFrame::Send { client_msg_id: "a1".into(), conversation_id: 3, text: "hi".into() });
        assert_eq!(decode(r#"{"type":"ping"}"#).unwrap(), ClientFrame::Ping);
        assert_eq!(decode(r#"{"type":"sync"}"#).unwrap(), ClientFrame::Sync { cursors: vec![], limit: None });
    }

    #[test]
    fn unknown_types_and_malformed_json_get_distinct_codes() {
        assert_eq!(decode(r#"{"type":"launch_missiles"}"#).unwrap_err().code, ErrorCode::UnknownFrameType);
        assert_eq!(decode("{not json").unwrap_err().code, ErrorCode::InvalidJson);
        assert_eq!(decode(r#"{"type":"send","conversation_id":"three"}"#).unwrap_err().code, ErrorCode::InvalidJson);
        assert_eq!(decode(r#"[1,2,3]"#).unwrap_err().code, ErrorCode::InvalidJson);
        assert_eq!(decode(r#"{"type":"read","conversation_id":1,"seq":1e999}"#).unwrap_err().code, ErrorCode::InvalidJson);
    }
}
