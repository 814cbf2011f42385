//! The one place where internal errors become wire errors: [`ApiError`]
//! carries a stable [`ErrorCode`] and a human message, and answers HTTP
//! requests with the matching status and an [`ErrorBody`].

use axum::{
    http::StatusCode,
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
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into() }
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
            StoreError::Unavailable(detail) => {
                tracing::error!(%detail, "storage unavailable");
                return ApiError::new(ErrorCode::StorageUnavailable, "storage is unavailable; nothing was stored, retry later");
            }
        };
        ApiError::new(code, err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.body())).into_response()
    }
}

/// Result alias for handlers and services.
pub type ApiResult<T> = Result<T, ApiError>;
