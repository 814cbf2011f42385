//! The native push clients (`push::fcm`, `push::apns`) against local
//! stand-ins that check what Google and Apple check: the JWT's signature
//! against the configured key's public half, its claims and lifetime, the
//! token exchange (FCM) or the provider token's header (APNs), HTTP/2 for
//! APNs, the headers and the payload's shape; and the error answers each
//! service gives for dead tokens, throttling and outages.

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, Version},
    response::{IntoResponse, Response},
    routing::post,
    Form, Json, Router,
};
use banter_protocol::http::PushPayload;
use banter_server::push::{
    apns::{Apns, ApnsCredentials},
    fcm::{Fcm, ServiceAccount},
    PushError,
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    service::TowerToHyperService,
};
use serde_json::{json, Value};
use tokio::net::TcpListener;
mod common;

use banter_protocol::{http::NativePushProvider, ErrorCode};
use banter_sdk::Session;
use common::{next_message, TestServer, WAIT};
use tempfile::NamedTempFile;

use web_push_native::jwt_simple::{
    algorithms::{ECDSAP256PublicKeyLike, ES256KeyPair, RS256KeyPair, RSAPublicKeyLike},
    prelude::{NoCustomClaims, VerificationOptions},
};

fn payload(preview: &str) -> PushPayload {
    PushPayload {
        kind: "message".into(),
        conversation_id: 42,
        seq: 7,
        sender_id: 3,
        sender_name: "Alice".into(),
        conversation_name: Some("Team".into()),
        preview: preview.into(),
        server_ts: 1_700_000_000_000,
    }
}

/// Serves `app` on a random port: HTTP/1.1 (`http2_only` false) or HTTP/2
/// with prior knowledge only, as APNs.
async fn serve(app: Router, http2_only: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let service = TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let io = TokioIo::new(stream);
                let _ = if http2_only {
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new()).serve_connection(io, service).await
                } else {
                    hyper::server::conn::http1::Builder::new().serve_connection(io, service).await
                };
            });
        }
    });
    addr
}

// ---------------------------------------------------------------- FCM

struct Google {
    key: RS256KeyPair,
    token_uri: String,
    expires_in: u64,
    /// Access tokens issued, and the ones the stand-in no longer accepts.
    issued: Vec<String>,
    revoked: HashSet<String>,
    /// Each `messages:send` body received.
    sent: Vec<Value>,
}

type SharedGoogle = Arc<Mutex<Google>>;

async fn token_endpoint(State(google): State<SharedGoogle>, Form(form): Form<Vec<(String, String)>>) -> Response {
    let mut google = google.lock().unwrap();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    assert_eq!(field("grant_type"), "urn:ietf:params:oauth:grant-type:jwt-bearer");
    let options = VerificationOptions {
        allowed_issuers: Some(HashSet::from(["banter@project.iam.gserviceaccount.com".to_owned()])),
        allowed_audiences: Some(HashSet::from([google.token_uri.clone()])),
        ..Default::default()
    };
    let claims = match google.key.public_key().verify_token::<Value>(&field("assertion"), Some(options)) {
        Ok(claims) => claims,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_grant", "why": e.to_string() }))).into_response(),
    };
    assert_eq!(claims.custom["scope"], "https://www.googleapis.com/auth/firebase.messaging");
    let (issued_at, expires_at) = (claims.issued_at.expect("iat"), claims.expires_at.expect("exp"));
    assert!(expires_at.as_secs() - issued_at.as_secs() <= 3600, "Google accepts assertions of at most an hour");
    let token = format!("access-{}", google.issued.len());
    google.issued.push(token.clone());
    Json(json!({ "access_token": token, "expires_in": google.expires_in, "token_type": "Bearer" })).into_response()
}

