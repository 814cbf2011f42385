//! Replies, edits and deletes through a real server: what every device sees
//! live, what a device that was away gets by catching up, history, and the
//! documented refusals.

mod common;

use banter_protocol::{limits::MAX_MESSAGE_CHARS, ClientFrame, ErrorCode, MessageKind, ServerFrame};
use banter_protocol::http::HistoryQuery;
use banter_sdk::{new_client_msg_id, SyncState};
use common::{next_error, next_message, TestServer};

#[tokio::test]
async fn a_reply_names_an_earlier_message_of_the_same_conversation() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let other = alice.api().direct_conversation_with(carol.user.id).await.unwrap().conversation;
    let mut alice_conn = alice.connect().await.unwrap();
    let mut bob_conn = bob.connect().await.unwrap();
    alice_conn.send_message(chat.id, "lunch?").await.unwrap();
    for text in ["a", "b", "c"] {
        alice_conn.send_message(other.id, text).await.unwrap();
    }

    let ack = bob_conn.reply_to_message(chat.id, 1, "yes!").await.unwrap();
    let seen = next_message(&mut alice_conn).await;
    assert_eq!((seen.seq, seen.reply_to, seen.text.as_str()), (ack.seq, Some(1), "yes!"));
    // Seq 3 exists in the other conversation, not in this one.
    for bad in [3, 0, -5] {
        let refused = bob_conn.reply_to_message(chat.id, bad, "to what?").await.unwrap_err();
        assert_eq!(refused.code(), Some(ErrorCode::InvalidReply), "reply_to {bad}");
    }
    let history = bob.api().history(chat.id, HistoryQuery::default()).await.unwrap();
    assert_eq!(history.messages.iter().map(|m| (m.seq, m.reply_to)).collect::<Vec<_>>(), vec![(1, None), (2, Some(1))]);
}

#[tokio::test]
async fn an_edit_reaches_every_device_live_and_a_device_that_was_away_by_sync() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob_phone = server.user("bob").await;
    let bob_laptop = server.second_device(&bob_phone).await;
    let chat = alice.api().direct_conversation_with(bob_phone.user.id).await.unwrap().conversation;
    let mut alice_conn = alice.connect().await.unwrap();
    let mut phone = bob_phone.connect().await.unwrap();
    let mut laptop = bob_laptop.connect().await.unwrap();
    let mut laptop_state = SyncState::new();
    laptop_state.accept(&{
        alice_conn.send_message(chat.id, "see you at 5").await.unwrap();
        next_message(&mut laptop).await
    });
    next_message(&mut phone).await;
    laptop.close().await.unwrap();

    let ack = alice_conn.edit_message(chat.id, 1, "see you at 6").await.unwrap();
    assert_eq!(ack.seq, 2);
    let live = next_message(&mut phone).await;
    assert_eq!((live.kind, live.target_seq, live.text.as_str(), live.seq), (MessageKind::Edit, Some(1), "see you at 6", 2));

    // The laptop was away: it catches up from its cursor (1) and applies it.
    let mut laptop = bob_laptop.connect().await.unwrap();
    let missed = laptop.catch_up(&mut laptop_state).await.unwrap();
    assert_eq!(missed, vec![live.clone()]);
    let mut held = history_of(&bob_laptop, chat.id).await.remove(0);
    held.text = "see you at 5".into();
    held.edited_at = None;
    assert!(held.apply_change(&missed[0]));
    assert_eq!((held.text.as_str(), held.edited_at), ("see you at 6", Some(live.server_ts)));
    // History already holds the edited text, and the change is not unread.
    let history = history_of(&bob_phone, chat.id).await;
    assert_eq!((history[0].text.as_str(), history[0].edited_at), ("see you at 6", Some(live.server_ts)));
    let listed = bob_phone.api().conversations().await.unwrap();
    assert_eq!((listed[0].last_seq, listed[0].unread_count), (2, 1), "the one message is unread, its edit is not");
}

