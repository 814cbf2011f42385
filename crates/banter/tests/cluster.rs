//! Cluster mode end to end: several real `banter serve` processes sharing
//! one PostgreSQL database and one NATS server, driven through the SDK.
//!
//! Each test gets its own fresh database (dropped afterwards) and its own
//! NATS subject prefix, so tests run in parallel on the shared services that
//! `scripts/services-up` starts; the NATS-restart test runs a private
//! nats-server instead.

mod cluster_support;

use std::time::Duration;

use banter_protocol::{frames::close_code, ServerFrame};
use banter_sdk::{new_client_msg_id, SyncState};
use cluster_support::{closed_code, next_message, warm_up, Cluster, PrivateNats};

#[tokio::test]
async fn users_on_different_nodes_chat_one_to_one_and_in_a_group() {
    let cluster = Cluster::start(3).await;
    let alice = cluster.user(0, "alice").await;
    let bob = cluster.user(1, "bob").await;
    let carol = cluster.user(2, "carol").await;
    let (mut a, mut b, mut c) = (alice.connect().await.unwrap(), bob.connect().await.unwrap(), carol.connect().await.unwrap());

    let direct = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation.id;
    warm_up(&mut a, direct, &mut [&mut b]).await;
    let ack = a.send_message(direct, "hello bob, from node 0").await.unwrap();
    let got = next_message(&mut b).await;
    assert_eq!((got.conversation_id, got.seq, got.text.as_str()), (direct, ack.seq, "hello bob, from node 0"));
    let reply = b.send_message(direct, "hi alice, from node 1").await.unwrap();
    assert_eq!(next_message(&mut a).await.seq, reply.seq);

    let group = carol.api().create_group("three nodes", &[alice.user.id, bob.user.id]).await.unwrap().conversation.id;
    warm_up(&mut c, group, &mut [&mut a, &mut b]).await;
    let ack = c.send_message(group, "group hello from node 2").await.unwrap();
    for conn in [&mut a, &mut b] {
        let got = next_message(conn).await;
        assert_eq!((got.conversation_id, got.seq, got.text.as_str()), (group, ack.seq, "group hello from node 2"));
    }
}

#[tokio::test]
async fn one_users_devices_on_different_nodes_stay_in_step_and_logout_closes_the_right_one() {
    let cluster = Cluster::start(3).await;
    let alice = cluster.user(0, "alice").await;
    let bob = cluster.user(1, "bob").await;
    let alice_laptop = cluster.login(1, &alice).await;
    let (mut phone, mut laptop) = (alice.connect().await.unwrap(), alice_laptop.connect().await.unwrap());
    let mut b = bob.connect().await.unwrap();
    let direct = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation.id;
    warm_up(&mut b, direct, &mut [&mut phone, &mut laptop]).await;

    // The phone (node 0) sends; the laptop (node 1) and bob (node 1) get
    // it live; the phone itself only gets its ack (skip holds across nodes).
    let ack = phone.send_message(direct, "sent from my phone").await.unwrap();
    for conn in [&mut laptop, &mut b] {
        assert_eq!(next_message(conn).await.seq, ack.seq);
    }
    phone.ping().await.unwrap();
    while let Ok(frame) = phone.next_frame_timeout(Duration::from_millis(300)).await {
        if let ServerFrame::Message { message } = frame {
            assert_ne!(message.seq, ack.seq, "the sending connection must not get its own message back");
        }
    }

    // Reading on the laptop moves the marker on the phone.
    laptop.send_read(direct, ack.seq).await.unwrap();
    let marker = cluster_support::next_matching(&mut phone, |f| match f {
        ServerFrame::ReadMarker { conversation_id, seq, .. } if conversation_id == direct => Some(seq),
        _ => None,
    })
    .await;
    assert_eq!(marker, ack.seq);

    // Logging the laptop out through node 2 closes its socket on node 1 only.
    let laptop_on_node2 = alice_laptop.with_base_url(&cluster.url(2)).unwrap();
    laptop_on_node2.api().logout().await.unwrap();
    assert_eq!(closed_code(&mut laptop).await, Some(close_code::SESSION_REVOKED));
    phone.ping().await.expect("the phone stays connected");
}

