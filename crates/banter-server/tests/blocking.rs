//! Blocks through a real server: what the blocked user and the blocker can
//! no longer do, that presence and typing stop between them, that unblocking
//! restores it all, and the documented refusals and cap.

mod common;

use std::time::Duration;

use banter_protocol::{limits::TYPING_MIN_INTERVAL_MS, ClientFrame, ErrorCode, ServerFrame, UserId};
use banter_sdk::{new_client_msg_id, Connection};
use common::{next_error, next_matching, next_message, TestServer};

/// Whether a presence frame about `user_id` arrives on `conn` within `wait`.
async fn presence_arrives(conn: &mut Connection, user_id: UserId, wait: Duration) -> bool {
    let until = tokio::time::Instant::now() + wait;
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        match conn.next_frame_timeout(left).await {
            Ok(ServerFrame::Presence { user_id: id, .. }) if id == user_id => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

/// The next `blocks_changed` on `conn`: (user, blocked).
async fn blocks_changed(conn: &mut Connection) -> (UserId, bool) {
    next_matching(conn, |frame| match frame {
        ServerFrame::BlocksChanged { user_id, blocked } => Some((user_id, blocked)),
        _ => None,
    })
    .await
}

/// Every device of the blocker hears of a block and an unblock made on
/// one of them (`blocks_changed`); the blocked user hears nothing.
#[tokio::test]
async fn a_block_made_on_one_device_reaches_the_others_but_not_the_blocked_user() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let laptop = server.second_device(&alice).await;
    let bob = server.user("bob").await;
    let mut laptop_conn = laptop.connect().await.unwrap();
    let mut bob_conn = bob.connect().await.unwrap();
    alice.api.block(bob.user.id).await.unwrap();
    assert_eq!(blocks_changed(&mut laptop_conn).await, (bob.user.id, true));
    alice.api.unblock(bob.user.id).await.unwrap();
    assert_eq!(blocks_changed(&mut laptop_conn).await, (bob.user.id, false));
    // Bob is told nothing: the next frame he gets is the message sent after.
    let chat = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut alice_conn = alice.connect().await.unwrap();
    alice_conn.send_message(chat.id, "after all that").await.unwrap();
    let first = next_matching(&mut bob_conn, |frame| match frame {
        ServerFrame::Message { message } => Some(message.text),
        ServerFrame::BlocksChanged { .. } => Some(format!("{frame:?}")),
        _ => None,
    })
    .await;
    assert_eq!(first, "after all that");
}

#[tokio::test]
async fn a_blocked_user_can_neither_open_nor_message_the_direct_conversation_and_nor_can_the_blocker() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = bob.api.direct_conversation_with(alice.user.id).await.unwrap().conversation;
    let mut alice_conn = alice.connect().await.unwrap();
    let mut bob_conn = bob.connect().await.unwrap();
    bob_conn.send_message(chat.id, "hi alice").await.unwrap();
    next_message(&mut alice_conn).await;

    alice.api.block(bob.user.id).await.unwrap();
    let listed = alice.api.blocked_users().await.unwrap();
    assert_eq!(listed.iter().map(|b| b.user.id).collect::<Vec<_>>(), vec![bob.user.id]);

    let refused = bob.api.direct_conversation_with(alice.user.id).await.unwrap_err();
    assert_eq!((refused.status(), refused.code()), (Some(403), Some(ErrorCode::Blocked)));
    let refused = alice.api.direct_conversation_with(bob.user.id).await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::Blocked), "the blocker cannot reopen it either");
    for (conn, who) in [(&mut bob_conn, "the blocked user"), (&mut alice_conn, "the blocker")] {
        let refused = conn.send_message(chat.id, "hello?").await.unwrap_err();
        assert_eq!(refused.code(), Some(ErrorCode::Blocked), "{who}");
    }
    // History stays readable for both; nothing was stored.
    let history = alice.api.history(chat.id, Default::default()).await.unwrap();
    assert_eq!(history.messages.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), vec!["hi alice"]);

    alice.api.unblock(bob.user.id).await.unwrap();
    assert!(alice.api.blocked_users().await.unwrap().is_empty());
    assert_eq!(bob.api.direct_conversation_with(alice.user.id).await.unwrap().conversation.id, chat.id);
    bob_conn.send_message(chat.id, "friends again?").await.unwrap();
    assert_eq!(next_message(&mut alice_conn).await.text, "friends again?");
}