async fn messages_send(State(google): State<SharedGoogle>, Path((project, method)): Path<(String, String)>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    assert_eq!((project.as_str(), method.as_str()), ("banter-project", "messages:send"), "the path is /v1/projects/<project>/messages:send");
    let mut google = google.lock().unwrap();
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
    if !google.issued.iter().any(|t| t == bearer) || google.revoked.contains(bearer) {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": { "code": 401, "status": "UNAUTHENTICATED" } }))).into_response();
    }
    let message = &body["message"];
    assert!(message["data"].as_object().expect("data").values().all(Value::is_string), "FCM data values are strings: {body}");
    assert_eq!(message["android"]["priority"], "high");
    let conversation = message["data"]["conversation_id"].as_str().unwrap_or("");
    assert_eq!(message["android"]["collapse_key"], format!("conversation-{conversation}"));
    google.sent.push(body.clone());
    let fcm_error = |status: StatusCode, name: &str, code: &str| {
        let details = json!([{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code }]);
        (status, Json(json!({ "error": { "code": status.as_u16(), "status": name, "details": details } }))).into_response()
    };
    match message["token"].as_str().unwrap_or("") {
        "unregistered" => fcm_error(StatusCode::NOT_FOUND, "NOT_FOUND", "UNREGISTERED"),
        "other-project" => fcm_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
        "busy" => {
            let mut response = fcm_error(StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED");
            response.headers_mut().insert("retry-after", "7".parse().unwrap());
            response
        }
        "outage" => fcm_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "UNAVAILABLE"),
        "malformed" => fcm_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        _ => Json(json!({ "name": "projects/banter-project/messages/1" })).into_response(),
    }
}

/// A stand-in Google (token endpoint and FCM) and a client for it.
async fn stand_in_google(expires_in: u64, include_text: bool) -> (SharedGoogle, Fcm) {
    let (state, account, api) = google_stand_in(expires_in).await;
    (state, Fcm::new(account, &api, include_text).expect("client"))
}

/// A stand-in Google, the service account it trusts and its API's base URL.
async fn google_stand_in(expires_in: u64) -> (SharedGoogle, ServiceAccount, String) {
    let key = RS256KeyPair::generate(2048).expect("RSA key");
    let pem = key.to_pem().expect("pem");
    let state = Arc::new(Mutex::new(Google { key, token_uri: String::new(), expires_in, issued: vec![], revoked: HashSet::new(), sent: vec![] }));
    let app = Router::new()
        .route("/token", post(token_endpoint))
        .route("/v1/projects/{project}/{method}", post(messages_send))
        .with_state(state.clone());
    let addr = serve(app, false).await;
    let token_uri = format!("http://{addr}/token");
    state.lock().unwrap().token_uri = token_uri.clone();
    let account = ServiceAccount {
        project_id: "banter-project".into(),
        client_email: "banter@project.iam.gserviceaccount.com".into(),
        private_key: pem,
        token_uri,
    };
    (state, account, format!("http://{addr}"))
}

#[tokio::test]
async fn fcm_exchanges_a_signed_assertion_once_and_reuses_the_access_token() {
    let (google, fcm) = stand_in_google(3600, false).await;
    fcm.send("device-a", &payload("secret text")).await.expect("sent");
    fcm.send("device-b", &payload("secret text")).await.expect("sent");
    let google = google.lock().unwrap();
    assert_eq!(google.issued.len(), 1, "one token exchange for two sends");
    assert_eq!(google.sent.len(), 2);
    let data = &google.sent[0]["message"]["data"];
    assert_eq!((data["conversation_id"].as_str(), data["seq"].as_str()), (Some("42"), Some("7")));
    assert_eq!(data["sender_name"], "Alice");
    assert!(data.get("preview").is_none(), "no message text passes through Google unless allowed: {data}");
    assert!(!google.sent[0].to_string().contains("secret text"));
}

#[tokio::test]
async fn fcm_refreshes_an_expiring_token_and_one_the_service_refuses() {
    // Expires within the refresh margin: every send fetches a new one.
    let (google, fcm) = stand_in_google(30, true).await;
    fcm.send("device", &payload("hello")).await.expect("sent");
    fcm.send("device", &payload("hello")).await.expect("sent");
    assert_eq!(google.lock().unwrap().issued.len(), 2);
    assert_eq!(google.lock().unwrap().sent[0]["message"]["data"]["preview"], "hello", "text included when allowed");

    let (google, fcm) = stand_in_google(3600, false).await;
    fcm.send("device", &payload("x")).await.expect("sent");
    let first = google.lock().unwrap().issued[0].clone();
    google.lock().unwrap().revoked.insert(first);
    assert!(matches!(fcm.send("device", &payload("x")).await, Err(PushError::Temporary(_))), "401 is retried");
    fcm.send("device", &payload("x")).await.expect("a new token is fetched after the 401");
    assert_eq!(google.lock().unwrap().issued.len(), 2);
}