#[tokio::test]
async fn a_delete_leaves_a_tombstone_live_in_history_and_in_sync() {
    let server = TestServer::start().await;
    let (alice, bob, chat) = direct_chat(&server).await;
    let mut alice_conn = alice.connect().await.unwrap();
    let mut bob_conn = bob.connect().await.unwrap();
    alice_conn.send_message(chat.id, "wrong chat, sorry: my PIN is 1234").await.unwrap();
    alice_conn.edit_message(chat.id, 1, "my PIN is 4321").await.unwrap();
    let ack = alice_conn.delete_message(chat.id, 1).await.unwrap();
    let live: Vec<_> = [next_message(&mut bob_conn).await, next_message(&mut bob_conn).await, next_message(&mut bob_conn).await].into();
    assert_eq!(live[2].kind, MessageKind::Delete);
    assert_eq!((live[2].seq, live[2].target_seq), (ack.seq, Some(1)));

    for messages in [history_of(&bob, chat.id).await, bob_conn.sync_all(&[]).await.unwrap()] {
        assert_eq!(messages.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(messages[0].deleted && messages[0].text.is_empty(), "{:?}", messages[0]);
        assert!(messages.iter().all(|m| !m.text.contains("PIN")), "no text of it is left: {messages:?}");
    }
    let again = alice_conn.edit_message(chat.id, 1, "back").await.unwrap_err();
    assert_eq!(again.code(), Some(ErrorCode::MessageDeleted));
}

#[tokio::test]
async fn only_the_sender_may_change_a_message_and_texts_keep_their_limits() {
    let server = TestServer::start().await;
    let (alice, bob, chat) = direct_chat(&server).await;
    let mut alice_conn = alice.connect().await.unwrap();
    let mut bob_conn = bob.connect().await.unwrap();
    alice_conn.send_message(chat.id, "mine").await.unwrap();

    let refusals = [
        (bob_conn.edit_message(chat.id, 1, "yours?").await, ErrorCode::NotYourMessage),
        (bob_conn.delete_message(chat.id, 1).await, ErrorCode::NotYourMessage),
        (alice_conn.edit_message(chat.id, 9, "none").await, ErrorCode::MessageNotFound),
        (alice_conn.edit_message(chat.id, 1, "x".repeat(MAX_MESSAGE_CHARS + 1)).await, ErrorCode::MessageTooLong),
        (alice_conn.edit_message(chat.id, 1, " \u{200b} ").await, ErrorCode::MessageEmpty),
    ];
    for (result, code) in refusals {
        assert_eq!(result.unwrap_err().code(), Some(code));
    }
    // A frame naming no conversation of the sender's is refused as a send is.
    let id = new_client_msg_id();
    let outsider = server.user("mallory").await;
    let mut mallory = outsider.connect().await.unwrap();
    mallory.send_frame(ClientFrame::Delete { client_msg_id: id.clone(), conversation_id: chat.id, seq: 1 }).await.unwrap();
    assert_eq!(next_error(&mut mallory).await, (ErrorCode::NotAMember, Some(id)));
    assert_eq!(history_of(&alice, chat.id).await.len(), 1, "nothing was stored");
}

#[tokio::test]
async fn edits_are_refused_after_the_configured_window_and_count() {
    let server = TestServer::start_with(|c| {
        c.max_edits = 1;
        c.edit_window = std::time::Duration::from_secs(3600);
        c.delete_window = std::time::Duration::ZERO;
    })
    .await;
    let (alice, _bob, chat) = direct_chat(&server).await;
    let mut conn = alice.connect().await.unwrap();
    conn.send_message(chat.id, "v1").await.unwrap();
    conn.edit_message(chat.id, 1, "v2").await.unwrap();
    assert_eq!(conn.edit_message(chat.id, 1, "v3").await.unwrap_err().code(), Some(ErrorCode::TooManyEdits));
    // A delete window of zero: only in the same millisecond; wait past it.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(conn.delete_message(chat.id, 1).await.unwrap_err().code(), Some(ErrorCode::EditWindowClosed));
}

#[tokio::test]
async fn a_retried_edit_is_stored_once() {
    let server = TestServer::start().await;
    let (alice, _bob, chat) = direct_chat(&server).await;
    let mut conn = alice.connect().await.unwrap();
    conn.send_message(chat.id, "v1").await.unwrap();
    let id = new_client_msg_id();
    let edit = banter_protocol::Content::Edit { target: 1, text: "v2".into() };
    let first = conn.send_content_with_id(chat.id, &id, edit.clone()).await.unwrap();
    let retry = conn.send_content_with_id(chat.id, &id, edit).await.unwrap();
    assert_eq!((first.seq, retry.seq, retry.duplicate), (2, 2, true));
    let other = banter_protocol::Content::Edit { target: 1, text: "v3".into() };
    let reused = conn.send_content_with_id(chat.id, &id, other).await.unwrap_err();
    assert_eq!(reused.code(), Some(ErrorCode::ClientMsgIdReused));
    assert_eq!(history_of(&alice, chat.id).await.len(), 2);
    // The frame stream carried no stray error for the duplicate.
    assert!(!matches!(conn.next_frame_timeout(std::time::Duration::from_millis(100)).await, Ok(ServerFrame::Error { .. })));
}

/// Alice and Bob, and their direct conversation.
async fn direct_chat(server: &TestServer) -> (banter_sdk::Session, banter_sdk::Session, banter_protocol::Conversation) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    (alice, bob, chat)
}

async fn history_of(session: &banter_sdk::Session, conversation_id: i64) -> Vec<banter_protocol::Message> {
    session.api().history(conversation_id, HistoryQuery::default()).await.unwrap().messages
}
