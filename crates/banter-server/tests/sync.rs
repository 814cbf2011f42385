//! History, catch-up after reconnect, read markers and restarts: no gap, no
//! duplicate, nothing lost.

mod common;

use banter_protocol::{frames::SyncCursor, http::HistoryQuery, ErrorCode, ServerFrame};
use common::{next_matching, TestServer};

#[tokio::test]
async fn an_offline_device_catches_up_after_reconnect_with_no_gap_or_duplicate() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let direct = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let group = alice.api().create_group("trio", &[bob.user.id, carol.user.id]).await.unwrap().conversation;

    // Bob is online, sees the first messages, then goes offline.
    let mut bob_conn = bob.connect().await.unwrap();
    let mut alice_conn = alice.connect().await.unwrap();
    alice_conn.send_message(direct.id, "d1").await.unwrap();
    alice_conn.send_message(group.id, "g1").await.unwrap();
    let cursors = bob_conn.sync_all(&[]).await.unwrap();
    assert_eq!(cursors.len(), 2);
    bob_conn.close().await.ok();

    // While he is away: 130 more messages over two conversations (more than one page).
    let mut carol_conn = carol.connect().await.unwrap();
    for i in 2..=70 {
        alice_conn.send_message(direct.id, &format!("d{i}")).await.unwrap();
    }
    for i in 2..=62 {
        carol_conn.send_message(group.id, &format!("g{i}")).await.unwrap();
    }

    let mut back = bob.connect().await.unwrap();
    let cursors = vec![SyncCursor { conversation_id: direct.id, seq: 1 }, SyncCursor { conversation_id: group.id, seq: 1 }];
    let missed = back.sync_all(&cursors).await.unwrap();
    let direct_seqs: Vec<i64> = missed.iter().filter(|m| m.conversation_id == direct.id).map(|m| m.seq).collect();
    let group_seqs: Vec<i64> = missed.iter().filter(|m| m.conversation_id == group.id).map(|m| m.seq).collect();
    assert_eq!(direct_seqs, (2..=70).collect::<Vec<_>>());
    assert_eq!(group_seqs, (2..=62).collect::<Vec<_>>());
    assert!(missed.iter().filter(|m| m.conversation_id == direct.id).all(|m| m.text == format!("d{}", m.seq)));
}

#[tokio::test]
async fn a_new_device_syncs_all_history_from_zero() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut conn = alice.connect().await.unwrap();
    for i in 1..=120 {
        conn.send_message(chat.id, &format!("m{i}")).await.unwrap();
    }
    let fresh_device = server.second_device(&bob).await;
    let all = fresh_device.connect().await.unwrap().sync_all(&[]).await.unwrap();
    assert_eq!(all.iter().map(|m| m.seq).collect::<Vec<_>>(), (1..=120).collect::<Vec<_>>());
}

#[tokio::test]
async fn history_pages_backwards_and_forwards_without_gaps() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut conn = alice.connect().await.unwrap();
    for i in 1..=125 {
        conn.send_message(chat.id, &format!("m{i}")).await.unwrap();
    }
    // Backwards from the newest page, as a chat UI scrolls up.
    let mut seen = Vec::new();
    let mut page = bob.api().history(chat.id, HistoryQuery { limit: Some(50), ..Default::default() }).await.unwrap();
    loop {
        let mut seqs: Vec<i64> = page.messages.iter().map(|m| m.seq).collect();
        seqs.extend(seen);
        seen = seqs;
        if !page.has_more {
            break;
        }
        let before = page.messages.first().unwrap().seq;
        page = bob.api().history(chat.id, HistoryQuery { before: Some(before), limit: Some(50), ..Default::default() }).await.unwrap();
    }
    assert_eq!(seen, (1..=125).collect::<Vec<_>>());

    // Forwards.
    let page = bob.api().history(chat.id, HistoryQuery { after: Some(100), limit: Some(10), ..Default::default() }).await.unwrap();
    assert_eq!(page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), (101..=110).collect::<Vec<_>>());
    assert!(page.has_more);

    for bad in [HistoryQuery { limit: Some(0), ..Default::default() }, HistoryQuery { limit: Some(201), ..Default::default() }, HistoryQuery { before: Some(5), after: Some(1), ..Default::default() }] {
        let err = bob.api().history(chat.id, bad).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::InvalidRequest));
    }
}

