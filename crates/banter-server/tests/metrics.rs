//! Prometheus metrics on their own listener: what happened is counted, and
//! the public port does not expose them.
//!
//! One test in this file: the recorder is per process, so its counts are
//! exactly this test's.

mod common;

use banter_protocol::ErrorCode;
use common::*;

/// The value of the sample `name{labels}` (or `name` alone) in a Prometheus text page.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

#[tokio::test]
async fn metrics_count_messages_refusals_and_connections_on_a_private_listener() {
    let server = TestServer::start_with(|c| c.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"))).await;
    let metrics_url = format!("http://{}/metrics", server.running().metrics_addr().expect("metrics are served"));
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api.direct_conversation_with(bob.user.id).await.expect("direct").conversation.id;
    let mut conn = alice.connect().await.expect("connect");
    let _bob_conn = bob.connect().await.expect("connect");
    for n in 0..5 {
        conn.send_message(chat, format!("hello {n}")).await.expect("send");
    }
    let retry = banter_sdk::new_client_msg_id();
    conn.send_message_with_id(chat, &retry, "once").await.expect("send");
    conn.send_message_with_id(chat, &retry, "once").await.expect("retry");
    let too_long = conn.send_message(chat, "x".repeat(100_001)).await.expect_err("too long");
    assert_eq!(too_long.code(), Some(ErrorCode::MessageTooLong));

    let page = reqwest::get(&metrics_url).await.expect("scrape").text().await.expect("body");
    assert_eq!(sample(&page, "banter_messages_stored_total"), Some(6.0), "{page}");
    assert_eq!(sample(&page, "banter_messages_duplicate_total"), Some(1.0));
    assert_eq!(sample(&page, r#"banter_sends_refused_total{code="message_too_long"}"#), Some(1.0));
    assert_eq!(sample(&page, "banter_message_commit_seconds_count"), Some(6.0));
    assert_eq!(sample(&page, "banter_websocket_connections"), Some(2.0));
    assert!(sample(&page, r#"banter_http_responses_total{status="2xx"}"#).is_some_and(|n| n >= 3.0));
    assert!(page.contains("# HELP banter_messages_stored_total"), "metrics are described");

    let public = reqwest::get(format!("{}/metrics", server.url())).await.expect("request");
    let body = public.text().await.expect("body");
    assert!(!body.contains("banter_messages_stored_total"), "the public port does not serve metrics");
}
