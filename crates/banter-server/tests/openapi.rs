//! The served OpenAPI document against what the server really answers.
//!
//! A real server; its document fetched from `GET /api/v1/openapi.json`;
//! then every operation in it called for real — its happy path and each
//! error status it can be made to answer here. For every answer:
//!
//! * the status is one the operation declares;
//! * a JSON body validates against the schema declared for that status
//!   (`$ref`s resolved into the document's components), and a status
//!   declared without content has an empty body.
//!
//! At the end every operation must have been called, and every status it
//! declares provoked, except those no test can provoke on purpose here
//! ([`NOT_PROVOKED`]). And the document must describe exactly the paths
//! and methods the router serves under `/api/v1`.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use reqwest::{header, Method};
use serde_json::{json, Value};

use common::{TestServer, PASSWORD};

/// Declared statuses this test does not provoke: the whole-request deadline
/// (408, 30 s), the per-account budgets (429, tested in
/// `account_limits.rs`, `hostile.rs`), a failed store or a draining server
/// (503, tested in the fault tests) and bugs (500).
const NOT_PROVOKED: &[&str] = &["408", "429", "500", "503"];

/// A Google service-account key file with a fresh RSA key.
fn fcm_service_account_file() -> tempfile::NamedTempFile {
    use web_push_native::jwt_simple::algorithms::RS256KeyPair;
    let pem = RS256KeyPair::generate(2048).expect("RSA key").to_pem().expect("pem");
    let account = json!({
        "project_id": "banter-project",
        "client_email": "banter@project.iam.gserviceaccount.com",
        "private_key": pem,
        "token_uri": "http://127.0.0.1:9/token",
    });
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), account.to_string()).expect("write key file");
    file
}

/// A body over the 64 KiB limit.
fn oversized() -> String {
    format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024))
}

enum Body {
    None,
    Json(Value),
    Raw(String),
    Bytes(Vec<u8>),
}

struct Checker {
    base: String,
    http: reqwest::Client,
    doc: Value,
    /// (path template, method) → statuses seen.
    exercised: BTreeMap<(String, String), BTreeSet<String>>,
}

impl Checker {
    async fn new(server: &TestServer) -> Checker {
        let base = server.url();
        let http = reqwest::Client::new();
        let doc: Value = http
            .get(format!("{base}/api/v1/openapi.json"))
            .send()
            .await
            .expect("openapi.json answers")
            .json()
            .await
            .expect("openapi.json is JSON");
        Checker { base, http, doc, exercised: BTreeMap::new() }
    }

    /// Calls `method path` (an instance of `template`), asserts the status
    /// is `expect`, that the operation declares it and that the body
    /// matches the declared schema. Returns the body (Null when empty).
    /// Positional on purpose: the calls below read as a table.
    #[allow(clippy::too_many_arguments)]
    async fn call(
        &mut self,
        method: Method,
        template: &str,
        path: &str,
        token: Option<&str>,
        body: Body,
        headers: &[(&str, &str)],
        expect: u16,
    ) -> Value {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(&value),
            Body::Raw(text) => request.header(header::CONTENT_TYPE, "application/json").body(text),
            Body::Bytes(bytes) => request.body(bytes),
        };
        let response = request.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let what = format!("{method} {path} (operation {method} {template})");
        let operation = self.doc["paths"][template][method.as_str().to_lowercase()].clone();
        assert!(operation.is_object(), "{what}: not in the document");
        let declared = &operation["responses"][status.to_string()];
        // Read the body before asserting, so a failure shows it.
        let event_stream = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
        let (content_type, text) = if status == 101 || event_stream {
            // An open connection: its frames are the protocol's, not a body.
            (None, String::new())
        } else {
            let content_type =
                response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
            (content_type, response.text().await.unwrap_or_default())
        };
        assert_eq!(status, expect, "{what}: answered {status}: {text}");
        assert!(declared.is_object(), "{what}: status {status} is not declared; body {text}");
        self.exercised.entry((template.to_owned(), method.as_str().to_owned())).or_default().insert(status.to_string());

