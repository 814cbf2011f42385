//! Origin check for the WebSocket handshake (cross-site WebSocket hijacking).
//!
//! A browser always sends `Origin`; a page on another site must not be able
//! to open a socket with the user's credentials. Allowed: no Origin header
//! (native clients, which hold their own token), the server's own origin
//! (Origin's host equals the Host header), and configured origins.

use axum::http::{header, HeaderMap};
use banter_protocol::ErrorCode;

use crate::error::ApiError;

pub fn check(headers: &HeaderMap, allowed: &[String]) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let refuse = || ApiError::new(ErrorCode::OriginNotAllowed, "this Origin may not open a WebSocket here");
    let origin = origin.to_str().map_err(|_| refuse())?.trim_end_matches('/');
    if allowed.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        return Ok(());
    }
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).ok_or_else(refuse)?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).ok_or_else(refuse)?;
    if origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(refuse())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn same_origin_and_native_clients_are_allowed() {
        assert!(check(&headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"), &[]).is_ok());
        assert!(check(&headers(None, "127.0.0.1:8080"), &[]).is_ok());
    }

    #[test]
    fn a_foreign_origin_is_refused_unless_configured() {
        let h = headers(Some("https://evil.example"), "chat.example.com");
        assert_eq!(check(&h, &[]).unwrap_err().code, ErrorCode::OriginNotAllowed);
        assert!(check(&h, &["https://evil.example".to_string()]).is_ok());
        assert!(check(&headers(Some("null"), "chat.example.com"), &[]).is_err());
    }
}
