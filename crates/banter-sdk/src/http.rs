//! [`ApiClient`]: typed calls to the HTTP API under `/api/v1`.
//!
//! One method per endpoint. Success bodies are decoded into the wire types of
//! [`banter_protocol::http`]; non-2xx answers become [`SdkError::Api`] (or
//! [`SdkError::UnexpectedStatus`] when the body is not an error body).

use std::fmt;
use std::time::Duration;

use banter_protocol::http::{
    AddMembersRequest, ConversationList, CreateDirectRequest, CreateGroupRequest, DeviceList,
    Health, HistoryPage, HistoryQuery, LoginRequest, MarkReadRequest, MessageReceipts, MuteRequest, SearchParams, SearchResults,
    MuteState, NativePushProvider, NativePushRequest, PresenceList, PushKeys,
    PushSubscriptionCreated, PushSubscriptionRequest, ReadMarkerResponse, SessionResponse,
    SignupRequest, UpdateProfileRequest, VapidPublicKey,
};
use banter_protocol::http::{BlockList, BlockedUser, DeleteAccountRequest, ExportCursor, ExportPage, ExportQuery};
use banter_protocol::{
    Conversation, ConversationDetail, ConversationId, Device, DeviceId, Presence, Seq, User, UserId,
};
use reqwest::{Method, RequestBuilder};
use serde::de::DeserializeOwned;
use url::Url;

use crate::connection::{ConnectOptions, Connection, TransportKind};
use crate::error::{snippet, SdkError};
use crate::session::Session;

/// Timeout of a whole HTTP request made by a client built with [`ApiClient::new`].
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of the Banter HTTP API, optionally authenticated with a device token.
///
/// Cheap to clone (the underlying connection pool is shared).
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    /// Normalized base URL: `http(s)`, no query or fragment.
    base: Url,
    token: Option<String>,
    /// The user the token belongs to, when known (set by signup/login).
    user_id: Option<UserId>,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base.as_str())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("user_id", &self.user_id)
            .finish()
    }
}

impl ApiClient {
    /// A client for the server at `base_url`, e.g. `http://127.0.0.1:8080`
    /// (a path prefix such as `https://example.com/chat` is kept).
    pub fn new(base_url: &str) -> Result<Self, SdkError> {
        let http = reqwest::Client::builder()
            .timeout(DEFAULT_HTTP_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Self::with_http_client(base_url, http)
    }

    /// Like [`ApiClient::new`] with a caller-configured `reqwest::Client`
    /// (timeouts, proxies, ...).
    pub fn with_http_client(base_url: &str, http: reqwest::Client) -> Result<Self, SdkError> {
        Ok(ApiClient {
            http,
            base: parse_base_url(base_url)?,
            token: None,
            user_id: None,
        })
    }

    /// The same client, authenticated with `token` (`Authorization: Bearer`).
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self.user_id = None;
        self
    }

    /// The same client, without a token.
    pub fn without_token(mut self) -> Self {
        self.token = None;
        self.user_id = None;
        self
    }

    /// Records whose token this is, so [`ApiClient::leave`] needs no `me` call.
    pub(crate) fn with_user_id(mut self, user_id: UserId) -> Self {
        self.user_id = Some(user_id);
        self
    }

    /// The bearer token, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The base URL the client was created with (normalized).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The underlying `reqwest` client, for requests the typed methods cannot
    /// express (e.g. deliberately malformed bodies in tests).
    pub fn http_client(&self) -> &reqwest::Client {
        &self.http
    }

    /// The absolute URL of an API path relative to `/api/v1/`, e.g.
    /// `endpoint("conversations/7/messages")`. Each `/`-separated part is
    /// percent-encoded as one path segment.
    pub fn endpoint(&self, path: &str) -> Url {
        let segments: Vec<&str> = path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        api_url(&self.base, &segments)
    }

    // ----- auth -----

    /// `POST /auth/signup`: creates the account and logs this device in.
    pub async fn signup(&self, username: &str, password: &str) -> Result<Session, SdkError> {
        self.signup_with(SignupRequest {
            username: username.to_owned(),
            password: password.to_owned(),
            display_name: None,
            device_name: None,
        })
        .await
    }

    /// `POST /auth/signup` with every field of the request.
    pub async fn signup_with(&self, request: SignupRequest) -> Result<Session, SdkError> {
        let resp: SessionResponse = self
            .json(
                self.request(Method::POST, &["auth", "signup"])
                    .json(&request),
            )
            .await?;
        Ok(Session::from_response(self, resp))
    }

