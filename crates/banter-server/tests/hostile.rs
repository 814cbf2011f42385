//! Hostile clients: password guessing, slowloris, silent sockets, frame
//! floods across connections. Each is refused with a clear answer and the
//! server goes on serving everyone else.

mod common;

use std::time::Duration;

use banter_protocol::{frames::close_code, ClientFrame, ErrorCode};
use common::*;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Reads until the server closes the socket; returns what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut received)).await.expect("the server closes the socket").ok();
    received
}

#[tokio::test]
async fn password_guessing_from_one_address_is_rate_limited_per_username_and_address() {
    let server = TestServer::start_with(|c| c.login_attempts_per_minute_per_user_and_address = 5).await;
    let victim = server.user("victim").await;
    let bystander = server.user("bystander").await;
    for _ in 0..5 {
        let error = server.api().login(&victim.user.username, "wrong password!", None).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::InvalidCredentials));
    }
    let limited = server.api().login(&victim.user.username, PASSWORD, None).await.unwrap_err();
    assert_eq!((limited.code(), limited.status()), (Some(ErrorCode::RateLimited), Some(429)), "even the right password waits");
    let upper = server.api().login(&victim.user.username.to_uppercase(), PASSWORD, None).await.unwrap_err();
    assert_eq!(upper.code(), Some(ErrorCode::RateLimited), "usernames are case-insensitive, so is the limit");
    server.api().login(&bystander.user.username, PASSWORD, None).await.expect("other accounts are unaffected");
    victim.api.me().await.expect("existing sessions keep working");
}

/// A raw login, as the client at `address` behind the trusted proxy
/// (127.0.0.1) would send it: status, body and `Retry-After`.
async fn login_from(server: &TestServer, address: &str, username: &str, password: &str) -> (u16, serde_json::Value, Option<u64>) {
    banter_test_support::http::login_from(&server.url(), address, username, password).await
}

#[tokio::test]
async fn a_lockout_attempt_from_one_address_does_not_stop_the_owner_logging_in_from_another() {
    let server = TestServer::start_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
        c.login_attempts_per_minute_per_user_and_address = 5;
        c.login_attempts_per_minute_per_user = 12;
    })
    .await;
    let victim = server.user("victim").await;
    let name = &victim.user.username;
    let attacker = "203.0.113.66";
    for _ in 0..5 {
        let (status, body, _) = login_from(&server, attacker, name, "wrong password!").await;
        assert_eq!((status, body["code"].as_str()), (401, Some("invalid_credentials")), "{body}");
    }
    for password in ["wrong password!", PASSWORD] {
        let (status, body, retry_after) = login_from(&server, attacker, name, password).await;
        assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")), "the attacking address is refused: {body}");
        assert!(retry_after.is_some_and(|s| (1..=60).contains(&s)), "Retry-After in seconds: {retry_after:?}");
    }
    let (status, body, _) = login_from(&server, "198.51.100.7", name, PASSWORD).await;
    assert_eq!(status, 200, "the owner, from an address that never logged in before: {body}");
}

#[tokio::test]
async fn distributed_guessing_is_slowed_per_username_but_the_owners_known_address_still_logs_in() {
    let server = TestServer::start_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
        c.login_attempts_per_minute_per_user = 6;
    })
    .await;
    let victim = server.user("victim").await;
    let name = &victim.user.username;
    let home = "198.51.100.7";
    let (status, body, _) = login_from(&server, home, name, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    // Five botnet addresses, one guess each, spend the rest of the
    // username's budget (the owner's login used one).
    for n in 1..=5 {
        let (status, body, _) = login_from(&server, &format!("203.0.113.{n}"), name, "wrong password!").await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, body, retry_after) = login_from(&server, "203.0.113.99", name, "wrong password!").await;
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")), "{body}");
    assert!(retry_after.is_some());
    let (status, _, _) = login_from(&server, "198.51.100.8", name, PASSWORD).await;
    assert_eq!(status, 429, "a new address waits for the username's budget too");
    let (status, body, _) = login_from(&server, home, name, PASSWORD).await;
    assert_eq!(status, 200, "the address the owner logged in from before is never locked out: {body}");
}

