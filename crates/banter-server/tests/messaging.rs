//! Real-time messaging over the WebSocket: durable acks, fan-out to every
//! device, idempotent retries, text limits and per-conversation order.

mod common;

use std::collections::HashMap;

use banter_protocol::{limits::MAX_MESSAGE_CHARS, ClientFrame, ErrorCode, ServerFrame};
use common::{next_error, next_message, TestServer};

#[tokio::test]
async fn a_direct_message_is_acked_and_delivered_to_the_recipient() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut alice_conn = alice.connect().await.unwrap();
    let mut bob_conn = bob.connect().await.unwrap();

    let ack = alice_conn.send_message(chat.id, "hello bob").await.unwrap();
    assert_eq!(ack.seq, 1);
    assert!(!ack.duplicate);

    let received = next_message(&mut bob_conn).await;
    assert_eq!(received.text, "hello bob");
    assert_eq!(received.sender_id, alice.user.id);
    assert_eq!((received.conversation_id, received.seq), (chat.id, 1));
    assert_eq!(received.server_ts, ack.server_ts);
}

#[tokio::test]
async fn there_is_exactly_one_direct_conversation_per_pair() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let first = alice.api().direct_conversation_with(bob.user.id).await.unwrap();
    let again = alice.api().direct_conversation_with_username(&bob.user.username).await.unwrap();
    let from_bob = bob.api().direct_conversation_with(alice.user.id).await.unwrap();
    assert_eq!(first.conversation.id, again.conversation.id);
    assert_eq!(first.conversation.id, from_bob.conversation.id);
    assert_eq!(from_bob.conversation.peer.as_ref().map(|p| p.id), Some(alice.user.id));
    let myself = alice.api().direct_conversation_with(alice.user.id).await.unwrap_err();
    assert_eq!(myself.code(), Some(ErrorCode::InvalidConversation));
    let nobody = alice.api().direct_conversation_with(987_654).await.unwrap_err();
    assert_eq!(nobody.code(), Some(ErrorCode::UserNotFound));
}

#[tokio::test]
async fn every_device_of_every_member_receives_including_the_senders_other_devices() {
    let server = TestServer::start().await;
    let alice_phone = server.user("alice").await;
    let alice_laptop = server.second_device(&alice_phone).await;
    let bob_phone = server.user("bob").await;
    let bob_laptop = server.second_device(&bob_phone).await;
    let chat = alice_phone.api().direct_conversation_with(bob_phone.user.id).await.unwrap().conversation;
    let mut sender = alice_phone.connect().await.unwrap();
    let mut others = vec![
        alice_laptop.connect().await.unwrap(),
        bob_phone.connect().await.unwrap(),
        bob_laptop.connect().await.unwrap(),
    ];

    let ack = sender.send_message(chat.id, "to everyone").await.unwrap();
    for conn in &mut others {
        let m = next_message(conn).await;
        assert_eq!((m.seq, m.text.as_str()), (ack.seq, "to everyone"));
    }
    // The sending connection gets the ack, not a copy of its own message.
    sender.ping().await.unwrap();
    while let Ok(frame) = sender.next_frame_timeout(std::time::Duration::from_millis(200)).await {
        assert!(!matches!(frame, ServerFrame::Message { .. }), "sender got its own message back: {frame:?}");
    }
}

#[tokio::test]
async fn a_retried_client_msg_id_returns_the_original_ack_and_stores_nothing_new() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut conn = alice.connect().await.unwrap();

    let first = conn.send_message_with_id(chat.id, "retry-1", "only once").await.unwrap();
    let retry = conn.send_message_with_id(chat.id, "retry-1", "only once").await.unwrap();
    assert_eq!(retry.seq, first.seq);
    assert_eq!(retry.server_ts, first.server_ts);
    assert!(retry.duplicate);

    // Even from a new connection of the same device.
    let mut reconnected = alice.connect().await.unwrap();
    let again = reconnected.send_message_with_id(chat.id, "retry-1", "only once").await.unwrap();
    assert_eq!(again.seq, first.seq);

    let history = bob.api().history(chat.id, Default::default()).await.unwrap();
    assert_eq!(history.messages.len(), 1);
    assert_eq!(history.messages[0].client_msg_id, "retry-1");
}