    /// `POST /auth/login`: a new session (device) for an existing account.
    /// `device_name` defaults to `"device"` on the server.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        device_name: Option<&str>,
    ) -> Result<Session, SdkError> {
        self.login_with(LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
            device_name: device_name.map(str::to_owned),
        })
        .await
    }

    /// `POST /auth/login` with a prepared request.
    pub async fn login_with(&self, request: LoginRequest) -> Result<Session, SdkError> {
        let resp: SessionResponse = self
            .json(
                self.request(Method::POST, &["auth", "login"])
                    .json(&request),
            )
            .await?;
        Ok(Session::from_response(self, resp))
    }

    /// `POST /auth/logout`: revokes this client's token (its device). Open
    /// WebSockets of the device are closed by the server.
    pub async fn logout(&self) -> Result<(), SdkError> {
        self.empty(self.request(Method::POST, &["auth", "logout"]))
            .await
    }

    // ----- profile and users -----

    /// `GET /me`: the authenticated user.
    pub async fn me(&self) -> Result<User, SdkError> {
        self.json(self.request(Method::GET, &["me"])).await
    }

    /// `PATCH /me`: changes the display name.
    pub async fn update_profile(&self, display_name: &str) -> Result<User, SdkError> {
        let body = UpdateProfileRequest {
            display_name: display_name.to_owned(),
        };
        self.json(self.request(Method::PATCH, &["me"]).json(&body))
            .await
    }

    /// `GET /users/{username}`: a user's public profile.
    pub async fn user_by_username(&self, username: &str) -> Result<User, SdkError> {
        self.json(self.request(Method::GET, &["users", username]))
            .await
    }

    // ----- devices -----

    /// `GET /devices`: the user's logged-in devices (`current` marks this one).
    pub async fn devices(&self) -> Result<Vec<Device>, SdkError> {
        let list: DeviceList = self.json(self.request(Method::GET, &["devices"])).await?;
        Ok(list.devices)
    }

    /// `DELETE /devices/{id}`: revokes one of the user's devices (its token
    /// stops working and its WebSockets are closed).
    pub async fn revoke_device(&self, device_id: DeviceId) -> Result<(), SdkError> {
        self.empty(self.request(Method::DELETE, &["devices", &device_id.to_string()]))
            .await
    }

    // ----- blocks -----

    /// `GET /blocks`: everyone this user has blocked, most recent first.
    pub async fn blocked_users(&self) -> Result<Vec<BlockedUser>, SdkError> {
        let list: BlockList = self.json(self.request(Method::GET, &["blocks"])).await?;
        Ok(list.blocked)
    }

    /// `PUT /blocks/{user_id}`: blocks a user (again: no change). Neither
    /// may then open or send into their direct conversation, they cannot add
    /// this user to groups, and presence and typing stop between them.
    pub async fn block(&self, user_id: UserId) -> Result<(), SdkError> {
        self.empty(self.request(Method::PUT, &["blocks", &user_id.to_string()]))
            .await
    }

    /// `DELETE /blocks/{user_id}`: lifts this user's block of another, if any.
    pub async fn unblock(&self, user_id: UserId) -> Result<(), SdkError> {
        self.empty(self.request(Method::DELETE, &["blocks", &user_id.to_string()]))
            .await
    }

    // ----- leaving for good -----

    /// `DELETE /me`: deletes the account for good, confirmed with its
    /// password (`wrong_password` otherwise). Every device's token stops
    /// working; messages sent stay, shown as from a deleted user.
    pub async fn delete_account(&self, password: &str) -> Result<(), SdkError> {
        let body = DeleteAccountRequest {
            password: password.to_owned(),
        };
        self.empty(self.request(Method::DELETE, &["me"]).json(&body))
            .await
    }

    /// `GET /me/export`: one page of this user's data (profile and the
    /// messages they sent), after `after` (`None`: the first page).
    pub async fn export_page(&self, after: Option<ExportCursor>) -> Result<ExportPage, SdkError> {
        let query = ExportQuery {
            after_conversation_id: after.map(|c| c.conversation_id),
            after_seq: after.map(|c| c.seq),
        };
        self.json(self.request(Method::GET, &["me", "export"]).query(&query))
            .await
    }

    /// Every page of the export, handed to `page` one at a time (so a long
    /// history is never held whole); returns how many messages there were.
    pub async fn export_all(
        &self,
        mut page: impl FnMut(ExportPage) -> Result<(), SdkError>,
    ) -> Result<usize, SdkError> {
        let mut after = None;
        let mut count = 0;
        loop {
            let next = self.export_page(after).await?;
            count += next.messages.len();
            after = next.next;
            page(next)?;
            if after.is_none() {
                return Ok(count);
            }
        }
    }

    // ----- conversations -----

    /// `POST /conversations/direct`: gets or creates the 1:1 conversation with a user.
    pub async fn direct_conversation_with(
        &self,
        user_id: UserId,
    ) -> Result<ConversationDetail, SdkError> {
        let body = CreateDirectRequest {
            user_id: Some(user_id),
            username: None,
        };
        self.json(
            self.request(Method::POST, &["conversations", "direct"])
                .json(&body),
        )
        .await
    }

    /// `POST /conversations/direct`, naming the peer by username.
    pub async fn direct_conversation_with_username(
        &self,
        username: &str,
    ) -> Result<ConversationDetail, SdkError> {
        let body = CreateDirectRequest {
            user_id: None,
            username: Some(username.to_owned()),
        };
        self.json(
            self.request(Method::POST, &["conversations", "direct"])
                .json(&body),
        )
        .await
    }

    /// `POST /conversations/groups`: creates a group; the caller becomes its admin.
    pub async fn create_group(
        &self,
        name: &str,
        member_ids: &[UserId],
    ) -> Result<ConversationDetail, SdkError> {
        let body = CreateGroupRequest {
            name: name.to_owned(),
            member_ids: member_ids.to_vec(),
        };
        self.json(
            self.request(Method::POST, &["conversations", "groups"])
                .json(&body),
        )
        .await
    }

    /// `GET /conversations`: the user's conversations, newest activity first.
    pub async fn conversations(&self) -> Result<Vec<Conversation>, SdkError> {
        let list: ConversationList = self
            .json(self.request(Method::GET, &["conversations"]))
            .await?;
        Ok(list.conversations)
    }

    /// `GET /conversations?q=`: the user's conversations whose name (a
    /// group's name, a direct peer's display name or username) contains
    /// `name`, case and accents ignored.
    pub async fn conversations_named(&self, name: &str) -> Result<Vec<Conversation>, SdkError> {
        let rb = self.request(Method::GET, &["conversations"]).query(&[("q", name)]);
        let list: ConversationList = self.json(rb).await?;
        Ok(list.conversations)
    }

    /// `GET /search`: a page of the messages of the user's conversations
    /// that contain every word of `params.q`, each as a snippet around the
    /// match. The next page is `params.offset = results.next_offset`.
    pub async fn search(&self, params: &SearchParams) -> Result<SearchResults, SdkError> {
        self.json(self.request(Method::GET, &["search"]).query(params)).await
    }

    /// `GET /conversations/{id}`: one conversation with its members.
    pub async fn conversation(&self, id: ConversationId) -> Result<ConversationDetail, SdkError> {
        self.json(self.request(Method::GET, &["conversations", &id.to_string()]))
            .await
    }

    /// `POST /conversations/{id}/members`: adds users to a group (admins only).
    pub async fn add_members(
        &self,
        conversation_id: ConversationId,
        user_ids: &[UserId],
    ) -> Result<ConversationDetail, SdkError> {
        let body = AddMembersRequest {
            user_ids: user_ids.to_vec(),
        };
        let rb = self.request(
            Method::POST,
            &["conversations", &conversation_id.to_string(), "members"],
        );
        self.json(rb.json(&body)).await
    }

    /// `DELETE /conversations/{id}/members/{user_id}`: removes a member from a
    /// group (admins), or leaves it when `user_id` is the caller.
    pub async fn remove_member(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> Result<(), SdkError> {
        let rb = self.request(
            Method::DELETE,
            &[
                "conversations",
                &conversation_id.to_string(),
                "members",
                &user_id.to_string(),
            ],
        );
        self.empty(rb).await
    }

    /// Leaves a group: [`ApiClient::remove_member`] with the caller's own id
    /// (known from signup/login, otherwise fetched with [`ApiClient::me`]).
    pub async fn leave(&self, conversation_id: ConversationId) -> Result<(), SdkError> {
        let user_id = match self.user_id {
            Some(id) => id,
            None => self.me().await?.id,
        };
        self.remove_member(conversation_id, user_id).await
    }

    /// `GET /conversations/{id}/messages`: a page of history, ascending by seq.
    pub async fn history(
        &self,
        conversation_id: ConversationId,
        query: HistoryQuery,
    ) -> Result<HistoryPage, SdkError> {
        let rb = self.request(
            Method::GET,
            &["conversations", &conversation_id.to_string(), "messages"],
        );
        self.json(rb.query(&query)).await
    }

    /// `POST /conversations/{id}/read`: moves the read marker forward to `seq`.
    pub async fn mark_read(
        &self,
        conversation_id: ConversationId,
        seq: Seq,
    ) -> Result<ReadMarkerResponse, SdkError> {
        let rb = self.request(
            Method::POST,
            &["conversations", &conversation_id.to_string(), "read"],
        );
        self.json(rb.json(&MarkReadRequest { seq })).await
    }

    /// `GET /conversations/{id}/messages/{seq}/receipts`: who has the
    /// message and who read it.
    pub async fn receipts(
        &self,
        conversation_id: ConversationId,
        seq: Seq,
    ) -> Result<MessageReceipts, SdkError> {
        let rb = self.request(
            Method::GET,
            &[
                "conversations",
                &conversation_id.to_string(),
                "messages",
                &seq.to_string(),
                "receipts",
            ],
        );
        self.json(rb).await
    }

    /// `PUT /conversations/{id}/mute`: no push notifications for it while muted.
    pub async fn set_muted(
        &self,
        conversation_id: ConversationId,
        muted: bool,
    ) -> Result<MuteState, SdkError> {
        let rb = self.request(
            Method::PUT,
            &["conversations", &conversation_id.to_string(), "mute"],
        );
        self.json(rb.json(&MuteRequest { muted })).await
    }

    /// `GET /presence?user_ids=…`: presence of up to 200 users (those sharing
    /// no conversation with the caller are left out).
    pub async fn presence(&self, user_ids: &[UserId]) -> Result<Vec<Presence>, SdkError> {
        let ids = user_ids
            .iter()
            .map(|id| id.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let rb = self.request(Method::GET, &["presence"]);
        let list: PresenceList = self.json(rb.query(&[("user_ids", ids)])).await?;
        Ok(list.presence)
    }

    /// `GET /push/vapid-public-key`: the server's VAPID key (base64url).
    pub async fn vapid_public_key(&self) -> Result<String, SdkError> {
        let key: VapidPublicKey = self
            .json(self.request(Method::GET, &["push", "vapid-public-key"]))
            .await?;
        Ok(key.public_key)
    }

    /// `POST /push/subscriptions`: registers a Web Push subscription for this
    /// device (`p256dh` and `auth` base64url, as browsers give them).
    pub async fn subscribe_push(
        &self,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
    ) -> Result<i64, SdkError> {
        let request = PushSubscriptionRequest {
            endpoint: endpoint.to_owned(),
            keys: PushKeys {
                p256dh: p256dh.to_owned(),
                auth: auth.to_owned(),
            },
        };
        let rb = self.request(Method::POST, &["push", "subscriptions"]);
        let created: PushSubscriptionCreated = self.json(rb.json(&request)).await?;
        Ok(created.id)
    }

    /// `DELETE /push/subscriptions`: removes this device's subscriptions.
    pub async fn unsubscribe_push(&self) -> Result<(), SdkError> {
        self.empty(self.request(Method::DELETE, &["push", "subscriptions"]))
            .await
    }

    /// `PUT /push/native`: registers this device's native push token (FCM
    /// registration token or APNs device token, hex), replacing its
    /// previous one. Errors: `invalid_push_subscription` (empty, over 4096
    /// bytes, APNs not hex), `push_provider_not_configured`,
    /// `push_endpoint_taken`, `too_many_push_subscriptions`.
    pub async fn register_native_push(
        &self,
        provider: NativePushProvider,
        token: &str,
    ) -> Result<i64, SdkError> {
        let request = NativePushRequest {
            provider,
            token: token.to_owned(),
        };
        let rb = self.request(Method::PUT, &["push", "native"]);
        let created: PushSubscriptionCreated = self.json(rb.json(&request)).await?;
        Ok(created.id)
    }

    /// `DELETE /push/native`: removes this device's native push token.
    pub async fn unregister_native_push(&self) -> Result<(), SdkError> {
        self.empty(self.request(Method::DELETE, &["push", "native"]))
            .await
    }

    /// `GET /health` (no token needed).
    pub async fn health(&self) -> Result<Health, SdkError> {
        self.json(self.request(Method::GET, &["health"])).await
    }

    /// `GET /ready` (no token needed): `Ok` when the server can serve,
    /// [`SdkError::Api`] with `storage_unavailable` while its database is
    /// unreachable, `shutting_down` while it drains.
    pub async fn ready(&self) -> Result<Health, SdkError> {
        self.json(self.request(Method::GET, &["ready"])).await
    }

    // ----- WebSocket -----

    /// Opens the WebSocket with this client's token and waits for `hello`.
    pub async fn connect(&self) -> Result<Connection, SdkError> {
        self.connect_over(TransportKind::WebSocket).await
    }

    /// [`ApiClient::connect`] over the given transport (the WebSocket or the
    /// event-stream fallback).
    pub async fn connect_over(&self, transport: TransportKind) -> Result<Connection, SdkError> {
        let token = self.token.clone().ok_or_else(|| {
            SdkError::Config("connect needs a token: log in first or use with_token".into())
        })?;
        let options = ConnectOptions::new().token(token).transport(transport);
        Connection::connect_with(self.base.as_str(), options).await
    }

    // ----- plumbing -----

    fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        let rb = self.http.request(method, api_url(&self.base, segments));
        match &self.token {
            Some(token) => rb.bearer_auth(token),
            None => rb,
        }
    }

    /// Sends the request; returns the body of a 2xx answer, the error otherwise.
    async fn body(&self, rb: RequestBuilder) -> Result<(u16, Vec<u8>), SdkError> {
        let resp = rb.send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if !status.is_success() {
            return Err(SdkError::from_response(status.as_u16(), &body));
        }
        Ok((status.as_u16(), body.to_vec()))
    }

    async fn json<T: DeserializeOwned>(&self, rb: RequestBuilder) -> Result<T, SdkError> {
        let (status, body) = self.body(rb).await?;
        serde_json::from_slice(&body).map_err(|e| {
            SdkError::Protocol(format!(
                "HTTP {status} body is not the expected {}: {e}: {}",
                std::any::type_name::<T>(),
                snippet(&body)
            ))
        })
    }

    async fn empty(&self, rb: RequestBuilder) -> Result<(), SdkError> {
        self.body(rb).await.map(|_| ())
    }
}