#[tokio::test]
async fn guessing_across_many_usernames_is_rate_limited_per_address() {
    let server = TestServer::start_with(|c| c.login_attempts_per_minute_per_address = 8).await;
    for n in 0..8 {
        let error = server.api().login(&format!("nobody{n}"), "wrong password!", None).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::InvalidCredentials));
    }
    let limited = server.api().login("nobody99", "wrong password!", None).await.unwrap_err();
    assert_eq!(limited.code(), Some(ErrorCode::RateLimited));
}

/// A raw signup from this test, optionally claiming to come through a proxy.
async fn signup_status(server: &TestServer, username: &str, forwarded_for: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/signup", server.url()))
        .json(&serde_json::json!({ "username": username, "password": PASSWORD }));
    if let Some(address) = forwarded_for {
        request = request.header("X-Forwarded-For", address);
    }
    let response = request.send().await.expect("signup request");
    (response.status().as_u16(), response.json().await.expect("JSON body"))
}

#[tokio::test]
async fn mass_account_creation_is_rate_limited_per_address() {
    let server = TestServer::start_with(|c| c.signups_per_hour_per_address = 3).await;
    let first = server.user("spam").await;
    server.user("spam").await;
    let (status, _) = signup_status(&server, "taken_name_probe", None).await;
    assert_eq!(status, 201, "the third signup is still within the quota");
    let (status, body) = signup_status(&server, "one_too_many", None).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")), "{body}");
    let (status, _) = signup_status(&server, "spoofed_header", Some("198.51.100.9")).await;
    assert_eq!(status, 429, "X-Forwarded-For from an untrusted peer is ignored");
    server.api().login(&first.user.username, PASSWORD, None).await.expect("existing accounts still log in");
    first.api.me().await.expect("existing sessions keep working");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let server = TestServer::start_with(|c| {
        c.signups_per_hour_per_address = 1;
        c.trusted_proxies = vec!["127.0.0.0/8".parse().expect("net")];
    })
    .await;
    let (status, body) = signup_status(&server, "client_a", Some("198.51.100.1")).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = signup_status(&server, "client_b", Some("198.51.100.2")).await;
    assert_eq!(status, 201, "another client behind the same proxy: {body}");
    let (status, _) = signup_status(&server, "client_a_again", Some("198.51.100.1")).await;
    assert_eq!(status, 429, "the first client's budget is spent");
    let (status, _) = signup_status(&server, "client_a_lies", Some("203.0.113.5, 198.51.100.1")).await;
    assert_eq!(status, 429, "entries the client wrote left of the proxy's are not believed");
}

#[tokio::test]
async fn a_slowloris_request_head_is_cut_off_and_others_are_served() {
    let server = TestServer::start_with(|c| c.http_header_timeout = Duration::from_millis(500)).await;
    let mut slow = TcpStream::connect(server.running().addr()).await.unwrap();
    slow.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: banter\r\n").await.unwrap();
    // Dribbling more header lines does not extend the deadline.
    for n in 0..3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if slow.write_all(format!("X-Slow-{n}: 1\r\n").as_bytes()).await.is_err() {
            break;
        }
    }
    server.api().health().await.expect("others are served meanwhile");
    let answer = read_until_closed(&mut slow).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(answer.is_empty() || text.starts_with("HTTP/1.1 408"), "no 200 for an unfinished head: {text}");
}

#[tokio::test]
async fn a_socket_that_never_sends_a_request_is_closed() {
    let server = TestServer::start_with(|c| c.http_header_timeout = Duration::from_millis(300)).await;
    let mut silent = TcpStream::connect(server.running().addr()).await.unwrap();
    let answer = read_until_closed(&mut silent).await;
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    // A keep-alive connection that goes quiet after a request is closed too.
    let mut idle = TcpStream::connect(server.running().addr()).await.unwrap();
    idle.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: banter\r\n\r\n").await.unwrap();
    let answer = read_until_closed(&mut idle).await;
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"), "the request itself was answered");
}

