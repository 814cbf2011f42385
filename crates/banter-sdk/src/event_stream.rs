//! The fallback transport, for networks whose proxies refuse WebSocket
//! upgrades (docs/PROTOCOL.md, "Fallback transport"): the server's frames
//! arrive on an event stream (`GET /api/v1/events`, `text/event-stream`),
//! and the client's go up as POSTs to `/api/v1/events/{stream_id}`, one at
//! a time so they stay in order. [`crate::Connection`] uses it behind the
//! same methods as a WebSocket ([`crate::ConnectOptions::transport`]).

use std::time::Duration;

use bytes::BytesMut;
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};
use url::Url;

use crate::error::{snippet, SdkError};
use crate::http::api_url;

/// The largest event the client accepts (a server frame is at most 1 MiB;
/// JSON escapes can make its text a little longer).
const MAX_EVENT_BYTES: usize = 2 * 1024 * 1024;

/// One event of the stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// A server frame (its JSON text).
    Frame(String),
    /// The server closed the connection, with a close code and reason.
    Close { code: u16, reason: String },
    /// The stream ended without a `close` event.
    End,
}

/// An open event stream and where to POST frames.
pub(crate) struct EventStream {
    client: reqwest::Client,
    response: reqwest::Response,
    post_url: Url,
    headers: reqwest::header::HeaderMap,
    pending: BytesMut,
    request_timeout: Duration,
}

impl EventStream {
    /// Opens the stream and reads its first event, which names it.
    pub(crate) async fn open(
        base_url: &str,
        token: Option<&str>,
        extra_headers: &[(String, String)],
        request_timeout: Duration,
        local_addr: Option<std::net::IpAddr>,
    ) -> Result<EventStream, SdkError> {
        let base = Url::parse(base_url)
            .map_err(|e| SdkError::Config(format!("invalid base URL {base_url:?}: {e}")))?;
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = token {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| SdkError::Config("the token is not a valid header value".into()))?;
            headers.insert(AUTHORIZATION, value);
        }
        for (name, value) in extra_headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| SdkError::Config(format!("invalid header name {name:?}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| SdkError::Config(format!("invalid value for header {name}")))?;
            headers.insert(name, value);
        }
        // No overall timeout on this client: the stream lives as long as the
        // connection. POSTs get `request_timeout` each.
        let client = reqwest::Client::builder().tcp_nodelay(true).local_address(local_addr).build()?;
        let response = client
            .get(api_url(&base, &["events"]))
            .headers(headers.clone())
            .header("accept", "text/event-stream")
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.bytes().await.unwrap_or_default();
            return Err(SdkError::from_response(status.as_u16(), &body));
        }
        let mut stream = EventStream {
            client,
            response,
            post_url: base,
            headers,
            pending: BytesMut::new(),
            request_timeout,
        };
        let stream_id = match stream.next_raw().await? {
            Some((Some(name), data)) if name == "stream" => {
                let value: serde_json::Value = serde_json::from_str(&data).map_err(|e| {
                    SdkError::Protocol(format!("invalid stream event ({e}): {}", snippet(data.as_bytes())))
                })?;
                value
                    .get("stream_id")
                    .and_then(|id| id.as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| SdkError::Protocol("the stream event has no stream_id".into()))?
            }
            other => {
                return Err(SdkError::Protocol(format!(
                    "expected the stream event first, got {other:?}"
                )))
            }
        };
        stream.post_url = api_url(&stream.post_url, &["events", &stream_id]);
        Ok(stream)
    }

    /// The next event; cancel-safe (what was read stays in the buffer).
    pub(crate) async fn next_event(&mut self) -> Result<Event, SdkError> {
        loop {
            match self.next_raw().await? {
                None => return Ok(Event::End),
                Some((None, data)) => return Ok(Event::Frame(data)),
                Some((Some(name), data)) if name == "close" => {
                    let value: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
                    let code = value.get("code").and_then(|c| c.as_u64()).and_then(|c| u16::try_from(c).ok());
                    let reason = value.get("reason").and_then(|r| r.as_str()).unwrap_or_default().to_owned();
                    return Ok(Event::Close { code: code.unwrap_or(1006), reason });
                }
                // An event this client does not know: skipped.
                Some(_) => {}
            }
        }
    }

    /// Hands frames (one JSON text each) to the server, in order.
    pub(crate) async fn post(&self, frames: &[String]) -> Result<(), SdkError> {
        let body = frames.join("\n");
        let response = self
            .client
            .post(self.post_url.clone())
            .headers(self.headers.clone())
            .header("content-type", "application/x-ndjson")
            .timeout(self.request_timeout)
            .body(body)
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(SdkError::from_response(status.as_u16(), &body))
    }

    /// The next event as (name, data), or `None` at the end of the stream.
    async fn next_raw(&mut self) -> Result<Option<(Option<String>, String)>, SdkError> {
        loop {
            if let Some(event) = take_event(&mut self.pending)? {
                return Ok(Some(event));
            }
            if self.pending.len() > MAX_EVENT_BYTES {
                return Err(SdkError::Protocol(format!(
                    "an event of more than {MAX_EVENT_BYTES} bytes"
                )));
            }
            match self.response.chunk().await? {
                Some(chunk) => self.pending.extend_from_slice(&chunk),
                None => return Ok(None),
            }
        }
    }
}

/// Takes one whole event (up to its blank line) off the front of `pending`:
/// its `event:` name and its `data:` lines joined with newlines. Comments
/// (`:`) and other fields are skipped; an event without data is skipped.
fn take_event(pending: &mut BytesMut) -> Result<Option<(Option<String>, String)>, SdkError> {
    loop {
        let Some(end) = pending.windows(2).position(|w| w == b"\n\n") else {
            return Ok(None);
        };
        let block = pending.split_to(end + 2);
        let text = std::str::from_utf8(&block[..end])
            .map_err(|_| SdkError::Protocol("the event stream is not UTF-8".into()))?;
        let mut name = None;
        let mut data: Option<String> = None;
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => name = Some(value.to_owned()),
                "data" => match &mut data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => data = Some(value.to_owned()),
                },
                _ => {}
            }
        }
        if let Some(data) = data {
            return Ok(Some((name, data)));
        }
        // A comment-only block: skipped (`pending` is already past it).
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_cut_at_blank_lines_named_and_joined() {
        let mut pending = BytesMut::from(
            &b"event: stream\ndata: {\"stream_id\":\"x\"}\n\n: keep-alive\n\ndata: a\ndata: b\n\ndata: {\"type\":"[..],
        );
        assert_eq!(
            take_event(&mut pending).unwrap(),
            Some((Some("stream".into()), "{\"stream_id\":\"x\"}".into()))
        );
        assert_eq!(take_event(&mut pending).unwrap(), Some((None, "a\nb".into())));
        // The rest is not a whole event yet.
        assert_eq!(take_event(&mut pending).unwrap(), None);
        pending.extend_from_slice(b"\"pong\"}\n\n");
        assert_eq!(take_event(&mut pending).unwrap(), Some((None, "{\"type\":\"pong\"}".into())));
    }
}
