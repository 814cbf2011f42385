//! Crash consistency of the embedded server: while clients send as fast as
//! acknowledgements come back, `banter serve` is killed with SIGKILL at a
//! random moment, restarted on the same data dir, and this repeats. After
//! the last round:
//!
//! - every message that was acknowledged is in history, exactly once, at the
//!   seq its ack gave, with its text;
//! - each conversation's seqs are dense, 1..=n;
//! - what the watching devices saw live is what history holds (same message
//!   at each seq), so every device saw one order;
//! - a send cut off by the crash (no ack) is retried after the restart with
//!   the same `client_msg_id` and is stored exactly once, whether or not the
//!   first attempt had reached the disk.

#[path = "support/banter_process.rs"]
mod banter_process;
#[path = "support/history.rs"]
mod history;

use std::{
    collections::{BTreeMap, HashMap},
    ffi::OsStr,
    path::Path,
    time::Duration,
};

use banter_process::BanterProcess;
use history::full_history;
use banter_protocol::{ConversationId, ErrorCode, Message, Seq, ServerFrame};
use banter_sdk::{new_client_msg_id, ApiClient, Session};
use rand::Rng;

const ROUNDS: usize = 4;
use banter_test_support::PASSWORD;

fn start(data_dir: &Path) -> BanterProcess {
    BanterProcess::start([OsStr::new("--data-dir"), data_dir.as_os_str()])
}

/// A message some sender has put on the wire.
#[derive(Debug, Clone)]
struct Outgoing {
    conversation_id: ConversationId,
    client_msg_id: String,
    text: String,
}

/// What one sender's round produced.
#[derive(Default)]
struct SenderReport {
    /// Acknowledged: (message, seq from the ack).
    acked: Vec<(Outgoing, Seq)>,
    /// The send the crash cut off, if any.
    unacked: Option<Outgoing>,
}

/// One sending device: retries what the last crash cut off, then sends new
/// messages one after the other until the connection dies.
async fn send_until_crash(session: Session, sender: usize, round: usize, retry: Option<Outgoing>, conversation_id: ConversationId) -> SenderReport {
    let mut report = SenderReport::default();
    let Ok(mut conn) = session.connect().await else {
        report.unacked = retry;
        return report;
    };
    let mut next = retry;
    for n in 0.. {
        let outgoing = next.take().unwrap_or_else(|| Outgoing {
            conversation_id,
            client_msg_id: new_client_msg_id(),
            text: format!("sender {sender} round {round} message {n}"),
        });
        match conn.send_message_with_id(outgoing.conversation_id, &outgoing.client_msg_id, outgoing.text.clone()).await {
            Ok(ack) => report.acked.push((outgoing, ack.seq)),
            Err(e) if e.code() == Some(ErrorCode::RateLimited) => {
                // Faster than the per-account limit: back off, same id.
                tokio::time::sleep(Duration::from_millis(50)).await;
                next = Some(outgoing);
            }
            // The graceful stop of the last round refuses the sends it had
            // not started (nothing stored): resent after the restart.
            Err(e) if e.code() == Some(ErrorCode::ShuttingDown) => {
                report.unacked = Some(outgoing);
                return report;
            }
            Err(e) => {
                assert!(e.code().is_none(), "the server refused a valid message: {e}");
                report.unacked = Some(outgoing);
                return report;
            }
        }
    }
    report
}

