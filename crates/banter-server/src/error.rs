//! The one place where internal errors become wire errors: [`ApiError`]
//! carries a stable [`ErrorCode`] and a human message, and answers HTTP
//! requests with the matching status and an [`ErrorBody`]. A `rate_limited`
//! error also says when to retry (`Retry-After`, whole seconds).

use std::time::Duration;

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use banter_protocol::{limits::Invalid, ErrorBody, ErrorCode};
use banter_store::StoreError;

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// How long until the request may succeed (rate limits): sent as
    /// `Retry-After` in whole seconds, rounded up.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), retry_after: None }
    }

    /// `429 rate_limited`, retry after `wait`. The message says what was
    /// limited and when to come back.
    pub fn rate_limited(what: &str, wait: Duration) -> Self {
        let seconds = retry_after_seconds(wait);
        ApiError {
            code: ErrorCode::RateLimited,
            message: format!("{what}; try again in {seconds} s"),
            retry_after: Some(wait),
        }
    }

    pub fn unauthorized() -> Self {
        ApiError::new(ErrorCode::Unauthorized, "missing, unknown or revoked token")
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidRequest, message)
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody { code: self.code, message: self.message.clone() }
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        ApiError::new(invalid.code, invalid.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        let code = match &err {
            StoreError::UsernameTaken => ErrorCode::UsernameTaken,
            StoreError::UserNotFound => ErrorCode::UserNotFound,
            StoreError::DeviceNotFound => ErrorCode::DeviceNotFound,
            StoreError::ConversationNotFound => ErrorCode::ConversationNotFound,
            StoreError::MessageNotFound => ErrorCode::MessageNotFound,
            StoreError::NotAMember => ErrorCode::NotAMember,
            StoreError::NotAdmin => ErrorCode::Forbidden,
            StoreError::GroupFull { .. } => ErrorCode::GroupFull,
            StoreError::InvalidConversation(_) => ErrorCode::InvalidConversation,
            StoreError::AlreadyMember(_) => ErrorCode::AlreadyMember,
            StoreError::ClientMsgIdReused => ErrorCode::ClientMsgIdReused,
            StoreError::InvalidReply => ErrorCode::InvalidReply,
            StoreError::NotYourMessage => ErrorCode::NotYourMessage,
            StoreError::MessageDeleted => ErrorCode::MessageDeleted,
            StoreError::EditWindowClosed(_) => ErrorCode::EditWindowClosed,
            StoreError::TooManyEdits(_) => ErrorCode::TooManyEdits,
            StoreError::Blocked => ErrorCode::Blocked,
            StoreError::BlockingYourself => ErrorCode::CannotBlockYourself,
            StoreError::TooManyBlocks { .. } => ErrorCode::TooManyBlocks,
            StoreError::PushEndpointTaken => ErrorCode::PushEndpointTaken,
            StoreError::TooManyPushSubscriptions { .. } => ErrorCode::TooManyPushSubscriptions,
            StoreError::Unavailable(detail) => {
                tracing::error!(%detail, "storage unavailable");
                return ApiError::new(ErrorCode::StorageUnavailable, "storage is unavailable; nothing was stored, retry later");
            }
            StoreError::CommitUnknown(detail) => {
                tracing::error!(%detail, "storage failed during a commit");
                return ApiError::new(
                    ErrorCode::StorageUnavailable,
                    "storage failed while committing; this may have been stored: retry with the same client_msg_id",
                );
            }
        };
        ApiError::new(code, err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.body())).into_response();
        if let Some(wait) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds(wait)));
        }
        response
    }
}

/// `Retry-After` counts whole seconds: round up, and never say 0 (a client
/// retrying at once would be refused again).
fn retry_after_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// Result alias for handlers and services.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_never_zero() {
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_seconds(Duration::from_millis(2001)), 3);
    }

    #[test]
    fn a_rate_limited_answer_carries_retry_after() {
        let response = ApiError::rate_limited("too many lookups", Duration::from_millis(1500)).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("2"));
        let other = ApiError::invalid_request("nope").into_response();
        assert!(other.headers().get(header::RETRY_AFTER).is_none());
    }
}
