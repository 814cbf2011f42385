//! The reconnecting client against a real server: what is sent while the
//! server is down arrives once it is back, a message whose ack was lost is
//! resent with its id and stored once, a reconnect catches up what was sent
//! meanwhile, and a revoked device stops.
//!
//! The server runs in this process on a fixed port (so it can be stopped
//! and started again at the same address); where the test must cut or
//! stall a connection without stopping the server, the client goes through
//! a small TCP proxy ([`support::Proxy`]).

mod support;

use std::time::Duration;

use banter_protocol::http::HistoryQuery;
use banter_protocol::{ErrorCode, Message, ServerFrame};
use banter_sdk::{Event, ReconnectOptions, ReconnectingClient, SdkError, Session, SyncState, TransportKind};
use support::{Proxy, TestServer};

/// Quick retries: the tests wait for reconnects.
fn options() -> ReconnectOptions {
    ReconnectOptions {
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        ..ReconnectOptions::default()
    }
}

/// Alice and Bob, and their direct conversation.
async fn two_users(server: &TestServer) -> (Session, Session, i64) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice
        .api()
        .direct_conversation_with(bob.user.id)
        .await
        .expect("direct conversation");
    (alice, bob, chat.conversation.id)
}

/// Starts a reconnecting client for `session` and waits until it is
/// connected.
async fn connected_client(session: Session) -> ReconnectingClient {
    let mut client = ReconnectingClient::start(session, SyncState::new(), options());
    support::wait_for(&mut client, |e| {
        matches!(e, Event::Connected { .. }).then_some(())
    })
    .await;
    client
}

/// Alice and Bob and their conversation, Alice's client connected through
/// a proxy the test can stall or cut.
async fn alice_through_a_proxy(
    server: &TestServer,
) -> (Proxy, ReconnectingClient, Session, i64) {
    let proxy = Proxy::start(server.config.listen).await;
    let (alice, bob, chat) = two_users(server).await;
    let alice = alice
        .with_base_url(&proxy.url())
        .expect("session through the proxy");
    (proxy, connected_client(alice).await, bob, chat)
}

async fn history(session: &Session, conversation_id: i64) -> Vec<Message> {
    let query = HistoryQuery {
        before: None,
        after: None,
        limit: Some(100),
    };
    session
        .api()
        .history(conversation_id, query)
        .await
        .expect("history")
        .messages
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_sent_while_the_server_is_down_is_delivered_once_it_is_back() {
    let mut server = support::start_server().await;
    let (alice, bob, chat) = two_users(&server).await;
    let mut client = connected_client(alice).await;

    server.stop().await;
    support::wait_for(&mut client, |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    })
    .await;
    assert!(!client.is_connected());
    let queued = client
        .send(chat, "typed while the server was down")
        .expect("queued");
    assert_eq!(client.pending(), 1);

    server.restart().await;
    let (message, ack) = support::wait_for(&mut client, |e| match e {
        Event::Sent { message, ack } => Some((message, ack)),
        _ => None,
    })
    .await;
    assert_eq!(message, queued, "the message given to send is reported");
    assert_eq!(ack.client_msg_id, queued.client_msg_id);
    assert!(!ack.duplicate, "the first copy to reach the server");
    assert_eq!(client.pending(), 0);

    let stored = history(&bob, chat).await;
    assert_eq!(stored.len(), 1, "stored once: {stored:?}");
    assert_eq!(stored[0].client_msg_id, queued.client_msg_id);
    assert_eq!(stored[0].text, "typed while the server was down");
    // The live copy of one's own message is not handed over again.
    let later = support::events_within(&mut client, Duration::from_millis(500)).await;
    assert!(
        !later
            .iter()
            .any(|e| matches!(e, Event::Message(_) | Event::CaughtUp(_))),
        "own message shown once: {later:?}"
    );
    client.close().await;
}