#[tokio::test]
async fn a_killed_nodes_clients_reconnect_elsewhere_and_lose_or_repeat_nothing() {
    let mut cluster = Cluster::start(3).await;
    let alice = cluster.user(0, "alice").await;
    let bob = cluster.user(0, "bob").await;
    let direct = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation.id;
    let mut a = alice.connect().await.unwrap();
    let mut b = bob.connect().await.unwrap();
    let mut bob_state = SyncState::new();

    // Alice sends 30 messages on node 0, then node 0 dies mid-stream with
    // 10 more sent but not acknowledged.
    let texts: Vec<String> = (0..40).map(|i| format!("message {i:02}")).collect();
    let ids: Vec<String> = texts.iter().map(|_| new_client_msg_id()).collect();
    for i in 0..30 {
        a.send_message_with_id(direct, &ids[i], texts[i].as_str()).await.unwrap();
    }
    // Bob reads a few live before the crash.
    for _ in 0..5 {
        let m = next_message(&mut b).await;
        bob_state.accept(&m);
    }
    for i in 30..40 {
        a.send_frame(banter_protocol::ClientFrame::Send {
            client_msg_id: ids[i].clone(),
            conversation_id: direct,
            text: texts[i].clone(),
        })
        .await
        .unwrap();
    }
    cluster.kill(0);

    // Both reconnect to other nodes: alice resends everything not acked
    // (all of 30..40, as a client would), bob syncs from his cursor.
    let alice = alice.with_base_url(&cluster.url(1)).unwrap();
    let mut a = alice.connect().await.unwrap();
    for i in 30..40 {
        a.send_message_with_id(direct, &ids[i], texts[i].as_str()).await.unwrap();
    }
    let bob = bob.with_base_url(&cluster.url(2)).unwrap();
    let mut b = bob.connect().await.unwrap();
    let caught_up = b.catch_up(&mut bob_state).await.unwrap();
    assert!(!bob_state.has_gaps());
    assert_eq!(bob_state.cursor(direct), 40, "every message once: {:?}", bob_state.cursors());
    assert_eq!(caught_up.len(), 35, "exactly the ones bob had not seen live");

    let history = bob.api().history(direct, Default::default()).await.unwrap();
    let stored: Vec<&str> = history.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(stored, texts.iter().map(String::as_str).collect::<Vec<_>>(), "each text stored once, in order");
    assert_eq!(history.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), (1..=40).collect::<Vec<_>>());
}

#[tokio::test]
async fn after_a_nats_restart_delivery_resumes_and_sync_recovers_what_was_missed() {
    let mut nats = PrivateNats::start();
    let cluster = Cluster::start_with_nats(2, &nats.url()).await;
    let alice = cluster.user(0, "alice").await;
    let bob = cluster.user(1, "bob").await;
    let direct = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation.id;
    let mut a = alice.connect().await.unwrap();
    let mut b = bob.connect().await.unwrap();
    warm_up(&mut a, direct, &mut [&mut b]).await;

    nats.stop();
    // NATS is down: sends are still durable and acknowledged (the database
    // is up); bob on the other node cannot get them live.
    for i in 0..5 {
        a.send_message(direct, format!("while NATS is down {i}")).await.unwrap();
    }
    nats.start_again();
    warm_up(&mut a, direct, &mut [&mut b]).await;

    // Bob's client sees a gap and syncs: everything is there, once.
    let mut state = SyncState::new();
    let all = b.catch_up(&mut state).await.unwrap();
    assert!(!state.has_gaps());
    let texts: Vec<&str> = all.iter().map(|m| m.text.as_str()).filter(|t| t.starts_with("while")).collect();
    assert_eq!(texts, (0..5).map(|i| format!("while NATS is down {i}")).collect::<Vec<_>>());
    let last = a.send_message(direct, "after the restart").await.unwrap();
    let got = loop {
        let m = next_message(&mut b).await;
        if m.text == "after the restart" {
            break m;
        }
    };
    assert_eq!(got.seq, last.seq);
}