#[tokio::test]
async fn slow_request_bodies_are_cut_off_at_the_deadline_and_others_are_served() {
    let server = TestServer::start_with(|c| c.http_request_timeout = Duration::from_millis(800)).await;
    let mut readers = Vec::new();
    let mut trickles = Vec::new();
    for _ in 0..5 {
        let stream = TcpStream::connect(server.running().addr()).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        writer
            .write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: banter\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{")
            .await
            .unwrap();
        // One byte every 100 ms, until the server hangs up (or 30 s).
        trickles.push(tokio::spawn(async move {
            for _ in 0..300 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if writer.write_all(b" ").await.is_err() {
                    return;
                }
            }
        }));
        readers.push(tokio::spawn(async move {
            let mut received = Vec::new();
            let closed = tokio::time::timeout(WAIT, reader.read_to_end(&mut received)).await;
            (closed.is_ok(), received)
        }));
    }
    server.api().health().await.expect("others are served meanwhile");
    server.user("unhurried").await;
    for reader in readers {
        let (closed, answer) = reader.await.unwrap();
        assert!(closed, "the server closed the trickling connection");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 408"), "answered 408: {text}");
        assert!(text.contains(r#""code":"request_timeout""#), "with the documented body: {text}");
    }
    for trickle in trickles {
        trickle.await.unwrap();
    }
    server.api().health().await.expect("and the server goes on");
}

/// Opens a connection from `from` and asks for `/health` on it, keeping it
/// open (keep-alive). `Err` with whatever the server sent if refused.
async fn open_http_connection(server: &TestServer, from: std::net::IpAddr) -> Result<TcpStream, String> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((from, 0).into()).unwrap();
    let mut stream = socket.connect(server.running().addr()).await.map_err(|e| e.to_string())?;
    stream.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: banter\r\n\r\n").await.map_err(|e| e.to_string())?;
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = match tokio::time::timeout(WAIT, stream.read(&mut chunk)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(format!("{e}: {}", String::from_utf8_lossy(&received))),
            Err(_) => return Err("no answer".into()),
        };
        if n == 0 {
            return Err(String::from_utf8_lossy(&received).into_owned());
        }
        received.extend_from_slice(&chunk[..n]);
        // The health body is one JSON object: the answer is complete at its `}`.
        if received.ends_with(b"}") {
            let text = String::from_utf8_lossy(&received).into_owned();
            return if text.starts_with("HTTP/1.1 200") { Ok(stream) } else { Err(text) };
        }
    }
}

