//! What a failed WebSocket read means for the connection: the close code
//! RFC 6455 asks for (§7.1.7 "Fail the WebSocket Connection", §7.4.1), or
//! nothing when the peer is simply gone.
//!
//! The WebSocket layer (tungstenite, under axum) detects the violations but
//! only reports them; sending the close frame is ours to do.
//!
//! axum hides tungstenite's error inside its own, so the only way to tell
//! the violations apart is to downcast to `tungstenite::Error`; that is why
//! `tungstenite` is a direct dependency. The downcast matches only while
//! our `tungstenite` is the very version axum uses, so two guards fail
//! loudly if an upgrade breaks it: `tests/websocket_rfc6455.rs` asserts
//! each close code (1002, 1007, 1009) against a real server, and the test
//! below asserts that the lock file holds exactly one `tungstenite`.

use banter_protocol::frames::close_code;
use tungstenite::error::ProtocolError;

/// Why the server closes a connection after a read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailClose {
    pub code: u16,
    pub reason: &'static str,
}

/// The close to send after `error`, or `None` when the connection is
/// already gone (reset, I/O error, closed) and there is no one to tell.
pub fn close_for(error: &axum::Error) -> Option<FailClose> {
    let source = std::error::Error::source(error)?;
    let error = source.downcast_ref::<tungstenite::Error>()?;
    let (code, reason) = match error {
        tungstenite::Error::Capacity(_) => (close_code::MESSAGE_TOO_BIG, "frame exceeds the size limit"),
        tungstenite::Error::Utf8(_) => (close_code::INVALID_PAYLOAD, "text is not valid UTF-8"),
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => return None,
        tungstenite::Error::Protocol(_) => (close_code::PROTOCOL_ERROR, "WebSocket protocol violation"),
        _ => return None,
    };
    Some(FailClose { code, reason })
}

#[cfg(test)]
mod tests {
    use tungstenite::error::CapacityError;

    use super::*;

    fn close(error: tungstenite::Error) -> Option<u16> {
        close_for(&axum::Error::new(error)).map(|c| c.code)
    }

    #[test]
    fn each_kind_of_violation_gets_its_rfc_6455_code() {
        let too_big = CapacityError::MessageTooLong { size: 2, max_size: 1 };
        assert_eq!(close(tungstenite::Error::Capacity(too_big)), Some(1009));
        assert_eq!(close(tungstenite::Error::Utf8("bad".into())), Some(1007));
        assert_eq!(close(tungstenite::Error::Protocol(ProtocolError::NonZeroReservedBits)), Some(1002));
        assert_eq!(close(tungstenite::Error::Protocol(ProtocolError::UnmaskedFrameFromClient)), Some(1002));
    }

    /// With two versions locked, axum's errors would carry the other
    /// version's type and every downcast above would miss: no close code.
    #[test]
    fn the_workspace_locks_exactly_one_tungstenite() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock");
        let lock: toml::Table = std::fs::read_to_string(path).expect("Cargo.lock").parse().expect("Cargo.lock is TOML");
        let packages = lock.get("package").and_then(toml::Value::as_array).expect("packages");
        let versions: Vec<&str> = packages
            .iter()
            .filter(|p| p.get("name").and_then(toml::Value::as_str) == Some("tungstenite"))
            .filter_map(|p| p.get("version").and_then(toml::Value::as_str))
            .collect();
        assert_eq!(versions.len(), 1, "tungstenite versions locked: {versions:?} (axum's and ours must be one)");
    }

    #[test]
    fn a_vanished_peer_gets_no_close_frame() {
        assert_eq!(close(tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)), None);
        assert_eq!(close(tungstenite::Error::ConnectionClosed), None);
        assert_eq!(close(tungstenite::Error::Io(std::io::ErrorKind::BrokenPipe.into())), None);
    }
}
