//! Leaving for good through a real server: deleting an account (password
//! confirmed; devices, push and live connections gone; groups left; the
//! name reserved; messages kept under a deleted user) and the data export
//! (paged, bounded, the caller's own messages only).

mod common;

use banter_protocol::{frames::ConversationChange, http::SignupRequest, ErrorCode, ServerFrame};
use common::{closed, next_matching, next_message, TestServer, PASSWORD};

#[tokio::test]
async fn deleting_an_account_needs_its_password() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let refused = alice.api.delete_account("not the password").await.unwrap_err();
    assert_eq!((refused.status(), refused.code()), (Some(403), Some(ErrorCode::WrongPassword)));
    let refused = alice.api.delete_account(&"x".repeat(10_000)).await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::WrongPassword), "an overlong password is refused unhashed");
    assert_eq!(alice.api.me().await.unwrap().id, alice.user.id, "the account is still there");
    let anonymous = server.api().delete_account(PASSWORD).await.unwrap_err();
    assert_eq!(anonymous.status(), Some(401));
}

#[tokio::test]
async fn a_deleted_account_loses_every_device_and_connection_and_leaves_its_groups_and_its_peers_are_told() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let alice_laptop = server.second_device(&alice).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let group = alice.api.create_group("club", &[bob.user.id, carol.user.id]).await.unwrap().conversation;
    let chat = bob.api.direct_conversation_with(alice.user.id).await.unwrap().conversation;
    let mut laptop_conn = alice_laptop.connect().await.unwrap();
    let mut bob_conn = bob.connect().await.unwrap();
    laptop_conn.send_message(group.id, "bye all").await.unwrap();
    laptop_conn.send_message(chat.id, "bye bob").await.unwrap();
    next_message(&mut bob_conn).await;
    next_message(&mut bob_conn).await;

    alice.api.delete_account(PASSWORD).await.unwrap();

    // Every device is logged out, the open connection closed.
    assert_eq!(closed(&mut laptop_conn).await.close_code(), Some(4001));
    for session in [&alice, &alice_laptop] {
        assert_eq!(session.api.me().await.unwrap_err().status(), Some(401));
    }
    let login = server.api().login(&alice.user.username, PASSWORD, None).await.unwrap_err();
    assert_eq!(login.code(), Some(ErrorCode::InvalidCredentials));
    // The others see the membership change (the group goes on without
    // her), and Bob that of their direct chat (closed, her profile gone).
    let mut changed = Vec::new();
    while changed.len() < 2 {
        changed.push(
            next_matching(&mut bob_conn, |f| match f {
                ServerFrame::ConversationUpdated { conversation_id, change } => Some((conversation_id, change)),
                _ => None,
            })
            .await,
        );
    }
    changed.sort_unstable_by_key(|(id, _)| *id);
    let mut expected = vec![(group.id, ConversationChange::MembersChanged), (chat.id, ConversationChange::MembersChanged)];
    expected.sort_unstable_by_key(|(id, _)| *id);
    assert_eq!(changed, expected);
    let members = bob.api.conversation(group.id).await.unwrap().members;
    assert_eq!(members.iter().map(|m| m.user.id).collect::<Vec<_>>(), vec![bob.user.id, carol.user.id]);
    // Her messages stay, under a deleted user with no profile.
    let history = bob.api.history(group.id, Default::default()).await.unwrap();
    assert_eq!((history.messages[0].sender_id, history.messages[0].text.as_str()), (alice.user.id, "bye all"));
    let direct = bob.api.conversation(chat.id).await.unwrap();
    let peer = direct.conversation.peer.expect("the peer stays in the direct conversation");
    assert!(peer.deleted && peer.username.is_empty() && peer.display_name.is_empty(), "{peer:?}");
    // Nobody can reach her: no message, no new conversation, no lookup.
    assert_eq!(bob_conn.send_message(chat.id, "alice?").await.unwrap_err().code(), Some(ErrorCode::Blocked));
    let lookup = carol.api.user_by_username(&alice.user.username).await.unwrap_err();
    assert_eq!(lookup.code(), Some(ErrorCode::UserNotFound));
    let open = carol.api.direct_conversation_with(alice.user.id).await.unwrap_err();
    assert_eq!(open.code(), Some(ErrorCode::UserNotFound));
}

#[tokio::test]
async fn a_deleted_accounts_username_stays_reserved() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    alice.api.delete_account(PASSWORD).await.unwrap();
    let request = SignupRequest {
        username: alice.user.username.clone(),
        password: PASSWORD.into(),
        display_name: None,
        device_name: None,
    };
    let taken = server.api().signup_with(request).await.unwrap_err();
    assert_eq!((taken.status(), taken.code()), (Some(409), Some(ErrorCode::UsernameTaken)));
}

#[tokio::test]
async fn the_export_pages_through_every_message_the_caller_sent_and_nothing_else() {
    // 620 sends in a row: past the default frame budgets on a busy machine.
    let server = TestServer::start_with(|c| {
        (c.frames_per_second, c.frames_burst) = (100_000, 100_000);
        (c.account_frames_per_second, c.account_frames_burst) = (100_000, 100_000);
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let group = bob.api.create_group("club", &[alice.user.id]).await.unwrap().conversation;
    let mut alice_conn = alice.connect().await.unwrap();
    let mut bob_conn = bob.connect().await.unwrap();
    let mut sent = Vec::new();
    // More than one page (500 messages each).
    for i in 0..620 {
        let conversation = if i % 2 == 0 { chat.id } else { group.id };
        let ack = alice_conn.send_message(conversation, &format!("mine {i}")).await.unwrap();
        sent.push((conversation, ack.seq));
    }
    bob_conn.send_message(chat.id, "not alice's").await.unwrap();
    sent.sort();

    let mut pages = 0;
    let mut seen = Vec::new();
    let count = alice
        .api
        .export_all(|page| {
            pages += 1;
            assert_eq!(page.user.id, alice.user.id);
            assert!(page.messages.len() <= 500);
            seen.extend(page.messages.iter().map(|m| (m.conversation_id, m.seq, m.sender_id)));
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(count, 620);
    assert_eq!(pages, 2);
    assert!(seen.iter().all(|&(_, _, sender)| sender == alice.user.id));
    assert_eq!(seen.iter().map(|&(c, s, _)| (c, s)).collect::<Vec<_>>(), sent);

    let half = server.api().with_token(alice.token.clone());
    let response = half
        .http_client()
        .get(half.endpoint("me/export"))
        .query(&[("after_seq", "3")])
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400, "half a cursor is refused");
}