#[tokio::test]
async fn a_client_msg_id_reused_for_another_message_is_refused_and_the_original_kept() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let first_chat = alice.api().create_group("first", &[bob.user.id]).await.unwrap().conversation;
    let second_chat = alice.api().create_group("second", &[bob.user.id]).await.unwrap().conversation;
    let mut conn = alice.connect().await.unwrap();
    let original = conn.send_message_with_id(first_chat.id, "key-7", "the original").await.unwrap();

    // Another conversation: refused, and nothing lands there.
    let elsewhere = conn.send_message_with_id(second_chat.id, "key-7", "the original").await.unwrap_err();
    assert_eq!(elsewhere.code(), Some(ErrorCode::ClientMsgIdReused));
    assert!(bob.api().history(second_chat.id, Default::default()).await.unwrap().messages.is_empty());

    // The same conversation with another text: refused, the original kept.
    let edited = conn.send_message_with_id(first_chat.id, "key-7", "an edited text").await.unwrap_err();
    assert_eq!(edited.code(), Some(ErrorCode::ClientMsgIdReused));
    let history = bob.api().history(first_chat.id, Default::default()).await.unwrap().messages;
    assert_eq!(history.iter().map(|m| (m.seq, m.text.as_str())).collect::<Vec<_>>(), vec![(original.seq, "the original")]);

    // An exact retry, from a new connection: the original ack.
    let mut reconnected = alice.connect().await.unwrap();
    let retry = reconnected.send_message_with_id(first_chat.id, "key-7", "the original").await.unwrap();
    assert!(retry.duplicate);
    assert_eq!((retry.conversation_id, retry.seq, retry.server_ts), (first_chat.id, original.seq, original.server_ts));
}

#[tokio::test]
async fn exactly_100000_characters_are_accepted_including_multibyte_and_100001_refused() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut conn = alice.connect().await.unwrap();

    let ascii = "a".repeat(MAX_MESSAGE_CHARS);
    let emoji = "😀".repeat(MAX_MESSAGE_CHARS); // 400,000 bytes of UTF-8
    let mixed: String = "é中😀a".repeat(MAX_MESSAGE_CHARS / 4);
    for text in [&ascii, &emoji, &mixed] {
        conn.send_message(chat.id, text).await.expect("a message at the limit is accepted");
    }
    for text in ["a".repeat(MAX_MESSAGE_CHARS + 1), "😀".repeat(MAX_MESSAGE_CHARS + 1)] {
        let err = conn.send_message(chat.id, &text).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::MessageTooLong));
    }
    let history = bob.api().history(chat.id, Default::default()).await.unwrap();
    let stored: Vec<&str> = history.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(stored, vec![ascii.as_str(), emoji.as_str(), mixed.as_str()], "stored exactly, and nothing of the refused ones");
}

#[tokio::test]
async fn empty_whitespace_and_control_character_messages_are_refused() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut conn = alice.connect().await.unwrap();
    for (text, code) in [("", ErrorCode::MessageEmpty), ("\u{200B}\u{FEFF}", ErrorCode::MessageEmpty), (" \n\t", ErrorCode::MessageEmpty), ("bell\u{7}", ErrorCode::InvalidText)] {
        assert_eq!(conn.send_message(chat.id, text).await.unwrap_err().code(), Some(code), "text {text:?}");
    }
    let bad_id = conn.send_message_with_id(chat.id, "has spaces in it", "hi").await.unwrap_err();
    assert_eq!(bad_id.code(), Some(ErrorCode::InvalidClientMsgId));
    assert!(bob.api().history(chat.id, Default::default()).await.unwrap().messages.is_empty());
}

