//! Which push service a subscription goes to, by its kind: browsers' Web
//! Push subscriptions to [`WebPush`], native apps' tokens to [`Fcm`] or
//! [`Apns`] when the operator configured them.
//!
//! The native clients are built once at start from the configured key
//! files, so a missing or malformed key stops the server with a message
//! naming the file instead of failing at the first notification. A
//! provider that is not configured refuses registrations
//! (`push_provider_not_configured`); a token stored while it was configured
//! is kept but not contacted (rejected, logged) until it is again.

use std::{path::Path, sync::Arc};

use async_trait::async_trait;
use banter_protocol::http::PushPayload;
use banter_store::{PushSubscriptionRecord, PushTarget};

use super::{
    apns::{Apns, ApnsCredentials},
    fcm::{Fcm, ServiceAccount},
    web_push::WebPush,
    PushError, PushProvider,
};
use crate::config::ServerConfig;

/// The native push clients the configuration asks for.
#[derive(Default)]
pub struct NativePush {
    pub fcm: Option<Fcm>,
    pub apns: Option<Apns>,
}

impl NativePush {
    /// Reads the key files and builds the clients. The error names the
    /// setting and the file.
    pub fn from_config(config: &ServerConfig) -> Result<NativePush, String> {
        let include_text = config.native_push_include_text;
        let fcm = match &config.fcm_service_account_file {
            None => None,
            Some(path) => {
                let json = read(path, "fcm_service_account_file")?;
                let account: ServiceAccount = serde_json::from_str(&json).map_err(|e| {
                    format!("fcm_service_account_file {}: not a Google service-account key (JSON with project_id, client_email, private_key, token_uri): {e}", path.display())
                })?;
                let fcm = Fcm::new(account, &config.fcm_api_url, include_text)
                    .map_err(|e| format!("fcm_service_account_file {}: {e}", path.display()))?;
                Some(fcm)
            }
        };
        let apns = match (&config.apns_key_file, &config.apns_key_id, &config.apns_team_id, &config.apns_topic) {
            (Some(path), Some(key_id), Some(team_id), Some(topic)) => {
                let credentials = ApnsCredentials {
                    key_pem: read(path, "apns_key_file")?,
                    key_id: key_id.clone(),
                    team_id: team_id.clone(),
                    topic: topic.clone(),
                };
                let apns = Apns::new(credentials, &config.apns_api_url, include_text)
                    .map_err(|e| format!("apns_key_file {}: {e}", path.display()))?;
                Some(apns)
            }
            // Validation refuses a partial set; none of them: no APNs.
            _ => None,
        };
        Ok(NativePush { fcm, apns })
    }

    /// Whether tokens of this kind (`fcm`, `apns`) can be sent to.
    pub fn configured(&self, target: &PushTarget) -> bool {
        match target {
            PushTarget::Web { .. } => true,
            PushTarget::Fcm { .. } => self.fcm.is_some(),
            PushTarget::Apns { .. } => self.apns.is_some(),
        }
    }
}

/// A key file's contents, at most 64 KiB (a service-account JSON is about
/// 2 KiB, a `.p8` key 250 bytes): a wrong path to a large file fails clearly.
fn read(path: &Path, setting: &str) -> Result<String, String> {
    const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;
    let size = std::fs::metadata(path).map_err(|e| format!("cannot read {setting} {}: {e}", path.display()))?.len();
    if size > MAX_KEY_FILE_BYTES {
        return Err(format!("{setting} {}: {size} bytes is too large for a key file", path.display()));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {setting} {}: {e}", path.display()))
}

/// Sends each subscription with the service its kind names.
pub struct Providers {
    pub web: WebPush,
    pub native: Arc<NativePush>,
}

#[async_trait]
impl PushProvider for Providers {
    async fn send(&self, subscription: &PushSubscriptionRecord, payload: &PushPayload) -> Result<(), PushError> {
        let not_configured = |kind: &str| PushError::Rejected(format!("{kind} push is not configured on this server"));
        match &subscription.target {
            PushTarget::Web { .. } => self.web.send(subscription, payload).await,
            PushTarget::Fcm { token } => match &self.native.fcm {
                Some(fcm) => fcm.send(token, payload).await,
                None => Err(not_configured("FCM")),
            },
            PushTarget::Apns { token } => match &self.native.apns {
                Some(apns) => apns.send(token, payload).await,
                None => Err(not_configured("APNs")),
            },
        }
    }
}
