//! Live order on one node: however many members send at once, every device
//! receives a conversation's live `message` frames in strictly increasing
//! seq order (docs/PROTOCOL.md, "Delivery contract").

mod common;

use std::collections::BTreeSet;

use banter_protocol::{Seq, ServerFrame};
use banter_sdk::Connection;
use common::*;
use tokio::task::JoinSet;

const SENDERS: usize = 4;
const MESSAGES_PER_SENDER: usize = 150;

/// Reads live frames until every seq of `expected` arrived; returns the
/// seqs in arrival order.
async fn watch(mut conn: Connection, expected: BTreeSet<Seq>) -> Vec<Seq> {
    let mut arrived = Vec::new();
    let mut seen = BTreeSet::new();
    while seen != expected {
        match conn.next_frame_timeout(WAIT).await {
            Ok(ServerFrame::Message { message }) => {
                arrived.push(message.seq);
                seen.insert(message.seq);
            }
            Ok(_) => {}
            Err(e) => panic!("{} of {} live frames arrived: {e}", seen.len(), expected.len()),
        }
    }
    arrived
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_senders_frames_reach_every_device_in_seq_order() {
    let server = TestServer::start().await;
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        senders.push(server.user("sender").await);
    }
    let watcher = server.user("watcher").await;
    let other_watcher = server.user("watcher").await;
    let member_ids: Vec<_> = senders[1..].iter().chain([&watcher, &other_watcher]).map(|s| s.user.id).collect();
    let group = senders[0].api().create_group("busy", &member_ids).await.unwrap().conversation;

    // Watching devices: two users, one of them with two devices, and a
    // second device of a sender (it gets its own user's messages live too).
    let sender_tablet = server.second_device(&senders[0]).await;
    let second_phone = server.second_device(&watcher).await;
    let mut watchers = Vec::new();
    for session in [&watcher, &second_phone, &other_watcher, &sender_tablet] {
        watchers.push(session.connect().await.unwrap());
    }

    let expected: BTreeSet<Seq> = (1..=(SENDERS * MESSAGES_PER_SENDER) as Seq).collect();
    let mut watching = JoinSet::new();
    for conn in watchers {
        watching.spawn(watch(conn, expected.clone()));
    }
    let mut sending = JoinSet::new();
    for (n, sender) in senders.iter().enumerate() {
        let mut conn = sender.connect().await.unwrap();
        sending.spawn(async move {
            for i in 0..MESSAGES_PER_SENDER {
                conn.send_message(group.id, format!("sender {n} message {i}")).await.expect("acked");
            }
        });
    }
    sending.join_all().await;
    for arrived in watching.join_all().await {
        let out_of_order = arrived.windows(2).filter(|w| w[1] <= w[0]).count();
        assert_eq!(out_of_order, 0, "live frames out of seq order: {arrived:?}");
        assert_eq!(arrived.len(), expected.len(), "each message once");
    }
}
