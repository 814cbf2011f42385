//! Live delivery that no cancelled or retried send can skip: every message
//! that is stored reaches the members' connected devices in real time, even
//! when the sender's connection vanishes mid-send or the send is a retry of
//! one whose first attempt reached nobody.

mod common;

use std::{collections::BTreeSet, time::Duration};

use banter_protocol::{http::HistoryQuery, ClientFrame, ServerFrame};
use banter_sdk::new_client_msg_id;
use common::*;

#[tokio::test]
async fn a_message_committed_while_its_senders_connection_vanishes_is_still_delivered_live() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut bob_phone = bob.connect().await.unwrap();

    // Several rounds: each fires sends and drops the socket at once, so
    // the close lands while one of them is being committed.
    for round in 0..10 {
        let mut alice_phone = alice.connect().await.unwrap();
        for n in 0..5 {
            let frame = ClientFrame::Send {
                client_msg_id: new_client_msg_id(),
                conversation_id: chat.id,
                text: format!("round {round} message {n}"),
                reply_to: None,
            };
            alice_phone.send_frame(frame).await.unwrap();
        }
        drop(alice_phone);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Whatever was stored must have reached bob live (he never syncs here).
    let stored: BTreeSet<i64> = bob
        .api
        .history(chat.id, HistoryQuery { limit: Some(200), ..Default::default() })
        .await
        .unwrap()
        .messages
        .iter()
        .map(|m| m.seq)
        .collect();
    assert!(!stored.is_empty(), "some sends were committed");
    let mut live = BTreeSet::new();
    while live != stored {
        match bob_phone.next_frame_timeout(WAIT).await {
            Ok(ServerFrame::Message { message }) => {
                live.insert(message.seq);
            }
            Ok(_) => {}
            Err(e) => panic!("stored {stored:?} but only {live:?} arrived live: {e}"),
        }
    }
}

#[tokio::test]
async fn a_retried_send_is_delivered_again_and_clients_drop_the_repeat_by_seq() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut bob_phone = bob.connect().await.unwrap();
    let id = new_client_msg_id();

    let mut first = alice.connect().await.unwrap();
    let ack = first.send_message_with_id(chat.id, &id, "hello once").await.unwrap();
    assert_eq!(next_message(&mut bob_phone).await.seq, ack.seq);

    // The sender never saw that ack (say its node died right after the
    // commit, before anyone was told): it retries on a new connection.
    drop(first);
    let mut retry = alice.connect().await.unwrap();
    let again = retry.send_message_with_id(chat.id, &id, "hello once").await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.seq, ack.seq, "stored once");
    let repeat = next_message(&mut bob_phone).await;
    assert_eq!((repeat.seq, repeat.text.as_str()), (ack.seq, "hello once"), "the same seq again, for devices the first attempt missed");
}