#[tokio::test]
async fn fcm_answers_map_to_gone_throttled_temporary_and_rejected() {
    let (_google, fcm) = stand_in_google(3600, false).await;
    assert!(matches!(fcm.send("unregistered", &payload("x")).await, Err(PushError::Gone)));
    assert!(matches!(fcm.send("other-project", &payload("x")).await, Err(PushError::Gone)));
    match fcm.send("busy", &payload("x")).await {
        Err(PushError::Throttled { retry_after, .. }) => assert_eq!(retry_after, Duration::from_secs(7)),
        other => panic!("429 with Retry-After: {other:?}"),
    }
    assert!(matches!(fcm.send("outage", &payload("x")).await, Err(PushError::Temporary(_))));
    assert!(matches!(fcm.send("malformed", &payload("x")).await, Err(PushError::Rejected(_))));
}

#[tokio::test]
async fn fcm_refuses_a_service_account_without_an_rsa_key() {
    let account = ServiceAccount {
        project_id: "p".into(),
        client_email: "e".into(),
        private_key: "not a key".into(),
        token_uri: "http://127.0.0.1:1/token".into(),
    };
    assert!(Fcm::new(account, "http://127.0.0.1:1", false).is_err());
}

// ---------------------------------------------------------------- APNs

struct Apple {
    key: ES256KeyPair,
    /// (bearer token, headers, body) of each request.
    received: Vec<(String, HeaderMap, Value)>,
}

type SharedApple = Arc<Mutex<Apple>>;

