//! Property test of ordering and sync through the whole stack: a real server,
//! real WebSockets and HTTP through the SDK, random scripts.
//!
//! Each case: alice (two devices) and bob (one device) share a direct
//! conversation and a group. The script sends messages of very different
//! sizes (up to 100,000 emoji, 400 KB, so pages hit the ~1 MiB byte budget),
//! retries earlier `client_msg_id`s (sometimes after reconnecting, with
//! another text), moves read markers, syncs from random cursors with random
//! limits and reads history pages. A model says what each answer must be:
//!
//! * acks carry dense seqs; a retry (same conversation and text) is acked
//!   `duplicate` with the original seq, any other reuse of the key refused;
//! * a sync page is the next missing messages in (conversation, seq) order,
//!   at most `limit`, cut to the byte budget (never below one message) with
//!   `complete: false` when cut, so paging on continues without a gap;
//! * history pages are the right slices under the same budget rule, keeping
//!   the end next to their cursor;
//! * read markers never move back and stop at the last seq;
//! * at the end every device, syncing from nothing through a `SyncState`,
//!   gets every message once, and its cursors are the last seqs.
//!
//! 12 cases by default (about half a second each); `PROPTEST_CASES`
//! raises it.

mod common;

use std::collections::HashMap;

use banter_protocol::{frames::SyncCursor, http::HistoryQuery, ConversationId, ErrorCode, Message, Seq};
use banter_sdk::{Connection, Session, SyncState};
use banter_store::PAGE_TEXT_BYTES;
use common::TestServer;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Devices: 0 and 1 are alice's, 2 is bob's.
const DEVICES: usize = 3;
/// Conversations: 0 the direct one, 1 the group.
const CONVERSATIONS: usize = 2;

fn user_of_device(device: usize) -> usize {
    [0, 0, 1][device]
}

#[derive(Debug, Clone, Copy)]
enum Size {
    Small,
    /// 100,000 ASCII characters: 100 KB.
    Large,
    /// 100,000 four-byte characters: 400 KB, the largest valid message.
    Largest,
}

#[derive(Debug, Clone, Copy)]
enum Range {
    Latest,
    Before(Seq),
    After(Seq),
}

#[derive(Debug, Clone)]
enum Op {
    Send { device: usize, conversation: usize, key: u8, size: Size },
    Reconnect { device: usize },
    Read { user: usize, conversation: usize, seq: Seq },
    Sync { device: usize, cursors: Vec<(usize, Seq)>, limit: Option<u32> },
    History { device: usize, conversation: usize, range: Range, limit: Option<u32> },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    // Largest messages are common, so pages often cross the byte budget
    // (three of them already do).
    let size = prop_oneof![2 => Just(Size::Small), 1 => Just(Size::Large), 3 => Just(Size::Largest)];
    let range = prop_oneof![Just(Range::Latest), (-1..12i64).prop_map(Range::Before), (-1..12i64).prop_map(Range::After)];
    let limit = prop::option::of(1..6u32);
    prop_oneof![
        8 => (0..DEVICES, 0..CONVERSATIONS, 0..4u8, size)
            .prop_map(|(device, conversation, key, size)| Op::Send { device, conversation, key, size }),
        1 => (0..DEVICES).prop_map(|device| Op::Reconnect { device }),
        1 => (0..2usize, 0..CONVERSATIONS, -1..12i64).prop_map(|(user, conversation, seq)| Op::Read { user, conversation, seq }),
        2 => (0..DEVICES, prop::collection::vec((0..CONVERSATIONS, -1..12i64), 0..3), limit.clone())
            .prop_map(|(device, cursors, limit)| Op::Sync { device, cursors, limit }),
        2 => (0..DEVICES, 0..CONVERSATIONS, range, limit)
            .prop_map(|(device, conversation, range, limit)| Op::History { device, conversation, range, limit }),
    ]
}

/// The page the server must answer from `candidates` (in reading order:
/// oldest first for sync and `after`, newest first for latest and `before`):
/// the first `limit`, then as many as fit the byte budget, at least one.
/// Also whether more remain.
fn expected_page(candidates: &[Message], limit: Option<u32>) -> (Vec<Message>, bool) {
    let limit = limit.unwrap_or(50) as usize;
    let window = &candidates[..candidates.len().min(limit)];
    let mut bytes = 0;
    let fitting = window
        .iter()
        .take_while(|m| {
            bytes += m.text.len();
            bytes <= PAGE_TEXT_BYTES
        })
        .count();
    let kept = if window.is_empty() { 0 } else { fitting.max(1) };
    (window[..kept].to_vec(), candidates.len() > kept)
}

