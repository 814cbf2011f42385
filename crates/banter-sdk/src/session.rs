//! [`Session`]: a logged-in device, as returned by signup and login.

use std::fmt;

use banter_protocol::http::SessionResponse;
use banter_protocol::{DeviceId, User, UserId};

use crate::connection::Connection;
use crate::error::SdkError;
use crate::http::ApiClient;

/// One logged-in device of a user: an authenticated [`ApiClient`] plus who
/// and which device it is.
///
/// The token is the device's only credential: keep it to resume the session
/// later with [`ApiClient::with_token`].
#[derive(Clone)]
pub struct Session {
    /// A client authenticated with [`Session::token`].
    pub api: ApiClient,
    /// The account, as of login.
    pub user: User,
    /// This device's id (devices are sessions; `hello` reports it too).
    pub device_id: DeviceId,
    /// The bearer token of this device.
    pub token: String,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("device_id", &self.device_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl Session {
    /// Builds a session from a signup/login answer, reusing `api`'s base URL
    /// and HTTP client.
    pub fn from_response(api: &ApiClient, resp: SessionResponse) -> Self {
        let api = api
            .clone()
            .with_token(resp.token.clone())
            .with_user_id(resp.user.id);
        Session {
            api,
            user: resp.user,
            device_id: resp.device_id,
            token: resp.token,
        }
    }

    /// The same session against another address of the server (e.g. after
    /// it restarted on a new port, or to reach another node of a cluster).
    pub fn with_base_url(&self, base_url: &str) -> Result<Session, SdkError> {
        let api = ApiClient::new(base_url)?
            .with_token(self.token.clone())
            .with_user_id(self.user.id);
        Ok(Session {
            api,
            user: self.user.clone(),
            device_id: self.device_id,
            token: self.token.clone(),
        })
    }

    /// The authenticated HTTP client.
    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    /// The user's id.
    pub fn user_id(&self) -> UserId {
        self.user.id
    }

    /// Opens this device's WebSocket and waits for `hello`.
    pub async fn connect(&self) -> Result<Connection, SdkError> {
        self.api.connect().await
    }

    /// Opens this device's connection over `transport` and waits for `hello`.
    pub async fn connect_over(&self, transport: crate::TransportKind) -> Result<Connection, SdkError> {
        self.api.connect_over(transport).await
    }
}