/// Connections cut without a close (a node killed: all its clients lose
/// theirs at the same moment) are first retried after a random moment
/// within the spread their `hello` announced — the node's connections at
/// `reconnect_spread_rate` — not all after the same short backoff.
#[tokio::test(flavor = "multi_thread")]
async fn clients_cut_together_spread_their_returns_over_what_hello_announced() {
    // One connection a second: the node's nth connection is told n s.
    let server = TestServer::start_with(|config| {
        config.listen = banter_test_support::server::free_local_addr();
        config.reconnect_spread_rate = 1;
    })
    .await;
    let proxy = Proxy::start(server.config.listen).await;
    let mut clients = Vec::new();
    for i in 0..8 {
        let session = server.user(&format!("cut{i}")).await.with_base_url(&proxy.url()).expect("proxy url");
        let mut client = ReconnectingClient::start(session, SyncState::new(), options());
        let hello = support::wait_for(&mut client, |e| match e {
            Event::Connected { hello, .. } => Some(hello),
            _ => None,
        })
        .await;
        clients.push((client, Duration::from_millis(hello.reconnect_spread_ms)));
    }
    let spreads: Vec<Duration> = clients.iter().map(|(_, spread)| *spread).collect();
    assert_eq!(spreads, (1..=8).map(Duration::from_secs).collect::<Vec<_>>());

    let cut = tokio::time::Instant::now();
    proxy.cut();
    let returns = futures_util::future::join_all(clients.iter_mut().map(|(client, _)| async move {
        support::wait_for(client, |e| matches!(e, Event::Connected { .. }).then_some(())).await;
        cut.elapsed()
    }))
    .await;
    for (back, spread) in returns.iter().zip(&spreads) {
        // Within the spread, plus the connect and catch-up.
        assert!(*back < *spread + Duration::from_secs(2), "back after {back:?}, spread {spread:?}");
    }
    // The backoff alone brings every one back within 75 ms; with the
    // spreads, all eight within a second has a chance of 1 in 8! (40,320).
    assert!(returns.iter().any(|back| *back >= Duration::from_secs(1)), "all back at once: {returns:?}");
    for (client, _) in clients {
        client.close().await;
    }
}

/// A server shutting down says when to come back; the client waits that
/// long (not its short backoff) before reconnecting.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_shutting_down_is_reconnected_to_when_it_says() {
    let mut server = TestServer::start_with(|config| {
        config.listen = banter_test_support::server::free_local_addr();
        config.shutdown_reconnect_spread = Duration::from_secs(3);
    })
    .await;
    let (alice, _bob, _chat) = two_users(&server).await;
    let mut client = connected_client(alice).await;

    let stopped = tokio::time::Instant::now();
    server.restart().await;
    let hint = support::wait_for(&mut client, |e| match e {
        Event::Frame(ServerFrame::Error { code: ErrorCode::ShuttingDown, client_msg_id: None, retry_after_ms, .. }) => {
            retry_after_ms
        }
        _ => None,
    })
    .await;
    assert!(hint <= 3_000, "within the spread: {hint} ms");
    support::wait_for(&mut client, |e| matches!(e, Event::Connected { .. }).then_some(())).await;
    // The hint came after the stop began: the wait is at least this long.
    let waited = stopped.elapsed();
    assert!(waited >= Duration::from_millis(hint), "reconnected after {waited:?}, told {hint} ms");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_whose_ack_was_lost_is_resent_with_its_id_and_stored_once() {
    let server = support::start_server().await;
    let (proxy, mut client, bob, chat) = alice_through_a_proxy(&server).await;

    // The server stores the message, but its ack never reaches the client.
    proxy.hold_replies();
    let queued = client.send(chat, "ack lost").expect("queued");
    support::eventually(|| async { history(&bob, chat).await.len() == 1 }).await;
    proxy.cut();

    let (_, ack) = support::wait_for(&mut client, |e| match e {
        Event::Sent { message, ack } => Some((message, ack)),
        _ => None,
    })
    .await;
    assert_eq!(
        ack.client_msg_id, queued.client_msg_id,
        "resent with the same id"
    );
    assert!(ack.duplicate, "the server recognised the resend");
    let stored = history(&bob, chat).await;
    assert_eq!(stored.len(), 1, "stored once: {stored:?}");
    assert_eq!(stored[0].seq, ack.seq);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reconnect_catches_up_the_messages_sent_meanwhile() {
    let server = support::start_server().await;
    let (proxy, mut client, bob, chat) = alice_through_a_proxy(&server).await;

    proxy.refuse_new_connections(true);
    proxy.cut();
    support::wait_for(&mut client, |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    })
    .await;
    let mut bob_connection = bob.connect().await.expect("bob connects");
    for text in ["one", "two", "three"] {
        bob_connection
            .send_message(chat, text)
            .await
            .expect("bob sends");
    }

    proxy.refuse_new_connections(false);
    let missed = support::wait_for(&mut client, |e| match e {
        Event::Connected { missed, .. } => Some(missed),
        _ => None,
    })
    .await;
    let texts: Vec<&str> = missed.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["one", "two", "three"], "caught up in order");

    // And live again: the next message arrives as it is sent, once.
    bob_connection
        .send_message(chat, "four")
        .await
        .expect("bob sends");
    let live = support::wait_for(&mut client, |e| match e {
        Event::Message(m) => Some(m),
        _ => None,
    })
    .await;
    assert_eq!((live.text.as_str(), live.seq), ("four", 4));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_device_stops_the_client() {
    let server = support::start_server().await;
    let (alice, _bob, chat) = two_users(&server).await;
    let api = alice.api().clone();
    let mut client = connected_client(alice).await;

    api.logout().await.expect("logout");
    let error = support::wait_for(&mut client, |e| match e {
        Event::SessionEnded { error } => Some(error),
        _ => None,
    })
    .await;
    assert_eq!(error.status(), Some(401));
    assert!(client.next_event().await.is_none(), "no more events");
    assert!(matches!(
        client.send(chat, "too late"),
        Err(SdkError::Closed { .. })
    ));
}