#[tokio::test]
async fn a_blocked_user_cannot_add_the_blocker_to_a_group_but_shared_groups_stay() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let shared = carol.api.create_group("shared", &[alice.user.id, bob.user.id]).await.unwrap().conversation;
    alice.api.block(bob.user.id).await.unwrap();

    let refused = bob.api.create_group("trap", &[alice.user.id, carol.user.id]).await.unwrap_err();
    assert_eq!((refused.status(), refused.code()), (Some(403), Some(ErrorCode::Blocked)));
    let own = bob.api.create_group("own", &[carol.user.id]).await.unwrap().conversation;
    let refused = bob.api.add_members(own.id, &[alice.user.id]).await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::Blocked));
    assert_eq!(bob.api.conversation(own.id).await.unwrap().members.len(), 2, "nobody added");

    // The group they already share is untouched: both still write in it.
    let mut alice_conn = alice.connect().await.unwrap();
    let mut bob_conn = bob.connect().await.unwrap();
    bob_conn.send_message(shared.id, "still here").await.unwrap();
    assert_eq!(next_message(&mut alice_conn).await.text, "still here");
    alice_conn.send_message(shared.id, "me too").await.unwrap();
    assert_eq!(next_message(&mut bob_conn).await.text, "me too");
}

#[tokio::test]
async fn typing_does_not_cross_a_block_even_in_a_shared_group() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let group = carol.api.create_group("club", &[alice.user.id, bob.user.id]).await.unwrap().conversation;
    let mut alice_conn = alice.connect().await.unwrap();
    let mut bob_conn = bob.connect().await.unwrap();
    let mut carol_conn = carol.connect().await.unwrap();
    alice.api.block(bob.user.id).await.unwrap();

    bob_conn.send_typing(group.id).await.unwrap();
    bob_conn.send_message(group.id, "after typing").await.unwrap();
    // Carol sees both; Alice sees the message with no typing before it
    // (one sender's frames reach her in order).
    let typed = next_matching(&mut carol_conn, |f| match f {
        ServerFrame::Typing { user_id, .. } => Some(user_id),
        _ => None,
    })
    .await;
    assert_eq!(typed, bob.user.id);
    let first = next_matching(&mut alice_conn, |f| match f {
        ServerFrame::Typing { user_id, .. } => Some(format!("typing from {user_id}")),
        ServerFrame::Message { message } => Some(message.text),
        _ => None,
    })
    .await;
    assert_eq!(first, "after typing");

    // Nor the other way: the blocker's typing does not reach the blocked.
    alice_conn.send_typing(group.id).await.unwrap();
    alice_conn.send_message(group.id, "mine").await.unwrap();
    let first = next_matching(&mut bob_conn, |f| match f {
        ServerFrame::Typing { user_id, .. } => Some(format!("typing from {user_id}")),
        ServerFrame::Message { message } if message.text == "mine" => Some(message.text),
        _ => None,
    })
    .await;
    assert_eq!(first, "mine");

    alice.api.unblock(bob.user.id).await.unwrap();
    // Past the per-connection typing throttle.
    tokio::time::sleep(Duration::from_millis(TYPING_MIN_INTERVAL_MS + 100)).await;
    bob_conn.send_typing(group.id).await.unwrap();
    let typed = next_matching(&mut alice_conn, |f| match f {
        ServerFrame::Typing { user_id, .. } => Some(user_id),
        _ => None,
    })
    .await;
    assert_eq!(typed, bob.user.id, "unblocking restores typing");
}

