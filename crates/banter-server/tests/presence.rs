//! Presence: online while a device is connected and heartbeating, offline
//! after the grace period, pushed to direct contacts, queried in bulk.

mod common;

use std::time::Duration;

use banter_protocol::{ErrorCode, Presence, ServerFrame, UserId};
use banter_sdk::{Connection, Session};
use common::*;

const GRACE: Duration = Duration::from_millis(800);

async fn start() -> TestServer {
    TestServer::start_with(|c| c.presence_grace = GRACE).await
}

/// The next presence change of `user_id` seen on `conn`.
async fn next_presence(conn: &mut Connection, user_id: UserId) -> (bool, Option<i64>) {
    next_matching(conn, |f| match f {
        ServerFrame::Presence { user_id: id, online, last_seen_at } if id == user_id => Some((online, last_seen_at)),
        _ => None,
    })
    .await
}

async fn presence_of(viewer: &Session, user_id: UserId) -> Presence {
    let found = viewer.api.presence(&[user_id]).await.unwrap();
    found.into_iter().next().expect("the user is visible to the viewer")
}

/// Keeps a connection alive (ping) for `duration`.
async fn heartbeat_for(conn: &mut Connection, duration: Duration) {
    let until = tokio::time::Instant::now() + duration;
    while tokio::time::Instant::now() < until {
        conn.ping().await.unwrap();
        tokio::time::sleep(GRACE / 4).await;
    }
}

async fn contacts(server: &TestServer) -> (Session, Session, Connection) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    bob.api.direct_conversation_with(alice.user.id).await.unwrap();
    let bob_watching = bob.connect().await.unwrap();
    (alice, bob, bob_watching)
}

#[tokio::test]
async fn a_contact_sees_online_at_once_and_offline_only_after_the_grace() {
    let server = start().await;
    let (alice, bob, mut watching) = contacts(&server).await;
    assert!(!presence_of(&bob, alice.user.id).await.online);
    assert_eq!(presence_of(&bob, alice.user.id).await.last_seen_at, None, "never connected");

    let alice_conn = alice.connect().await.unwrap();
    assert!(next_presence(&mut watching, alice.user.id).await.0);
    assert!(presence_of(&bob, alice.user.id).await.online);

    let before_leaving = banter_server::state::now_ms();
    alice_conn.close().await.unwrap();
    assert!(presence_of(&bob, alice.user.id).await.online, "still online inside the grace period");
    let (online, last_seen) = next_presence(&mut watching, alice.user.id).await;
    assert!(!online);
    let last_seen = last_seen.expect("offline carries last seen");
    assert!(last_seen >= before_leaving - 1_000 && last_seen <= banter_server::state::now_ms());
    let queried = presence_of(&bob, alice.user.id).await;
    assert_eq!((queried.online, queried.last_seen_at), (false, Some(last_seen)), "last seen is stored");
}

#[tokio::test]
async fn a_user_stays_online_until_their_last_device_leaves() {
    let server = start().await;
    let (alice, bob, mut watching) = contacts(&server).await;
    let alice_laptop = server.second_device(&alice).await;
    let phone = alice.connect().await.unwrap();
    assert!(next_presence(&mut watching, alice.user.id).await.0);
    let mut laptop = alice_laptop.connect().await.unwrap();

    phone.close().await.unwrap();
    heartbeat_for(&mut laptop, GRACE * 3).await;
    assert!(presence_of(&bob, alice.user.id).await.online, "the laptop keeps alice online");
    laptop.close().await.unwrap();
    assert!(!next_presence(&mut watching, alice.user.id).await.0, "offline once both are gone");
}

#[tokio::test]
async fn a_device_that_stops_heartbeating_goes_offline_though_its_socket_is_open() {
    let server = TestServer::start_with(|c| {
        c.presence_grace = GRACE;
        c.idle_timeout = Duration::from_secs(60);
    })
    .await;
    let (alice, bob, mut watching) = contacts(&server).await;
    let _silent = alice.connect().await.unwrap();
    assert!(next_presence(&mut watching, alice.user.id).await.0);
    // Like a killed app behind a dead TCP connection: nothing more arrives.
    assert!(!next_presence(&mut watching, alice.user.id).await.0);
    assert_eq!(server.running().connection_count(), 2, "the socket itself is still open");
    assert!(!presence_of(&bob, alice.user.id).await.online);
}

#[tokio::test]
async fn a_quick_reconnect_does_not_flap() {
    let server = start().await;
    let (alice, _bob, mut watching) = contacts(&server).await;
    let conv = alice.api.direct_conversation_with(_bob.user.id).await.unwrap().conversation;
    let first = alice.connect().await.unwrap();
    assert!(next_presence(&mut watching, alice.user.id).await.0);
    first.close().await.unwrap();
    let mut again = alice.connect().await.unwrap();
    heartbeat_for(&mut again, GRACE * 2).await;
    again.send_message(conv.id, "still here").await.unwrap();
    // Everything bob sees up to that message: no presence change in between.
    let frames_before_message = next_matching(&mut watching, {
        let mut seen = Vec::new();
        move |f| match f {
            ServerFrame::Message { .. } => Some(std::mem::take(&mut seen)),
            other => {
                seen.push(other);
                None
            }
        }
    })
    .await;
    assert!(
        !frames_before_message.iter().any(|f| matches!(f, ServerFrame::Presence { .. })),
        "no offline/online flap: {frames_before_message:?}"
    );
}

