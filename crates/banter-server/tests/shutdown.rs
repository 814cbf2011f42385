//! Graceful shutdown under load: every send the server read is answered —
//! an ack if it was committed, `shutting_down` if it was never started —
//! before the connection closes with 1001; `/health` answers 503 during the
//! drain; before closing, each connection is told when to reconnect (a
//! random moment within `shutdown_reconnect_spread`); afterwards storage
//! holds exactly the acknowledged messages.
//! (On PostgreSQL too: the suite runs again with `BANTER_TEST_STORE=postgres`.)

mod common;

use std::{collections::HashMap, time::Duration};

use banter_protocol::{frames::close_code, http::HistoryQuery, ClientFrame, ErrorCode, ServerFrame};
use banter_sdk::{new_client_msg_id, ApiClient, Connection};
use common::*;

/// Sends each sender writes at once, back to back (within the server's
/// per-connection queue of 32 waiting sends).
const BURST: usize = 24;
const SENDERS: usize = 4;
/// Reconnect hints are drawn from 0 to this.
const SPREAD: Duration = Duration::from_secs(30);

/// What the server answered to one send.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Acked(i64),
    Refused(ErrorCode),
}

/// Reads until `enough` answers to sends have come or the server closes;
/// adds them to `answers` in the order they came (and a reconnect hint,
/// which is no answer, to `hints`), and returns the close code if it closed.
async fn read_answers(conn: &mut Connection, answers: &mut Vec<(String, Answer)>, hints: &mut Vec<u64>, enough: usize) -> Option<u16> {
    while answers.len() < enough {
        match conn.next_frame_timeout(Duration::from_secs(30)).await {
            Ok(ServerFrame::Ack { client_msg_id, seq, .. }) => answers.push((client_msg_id, Answer::Acked(seq))),
            Ok(ServerFrame::Error { client_msg_id: Some(id), code, .. }) => answers.push((id, Answer::Refused(code))),
            Ok(ServerFrame::Error { client_msg_id: None, code: ErrorCode::ShuttingDown, retry_after_ms, .. }) => {
                hints.push(retry_after_ms.expect("a reconnect hint says when"));
            }
            Ok(_) => {}
            Err(e) => {
                assert!(e.is_closed(), "the server closes the connection, not a timeout: {e}");
                return e.close_code();
            }
        }
    }
    None
}

#[tokio::test]
async fn shutdown_acks_what_it_committed_refuses_the_rest_and_closes_with_1001_while_health_says_503() {
    let mut server = TestServer::start_with(|c| {
        c.shutdown_drain_timeout = Duration::from_secs(10);
        c.shutdown_reconnect_spread = SPREAD;
    })
    .await;
    let peer = server.user("peer").await;
    let mut senders = Vec::new();
    for n in 0..SENDERS {
        let sender = server.user(&format!("sender{n}")).await;
        let chat = sender.api.direct_conversation_with(peer.user.id).await.unwrap().conversation;
        let conn = sender.connect().await.unwrap();
        senders.push((sender, chat.id, conn));
    }
    // A device that reads nothing: it does not answer the close either, so
    // the drain lasts until its close handshake times out — long enough to
    // see `/health` during it, whatever the machine's speed.
    let quiet = server.user("quiet").await;
    let _quiet_phone = quiet.connect().await.unwrap();

    let mut sent: Vec<Vec<(String, String)>> = Vec::new();
    for (_, conversation_id, conn) in &mut senders {
        let mut mine = Vec::new();
        for i in 0..BURST {
            let (id, text) = (new_client_msg_id(), format!("message {i}"));
            conn.send_frame(ClientFrame::Send { client_msg_id: id.clone(), conversation_id: *conversation_id, text: text.clone(), reply_to: None })
                .await
                .unwrap();
            mine.push((id, text));
        }
        sent.push(mine);
    }

    // Shut down once the server is working through the bursts: the first
    // sender has its first ack.
    let mut answers: Vec<Vec<(String, Answer)>> = vec![Vec::new(); SENDERS];
    assert_eq!(read_answers(&mut senders[0].2, &mut answers[0], &mut Vec::new(), 1).await, None);

    let running = server.server.take().expect("running");
    let api = ApiClient::new(&running.base_url()).unwrap();
    let stopping = tokio::spawn(running.shutdown());
    // The drain has begun when health says so; new WebSockets are refused.
    let mut health_during_drain = None;
    for _ in 0..500 {
        match api.health().await {
            Err(e) if e.code().is_some() => {
                health_during_drain = e.code();
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    assert_eq!(health_during_drain, Some(ErrorCode::ShuttingDown), "/health answers 503 shutting_down while draining");
    let refused = quiet.api.connect().await.expect_err("no new connection during the drain");
    assert_eq!(refused.code(), Some(ErrorCode::ShuttingDown), "{refused}");

    let (mut acked, mut refused) = (0, 0);
    let mut acked_by_chat: Vec<(i64, Vec<(i64, String)>)> = Vec::new();
    let mut all_hints = Vec::new();
    for (((_, conversation_id, conn), mine), mut answers) in senders.iter_mut().zip(&sent).zip(answers) {
        let mut hints = Vec::new();
        let close = read_answers(conn, &mut answers, &mut hints, usize::MAX).await;
        assert_eq!(close, Some(close_code::GOING_AWAY), "closed with 1001 after the answers");
        assert_eq!(hints.len(), 1, "one reconnect hint before the close");
        all_hints.extend(hints);
        let order: Vec<&String> = answers.iter().map(|(id, _)| id).collect();
        let expected: Vec<&String> = mine.iter().map(|(id, _)| id).collect();
        assert_eq!(order, expected, "every send answered once, in the order sent");
        let texts: HashMap<&String, &String> = mine.iter().map(|(id, text)| (id, text)).collect();
        let mut seqs = Vec::new();
        let mut refusing = false;
        for (id, answer) in &answers {
            match answer {
                Answer::Acked(seq) => {
                    assert!(!refusing, "no ack after a refusal: sends are stored in order");
                    seqs.push((*seq, texts[id].clone()));
                    acked += 1;
                }
                Answer::Refused(code) => {
                    assert_eq!(*code, ErrorCode::ShuttingDown, "the only refusal is shutting_down");
                    refusing = true;
                    refused += 1;
                }
            }
        }
        acked_by_chat.push((*conversation_id, seqs));
    }
    // When to come back: within the configured spread, not all the same.
    assert!(all_hints.iter().all(|&ms| ms <= SPREAD.as_millis() as u64), "{all_hints:?}");
    assert!(all_hints.iter().any(|&ms| ms != all_hints[0]), "spread out: {all_hints:?}");
    stopping.await.expect("shutdown finishes");
    eprintln!("graceful shutdown: {acked} sends acked, {refused} refused shutting_down (of {})", SENDERS * BURST);

    // Exactly what was acked is stored, at its seq.
    server.restart().await;
    let peer = peer.with_base_url(&server.url()).unwrap();
    for (conversation_id, seqs) in acked_by_chat {
        let history = peer.api.history(conversation_id, HistoryQuery { limit: Some(200), ..Default::default() }).await.unwrap();
        let stored: Vec<(i64, String)> = history.messages.into_iter().map(|m| (m.seq, m.text)).collect();
        assert_eq!(stored, seqs, "storage holds exactly the acknowledged messages");
    }
}