#[tokio::test]
async fn presence_stops_flowing_both_ways_and_unblocking_restores_it() {
    // A short grace, so going offline is reported soon after a close.
    let grace = Duration::from_millis(600);
    let server = TestServer::start_with(|c| c.presence_grace = grace).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    bob.api.direct_conversation_with(alice.user.id).await.unwrap();
    let mut bob_watching = bob.connect().await.unwrap();
    let alice_conn = alice.connect().await.unwrap();
    assert!(presence_arrives(&mut bob_watching, alice.user.id, common::WAIT).await, "contacts see each other");
    alice_conn.close().await.unwrap();
    assert!(presence_arrives(&mut bob_watching, alice.user.id, common::WAIT).await, "and see each other leave");

    alice.api.block(bob.user.id).await.unwrap();
    assert!(alice.api.presence(&[bob.user.id]).await.unwrap().is_empty(), "the blocker cannot query the blocked");
    assert!(bob.api.presence(&[alice.user.id]).await.unwrap().is_empty(), "nor the blocked the blocker");
    let mut alice_conn = alice.connect().await.unwrap();
    let bob_phone = server.second_device(&bob).await.connect().await.unwrap();
    // Online, then offline after the grace: neither reaches the other side.
    assert!(!presence_arrives(&mut bob_watching, alice.user.id, grace * 2).await);
    assert!(!presence_arrives(&mut alice_conn, bob.user.id, grace).await);
    alice_conn.close().await.unwrap();
    bob_phone.close().await.unwrap();
    assert!(!presence_arrives(&mut bob_watching, alice.user.id, grace * 3).await);

    alice.api.unblock(bob.user.id).await.unwrap();
    let _alice_conn = alice.connect().await.unwrap();
    assert!(presence_arrives(&mut bob_watching, alice.user.id, common::WAIT).await, "restored");
    assert_eq!(bob.api.presence(&[alice.user.id]).await.unwrap().len(), 1);
}

#[tokio::test]
async fn blocking_yourself_or_nobody_is_refused_and_blocking_twice_is_one_block() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let refused = alice.api.block(alice.user.id).await.unwrap_err();
    assert_eq!((refused.status(), refused.code()), (Some(400), Some(ErrorCode::CannotBlockYourself)));
    let refused = alice.api.block(9_999_999).await.unwrap_err();
    assert_eq!((refused.status(), refused.code()), (Some(404), Some(ErrorCode::UserNotFound)));
    alice.api.block(bob.user.id).await.unwrap();
    alice.api.block(bob.user.id).await.unwrap();
    assert_eq!(alice.api.blocked_users().await.unwrap().len(), 1);
    alice.api.unblock(bob.user.id).await.unwrap();
    alice.api.unblock(bob.user.id).await.expect("unblocking someone not blocked is no error");
}

#[tokio::test]
async fn the_block_list_is_capped_by_max_blocked_users() {
    let server = TestServer::start_with(|c| c.max_blocked_users = 2).await;
    let alice = server.user("alice").await;
    let others = [server.user("b").await, server.user("c").await, server.user("d").await];
    alice.api.block(others[0].user.id).await.unwrap();
    alice.api.block(others[1].user.id).await.unwrap();
    let refused = alice.api.block(others[2].user.id).await.unwrap_err();
    assert_eq!((refused.status(), refused.code()), (Some(409), Some(ErrorCode::TooManyBlocks)));
    alice.api.unblock(others[0].user.id).await.unwrap();
    alice.api.block(others[2].user.id).await.expect("room again");
}

#[tokio::test]
async fn a_send_refused_by_a_block_answers_with_its_client_msg_id_and_the_connection_goes_on() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = bob.api.direct_conversation_with(alice.user.id).await.unwrap().conversation;
    let group = bob.api.create_group("club", &[alice.user.id]).await.unwrap().conversation;
    alice.api.block(bob.user.id).await.unwrap();
    let mut bob_conn = bob.connect().await.unwrap();
    let id = new_client_msg_id();
    bob_conn
        .send_frame(ClientFrame::Send { conversation_id: chat.id, client_msg_id: id.clone(), text: "x".into(), reply_to: None })
        .await
        .unwrap();
    assert_eq!(next_error(&mut bob_conn).await, (ErrorCode::Blocked, Some(id)));
    bob_conn.send_message(group.id, "the group still works").await.unwrap();
}