/// Like [`open_http_connection`], retrying for a while: a slot the server
/// frees (a closed or upgraded connection) is released just after the
/// client sees it go.
async fn open_http_connection_eventually(server: &TestServer, from: std::net::IpAddr) -> TcpStream {
    let mut last = String::new();
    for _ in 0..100 {
        match open_http_connection(server, from).await {
            Ok(stream) => return stream,
            Err(refused) => last = refused,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no connection from {from} accepted: {last}");
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_refused_and_authenticated_websockets_do_not_count() {
    let server = TestServer::start_with(|c| c.max_http_connections_per_address = 3).await;
    let user = server.user("capped").await;
    // Every connection below comes from its own loopback address, so this
    // test's other HTTP traffic (from 127.0.0.1) does not count.
    let client: std::net::IpAddr = "127.0.0.77".parse().unwrap();
    let mut websockets = Vec::new();
    for _ in 0..3 {
        let options = banter_sdk::ConnectOptions::new().token(user.token.clone()).local_addr(client);
        websockets.push(banter_sdk::Connection::connect_with(&server.url(), options).await.expect("a WebSocket"));
    }
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(open_http_connection_eventually(&server, client).await);
    }
    let refused = open_http_connection(&server, client).await.expect_err("the fourth HTTP connection is refused");
    assert!(refused.is_empty() || refused.starts_with("HTTP/1.1 429") || refused.contains("reset"), "{refused}");
    if refused.starts_with("HTTP/1.1 429") {
        assert!(refused.contains(r#""code":"rate_limited""#), "{refused}");
    }
    open_http_connection(&server, "127.0.0.78".parse().unwrap()).await.expect("another address has its own cap");
    drop(held.pop());
    held.push(open_http_connection_eventually(&server, client).await);
    for ws in &mut websockets {
        ws.ping().await.expect("the WebSockets were never affected");
    }
}

#[tokio::test]
async fn an_account_cannot_multiply_its_frame_rate_by_opening_connections() {
    let server = TestServer::start_with(|c| {
        c.frames_per_second = 1_000;
        c.frames_burst = 1_000;
        c.account_frames_per_second = 5;
        c.account_frames_burst = 20;
    })
    .await;
    let alice = server.user("alice").await;
    let mut connections = Vec::new();
    for _ in 0..4 {
        connections.push(alice.connect().await.unwrap());
    }
    // 4 × 8 = 32 frames, each connection far below its own limit.
    for conn in &mut connections {
        for _ in 0..8 {
            conn.send_frame(ClientFrame::Ping).await.unwrap();
        }
    }
    let mut refused = 0;
    for conn in &mut connections {
        for _ in 0..8 {
            match conn.next_frame_timeout(WAIT).await.unwrap() {
                banter_protocol::ServerFrame::Pong => {}
                banter_protocol::ServerFrame::Error { code: ErrorCode::RateLimited, .. } => refused += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(refused >= 32 - 20 - 2, "the account's burst of 20 is shared: {refused} refused");
    let bob = server.user("bob").await;
    bob.connect().await.unwrap().ping().await.expect("other accounts are unaffected");
}

#[tokio::test]
async fn a_client_that_ignores_rate_limit_errors_is_disconnected_with_4029() {
    let server = TestServer::start_with(|c| {
        c.frames_per_second = 2;
        c.frames_burst = 5;
        c.frames_refused_before_close = 10;
    })
    .await;
    let alice = server.user("alice").await;
    let mut conn = alice.connect().await.unwrap();
    for _ in 0..40 {
        if conn.send_frame(ClientFrame::Ping).await.is_err() {
            break;
        }
    }
    assert_eq!(closed(&mut conn).await.close_code(), Some(close_code::RATE_LIMITED));
}

/// Text that would do harm if any query were built by string pasting.
const SQL_INJECTIONS: &[&str] = &[
    "Robert'); DROP TABLE users; --",
    "\"; DELETE FROM messages; --",
    "' OR '1'='1",
    "%_\\ LIKE '%'",
    "1; UPDATE members SET role='admin' --",
];

#[tokio::test]
async fn sql_metacharacters_in_every_text_field_are_stored_verbatim_and_harm_nothing() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    for (n, evil) in SQL_INJECTIONS.iter().enumerate() {
        let profile = alice.api.update_profile(evil).await.expect("any printable display name is fine");
        assert_eq!(profile.display_name, *evil);
        let device = server
            .api()
            .login(&bob.user.username, PASSWORD, Some(evil))
            .await
            .expect("device names are free text");
        let devices = device.api.devices().await.expect("devices");
        assert!(devices.iter().any(|d| d.name == *evil), "device name {evil:?} round-trips");
        let group = alice.api.create_group(evil, &[bob.user.id]).await.expect("group names are free text");
        assert_eq!(group.conversation.name.as_deref(), Some(*evil));
        let mut conn = alice.connect().await.expect("connect");
        let ack = conn.send_message(group.conversation.id, *evil).await.expect("message");
        let history = bob.api.history(group.conversation.id, Default::default()).await.expect("history");
        assert_eq!(history.messages.last().map(|m| (m.seq, m.text.as_str())), Some((ack.seq, *evil)), "case {n}");
        let lookup = alice.api.user_by_username(evil).await.expect_err("no such user");
        assert_eq!(lookup.code(), Some(ErrorCode::UserNotFound), "a lookup by {evil:?} finds nobody");
    }
    // Nothing else moved: carol is still in no conversation, every account
    // still logs in, and the groups hold exactly one message each.
    assert!(carol.api.conversations().await.expect("conversations").is_empty());
    for user in [&alice, &bob, &carol] {
        server.api().login(&user.user.username, PASSWORD, None).await.expect("accounts intact");
    }
    let groups = bob.api.conversations().await.expect("conversations");
    assert_eq!(groups.len(), SQL_INJECTIONS.len());
    assert!(groups.iter().all(|c| c.last_seq == 1));
}
