//! Property tests of the ordering and sync invariants, against real stores
//! (an SQLite file; a fresh PostgreSQL database).
//!
//! Each case is a random script over three users (alice with two devices,
//! bob and carol with one), a group of all three and a direct conversation
//! between alice and bob (carol is not a member): sends (some in concurrent
//! bursts, many reusing an earlier `client_msg_id`, sometimes with another
//! text or aimed at another conversation), read and delivered markers, sync
//! from random cursors and history pages. A plain model (the messages of
//! each conversation in order, the stored keys, the markers) says what every
//! answer must be:
//!
//! * seqs of a conversation are 1..n, dense, in the order stored;
//! * a retried `client_msg_id` (same conversation, same text) returns the
//!   original message and stores nothing; the key reused for another
//!   conversation or text is refused (`ClientMsgIdReused`), nothing stored;
//! * sync from any cursors returns exactly the messages after them, in
//!   (conversation, seq) order, at most `limit`, and paging on from the last
//!   one returned reaches the end with no gap and no duplicate;
//! * history pages (latest, before, after) are the right slices, and paging
//!   backwards from the newest gives what sync gives;
//! * markers never move back, never pass the last seq, and delivered ≥ read;
//! * non-members get `NotAMember` for everything.
//!
//! Cases: 24 on SQLite, 8 on PostgreSQL; `PROPTEST_CASES=500` for more.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use banter_protocol::{ConversationId, DeviceId, Markers, Message, Seq, UserId};
use banter_store::{ConversationCursor, HistoryRange, NewMessage, Store, StoreError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

mod support;
use support::{unique, Backend, PgBackend, SqliteBackend};

// ---------------------------------------------------------------------------
// The scripts
// ---------------------------------------------------------------------------

/// Devices: 0 and 1 are alice's, 2 is bob's, 3 is carol's.
const DEVICES: usize = 4;
/// Users: 0 alice, 1 bob, 2 carol.
const USERS: usize = 3;
/// Conversations: 0 the group of all three, 1 alice–bob direct.
const CONVERSATIONS: usize = 2;

fn user_of_device(device: usize) -> usize {
    [0, 0, 1, 2][device]
}

fn is_member(user: usize, conversation: usize) -> bool {
    conversation == 0 || user != 2
}

#[derive(Debug, Clone)]
struct Send {
    device: usize,
    conversation: usize,
    /// Few keys per device, so retries of earlier keys are common.
    key: u8,
    text: u8,
}

#[derive(Debug, Clone)]
enum Op {
    Send(Send),
    /// Sends issued at once, so they may share a group commit.
    Burst(Vec<Send>),
    MarkRead { user: usize, conversation: usize, seq: Seq },
    MarkDelivered { user: usize, conversation: usize, seq: Seq },
    /// Cursors for conversation indexes (a user may list one it is not in).
    Sync { user: usize, cursors: Vec<(usize, Seq)>, limit: u32 },
    History { user: usize, conversation: usize, range: HistoryRange, limit: u32 },
}

fn send_strategy() -> impl Strategy<Value = Send> {
    (0..DEVICES, 0..CONVERSATIONS, 0..6u8, 0..3u8).prop_map(|(device, conversation, key, text)| Send {
        device,
        conversation,
        key,
        text,
    })
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let seq = -2..25i64;
    let range = prop_oneof![
        Just(HistoryRange::Latest),
        (-2..25i64).prop_map(HistoryRange::Before),
        (-2..25i64).prop_map(HistoryRange::After),
    ];
    prop_oneof![
        5 => send_strategy().prop_map(Op::Send),
        2 => prop::collection::vec(send_strategy(), 2..8).prop_map(Op::Burst),
        1 => (0..USERS, 0..CONVERSATIONS, seq.clone()).prop_map(|(user, conversation, seq)| Op::MarkRead { user, conversation, seq }),
        1 => (0..USERS, 0..CONVERSATIONS, seq.clone()).prop_map(|(user, conversation, seq)| Op::MarkDelivered { user, conversation, seq }),
        2 => (0..USERS, prop::collection::vec((0..CONVERSATIONS, seq), 0..3), 1..8u32)
            .prop_map(|(user, cursors, limit)| Op::Sync { user, cursors, limit }),
        2 => (0..USERS, 0..CONVERSATIONS, range, 1..8u32)
            .prop_map(|(user, conversation, range, limit)| Op::History { user, conversation, range, limit }),
    ]
}

fn script_strategy() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op_strategy(), 1..40)
}

