//! Routing by node (issue 18): real `banter serve` processes on PostgreSQL
//! and NATS, with the routing directory's tables read straight from the
//! database and each node's NATS traffic read from its `/metrics`.
//!
//! A frame goes once to each node that holds a recipient and to no other;
//! a user who moves to another node is followed (and told to resync once
//! the other nodes' cached answers have expired); a dead node's entries
//! stop counting with its lease and are swept; a node whose entries were
//! lost (the unlogged tables emptied by a database crash) writes them again.

mod cluster_support;

use std::time::Duration;

use banter_protocol::ServerFrame;
use banter_sdk::Connection;
use cluster_support::{next_message, told_offline_within, told_online, warm_up, Cluster, NODE_LEASE_SECS};

const ROUTER_RECEIVED: &str = "banter_nats_received_messages_total{stream=\"router\"}";

/// Waits for a `resync` with `reason`, skipping other frames.
async fn resync(conn: &mut Connection, reason: &str) {
    loop {
        match conn.next_frame_timeout(Duration::from_secs(10)).await.expect("a resync arrives") {
            ServerFrame::Resync { reason: got } if got == reason => return,
            _ => continue,
        }
    }
}

async fn pool(cluster: &Cluster) -> sqlx::PgPool {
    sqlx::PgPool::connect(&cluster.database_url()).await.expect("database")
}

/// The nodes the directory lists for `user_id` (leases not considered).
async fn entries(pool: &sqlx::PgPool, user_id: i64) -> Vec<i64> {
    sqlx::query_scalar("SELECT node_id FROM user_nodes WHERE user_id = $1 ORDER BY node_id")
        .bind(user_id)
        .fetch_all(pool)
        .await
        .expect("directory read")
}

/// Polls `check` every 100 ms until it holds, at most `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn frames_reach_only_the_nodes_holding_recipients_and_follow_a_user_who_moves() {
    let cluster = Cluster::start(3).await;
    let alice = cluster.user(0, "alice").await;
    let bob = cluster.user(1, "bob").await;
    let carol = cluster.user(2, "carol").await;
    let mut a = alice.connect().await.unwrap();
    let mut b = bob.connect().await.unwrap();
    let direct = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation.id;
    let to_carol = alice.api().direct_conversation_with(carol.user.id).await.unwrap().conversation.id;
    warm_up(&mut a, direct, &mut [&mut b]).await;

    // Bob is on node 1 only: node 1 hears each message once (and, in a
    // direct conversation, the sender's read receipt that goes with it),
    // node 2 (which holds nobody) hears nothing.
    let before = [cluster.metric(1, ROUTER_RECEIVED).await, cluster.metric(2, ROUTER_RECEIVED).await];
    for i in 0..20 {
        let ack = a.send_message(direct, format!("to bob {i}")).await.unwrap();
        assert_eq!(next_message(&mut b).await.seq, ack.seq);
    }
    // Carol has no connection anywhere: no node hears of her messages.
    for i in 0..10 {
        a.send_message(to_carol, format!("to carol {i}")).await.unwrap();
    }
    // Let anything still in flight land before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = [cluster.metric(1, ROUTER_RECEIVED).await, cluster.metric(2, ROUTER_RECEIVED).await];
    assert_eq!(after[0] - before[0], 40.0, "node 1 hears each of bob's messages and receipts once, and none of carol's");
    assert_eq!(after[1] - before[1], 0.0, "node 2 holds no recipient and hears nothing");

    // Bob moves to node 2. Node 2 adds him to the directory and, once the
    // other nodes' cached answers are older than that, tells him to resync.
    drop(b);
    let bob_on_2 = bob.with_base_url(&cluster.url(2)).unwrap();
    let mut b2 = bob_on_2.connect().await.unwrap();
    resync(&mut b2, "directory_joined").await;
    let db = pool(&cluster).await;
    eventually(Duration::from_secs(5), "bob's only entry is node 2's", || async {
        entries(&db, bob.user.id).await.len() == 1
    })
    .await;
    warm_up(&mut a, direct, &mut [&mut b2]).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before = [cluster.metric(1, ROUTER_RECEIVED).await, cluster.metric(2, ROUTER_RECEIVED).await];
    for i in 0..10 {
        let ack = a.send_message(direct, format!("to bob on node 2 {i}")).await.unwrap();
        assert_eq!(next_message(&mut b2).await.seq, ack.seq);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = [cluster.metric(1, ROUTER_RECEIVED).await, cluster.metric(2, ROUTER_RECEIVED).await];
    assert_eq!(after[0] - before[0], 0.0, "node 1 no longer holds bob and hears nothing");
    assert_eq!(after[1] - before[1], 20.0, "node 2 hears each message and receipt once");
}

