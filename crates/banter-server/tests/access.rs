//! Access control and connection limits: membership on every read and
//! write, WebSocket handshake checks (token, Origin), idle timeout, rate
//! limit and slow consumers.

mod common;

use std::time::Duration;

use banter_protocol::{frames::close_code, http::HistoryQuery, ClientFrame, ErrorCode};
use common::{next_error, TestServer};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue, Error as WsError};

async fn handshake_status(url: &str, token: Option<&str>, origin: Option<&str>) -> u16 {
    let mut request = format!("{}/api/v1/ws", url.replace("http://", "ws://")).into_client_request().unwrap();
    if let Some(token) = token {
        request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
    }
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("unexpected handshake error {e}"),
    }
}

#[tokio::test]
async fn non_members_can_neither_read_nor_write_a_conversation() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mallory = server.user("mallory").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    alice.connect().await.unwrap().send_message(chat.id, "secret").await.unwrap();

    let api = mallory.api();
    assert_eq!(api.history(chat.id, HistoryQuery::default()).await.unwrap_err().code(), Some(ErrorCode::NotAMember));
    assert_eq!(api.conversation(chat.id).await.unwrap_err().code(), Some(ErrorCode::NotAMember));
    assert_eq!(api.mark_read(chat.id, 1).await.unwrap_err().code(), Some(ErrorCode::NotAMember));
    assert_eq!(api.remove_member(chat.id, alice.user.id).await.unwrap_err().code(), Some(ErrorCode::NotAMember));
    // A conversation that does not exist looks the same as one you are not in.
    assert_eq!(api.history(999_999, HistoryQuery::default()).await.unwrap_err().code(), Some(ErrorCode::NotAMember));

    let mut conn = mallory.connect().await.unwrap();
    let err = conn.send_message(chat.id, "let me in").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotAMember));
    let synced = conn.sync_all(&[banter_protocol::frames::SyncCursor { conversation_id: chat.id, seq: 0 }]).await.unwrap();
    assert!(synced.is_empty(), "sync never returns other people's conversations");
    conn.send_frame(ClientFrame::Read { conversation_id: chat.id, seq: 1 }).await.unwrap();
    assert_eq!(next_error(&mut conn).await.0, ErrorCode::NotAMember);
    assert!(mallory.api().conversations().await.unwrap().is_empty());
    assert_eq!(bob.api().history(chat.id, HistoryQuery::default()).await.unwrap().messages.len(), 1);
}

#[tokio::test]
async fn the_websocket_handshake_requires_a_valid_token() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    assert_eq!(handshake_status(&server.url(), None, None).await, 401);
    assert_eq!(handshake_status(&server.url(), Some("forged-token"), None).await, 401);
    assert_eq!(handshake_status(&server.url(), Some(&alice.token), None).await, 101);
}

#[tokio::test]
async fn a_websocket_from_a_foreign_origin_is_refused() {
    let server = TestServer::start_with(|c| c.allowed_origins = vec!["https://chat.example.com".into()]).await;
    let alice = server.user("alice").await;
    let own_origin = server.url();
    assert_eq!(handshake_status(&server.url(), Some(&alice.token), Some("https://evil.example")).await, 403);
    assert_eq!(handshake_status(&server.url(), Some(&alice.token), Some(&own_origin)).await, 101);
    assert_eq!(handshake_status(&server.url(), Some(&alice.token), Some("https://chat.example.com")).await, 101);
}

#[tokio::test]
async fn browsers_may_pass_the_token_as_a_subprotocol() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut request = format!("{}/api/v1/ws", server.url().replace("http://", "ws://")).into_client_request().unwrap();
    let protocols = format!("banter.v1, banter.token.{}", alice.token);
    request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_str(&protocols).unwrap());
    let (_, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers().get("sec-websocket-protocol").unwrap(), "banter.v1");
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let server = TestServer::start_with(|c| {
        c.idle_timeout = Duration::from_millis(300);
        c.heartbeat_interval = Duration::from_millis(100);
    })
    .await;
    let alice = server.user("alice").await;
    let mut conn = alice.connect().await.unwrap();
    let err = common::closed(&mut conn).await;
    assert_eq!(err.close_code(), Some(close_code::IDLE_TIMEOUT));
}

#[tokio::test]
async fn heartbeats_keep_a_connection_open_past_the_idle_timeout() {
    let server = TestServer::start_with(|c| {
        c.idle_timeout = Duration::from_millis(400);
        c.heartbeat_interval = Duration::from_millis(100);
    })
    .await;
    let alice = server.user("alice").await;
    let mut conn = alice.connect().await.unwrap();
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        conn.ping().await.unwrap();
    }
    assert_eq!(server.running().connection_count(), 1);
    // Once they stop, the timeout counts from the last frame and closes it.
    let err = common::closed(&mut conn).await;
    assert_eq!(err.close_code(), Some(close_code::IDLE_TIMEOUT));
}

#[tokio::test]
async fn too_many_frames_per_second_are_refused_with_rate_limited() {
    let server = TestServer::start_with(|c| {
        c.frames_per_second = 5;
        c.frames_burst = 10;
    })
    .await;
    let alice = server.user("alice").await;
    let mut conn = alice.connect().await.unwrap();
    for _ in 0..15 {
        conn.send_frame(ClientFrame::Ping).await.unwrap();
    }
    assert_eq!(next_error(&mut conn).await.0, ErrorCode::RateLimited);
}

#[tokio::test]
async fn a_consumer_that_stops_reading_is_disconnected_and_later_syncs_everything() {
    let server = TestServer::start_with(|c| c.outbound_queue_frames = 8).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let stalled = bob.connect().await.unwrap(); // never read from
    let mut sender = alice.connect().await.unwrap();
    let big = "x".repeat(90_000);
    let mut sent = 0;
    // Kernel socket buffers absorb a few MB; keep sending until the server
    // gives up on bob (it then waits briefly for room for the close frame).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server.running().connection_count() > 1 && std::time::Instant::now() < deadline {
        if sent < 400 {
            sender.send_message(chat.id, &big).await.unwrap();
            sent += 1;
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(server.running().connection_count(), 1, "the stalled connection was dropped after {sent} messages");
    drop(stalled);
    let all = bob.connect().await.unwrap().sync_all(&[]).await.unwrap();
    assert_eq!(all.len(), sent);
    assert_eq!(all.last().unwrap().seq, sent as i64);
}