fn ctx(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

struct Case {
    sessions: Vec<Session>,
    connections: Vec<Connection>,
    conversations: Vec<ConversationId>,
    /// Messages of each conversation, by seq.
    messages: Vec<Vec<Message>>,
    /// (device, key) → (conversation index, seq) of the stored message.
    keys: HashMap<(usize, u8), (usize, Seq)>,
    /// (user, conversation) → read marker.
    read: HashMap<(usize, usize), Seq>,
}

impl Case {
    async fn start(server: &TestServer) -> Case {
        let alice = server.user("alice").await;
        let bob = server.user("bob").await;
        let alice_laptop = server.second_device(&alice).await;
        let direct = alice.api().direct_conversation_with(bob.user.id).await.expect("direct").conversation.id;
        let group = alice.api().create_group("pair", &[bob.user.id]).await.expect("group").conversation.id;
        let sessions = vec![alice, alice_laptop, bob];
        let mut connections = Vec::new();
        for session in &sessions {
            connections.push(session.connect().await.expect("connect"));
        }
        Case {
            sessions,
            connections,
            conversations: vec![direct, group],
            messages: vec![Vec::new(); CONVERSATIONS],
            keys: HashMap::new(),
            read: HashMap::new(),
        }
    }

    fn key(&self, device: usize, key: u8) -> String {
        format!("d{}-k{key}", self.sessions[device].device_id)
    }

    fn text(size: Size, device: usize, key: u8) -> String {
        match size {
            Size::Small => format!("small from {device} with key {key}"),
            Size::Large => "a".repeat(100_000),
            Size::Largest => "😀".repeat(100_000),
        }
    }

    fn conversation_index(&self, id: ConversationId) -> usize {
        self.conversations.iter().position(|&c| c == id).expect("a conversation of this case")
    }

    async fn run(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Send { device, conversation, key, size } => {
                let (device, conversation, key) = (*device, *conversation, *key);
                let (client_msg_id, text) = (self.key(device, key), Self::text(*size, device, key));
                let answer = self.connections[device]
                    .send_message_with_id(self.conversations[conversation], &client_msg_id, text.clone())
                    .await;
                if let Some(&(original_conversation, seq)) = self.keys.get(&(device, key)) {
                    let original = &self.messages[original_conversation][(seq - 1) as usize];
                    if original_conversation != conversation || original.text != text {
                        let code = answer.err().and_then(|e| e.code());
                        prop_assert_eq!(code, Some(ErrorCode::ClientMsgIdReused), "a key reused for another message");
                        return Ok(());
                    }
                    let ack = answer.map_err(ctx)?;
                    prop_assert!(ack.duplicate, "a retry is acked as a duplicate");
                    prop_assert_eq!((ack.conversation_id, ack.seq), (self.conversations[original_conversation], seq));
                    return Ok(());
                }
                let ack = answer.map_err(ctx)?;
                prop_assert!(!ack.duplicate);
                prop_assert_eq!(ack.seq, self.messages[conversation].len() as Seq + 1, "the next seq");
                let user = self.sessions[device].user.id;
                self.messages[conversation].push(Message {
                    conversation_id: ack.conversation_id,
                    seq: ack.seq,
                    sender_id: user,
                    sender_device_id: self.sessions[device].device_id,
                    client_msg_id,
                    text,
                    server_ts: ack.server_ts,
                    ..Default::default()
                });
                self.keys.insert((device, key), (conversation, ack.seq));
                let read = self.read.entry((user_of_device(device), conversation)).or_insert(0);
                *read = (*read).max(ack.seq);
            }
            Op::Reconnect { device } => {
                let fresh = self.sessions[*device].connect().await.map_err(ctx)?;
                let old = std::mem::replace(&mut self.connections[*device], fresh);
                old.close().await.ok();
            }
            Op::Read { user, conversation, seq } => {
                let device = if *user == 0 { 0 } else { 2 };
                let answer = self.sessions[device].api().mark_read(self.conversations[*conversation], *seq).await.map_err(ctx)?;
                let old = self.read.get(&(*user, *conversation)).copied().unwrap_or(0);
                let expected = old.max((*seq).min(self.messages[*conversation].len() as Seq));
                prop_assert_eq!(answer.read_seq, expected, "read markers move forward only, up to the last seq");
                self.read.insert((*user, *conversation), expected);
            }
            Op::Sync { device, cursors, limit } => self.sync(*device, cursors, *limit).await?,
            Op::History { device, conversation, range, limit } => {
                let all = &self.messages[*conversation];
                let (query, mut candidates, newest_first) = match *range {
                    Range::Latest => (HistoryQuery { before: None, after: None, limit: *limit }, all.clone(), true),
                    Range::Before(s) => (
                        HistoryQuery { before: Some(s), after: None, limit: *limit },
                        all.iter().filter(|m| m.seq < s).cloned().collect(),
                        true,
                    ),
                    Range::After(s) => (
                        HistoryQuery { before: None, after: Some(s), limit: *limit },
                        all.iter().filter(|m| m.seq > s).cloned().collect::<Vec<_>>(),
                        false,
                    ),
                };
                if newest_first {
                    candidates.reverse();
                }
                let (mut expected, has_more) = expected_page(&candidates, *limit);
                if newest_first {
                    expected.reverse();
                }
                let page = self.sessions[*device].api().history(self.conversations[*conversation], query).await.map_err(ctx)?;
                prop_assert_eq!(page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), expected.iter().map(|m| m.seq).collect::<Vec<_>>());
                prop_assert_eq!(&page.messages, &expected);
                prop_assert_eq!(page.has_more, has_more, "has_more of history {:?}", range);
            }
        }
        Ok(())
    }

    /// Every message missing after `cursors` (first listing of a
    /// conversation counts), in sync order.
    fn missing(&self, cursors: &[(usize, Seq)]) -> Vec<Message> {
        let mut order: Vec<usize> = (0..CONVERSATIONS).collect();
        order.sort_by_key(|&c| self.conversations[c]);
        order
            .into_iter()
            .flat_map(|c| {
                let cursor = cursors.iter().find(|(listed, _)| *listed == c).map_or(0, |&(_, seq)| seq);
                self.messages[c].iter().filter(move |m| m.seq > cursor).cloned()
            })
            .collect()
    }

    /// One sync from the given cursors, then paging on until complete.
    async fn sync(&mut self, device: usize, cursors: &[(usize, Seq)], limit: Option<u32>) -> Result<(), TestCaseError> {
        let mut cursors: Vec<(usize, Seq)> = cursors.iter().fold(Vec::new(), |mut kept, &(c, seq)| {
            if !kept.iter().any(|&(k, _)| k == c) {
                kept.push((c, seq));
            }
            kept
        });
        let everything = self.missing(&cursors);
        let mut received = Vec::new();
        for _ in 0..=everything.len() {
            let wire: Vec<SyncCursor> =
                cursors.iter().map(|&(c, seq)| SyncCursor { conversation_id: self.conversations[c], seq }).collect();
            let page = self.connections[device].sync_once(&wire, limit).await.map_err(ctx)?;
            let (expected, has_more) = expected_page(&self.missing(&cursors), limit);
            prop_assert_eq!(page.messages.iter().map(|m| (m.conversation_id, m.seq)).collect::<Vec<_>>(),
                expected.iter().map(|m| (m.conversation_id, m.seq)).collect::<Vec<_>>(), "sync page");
            prop_assert_eq!(&page.messages, &expected);
            prop_assert_eq!(page.complete, !has_more);
            for m in &page.messages {
                let c = self.conversation_index(m.conversation_id);
                match cursors.iter_mut().find(|(k, _)| *k == c) {
                    Some(cursor) => cursor.1 = m.seq,
                    None => cursors.push((c, m.seq)),
                }
            }
            received.extend(page.messages);
            if page.complete {
                prop_assert_eq!(received, everything, "paging on reaches exactly the rest");
                return Ok(());
            }
        }
        Err(TestCaseError::fail("sync never completed"))
    }

    async fn check_final_state(&mut self) -> Result<(), TestCaseError> {
        let everything = self.missing(&[]);
        for device in 0..DEVICES {
            // Page by page from nothing, each page checked (budget included)…
            self.sync(device, &[], None).await?;
            // …and as a client does it, through a SyncState.
            let mut state = SyncState::new();
            let synced = self.connections[device].catch_up(&mut state).await.map_err(ctx)?;
            prop_assert_eq!(&synced, &everything, "a device syncing from nothing gets everything once");
            for (c, &id) in self.conversations.iter().enumerate() {
                prop_assert_eq!(state.cursor(id), self.messages[c].len() as Seq);
            }
            prop_assert!(!state.has_gaps());
        }
        for (user, device) in [(0, 0), (1, 2)] {
            for conversation in self.sessions[device].api().conversations().await.map_err(ctx)? {
                let c = self.conversation_index(conversation.id);
                prop_assert_eq!(conversation.last_seq, self.messages[c].len() as Seq);
                prop_assert_eq!(conversation.read_seq, self.read.get(&(user, c)).copied().unwrap_or(0));
            }
        }
        for connection in self.connections.drain(..) {
            connection.close().await.ok();
        }
        Ok(())
    }
}

#[test]
fn sync_history_acks_and_markers_follow_the_model_through_the_server() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    // Every case signs up and logs in from 127.0.0.1.
    let server = runtime.block_on(TestServer::start_with(|c| {
        c.signups_per_hour_per_address = 1_000_000;
        c.login_attempts_per_minute_per_address = 1_000_000;
    }));
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(12);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let result = runner.run(&prop::collection::vec(op_strategy(), 4..18), |script| {
        runtime.block_on(async {
            let mut case = Case::start(&server).await;
            for op in &script {
                case.run(op).await?;
            }
            case.check_final_state().await
        })
    });
    runtime.block_on(async move {
        let mut server = server;
        server.stop().await;
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
