//! Per-connection memory is bounded in bytes: clients that do not read
//! what the server sends them are closed (4008 when the close can still be
//! sent), and a client that reads gets even pages larger than the bound.
//! Memory itself is measured on the real binary (crates/banter/tests/memory_bounds.rs).

mod common;

use std::time::{Duration, Instant};

use banter_protocol::{
    frames::{close_code, SyncCursor},
    http::HistoryQuery,
    ClientFrame, ServerFrame,
};
use common::{closed, TestServer};

/// Polls until the server holds `n` connections; panics after 30 s.
async fn wait_for_connections(server: &TestServer, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.running().connection_count() != n {
        assert!(Instant::now() < deadline, "still {} connections, expected {n}", server.running().connection_count());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_connection_that_never_reads_its_answers_is_closed_at_the_write_timeout() {
    let server = TestServer::start_with(|c| {
        c.outbound_queue_bytes = 64 * 1024;
        c.write_timeout = Duration::from_secs(1);
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut sender = alice.connect().await.unwrap();
    for _ in 0..10 {
        sender.send_message(chat.id, &"x".repeat(90_000)).await.unwrap();
    }
    drop(sender);
    wait_for_connections(&server, 0).await;

    // Each sync answer is ~900 KB; the kernel's socket buffers take a few,
    // then answers wait for room that never comes.
    let mut greedy = bob.connect().await.unwrap();
    for _ in 0..100 {
        let sync = ClientFrame::Sync { cursors: vec![SyncCursor { conversation_id: chat.id, seq: 0 }], limit: Some(200) };
        if greedy.send_frame(sync).await.is_err() {
            break;
        }
    }
    wait_for_connections(&server, 0).await;
    // What the kernel had taken still arrives, then the end.
    assert!(closed(&mut greedy).await.is_closed());
}

/// The slow-consumer counter on the server's metrics listener.
async fn slow_consumer_disconnects(metrics_url: &str) -> f64 {
    let page = reqwest::get(metrics_url).await.expect("scrape").text().await.expect("body");
    page.lines()
        .find_map(|line| line.strip_prefix("banter_slow_consumer_disconnects_total "))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

#[tokio::test]
async fn a_slow_consumer_gets_whole_frames_then_close_4008() {
    let server = TestServer::start_with(|c| {
        c.outbound_queue_bytes = 256 * 1024;
        c.write_timeout = Duration::from_secs(10);
        c.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
    })
    .await;
    let metrics_url = format!("http://{}/metrics", server.running().metrics_addr().expect("metrics are served"));
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut slow = bob.connect().await.unwrap();
    let mut sender = alice.connect().await.unwrap();

    // Bob reads nothing while Alice sends 400 KB messages, until the
    // server gives up on him (his socket buffers, then his queue, fill).
    let big = "𝄞".repeat(100_000);
    let mut sent = 0;
    while slow_consumer_disconnects(&metrics_url).await < 1.0 {
        assert!(sent < 300, "bob was never disconnected");
        sender.send_message(chat.id, &big).await.unwrap();
        sent += 1;
    }

    // Now he reads: whole messages (what the kernel held, and the rest of
    // the frame being written), then the close frame with its reason.
    let mut received = 0;
    let end = loop {
        match slow.next_frame_timeout(Duration::from_secs(30)).await {
            Ok(ServerFrame::Message { message }) => {
                assert_eq!(message.text, big, "a whole message");
                received += 1;
            }
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert_eq!(end.close_code(), Some(close_code::SLOW_CONSUMER), "{end}");
    assert!(received < sent, "received {received} of {sent}: the queued rest was dropped");

    // Back, he catches up by sync.
    let all = bob.connect().await.unwrap().sync_all(&[]).await.unwrap();
    assert_eq!(all.len(), sent);
}

#[tokio::test]
async fn pages_larger_than_the_outbound_bound_still_reach_a_client_that_reads() {
    let server = TestServer::start_with(|c| c.outbound_queue_bytes = 64 * 1024).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut sender = alice.connect().await.unwrap();
    for _ in 0..25 {
        sender.send_message(chat.id, &"x".repeat(100_000)).await.unwrap();
    }

    let mut conn = bob.connect().await.unwrap();
    let page = conn.sync_once(&[], Some(200)).await.unwrap();
    assert_eq!((page.messages.len(), page.complete), (10, false), "one page holds 1 MiB of text");
    let all = conn.sync_all(&[]).await.unwrap();
    assert_eq!(all.iter().map(|m| m.seq).collect::<Vec<_>>(), (1..=25).collect::<Vec<_>>());
    conn.ping().await.unwrap();

    let history = bob.api().history(chat.id, HistoryQuery { limit: Some(200), ..Default::default() }).await.unwrap();
    assert_eq!(history.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), (16..=25).collect::<Vec<_>>());
    assert!(history.has_more);
}
