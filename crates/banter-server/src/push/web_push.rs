//! Web Push (RFC 8030) with aes128gcm payload encryption (RFC 8291) and VAPID
//! (RFC 8292), via `web-push-native`; requests go out with `reqwest`.

use std::time::Duration;

use async_trait::async_trait;
use banter_protocol::http::PushPayload;
use banter_store::{PushSubscriptionRecord, PushTarget};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use web_push_native::{
    jwt_simple::{
        algorithms::{ECDSAP256KeyPairLike, ECDSAP256PublicKeyLike, ES256KeyPair},
        claims::Claims,
    },
    p256::PublicKey,
    Auth, WebPushBuilder,
};

use super::provider::{temporary, PushError, PushProvider};

/// How long a push service should keep an undelivered notification.
const MESSAGE_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Lifetime of a VAPID token (RFC 8292 allows at most 24 hours).
const VAPID_TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// A push service that does not answer in this time is retried later.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends Web Push notifications signed with the server's VAPID key.
pub struct WebPush {
    vapid: ES256KeyPair,
    contact: String,
    http: reqwest::Client,
}

impl WebPush {
    /// A sender whose HTTP client never follows redirects: an endpoint is
    /// checked against the allowed hosts, and a redirect could lead anywhere
    /// (SSRF). There is no fallback client; if this one cannot be built the
    /// server does not start.
    pub fn new(vapid: ES256KeyPair, contact: String) -> Result<WebPush, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(WebPush { vapid, contact, http })
    }

    fn request(&self, subscription: &PushSubscriptionRecord, payload: &[u8]) -> Result<axum::http::Request<Vec<u8>>, PushError> {
        let PushTarget::Web { endpoint: url, p256dh, auth } = &subscription.target else {
            return Err(PushError::Rejected("not a Web Push subscription".into()));
        };
        let (endpoint, keys, auth) = decode_subscription(url, p256dh, auth).map_err(PushError::Rejected)?;
        let mut request = WebPushBuilder::new(endpoint, keys, auth)
            .with_valid_duration(MESSAGE_TTL)
            .build(payload.to_vec())
            .map_err(|e| PushError::Rejected(format!("cannot encrypt the push payload: {e}")))?;
        let authorization = self.vapid_authorization(url)?;
        let value = axum::http::HeaderValue::try_from(authorization)
            .map_err(|_| PushError::Rejected("VAPID header is not a valid header value".into()))?;
        request.headers_mut().insert(axum::http::header::AUTHORIZATION, value);
        Ok(request)
    }

    /// `vapid t=<JWT>, k=<public key>` (RFC 8292). The audience is the push
    /// resource's origin, port included when it is not the default (the
    /// `web-push-native` signer leaves the port out, so we sign ourselves).
    fn vapid_authorization(&self, endpoint: &str) -> Result<String, PushError> {
        let url = url::Url::parse(endpoint).map_err(|_| PushError::Rejected("endpoint is not a valid URL".into()))?;
        let claims = Claims::create(VAPID_TOKEN_LIFETIME.into())
            .with_audience(url.origin().ascii_serialization())
            .with_subject(&self.contact);
        let token = self.vapid.sign(claims).map_err(|e| PushError::Rejected(format!("cannot sign VAPID token: {e}")))?;
        let key = URL_SAFE_NO_PAD.encode(self.vapid.public_key().public_key().to_bytes_uncompressed());
        Ok(format!("vapid t={token}, k={key}"))
    }
}

/// Parses the parts of a subscription as the push encryption needs them.
/// The error says what is wrong, for the API's answer.
pub fn decode_subscription(endpoint: &str, p256dh: &str, auth: &str) -> Result<(axum::http::Uri, PublicKey, Auth), String> {
    let endpoint: axum::http::Uri = endpoint.parse().map_err(|_| "endpoint is not a valid URL".to_owned())?;
    let key = URL_SAFE_NO_PAD
        .decode(p256dh.trim_end_matches('='))
        .map_err(|_| "keys.p256dh is not base64url".to_owned())?;
    let key = PublicKey::from_sec1_bytes(&key).map_err(|_| "keys.p256dh is not a P-256 public key".to_owned())?;
    let auth = URL_SAFE_NO_PAD.decode(auth.trim_end_matches('=')).map_err(|_| "keys.auth is not base64url".to_owned())?;
    if auth.len() != 16 {
        return Err("keys.auth must be 16 bytes".to_owned());
    }
    Ok((endpoint, key, Auth::clone_from_slice(&auth)))
}

#[async_trait]
impl PushProvider for WebPush {
    async fn send(&self, subscription: &PushSubscriptionRecord, payload: &PushPayload) -> Result<(), PushError> {
        let payload = serde_json::to_vec(payload).map_err(|e| PushError::Rejected(format!("cannot encode the payload: {e}")))?;
        let request = self.request(subscription, &payload)?;
        let (parts, body) = request.into_parts();
        let mut outgoing = self.http.post(parts.uri.to_string()).body(body);
        for (name, value) in &parts.headers {
            outgoing = outgoing.header(name.as_str(), value.as_bytes());
        }
        let response = outgoing.send().await.map_err(|e| PushError::Temporary(e.to_string()))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(()),
            // Not followed (see `new`); push services do not redirect.
            300..=399 => Err(PushError::Rejected(format!("push service answered {status}; redirects are not followed"))),
            404 | 410 => Err(PushError::Gone),
            408 | 429 | 500..=599 => Err(temporary(format!("push service answered {status}"), response.headers())),
            _ => Err(PushError::Rejected(format!("push service answered {status}"))),
        }
    }
}