/// Parses and normalizes a base URL: `http` or `https`, query and fragment dropped.
fn parse_base_url(base_url: &str) -> Result<Url, SdkError> {
    let mut url = Url::parse(base_url)
        .map_err(|e| SdkError::Config(format!("invalid base URL {base_url:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SdkError::Config(format!(
            "base URL {base_url:?} must be http:// or https://"
        )));
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// `base` + `/api/v1/` + the segments (each percent-encoded), keeping any
/// path prefix of `base`.
pub(crate) fn api_url(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(["api", "v1"]).extend(segments);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_under_api_v1() {
        let api = ApiClient::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            api.endpoint("auth/signup").as_str(),
            "http://127.0.0.1:8080/api/v1/auth/signup"
        );
        let api = ApiClient::new("https://example.com/chat/").unwrap();
        assert_eq!(
            api.endpoint("/health").as_str(),
            "https://example.com/chat/api/v1/health"
        );
        let api = ApiClient::new("https://example.com/chat?x=1#y").unwrap();
        assert_eq!(
            api.endpoint("health").as_str(),
            "https://example.com/chat/api/v1/health"
        );
    }

    #[test]
    fn path_segments_are_escaped() {
        let api = ApiClient::new("http://localhost:1").unwrap();
        let url = api_url(&api.base, &["users", "a/b?c"]);
        assert_eq!(url.as_str(), "http://localhost:1/api/v1/users/a%2Fb%3Fc");
    }

    #[test]
    fn bad_base_urls_are_refused() {
        assert!(matches!(
            ApiClient::new("not a url"),
            Err(SdkError::Config(_))
        ));
        assert!(matches!(
            ApiClient::new("ftp://example.com"),
            Err(SdkError::Config(_))
        ));
    }

    #[test]
    fn debug_does_not_print_the_token() {
        let api = ApiClient::new("http://localhost:1")
            .unwrap()
            .with_token("secret-token");
        assert!(!format!("{api:?}").contains("secret-token"));
    }
}