// ---------------------------------------------------------------------------
// One case: the real store next to the model
// ---------------------------------------------------------------------------

/// The ids one case created in the store.
struct World {
    users: Vec<UserId>,
    devices: Vec<DeviceId>,
    conversations: Vec<ConversationId>,
}

/// What the store must hold.
#[derive(Default)]
struct Model {
    /// Messages of each conversation index, by seq (index = seq - 1).
    messages: Vec<Vec<Message>>,
    /// (device index, key) → the message stored for it.
    keys: HashMap<(usize, u8), Message>,
    /// (user index, conversation index) → markers.
    markers: HashMap<(usize, usize), Markers>,
}

async fn create_world(store: &dyn Store) -> World {
    let n = unique();
    let mut users = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let user = store.create_user(&format!("{name}{n}"), "hash", name, 1).await.expect("create user");
        users.push(user.id);
    }
    let mut devices = Vec::new();
    for device in 0..DEVICES {
        let token = format!("token-{n}-{device}");
        devices.push(store.create_device(users[user_of_device(device)], "d", token.as_bytes(), 1).await.expect("device").id);
    }
    let group = store.create_group(users[0], "group", &users[1..], 1).await.expect("group");
    let (direct, _) = store.get_or_create_direct(users[0], users[1], 1).await.expect("direct");
    World { users, devices, conversations: vec![group, direct] }
}

fn text_of(send: &Send) -> String {
    format!("text {} from device {} key {}", send.text, send.device, send.key)
}

fn key_of(world: &World, send: &Send) -> String {
    // Keys are per device; the same key on another device is another message.
    format!("k{}-{}", world.devices[send.device], send.key)
}

fn new_message(world: &World, send: &Send) -> NewMessage {
    NewMessage {
        conversation_id: world.conversations[send.conversation],
        sender_id: world.users[user_of_device(send.device)],
        sender_device_id: world.devices[send.device],
        client_msg_id: key_of(world, send),
        content: banter_protocol::Content::text(text_of(send)),
        server_ts: 1_000,
        rules: banter_store::ChangeRules::default(),
    }
}

/// What a send was answered: the message and whether it was a duplicate.
type Answer = Result<(Message, bool), StoreError>;

/// The idempotency rule: the same conversation and text as the stored message.
fn is_exact_retry(world: &World, send: &Send, stored: &Message) -> bool {
    world.conversations[send.conversation] == stored.conversation_id && text_of(send) == stored.text
}

fn not_a_member<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(matches!(result, Err(StoreError::NotAMember)), "{what}: expected NotAMember, got {result:?}");
    Ok(())
}

impl Model {
    fn new() -> Model {
        Model { messages: vec![Vec::new(); CONVERSATIONS], ..Model::default() }
    }

    fn markers(&self, user: usize, conversation: usize) -> Markers {
        self.markers.get(&(user, conversation)).copied().unwrap_or(Markers { delivered_seq: 0, read_seq: 0 })
    }

    fn last_seq(&self, conversation: usize) -> Seq {
        self.messages[conversation].len() as Seq
    }

    /// Markers after a move to `seq`, stated from the rules: forward only,
    /// clamped to the last seq, reading implies delivery.
    fn moved(&self, user: usize, conversation: usize, seq: Seq, read: bool) -> Markers {
        let old = self.markers(user, conversation);
        let target = seq.min(self.last_seq(conversation));
        let read_seq = if read { old.read_seq.max(target) } else { old.read_seq };
        Markers { read_seq, delivered_seq: old.delivered_seq.max(target).max(read_seq) }
    }