#[tokio::test]
async fn a_server_restart_keeps_all_history_and_seqs_continue() {
    let mut server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    {
        let mut conn = alice.connect().await.unwrap();
        for i in 1..=30 {
            conn.send_message(chat.id, &format!("before restart {i}")).await.unwrap();
        }
    }
    server.restart().await;

    // Sessions survive the restart too.
    let alice = alice.with_base_url(&server.url()).unwrap();
    let bob = bob.with_base_url(&server.url()).unwrap();
    let history = bob.api().history(chat.id, HistoryQuery { limit: Some(100), ..Default::default() }).await.unwrap();
    assert_eq!(history.messages.len(), 30);
    assert_eq!(history.messages[29].text, "before restart 30");
    let ack = alice.connect().await.unwrap().send_message(chat.id, "after restart").await.unwrap();
    assert_eq!(ack.seq, 31);
}

#[tokio::test]
async fn read_markers_drive_unread_counts_on_every_device_of_the_user() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob_phone = server.user("bob").await;
    let bob_laptop = server.second_device(&bob_phone).await;
    let chat = alice.api().direct_conversation_with(bob_phone.user.id).await.unwrap().conversation;
    let mut alice_conn = alice.connect().await.unwrap();
    for i in 1..=5 {
        alice_conn.send_message(chat.id, &format!("m{i}")).await.unwrap();
    }
    let list = bob_phone.api().conversations().await.unwrap();
    let summary = list.iter().find(|c| c.id == chat.id).unwrap();
    assert_eq!(summary.unread_count, 5);
    assert_eq!(summary.last_message.as_ref().unwrap().text, "m5");
    // Alice's own messages are not unread for her.
    assert_eq!(alice.api().conversations().await.unwrap()[0].unread_count, 0);

    let mut laptop_conn = bob_laptop.connect().await.unwrap();
    assert_eq!(bob_phone.api().mark_read(chat.id, 3).await.unwrap().read_seq, 3);
    let marker = next_matching(&mut laptop_conn, |f| match f {
        ServerFrame::ReadMarker { conversation_id, seq, .. } if conversation_id == chat.id => Some(seq),
        _ => None,
    })
    .await;
    assert_eq!(marker, 3);
    assert_eq!(bob_laptop.api().conversations().await.unwrap()[0].unread_count, 2);
    // Markers never move back, and are clamped to the last message.
    assert_eq!(bob_laptop.api().mark_read(chat.id, 1).await.unwrap().read_seq, 3);
    assert_eq!(bob_laptop.api().mark_read(chat.id, 1_000).await.unwrap().read_seq, 5);
    assert_eq!(bob_phone.api().conversations().await.unwrap()[0].unread_count, 0);
}

#[tokio::test]
async fn a_sync_limit_out_of_range_is_refused_as_over_http() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut conn = alice.connect().await.unwrap();
    conn.send_message(chat.id, "one").await.unwrap();
    for limit in [0, 201, 1000] {
        let refused = conn.sync_once(&[], Some(limit)).await.unwrap_err();
        assert_eq!(refused.code(), Some(ErrorCode::InvalidRequest), "limit {limit}");
        let over_http =
            alice.api.history(chat.id, HistoryQuery { limit: Some(limit), ..Default::default() }).await.unwrap_err();
        assert_eq!(over_http.code(), Some(ErrorCode::InvalidRequest), "limit {limit} over HTTP");
    }
    for limit in [1, 200] {
        let page = conn.sync_once(&[], Some(limit)).await.unwrap();
        assert_eq!(page.messages.len(), 1, "limit {limit} is accepted");
    }
}

/// A reconnect storm's syncs on a node that runs one at a time
/// (`max_concurrent_syncs = 1`): they wait their turn, and every device
/// gets everything — none is refused while the wait is within
/// `sync_queue_timeout`.
#[tokio::test]
async fn syncs_beyond_the_concurrency_limit_wait_their_turn_and_all_complete() {
    let server = TestServer::start_with(|c| c.max_concurrent_syncs = 1).await;
    let alice = server.user("alice").await;
    let mut others = Vec::new();
    for i in 0..12 {
        others.push(server.user(&format!("member{i}")).await);
    }
    let ids: Vec<i64> = others.iter().map(|u| u.user.id).collect();
    let group = alice.api().create_group("storm", &ids).await.unwrap().conversation;
    let mut conn = alice.connect().await.unwrap();
    for i in 1..=150 {
        conn.send_message(group.id, &format!("m{i}")).await.unwrap();
    }
    let mut devices = Vec::new();
    for member in &others {
        devices.push(member.connect().await.unwrap());
    }
    let syncs = devices.into_iter().map(|mut device| tokio::spawn(async move { device.sync_all(&[]).await }));
    for sync in futures_util::future::join_all(syncs).await {
        let all = sync.unwrap().expect("every sync completes");
        let seqs: Vec<i64> = all.iter().filter(|m| m.conversation_id == group.id).map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=150).collect::<Vec<_>>());
    }
}