/// A device that only listens: every live message it sees, until the crash.
async fn watch_until_crash(session: Session) -> Vec<Message> {
    let mut seen = Vec::new();
    let Ok(mut conn) = session.connect().await else { return seen };
    while let Ok(frame) = conn.next_frame_timeout(Duration::from_secs(30)).await {
        if let ServerFrame::Message { message } = frame {
            seen.push(message);
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_messages_survive_repeated_kill_9_exactly_once_in_one_order() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut server = start(data.path());
    let api = ApiClient::new(&server.url).expect("api");
    let mut users = Vec::new();
    for name in ["alice", "bob", "carol", "dave"] {
        users.push(api.signup(name, PASSWORD).await.expect("signup"));
    }
    let direct = users[0].api().direct_conversation_with(users[1].user.id).await.expect("direct").conversation.id;
    let member_ids: Vec<_> = users[1..].iter().map(|u| u.user.id).collect();
    let group = users[0].api().create_group("crash test", &member_ids).await.expect("group").conversation.id;
    // Senders: both sides of the direct chat, everyone in the group.
    let senders: Vec<(usize, ConversationId)> = vec![(0, direct), (1, direct), (0, group), (1, group), (2, group), (3, group)];
    // Watchers: second devices that never send (bob's sees the direct chat,
    // carol's the group).
    let mut watchers = [
        api.login("bob", PASSWORD, Some("watcher")).await.expect("login"),
        api.login("carol", PASSWORD, Some("watcher")).await.expect("login"),
    ];

    let mut acked: Vec<(Outgoing, Seq)> = Vec::new();
    let mut seen_live: Vec<Message> = Vec::new();
    let mut retries: Vec<Option<Outgoing>> = vec![None; senders.len()];
    let mut cut_off: Vec<Outgoing> = Vec::new();
    for round in 0..=ROUNDS {
        let sending: Vec<_> = senders
            .iter()
            .enumerate()
            .map(|(i, &(user, conversation))| {
                tokio::spawn(send_until_crash(users[user].clone(), i, round, retries[i].take(), conversation))
            })
            .collect();
        let watching: Vec<_> = watchers.iter().map(|w| tokio::spawn(watch_until_crash(w.clone()))).collect();
        let crash_after = Duration::from_millis(rand::thread_rng().gen_range(300..1500));
        tokio::time::sleep(crash_after).await;
        if round < ROUNDS {
            tokio::task::spawn_blocking(move || server.kill()).await.expect("kill");
        } else {
            // The last round ends gracefully, so nothing is left unacked.
            tokio::task::spawn_blocking(move || assert!(server.terminate().success())).await.expect("terminate");
        }
        for (i, task) in sending.into_iter().enumerate() {
            let report = tokio::time::timeout(Duration::from_secs(30), task).await.expect("sender stops").expect("sender");
            assert!(!report.acked.is_empty() || round == ROUNDS, "sender {i} got nothing acked in round {round}");
            acked.extend(report.acked);
            if let Some(outgoing) = report.unacked {
                cut_off.push(outgoing.clone());
                retries[i] = Some(outgoing);
            }
        }
        for task in watching {
            seen_live.extend(tokio::time::timeout(Duration::from_secs(30), task).await.expect("watcher stops").expect("watcher"));
        }
        server = start(data.path());
        for user in users.iter_mut().chain(watchers.iter_mut()) {
            *user = user.with_base_url(&server.url).expect("session");
        }
    }
    // Anything cut off by the graceful stop is retried once more.
    for (i, retry) in retries.iter_mut().enumerate() {
        if let Some(outgoing) = retry.take() {
            let mut conn = users[senders[i].0].connect().await.expect("connect");
            let ack = conn
                .send_message_with_id(outgoing.conversation_id, &outgoing.client_msg_id, outgoing.text.clone())
                .await
                .expect("retry after restart");
            acked.push((outgoing, ack.seq));
        }
    }

    let reader = users[1].api();
    let mut stored: HashMap<ConversationId, BTreeMap<Seq, Message>> = HashMap::new();
    for conversation in [direct, group] {
        let history = full_history(reader, conversation).await;
        let seqs: Vec<Seq> = history.iter().map(|m| m.seq).collect();
        let dense: Vec<Seq> = (1..=history.len() as Seq).collect();
        assert_eq!(seqs, dense, "conversation {conversation}: seqs are dense from 1");
        let mut ids: Vec<&str> = history.iter().map(|m| m.client_msg_id.as_str()).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), before, "conversation {conversation}: a client_msg_id stored twice");
        stored.insert(conversation, history.into_iter().map(|m| (m.seq, m)).collect());
    }
    for (outgoing, seq) in &acked {
        let message = stored[&outgoing.conversation_id]
            .get(seq)
            .unwrap_or_else(|| panic!("acknowledged {outgoing:?} at seq {seq} is missing after the crashes"));
        assert_eq!((&message.client_msg_id, &message.text), (&outgoing.client_msg_id, &outgoing.text), "seq {seq}");
    }
    for outgoing in &cut_off {
        let copies = stored[&outgoing.conversation_id].values().filter(|m| m.client_msg_id == outgoing.client_msg_id).count();
        assert_eq!(copies, 1, "the cut-off send {outgoing:?}, retried with its id, is stored once");
    }
    for message in &seen_live {
        let stored = stored[&message.conversation_id].get(&message.seq).expect("a message seen live is in history");
        assert_eq!(stored.client_msg_id, message.client_msg_id, "live and history agree on seq {}", message.seq);
    }
    assert!(acked.len() >= ROUNDS * senders.len(), "load was applied: {} acked", acked.len());
    assert!(!cut_off.is_empty(), "the crashes cut off sends in flight");
    assert!(!seen_live.is_empty(), "watchers saw live traffic");
    eprintln!("{} acked, {} cut off and retried, {} seen live", acked.len(), cut_off.len(), seen_live.len());
}