#[tokio::test]
async fn concurrent_senders_produce_one_order_that_every_device_sees() {
    let server = TestServer::start().await;
    let owner = server.user("owner").await;
    let mut members = Vec::new();
    for _ in 0..4 {
        members.push(server.user("member").await);
    }
    let ids: Vec<_> = members.iter().map(|m| m.user.id).collect();
    let group = owner.api().create_group("race", &ids).await.unwrap().conversation;

    let mut watchers = vec![owner.connect().await.unwrap(), server.second_device(&members[0]).await.connect().await.unwrap()];
    const PER_SENDER: usize = 25;
    let mut senders = Vec::new();
    for (i, member) in members.iter().enumerate() {
        let mut conn = member.connect().await.unwrap();
        let group_id = group.id;
        senders.push(tokio::spawn(async move {
            for n in 0..PER_SENDER {
                conn.send_message(group_id, &format!("sender {i} message {n}")).await.unwrap();
            }
            conn
        }));
    }
    let mut sender_conns = Vec::new();
    for s in senders {
        sender_conns.push(s.await.unwrap());
    }
    let total = members.len() * PER_SENDER;

    let mut orders = Vec::new();
    for w in &mut watchers {
        let mut seen = Vec::new();
        while seen.len() < total {
            let m = next_message(w).await;
            seen.push((m.seq, m.text));
        }
        orders.push(seen);
    }
    // Live frames of concurrent senders may arrive a few places out of seq
    // order (each sender's task fans out after its own commit); a device
    // places each message by seq, so the order it shows is the seq order.
    for order in &mut orders {
        order.sort();
    }
    let seqs: Vec<i64> = orders[0].iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=total as i64).collect::<Vec<_>>(), "dense seqs, each delivered once");
    assert_eq!(orders[0], orders[1], "both devices see the same order");
    let history = owner.api().history(group.id, banter_protocol::http::HistoryQuery { limit: Some(200), ..Default::default() }).await.unwrap();
    let stored: Vec<(i64, String)> = history.messages.into_iter().map(|m| (m.seq, m.text)).collect();
    assert_eq!(stored, orders[0], "history holds the same order");
    // Each sender's own messages keep the order it sent them in.
    let mut last: HashMap<String, usize> = HashMap::new();
    for (_, text) in &orders[0] {
        let (who, n) = text.rsplit_once(" message ").unwrap();
        let n: usize = n.parse().unwrap();
        if let Some(prev) = last.insert(who.to_string(), n) {
            assert!(n > prev);
        }
    }
}

#[tokio::test]
async fn malformed_frames_get_errors_and_the_connection_keeps_working() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut conn = alice.connect().await.unwrap();

    conn.send_raw_text("{this is not json".into()).await.unwrap();
    assert_eq!(next_error(&mut conn).await.0, ErrorCode::InvalidJson);
    conn.send_raw_text(r#"{"type":"teleport","to":"mars"}"#.into()).await.unwrap();
    assert_eq!(next_error(&mut conn).await.0, ErrorCode::UnknownFrameType);
    conn.send_raw_text(r#"{"type":"send","client_msg_id":"x1","conversation_id":"not a number","text":"hi"}"#.into()).await.unwrap();
    assert_eq!(next_error(&mut conn).await, (ErrorCode::InvalidJson, Some("x1".to_string())));
    conn.send_raw_text(r#"{"type":"send"}"#.into()).await.unwrap();
    assert_eq!(next_error(&mut conn).await.0, ErrorCode::InvalidJson);
    conn.send_raw_binary(vec![0xff, 0xfe, 0x00]).await.unwrap();
    assert_eq!(next_error(&mut conn).await.0, ErrorCode::BinaryFrame);

    let ack = conn.send_message(chat.id, "still here").await.unwrap();
    assert_eq!(ack.seq, 1);
}

#[tokio::test]
async fn a_frame_over_the_size_limit_closes_the_connection_and_the_server_keeps_serving() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut conn = alice.connect().await.unwrap();
    let frame = ClientFrame::Send { client_msg_id: "big".into(), conversation_id: chat.id, text: "x".repeat(2 * 1024 * 1024), reply_to: None };
    let _ = conn.send_raw_text(serde_json::to_string(&frame).unwrap()).await;
    let closed = common::closed(&mut conn).await;
    assert!(closed.is_closed(), "connection closed: {closed:?}");
    let mut fresh = alice.connect().await.unwrap();
    assert_eq!(fresh.send_message(chat.id, "after").await.unwrap().seq, 1, "nothing of the oversized frame was stored");
}
