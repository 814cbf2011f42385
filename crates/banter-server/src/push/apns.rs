//! The Apple Push Notification service, for native iOS apps.
//!
//! APNs speaks HTTP/2 only: the client is built with prior knowledge of
//! HTTP/2 (over TLS in production, where ALPN agrees on `h2` too), and one
//! connection carries every request concurrently. Authentication is a
//! provider token: an ES256 JWT (`kid` = the key's id, `iss` = the team,
//! `iat`) signed with the team's `.p8` key. Apple refuses tokens older than
//! an hour and throttles ones renewed more than once per 20 minutes, so the
//! token is made once and reused for [`TOKEN_REUSE`] (40 minutes).
//!
//! Each request carries `apns-topic` (the app's bundle id),
//! `apns-push-type: alert`, priority 10, an expiry a day ahead, and
//! `apns-collapse-id` per conversation, so a phone that was offline shows
//! one notification per chat, not one per message. The alert shows the
//! sender (and group); the text preview only if the operator allowed it
//! (`include_text`: the payload passes through Apple unencrypted);
//! `mutable-content` lets the app's notification extension fetch and show
//! the message itself.
//!
//! Answers: 200 sent; 410 (`Unregistered`) and 400 `BadDeviceToken` /
//! `DeviceTokenNotForTopic` mean the token is dead and is deleted; 403
//! `ExpiredProviderToken` drops the cached token and retries; 429 and 5xx
//! are retried, after their `Retry-After` when given; other answers are
//! rejected for good.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use banter_protocol::http::PushPayload;
use serde::Deserialize;
use web_push_native::jwt_simple::{
    algorithms::{ECDSAP256KeyPairLike, ES256KeyPair},
    claims::Claims,
};

use super::provider::{temporary, PushError};

/// How long one provider token is used (Apple: at most 60, at least 20).
pub const TOKEN_REUSE: Duration = Duration::from_secs(40 * 60);
/// How long APNs keeps a notification for a device that is off.
const EXPIRY: Duration = Duration::from_secs(24 * 60 * 60);
/// Every request has this deadline.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Production; `https://api.sandbox.push.apple.com` for development builds.
pub const APNS_API: &str = "https://api.push.apple.com";

/// What identifies the sender to Apple.
#[derive(Debug, Clone)]
pub struct ApnsCredentials {
    /// The `.p8` key's contents (PEM, PKCS#8 P-256).
    pub key_pem: String,
    /// Its 10-character key id (`kid`).
    pub key_id: String,
    /// The team id (`iss`).
    pub team_id: String,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
}

/// Sends APNs alerts.
pub struct Apns {
    credentials: ApnsCredentials,
    key: ES256KeyPair,
    api: String,
    include_text: bool,
    http: reqwest::Client,
    token: std::sync::Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize, Default)]
struct Reason {
    #[serde(default)]
    reason: String,
}

impl Apns {
    /// A sender against `api` ([`APNS_API`] in production).
    pub fn new(credentials: ApnsCredentials, api: &str, include_text: bool) -> Result<Apns, String> {
        let key = ES256KeyPair::from_pem(&credentials.key_pem)
            .map_err(|e| format!("the APNs key is not a P-256 PEM key (.p8): {e}"))?
            .with_key_id(&credentials.key_id);
        let http = reqwest::Client::builder()
            .http2_prior_knowledge()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the APNs HTTP client: {e}"))?;
        Ok(Apns { credentials, key, api: api.trim_end_matches('/').to_owned(), include_text, http, token: Default::default() })
    }

    /// Sends `payload` to the device with this APNs `token` (hex).
    pub async fn send(&self, device_token: &str, payload: &PushPayload) -> Result<(), PushError> {
        if device_token.is_empty() || !device_token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(PushError::Gone);
        }
        let bearer = self.provider_token()?;
        let expiry = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + EXPIRY;
        let response = self
            .http
            .post(format!("{}/3/device/{device_token}", self.api))
            .bearer_auth(bearer)
            .header("apns-topic", &self.credentials.topic)
            .header("apns-push-type", "alert")
            .header("apns-priority", "10")
            .header("apns-expiration", expiry.as_secs().to_string())
            .header("apns-collapse-id", format!("conversation-{}", payload.conversation_id))
            .json(&self.body(payload))
            .send()
            .await
            .map_err(|e| PushError::Temporary(format!("APNs unreachable: {e}")))?;
        let status = response.status().as_u16();
        if status == 200 {
            return Ok(());
        }
        let headers = response.headers().clone();
        let reason = response.json::<Reason>().await.unwrap_or_default().reason;
        let why = format!("APNs answered {status} {reason}");
        match (status, reason.as_str()) {
            (410, _) | (400, "BadDeviceToken" | "DeviceTokenNotForTopic") => Err(PushError::Gone),
            (403, "ExpiredProviderToken") => {
                *self.lock_token() = None;
                Err(PushError::Temporary(why))
            }
            (429 | 500..=599, _) => Err(temporary(why, &headers)),
            _ => Err(PushError::Rejected(why)),
        }
    }

    fn body(&self, payload: &PushPayload) -> serde_json::Value {
        let title = match &payload.conversation_name {
            Some(group) => format!("{} in {group}", payload.sender_name),
            None => payload.sender_name.clone(),
        };
        let body = if self.include_text { payload.preview.clone() } else { "New message".to_owned() };
        serde_json::json!({
            "aps": {
                "alert": { "title": title, "body": body },
                "sound": "default",
                "thread-id": format!("conversation-{}", payload.conversation_id),
                "mutable-content": 1,
            },
            "banter": {
                "conversation_id": payload.conversation_id,
                "seq": payload.seq,
                "sender_id": payload.sender_id,
                "server_ts": payload.server_ts,
            },
        })
    }

    /// The provider token in use, or a new one once it is [`TOKEN_REUSE`] old.
    fn provider_token(&self) -> Result<String, PushError> {
        let mut cached = self.lock_token();
        if let Some((token, made)) = cached.as_ref() {
            if made.elapsed() < TOKEN_REUSE {
                return Ok(token.clone());
            }
        }
        // `exp` is not Apple's (it checks `iat`); the JWT library sets one
        // an hour ahead, matching Apple's limit.
        let claims = Claims::create(Duration::from_secs(60 * 60).into()).with_issuer(&self.credentials.team_id);
        let token = self.key.sign(claims).map_err(|e| PushError::Rejected(format!("cannot sign the APNs token: {e}")))?;
        *cached = Some((token.clone(), Instant::now()));
        Ok(token)
    }

    fn lock_token(&self) -> std::sync::MutexGuard<'_, Option<(String, Instant)>> {
        // A poisoned lock only means a panic while replacing a string.
        self.token.lock().unwrap_or_else(|e| e.into_inner())
    }
}