        if event_stream {
            assert!(declared["content"]["text/event-stream"].is_object(), "{what}: an event stream not declared as one");
            return Value::Null;
        }
        let schema = &declared["content"]["application/json"]["schema"];
        if declared.get("content").is_none() {
            assert!(text.is_empty(), "{what}: {status} declares no content but has a body: {text}");
            return Value::Null;
        }
        assert!(
            content_type.as_deref().is_some_and(|t| t.starts_with("application/json")),
            "{what}: content type {content_type:?}"
        );
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
        if schema.is_object() {
            self.validate(&what, schema, &value);
        }
        value
    }

    /// Validates `value` against `schema`, whose `$ref`s point into the
    /// document's components.
    fn validate(&self, what: &str, schema: &Value, value: &Value) {
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"].clone(),
            "allOf": [schema.clone()],
        });
        let validator = jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("{what}: schema does not compile: {e}"));
        let errors: Vec<String> = validator.iter_errors(value).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{what}: the body does not match its schema: {errors:?}\nbody: {value}\nschema: {schema}");
    }

    /// Whether `value` matches `schema` (for the checker's own test).
    fn matches(&self, schema: &Value, value: &Value) -> bool {
        let root = json!({"components": self.doc["components"].clone(), "allOf": [schema.clone()]});
        jsonschema::draft202012::new(&root).expect("schema compiles").is_valid(value)
    }

    /// Every request-body operation: malformed JSON is 400, an oversized
    /// body 413 (both declared).
    async fn bad_bodies(&mut self, method: Method, template: &str, path: &str, token: Option<&str>) {
        self.call(method.clone(), template, path, token, Body::Raw("{not json".into()), &[], 400).await;
        self.call(method, template, path, token, Body::Raw(oversized()), &[], 413).await;
    }

    /// Signed-in operations: no token, and an unknown token, are 401.
    async fn unauthorized(&mut self, method: Method, template: &str, path: &str) {
        self.call(method.clone(), template, path, None, Body::None, &[], 401).await;
        self.call(method, template, path, Some("not-a-token"), Body::None, &[], 401).await;
    }

    fn operations(&self) -> Vec<(String, String)> {
        let mut all = Vec::new();
        for (path, item) in self.doc["paths"].as_object().expect("paths") {
            for method in ["get", "post", "put", "patch", "delete"] {
                if item.get(method).is_some() {
                    all.push((path.clone(), method.to_uppercase()));
                }
            }
        }
        all
    }
}

async fn signup(checker: &mut Checker, username: &str) -> (String, i64, i64) {
    let body = checker
        .call(
            Method::POST,
            "/api/v1/auth/signup",
            "/api/v1/auth/signup",
            None,
            Body::Json(json!({"username": username, "password": PASSWORD})),
            &[],
            201,
        )
        .await;
    let token = body["token"].as_str().expect("token").to_owned();
    (token, body["user"]["id"].as_i64().expect("user id"), body["device_id"].as_i64().expect("device id"))
}

/// A subscription as a browser would send it: fresh P-256 keys.
fn push_subscription(endpoint: &str) -> Value {
    let (pair, auth) = ece::generate_keypair_and_auth_secret().expect("keys");
    let public = URL_SAFE_NO_PAD.encode(pair.pub_as_raw().expect("public key"));
    json!({"endpoint": endpoint, "keys": {"p256dh": public, "auth": URL_SAFE_NO_PAD.encode(auth)}})
}

