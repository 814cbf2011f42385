//! Credentials: argon2id password hashes and opaque device tokens.
//!
//! * Passwords are hashed with argon2id (OWASP baseline: 19 MiB, t=2, p=1) on
//!   the blocking pool, behind a semaphore so a burst of logins cannot take
//!   every core or unbounded memory.
//! * A device token is 256 random bits, base64url. Only its SHA-256 is stored:
//!   a leaked database does not leak sessions, and since the token has full
//!   entropy a fast hash is enough.
//! * [`Authenticated`] is the axum extractor that turns `Authorization:
//!   Bearer <token>` into the calling user and device, refusing tokens whose
//!   session ended ([`crate::sessions`]).

use std::sync::Arc;

use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use axum::{extract::FromRequestParts, http::request::Parts};
use banter_protocol::{DeviceId, ErrorCode, User};
use banter_store::StoreError;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::{rngs::OsRng, RngCore};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::{
    error::ApiError,
    state::{now_ms, AppState},
};

/// Hashes and verifies passwords with bounded concurrency.
pub struct PasswordHashing {
    permits: Semaphore,
    /// A real hash of a throwaway password, made on first use.
    dummy_hash: tokio::sync::OnceCell<String>,
}

impl PasswordHashing {
    pub fn new(max_concurrent: usize) -> Self {
        PasswordHashing { permits: Semaphore::new(max_concurrent.max(1)), dummy_hash: tokio::sync::OnceCell::new() }
    }

    fn argon2() -> Argon2<'static> {
        // Params::new only fails on out-of-range constants; these are the
        // OWASP-recommended values and are in range.
        let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) for `password`.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let _permit = self.permits.acquire().await.map_err(|_| internal("hasher closed"))?;
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            Self::argon2().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
        })
        .await
        .map_err(|_| internal("hash task failed"))?
        .map_err(|_| internal("hashing failed"))
    }

    /// Whether `password` matches the stored PHC string.
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, ApiError> {
        let _permit = self.permits.acquire().await.map_err(|_| internal("hasher closed"))?;
        tokio::task::spawn_blocking(move || match PasswordHash::new(&phc) {
            Ok(parsed) => Self::argon2().verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(_) => false,
        })
        .await
        .map_err(|_| internal("verify task failed"))
    }

    /// Burns the same time as a real verification, so that "no such user" and
    /// "wrong password" cannot be told apart by timing.
    pub async fn verify_dummy(&self, password: String) -> Result<(), ApiError> {
        let phc = self.dummy_hash.get_or_try_init(|| self.hash("banter dummy password".to_string())).await?;
        self.verify(password, phc.clone()).await.map(|_| ())
    }
}

fn internal(what: &str) -> ApiError {
    tracing::error!(what, "password hashing failure");
    ApiError::new(ErrorCode::Internal, "internal error")
}

/// A fresh random device token (256 bits, base64url without padding).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database stores for a token.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The bearer token of a request, if it carries one.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?;
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// The user and device a request is authenticated as.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: User,
    pub device_id: DeviceId,
}

impl Authenticated {
    /// Looks a token up: `unauthorized` if it is unknown or revoked,
    /// `session_expired` if its session ended (see [`crate::sessions`]); an
    /// expired device is removed on the spot, with its push subscriptions.
    /// Notes the use for the device's last-used time.
    pub async fn from_token(state: &AppState, token: &str) -> Result<Self, ApiError> {
        // Real tokens are 43 characters; refuse absurd input before hashing.
        if token.len() > 256 {
            return Err(ApiError::unauthorized());
        }
        let device = state.store.device_by_token_hash(&token_hash(token)).await?.ok_or_else(ApiError::unauthorized)?;
        let now = now_ms();
        if state.sessions.policy.is_expired(device.created_at, device.last_active_at, now) {
            match state.store.revoke_device(device.user.id, device.device_id).await {
                Ok(()) | Err(StoreError::DeviceNotFound) => state.router.revoke_device(device.user.id, device.device_id),
                Err(e) => tracing::warn!(error = %e, device = device.device_id, "could not remove an expired session"),
            }
            return Err(ApiError::new(ErrorCode::SessionExpired, "this session has expired; log in again"));
        }
        state.sessions.note_use(device.device_id, device.last_active_at, now);
        Ok(Authenticated { user: device.user, device_id: device.device_id })
    }
}

impl FromRequestParts<Arc<AppState>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        // Already looked up by the per-account limits (http::account_limits).
        if let Some(auth) = parts.extensions.get::<Authenticated>() {
            return Ok(auth.clone());
        }
        let token = bearer_token(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        Authenticated::from_token(state, token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_verifies_against_its_own_hash_only() {
        let hashing = PasswordHashing::new(1);
        let phc = hashing.hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hashing.verify("correct horse".into(), phc.clone()).await.unwrap());
        assert!(!hashing.verify("wrong horse".into(), phc).await.unwrap());
        assert!(!hashing.verify("x".into(), "not a phc string".into()).await.unwrap());
    }

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 32);
        assert_ne!(token_hash(&a), a.as_bytes());
    }
}