#[tokio::test]
async fn presence_is_queried_in_bulk_only_for_people_who_share_a_conversation() {
    let mut server = start().await;
    let me = server.user("me").await;
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(server.user("member").await);
    }
    let stranger = server.user("stranger").await;
    let ids: Vec<UserId> = members.iter().map(|m| m.user.id).collect();
    me.api.create_group("team", &ids).await.unwrap();
    let _online = members[0].connect().await.unwrap();

    let mut asked = ids.clone();
    asked.extend([stranger.user.id, 9_999_999, me.user.id]);
    let answer = me.api.presence(&asked).await.unwrap();
    let mut reported: Vec<UserId> = answer.iter().map(|p| p.user_id).collect();
    reported.sort();
    let mut expected = ids.clone();
    expected.push(me.user.id);
    expected.sort();
    assert_eq!(reported, expected, "strangers and unknown ids are left out");
    let online: Vec<UserId> = answer.iter().filter(|p| p.online).map(|p| p.user_id).collect();
    assert_eq!(online, vec![members[0].user.id]);

    let error = me.api.presence(&(1..=201).collect::<Vec<_>>()).await.unwrap_err();
    assert_eq!((error.code(), error.status()), (Some(ErrorCode::InvalidRequest), Some(400)));
    let raw = reqwest::Client::new()
        .get(format!("{}/api/v1/presence?user_ids=1,abc", server.url()))
        .bearer_auth(&me.token)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);

    // Last seen survives a restart (it is stored, not only in memory).
    drop(_online);
    server.restart().await;
    let me = me.with_base_url(&server.url()).unwrap();
    let after = presence_of(&me, members[0].user.id).await;
    assert!(!after.online);
    assert!(after.last_seen_at.is_some(), "recorded at shutdown at the latest");
}

/// Applies presence frames in order until `view` says every user of `users`
/// is `online`; fails if that takes longer than the harness's wait.
async fn until_everyone_is(conn: &mut Connection, users: &[UserId], online: bool, view: &mut std::collections::HashMap<UserId, bool>) {
    while !users.iter().all(|u| view.get(u) == Some(&online)) {
        match conn.next_frame_timeout(WAIT).await {
            Ok(ServerFrame::Presence { user_id, online, .. }) => {
                view.insert(user_id, online);
            }
            Ok(_) => {}
            Err(e) => panic!("view {view:?} never became all {online}: {e}"),
        }
    }
}

#[tokio::test]
async fn hello_carries_the_contacts_presence_at_connect_time() {
    let server = start().await;
    let watcher = server.user("watcher").await;
    let online = server.user("online").await;
    let away = server.user("away").await;
    let stranger = server.user("stranger").await;
    for other in [&online, &away] {
        watcher.api.direct_conversation_with(other.user.id).await.unwrap();
    }
    let mut online_conn = online.connect().await.unwrap();
    online_conn.ping().await.unwrap();
    drop(stranger);

    let conn = watcher.connect().await.unwrap();
    let mut seen: Vec<(UserId, bool)> = conn.hello().presence.iter().map(|p| (p.user_id, p.online)).collect();
    seen.sort_unstable();
    let mut expected = vec![(online.user.id, true), (away.user.id, false)];
    expected.sort_unstable();
    assert_eq!(seen, expected, "every contact, online or not, and nobody else");
}

#[tokio::test]
async fn after_a_reconnect_storm_every_contact_ends_with_the_true_state() {
    // Silent sockets count as gone after the grace: long enough here for
    // the whole storm to settle while nobody pings.
    let server = TestServer::start_with(|c| c.presence_grace = Duration::from_secs(4)).await;
    let watcher = server.user("watcher").await;
    let mut contacts = Vec::new();
    for n in 0..120 {
        let contact = server.user(&format!("storm{n}")).await;
        watcher.api.direct_conversation_with(contact.user.id).await.unwrap();
        contacts.push(contact);
    }
    let ids: Vec<UserId> = contacts.iter().map(|c| c.user.id).collect();
    let mut conn = watcher.connect().await.unwrap();
    let mut view = std::collections::HashMap::new();

    // Everyone comes online at once…
    let mut sockets = futures_util::future::join_all(contacts.iter().map(|c| c.connect())).await;
    until_everyone_is(&mut conn, &ids, true, &mut view).await;
    // …goes away at once (offline after the grace)…
    sockets.clear();
    until_everyone_is(&mut conn, &ids, false, &mut view).await;
    // …and storms back: the watcher's last word on each is "online".
    sockets = futures_util::future::join_all(contacts.iter().map(|c| c.connect())).await;
    until_everyone_is(&mut conn, &ids, true, &mut view).await;
    assert!(sockets.iter().all(Result::is_ok));
    // A new device of the watcher starts from the same view (hello).
    let fresh = server.second_device(&watcher).await.connect().await.unwrap();
    let fresh_view: std::collections::HashMap<UserId, bool> =
        fresh.hello().presence.iter().map(|p| (p.user_id, p.online)).collect();
    assert!(ids.iter().all(|id| fresh_view.get(id) == Some(&true)), "{fresh_view:?}");
}