#[tokio::test]
async fn every_operation_answers_only_declared_statuses_with_bodies_of_the_declared_schemas() {
    // FCM configured (no request reaches Google here), APNs not: both
    // answers of `PUT /push/native` can be provoked.
    let fcm_key = fcm_service_account_file();
    let fcm_path = fcm_key.path().to_path_buf();
    let server = TestServer::start_with(|config| {
        config.fcm_service_account_file = Some(fcm_path);
        // One block each, so `too_many_blocks` is cheap to provoke.
        config.max_blocked_users = 1;
    })
    .await;
    let mut c = Checker::new(&server).await;
    let (get, post, put, patch, delete) = (Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE);
    // The checker itself: references resolve, and a wrong body fails.
    let error_body = json!({"$ref": "#/components/schemas/ErrorBody"});
    assert!(c.matches(&error_body, &json!({"code": "client_msg_id_reused", "message": "m"})));
    assert!(!c.matches(&error_body, &json!({"code": "no_such_code", "message": "m"})));
    assert!(!c.matches(&error_body, &json!({"code": "internal"})));

    // --- accounts ---
    let signup_path = "/api/v1/auth/signup";
    let (alice, alice_id, _) = signup(&mut c, "oa_alice").await;
    let (bob, bob_id, _) = signup(&mut c, "oa_bob").await;
    let (carol, carol_id, _) = signup(&mut c, "oa_carol").await;
    let taken = Body::Json(json!({"username": "oa_alice", "password": PASSWORD}));
    c.call(post.clone(), signup_path, signup_path, None, taken, &[], 409).await;
    let invalid = Body::Json(json!({"username": "!", "password": PASSWORD}));
    c.call(post.clone(), signup_path, signup_path, None, invalid, &[], 400).await;
    c.bad_bodies(post.clone(), signup_path, signup_path, None).await;

    let login = "/api/v1/auth/login";
    let second = Body::Json(json!({"username": "oa_alice", "password": PASSWORD, "device_name": "tablet"}));
    let tablet = c.call(post.clone(), login, login, None, second, &[], 200).await;
    let tablet_device = tablet["device_id"].as_i64().expect("device id");
    let wrong = Body::Json(json!({"username": "oa_alice", "password": "wrong password here"}));
    c.call(post.clone(), login, login, None, wrong, &[], 401).await;
    c.bad_bodies(post.clone(), login, login, None).await;

    let me = "/api/v1/me";
    c.call(get.clone(), me, me, Some(&alice), Body::None, &[], 200).await;
    c.unauthorized(get.clone(), me, me).await;
    c.call(patch.clone(), me, me, Some(&alice), Body::Json(json!({"display_name": "Alice"})), &[], 200).await;
    c.call(patch.clone(), me, me, Some(&alice), Body::Json(json!({"display_name": "   "})), &[], 400).await;
    c.unauthorized(patch.clone(), me, me).await;
    c.bad_bodies(patch.clone(), me, me, Some(&alice)).await;

    let user = "/api/v1/users/{username}";
    c.call(get.clone(), user, "/api/v1/users/oa_bob", Some(&alice), Body::None, &[], 200).await;
    c.call(get.clone(), user, "/api/v1/users/nobody_here", Some(&alice), Body::None, &[], 404).await;
    c.unauthorized(get.clone(), user, "/api/v1/users/oa_bob").await;

    let devices = "/api/v1/devices";
    c.call(get.clone(), devices, devices, Some(&alice), Body::None, &[], 200).await;
    c.unauthorized(get.clone(), devices, devices).await;
    let device = "/api/v1/devices/{device_id}";
    c.call(delete.clone(), device, &format!("/api/v1/devices/{tablet_device}"), Some(&alice), Body::None, &[], 204).await;
    c.call(delete.clone(), device, "/api/v1/devices/999999", Some(&alice), Body::None, &[], 404).await;
    c.call(delete.clone(), device, "/api/v1/devices/abc", Some(&alice), Body::None, &[], 400).await;
    c.unauthorized(delete.clone(), device, "/api/v1/devices/1").await;

    // --- conversations ---
    let list = "/api/v1/conversations";
    let direct = "/api/v1/conversations/direct";
    let with_bob = Body::Json(json!({"user_id": bob_id}));
    let chat = c.call(post.clone(), direct, direct, Some(&alice), with_bob, &[], 201).await;
    let chat_id = chat["conversation"]["id"].as_i64().expect("conversation id");
    c.call(post.clone(), direct, direct, Some(&alice), Body::Json(json!({"user_id": bob_id})), &[], 200).await;
    c.call(post.clone(), direct, direct, Some(&alice), Body::Json(json!({"user_id": alice_id})), &[], 400).await;
    c.call(post.clone(), direct, direct, Some(&alice), Body::Json(json!({"username": "nobody_here"})), &[], 404).await;
    c.unauthorized(post.clone(), direct, direct).await;
    c.bad_bodies(post.clone(), direct, direct, Some(&alice)).await;

    let groups = "/api/v1/conversations/groups";
    let group = c.call(post.clone(), groups, groups, Some(&alice), Body::Json(json!({"name": "g", "member_ids": [bob_id]})), &[], 201).await;
    let group_id = group["conversation"]["id"].as_i64().expect("group id");
    c.call(post.clone(), groups, groups, Some(&alice), Body::Json(json!({"name": " ", "member_ids": []})), &[], 400).await;
    c.call(post.clone(), groups, groups, Some(&alice), Body::Json(json!({"name": "g", "member_ids": [999_999]})), &[], 404)
        .await;
    let crowd: Vec<i64> = (1_000_000..1_000_300).collect();
    c.call(post.clone(), groups, groups, Some(&alice), Body::Json(json!({"name": "g", "member_ids": crowd})), &[], 409).await;
    c.unauthorized(post.clone(), groups, groups).await;
    c.bad_bodies(post.clone(), groups, groups, Some(&alice)).await;

    // Two messages, so pages and the conversation list carry them.
    let mut phone = banter_sdk::Connection::connect(&c.base, &alice).await.expect("connect");
    phone.send_message(group_id, "first").await.expect("ack");
    phone.send_message(group_id, "second").await.expect("ack");
    phone.send_message(chat_id, "hi bob").await.expect("ack");

    c.call(get.clone(), list, list, Some(&alice), Body::None, &[], 200).await;
    c.unauthorized(get.clone(), list, list).await;

    let one = "/api/v1/conversations/{id}";
    let group_path = format!("/api/v1/conversations/{group_id}");
    c.call(get.clone(), one, &group_path, Some(&alice), Body::None, &[], 200).await;
    c.call(get.clone(), one, &group_path, Some(&carol), Body::None, &[], 403).await;
    c.call(get.clone(), one, "/api/v1/conversations/abc", Some(&alice), Body::None, &[], 400).await;
    c.unauthorized(get.clone(), one, &group_path).await;

    let members = "/api/v1/conversations/{id}/members";
    let members_path = format!("{group_path}/members");
    let add = |ids: Value| Body::Json(json!({ "user_ids": ids }));
    c.call(post.clone(), members, &members_path, Some(&alice), add(json!([carol_id])), &[], 200).await;
    c.call(post.clone(), members, &members_path, Some(&alice), add(json!([])), &[], 400).await;
    c.call(post.clone(), members, &format!("/api/v1/conversations/{chat_id}/members"), Some(&alice), add(json!([carol_id])), &[], 400)
        .await;
    c.call(post.clone(), members, &members_path, Some(&bob), add(json!([999_998])), &[], 403).await;
    c.call(post.clone(), members, &members_path, Some(&alice), add(json!([999_999])), &[], 404).await;
    c.call(post.clone(), members, &members_path, Some(&alice), add(json!([bob_id])), &[], 409).await;
    c.unauthorized(post.clone(), members, &members_path).await;
    c.bad_bodies(post.clone(), members, &members_path, Some(&alice)).await;
    c.call(post.clone(), members, "/api/v1/conversations/abc/members", Some(&alice), add(json!([carol_id])), &[], 400).await;

    let member = "/api/v1/conversations/{id}/members/{user_id}";
    c.call(delete.clone(), member, &format!("{group_path}/members/{alice_id}"), Some(&bob), Body::None, &[], 403).await;
    c.call(delete.clone(), member, &format!("/api/v1/conversations/{chat_id}/members/{bob_id}"), Some(&alice), Body::None, &[], 400)
        .await;
    c.call(delete.clone(), member, &format!("{group_path}/members/abc"), Some(&alice), Body::None, &[], 400).await;
    c.unauthorized(delete.clone(), member, &format!("{group_path}/members/{carol_id}")).await;
    c.call(delete.clone(), member, &format!("{group_path}/members/{carol_id}"), Some(&alice), Body::None, &[], 204).await;

    let history = "/api/v1/conversations/{id}/messages";
    let history_path = format!("{group_path}/messages");
    let page = c.call(get.clone(), history, &history_path, Some(&bob), Body::None, &[], 200).await;
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(2));
    c.call(get.clone(), history, &format!("{history_path}?limit=0"), Some(&bob), Body::None, &[], 400).await;
    c.call(get.clone(), history, &format!("{history_path}?before=2&after=1"), Some(&bob), Body::None, &[], 400).await;
    c.call(get.clone(), history, &history_path, Some(&carol), Body::None, &[], 403).await;
    c.unauthorized(get.clone(), history, &history_path).await;

    let read = "/api/v1/conversations/{id}/read";
    let read_path = format!("{group_path}/read");
    c.call(post.clone(), read, &read_path, Some(&bob), Body::Json(json!({"seq": 2})), &[], 200).await;
    c.call(post.clone(), read, &read_path, Some(&carol), Body::Json(json!({"seq": 2})), &[], 403).await;
    c.call(post.clone(), read, "/api/v1/conversations/abc/read", Some(&bob), Body::Json(json!({"seq": 2})), &[], 400).await;
    c.unauthorized(post.clone(), read, &read_path).await;
    c.bad_bodies(post.clone(), read, &read_path, Some(&bob)).await;

    let receipts = "/api/v1/conversations/{id}/messages/{seq}/receipts";
    c.call(get.clone(), receipts, &format!("{history_path}/1/receipts"), Some(&alice), Body::None, &[], 200).await;
    c.call(get.clone(), receipts, &format!("{history_path}/99/receipts"), Some(&alice), Body::None, &[], 404).await;
    c.call(get.clone(), receipts, &format!("{history_path}/abc/receipts"), Some(&alice), Body::None, &[], 400).await;
    c.call(get.clone(), receipts, &format!("{history_path}/1/receipts"), Some(&carol), Body::None, &[], 403).await;
    c.unauthorized(get.clone(), receipts, &format!("{history_path}/1/receipts")).await;

    let mute = "/api/v1/conversations/{id}/mute";
    let mute_path = format!("{group_path}/mute");
    c.call(put.clone(), mute, &mute_path, Some(&bob), Body::Json(json!({"muted": true})), &[], 200).await;
    c.call(put.clone(), mute, &mute_path, Some(&carol), Body::Json(json!({"muted": true})), &[], 403).await;
    c.call(put.clone(), mute, "/api/v1/conversations/abc/mute", Some(&bob), Body::Json(json!({"muted": true})), &[], 400).await;
    c.unauthorized(put.clone(), mute, &mute_path).await;
    c.bad_bodies(put.clone(), mute, &mute_path, Some(&bob)).await;

    // --- search ---
    let search = "/api/v1/search";
    c.call(get.clone(), search, &format!("{search}?q=hello"), Some(&alice), Body::None, &[], 200).await;
    c.call(get.clone(), search, &format!("{search}?q={}", "a".repeat(300)), Some(&alice), Body::None, &[], 400).await;
    c.call(get.clone(), search, &format!("{search}?q=hi&conversation_id={group_id}"), Some(&carol), Body::None, &[], 403).await;
    c.unauthorized(get.clone(), search, &format!("{search}?q=hi")).await;
    c.call(get.clone(), list, &format!("{list}?q={}", "a".repeat(300)), Some(&alice), Body::None, &[], 400).await;

    // --- presence, push, meta ---
    let presence = "/api/v1/presence";
    c.call(get.clone(), presence, &format!("{presence}?user_ids={bob_id},{carol_id}"), Some(&alice), Body::None, &[], 200).await;
    c.call(get.clone(), presence, &format!("{presence}?user_ids=abc"), Some(&alice), Body::None, &[], 400).await;
    c.call(get.clone(), presence, presence, Some(&alice), Body::None, &[], 400).await;
    c.unauthorized(get.clone(), presence, presence).await;

    let vapid = "/api/v1/push/vapid-public-key";
    c.call(get.clone(), vapid, vapid, None, Body::None, &[], 200).await;
    let subscriptions = "/api/v1/push/subscriptions";
    let endpoint = "https://fcm.googleapis.com/fcm/send/openapi-test";
    c.call(post.clone(), subscriptions, subscriptions, Some(&alice), Body::Json(push_subscription(endpoint)), &[], 201).await;
    c.call(post.clone(), subscriptions, subscriptions, Some(&bob), Body::Json(push_subscription(endpoint)), &[], 409).await;
    let elsewhere = push_subscription("http://127.0.0.1:9/push");
    c.call(post.clone(), subscriptions, subscriptions, Some(&alice), Body::Json(elsewhere), &[], 400).await;
    c.unauthorized(post.clone(), subscriptions, subscriptions).await;
    c.bad_bodies(post.clone(), subscriptions, subscriptions, Some(&alice)).await;
    c.call(delete.clone(), subscriptions, subscriptions, Some(&alice), Body::None, &[], 204).await;
    c.unauthorized(delete.clone(), subscriptions, subscriptions).await;

    let native = "/api/v1/push/native";
    let fcm = json!({"provider": "fcm", "token": "fcm-openapi-token"});
    c.call(put.clone(), native, native, Some(&alice), Body::Json(fcm.clone()), &[], 200).await;
    c.call(put.clone(), native, native, Some(&bob), Body::Json(fcm), &[], 409).await;
    c.call(put.clone(), native, native, Some(&alice), Body::Json(json!({"provider": "apns", "token": "00ff"})), &[], 409).await;
    c.call(put.clone(), native, native, Some(&alice), Body::Json(json!({"provider": "fcm", "token": ""})), &[], 400).await;
    c.unauthorized(put.clone(), native, native).await;
    c.bad_bodies(put.clone(), native, native, Some(&alice)).await;
    c.call(delete.clone(), native, native, Some(&alice), Body::None, &[], 204).await;
    c.unauthorized(delete.clone(), native, native).await;

    let health = "/api/v1/health";
    c.call(get.clone(), health, health, None, Body::None, &[], 200).await;
    let ready = "/api/v1/ready";
    c.call(get.clone(), ready, ready, None, Body::None, &[], 200).await;
    let openapi = "/api/v1/openapi.json";
    c.call(get.clone(), openapi, openapi, None, Body::None, &[], 200).await;

    // --- the WebSocket handshake ---
    let ws = "/api/v1/ws";
    let upgrade = [
        ("connection", "upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    c.call(get.clone(), ws, ws, Some(&bob), Body::None, &upgrade, 101).await;
    c.call(get.clone(), ws, ws, Some(&bob), Body::None, &[], 400).await;
    c.call(get.clone(), ws, ws, None, Body::None, &upgrade, 401).await;
    c.call(get.clone(), ws, ws, Some("not-a-token"), Body::None, &upgrade, 401).await;
    let foreign: Vec<(&str, &str)> = upgrade.iter().copied().chain([("origin", "https://evil.example")]).collect();
    c.call(get.clone(), ws, ws, Some(&bob), Body::None, &foreign, 403).await;

    // --- the fallback transport ---
    let events = "/api/v1/events";
    c.call(get.clone(), events, events, Some(&bob), Body::None, &[], 200).await;
    c.unauthorized(get.clone(), events, events).await;
    c.call(get.clone(), events, events, Some(&bob), Body::None, &[("origin", "https://evil.example")], 403).await;
    let (_open_stream, stream_id) = open_event_stream(&c.base, &bob).await;
    let posted = "/api/v1/events/{stream_id}";
    let mine = format!("/api/v1/events/{stream_id}");
    c.call(post.clone(), posted, &mine, Some(&bob), Body::Raw(r#"{"type":"ping"}"#.into()), &[], 204).await;
    c.call(post.clone(), posted, &mine, Some(&bob), Body::Bytes(vec![0xff, 0xfe]), &[], 400).await;
    c.call(post.clone(), posted, &mine, Some(&bob), Body::Bytes(vec![b' '; 1024 * 1024 + 1]), &[], 413).await;
    c.call(post.clone(), posted, &mine, Some(&alice), Body::Raw(r#"{"type":"ping"}"#.into()), &[], 404).await;
    c.call(post.clone(), posted, &mine, Some(&bob), Body::Raw(r#"{"type":"ping"}"#.into()), &[("origin", "https://evil.example")], 403).await;
    c.unauthorized(post.clone(), posted, &mine).await;

    // --- blocks and leaving (issue 16) ---
    let (dave, dave_id, _) = signup(&mut c, "oa_dave").await;
    let blocks = "/api/v1/blocks";
    let block = "/api/v1/blocks/{user_id}";
    let dave_path = format!("/api/v1/blocks/{dave_id}");
    c.call(put.clone(), block, &dave_path, Some(&carol), Body::None, &[], 204).await;
    c.call(put.clone(), block, &format!("/api/v1/blocks/{carol_id}"), Some(&carol), Body::None, &[], 400).await;
    c.call(put.clone(), block, "/api/v1/blocks/999999", Some(&carol), Body::None, &[], 404).await;
    c.call(put.clone(), block, "/api/v1/blocks/abc", Some(&carol), Body::None, &[], 400).await;
    c.call(put.clone(), block, &format!("/api/v1/blocks/{alice_id}"), Some(&carol), Body::None, &[], 409).await;
    c.unauthorized(put.clone(), block, &dave_path).await;
    c.call(get.clone(), blocks, blocks, Some(&carol), Body::None, &[], 200).await;
    c.unauthorized(get.clone(), blocks, blocks).await;
    c.call(post.clone(), direct, direct, Some(&dave), Body::Json(json!({"user_id": carol_id})), &[], 403).await;
    c.call(post.clone(), groups, groups, Some(&dave), Body::Json(json!({"name": "g", "member_ids": [carol_id]})), &[], 403)
        .await;
    c.call(delete.clone(), block, &dave_path, Some(&carol), Body::None, &[], 204).await;
    c.call(delete.clone(), block, "/api/v1/blocks/abc", Some(&carol), Body::None, &[], 400).await;
    c.unauthorized(delete.clone(), block, &dave_path).await;
    let export = "/api/v1/me/export";
    c.call(get.clone(), export, export, Some(&alice), Body::None, &[], 200).await;
    c.call(get.clone(), export, &format!("{export}?after_seq=1"), Some(&alice), Body::None, &[], 400).await;
    c.unauthorized(get.clone(), export, export).await;
    c.call(delete.clone(), me, me, Some(&dave), Body::Json(json!({"password": "not the password"})), &[], 403).await;
    c.bad_bodies(delete.clone(), me, me, Some(&dave)).await;
    c.unauthorized(delete.clone(), me, me).await;
    c.call(delete.clone(), me, me, Some(&dave), Body::Json(json!({"password": PASSWORD})), &[], 204).await;

    let logout = "/api/v1/auth/logout";
    c.call(post.clone(), logout, logout, Some(&carol), Body::None, &[], 204).await;
    c.unauthorized(post.clone(), logout, logout).await;

    // Every operation called, and every status it declares provoked.
    for (path, method) in c.operations() {
        let seen = c.exercised.get(&(path.clone(), method.clone())).cloned().unwrap_or_default();
        assert!(!seen.is_empty(), "{method} {path} was never called");
        let declared: BTreeSet<String> = c.doc["paths"][&path][method.to_lowercase()]["responses"]
            .as_object()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default();
        let missing: Vec<&String> =
            declared.iter().filter(|s| !seen.contains(*s) && !NOT_PROVOKED.contains(&s.as_str())).collect();
        assert!(missing.is_empty(), "{method} {path}: declared {missing:?} never provoked (seen {seen:?})");
    }
}

/// Opens an event stream of `token`'s device; returns it (keep it to keep
/// the stream open) and its id.
async fn open_event_stream(base: &str, token: &str) -> (reqwest::Response, String) {
    let mut response =
        reqwest::Client::new().get(format!("{base}/api/v1/events")).bearer_auth(token).send().await.expect("stream opens");
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = response.chunk().await.expect("stream reads").expect("a first event");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let data = text.split("\n\n").next().and_then(|e| e.strip_prefix("event: stream\ndata: ")).expect("the stream event");
    let id = serde_json::from_str::<Value>(data).expect("JSON")["stream_id"].as_str().expect("stream_id").to_owned();
    (response, id)
}

#[tokio::test]
async fn the_document_describes_every_path_and_method_the_router_serves() {
    let server = TestServer::start().await;
    let c = Checker::new(&server).await;
    let documented: BTreeMap<String, BTreeSet<String>> = c
        .operations()
        .into_iter()
        .fold(BTreeMap::new(), |mut all, (path, method)| {
            all.entry(path).or_default().insert(method);
            all
        });
    let mut served = BTreeMap::new();
    for path in banter_server::http::api_paths() {
        // A method no route takes: the router answers 405 with `Allow`.
        let concrete: Vec<&str> = path.split('/').map(|segment| if segment.starts_with('{') { "1" } else { segment }).collect();
        let concrete = concrete.join("/");
        let response = c
            .http
            .request(Method::TRACE, format!("{}/api/v1{concrete}", c.base))
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status().as_u16(), 405, "TRACE {concrete}");
        let allow = response.headers().get(header::ALLOW).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let methods: BTreeSet<String> =
            allow.split(',').map(|m| m.trim().to_owned()).filter(|m| !m.is_empty() && m != "HEAD").collect();
        served.insert(format!("/api/v1{path}"), methods);
    }
    assert_eq!(documented, served, "documented paths and methods = what the router serves");
}