#[tokio::test]
async fn a_dead_nodes_entries_stop_counting_and_are_swept() {
    let mut cluster = Cluster::start(3).await;
    let alice = cluster.user(0, "alice").await;
    let bob = cluster.user(1, "bob").await;
    let mut a = alice.connect().await.unwrap();
    let b = bob.connect().await.unwrap();
    let direct = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation.id;
    let db = pool(&cluster).await;
    eventually(Duration::from_secs(5), "bob is in the directory", || async { entries(&db, bob.user.id).await.len() == 1 })
        .await;
    let dead = entries(&db, bob.user.id).await[0];

    // Node 1 dies without a word: its entry for bob stays behind.
    cluster.kill(1);
    drop(b);
    assert_eq!(entries(&db, bob.user.id).await, vec![dead], "a killed node cannot clean up after itself");

    // Bob comes back on node 2; the stale entry does not keep his messages
    // from him.
    let bob_on_2 = bob.with_base_url(&cluster.url(2)).unwrap();
    let mut b2 = bob_on_2.connect().await.unwrap();
    warm_up(&mut a, direct, &mut [&mut b2]).await;
    let ack = a.send_message(direct, "after node 1 died").await.unwrap();
    assert_eq!(next_message(&mut b2).await.seq, ack.seq);

    // One lease after its last renewal the dead node stops counting, and
    // the next sweep (once per lease, by any node) removes it and its
    // entries: two leases and a renewal period at most.
    let limit = Duration::from_secs(3 * NODE_LEASE_SECS + 2);
    eventually(limit, "the dead node and its entries are swept", || async {
        let nodes: i64 = sqlx::query_scalar("SELECT count(*) FROM cluster_nodes WHERE node_id = $1")
            .bind(dead)
            .fetch_one(&db)
            .await
            .expect("read");
        nodes == 0 && !entries(&db, bob.user.id).await.contains(&dead)
    })
    .await;
    assert_eq!(entries(&db, bob.user.id).await.len(), 1, "node 2's entry for bob stays");
}

#[tokio::test]
async fn a_node_whose_entries_were_lost_writes_them_again_and_its_users_resync() {
    let cluster = Cluster::start(2).await;
    let alice = cluster.user(0, "alice").await;
    let bob = cluster.user(1, "bob").await;
    let mut a = alice.connect().await.unwrap();
    let mut b = bob.connect().await.unwrap();
    let direct = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation.id;
    warm_up(&mut a, direct, &mut [&mut b]).await;
    let db = pool(&cluster).await;

    // What a crash of PostgreSQL does to the unlogged tables.
    sqlx::query("TRUNCATE cluster_nodes, user_nodes").execute(&db).await.expect("truncate");

    // Each node notices at its next renewal (every third of the lease),
    // registers again with all its users, and tells them to resync.
    resync(&mut b, "directory_joined").await;
    assert_eq!(entries(&db, bob.user.id).await.len(), 1, "bob's entry is back");
    warm_up(&mut a, direct, &mut [&mut b]).await;
    let ack = a.send_message(direct, "after the directory was lost").await.unwrap();
    assert_eq!(next_message(&mut b).await.seq, ack.seq);
}

#[tokio::test]
async fn presence_reaches_only_the_nodes_holding_contacts_and_nothing_is_broadcast() {
    let cluster = Cluster::start(3).await;
    let alice = cluster.user(0, "alice").await;
    let bob = cluster.user(1, "bob").await;
    let carol = cluster.user(2, "carol").await;
    alice.api().direct_conversation_with(bob.user.id).await.unwrap();
    let mut b = bob.connect().await.unwrap();
    let _c = carol.connect().await.unwrap();
    let db = pool(&cluster).await;
    eventually(Duration::from_secs(5), "bob and carol are in the directory", || async {
        entries(&db, bob.user.id).await.len() == 1 && entries(&db, carol.user.id).await.len() == 1
    })
    .await;
    let carols_node_before = cluster.metric(2, ROUTER_RECEIVED).await;

    // Alice comes online on node 0 and leaves: bob (node 1), her contact,
    // is told both; node 2, whose carol cannot see alice, hears nothing.
    let a = alice.connect().await.unwrap();
    told_online(&mut b, alice.user.id).await;
    a.close().await.unwrap();
    let limit = Duration::from_secs(5 * cluster_support::PRESENCE_GRACE_SECS);
    assert!(told_offline_within(&mut b, alice.user.id, limit).await, "bob is told alice went offline, one grace after she left");
    assert_eq!(cluster.metric(2, ROUTER_RECEIVED).await, carols_node_before, "node 2 holds no contact of alice's");
    for node in 0..3 {
        assert_eq!(
            cluster.metric(node, "banter_nats_received_messages_total{stream=\"presence\"}").await,
            0.0,
            "no node hears presence broadcasts"
        );
    }
}

#[tokio::test]
async fn a_stopped_nodes_users_who_do_not_come_back_go_offline() {
    let mut cluster = Cluster::start(2).await;
    let alice = cluster.user(0, "alice").await;
    let bob = cluster.user(1, "bob").await;
    alice.api().direct_conversation_with(bob.user.id).await.unwrap();
    let mut b = bob.connect().await.unwrap();
    let _a = alice.connect().await.unwrap();
    told_online(&mut b, alice.user.id).await;

    // A deploy stops node 0 (SIGTERM) and alice's device does not come
    // back: node 0 is gone, so another node must tell bob.
    assert!(cluster.terminate(0).await.unwrap().success());
    let limit = Duration::from_secs(3 * NODE_LEASE_SECS + 5);
    assert!(told_offline_within(&mut b, alice.user.id, limit).await, "bob is told alice is offline once node 0's lease has run out");
}
