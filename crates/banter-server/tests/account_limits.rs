//! Per-account budgets on the signed-in HTTP endpoints: each class answers
//! `429 rate_limited` with `Retry-After` once the caller's budget is spent,
//! without touching other accounts or other classes; username lookups are
//! tight enough that accounts cannot be enumerated at speed.

mod common;

use banter_server::config::{AccountHttpLimits, Budget};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// One signed-in request, as an outside client sends it.
async fn call(server: &TestServer, token: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value, Option<u64>) {
    let mut request = reqwest::Client::new().request(method, format!("{}/api/v1{path}", server.url())).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, retry_after)
}

fn assert_rate_limited(what: &str, (status, body, retry_after): (u16, Value, Option<u64>)) {
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")), "{what}: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
    assert!(retry_after.is_some_and(|s| (1..=60).contains(&s)), "{what}: Retry-After {retry_after:?}");
}

#[tokio::test]
async fn each_endpoint_class_answers_429_with_retry_after_once_its_budget_is_spent() {
    let two = Budget::new(1, 2);
    let server = TestServer::start_with(|c| {
        c.account_http_limits = AccountHttpLimits {
            reads: two,
            lookups: two,
            membership: two,
            updates: two,
            profile: two,
            sessions: two,
            push: two,
            ..generous_account_http_limits()
        };
    })
    .await;
    // (class, method, path, body): a valid request of each class.
    let classes: [(&str, Method, &str, Option<Value>); 8] = [
        ("reads", Method::GET, "/conversations", None),
        ("lookups", Method::GET, "/users/{host}", None),
        ("membership", Method::POST, "/conversations/groups", Some(json!({"name": "g", "member_ids": []}))),
        ("updates", Method::PUT, "/conversations/{group}/mute", Some(json!({"muted": true}))),
        ("profile", Method::PATCH, "/me", Some(json!({"display_name": "Renamed"}))),
        ("sessions", Method::GET, "/devices", None),
        ("push", Method::DELETE, "/push/subscriptions", None),
        ("push", Method::DELETE, "/push/native", None),
    ];
    for (class, method, path, body) in classes {
        let spender = server.user("spender").await;
        let bystander = server.user("bystander").await;
        // A group of both, made by a third account (its own budget).
        let host = server.user("host").await;
        let group = host.api.create_group("limits", &[spender.user.id, bystander.user.id]).await.expect("group").conversation.id;
        let path = path.replace("{host}", &host.user.username).replace("{group}", &group.to_string());
        for n in 1..=2 {
            let (status, answer, _) = call(&server, &spender.token, method.clone(), &path, body.clone()).await;
            assert!((200..300).contains(&status), "{class} request {n} is within the budget: {status} {answer}");
        }
        assert_rate_limited(class, call(&server, &spender.token, method.clone(), &path, body.clone()).await);
        let (status, answer, _) = call(&server, &bystander.token, method.clone(), &path, body.clone()).await;
        assert!((200..300).contains(&status), "{class}: another account is unaffected: {status} {answer}");
        let other_class = if class == "reads" { (Method::GET, "/devices") } else { (Method::GET, "/me") };
        let (status, answer, _) = call(&server, &spender.token, other_class.0, other_class.1, None).await;
        assert!((200..300).contains(&status), "{class}: the caller's other classes are unaffected: {status} {answer}");
    }
}

#[tokio::test]
async fn username_lookups_cannot_enumerate_accounts_at_speed() {
    let server = TestServer::start_with(|c| {
        c.account_http_limits = AccountHttpLimits {
            lookups: Budget::new(1, 10),
            lookups_per_address: Budget::new(1, 25),
            ..generous_account_http_limits()
        };
    })
    .await;
    let probe = |n: usize| format!("/users/probe_{n}");
    let first = server.user("enumerator").await;
    for n in 0..10 {
        let (status, body, _) = call(&server, &first.token, Method::GET, &probe(n), None).await;
        assert_eq!((status, body["code"].as_str()), (404, Some("user_not_found")), "misses count like hits");
    }
    assert_rate_limited("11th lookup", call(&server, &first.token, Method::GET, &probe(10), None).await);
    let by_name = Some(json!({"username": "probe_11"}));
    assert_rate_limited(
        "a direct conversation by username is a lookup too",
        call(&server, &first.token, Method::POST, "/conversations/direct", by_name).await,
    );
    // A second and third account from the same address share its budget.
    let second = server.user("enumerator").await;
    for n in 0..10 {
        let (status, _, _) = call(&server, &second.token, Method::GET, &probe(100 + n), None).await;
        assert_eq!(status, 404);
    }
    let third = server.user("enumerator").await;
    for n in 0..5 {
        let (status, _, _) = call(&server, &third.token, Method::GET, &probe(200 + n), None).await;
        assert_eq!(status, 404);
    }
    assert_rate_limited("the address's 26th lookup", call(&server, &third.token, Method::GET, &probe(300), None).await);
}