async fn apns_device(State(apple): State<SharedApple>, Path(token): Path<String>, version: Version, headers: HeaderMap, body: Bytes) -> Response {
    assert_eq!(version, Version::HTTP_2, "APNs accepts HTTP/2 only");
    let mut apple = apple.lock().unwrap();
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("bearer ").or_else(|| v.strip_prefix("Bearer "))).unwrap_or("").to_owned();
    let options = VerificationOptions {
        allowed_issuers: Some(HashSet::from(["TEAM123456".to_owned()])),
        required_key_id: Some("KEY1234567".to_owned()),
        ..Default::default()
    };
    let claims = match apple.key.public_key().verify_token::<NoCustomClaims>(&bearer, Some(options)) {
        Ok(claims) => claims,
        Err(_) => return (StatusCode::FORBIDDEN, Json(json!({ "reason": "InvalidProviderToken" }))).into_response(),
    };
    assert!(claims.issued_at.is_some(), "Apple requires iat");
    let body: Value = serde_json::from_slice(&body).expect("JSON body");
    apple.received.push((bearer, headers.clone(), body));
    let reason = |status: StatusCode, reason: &str| (status, Json(json!({ "reason": reason }))).into_response();
    match token.as_str() {
        "dead0000" => reason(StatusCode::GONE, "Unregistered"),
        "bad00000" => reason(StatusCode::BAD_REQUEST, "BadDeviceToken"),
        "ba5e0000" => {
            let mut response = reason(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests");
            response.headers_mut().insert("retry-after", "3".parse().unwrap());
            response
        }
        "0ff11e00" => reason(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
        "e0000000" => reason(StatusCode::FORBIDDEN, "ExpiredProviderToken"),
        "b0d70000" => reason(StatusCode::BAD_REQUEST, "PayloadTooLarge"),
        _ => StatusCode::OK.into_response(),
    }
}

async fn stand_in_apple(include_text: bool) -> (SharedApple, Apns) {
    let (state, credentials, api) = apple_stand_in().await;
    (state, Apns::new(credentials, &api, include_text).expect("client"))
}

/// A stand-in APNs, the credentials it trusts and its base URL.
async fn apple_stand_in() -> (SharedApple, ApnsCredentials, String) {
    let key = ES256KeyPair::generate();
    let pem = key.to_pem().expect("pem");
    let state = Arc::new(Mutex::new(Apple { key, received: vec![] }));
    let app = Router::new().route("/3/device/{token}", post(apns_device)).with_state(state.clone());
    let addr = serve(app, true).await;
    let credentials = ApnsCredentials { key_pem: pem, key_id: "KEY1234567".into(), team_id: "TEAM123456".into(), topic: "com.example.banter".into() };
    (state, credentials, format!("http://{addr}"))
}

#[tokio::test]
async fn apns_sends_over_http2_with_a_reused_provider_token_and_the_documented_headers() {
    let (apple, apns) = stand_in_apple(false).await;
    apns.send("a1b2c3d4", &payload("secret text")).await.expect("sent");
    apns.send("a1b2c3d5", &payload("secret text")).await.expect("sent");
    let apple = apple.lock().unwrap();
    assert_eq!(apple.received.len(), 2);
    let (first, headers, body) = &apple.received[0];
    assert_eq!(first, &apple.received[1].0, "the provider token is reused, not made per request");
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(header("apns-topic"), "com.example.banter");
    assert_eq!(header("apns-push-type"), "alert");
    assert_eq!(header("apns-priority"), "10");
    assert_eq!(header("apns-collapse-id"), "conversation-42");
    assert!(header("apns-expiration").parse::<u64>().is_ok());
    assert_eq!(body["aps"]["alert"]["title"], "Alice in Team");
    assert_eq!(body["aps"]["alert"]["body"], "New message", "no text unless allowed");
    assert_eq!(body["aps"]["mutable-content"], 1);
    assert_eq!((body["banter"]["conversation_id"].as_i64(), body["banter"]["seq"].as_i64()), (Some(42), Some(7)));
    assert!(!body.to_string().contains("secret text"));
}

#[tokio::test]
async fn apns_shows_the_text_only_when_allowed() {
    let (apple, apns) = stand_in_apple(true).await;
    apns.send("a1b2c3d4", &payload("hello there")).await.expect("sent");
    assert_eq!(apple.lock().unwrap().received[0].2["aps"]["alert"]["body"], "hello there");
}

#[tokio::test]
async fn apns_answers_map_to_gone_throttled_temporary_and_rejected() {
    let (apple, apns) = stand_in_apple(false).await;
    assert!(matches!(apns.send("dead0000", &payload("x")).await, Err(PushError::Gone)));
    assert!(matches!(apns.send("bad00000", &payload("x")).await, Err(PushError::Gone)));
    match apns.send("ba5e0000", &payload("x")).await {
        Err(PushError::Throttled { retry_after, .. }) => assert_eq!(retry_after, Duration::from_secs(3)),
        other => panic!("429 with Retry-After: {other:?}"),
    }
    assert!(matches!(apns.send("0ff11e00", &payload("x")).await, Err(PushError::Temporary(_))));
    assert!(matches!(apns.send("e0000000", &payload("x")).await, Err(PushError::Temporary(_))));
    assert!(matches!(apns.send("b0d70000", &payload("x")).await, Err(PushError::Rejected(_))));
    // Not a hex token: never sent.
    let before = apple.lock().unwrap().received.len();
    assert!(matches!(apns.send("not/hex", &payload("x")).await, Err(PushError::Gone)));
    assert_eq!(apple.lock().unwrap().received.len(), before);
}

// ------------------------------------------------- through a real server

/// A server whose FCM and APNs settings point at the stand-ins (and the
/// key files they hold, which must outlive it).
struct NativeServer {
    server: TestServer,
    google: SharedGoogle,
    apple: SharedApple,
    _key_files: [NamedTempFile; 2],
}

async fn native_server() -> NativeServer {
    let (google, account, fcm_api) = google_stand_in(3600).await;
    let (apple, credentials, apns_api) = apple_stand_in().await;
    let service_account = NamedTempFile::new().expect("temp file");
    let json = json!({
        "type": "service_account",
        "project_id": account.project_id,
        "client_email": account.client_email,
        "private_key": account.private_key,
        "token_uri": account.token_uri,
    });
    std::fs::write(service_account.path(), json.to_string()).expect("write");
    let p8 = NamedTempFile::new().expect("temp file");
    std::fs::write(p8.path(), &credentials.key_pem).expect("write");
    let (fcm_file, p8_file) = (service_account.path().to_path_buf(), p8.path().to_path_buf());
    let server = TestServer::start_with(|c| {
        c.fcm_service_account_file = Some(fcm_file);
        c.fcm_api_url = fcm_api;
        c.apns_key_file = Some(p8_file);
        c.apns_key_id = Some(credentials.key_id);
        c.apns_team_id = Some(credentials.team_id);
        c.apns_topic = Some(credentials.topic);
        c.apns_api_url = apns_api;
        c.push_retry_base = Duration::from_millis(20);
    })
    .await;
    NativeServer { server, google, apple, _key_files: [service_account, p8] }
}

/// Waits (up to [`WAIT`]) until `count` says something arrived, and returns it.
async fn arrival<T>(mut count: impl FnMut() -> Option<T>) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(found) = count() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the stand-in received the notification in time")
}