#[tokio::test]
async fn behind_a_proxy_that_refuses_upgrades_the_client_uses_the_fallback_and_moves_back() {
    let server = support::start_server().await;
    let proxy = Proxy::start(server.config.listen).await;
    proxy.refuse_upgrades(true);
    let (alice, bob, chat) = two_users(&server).await;
    let alice = alice.with_base_url(&proxy.url()).expect("proxy url");
    let mut client = ReconnectingClient::start(
        alice,
        SyncState::new(),
        ReconnectOptions { websocket_probe_interval: Duration::from_millis(300), ..options() },
    );
    support::wait_for(&mut client, |e| matches!(e, Event::Connected { .. }).then_some(())).await;
    assert_eq!(client.transport(), TransportKind::EventStream);
    let mut bob_conn = bob.connect().await.expect("bob connects");

    // Both ways over the fallback.
    let first = client.send(chat, "over the fallback").expect("queued");
    support::wait_for(&mut client, |e| match e {
        Event::Sent { message, .. } if message.client_msg_id == first.client_msg_id => Some(()),
        _ => None,
    })
    .await;
    let got = banter_test_support::frames::next_message(&mut bob_conn).await;
    assert_eq!(got.text, "over the fallback");
    bob_conn.send_message(chat, "answer").await.expect("bob sends");
    let answer = support::wait_for(&mut client, |e| match e {
        Event::Message(m) => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(answer.text, "answer");

    // Upgrades pass again: the probe moves the client to a WebSocket,
    // reporting Connected again, and nothing is lost or doubled.
    proxy.refuse_upgrades(false);
    support::wait_for(&mut client, |e| matches!(e, Event::Connected { .. }).then_some(())).await;
    assert_eq!(client.transport(), TransportKind::WebSocket);
    let second = client.send(chat, "over a WebSocket").expect("queued");
    support::wait_for(&mut client, |e| match e {
        Event::Sent { message, .. } if message.client_msg_id == second.client_msg_id => Some(()),
        _ => None,
    })
    .await;
    let history = bob.api().history(chat, HistoryQuery::default()).await.expect("history");
    let texts: Vec<&str> = history.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["over the fallback", "answer", "over a WebSocket"]);
}

#[tokio::test]
async fn behind_a_proxy_that_cuts_websockets_soon_after_they_open_the_client_moves_to_the_fallback() {
    let server = support::start_server().await;
    let proxy = Proxy::start(server.config.listen).await;
    proxy.cut_upgrades_after(Some(Duration::from_millis(1000)));
    let (alice, bob, chat) = two_users(&server).await;
    let alice = alice.with_base_url(&proxy.url()).expect("proxy url");
    let mut client = ReconnectingClient::start(alice, SyncState::new(), options());
    // Three WebSockets, each cut soon after it opened, then the fallback.
    let mut websockets = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while client.transport() != TransportKind::EventStream || !client.is_connected() {
        assert!(tokio::time::Instant::now() < deadline, "still on WebSockets after {websockets} connections");
        if let Ok(Some(Event::Connected { .. })) = tokio::time::timeout(Duration::from_millis(200), client.next_event()).await {
            websockets += usize::from(client.transport() == TransportKind::WebSocket);
        }
    }
    // Three when each lived to `hello` (one cut before it sends the client
    // to the fallback at once, as a refused upgrade does).
    assert!(websockets <= 3, "{websockets} short-lived WebSockets before the fallback");
    // And it stays up there: a message goes through and is acked.
    let sent = client.send(chat, "over the fallback, past the cutting proxy").expect("queued");
    support::wait_for(&mut client, |e| match e {
        Event::Sent { message, .. } if message.client_msg_id == sent.client_msg_id => Some(()),
        _ => None,
    })
    .await;
    let history = bob.api().history(chat, HistoryQuery::default()).await.expect("history");
    assert_eq!(history.messages.len(), 1);
}
