//! The HTTP surface itself: the OpenAPI document, error bodies for malformed
//! and oversized requests, unknown endpoints.

mod common;

use banter_protocol::{ErrorBody, ErrorCode};
use common::TestServer;

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint_and_the_frames() {
    let server = TestServer::start().await;
    let doc: serde_json::Value = reqwest::get(format!("{}/api/v1/openapi.json", server.url())).await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/auth/signup", "/api/v1/auth/login", "/api/v1/auth/logout", "/api/v1/me", "/api/v1/users/{username}",
        "/api/v1/devices", "/api/v1/devices/{device_id}", "/api/v1/conversations", "/api/v1/conversations/direct",
        "/api/v1/conversations/groups", "/api/v1/conversations/{id}", "/api/v1/conversations/{id}/members",
        "/api/v1/conversations/{id}/members/{user_id}", "/api/v1/conversations/{id}/messages",
        "/api/v1/conversations/{id}/read", "/api/v1/health", "/api/v1/ready",
    ] {
        assert!(paths.contains_key(path), "missing {path}");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in ["ClientFrame", "ServerFrame", "ErrorCode", "Message", "Conversation"] {
        assert!(schemas.contains_key(schema), "missing schema {schema}");
    }
}

#[tokio::test]
async fn malformed_oversized_and_misrouted_requests_get_documented_error_bodies() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let signup = format!("{}/api/v1/auth/signup", server.url());

    let response = http.post(&signup).header("content-type", "application/json").body("{not json").send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<ErrorBody>().await.unwrap().code, ErrorCode::InvalidJson);

    let response = http.post(&signup).json(&serde_json::json!({"username": 5, "password": []})).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<ErrorBody>().await.unwrap().code, ErrorCode::InvalidJson);

    let invalid_utf8 = b"{\"username\": \"\xff\xfe\", \"password\": \"correct horse battery\"}".to_vec();
    let response = http.post(&signup).header("content-type", "application/json").body(invalid_utf8).send().await.unwrap();
    assert_eq!(response.status(), 400, "invalid UTF-8 in a JSON body");
    assert_eq!(response.json::<ErrorBody>().await.unwrap().code, ErrorCode::InvalidJson);

    let huge = serde_json::json!({"username": "x".repeat(2_000_000), "password": "p"});
    let response = http.post(&signup).json(&huge).send().await.unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.json::<ErrorBody>().await.unwrap().code, ErrorCode::PayloadTooLarge);

    let response = http.get(format!("{}/api/v1/no/such/thing", server.url())).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<ErrorBody>().await.unwrap().code, ErrorCode::NotFound);

    let alice = server.user("alice").await;
    let response = http
        .get(format!("{}/api/v1/conversations/not-a-number/messages", server.url()))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<ErrorBody>().await.unwrap().code, ErrorCode::InvalidRequest);

    // And the server is still fine.
    assert_eq!(server.api().health().await.unwrap().status, "ok");
}

#[tokio::test]
async fn a_server_whose_storage_answers_is_ready() {
    let server = TestServer::start().await;
    let ready = server.api().ready().await.expect("ready");
    assert_eq!(ready.status, "ready");
    // Asked again at once: the same answer (reused, not probed again).
    assert_eq!(server.api().ready().await.expect("still ready").status, "ready");
}

#[tokio::test]
async fn a_wrong_method_gets_405_with_an_error_body_and_the_allowed_methods() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let response = http.put(format!("{}/api/v1/auth/login", server.url())).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers().get("allow").and_then(|v| v.to_str().ok()), Some("POST"));
    assert_eq!(response.json::<ErrorBody>().await.unwrap().code, ErrorCode::MethodNotAllowed);

    let response = http.delete(format!("{}/api/v1/health", server.url())).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.json::<ErrorBody>().await.unwrap().code, ErrorCode::MethodNotAllowed);

    let response = http.post(format!("{}/index.html", server.url())).send().await.unwrap();
    assert_eq!(response.status(), 405, "the web client's files");
    assert_eq!(response.headers().get("allow").and_then(|v| v.to_str().ok()), Some("GET, HEAD"));
    assert_eq!(response.json::<ErrorBody>().await.unwrap().code, ErrorCode::MethodNotAllowed);
}