/// The `n`th FCM message's (token, data).
async fn fcm_message(google: &SharedGoogle, n: usize) -> (String, Value) {
    arrival(|| {
        let google = google.lock().unwrap();
        google.sent.get(n).map(|body| (body["message"]["token"].as_str().unwrap_or("").to_owned(), body["message"]["data"].clone()))
    })
    .await
}

/// The `n`th APNs request's (device token path, body).
async fn apns_request(apple: &SharedApple, n: usize) -> (String, Value) {
    arrival(|| {
        let apple = apple.lock().unwrap();
        apple.received.get(n).map(|(_, headers, body)| (headers.get("apns-collapse-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned(), body.clone()))
    })
    .await
}

async fn register(session: &Session, provider: NativePushProvider, token: &str) -> i64 {
    session.api.register_native_push(provider, token).await.expect("token registered")
}

#[tokio::test]
async fn an_offline_native_device_is_notified_through_fcm_and_apns_without_the_text() {
    let native = native_server().await;
    let alice = native.server.user("alice").await;
    let bob = native.server.user("bob").await;
    let carol = native.server.user("carol").await;
    let to_bob = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let to_carol = alice.api.direct_conversation_with(carol.user.id).await.unwrap().conversation;
    register(&bob, NativePushProvider::Fcm, "bob-android").await;
    register(&carol, NativePushProvider::Apns, "c0ffee01").await;

    let mut sender = alice.connect().await.unwrap();
    sender.send_message(to_bob.id, "secret plans").await.unwrap();
    let (token, data) = fcm_message(&native.google, 0).await;
    assert_eq!(token, "bob-android");
    assert_eq!(data["conversation_id"], to_bob.id.to_string());
    assert_eq!(data["seq"], "1");
    assert_eq!(data["sender_name"], alice.user.display_name.as_str());
    assert!(!data.to_string().contains("secret plans"), "no text unless native_push_include_text: {data}");

    sender.send_message(to_carol.id, "more secrets").await.unwrap();
    let (collapse, body) = apns_request(&native.apple, 0).await;
    assert_eq!(collapse, format!("conversation-{}", to_carol.id));
    assert_eq!(body["banter"]["conversation_id"].as_i64(), Some(to_carol.id));
    assert!(!body.to_string().contains("more secrets"), "no text unless native_push_include_text: {body}");
    assert_eq!(native.google.lock().unwrap().sent.len(), 1, "carol's message went to Apple only");
}

#[tokio::test]
async fn no_native_push_while_a_device_is_connected_or_for_a_muted_conversation() {
    let native = native_server().await;
    let alice = native.server.user("alice").await;
    let bob = native.server.user("bob").await;
    let direct = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let group = alice.api.create_group("climbing", &[bob.user.id]).await.unwrap().conversation;
    register(&bob, NativePushProvider::Fcm, "bob-android").await;
    let mut sender = alice.connect().await.unwrap();

    // Bob's laptop is connected: nothing goes to his phone.
    let laptop = native.server.second_device(&bob).await;
    let mut live = laptop.connect().await.unwrap();
    sender.send_message(direct.id, "while online").await.unwrap();
    assert_eq!(next_message(&mut live).await.text, "while online");
    live.close().await.unwrap();
    while native.server.running().connection_count() > 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Muted: nothing for the direct chat; the group's message is the first push.
    assert!(bob.api.set_muted(direct.id, true).await.unwrap().muted);
    sender.send_message(direct.id, "muted, so silent").await.unwrap();
    sender.send_message(group.id, "to the group").await.unwrap();
    let (_, data) = fcm_message(&native.google, 0).await;
    assert_eq!(data["conversation_id"], group.id.to_string(), "neither the online nor the muted message was pushed");
    assert_eq!(data["conversation_name"], "climbing");
}

#[tokio::test]
async fn a_token_the_service_reports_gone_is_removed() {
    let native = native_server().await;
    let alice = native.server.user("alice").await;
    let bob = native.server.user("bob").await;
    let carol = native.server.user("carol").await;
    let to_bob = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let to_carol = alice.api.direct_conversation_with(carol.user.id).await.unwrap().conversation;
    register(&bob, NativePushProvider::Fcm, "unregistered").await;
    register(&carol, NativePushProvider::Apns, "dead0000").await;
    // Held by bob's and carol's phones: another device cannot take them.
    let tablet = native.server.second_device(&bob).await;
    let taken = tablet.api.register_native_push(NativePushProvider::Fcm, "unregistered").await.unwrap_err();
    assert_eq!(taken.code(), Some(ErrorCode::PushEndpointTaken));

    let mut sender = alice.connect().await.unwrap();
    sender.send_message(to_bob.id, "hello").await.unwrap();
    sender.send_message(to_carol.id, "hello").await.unwrap();
    assert_eq!(fcm_message(&native.google, 0).await.0, "unregistered");
    apns_request(&native.apple, 0).await;

    // FCM's UNREGISTERED and APNs' 410 deleted them: the tokens are free.
    let carols_tablet = native.server.second_device(&carol).await;
    for (session, provider, token) in
        [(&tablet, NativePushProvider::Fcm, "unregistered"), (&carols_tablet, NativePushProvider::Apns, "dead0000")]
    {
        let freed = tokio::time::timeout(WAIT, async {
            loop {
                match session.api.register_native_push(provider, token).await {
                    Ok(_) => return,
                    Err(e) => assert_eq!(e.code(), Some(ErrorCode::PushEndpointTaken), "{e:?}"),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(freed.is_ok(), "{token} was removed after the service called it gone");
    }
}

#[tokio::test]
async fn registrations_are_validated_and_need_a_configured_provider() {
    let native = native_server().await;
    let bob = native.server.user("bob").await;
    let invalid = |code: Option<ErrorCode>| assert_eq!(code, Some(ErrorCode::InvalidPushSubscription));
    invalid(bob.api.register_native_push(NativePushProvider::Fcm, "").await.unwrap_err().code());
    invalid(bob.api.register_native_push(NativePushProvider::Fcm, &"a".repeat(4097)).await.unwrap_err().code());
    invalid(bob.api.register_native_push(NativePushProvider::Fcm, "with space").await.unwrap_err().code());
    invalid(bob.api.register_native_push(NativePushProvider::Apns, "not-hex").await.unwrap_err().code());
    register(&bob, NativePushProvider::Fcm, &"a".repeat(4096)).await;

    // One native token per device: a new one replaces it, the same one keeps its id.
    let first = register(&bob, NativePushProvider::Apns, "abcdef01").await;
    assert_eq!(register(&bob, NativePushProvider::Apns, "abcdef01").await, first);
    let replaced = register(&bob, NativePushProvider::Fcm, "new-token").await;
    assert_ne!(replaced, first);
    bob.api.unregister_native_push().await.expect("removed");

    let anonymous = native.server.api().register_native_push(NativePushProvider::Fcm, "x").await.unwrap_err();
    assert_eq!(anonymous.code(), Some(ErrorCode::Unauthorized));

    // A server without native credentials refuses both providers.
    let plain = TestServer::start().await;
    let carol = plain.user("carol").await;
    for (provider, token) in [(NativePushProvider::Fcm, "token"), (NativePushProvider::Apns, "abcd")] {
        let refused = carol.api.register_native_push(provider, token).await.unwrap_err();
        assert_eq!(refused.code(), Some(ErrorCode::PushProviderNotConfigured), "{refused:?}");
    }
}

#[tokio::test]
async fn an_unreadable_key_file_stops_the_server_at_start() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let config = banter_server::config::ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.path().to_path_buf(),
        fcm_service_account_file: Some(data_dir.path().join("missing.json")),
        ..Default::default()
    };
    let error = banter_server::Server::start(config).await.err().expect("refused");
    assert!(error.to_string().contains("fcm_service_account_file") && error.to_string().contains("missing.json"), "{error}");
}
