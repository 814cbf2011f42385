//! Firebase Cloud Messaging, HTTP v1 API, for native Android (and iOS via
//! Firebase) apps.
//!
//! Authentication is Google's service-account flow (RFC 7523): a JWT signed
//! with the account's RSA key (RS256) is exchanged at its `token_uri` for an
//! OAuth2 access token, which is cached and reused until a minute before it
//! expires (one exchange per hour, not per push; concurrent sends wait for
//! the one exchange in flight). A 401 drops the cached token so the next
//! attempt fetches a fresh one.
//!
//! A notification is a *data* message: FCM sees only the ids, the sender's
//! and group's names, and the text preview only if the operator allowed it
//! (`include_text`), because unlike Web Push the payload is not end-to-end
//! encrypted. The app wakes, syncs, and shows the message itself.
//!
//! Answers: 200 sent; 404 or `UNREGISTERED` (and `SENDER_ID_MISMATCH`: the
//! token belongs to another project) mean the token is dead and is deleted
//! ([`PushError::Gone`]); 429 and 5xx are retried, after their
//! `Retry-After` when given; other 4xx are rejected for good.

use std::time::{Duration, Instant};

use banter_protocol::http::PushPayload;
use serde::Deserialize;
use web_push_native::jwt_simple::{
    algorithms::{RS256KeyPair, RSAKeyPairLike},
    claims::Claims,
};

use super::provider::{temporary, PushError};

/// OAuth2 scope for sending FCM messages.
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// Lifetime of the signed assertion (Google accepts at most one hour).
const ASSERTION_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// A cached access token is replaced this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Every request to Google has this deadline.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The production API.
pub const FCM_API: &str = "https://fcm.googleapis.com";

/// The fields of a Google service-account key file that FCM needs.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceAccount {
    /// The Firebase project.
    pub project_id: String,
    /// The account's identity (the assertion's `iss`).
    pub client_email: String,
    /// PEM, PKCS#8 RSA private key.
    pub private_key: String,
    /// Where assertions are exchanged for access tokens.
    pub token_uri: String,
}

/// Sends FCM data messages.
pub struct Fcm {
    account: ServiceAccount,
    key: RS256KeyPair,
    api: String,
    include_text: bool,
    http: reqwest::Client,
    token: tokio::sync::Mutex<Option<AccessToken>>,
}

#[derive(Debug, Clone)]
struct AccessToken {
    value: String,
    refresh_at: Instant,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

/// FCM's error body: `{"error": {"status": …, "details": [{"errorCode": …}]}}`.
#[derive(Deserialize, Default)]
struct ErrorAnswer {
    #[serde(default)]
    error: ErrorBody,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    status: String,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(rename = "errorCode", default)]
    error_code: String,
}

impl Fcm {
    /// A sender for `account` against `api` ([`FCM_API`] in production).
    pub fn new(account: ServiceAccount, api: &str, include_text: bool) -> Result<Fcm, String> {
        let key = RS256KeyPair::from_pem(&account.private_key)
            .map_err(|e| format!("the service account's private_key is not an RSA PEM key: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the FCM HTTP client: {e}"))?;
        Ok(Fcm { account, key, api: api.trim_end_matches('/').to_owned(), include_text, http, token: Default::default() })
    }

    /// Sends `payload` to the app instance with registration `token`.
    pub async fn send(&self, token: &str, payload: &PushPayload) -> Result<(), PushError> {
        let access = self.access_token().await?;
        let url = format!("{}/v1/projects/{}/messages:send", self.api, self.account.project_id);
        let response = self
            .http
            .post(url)
            .bearer_auth(&access)
            .json(&self.message(token, payload))
            .send()
            .await
            .map_err(|e| PushError::Temporary(format!("FCM unreachable: {e}")))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let headers = response.headers().clone();
        let body: ErrorAnswer = response.json().await.unwrap_or_default();
        let codes: Vec<&str> = body.error.details.iter().map(|d| d.error_code.as_str()).collect();
        let why = format!("FCM answered {status} {} {}", body.error.status, codes.join(","));
        if status == 404 || codes.iter().any(|c| matches!(*c, "UNREGISTERED" | "SENDER_ID_MISMATCH")) {
            return Err(PushError::Gone);
        }
        match status {
            401 => {
                // The token was revoked or expired early: fetch a new one.
                *self.token.lock().await = None;
                Err(PushError::Temporary(why))
            }
            429 | 500..=599 => Err(temporary(why, &headers)),
            _ => Err(PushError::Rejected(why)),
        }
    }

    /// The HTTP v1 message: data only (string values), high priority so a
    /// sleeping app wakes, collapsed per conversation.
    fn message(&self, token: &str, payload: &PushPayload) -> serde_json::Value {
        let mut data = serde_json::Map::new();
        data.insert("type".into(), payload.kind.clone().into());
        data.insert("conversation_id".into(), payload.conversation_id.to_string().into());
        data.insert("seq".into(), payload.seq.to_string().into());
        data.insert("sender_id".into(), payload.sender_id.to_string().into());
        data.insert("sender_name".into(), payload.sender_name.clone().into());
        if let Some(name) = &payload.conversation_name {
            data.insert("conversation_name".into(), name.clone().into());
        }
        if self.include_text {
            data.insert("preview".into(), payload.preview.clone().into());
        }
        data.insert("server_ts".into(), payload.server_ts.to_string().into());
        serde_json::json!({
            "message": {
                "token": token,
                "data": data,
                "android": { "priority": "high", "collapse_key": format!("conversation-{}", payload.conversation_id) },
            }
        })
    }

    /// The cached access token, or a new one from the token endpoint.
    async fn access_token(&self) -> Result<String, PushError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(token.value.clone());
        }
        let claims = Claims::with_custom_claims(serde_json::json!({ "scope": SCOPE }), ASSERTION_LIFETIME.into())
            .with_issuer(&self.account.client_email)
            .with_audience(&self.account.token_uri);
        let assertion = self.key.sign(claims).map_err(|e| PushError::Rejected(format!("cannot sign the FCM assertion: {e}")))?;
        let response = self
            .http
            .post(&self.account.token_uri)
            .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())])
            .send()
            .await
            .map_err(|e| PushError::Temporary(format!("Google's token endpoint unreachable: {e}")))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let why = format!("Google's token endpoint answered {status}");
            // 400/401 here: a revoked or wrong key; retrying will not help
            // until the operator fixes it, but the next job tries again.
            return Err(if status == 429 || status >= 500 { temporary(why, response.headers()) } else { PushError::Rejected(why) });
        }
        let answer: TokenAnswer =
            response.json().await.map_err(|e| PushError::Temporary(format!("unreadable token answer: {e}")))?;
        let lifetime = Duration::from_secs(answer.expires_in).saturating_sub(REFRESH_MARGIN);
        let token = AccessToken { value: answer.access_token, refresh_at: Instant::now() + lifetime };
        *cached = Some(token.clone());
        Ok(token.value)
    }
}
