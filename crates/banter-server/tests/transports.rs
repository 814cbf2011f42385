//! One matrix for both transports: every scenario here runs over the
//! WebSocket and over the fallback (event stream down, POSTs up), against
//! the same real server, and must behave the same — ordering, acks, fan-out
//! to members and to the sender's other devices, sync, errors, rate limits
//! and their 4029 close, the idle timeout, revocation and the shutdown
//! drain. After it, what only the fallback has: its own handshake checks,
//! POST limits, and a client that stops reading its stream.

mod common;

use std::time::{Duration, Instant};

use banter_protocol::{frames::close_code, ClientFrame, ErrorCode, ServerFrame};
use banter_sdk::{new_client_msg_id, Connection, TransportKind};
use common::*;

/// Generates `mod websocket` and `mod event_stream`, each running every
/// listed scenario with its transport.
macro_rules! matrix {
    ($($scenario:ident),* $(,)?) => {
        mod websocket {
            $(#[tokio::test] async fn $scenario() { super::$scenario(banter_sdk::TransportKind::WebSocket).await })*
        }
        mod event_stream {
            $(#[tokio::test] async fn $scenario() { super::$scenario(banter_sdk::TransportKind::EventStream).await })*
        }
    };
}

matrix!(
    sends_are_acked_in_order_and_reach_members_and_my_other_devices,
    a_device_that_was_away_catches_up_by_sync,
    bad_frames_get_their_documented_errors,
    a_client_past_the_rate_limit_is_refused_then_closed_with_4029,
    an_idle_connection_is_closed_with_4000,
    a_revoked_device_is_closed_with_4001,
    shutdown_answers_what_was_sent_and_closes_with_1001,
);

async fn sends_are_acked_in_order_and_reach_members_and_my_other_devices(transport: TransportKind) {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let alice_phone = server.second_device(&alice).await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut sender = alice.connect_over(transport).await.unwrap();
    let mut phone = alice_phone.connect_over(transport).await.unwrap();
    let mut receiver = bob.connect_over(transport).await.unwrap();
    assert_eq!(sender.hello().device_id, alice.device_id);

    // Sent back to back, without waiting: acked in the order sent, dense seqs.
    let ids: Vec<String> = (0..20).map(|_| new_client_msg_id()).collect();
    for (i, id) in ids.iter().enumerate() {
        let frame = ClientFrame::Send { client_msg_id: id.clone(), conversation_id: chat.id, text: format!("m{i} ünïcödé ✓"), reply_to: None };
        sender.send_frame(frame).await.unwrap();
    }
    let acks = collect(&mut sender, 20, |frame| match frame {
        ServerFrame::Ack { client_msg_id, seq, .. } => Some((client_msg_id, seq)),
        _ => None,
    })
    .await;
    assert_eq!(acks.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(acks.iter().map(|(_, seq)| *seq).collect::<Vec<_>>(), (1..=20).collect::<Vec<_>>());
    for device in [&mut receiver, &mut phone] {
        let texts: Vec<String> = collect(device, 20, |frame| match frame {
            ServerFrame::Message { message } => Some(message.text),
            _ => None,
        })
        .await;
        assert_eq!(texts, (0..20).map(|i| format!("m{i} ünïcödé ✓")).collect::<Vec<_>>());
    }
    // The same id again is the same message, not a new one.
    let again = sender.send_message_with_id(chat.id, &ids[3], "m3 ünïcödé ✓").await.unwrap();
    assert_eq!(again.seq, 4);
    assert!(sender.ping().await.is_ok());
}

async fn a_device_that_was_away_catches_up_by_sync(transport: TransportKind) {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut sender = alice.connect_over(transport).await.unwrap();
    for i in 0..5 {
        sender.send_message(chat.id, format!("while away {i}")).await.unwrap();
    }
    let mut late = bob.connect_over(transport).await.unwrap();
    let cursors = [banter_protocol::frames::SyncCursor { conversation_id: chat.id, seq: 0 }];
    let got = late.sync_all(&cursors).await.unwrap();
    assert_eq!(got.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), (0..5).map(|i| format!("while away {i}")).collect::<Vec<_>>());
}

async fn bad_frames_get_their_documented_errors(transport: TransportKind) {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let theirs = bob.api().direct_conversation_with(carol.user.id).await.unwrap().conversation;
    let mut conn = alice.connect_over(transport).await.unwrap();
    conn.send_raw_text("{not json".into()).await.unwrap();
    assert_eq!(next_error(&mut conn).await.0, ErrorCode::InvalidJson);
    conn.send_raw_text(r#"{"type":"teleport"}"#.into()).await.unwrap();
    assert_eq!(next_error(&mut conn).await.0, ErrorCode::UnknownFrameType);
    let id = new_client_msg_id();
    conn.send_frame(ClientFrame::Send { client_msg_id: id.clone(), conversation_id: theirs.id, text: "let me in".into(), reply_to: None }).await.unwrap();
    assert_eq!(next_error(&mut conn).await, (ErrorCode::NotAMember, Some(id)));
    // And the connection still works.
    assert!(conn.ping().await.is_ok());
}

async fn a_client_past_the_rate_limit_is_refused_then_closed_with_4029(transport: TransportKind) {
    let server = TestServer::start_with(|c| {
        c.frames_per_second = 2;
        c.frames_burst = 3;
        c.frames_refused_before_close = 5;
    })
    .await;
    let alice = server.user("alice").await;
    let mut conn = alice.connect_over(transport).await.unwrap();
    let mut refused = 0;
    for _ in 0..20 {
        if conn.send_frame(ClientFrame::Ping).await.is_err() {
            break;
        }
    }
    let closed = loop {
        match conn.next_frame_timeout(WAIT).await {
            Ok(ServerFrame::Error { code: ErrorCode::RateLimited, retry_after_ms, .. }) => {
                assert!(retry_after_ms.is_some_and(|ms| ms > 0));
                refused += 1;
            }
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert!(refused >= 5, "{refused} refusals before the close");
    assert_eq!(closed.close_code(), Some(close_code::RATE_LIMITED), "{closed}");
}

async fn an_idle_connection_is_closed_with_4000(transport: TransportKind) {
    let server = TestServer::start_with(|c| {
        c.heartbeat_interval = Duration::from_millis(300);
        c.idle_timeout = Duration::from_secs(1);
    })
    .await;
    let alice = server.user("alice").await;
    let mut conn = alice.connect_over(transport).await.unwrap();
    let started = Instant::now();
    let e = closed(&mut conn).await;
    assert_eq!(e.close_code(), Some(close_code::IDLE_TIMEOUT), "{e}");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

async fn a_revoked_device_is_closed_with_4001(transport: TransportKind) {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let laptop = server.second_device(&alice).await;
    let mut conn = laptop.connect_over(transport).await.unwrap();
    alice.api().revoke_device(laptop.device_id).await.unwrap();
    let e = closed(&mut conn).await;
    assert_eq!(e.close_code(), Some(close_code::SESSION_REVOKED), "{e}");
    // And it cannot come back.
    let again = laptop.connect_over(transport).await.unwrap_err();
    assert_eq!(again.code(), Some(ErrorCode::Unauthorized), "{again}");
}

async fn shutdown_answers_what_was_sent_and_closes_with_1001(transport: TransportKind) {
    let mut server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut conn = alice.connect_over(transport).await.unwrap();
    let id = new_client_msg_id();
    conn.send_frame(ClientFrame::Send { client_msg_id: id.clone(), conversation_id: chat.id, text: "last words".into(), reply_to: None }).await.unwrap();
    let stop = tokio::spawn(async move {
        server.stop().await;
        server
    });
    let mut acked = false;
    let e = loop {
        match conn.next_frame_timeout(WAIT).await {
            Ok(ServerFrame::Ack { client_msg_id, .. }) if client_msg_id == id => acked = true,
            // Too late for storing: refused, never lost silently.
            Ok(ServerFrame::Error { code: ErrorCode::ShuttingDown, client_msg_id: Some(answered), .. }) if answered == id => {}
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert_eq!(e.close_code(), Some(close_code::GOING_AWAY), "{e}");
    let mut server = stop.await.unwrap();
    server.restart().await;
    let alice = alice.with_base_url(&server.url()).unwrap();
    let history = alice.api().history(chat.id, Default::default()).await.unwrap();
    assert_eq!(history.messages.iter().any(|m| m.client_msg_id == id), acked, "stored exactly when acked");
}

/// The first `n` frames `pick` takes, skipping others.
async fn collect<T>(conn: &mut Connection, n: usize, mut pick: impl FnMut(ServerFrame) -> Option<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.push(next_matching(conn, &mut pick).await);
    }
    out
}

// ----- only the fallback -----

async fn open_status(server: &TestServer, token: Option<&str>, origin: Option<&str>) -> u16 {
    let mut request = reqwest::Client::new().get(format!("{}/api/v1/events", server.url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_event_stream_checks_token_and_origin_like_the_websocket_handshake() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    assert_eq!(open_status(&server, None, None).await, 401);
    assert_eq!(open_status(&server, Some("not-a-token"), None).await, 401);
    assert_eq!(open_status(&server, Some(&alice.token), Some("https://evil.example")).await, 403);
    assert_eq!(open_status(&server, Some(&alice.token), Some(&server.url())).await, 200);
}

/// Opens a raw event stream; returns the response and its stream id.
async fn raw_stream(server: &TestServer, token: &str) -> (reqwest::Response, String) {
    raw_stream_from(server, token, std::net::Ipv4Addr::LOCALHOST).await
}

async fn raw_stream_from(server: &TestServer, token: &str, from: std::net::Ipv4Addr) -> (reqwest::Response, String) {
    let client = reqwest::Client::builder().local_address(std::net::IpAddr::V4(from)).build().unwrap();
    let mut response = client
        .get(format!("{}/api/v1/events", server.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = response.chunk().await.unwrap().expect("the first event");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let data = text.split("\n\n").next().unwrap().strip_prefix("event: stream\ndata: ").expect("the stream event first");
    let id = serde_json::from_str::<serde_json::Value>(data).unwrap()["stream_id"].as_str().unwrap().to_owned();
    (response, id)
}

async fn post_status(server: &TestServer, token: &str, stream_id: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/events/{stream_id}", server.url()))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn posts_are_bound_to_the_device_of_the_stream_and_bounded() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let alice_laptop = server.second_device(&alice).await;
    let mallory = server.user("mallory").await;
    let (_stream, id) = raw_stream(&server, &alice.token).await;
    // Another account, or even another device of the same account, cannot post into it.
    assert_eq!(post_status(&server, &mallory.token, &id, r#"{"type":"ping"}"#).await.0, 404);
    assert_eq!(post_status(&server, &alice_laptop.token, &id, r#"{"type":"ping"}"#).await.0, 404);
    assert_eq!(post_status(&server, "not-a-token", &id, r#"{"type":"ping"}"#).await.0, 401);
    assert_eq!(post_status(&server, &alice.token, "no-such-stream", r#"{"type":"ping"}"#).await.0, 404);
    let (status, body) = post_status(&server, &alice.token, &id, vec![b'x'; 1024 * 1024 + 1]).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("payload_too_large"), "{body}");
    let (status, body) = post_status(&server, &alice.token, &id, vec![0xff, 0xfe, b'\n']).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(post_status(&server, &alice.token, &id, "{\"type\":\"ping\"}\n\n{\"type\":\"ping\"}\n").await.0, 204);
}

#[tokio::test]
async fn a_client_that_stops_reading_its_stream_is_closed_and_its_http_connection_dropped() {
    // Bob comes from 127.0.0.2, which may hold one HTTP connection (the
    // test's other clients come from 127.0.0.1, left uncapped).
    let server = TestServer::start_with(|c| {
        c.outbound_queue_bytes = 64 * 1024;
        c.write_timeout = Duration::from_secs(1);
        c.max_http_connections_per_address = 1;
        (c.frames_per_second, c.frames_burst) = (100_000, 100_000);
        (c.account_frames_per_second, c.account_frames_burst) = (100_000, 100_000);
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    // Bob's stream is open and never read past its first event.
    let (stalled, _id) = raw_stream_from(&server, &bob.token, BOB_ADDR).await;
    let mut sender = alice.connect_over(TransportKind::WebSocket).await.unwrap();
    assert_eq!(health_status(&server).await, 429, "Bob's one connection is taken");
    // The stream's first event goes out before its connection is
    // registered: wait for both, or the loop below could see Alice's alone
    // and stop before Bob's stream was ever closed.
    let deadline = Instant::now() + WAIT;
    while server.running().connection_count() < 2 {
        assert!(Instant::now() < deadline, "Bob's stream never became a connection");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Messages until the server lets go of Bob: the kernel's buffers and
    // hyper's take a few megabytes first, then the queue fills.
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.running().connection_count() > 1 {
        assert!(Instant::now() < deadline, "the stalled stream was never closed");
        sender.send_message(chat.id, "x".repeat(16_000)).await.unwrap();
    }
    // The connection behind the stream is gone; the HTTP connection under
    // it, which could not even take the close event, is dropped too: its
    // slot comes free although Bob still reads nothing.
    let deadline = Instant::now() + WAIT;
    while health_status(&server).await != 200 {
        assert!(Instant::now() < deadline, "the stalled HTTP connection is still open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(stalled);
}

const BOB_ADDR: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 2);

/// `GET /api/v1/health` from Bob's address on a fresh TCP connection: its status.
async fn health_status(server: &TestServer) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.url().trim_start_matches("http://").to_owned();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((BOB_ADDR, 0).into()).unwrap();
    let mut tcp = socket.connect(addr.parse().unwrap()).await.unwrap();
    let _ = tcp.write_all(format!("GET /api/v1/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).await;
    let mut head = [0u8; 12];
    match tokio::time::timeout(WAIT, tcp.read_exact(&mut head)).await {
        Ok(Ok(_)) => std::str::from_utf8(&head[9..12]).ok().and_then(|s| s.parse().ok()).unwrap_or(0),
        _ => 0,
    }
}
