//! The seam between "notify this subscription" and a concrete push service.

use async_trait::async_trait;
use banter_protocol::http::PushPayload;
use banter_store::PushSubscriptionRecord;

/// How a push attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The subscription no longer exists (HTTP 404/410): delete it.
    #[error("subscription is gone")]
    Gone,
    /// Worth retrying later (network error, 429, 5xx).
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Worth retrying, but not before the service's `Retry-After` (429,
    /// 503): the dispatcher waits this long or its own backoff, whichever
    /// is longer, and never more than [`MAX_RETRY_AFTER`].
    #[error("throttled for {retry_after:?}: {why}")]
    Throttled { why: String, retry_after: std::time::Duration },
    /// The push service refused this request for good (e.g. 400, 413).
    #[error("rejected: {0}")]
    Rejected(String),
}

/// The longest `Retry-After` the dispatcher honours: a service asking for
/// more is retried after this (or the attempt is given up, as any other).
pub const MAX_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// `Retry-After` as seconds or an HTTP date (RFC 9110 10.2.3); None if
/// absent or unreadable.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<std::time::Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(std::time::Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or_default())
}

/// The error for a temporary refusal: [`PushError::Throttled`] when the
/// service said how long to wait.
pub fn temporary(why: String, headers: &reqwest::header::HeaderMap) -> PushError {
    match retry_after(headers) {
        Some(retry_after) => PushError::Throttled { why, retry_after },
        None => PushError::Temporary(why),
    }
}

/// Delivers one notification to one subscription.
///
/// [`WebPush`](super::web_push::WebPush) implements RFC 8030/8291/8292 for
/// browsers. The native services' clients are [`Apns`](super::apns::Apns)
/// (HTTP/2, a provider JWT signed by the team's p8 key) and
/// [`Fcm`](super::fcm::Fcm) (HTTP v1 API, a service-account OAuth token);
/// each maps the service's "unregistered device" answer to
/// [`PushError::Gone`]. The dispatcher holds
/// [`Providers`](super::native::Providers), which picks one of them by the
/// subscription's kind.
#[async_trait]
pub trait PushProvider: Send + Sync + 'static {
    /// Sends `payload`, encoded (and, for Web Push, encrypted) as the
    /// service's protocol requires.
    async fn send(&self, subscription: &PushSubscriptionRecord, payload: &PushPayload) -> Result<(), PushError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(retry_after(&headers("120")), Some(std::time::Duration::from_secs(120)));
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(300);
        let waited = retry_after(&headers(&httpdate::fmt_http_date(later))).unwrap();
        assert!(waited > std::time::Duration::from_secs(290) && waited <= std::time::Duration::from_secs(300), "{waited:?}");
        assert_eq!(retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")), Some(std::time::Duration::ZERO), "a past date: now");
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
        assert!(matches!(temporary("x".into(), &headers("5")), PushError::Throttled { .. }));
        assert!(matches!(temporary("x".into(), &HeaderMap::new()), PushError::Temporary(_)));
    }
}
