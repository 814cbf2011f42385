//! The one error type of the SDK.
//!
//! Errors the *server* reports (an HTTP error body, or a WebSocket `error`
//! frame answering a request) become [`SdkError::Api`] and carry the stable
//! [`ErrorCode`]; use [`SdkError::code`] to branch on it. Everything else is a
//! transport, protocol or usage problem.

use banter_protocol::{ErrorBody, ErrorCode};
use tokio_tungstenite::tungstenite;

/// Everything that can go wrong in an SDK call.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The server refused the request with an error code.
    ///
    /// Over HTTP, `status` is the response status and `code`/`message` come
    /// from the JSON [`ErrorBody`]. For a WebSocket `error` frame (e.g. the
    /// answer to a `send`), `status` is the code's nominal HTTP status
    /// ([`ErrorCode::http_status`]), since frames carry none.
    #[error("server refused the request ({status} {code}): {message}")]
    Api {
        /// The HTTP status (or the code's nominal one, for a frame).
        status: u16,
        /// The server's stable error code.
        code: ErrorCode,
        /// The server's explanation, for people.
        message: String,
    },
    /// The server answered with a non-2xx status whose body is not a JSON
    /// [`ErrorBody`] (e.g. a proxy error page). `body` is the start of it.
    #[error("unexpected HTTP status {status}: {body}")]
    UnexpectedStatus {
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The HTTP request failed: connection refused, timeout, TLS, ...
    #[error("HTTP transport error: {0}")]
    Http(#[from] reqwest::Error),
    /// The WebSocket failed at the transport or framing level.
    #[error("WebSocket error: {0}")]
    WebSocket(Box<tungstenite::Error>),
    /// The WebSocket is closed. `code` is the close code the server sent (see
    /// [`banter_protocol::frames::close_code`]); `None` when the connection
    /// ended without a close frame.
    #[error("connection closed (code {code:?}): {reason}")]
    Closed {
        /// The close code, if the server sent a close frame.
        code: Option<u16>,
        /// The close reason, or how the connection ended.
        reason: String,
    },
    /// The server sent something the protocol does not allow here: a frame
    /// that is not valid JSON, a binary frame, a missing `hello`, a success
    /// body that does not match the expected type, ...
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// No answer arrived in time.
    #[error("timed out waiting for the server")]
    Timeout,
    /// The SDK was used wrongly: an invalid base URL, a call that needs a
    /// token on a client without one, a token that is not a valid header.
    #[error("invalid SDK usage: {0}")]
    Config(String),
    /// A [`ReconnectingClient`](crate::ReconnectingClient) already holds
    /// `limit` messages waiting for their ack: wait for the connection.
    #[error("{limit} messages are already waiting for the server")]
    OutboxFull {
        /// [`ReconnectOptions::outbox_limit`](crate::ReconnectOptions::outbox_limit).
        limit: usize,
    },
}

impl SdkError {
    /// The server's error code, for [`SdkError::Api`]; `None` otherwise.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            SdkError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The HTTP status, for [`SdkError::Api`] and [`SdkError::UnexpectedStatus`]
    /// (and for transport errors that carry one).
    pub fn status(&self) -> Option<u16> {
        match self {
            SdkError::Api { status, .. } | SdkError::UnexpectedStatus { status, .. } => {
                Some(*status)
            }
            SdkError::Http(e) => e.status().map(|s| s.as_u16()),
            _ => None,
        }
    }

    /// The close code, for [`SdkError::Closed`].
    pub fn close_code(&self) -> Option<u16> {
        match self {
            SdkError::Closed { code, .. } => *code,
            _ => None,
        }
    }

    /// True for [`SdkError::Closed`]: the connection is gone; reconnect and sync.
    pub fn is_closed(&self) -> bool {
        matches!(self, SdkError::Closed { .. })
    }

    /// Builds the error for a non-2xx response from its status and body.
    pub(crate) fn from_response(status: u16, body: &[u8]) -> SdkError {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(ErrorBody { code, message }) => SdkError::Api {
                status,
                code,
                message,
            },
            Err(_) => SdkError::UnexpectedStatus {
                status,
                body: snippet(body),
            },
        }
    }

    /// Builds the error for a WebSocket `error` frame.
    pub(crate) fn from_frame(code: ErrorCode, message: String) -> SdkError {
        SdkError::Api {
            status: code.http_status(),
            code,
            message,
        }
    }
}

impl From<tungstenite::Error> for SdkError {
    fn from(e: tungstenite::Error) -> Self {
        SdkError::WebSocket(Box::new(e))
    }
}

/// At most the first 512 bytes of a body, lossily decoded, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    const MAX: usize = 512;
    let cut = &body[..body.len().min(MAX)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if body.len() > MAX {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_api_errors() {
        let e = SdkError::from_response(409, br#"{"code":"username_taken","message":"taken"}"#);
        assert_eq!(e.code(), Some(ErrorCode::UsernameTaken));
        assert_eq!(e.status(), Some(409));
    }

    #[test]
    fn other_bodies_are_kept_as_text() {
        let e = SdkError::from_response(502, b"Bad Gateway");
        assert_eq!(e.code(), None);
        assert_eq!(e.status(), Some(502));
        assert!(e.to_string().contains("Bad Gateway"));
    }

    #[test]
    fn frame_errors_take_the_nominal_status() {
        let e = SdkError::from_frame(ErrorCode::MessageTooLong, "too long".into());
        assert_eq!(e.status(), Some(400));
        assert_eq!(e.code(), Some(ErrorCode::MessageTooLong));
    }
}