    /// Records a freshly stored message; checks it got the next seq.
    fn stored(&mut self, send: &Send, message: &Message, expected_seq: Option<Seq>) -> Result<(), TestCaseError> {
        let conversation = send.conversation;
        if let Some(expected) = expected_seq {
            prop_assert_eq!(message.seq, expected, "the next seq of the conversation");
        }
        prop_assert_eq!(&message.text, &text_of(send));
        self.messages[conversation].push(message.clone());
        self.keys.insert((send.device, send.key), message.clone());
        // Sending reads everything up to one's own message.
        let user = user_of_device(send.device);
        let old = self.markers(user, conversation);
        let read_seq = old.read_seq.max(message.seq);
        self.markers.insert((user, conversation), Markers { read_seq, delivered_seq: old.delivered_seq.max(read_seq) });
        Ok(())
    }
}

struct Case<'a> {
    store: &'a dyn Store,
    world: World,
    model: Model,
}

impl Case<'_> {
    async fn run(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Send(send) => self.send(send).await,
            Op::Burst(sends) => self.burst(sends).await,
            Op::MarkRead { user, conversation, seq } => self.mark(*user, *conversation, *seq, true).await,
            Op::MarkDelivered { user, conversation, seq } => self.mark(*user, *conversation, *seq, false).await,
            Op::Sync { user, cursors, limit } => self.sync(*user, cursors, *limit).await,
            Op::History { user, conversation, range, limit } => self.history(*user, *conversation, *range, *limit).await,
        }
    }

    async fn send(&mut self, send: &Send) -> Result<(), TestCaseError> {
        let result = self.store.append_message(new_message(&self.world, send)).await;
        if let Some(original) = self.model.keys.get(&(send.device, send.key)) {
            if !is_exact_retry(&self.world, send, original) {
                prop_assert!(
                    matches!(result, Err(StoreError::ClientMsgIdReused)),
                    "a key reused for another message is refused: {result:?}"
                );
                return Ok(());
            }
            let outcome = result.map_err(|e| TestCaseError::fail(format!("retry failed: {e}")))?;
            prop_assert!(outcome.duplicate, "a retried key is a duplicate");
            prop_assert_eq!(&outcome.message, original, "a retry returns the original message");
            return Ok(());
        }
        if !is_member(user_of_device(send.device), send.conversation) {
            return not_a_member(result, "send");
        }
        let outcome = result.map_err(|e| TestCaseError::fail(format!("send failed: {e}")))?;
        prop_assert!(!outcome.duplicate);
        let next = self.model.last_seq(send.conversation) + 1;
        self.model.stored(send, &outcome.message, Some(next))
    }

    /// Sends at once. Whatever order the store picks, each new key is stored
    /// once, the new seqs continue the conversation densely, and every
    /// answer for one key is the same message.
    async fn burst(&mut self, sends: &[Send]) -> Result<(), TestCaseError> {
        let results = futures_util::future::join_all(sends.iter().map(|s| self.store.append_message(new_message(&self.world, s)))).await;
        let mut answers: BTreeMap<(usize, u8), Vec<(&Send, Answer)>> = BTreeMap::new();
        for (send, result) in sends.iter().zip(results) {
            answers.entry((send.device, send.key)).or_default().push((send, result.map(|o| (o.message, o.duplicate))));
        }
        let mut fresh: Vec<(Send, Message)> = Vec::new();
        for (key, answered) in answers {
            // The message stored under the key: from before, or the one
            // send of the burst that stored it.
            let stored_now: Vec<&(Message, bool)> =
                answered.iter().filter_map(|(_, r)| r.as_ref().ok()).filter(|(_, duplicate)| !duplicate).collect();
            let stored = match self.model.keys.get(&key) {
                Some(original) => {
                    prop_assert!(stored_now.is_empty(), "a stored key is never stored again: {:?}", stored_now);
                    Some(original.clone())
                }
                None => {
                    prop_assert!(stored_now.len() <= 1, "a new key is stored at most once: {:?}", stored_now);
                    stored_now.first().map(|(m, _)| m.clone())
                }
            };
            for (send, result) in &answered {
                match (result, &stored) {
                    (Ok((message, _)), Some(stored)) => {
                        prop_assert_eq!(message, stored, "every answer for one key is the stored message");
                        prop_assert!(is_exact_retry(&self.world, send, stored), "only an exact retry is answered with it");
                    }
                    (Ok(_), None) => return Err(TestCaseError::fail("an answer without a stored message")),
                    (Err(StoreError::ClientMsgIdReused), Some(stored)) => {
                        prop_assert!(!is_exact_retry(&self.world, send, stored), "an exact retry was refused");
                    }
                    // Refused only when the sender is not a member there
                    // (and the send is not a retry of a stored message).
                    (Err(StoreError::NotAMember), _) => prop_assert!(
                        !is_member(user_of_device(send.device), send.conversation),
                        "refused a member's send"
                    ),
                    (Err(e), _) => return Err(TestCaseError::fail(format!("send in a burst failed: {e}"))),
                }
            }
            if let (None, Some(message)) = (self.model.keys.get(&key), stored) {
                let send = answered
                    .iter()
                    .map(|(s, _)| *s)
                    .find(|s| is_exact_retry(&self.world, s, &message))
                    .expect("the stored message is one of the sends");
                fresh.push((send.clone(), message));
            }
        }
        fresh.sort_by_key(|(_, m)| (m.conversation_id, m.seq));
        for (send, message) in &fresh {
            let next = self.model.last_seq(send.conversation) + 1;
            self.model.stored(send, message, Some(next))?;
        }
        Ok(())
    }

    async fn mark(&mut self, user: usize, conversation: usize, seq: Seq, read: bool) -> Result<(), TestCaseError> {
        let (user_id, conversation_id) = (self.world.users[user], self.world.conversations[conversation]);
        let result = if read {
            self.store.mark_read(conversation_id, user_id, seq).await
        } else {
            self.store.mark_delivered(conversation_id, user_id, seq).await
        };
        if !is_member(user, conversation) {
            return not_a_member(result, "mark");
        }
        let update = result.map_err(|e| TestCaseError::fail(format!("mark failed: {e}")))?;
        let old = self.model.markers(user, conversation);
        let expected = self.model.moved(user, conversation, seq, read);
        prop_assert_eq!(update.markers, expected, "markers after moving {} to {}", if read { "read" } else { "delivered" }, seq);
        prop_assert_eq!(update.changed, expected != old);
        prop_assert!(expected.delivered_seq >= expected.read_seq && expected.read_seq >= old.read_seq);
        self.model.markers.insert((user, conversation), expected);
        Ok(())
    }

    /// Every message `user` is missing given `cursors`, in sync order.
    fn missing(&self, user: usize, cursors: &[(usize, Seq)]) -> Vec<Message> {
        let mut order: Vec<usize> = (0..CONVERSATIONS).filter(|&c| is_member(user, c)).collect();
        order.sort_by_key(|&c| self.world.conversations[c]);
        order
            .into_iter()
            .flat_map(|c| {
                // The first cursor listed for a conversation is the one that counts.
                let cursor = cursors.iter().find(|(listed, _)| *listed == c).map_or(0, |(_, seq)| *seq);
                self.model.messages[c].iter().filter(move |m| m.seq > cursor).cloned()
            })
            .collect()
    }

    async fn sync(&mut self, user: usize, cursors: &[(usize, Seq)], limit: u32) -> Result<(), TestCaseError> {
        let mut cursors: Vec<(usize, Seq)> = {
            let mut seen = Vec::new();
            cursors.iter().filter(|(c, _)| if seen.contains(c) { false } else { seen.push(*c); true }).copied().collect()
        };
        let expected = self.missing(user, &cursors);
        let mut received: Vec<Message> = Vec::new();
        // Page on, as a client does, until the store says there is no more.
        for _ in 0..=expected.len() {
            let held: Vec<ConversationCursor> = cursors
                .iter()
                .map(|&(c, seq)| ConversationCursor { conversation_id: self.world.conversations[c], seq })
                .collect();
            let page = self.store.sync(self.world.users[user], &held, limit).await.map_err(|e| TestCaseError::fail(format!("sync: {e}")))?;
            let remaining = self.missing(user, &cursors);
            let take = remaining.len().min(limit as usize);
            prop_assert_eq!(&page.messages, &remaining[..take].to_vec(), "a sync page is the next `limit` missing messages");
            prop_assert_eq!(page.has_more, remaining.len() > take, "has_more iff more remain");
            for message in &page.messages {
                let c = self.world.conversations.iter().position(|&id| id == message.conversation_id).expect("known conversation");
                match cursors.iter_mut().find(|(listed, _)| *listed == c) {
                    Some(cursor) => cursor.1 = message.seq,
                    None => cursors.push((c, message.seq)),
                }
            }
            received.extend(page.messages);
            if !page.has_more {
                prop_assert_eq!(received, expected, "paging on from the cursors reaches exactly the rest");
                return Ok(());
            }
        }
        Err(TestCaseError::fail("sync never said it was complete"))
    }

    async fn history(&mut self, user: usize, conversation: usize, range: HistoryRange, limit: u32) -> Result<(), TestCaseError> {
        let result = self.store.history(self.world.conversations[conversation], self.world.users[user], range, limit).await;
        if !is_member(user, conversation) {
            return not_a_member(result, "history");
        }
        let page = result.map_err(|e| TestCaseError::fail(format!("history: {e}")))?;
        let all = &self.model.messages[conversation];
        let limit = limit as usize;
        let (candidates, from_the_end): (Vec<&Message>, bool) = match range {
            HistoryRange::Latest => (all.iter().collect(), true),
            HistoryRange::Before(s) => (all.iter().filter(|m| m.seq < s).collect(), true),
            HistoryRange::After(s) => (all.iter().filter(|m| m.seq > s).collect(), false),
        };
        let slice: Vec<Message> = if from_the_end {
            candidates[candidates.len().saturating_sub(limit)..].iter().map(|m| (*m).clone()).collect()
        } else {
            candidates[..candidates.len().min(limit)].iter().map(|m| (*m).clone()).collect()
        };
        prop_assert_eq!(&page.messages, &slice, "history {:?} limit {}", range, limit);
        prop_assert_eq!(page.has_more, candidates.len() > limit);
        Ok(())
    }

    /// At the end: every view of every conversation agrees with the model.
    async fn check_final_state(&mut self) -> Result<(), TestCaseError> {
        for c in 0..CONVERSATIONS {
            let seqs: Vec<Seq> = self.model.messages[c].iter().map(|m| m.seq).collect();
            prop_assert_eq!(seqs, (1..=self.model.last_seq(c)).collect::<Vec<_>>(), "dense seqs");
            for user in (0..USERS).filter(|&u| is_member(u, c)) {
                // Paging backwards from the newest gives the whole conversation.
                let (conversation_id, user_id) = (self.world.conversations[c], self.world.users[user]);
                let mut backwards = Vec::new();
                let mut range = HistoryRange::Latest;
                loop {
                    let page = self.store.history(conversation_id, user_id, range, 3).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let Some(oldest) = page.messages.first() else { break };
                    range = HistoryRange::Before(oldest.seq);
                    backwards.splice(0..0, page.messages);
                    if !page.has_more {
                        break;
                    }
                }
                prop_assert_eq!(&backwards, &self.model.messages[c], "history backwards equals the conversation");
                let conversation = self.store.conversation(conversation_id, user_id).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(conversation.last_seq, self.model.last_seq(c));
                prop_assert_eq!(conversation.read_seq, self.model.markers(user, c).read_seq, "stored read marker");
            }
        }
        // And sync from nothing is everything, for everyone.
        for user in 0..USERS {
            self.sync(user, &[], 5).await?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Running the cases on each backend
// ---------------------------------------------------------------------------

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Runs the scripts against one store opened on `backend`; every case makes
/// its own users and conversations in it.
fn check_scripts(backend: impl FnOnce(&tokio::runtime::Runtime) -> Box<dyn Backend>, default_cases: u32) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let backend = backend(&runtime);
    let store: Arc<dyn Store> = runtime.block_on(backend.open());
    let config = Config { cases: cases(default_cases), failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&script_strategy(), |script| {
        runtime.block_on(async {
            let world = create_world(&*store).await;
            let mut case = Case { store: &*store, world, model: Model::new() };
            for op in &script {
                case.run(op).await?;
            }
            case.check_final_state().await
        })
    });
    runtime.block_on(store.close());
    drop(backend);
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

#[test]
fn sqlite_keeps_order_idempotency_sync_and_markers_under_random_scripts() {
    check_scripts(|_| Box::new(SqliteBackend::new()), 24);
}

#[test]
fn postgres_keeps_order_idempotency_sync_and_markers_under_random_scripts() {
    check_scripts(|runtime| Box::new(runtime.block_on(PgBackend::new(1))), 8);
}
