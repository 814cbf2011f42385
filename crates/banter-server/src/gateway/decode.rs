//! Decoding of inbound text frames into [`ClientFrame`]s with precise errors:
//! `unknown_frame_type` when the `type` is not one we know, `invalid_json`
//! for anything else malformed (bad JSON, wrong or missing fields). The
//! rules themselves live in `banter_protocol::codec`, shared with the SDK.

use banter_protocol::{decode_client_frame, limits::CLIENT_MSG_ID_MAX_CHARS, ClientFrame};
use serde::Deserialize;

use crate::error::ApiError;

/// Parses one text frame.
pub fn decode(text: &str) -> Result<ClientFrame, ApiError> {
    decode_client_frame(text).map_err(|err| ApiError::new(err.code(), err.to_string()))
}

/// The `client_msg_id` of a frame that failed to decode, if one can be
/// found, so the client can match the error to its pending send.
pub fn client_msg_id_of(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        client_msg_id: String,
    }
    serde_json::from_str::<IdOnly>(text).ok().map(|i| i.client_msg_id).filter(|id| id.len() <= CLIENT_MSG_ID_MAX_CHARS)
}

#[cfg(test)]
mod tests {
    use banter_protocol::ErrorCode;

    use super::*;

    #[test]
    fn decode_errors_keep_their_wire_codes() {
        assert_eq!(decode(r#"{"type":"launch_missiles"}"#).unwrap_err().code, ErrorCode::UnknownFrameType);
        assert_eq!(decode(r#"{"type":"typing"}"#).unwrap_err().code, ErrorCode::InvalidJson);
        assert_eq!(decode(r#"{"type":"ping"}"#).unwrap(), ClientFrame::Ping);
    }

    #[test]
    fn the_client_msg_id_of_a_bad_frame_is_found_when_plausible() {
        assert_eq!(client_msg_id_of(r#"{"type":"send","client_msg_id":"c7","text":5}"#).as_deref(), Some("c7"));
        assert_eq!(client_msg_id_of(&format!(r#"{{"client_msg_id":"{}"}}"#, "x".repeat(65))), None);
        assert_eq!(client_msg_id_of("{not json"), None);
    }
}
