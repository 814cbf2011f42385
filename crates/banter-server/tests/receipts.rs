//! Delivery and read receipts, and typing indicators.

mod common;

use std::time::Duration;

use banter_protocol::{http::HistoryQuery, ErrorCode, ServerFrame, UserId};
use banter_sdk::Connection;
use common::*;

/// The next receipt on `conn`: (user, delivered_seq, read_seq).
async fn next_receipt(conn: &mut Connection) -> (UserId, i64, i64) {
    next_matching(conn, |f| match f {
        ServerFrame::Receipt { user_id, delivered_seq, read_seq, .. } => Some((user_id, delivered_seq, read_seq)),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn the_sender_of_a_direct_message_sees_it_delivered_then_read_on_every_device() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let conv = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut alice_phone = alice.connect().await.unwrap();
    let mut alice_laptop = server.second_device(&alice).await.connect().await.unwrap();
    let mut bob_phone = bob.connect().await.unwrap();
    let bob_laptop_session = server.second_device(&bob).await;
    let mut bob_laptop = bob_laptop_session.connect().await.unwrap();

    let ack = alice_phone.send_message(conv.id, "did you get this?").await.unwrap();
    let received = next_message(&mut bob_phone).await;
    bob_phone.send_delivered(conv.id, received.seq).await.unwrap();
    assert_eq!(next_receipt(&mut alice_phone).await, (bob.user.id, ack.seq, 0), "delivered");
    assert_eq!(next_receipt(&mut alice_laptop).await, (bob.user.id, ack.seq, 0), "on every device of the sender");

    bob_phone.send_read(conv.id, received.seq).await.unwrap();
    assert_eq!(next_receipt(&mut alice_phone).await, (bob.user.id, ack.seq, ack.seq), "read");
    // Reading on one device clears the unread count on all of bob's devices.
    let marker = next_matching(&mut bob_laptop, |f| match f {
        ServerFrame::ReadMarker { seq, .. } => Some(seq),
        _ => None,
    })
    .await;
    assert_eq!(marker, ack.seq);
    let on_laptop = bob_laptop_session.api.conversations().await.unwrap();
    assert_eq!(on_laptop[0].unread_count, 0);
    let seen_by_alice = alice.api.conversations().await.unwrap();
    assert_eq!((seen_by_alice[0].peer_delivered_seq, seen_by_alice[0].peer_read_seq), (Some(1), Some(1)));
}

#[tokio::test]
async fn replying_in_a_direct_conversation_tells_the_peer_everything_before_the_reply_was_read() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let conv = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut alice_phone = alice.connect().await.unwrap();
    let mut bob_phone = bob.connect().await.unwrap();
    alice_phone.send_message(conv.id, "one").await.unwrap();
    alice_phone.send_message(conv.id, "two").await.unwrap();
    next_message(&mut bob_phone).await;
    next_message(&mut bob_phone).await;

    // Bob answers without sending `read` first: the reply itself reads.
    let reply = bob_phone.send_message(conv.id, "both read").await.unwrap();
    assert_eq!(next_receipt(&mut alice_phone).await, (bob.user.id, reply.seq, reply.seq));
    let seen_by_alice = alice.api.conversations().await.unwrap();
    assert_eq!(seen_by_alice[0].peer_read_seq, Some(reply.seq), "the same through the conversation list");
}

#[tokio::test]
async fn group_read_counts_are_fetched_on_request() {
    let server = TestServer::start().await;
    let author = server.user("author").await;
    let mut readers = Vec::new();
    for _ in 0..3 {
        readers.push(server.user("reader").await);
    }
    let ids: Vec<UserId> = readers.iter().map(|r| r.user.id).collect();
    let group = author.api.create_group("book club", &ids).await.unwrap().conversation;
    let mut conn = author.connect().await.unwrap();
    let seq = conn.send_message(group.id, "chapter 3 by friday").await.unwrap().seq;

    let mut reader0 = readers[0].connect().await.unwrap();
    reader0.send_delivered(group.id, seq).await.unwrap();
    readers[1].api.mark_read(group.id, seq).await.unwrap();
    // The frame above is processed in order before this ping's pong.
    reader0.ping().await.unwrap();

    let receipts = author.api.receipts(group.id, seq).await.unwrap();
    assert_eq!((receipts.member_count, receipts.delivered_count, receipts.read_count), (3, 2, 1));
    assert_eq!(receipts.read_by, vec![readers[1].user.id]);
    let mut delivered = vec![readers[0].user.id, readers[1].user.id];
    delivered.sort();
    assert_eq!(receipts.delivered_to, delivered);

    let missing = author.api.receipts(group.id, 99).await.unwrap_err();
    assert_eq!((missing.code(), missing.status()), (Some(ErrorCode::MessageNotFound), Some(404)));
    let outsider = server.user("outsider").await;
    let denied = outsider.api.receipts(group.id, seq).await.unwrap_err();
    assert_eq!((denied.code(), denied.status()), (Some(ErrorCode::NotAMember), Some(403)));
    let mut outsider_conn = outsider.connect().await.unwrap();
    outsider_conn.send_delivered(group.id, seq).await.unwrap();
    assert_eq!(next_error(&mut outsider_conn).await.0, ErrorCode::NotAMember);
    let members = author.api.conversation(group.id).await.unwrap().members;
    let reader1 = members.iter().find(|m| m.user.id == readers[1].user.id).unwrap();
    assert_eq!((reader1.delivered_seq, reader1.read_seq), (seq, seq));
}

#[tokio::test]
async fn typing_reaches_the_other_members_briefly_and_is_never_stored() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let conv = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut alice_conn = alice.connect().await.unwrap();
    let mut alice_other = server.second_device(&alice).await.connect().await.unwrap();
    let mut bob_conn = bob.connect().await.unwrap();

    alice_conn.send_typing(conv.id).await.unwrap();
    alice_conn.send_typing(conv.id).await.unwrap(); // within 2 s: dropped
    alice_conn.send_message(conv.id, "here it is").await.unwrap();

    let mut typing_frames = Vec::new();
    let message = next_matching(&mut bob_conn, |f| match f {
        ServerFrame::Typing { conversation_id, user_id, expires_in_ms } => {
            typing_frames.push((conversation_id, user_id, expires_in_ms));
            None
        }
        ServerFrame::Message { message } => Some(message),
        _ => None,
    })
    .await;
    assert_eq!(message.text, "here it is");
    assert_eq!(typing_frames, vec![(conv.id, alice.user.id, 5_000)], "one indication, rate-limited, expiring in 5 s");

    // The typer's own other device is not told.
    let first_for_alice = next_matching(&mut alice_other, |f| match f {
        ServerFrame::Typing { .. } | ServerFrame::Message { .. } => Some(f),
        _ => None,
    })
    .await;
    assert!(matches!(first_for_alice, ServerFrame::Message { .. }), "{first_for_alice:?}");

    let history = bob.api.history(conv.id, HistoryQuery::default()).await.unwrap();
    assert_eq!(history.messages.len(), 1, "typing is never stored");

    // After the interval, typing goes through again.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    alice_conn.send_typing(conv.id).await.unwrap();
    let again = next_matching(&mut bob_conn, |f| match f {
        ServerFrame::Typing { user_id, .. } => Some(user_id),
        _ => None,
    })
    .await;
    assert_eq!(again, alice.user.id);

    let outsider = server.user("outsider").await;
    let mut outsider_conn = outsider.connect().await.unwrap();
    outsider_conn.send_typing(conv.id).await.unwrap();
    assert_eq!(next_error(&mut outsider_conn).await.0, ErrorCode::NotAMember);
}
