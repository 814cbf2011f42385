//! The behaviour every [`Store`] implementation must have.
//!
//! Each check is an `async fn` written against `&dyn Backend`, which only
//! knows how to open a store, so the same checks run unchanged against every
//! implementation. `conformance_suite!` turns the list of checks into one
//! `#[tokio::test]` per check and backend; a backend is a `Backend` impl and
//! one `for_each_check!` line at the bottom of this file.
//!
//! Backends: SQLite in a temp dir; PostgreSQL with one database, and with
//! three databases as three shards. Each PostgreSQL check creates its own
//! fresh databases on the server at `BANTER_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, which `scripts/services-up`
//! starts) and drops them afterwards, so checks run in parallel.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use banter_protocol::limits::{MAX_GROUP_MEMBERS, SEARCH_WINDOW};
use banter_protocol::{
    Content, ConversationId, ConversationKind, DeviceId, Markers, MemberRole, Message, MessageKind, Seq, User, UserId,
};
use banter_store::{
    ChangeRules, ConversationCursor, HistoryRange, NewMessage, NewPushSubscription, PushCapScope, PushSubscriptionCaps, PushTarget,
    SearchOrder, SearchQuery, SearchRequest, SentPage, Store, StoreError, EXPORT_SCAN_CONVERSATIONS, EXPORT_SCAN_SEQS, PAGE_TEXT_BYTES,
};
use tokio::task::JoinSet;

mod support;
use support::{unique, Backend, PgBackend, SqliteBackend};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Who sends: a user and one of their devices.
#[derive(Debug, Clone, Copy)]
struct Sender {
    user: UserId,
    device: DeviceId,
}

async fn user(store: &dyn Store, name: &str) -> User {
    store.create_user(name, "hash", &format!("{name} display"), 1).await.expect("create user")
}

/// Creates `n` users concurrently (one group commit rather than `n`).
async fn users(store: &Arc<dyn Store>, prefix: &str, n: usize) -> Vec<User> {
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let (store, name) = (store.clone(), format!("{prefix}{i:03}"));
        tasks.spawn(async move { store.create_user(&name, "hash", &name, 1).await.expect("create user") });
    }
    let mut users: Vec<User> = tasks.join_all().await;
    users.sort_by_key(|u| u.id);
    users
}

/// A user with one device.
async fn sender(store: &dyn Store, name: &str) -> Sender {
    let user = user(store, name).await;
    let device = device(store, user.id).await;
    Sender { user: user.id, device }
}

async fn device(store: &dyn Store, user_id: UserId) -> DeviceId {
    let token = format!("token-{}", unique());
    store.create_device(user_id, "phone", token.as_bytes(), 1).await.expect("create device").id
}

fn new_message(conversation_id: ConversationId, from: Sender, client_msg_id: &str, text: &str) -> NewMessage {
    NewMessage {
        conversation_id,
        sender_id: from.user,
        sender_device_id: from.device,
        client_msg_id: client_msg_id.to_owned(),
        content: Content::text(text),
        server_ts: 1_000,
        rules: ChangeRules::default(),
    }
}

/// Appends `content` from `from` at `server_ts` with a fresh key.
async fn append(
    store: &dyn Store,
    conversation_id: ConversationId,
    from: Sender,
    content: Content,
    server_ts: i64,
    rules: ChangeRules,
) -> Result<Message, StoreError> {
    let cid = format!("c{}", unique());
    let new = NewMessage { content, server_ts, rules, ..new_message(conversation_id, from, &cid, "") };
    store.append_message(new).await.map(|outcome| outcome.message)
}

async fn send(store: &dyn Store, conversation_id: ConversationId, from: Sender, text: &str) -> Message {
    let cid = format!("c{}", unique());
    store.append_message(new_message(conversation_id, from, &cid, text)).await.expect("append").message
}

/// Sends `n` messages concurrently; returns the seqs assigned.
async fn send_many(store: &Arc<dyn Store>, conversation_id: ConversationId, from: Sender, n: usize) -> Vec<Seq> {
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let store = store.clone();
        tasks.spawn(async move { send(&*store, conversation_id, from, &format!("message {i}")).await.seq });
    }
    let mut seqs = tasks.join_all().await;
    seqs.sort_unstable();
    seqs
}

/// Every message of the conversation, read forward page by page.
async fn read_all(store: &dyn Store, conversation_id: ConversationId, viewer: UserId) -> Vec<Message> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = store.history(conversation_id, viewer, HistoryRange::After(after), 37).await.expect("history");
        if let Some(last) = page.messages.last() {
            after = last.seq;
        }
        all.extend(page.messages);
        if !page.has_more {
            return all;
        }
    }
}

fn seqs(messages: &[Message]) -> Vec<Seq> {
    messages.iter().map(|m| m.seq).collect()
}

// ---------------------------------------------------------------------------
// Accounts and devices
// ---------------------------------------------------------------------------

async fn usernames_are_unique(db: &dyn Backend) {
    let store = db.open().await;
    let alice = store.create_user("alice", "h1", "Alice", 1).await.unwrap();
    let again = store.create_user("alice", "h2", "Other", 2).await;
    assert!(matches!(again, Err(StoreError::UsernameTaken)), "{again:?}");

    let (found, hash) = store.user_credentials("alice").await.unwrap().unwrap();
    assert_eq!((found, hash.as_str()), (alice.clone(), "h1"), "the refused attempt changed nothing");
    assert_eq!(store.user_by_id(alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(store.user_by_username("alice").await.unwrap(), Some(alice.clone()));
    assert_eq!(store.user_by_username("bob").await.unwrap(), None);
    assert!(store.user_credentials("bob").await.unwrap().is_none());
}

async fn display_names_can_be_changed(db: &dyn Backend) {
    let store = db.open().await;
    let alice = user(&*store, "alice").await;
    let renamed = store.update_display_name(alice.id, "Alice B.").await.unwrap();
    assert_eq!(renamed.display_name, "Alice B.");
    assert_eq!(store.user_by_id(alice.id).await.unwrap().unwrap().display_name, "Alice B.");
    let missing = store.update_display_name(alice.id + 1000, "x").await;
    assert!(matches!(missing, Err(StoreError::UserNotFound)), "{missing:?}");
}

async fn device_tokens_authenticate_until_revoked(db: &dyn Backend) {
    let store = db.open().await;
    let alice = user(&*store, "alice").await;
    let mallory = user(&*store, "mallory").await;
    let phone = store.create_device(alice.id, "phone", b"phone-hash", 10).await.unwrap();
    let laptop = store.create_device(alice.id, "laptop", b"laptop-hash", 20).await.unwrap();
    assert_eq!((phone.created_at, phone.last_active_at), (10, 10));

    let auth = store.device_by_token_hash(b"phone-hash").await.unwrap().unwrap();
    assert_eq!((auth.user, auth.device_id), (alice.clone(), phone.id));
    assert_eq!((auth.created_at, auth.last_active_at), (10, 10));
    assert!(store.device_by_token_hash(b"unknown").await.unwrap().is_none());

    store.touch_devices(&[phone.id], 50).await.unwrap();
    let listed = store.list_devices(alice.id).await.unwrap();
    assert_eq!(listed.iter().map(|d| d.id).collect::<Vec<_>>(), vec![phone.id, laptop.id], "oldest first");
    assert_eq!(listed[0].last_active_at, 50);

    let foreign = store.revoke_device(mallory.id, phone.id).await;
    assert!(matches!(foreign, Err(StoreError::DeviceNotFound)), "another user's device: {foreign:?}");
    assert!(store.device_by_token_hash(b"phone-hash").await.unwrap().is_some());

    store.revoke_device(alice.id, laptop.id).await.unwrap();
    assert!(store.device_by_token_hash(b"laptop-hash").await.unwrap().is_none());
    assert!(matches!(store.revoke_device(alice.id, laptop.id).await, Err(StoreError::DeviceNotFound)));
    assert_eq!(store.list_devices(alice.id).await.unwrap().len(), 1);

    // Idempotency keys are per device, so a revoked id must never come back.
    let tablet = store.create_device(alice.id, "tablet", b"tablet-hash", 30).await.unwrap();
    assert!(tablet.id > laptop.id, "device id {} reused (revoked {})", tablet.id, laptop.id);
}

async fn touches_are_batched_only_move_forward_and_ignore_revoked_devices(db: &dyn Backend) {
    let store = db.open().await;
    let alice = user(&*store, "alice").await;
    let phone = store.create_device(alice.id, "phone", b"phone-hash", 10).await.unwrap();
    let laptop = store.create_device(alice.id, "laptop", b"laptop-hash", 20).await.unwrap();
    let gone = store.create_device(alice.id, "old", b"old-hash", 5).await.unwrap();
    store.revoke_device(alice.id, gone.id).await.unwrap();

    store.touch_devices(&[phone.id, laptop.id, gone.id, 999_999], 100).await.unwrap();
    store.touch_devices(&[phone.id], 60).await.unwrap();
    store.touch_devices(&[], 500).await.unwrap();
    let mut found = store.devices_by_id(&[laptop.id, gone.id, phone.id, 999_999]).await.unwrap();
    found.sort_by_key(|d| d.id);
    let seen: Vec<_> = found.iter().map(|d| (d.id, d.name.as_str(), d.created_at, d.last_active_at)).collect();
    assert_eq!(seen, vec![(phone.id, "phone", 10, 100), (laptop.id, "laptop", 20, 100)], "revoked and unknown ids are absent");
    let auth = store.device_by_token_hash(b"phone-hash").await.unwrap().unwrap();
    assert_eq!(auth.last_active_at, 100, "an older touch does not move it back");
    assert!(store.devices_by_id(&[]).await.unwrap().is_empty());
}

async fn expired_devices_are_swept_in_batches_with_their_push_subscriptions(db: &dyn Backend) {
    let store = db.open().await;
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    // Logged in at 100 and 200; used at 100, 900 and 200.
    let old_login = store.create_device(alice.id, "old login", b"a", 100).await.unwrap();
    let idle = store.create_device(alice.id, "idle", b"b", 200).await.unwrap();
    let fresh = store.create_device(bob.id, "fresh", b"c", 200).await.unwrap();
    let busy_but_old = store.create_device(bob.id, "busy", b"d", 100).await.unwrap();
    store.touch_devices(&[old_login.id, fresh.id, busy_but_old.id], 900).await.unwrap();
    let caps = PushSubscriptionCaps { per_device: 5, per_user: 20 };
    let sub = |user_id: UserId, device_id: DeviceId, endpoint: &str| NewPushSubscription {
        user_id,
        device_id,
        target: PushTarget::Web { endpoint: endpoint.to_owned(), p256dh: "key".to_owned(), auth: "auth".to_owned() },
        created_at: 1,
    };
    store.add_push_subscription(sub(alice.id, idle.id, "https://push.example/idle"), caps).await.unwrap();
    store.add_push_subscription(sub(bob.id, fresh.id, "https://push.example/fresh"), caps).await.unwrap();
    let (direct, _) = store.get_or_create_direct(alice.id, bob.id, 1).await.unwrap();

    // Sessions end at login + 800 or at last use + 500: at 1000, "old login"
    // (created 100) and "busy" (created 100) are too old, "idle" (used 200)
    // unused too long; "fresh" lives on.
    let (created_before, active_before) = (1000 - 800, 1000 - 500);
    let first = store.remove_expired_devices(created_before, active_before, 2).await.unwrap();
    assert_eq!(first.len(), 2, "at most the limit per call");
    let rest = store.remove_expired_devices(created_before, active_before, 2).await.unwrap();
    let mut removed: Vec<DeviceId> = first.iter().chain(&rest).map(|d| d.id).collect();
    removed.sort_unstable();
    assert_eq!(removed, vec![old_login.id, idle.id, busy_but_old.id]);
    assert!(store.remove_expired_devices(created_before, active_before, 2).await.unwrap().is_empty());
    assert_eq!(store.list_devices(alice.id).await.unwrap(), vec![]);
    assert_eq!(store.list_devices(bob.id).await.unwrap().iter().map(|d| d.id).collect::<Vec<_>>(), vec![fresh.id]);
    assert!(store.device_by_token_hash(b"b").await.unwrap().is_none(), "the token is gone");
    assert!(store.push_targets(direct, &[alice.id]).await.unwrap().is_empty(), "its push subscription went with it");
    assert_eq!(store.push_targets(direct, &[bob.id]).await.unwrap().len(), 1);
    // The endpoint is free again for another device.
    let bob_sub = sub(bob.id, fresh.id, "https://push.example/idle");
    store.add_push_subscription(bob_sub, caps).await.expect("a removed device's endpoint can be taken");
}

// ---------------------------------------------------------------------------
// Conversations and membership
// ---------------------------------------------------------------------------

async fn direct_conversation_is_unique_per_pair(db: &dyn Backend) {
    let store = db.open().await;
    let a = user(&*store, "alice").await;
    let b = user(&*store, "bob").await;
    let (id, created) = store.get_or_create_direct(a.id, b.id, 5).await.unwrap();
    assert!(created);
    assert_eq!(store.get_or_create_direct(b.id, a.id, 6).await.unwrap(), (id, false));
    assert_eq!(store.get_or_create_direct(a.id, b.id, 7).await.unwrap(), (id, false));

    let view = store.conversation(id, a.id).await.unwrap();
    assert_eq!(view.kind, ConversationKind::Direct);
    assert_eq!((view.name, view.member_count, view.last_seq), (None, 2, 0));
    assert_eq!(view.peer, Some(b.clone()));
    assert_eq!(store.conversation(id, b.id).await.unwrap().peer, Some(a.clone()));
    assert_eq!(store.member_ids(id).await.unwrap(), vec![a.id, b.id]);

    let with_self = store.get_or_create_direct(a.id, a.id, 8).await;
    assert!(matches!(with_self, Err(StoreError::InvalidConversation(_))), "{with_self:?}");
    let unknown = store.get_or_create_direct(a.id, b.id + 1000, 8).await;
    assert!(matches!(unknown, Err(StoreError::UserNotFound)), "{unknown:?}");
}

async fn direct_conversation_is_unique_when_both_sides_ask_at_once(db: &dyn Backend) {
    let store = db.open().await;
    let people = users(&store, "p", 10).await;
    let mut tasks = JoinSet::new();
    for pair in people.chunks(2) {
        let (x, y) = (pair[0].id, pair[1].id);
        for (from, to) in [(x, y), (y, x), (x, y), (y, x)] {
            let store = store.clone();
            tasks.spawn(async move { ((x, y), store.get_or_create_direct(from, to, 1).await.unwrap()) });
        }
    }
    let mut by_pair: HashMap<(UserId, UserId), Vec<(ConversationId, bool)>> = HashMap::new();
    for (pair, outcome) in tasks.join_all().await {
        by_pair.entry(pair).or_default().push(outcome);
    }
    for (pair, outcomes) in by_pair {
        let ids: BTreeSet<_> = outcomes.iter().map(|o| o.0).collect();
        assert_eq!(ids.len(), 1, "pair {pair:?} got several conversations: {outcomes:?}");
        assert_eq!(outcomes.iter().filter(|o| o.1).count(), 1, "pair {pair:?}: exactly one creation");
    }
}

/// Many new direct conversations at once, more than the store has
/// database connections (8 on PostgreSQL here): each is created, none
/// waits on the pool for ever. (The block flag's refresh once took a
/// second connection while holding one, and they all timed out.)
async fn many_direct_conversations_are_created_at_once(db: &dyn Backend) {
    let store = db.open().await;
    let people = users(&store, "d", 48).await;
    let mut tasks = JoinSet::new();
    for pair in people.windows(2) {
        let (x, y) = (pair[0].id, pair[1].id);
        let store = store.clone();
        tasks.spawn(async move { store.get_or_create_direct(x, y, 1).await });
    }
    let outcomes = tasks.join_all().await;
    assert_eq!(outcomes.len(), 47);
    for outcome in outcomes {
        assert!(matches!(outcome, Ok((_, true))), "{outcome:?}");
    }
}

/// Adds to many groups at once: each add holds its group's transaction,
/// so nothing it reads may need a second connection of the same pool (on
/// one shard the accounts are in it), or as many adds as the pool has
/// connections deadlock until the acquire timeout.
async fn members_are_added_to_many_groups_at_once(db: &dyn Backend) {
    let store = db.open().await;
    let people = users(&store, "g", 48).await;
    let mut groups = Vec::new();
    for pair in people.windows(2) {
        groups.push((store.create_group(pair[0].id, "g", &[], 1).await.unwrap(), pair[0].id, pair[1].id));
    }
    let mut tasks = JoinSet::new();
    for (group, admin, added) in groups {
        let store = store.clone();
        tasks.spawn(async move { store.add_members(group, admin, &[added], 2).await });
    }
    let outcomes = tasks.join_all().await;
    assert_eq!(outcomes.len(), 47);
    for outcome in outcomes {
        assert!(outcome.is_ok(), "{outcome:?}");
    }
}

async fn group_of_exactly_the_limit_is_allowed_and_one_more_is_refused(db: &dyn Backend) {
    let store = db.open().await;
    let people = users(&store, "u", MAX_GROUP_MEMBERS + 1).await;
    let creator = people[0].id;
    let others: Vec<UserId> = people[1..].iter().map(|u| u.id).collect();

    let full = store.create_group(creator, "full", &others[..MAX_GROUP_MEMBERS - 1], 1).await.unwrap();
    assert_eq!(store.conversation(full, creator).await.unwrap().member_count, MAX_GROUP_MEMBERS as i64);
    assert_eq!(store.member_ids(full).await.unwrap().len(), MAX_GROUP_MEMBERS);

    let too_big = store.create_group(creator, "too big", &others, 1).await;
    assert!(matches!(too_big, Err(StoreError::GroupFull { would_have: 101, limit: 100 })), "{too_big:?}");
    assert_eq!(store.list_conversations(creator).await.unwrap().len(), 1, "the refused group was not created");
}

async fn group_members_are_deduplicated_and_the_creator_is_admin(db: &dyn Backend) {
    let store = db.open().await;
    let a = user(&*store, "alice").await;
    let b = user(&*store, "bob").await;
    let group = store.create_group(a.id, "team", &[b.id, b.id, a.id], 3).await.unwrap();
    let view = store.conversation(group, a.id).await.unwrap();
    assert_eq!(
        (view.kind, view.name.as_deref(), view.member_count, view.peer),
        (ConversationKind::Group, Some("team"), 2, None)
    );
    assert_eq!(store.membership(group, a.id).await.unwrap(), Some(MemberRole::Admin));
    assert_eq!(store.membership(group, b.id).await.unwrap(), Some(MemberRole::Member));
    let members = store.members(group, b.id).await.unwrap();
    assert_eq!(members.len(), 2);
    assert!(members.iter().all(|m| m.joined_at == 3));

    let unknown = store.create_group(a.id, "ghosts", &[b.id, 999_999], 3).await;
    assert!(matches!(unknown, Err(StoreError::UserNotFound)), "{unknown:?}");
    assert_eq!(store.list_conversations(a.id).await.unwrap().len(), 1);
}

async fn adding_beyond_the_limit_is_refused_and_changes_nothing(db: &dyn Backend) {
    let store = db.open().await;
    let people = users(&store, "u", MAX_GROUP_MEMBERS + 2).await;
    let ids: Vec<UserId> = people.iter().map(|u| u.id).collect();
    let admin = ids[0];
    // 98 members: the admin and 97 others.
    let group = store.create_group(admin, "g", &ids[1..98], 1).await.unwrap();

    let refused = store.add_members(group, admin, &ids[98..101], 2).await;
    assert!(matches!(refused, Err(StoreError::GroupFull { would_have: 101, limit: 100 })), "{refused:?}");
    assert_eq!(store.member_ids(group).await.unwrap().len(), 98, "all or nothing");
    assert_eq!(store.conversation(group, admin).await.unwrap().member_count, 98);

    let change = store.add_members(group, admin, &ids[98..100], 2).await.unwrap();
    assert_eq!(change.changed_user_ids, ids[98..100].to_vec());
    assert_eq!(change.member_ids.len(), 100);
    let one_more = store.add_members(group, admin, &ids[100..101], 3).await;
    assert!(matches!(one_more, Err(StoreError::GroupFull { would_have: 101, .. })), "{one_more:?}");
    assert_eq!(store.conversation(group, admin).await.unwrap().member_count, 100);
}

async fn add_members_is_all_or_nothing(db: &dyn Backend) {
    let store = db.open().await;
    let people = users(&store, "u", 5).await;
    let [admin, m, x, y, z] = [people[0].id, people[1].id, people[2].id, people[3].id, people[4].id];
    let group = store.create_group(admin, "g", &[m], 1).await.unwrap();

    let already = store.add_members(group, admin, &[x, m, y], 2).await;
    assert!(matches!(already, Err(StoreError::AlreadyMember(id)) if id == m), "{already:?}");
    let missing = store.add_members(group, admin, &[x, 999_999], 2).await;
    assert!(matches!(missing, Err(StoreError::UserNotFound)), "{missing:?}");
    assert_eq!(store.member_ids(group).await.unwrap(), vec![admin, m]);

    let change = store.add_members(group, admin, &[z, x, z], 2).await.unwrap();
    assert_eq!(change.changed_user_ids, vec![z, x]);
    assert_eq!(change.member_ids, vec![admin, m, x, z]);
    assert_eq!(store.conversation(group, x).await.unwrap().member_count, 4);
}

async fn only_admins_add_or_remove_others(db: &dyn Backend) {
    let store = db.open().await;
    let people = users(&store, "u", 5).await;
    let [admin, m1, m2, outsider, newcomer] = [people[0].id, people[1].id, people[2].id, people[3].id, people[4].id];
    let group = store.create_group(admin, "g", &[m1, m2], 1).await.unwrap();

    assert!(matches!(store.add_members(group, m1, &[newcomer], 2).await, Err(StoreError::NotAdmin)));
    assert!(matches!(store.remove_member(group, m1, m2).await, Err(StoreError::NotAdmin)));
    assert!(matches!(store.add_members(group, outsider, &[newcomer], 2).await, Err(StoreError::NotAMember)));
    assert!(matches!(store.remove_member(group, outsider, m1).await, Err(StoreError::NotAMember)));
    assert!(matches!(store.add_members(987_654, admin, &[newcomer], 2).await, Err(StoreError::NotAMember)));
    assert_eq!(store.member_ids(group).await.unwrap(), vec![admin, m1, m2]);

    store.add_members(group, admin, &[newcomer], 2).await.unwrap();
    let change = store.remove_member(group, admin, m2).await.unwrap();
    assert_eq!(change.changed_user_ids, vec![m2]);
    assert_eq!(change.member_ids, vec![admin, m1, newcomer]);
    assert!(matches!(store.history(group, m2, HistoryRange::Latest, 10).await, Err(StoreError::NotAMember)));
    assert!(matches!(store.remove_member(group, admin, m2).await, Err(StoreError::NotAMember)), "target gone");

    let (direct, _) = store.get_or_create_direct(admin, m1, 1).await.unwrap();
    let add = store.add_members(direct, admin, &[m2], 2).await;
    assert!(matches!(add, Err(StoreError::InvalidConversation(_))), "{add:?}");
    let remove = store.remove_member(direct, admin, admin).await;
    assert!(matches!(remove, Err(StoreError::InvalidConversation(_))), "{remove:?}");
}

async fn members_may_leave(db: &dyn Backend) {
    let store = db.open().await;
    let people = users(&store, "u", 3).await;
    let [admin, m1, m2] = [people[0].id, people[1].id, people[2].id];
    let group = store.create_group(admin, "g", &[m1, m2], 1).await.unwrap();

    let change = store.remove_member(group, m1, m1).await.unwrap();
    assert_eq!((change.changed_user_ids, change.member_ids), (vec![m1], vec![admin, m2]));
    assert_eq!(store.membership(group, m1).await.unwrap(), None);
    assert_eq!(store.conversation(group, admin).await.unwrap().member_count, 2);
    assert!(store.list_conversations(m1).await.unwrap().is_empty());
    assert_eq!(store.membership(group, admin).await.unwrap(), Some(MemberRole::Admin), "no promotion needed");
}

async fn last_admin_leaving_promotes_the_longest_standing_member(db: &dyn Backend) {
    let store = db.open().await;
    let people = users(&store, "u", 3).await;
    // `early` has the larger user id but joined first: join time decides.
    let [admin, late, early] = [people[0].id, people[1].id, people[2].id];
    let group = store.create_group(admin, "g", &[early], 100).await.unwrap();
    store.add_members(group, admin, &[late], 200).await.unwrap();

    store.remove_member(group, admin, admin).await.unwrap();
    assert_eq!(store.membership(group, early).await.unwrap(), Some(MemberRole::Admin));
    assert_eq!(store.membership(group, late).await.unwrap(), Some(MemberRole::Member));
    let members = store.members(group, late).await.unwrap();
    assert_eq!(members.iter().map(|m| m.user.id).collect::<Vec<_>>(), vec![early, late], "oldest member first");

    // The new admin can act as one.
    store.remove_member(group, early, late).await.unwrap();
    assert_eq!(store.member_ids(group).await.unwrap(), vec![early]);
}

async fn conversations_are_listed_by_most_recent_activity(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = user(&*store, "bob").await;
    let c = user(&*store, "carol").await;
    let first = store.create_group(a.user, "first", &[b.id], 10).await.unwrap();
    let second = store.create_group(a.user, "second", &[], 20).await.unwrap();
    let third = store.create_group(a.user, "third", &[c.id], 30).await.unwrap();
    let mut late = new_message(first, a, "late", "hello");
    late.server_ts = 40;
    store.append_message(late).await.unwrap();

    let listed: Vec<_> = store.list_conversations(a.user).await.unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(listed, vec![first, third, second]);
    let bobs: Vec<_> = store.list_conversations(b.id).await.unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(bobs, vec![first], "only conversations bob is a member of");
    let view = store.conversation(first, b.id).await.unwrap();
    assert_eq!(view.last_message.map(|m| m.text), Some("hello".to_owned()));
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

async fn append_assigns_seqs_1_2_3_in_order(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = user(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.id, 1).await.unwrap();
    for expected in 1..=3 {
        let outcome = store.append_message(new_message(conv, a, &format!("m{expected}"), "hi")).await.unwrap();
        assert_eq!(outcome.message.seq, expected);
        assert!(!outcome.duplicate);
        assert_eq!(outcome.member_ids, vec![a.user, b.id], "fan-out list includes the sender");
    }
    let view = store.conversation(conv, b.id).await.unwrap();
    assert_eq!(view.last_seq, 3);
    assert_eq!(view.last_message.map(|m| (m.seq, m.client_msg_id)), Some((3, "m3".to_owned())));
}

async fn concurrent_appends_get_exactly_seqs_1_to_400(db: &dyn Backend) {
    let store = db.open().await;
    let mut senders = Vec::new();
    for i in 0..8 {
        senders.push(sender(&*store, &format!("user{i}")).await);
    }
    let others: Vec<UserId> = senders[1..].iter().map(|s| s.user).collect();
    let group = store.create_group(senders[0].user, "busy", &others, 1).await.unwrap();

    let mut tasks = JoinSet::new();
    for from in senders.clone() {
        let store = store.clone();
        tasks.spawn(async move {
            let mut mine = Vec::new();
            for i in 0..50 {
                let outcome = store.append_message(new_message(group, from, &format!("m{i}"), "x")).await.unwrap();
                mine.push(outcome.message.seq);
            }
            mine
        });
    }
    let mut all = Vec::new();
    for mine in tasks.join_all().await {
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "one sender's messages keep their order: {mine:?}");
        all.extend(mine);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=400).collect::<Vec<_>>());
    assert_eq!(seqs(&read_all(&*store, group, senders[0].user).await), (1..=400).collect::<Vec<_>>());
    assert_eq!(store.conversation(group, senders[3].user).await.unwrap().last_seq, 400);
}

async fn retried_append_returns_the_original_and_stores_nothing(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = user(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.id, 1).await.unwrap();
    let first = store.append_message(new_message(conv, a, "abc-123", "original")).await.unwrap();
    send(&*store, conv, a, "another").await;

    let retry = store.append_message(new_message(conv, a, "abc-123", "original")).await.unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.message, first.message, "the original comes back, text included");
    assert_eq!(retry.member_ids, vec![a.user, b.id]);
    assert_eq!(store.conversation(conv, a.user).await.unwrap().last_seq, 2);
    assert_eq!(read_all(&*store, conv, b.id).await.len(), 2);

    // The key is per device: another device may use the same id.
    let other_device = Sender { user: a.user, device: device(&*store, a.user).await };
    let fresh = store.append_message(new_message(conv, other_device, "abc-123", "new")).await.unwrap();
    assert!(!fresh.duplicate);
    assert_eq!(fresh.message.seq, 3);
}

async fn a_client_msg_id_reused_for_another_message_is_refused(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = user(&*store, "bob").await;
    // Groups go round-robin over shards: with several, these are on
    // different ones, and the rule must hold across them.
    let groups = [
        store.create_group(a.user, "one", &[b.id], 1).await.unwrap(),
        store.create_group(a.user, "two", &[b.id], 1).await.unwrap(),
        store.create_group(a.user, "three", &[b.id], 1).await.unwrap(),
    ];
    let first = store.append_message(new_message(groups[0], a, "key-1", "hello")).await.unwrap();

    for other in &groups[1..] {
        let elsewhere = store.append_message(new_message(*other, a, "key-1", "hello")).await;
        assert!(matches!(elsewhere, Err(StoreError::ClientMsgIdReused)), "another conversation: {elsewhere:?}");
        assert_eq!(store.conversation(*other, a.user).await.unwrap().last_seq, 0, "nothing stored there");
    }
    let changed = store.append_message(new_message(groups[0], a, "key-1", "hello, edited")).await;
    assert!(matches!(changed, Err(StoreError::ClientMsgIdReused)), "another text: {changed:?}");
    assert_eq!(read_all(&*store, groups[0], b.id).await, vec![first.message.clone()], "the original is kept");

    let retry = store.append_message(new_message(groups[0], a, "key-1", "hello")).await.unwrap();
    assert!(retry.duplicate, "an exact retry is a duplicate");
    assert_eq!(retry.message, first.message);

    // Within one batch too: the same key for two different messages at once.
    let (x, y) = tokio::join!(
        store.append_message(new_message(groups[1], a, "key-2", "x")),
        store.append_message(new_message(groups[1], a, "key-2", "y")),
    );
    let stored = [&x, &y].iter().filter(|r| matches!(r, Ok(o) if !o.duplicate)).count();
    let refused = [&x, &y].iter().filter(|r| matches!(r, Err(StoreError::ClientMsgIdReused))).count();
    assert_eq!((stored, refused), (1, 1), "{x:?} {y:?}");
    assert_eq!(store.conversation(groups[1], a.user).await.unwrap().last_seq, 1);
}

async fn concurrent_retries_store_one_message(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = user(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.id, 1).await.unwrap();
    let mut tasks = JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.spawn(async move { store.append_message(new_message(conv, a, "same", "hi")).await.unwrap() });
    }
    let outcomes = tasks.join_all().await;
    assert!(outcomes.iter().all(|o| o.message.seq == 1));
    assert_eq!(outcomes.iter().filter(|o| !o.duplicate).count(), 1);
    assert_eq!(store.conversation(conv, a.user).await.unwrap().last_seq, 1);
}

async fn non_members_cannot_append_read_mark_or_mute(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let outsider = sender(&*store, "eve").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.user, 1).await.unwrap();
    send(&*store, conv, a, "private").await;

    let append = store.append_message(new_message(conv, outsider, "x", "let me in")).await;
    assert!(matches!(append, Err(StoreError::NotAMember)), "{append:?}");
    let nowhere = store.append_message(new_message(123_456, a, "y", "void")).await;
    assert!(matches!(nowhere, Err(StoreError::NotAMember)), "a missing conversation looks the same: {nowhere:?}");
    for range in [HistoryRange::Latest, HistoryRange::Before(10), HistoryRange::After(0)] {
        assert!(matches!(store.history(conv, outsider.user, range, 10).await, Err(StoreError::NotAMember)));
    }
    assert!(matches!(store.mark_read(conv, outsider.user, 1).await, Err(StoreError::NotAMember)));
    assert!(matches!(store.mark_delivered(conv, outsider.user, 1).await, Err(StoreError::NotAMember)));
    assert!(matches!(store.message_receipts(conv, outsider.user, 1).await, Err(StoreError::NotAMember)));
    assert!(matches!(store.set_muted(conv, outsider.user, true).await, Err(StoreError::NotAMember)));
    assert!(store.push_targets(conv, &[outsider.user]).await.unwrap().is_empty());
    assert!(matches!(store.conversation(conv, outsider.user).await, Err(StoreError::NotAMember)));
    assert!(matches!(store.members(conv, outsider.user).await, Err(StoreError::NotAMember)));
    assert!(store.sync(outsider.user, &[], 100).await.unwrap().messages.is_empty());
    assert_eq!(store.membership(conv, outsider.user).await.unwrap(), None);
    assert_eq!(store.conversation(conv, a.user).await.unwrap().last_seq, 1, "nothing was stored");
}

async fn a_removed_member_cannot_replay_an_old_send(db: &dyn Backend) {
    let store = db.open().await;
    let admin = sender(&*store, "admin").await;
    let m = sender(&*store, "member").await;
    let group = store.create_group(admin.user, "g", &[m.user], 1).await.unwrap();
    store.append_message(new_message(group, m, "k1", "before")).await.unwrap();
    store.remove_member(group, admin.user, m.user).await.unwrap();
    let replay = store.append_message(new_message(group, m, "k1", "before")).await;
    assert!(matches!(replay, Err(StoreError::NotAMember)), "{replay:?}");
}

async fn history_pages_walk_250_messages_without_gap_or_overlap(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = user(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.id, 1).await.unwrap();

    let empty = store.history(conv, b.id, HistoryRange::Latest, 100).await.unwrap();
    assert!(empty.messages.is_empty() && !empty.has_more);

    assert_eq!(send_many(&store, conv, a, 250).await, (1..=250).collect::<Vec<_>>());

    // Backwards from the newest.
    let mut page = store.history(conv, b.id, HistoryRange::Latest, 100).await.unwrap();
    let mut pages = vec![(seqs(&page.messages), page.has_more)];
    let mut chunks = vec![page.messages.clone()];
    while page.has_more {
        let oldest = page.messages[0].seq;
        page = store.history(conv, b.id, HistoryRange::Before(oldest), 100).await.unwrap();
        pages.push((seqs(&page.messages), page.has_more));
        chunks.push(page.messages.clone());
    }
    let backwards: Vec<Message> = chunks.into_iter().rev().flatten().collect();
    assert_eq!(pages, vec![((151..=250).collect(), true), ((51..=150).collect(), true), ((1..=50).collect(), false),]);

    // Forwards from the start.
    let mut forwards = Vec::new();
    let mut after = 0;
    let mut forward_pages = Vec::new();
    loop {
        let page = store.history(conv, b.id, HistoryRange::After(after), 100).await.unwrap();
        forward_pages.push((seqs(&page.messages), page.has_more));
        after = page.messages.last().map_or(after, |m| m.seq);
        forwards.extend(page.messages);
        if !forward_pages.last().unwrap().1 {
            break;
        }
    }
    assert_eq!(
        forward_pages,
        vec![((1..=100).collect(), true), ((101..=200).collect(), true), ((201..=250).collect(), false),]
    );
    assert_eq!(forwards, backwards, "both walks see the same 250 messages");

    let exact = store.history(conv, b.id, HistoryRange::After(150), 100).await.unwrap();
    assert_eq!((exact.messages.len(), exact.has_more), (100, false), "a page that ends exactly at the newest");
    let beyond = store.history(conv, b.id, HistoryRange::After(250), 100).await.unwrap();
    assert!(beyond.messages.is_empty() && !beyond.has_more);
    let before_first = store.history(conv, b.id, HistoryRange::Before(1), 100).await.unwrap();
    assert!(before_first.messages.is_empty() && !before_first.has_more);
}

async fn sync_pages_through_three_conversations_exactly_once(db: &dyn Backend) {
    let store = db.open().await;
    let me = sender(&*store, "me").await;
    let friend = sender(&*store, "friend").await;
    let stranger = sender(&*store, "stranger").await;
    let c1 = store.create_group(friend.user, "one", &[me.user], 1).await.unwrap();
    let c2 = store.create_group(friend.user, "two", &[me.user], 1).await.unwrap();
    let c3 = store.create_group(friend.user, "three", &[me.user], 1).await.unwrap();
    let not_mine = store.create_group(stranger.user, "not mine", &[friend.user], 1).await.unwrap();
    send_many(&store, c1, friend, 30).await;
    send_many(&store, c2, friend, 5).await;
    send_many(&store, c3, friend, 70).await;
    send_many(&store, not_mine, stranger, 10).await;

    // The device holds c1 up to 10 and c3 up to 50; c2 is new to it.
    let mut cursors =
        vec![ConversationCursor { conversation_id: c1, seq: 10 }, ConversationCursor { conversation_id: c3, seq: 50 }];
    let mut received: Vec<(ConversationId, Seq)> = Vec::new();
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds < 50, "sync does not terminate");
        let page = store.sync(me.user, &cursors, 7).await.unwrap();
        assert!(page.messages.len() <= 7);
        for m in &page.messages {
            received.push((m.conversation_id, m.seq));
            match cursors.iter_mut().find(|c| c.conversation_id == m.conversation_id) {
                Some(cursor) => cursor.seq = m.seq,
                None => cursors.push(ConversationCursor { conversation_id: m.conversation_id, seq: m.seq }),
            }
        }
        if !page.has_more {
            break;
        }
    }
    let expected: Vec<(ConversationId, Seq)> =
        (11..=30).map(|s| (c1, s)).chain((1..=5).map(|s| (c2, s))).chain((51..=70).map(|s| (c3, s))).collect();
    assert_eq!(received, expected, "every missing message once, in (conversation, seq) order");
    assert!(store.sync(me.user, &cursors, 7).await.unwrap().messages.is_empty());

    // One big page gets everything and says so.
    let all = store.sync(me.user, &[], 200).await.unwrap();
    assert_eq!((all.messages.len(), all.has_more), (105, false));
    let exact = store.sync(me.user, &[], 105).await.unwrap();
    assert_eq!((exact.messages.len(), exact.has_more), (105, false));
    let short = store.sync(me.user, &[], 104).await.unwrap();
    assert_eq!((short.messages.len(), short.has_more), (104, true));
}

/// Text sizes (bytes) for the large-message checks: pages end by bytes long
/// before the 200-message limit. One message alone is over the budget, and
/// one is multibyte (bytes, not characters, are counted).
fn large_text(i: usize) -> String {
    match i % 5 {
        _ if i == 6 => "x".repeat(PAGE_TEXT_BYTES + 1),
        0 => "x".repeat(400_000),
        1 => "é".repeat(150_000),
        2 => "x".repeat(10),
        3 => "x".repeat(250_000),
        _ => "x".repeat(330_000),
    }
}

fn text_bytes(messages: &[Message]) -> usize {
    messages.iter().map(|m| m.text.len()).sum()
}

/// A page over large messages: within the byte budget (or a single
/// message), and as full as the budget allows: had it taken the `next`
/// message in reading order too, it would be over.
fn assert_page_is_one_budget(page: &[Message], next: Option<&Message>, has_more: bool) {
    assert!(!page.is_empty());
    assert!(page.len() == 1 || text_bytes(page) <= PAGE_TEXT_BYTES, "page of {} bytes", text_bytes(page));
    assert_eq!(has_more, next.is_some(), "has_more says whether a next message exists");
    if let Some(next) = next {
        assert!(text_bytes(page) + next.text.len() > PAGE_TEXT_BYTES, "the page ended early: the next message fit");
    }
}

async fn history_pages_over_large_messages_hold_one_budget_and_stay_contiguous(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = user(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.id, 1).await.unwrap();
    let mut sent = Vec::new();
    for i in 0..20 {
        sent.push(send(&*store, conv, a, &large_text(i)).await);
    }

    // Backwards from the newest: each page ends at the newest message not
    // yet seen, and is followed (older) by the one just before it.
    let mut upto = sent.len();
    let mut range = HistoryRange::Latest;
    let mut pages = 0;
    while upto > 0 {
        let page = store.history(conv, b.id, range, 200).await.unwrap();
        let from = upto - page.messages.len();
        assert_eq!(seqs(&page.messages), seqs(&sent[from..upto]), "contiguous with the cursor, ascending");
        assert_eq!(page.messages, sent[from..upto], "whole texts");
        assert_page_is_one_budget(&page.messages, from.checked_sub(1).map(|i| &sent[i]), page.has_more);
        upto = from;
        range = HistoryRange::Before(page.messages[0].seq);
        pages += 1;
    }
    assert!(pages >= 6, "about 5 MB of text in 1 MiB pages: {pages}");

    // Forwards from the start.
    let mut from = 0;
    while from < sent.len() {
        let after = if from == 0 { 0 } else { sent[from - 1].seq };
        let page = store.history(conv, b.id, HistoryRange::After(after), 200).await.unwrap();
        let upto = from + page.messages.len();
        assert_eq!(page.messages, sent[from..upto]);
        assert_page_is_one_budget(&page.messages, sent.get(upto), page.has_more);
        from = upto;
    }

    // The message limit still applies first when it is smaller.
    let two = store.history(conv, b.id, HistoryRange::After(0), 2).await.unwrap();
    assert_eq!((seqs(&two.messages), two.has_more), (vec![1, 2], true));
}

async fn sync_over_large_messages_holds_one_budget_across_conversations(db: &dyn Backend) {
    let store = db.open().await;
    let me = sender(&*store, "me").await;
    let friend = sender(&*store, "friend").await;
    let mut expected = Vec::new();
    // Three groups (on three shards when sharded), each with big messages.
    for (g, count) in [(0, 6), (1, 2), (2, 7)] {
        let conv = store.create_group(friend.user, &format!("group {g}"), &[me.user], 1).await.unwrap();
        for i in 0..count {
            expected.push(send(&*store, conv, friend, &large_text(i + g * 3)).await);
        }
    }
    expected.sort_by_key(|m| (m.conversation_id, m.seq));

    let mut cursors: Vec<ConversationCursor> = Vec::new();
    let mut received = 0;
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds < 50, "sync does not terminate");
        let page = store.sync(me.user, &cursors, 200).await.unwrap();
        let upto = received + page.messages.len();
        assert_eq!(page.messages, expected[received..upto], "every missing message once, in order");
        assert_page_is_one_budget(&page.messages, expected.get(upto), page.has_more);
        for m in &page.messages {
            match cursors.iter_mut().find(|c| c.conversation_id == m.conversation_id) {
                Some(cursor) => cursor.seq = m.seq,
                None => cursors.push(ConversationCursor { conversation_id: m.conversation_id, seq: m.seq }),
            }
        }
        received = upto;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(received, expected.len());
    assert!(rounds >= 5, "about 4 MB of text in 1 MiB pages: {rounds}");
}

async fn read_marker_never_moves_back_and_is_clamped(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = user(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.id, 1).await.unwrap();
    let read = |seq| {
        let store = store.clone();
        async move { store.mark_read(conv, b.id, seq).await.unwrap().markers.read_seq }
    };
    assert_eq!(read(5).await, 0, "nothing to read yet");
    send_many(&store, conv, a, 5).await;

    assert_eq!(read(3).await, 3);
    assert_eq!(read(2).await, 3, "never backwards");
    assert_eq!(read(-1).await, 3);
    let view = store.conversation(conv, b.id).await.unwrap();
    assert_eq!((view.read_seq, view.unread_count), (3, 2));
    assert_eq!(read(1_000).await, 5, "clamped to the last seq");
    let view = store.conversation(conv, b.id).await.unwrap();
    assert_eq!((view.read_seq, view.unread_count), (5, 0));
}

async fn unread_count_counts_only_other_peoples_messages(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.user, 1).await.unwrap();
    send(&*store, conv, a, "1").await;
    send(&*store, conv, a, "2").await;
    for text in ["3", "4", "5"] {
        send(&*store, conv, b, text).await;
    }
    let for_a = store.conversation(conv, a.user).await.unwrap();
    assert_eq!((for_a.read_seq, for_a.unread_count), (2, 3));
    let for_b = store.conversation(conv, b.user).await.unwrap();
    assert_eq!((for_b.read_seq, for_b.unread_count), (5, 0), "sending marks everything before it read");

    send(&*store, conv, a, "6").await;
    assert_eq!(store.conversation(conv, a.user).await.unwrap().unread_count, 0);
    let listed = store.list_conversations(b.user).await.unwrap();
    assert_eq!(listed[0].unread_count, 1);
}

// ---------------------------------------------------------------------------
// Replies, edits and deletes
// ---------------------------------------------------------------------------

async fn a_reply_names_an_earlier_text_message_of_the_same_conversation(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let c = sender(&*store, "carol").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.user, 1).await.unwrap();
    let (other, _) = store.get_or_create_direct(a.user, c.user, 1).await.unwrap();
    for text in ["1", "2", "3"] {
        send(&*store, other, a, text).await;
    }
    let first = send(&*store, conv, a, "first").await;
    let rules = ChangeRules::default();
    let reply = Content::Text { text: "re".into(), reply_to: Some(first.seq) };
    let stored = append(&*store, conv, b, reply, 2_000, rules).await.unwrap();
    assert_eq!((stored.seq, stored.reply_to, stored.kind), (2, Some(1), MessageKind::Text));
    let edit = append(&*store, conv, a, Content::Edit { target: 1, text: "first!".into() }, 2_000, rules).await.unwrap();
    for bad in [0, -1, 3, 99, edit.seq] {
        let reply = Content::Text { text: "re".into(), reply_to: Some(bad) };
        let refused = append(&*store, conv, b, reply, 2_000, rules).await;
        assert!(matches!(refused, Err(StoreError::InvalidReply)), "reply_to {bad}: {refused:?}");
    }
    let history = read_all(&*store, conv, b.user).await;
    assert_eq!(history.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2, 3], "refusals store nothing");
    assert_eq!(history[1].reply_to, Some(1));
}

async fn an_edit_is_an_entry_of_its_own_and_changes_the_message_everywhere(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.user, 1).await.unwrap();
    let original = send(&*store, conv, a, "helo").await;
    store.mark_read(conv, b.user, original.seq).await.unwrap();
    let rules = ChangeRules::default();
    let edit = append(&*store, conv, a, Content::Edit { target: 1, text: "hello".into() }, 5_000, rules).await.unwrap();
    assert_eq!((edit.seq, edit.kind, edit.target_seq, edit.text.as_str()), (2, MessageKind::Edit, Some(1), "hello"));

    let history = read_all(&*store, conv, b.user).await;
    assert_eq!(history.len(), 2);
    assert_eq!((history[0].text.as_str(), history[0].edited_at), ("hello", Some(5_000)), "history shows the edit");
    assert_eq!(history[1], edit);
    // A device that held seq 1 gets the change by catching up from its cursor.
    let page = store.sync(b.user, &[ConversationCursor { conversation_id: conv, seq: 1 }], 50).await.unwrap();
    assert_eq!(page.messages, vec![edit.clone()]);
    // The change is not unread, and the list shows the message as edited.
    let for_b = store.conversation(conv, b.user).await.unwrap();
    assert_eq!((for_b.last_seq, for_b.unread_count), (2, 0));
    let last = for_b.last_message.expect("a last message");
    assert_eq!((last.seq, last.text.as_str(), last.edited_at), (1, "hello", Some(5_000)));
    // Unread messages after the marker still count, the changes among them not.
    send(&*store, conv, a, "two").await;
    append(&*store, conv, a, Content::Edit { target: 3, text: "2".into() }, 6_000, rules).await.unwrap();
    let listed = store.list_conversations(b.user).await.unwrap();
    assert_eq!((listed[0].last_seq, listed[0].unread_count), (4, 1));
    assert_eq!(listed[0].last_message.as_ref().map(|m| m.text.as_str()), Some("2"));
}

async fn only_the_sender_changes_a_message_and_a_delete_leaves_a_tombstone(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.user, 1).await.unwrap();
    send(&*store, conv, a, "secret").await;
    let rules = ChangeRules::default();
    let edit = |text: &str| Content::Edit { target: 1, text: text.into() };
    let by_bob = append(&*store, conv, b, edit("mine now"), 2_000, rules).await;
    assert!(matches!(by_bob, Err(StoreError::NotYourMessage)), "{by_bob:?}");
    let by_bob = append(&*store, conv, b, Content::Delete { target: 1 }, 2_000, rules).await;
    assert!(matches!(by_bob, Err(StoreError::NotYourMessage)), "{by_bob:?}");
    let missing = append(&*store, conv, a, Content::Delete { target: 7 }, 2_000, rules).await;
    assert!(matches!(missing, Err(StoreError::MessageNotFound)), "{missing:?}");
    append(&*store, conv, a, edit("still secret"), 2_000, rules).await.unwrap();

    let key = format!("c{}", unique());
    let delete = NewMessage { content: Content::Delete { target: 1 }, server_ts: 3_000, ..new_message(conv, a, &key, "") };
    let deleted = store.append_message(delete.clone()).await.unwrap();
    assert_eq!((deleted.message.seq, deleted.message.kind, deleted.duplicate), (3, MessageKind::Delete, false));
    let retry = store.append_message(delete).await.unwrap();
    assert_eq!((retry.message.seq, retry.duplicate), (3, true), "a retried delete stores nothing");

    let history = read_all(&*store, conv, a.user).await;
    assert_eq!(history.len(), 3);
    assert!(history[0].deleted && history[0].text.is_empty(), "the message is a tombstone: {:?}", history[0]);
    assert!(history[1].deleted && history[1].text.is_empty(), "its edit keeps no text either: {:?}", history[1]);
    assert!(history.iter().all(|m| !m.text.contains("secret")));
    for again in [edit("back"), Content::Delete { target: 1 }] {
        let refused = append(&*store, conv, a, again, 4_000, rules).await;
        assert!(matches!(refused, Err(StoreError::MessageDeleted)), "{refused:?}");
    }
    let reply = append(&*store, conv, b, Content::Text { text: "what was it?".into(), reply_to: Some(1) }, 4_000, rules).await;
    assert_eq!(reply.unwrap().reply_to, Some(1), "a tombstone may still be replied to");
}

async fn edits_are_held_to_the_window_and_the_count_also_when_concurrent(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.user, 1).await.unwrap();
    send(&*store, conv, a, "v0").await; // server_ts 1_000
    let rules = ChangeRules { edit_window_ms: 10_000, delete_window_ms: 20_000, max_edits: 5 };
    let late = append(&*store, conv, a, Content::Edit { target: 1, text: "late".into() }, 11_001, rules).await;
    assert!(matches!(late, Err(StoreError::EditWindowClosed(_))), "{late:?}");
    // Twenty edits at once: exactly five are stored, whichever they are,
    // and the seqs stay dense.
    let mut tasks = JoinSet::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.spawn(async move {
            append(&*store, conv, a, Content::Edit { target: 1, text: format!("v{}", i + 1) }, 2_000, rules).await
        });
    }
    let results = tasks.join_all().await;
    let stored: Vec<&Message> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(stored.len(), 5, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok() || matches!(r, Err(StoreError::TooManyEdits(5)))), "{results:?}");
    let history = read_all(&*store, conv, a.user).await;
    assert_eq!(history.iter().map(|m| m.seq).collect::<Vec<_>>(), (1..=6).collect::<Vec<_>>());
    assert_eq!(history[0].text, history[5].text, "the message reads as its last edit");
    let too_late = append(&*store, conv, a, Content::Delete { target: 1 }, 21_001, rules).await;
    assert!(matches!(too_late, Err(StoreError::EditWindowClosed(_))), "{too_late:?}");
    append(&*store, conv, a, Content::Delete { target: 1 }, 21_000, rules).await.unwrap();
}

// ---------------------------------------------------------------------------
// Durability and data fidelity
// ---------------------------------------------------------------------------

async fn everything_survives_close_and_reopen(db: &dyn Backend) {
    let (a, b, conv, group);
    {
        let store = db.open().await;
        a = sender(&*store, "alice").await;
        b = sender(&*store, "bob").await;
        store.update_display_name(a.user, "Alice Renamed").await.unwrap();
        store.create_device(a.user, "desk", b"desk-hash", 5).await.unwrap();
        conv = store.get_or_create_direct(a.user, b.user, 1).await.unwrap().0;
        group = store.create_group(a.user, "club", &[b.user], 1).await.unwrap();
        send_many(&store, conv, a, 20).await;
        send(&*store, group, b, "in the group").await;
        store.mark_read(conv, b.user, 7).await.unwrap();
        store.close().await;
    }
    let store = db.open().await;
    let (alice, _) = store.user_credentials("alice").await.unwrap().unwrap();
    assert_eq!(alice.display_name, "Alice Renamed");
    assert_eq!(store.device_by_token_hash(b"desk-hash").await.unwrap().unwrap().user.id, a.user);
    assert_eq!(seqs(&read_all(&*store, conv, b.user).await), (1..=20).collect::<Vec<_>>());
    let view = store.conversation(conv, b.user).await.unwrap();
    assert_eq!((view.last_seq, view.read_seq, view.unread_count), (20, 7, 13));
    assert_eq!(store.membership(group, a.user).await.unwrap(), Some(MemberRole::Admin));
    assert_eq!(store.conversation(group, a.user).await.unwrap().last_message.unwrap().text, "in the group");
    assert_eq!(store.get_or_create_direct(b.user, a.user, 9).await.unwrap(), (conv, false));
    assert_eq!(send(&*store, conv, a, "after reopen").await.seq, 21, "seqs continue");
}

async fn writes_survive_dropping_the_store_without_close(db: &dyn Backend) {
    let (a, b, conv);
    {
        let store = db.open().await;
        a = sender(&*store, "alice").await;
        b = user(&*store, "bob").await;
        conv = store.get_or_create_direct(a.user, b.id, 1).await.unwrap().0;
        send_many(&store, conv, a, 50).await;
    }
    let store = db.open().await;
    assert_eq!(seqs(&read_all(&*store, conv, b.id).await), (1..=50).collect::<Vec<_>>());
}

async fn writes_after_close_are_refused(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = user(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.id, 1).await.unwrap();
    store.close().await;
    let append = store.append_message(new_message(conv, a, "late", "too late")).await;
    assert!(matches!(append, Err(StoreError::Unavailable(_))), "{append:?}");
    let create = store.create_user("carol", "h", "Carol", 1).await;
    assert!(matches!(create, Err(StoreError::Unavailable(_))), "{create:?}");
    store.close().await; // closing twice is harmless
}

async fn a_100000_character_multibyte_text_round_trips_exactly(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = user(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.id, 1).await.unwrap();
    let pattern: Vec<char> = "é😀中\u{1F1EB}\u{1F1F7}a\n\t\u{200D}\u{FEFF}ß".chars().collect();
    let text: String = (0..100_000).map(|i| pattern[i % pattern.len()]).collect();
    assert_eq!(text.chars().count(), 100_000);

    let stored = send(&*store, conv, a, &text).await;
    assert_eq!(stored.text, text);
    let page = store.history(conv, b.id, HistoryRange::Latest, 1).await.unwrap();
    assert_eq!(page.messages[0].text, text);
    let synced = store.sync(b.id, &[], 10).await.unwrap();
    assert_eq!(synced.messages[0].text, text);
    assert_eq!(store.conversation(conv, b.id).await.unwrap().last_message.unwrap().text, text);
}

async fn sql_metacharacters_are_stored_verbatim(db: &dyn Backend) {
    let store = db.open().await;
    let nasty = "Robert'); DROP TABLE messages;-- \"quoted\" 100% _under_ back\\slash ?1 :name $x";
    let odd_user = store.create_user("o'brien%_", "pa'ss\"hash", nasty, 1).await.unwrap();
    assert_eq!(store.user_by_username("o'brien%_").await.unwrap(), Some(odd_user.clone()));
    assert_eq!(store.user_by_username("o'brien%").await.unwrap(), None, "no pattern matching");
    assert_eq!(store.user_credentials("o'brien%_").await.unwrap().unwrap().1, "pa'ss\"hash");
    assert_eq!(store.user_by_id(odd_user.id).await.unwrap().unwrap().display_name, nasty);

    let dev = store.create_device(odd_user.id, nasty, b"'\0;--", 1).await.unwrap();
    assert_eq!(store.device_by_token_hash(b"'\0;--").await.unwrap().unwrap().device_id, dev.id);
    assert_eq!(store.list_devices(odd_user.id).await.unwrap()[0].name, nasty);

    let from = Sender { user: odd_user.id, device: dev.id };
    let group = store.create_group(odd_user.id, nasty, &[], 1).await.unwrap();
    assert_eq!(store.conversation(group, odd_user.id).await.unwrap().name.as_deref(), Some(nasty));
    let outcome = store.append_message(new_message(group, from, "id'--", nasty)).await.unwrap();
    assert_eq!(outcome.message.text, nasty);
    let page = store.history(group, odd_user.id, HistoryRange::Latest, 10).await.unwrap();
    assert_eq!((page.messages[0].text.as_str(), page.messages[0].client_msg_id.as_str()), (nasty, "id'--"));
    assert!(store.append_message(new_message(group, from, "id'--", nasty)).await.unwrap().duplicate);
}

// ---------------------------------------------------------------------------
// Receipts, mute, presence and push
// ---------------------------------------------------------------------------

async fn delivered_marker_moves_forward_and_reading_implies_delivery(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = user(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.id, 1).await.unwrap();
    send_many(&store, conv, a, 6).await;

    let update = store.mark_delivered(conv, b.id, 4).await.unwrap();
    assert_eq!(update.markers, Markers { delivered_seq: 4, read_seq: 0 });
    assert!(update.changed);
    assert_eq!(update.direct_peer, Some(a.user), "the sender is told in a direct conversation");
    let again = store.mark_delivered(conv, b.id, 2).await.unwrap();
    assert_eq!((again.markers.delivered_seq, again.changed), (4, false), "never backwards");
    let read = store.mark_read(conv, b.id, 5).await.unwrap();
    assert_eq!(read.markers, Markers { delivered_seq: 5, read_seq: 5 }, "read implies delivered");
    let clamped = store.mark_delivered(conv, b.id, 99).await.unwrap();
    assert_eq!(clamped.markers, Markers { delivered_seq: 6, read_seq: 5 }, "clamped to the last seq");

    let for_a = store.conversation(conv, a.user).await.unwrap();
    assert_eq!((for_a.peer_delivered_seq, for_a.peer_read_seq), (Some(6), Some(5)));
    let members = store.members(conv, a.user).await.unwrap();
    let bob = members.iter().find(|m| m.user.id == b.id).unwrap();
    assert_eq!((bob.delivered_seq, bob.read_seq), (6, 5));
    let alice = members.iter().find(|m| m.user.id == a.user).unwrap();
    assert_eq!((alice.delivered_seq, alice.read_seq), (6, 6), "sending moves the sender's own markers");
}

async fn group_receipts_count_members_except_the_sender(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let others = users(&store, "member", 4).await;
    let ids: Vec<UserId> = others.iter().map(|u| u.id).collect();
    let group = store.create_group(a.user, "club", &ids, 1).await.unwrap();
    let update = store.mark_delivered(group, ids[0], 0).await.unwrap();
    assert_eq!(update.direct_peer, None, "no per-read receipts pushed in groups");
    send_many(&store, group, a, 3).await;

    store.mark_delivered(group, ids[0], 3).await.unwrap();
    store.mark_delivered(group, ids[1], 2).await.unwrap();
    store.mark_read(group, ids[1], 2).await.unwrap();
    store.mark_read(group, ids[2], 3).await.unwrap();

    let receipts = store.message_receipts(group, ids[3], 2).await.unwrap();
    assert_eq!((receipts.member_count, receipts.delivered_to.len(), receipts.read_by.len()), (4, 3, 2));
    assert_eq!(receipts.delivered_to, vec![ids[0], ids[1], ids[2]]);
    assert_eq!(receipts.read_by, vec![ids[1], ids[2]]);
    let newest = store.message_receipts(group, a.user, 3).await.unwrap();
    assert_eq!((newest.delivered_to.len(), newest.read_by.len()), (2, 1));
    assert!(matches!(store.message_receipts(group, a.user, 4).await, Err(StoreError::MessageNotFound)));
    assert!(matches!(store.message_receipts(group, a.user, 0).await, Err(StoreError::MessageNotFound)));
}

async fn last_seen_only_moves_forward_and_contacts_are_direct_peers(db: &dyn Backend) {
    let store = db.open().await;
    let a = user(&*store, "alice").await;
    let b = user(&*store, "bob").await;
    let c = user(&*store, "carol").await;
    let stranger = user(&*store, "stranger").await;
    store.get_or_create_direct(a.id, b.id, 1).await.unwrap();
    store.create_group(a.id, "club", &[c.id], 1).await.unwrap();

    assert_eq!(store.last_seen(&[a.id, 999_999]).await.unwrap(), vec![(a.id, None)], "unknown users left out");
    store.record_last_seen(&[(a.id, 500), (b.id, 700)]).await.unwrap();
    store.record_last_seen(&[(a.id, 300)]).await.unwrap();
    assert_eq!(store.last_seen(&[b.id, a.id]).await.unwrap(), vec![(b.id, Some(700)), (a.id, Some(500))]);

    assert_eq!(store.contacts(a.id).await.unwrap(), vec![b.id], "a group does not make a contact");
    assert_eq!(store.contacts(c.id).await.unwrap(), Vec::<UserId>::new());
    let related = store.related_users(a.id, &[a.id, b.id, c.id, stranger.id]).await.unwrap();
    assert_eq!(related, vec![a.id, b.id, c.id], "groups count for presence queries; strangers do not");
}

async fn push_subscriptions_follow_devices_membership_and_mute(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let b_laptop = device(&*store, b.user).await;
    let (conv, _) = store.get_or_create_direct(a.user, b.user, 1).await.unwrap();
    let group = store.create_group(a.user, "club", &[b.user], 1).await.unwrap();
    let subscribe = |device_id: DeviceId, endpoint: &str| NewPushSubscription {
        user_id: b.user,
        device_id,
        target: PushTarget::Web { endpoint: endpoint.to_owned(), p256dh: "key".to_owned(), auth: "auth".to_owned() },
        created_at: 1,
    };
    let caps = PushSubscriptionCaps { per_device: 5, per_user: 20 };
    let phone = store.add_push_subscription(subscribe(b.device, "https://push.example/phone"), caps).await.unwrap();
    let laptop = store.add_push_subscription(subscribe(b_laptop, "https://push.example/laptop"), caps).await.unwrap();
    let again = store.add_push_subscription(subscribe(b.device, "https://push.example/phone"), caps).await.unwrap();
    assert_eq!(again, phone, "the holding device registering its endpoint again updates it");

    let targets = store.push_targets(conv, &[b.user]).await.unwrap();
    assert_eq!(targets.iter().map(|t| t.id).collect::<Vec<_>>(), vec![phone, laptop]);
    assert_eq!(targets[0].target.address(), "https://push.example/phone");

    store.set_muted(conv, b.user, true).await.unwrap();
    assert!(store.push_targets(conv, &[b.user]).await.unwrap().is_empty(), "muted");
    assert!(store.conversation(conv, b.user).await.unwrap().muted);
    assert_eq!(store.push_targets(group, &[b.user]).await.unwrap().len(), 2, "mute is per conversation");
    store.set_muted(conv, b.user, false).await.unwrap();

    store.remove_push_subscription(laptop).await.unwrap();
    assert_eq!(store.push_targets(conv, &[b.user]).await.unwrap().len(), 1);
    store.revoke_device(b.user, b.device).await.unwrap();
    assert!(store.push_targets(conv, &[b.user]).await.unwrap().is_empty(), "revoking a device drops its push");
    store.add_push_subscription(subscribe(b_laptop, "https://push.example/x"), caps).await.unwrap();
    assert_eq!(store.remove_device_push_subscriptions(b_laptop).await.unwrap(), 1);
    let revoked = store.add_push_subscription(subscribe(b.device, "https://push.example/y"), caps).await;
    assert!(matches!(revoked, Err(StoreError::DeviceNotFound)), "a revoked device cannot subscribe: {revoked:?}");
}

async fn a_push_endpoint_belongs_to_the_device_holding_it(db: &dyn Backend) {
    let store = db.open().await;
    let victim = sender(&*store, "victim").await;
    let victim_laptop = device(&*store, victim.user).await;
    let thief = sender(&*store, "thief").await;
    let caps = PushSubscriptionCaps { per_device: 5, per_user: 20 };
    let sub = |who: Sender, device_id: DeviceId, keys: &str| NewPushSubscription {
        user_id: who.user,
        device_id,
        target: PushTarget::Web { endpoint: "https://push.example/victim-phone".to_owned(), p256dh: keys.to_owned(), auth: keys.to_owned() },
        created_at: 1,
    };
    let (conv, _) = store.get_or_create_direct(victim.user, thief.user, 1).await.unwrap();
    let id = store.add_push_subscription(sub(victim, victim.device, "k1"), caps).await.unwrap();

    for (who, device_id) in [(thief, thief.device), (victim, victim_laptop)] {
        let taken = store.add_push_subscription(sub(who, device_id, "evil"), caps).await;
        assert!(matches!(taken, Err(StoreError::PushEndpointTaken)), "{taken:?}");
    }
    let targets = store.push_targets(conv, &[victim.user, thief.user]).await.unwrap();
    assert_eq!(targets.len(), 1);
    assert_eq!((targets[0].id, targets[0].user_id, web_key(&targets[0].target)), (id, victim.user, "k1"), "unchanged");

    assert_eq!(store.add_push_subscription(sub(victim, victim.device, "k2"), caps).await.unwrap(), id, "same device: updated");
    assert_eq!(web_key(&store.push_targets(conv, &[victim.user]).await.unwrap()[0].target), "k2");

    store.remove_device_push_subscriptions(victim.device).await.unwrap();
    let moved = store.add_push_subscription(sub(victim, victim_laptop, "k3"), caps).await.unwrap();
    assert_ne!(moved, id, "once removed, the endpoint is free");
}

/// A Web Push target's p256dh key ("" for a native token).
fn web_key(target: &PushTarget) -> &str {
    match target {
        PushTarget::Web { p256dh, .. } => p256dh,
        _ => "",
    }
}

async fn native_push_tokens_are_one_per_device_and_go_with_it(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let b_tablet = device(&*store, b.user).await;
    let (conv, _) = store.get_or_create_direct(a.user, b.user, 1).await.unwrap();
    let caps = PushSubscriptionCaps { per_device: 2, per_user: 3 };
    let sub = |device_id: DeviceId, target: PushTarget| NewPushSubscription { user_id: b.user, device_id, target, created_at: 1 };
    let fcm = |t: &str| PushTarget::Fcm { token: t.to_owned() };
    let apns = |t: &str| PushTarget::Apns { token: t.to_owned() };
    let web = |e: &str| PushTarget::Web { endpoint: e.to_owned(), p256dh: "key".to_owned(), auth: "auth".to_owned() };
    let kinds = |targets: Vec<banter_store::PushSubscriptionRecord>| targets.into_iter().map(|t| t.target).collect::<Vec<_>>();

    store.add_push_subscription(sub(b.device, web("https://push.example/phone")), caps).await.unwrap();
    let first = store.add_push_subscription(sub(b.device, fcm("tok-1")), caps).await.unwrap();
    let again = store.add_push_subscription(sub(b.device, fcm("tok-1")), caps).await.unwrap();
    assert_eq!(again, first, "the same token again is the same subscription, not a second one");
    assert_eq!(
        kinds(store.push_targets(conv, &[b.user]).await.unwrap()),
        vec![web("https://push.example/phone"), fcm("tok-1")],
        "the kind comes back as stored"
    );

    // A new token (of either provider) replaces the device's previous one;
    // its Web Push subscription stays.
    let second = store.add_push_subscription(sub(b.device, apns("abcd")), caps).await.unwrap();
    assert_ne!(second, first);
    assert_eq!(kinds(store.push_targets(conv, &[b.user]).await.unwrap()), vec![web("https://push.example/phone"), apns("abcd")]);

    // A token belongs to the device holding it; the same string under the
    // other provider is another address.
    let taken = store.add_push_subscription(sub(b_tablet, apns("abcd")), caps).await;
    assert!(matches!(taken, Err(StoreError::PushEndpointTaken)), "{taken:?}");
    let other_kind = store.add_push_subscription(sub(b_tablet, fcm("abcd")), caps).await.unwrap();

    // The caps count every kind: the user has 3 (web + apns + fcm).
    let over = store.add_push_subscription(sub(b_tablet, web("https://push.example/tablet")), caps).await;
    assert!(matches!(over, Err(StoreError::TooManyPushSubscriptions { scope: PushCapScope::Account, limit: 3 })), "{over:?}");
    // Replacing a device's token is not one more.
    store.add_push_subscription(sub(b_tablet, fcm("tok-2")), caps).await.expect("a replacement fits");
    assert!(!store.push_targets(conv, &[b.user]).await.unwrap().iter().any(|t| t.id == other_kind), "replaced");

    // Removing the native token leaves the web subscription.
    assert_eq!(store.remove_device_native_push(b.device).await.unwrap(), 1);
    assert_eq!(store.remove_device_native_push(b.device).await.unwrap(), 0);
    assert_eq!(kinds(store.push_targets(conv, &[b.user]).await.unwrap()), vec![web("https://push.example/phone"), fcm("tok-2")]);

    // Muted: no target of any kind.
    store.set_muted(conv, b.user, true).await.unwrap();
    assert!(store.push_targets(conv, &[b.user]).await.unwrap().is_empty(), "muted");
    store.set_muted(conv, b.user, false).await.unwrap();

    // A revoked device's token goes with it, and the token is free again.
    store.revoke_device(b.user, b_tablet).await.unwrap();
    assert_eq!(kinds(store.push_targets(conv, &[b.user]).await.unwrap()), vec![web("https://push.example/phone")]);
    store.add_push_subscription(sub(b.device, fcm("tok-2")), caps).await.expect("a revoked device's token is free");
}

async fn push_subscriptions_are_capped_per_device_and_per_user(db: &dyn Backend) {
    let store = db.open().await;
    let bob = sender(&*store, "bob").await;
    let laptop = device(&*store, bob.user).await;
    let tablet = device(&*store, bob.user).await;
    let caps = PushSubscriptionCaps { per_device: 2, per_user: 3 };
    let sub = |device_id: DeviceId, endpoint: &str| NewPushSubscription {
        user_id: bob.user,
        device_id,
        target: PushTarget::Web { endpoint: format!("https://push.example/{endpoint}"), p256dh: "key".to_owned(), auth: "auth".to_owned() },
        created_at: 1,
    };
    store.add_push_subscription(sub(bob.device, "p1"), caps).await.unwrap();
    store.add_push_subscription(sub(bob.device, "p2"), caps).await.unwrap();
    let third = store.add_push_subscription(sub(bob.device, "p3"), caps).await;
    assert!(
        matches!(third, Err(StoreError::TooManyPushSubscriptions { scope: PushCapScope::Device, limit: 2 })),
        "{third:?}"
    );
    store.add_push_subscription(sub(bob.device, "p2"), caps).await.expect("re-registering a held endpoint is not a new one");
    store.add_push_subscription(sub(laptop, "l1"), caps).await.unwrap();
    let fourth = store.add_push_subscription(sub(tablet, "t1"), caps).await;
    assert!(
        matches!(fourth, Err(StoreError::TooManyPushSubscriptions { scope: PushCapScope::Account, limit: 3 })),
        "{fourth:?}"
    );

    // Many registrations at once from every device still stop at the caps.
    store.remove_device_push_subscriptions(bob.device).await.unwrap();
    store.remove_device_push_subscriptions(laptop).await.unwrap();
    let mut tasks = JoinSet::new();
    for (n, device_id) in [bob.device, laptop, tablet].into_iter().cycle().take(30).enumerate() {
        let (store, sub) = (store.clone(), sub(device_id, &format!("burst{n}")));
        tasks.spawn(async move { store.add_push_subscription(sub, caps).await.is_ok() });
    }
    let accepted = tasks.join_all().await.into_iter().filter(|ok| *ok).count();
    assert_eq!(accepted, 3, "exactly the per-user cap");
}

async fn settings_are_created_once(db: &dyn Backend) {
    {
        let store = db.open().await;
        assert_eq!(store.setting_or_init("vapid", "first").await.unwrap(), "first");
        assert_eq!(store.setting_or_init("vapid", "second").await.unwrap(), "first");
        store.close().await;
    }
    let store = db.open().await;
    assert_eq!(store.setting_or_init("vapid", "third").await.unwrap(), "first", "survives a restart");
}

// ---------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------

/// Searches as `user` (all of their conversations, or `within` one), best
/// match first; the texts found.
async fn search(store: &dyn Store, user: UserId, query: &str, within: Option<ConversationId>) -> Vec<String> {
    let page = store.search(search_request(user, query, within, SearchOrder::Relevance, 0)).await.expect("search");
    page.messages.into_iter().map(|m| m.text).collect()
}

fn search_request(user: UserId, query: &str, within: Option<ConversationId>, order: SearchOrder, offset: u32) -> SearchRequest {
    let query = SearchQuery::parse(query).expect("a valid query");
    SearchRequest { user_id: user, query, conversation_id: within, order, offset, limit: 20 }
}

async fn search_finds_words_of_any_script_ignoring_case_and_accents(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.user, 1).await.unwrap();
    let texts = [
        "Meet me at the CAFÉ tomorrow",
        "我们明天在东京见面",
        "東京で会いましょう",
        "내일 학교에서 만나요",
        "Встретимся в кафе",
        "พบกันที่ร้านกาแฟ",
        "the meeting is at noon",
        "attack the hill",
    ];
    for text in texts {
        send(&*store, conv, a, text).await;
    }
    let found = |q: &'static str| {
        let store = store.clone();
        async move {
            let mut found = search(&*store, b.user, q, None).await;
            found.sort();
            found
        }
    };
    assert_eq!(found("cafe").await, [texts[0]], "accents and case are ignored");
    assert_eq!(found("Café tomorrow").await, [texts[0]], "every word must be found");
    assert_eq!(found("东京").await, [texts[1]], "a Chinese word inside a sentence");
    assert_eq!(found("東京").await, [texts[2]], "Japanese");
    assert_eq!(found("학교").await, [texts[3]], "Korean, with its particle attached");
    assert_eq!(found("кафе").await, [texts[4]], "Cyrillic");
    assert_eq!(found("กาแฟ").await, [texts[5]], "Thai");
    assert_eq!(found("meet").await, [texts[0]], "a word finds itself, not longer words (meeting)");
    assert_eq!(found("at").await, [texts[0], texts[6]], "not attack");
    assert!(found("京东").await.is_empty(), "characters match in the order typed");
    assert!(found("zebra").await.is_empty());
}

async fn search_ranks_better_matches_first_and_orders_recent_by_time(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.user, 1).await.unwrap();
    let rules = ChangeRules::default();
    let texts = ["a long message that mentions pizza once among many other words about the weekend", "pizza pizza pizza", "pizza tonight?"];
    for (at, text) in texts.iter().enumerate() {
        append(&*store, conv, a, Content::text(*text), 1_000 + at as i64, rules).await.unwrap();
    }
    // Newest, but long: its length is read beyond the part scored (2 KiB).
    let long = format!("pizza pizza {}", "and so on ".repeat(1_000));
    append(&*store, conv, a, Content::text(long.clone()), 1_010, rules).await.unwrap();
    let ranked = search(&*store, b.user, "pizza", None).await;
    assert_eq!(ranked[0], texts[1], "the message with the word three times ranks first: {ranked:?}");
    assert_eq!(ranked.last(), Some(&long), "a long text is discounted by its whole length");
    let recent = store.search(search_request(b.user, "pizza", None, SearchOrder::Recent, 0)).await.unwrap();
    assert_eq!(recent.messages.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), [long.as_str(), texts[2], texts[1], texts[0]]);
}

async fn search_finds_only_the_conversations_the_user_is_in_now(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let c = sender(&*store, "carol").await;
    let (ab, _) = store.get_or_create_direct(a.user, b.user, 1).await.unwrap();
    let (ac, _) = store.get_or_create_direct(a.user, c.user, 1).await.unwrap();
    let group = store.create_group(a.user, "plans", &[b.user, c.user], 1).await.unwrap();
    send(&*store, ab, a, "secret plan for bob").await;
    send(&*store, ac, a, "secret plan for carol").await;
    send(&*store, group, a, "secret plan for the group").await;
    let mut found = search(&*store, b.user, "secret plan", None).await;
    found.sort();
    assert_eq!(found, ["secret plan for bob", "secret plan for the group"]);
    assert_eq!(search(&*store, b.user, "plan", Some(ab)).await, ["secret plan for bob"], "within one conversation");
    let refused = store.search(search_request(b.user, "plan", Some(ac), SearchOrder::Relevance, 0)).await;
    assert!(matches!(refused, Err(StoreError::NotAMember)), "{refused:?}");

    store.remove_member(group, a.user, b.user).await.unwrap();
    assert_eq!(search(&*store, b.user, "secret", None).await, ["secret plan for bob"], "a removed member finds nothing of the group");
    let refused = store.search(search_request(b.user, "plan", Some(group), SearchOrder::Relevance, 0)).await;
    assert!(matches!(refused, Err(StoreError::NotAMember)));
}

async fn an_edit_is_found_by_its_new_text_and_a_deleted_message_not_at_all(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.user, 1).await.unwrap();
    let rules = ChangeRules::default();
    let original = send(&*store, conv, a, "lunch at the noodle bar").await;
    append(&*store, conv, a, Content::Edit { target: original.seq, text: "dinner at the taco place".into() }, 2_000, rules).await.unwrap();
    assert!(search(&*store, b.user, "noodle", None).await.is_empty(), "the old text is not found");
    let found = store.search(search_request(b.user, "taco", None, SearchOrder::Relevance, 0)).await.unwrap();
    assert_eq!(found.messages.len(), 1, "the edit entry itself is not a result");
    assert_eq!((found.messages[0].seq, found.messages[0].edited_at), (original.seq, Some(2_000)));

    append(&*store, conv, a, Content::Delete { target: original.seq }, 3_000, rules).await.unwrap();
    assert!(search(&*store, b.user, "taco", None).await.is_empty(), "a deleted message is not found");
    assert!(search(&*store, b.user, "dinner", None).await.is_empty());
}

async fn search_pages_through_the_newest_thousand_matches(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.user, 1).await.unwrap();
    send_many(&store, conv, a, SEARCH_WINDOW + 1).await;
    let mut seen = BTreeSet::new();
    let mut offset = 0;
    loop {
        let page = store.search(search_request(b.user, "message", None, SearchOrder::Recent, offset)).await.unwrap();
        assert!(page.truncated, "more than a window matched");
        for message in &page.messages {
            assert!(seen.insert(message.seq), "seq {} on two pages", message.seq);
        }
        offset += page.messages.len() as u32;
        if !page.has_more {
            break;
        }
        assert_eq!(page.messages.len(), 20);
    }
    assert_eq!(seen.len(), SEARCH_WINDOW);
    assert!(!seen.contains(&1), "the oldest match is outside the window");
}

// ---------------------------------------------------------------------------
// Blocks and leaving (issue 16)
// ---------------------------------------------------------------------------

async fn a_block_closes_the_direct_conversation_both_ways_until_lifted(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.user, 1).await.unwrap();
    let from_b = send(&*store, conv, b, "hi").await;
    assert!(matches!(store.block_user(a.user, a.user, 10, 2).await, Err(StoreError::BlockingYourself)));
    assert!(matches!(store.block_user(a.user, 999_999, 10, 2).await, Err(StoreError::UserNotFound)));

    store.block_user(a.user, b.user, 10, 2).await.unwrap();
    store.block_user(a.user, b.user, 10, 3).await.expect("blocking again changes nothing");
    let listed = store.blocked_users(a.user).await.unwrap();
    assert_eq!(listed.iter().map(|e| (e.user.id, e.blocked_at)).collect::<Vec<_>>(), vec![(b.user, 2)]);
    assert!(store.blocked_users(b.user).await.unwrap().is_empty());
    assert_eq!(store.blocks_between(b.user, &[a.user, b.user]).await.unwrap(), vec![a.user]);

    let rules = ChangeRules::default();
    for (who, what) in [(b, "the blocked"), (a, "the blocker")] {
        let refused = append(&*store, conv, who, Content::text("still there?"), 3_000, rules).await;
        assert!(matches!(refused, Err(StoreError::Blocked)), "{what} cannot send: {refused:?}");
        assert!(matches!(store.get_or_create_direct(who.user, if who.user == a.user { b.user } else { a.user }, 3).await, Err(StoreError::Blocked)));
    }
    let edit = append(&*store, conv, b, Content::Edit { target: from_b.seq, text: "hey".into() }, 3_000, rules).await;
    assert!(matches!(edit, Err(StoreError::Blocked)), "{edit:?}");
    append(&*store, conv, b, Content::Delete { target: from_b.seq }, 3_000, rules).await.expect("deletes still go in");
    assert!(store.contacts(a.user).await.unwrap().is_empty());
    assert!(store.contacts(b.user).await.unwrap().is_empty());
    assert_eq!(store.related_users(a.user, &[b.user]).await.unwrap(), Vec::<UserId>::new());
    assert_eq!(store.related_users(b.user, &[a.user]).await.unwrap(), Vec::<UserId>::new());

    store.unblock_user(a.user, b.user).await.unwrap();
    store.unblock_user(a.user, b.user).await.expect("unblocking again changes nothing");
    assert_eq!(store.get_or_create_direct(b.user, a.user, 4).await.unwrap(), (conv, false));
    send(&*store, conv, b, "back").await;
    send(&*store, conv, a, "welcome").await;
    assert_eq!(store.contacts(a.user).await.unwrap(), vec![b.user]);
    assert_eq!(store.related_users(b.user, &[a.user]).await.unwrap(), vec![a.user]);

    // Blocks both ways: lifting one leaves the other standing.
    store.block_user(a.user, b.user, 10, 5).await.unwrap();
    store.block_user(b.user, a.user, 10, 5).await.unwrap();
    store.unblock_user(a.user, b.user).await.unwrap();
    assert!(matches!(append(&*store, conv, a, Content::text("?"), 6_000, rules).await, Err(StoreError::Blocked)));
}

async fn a_block_made_before_the_direct_conversation_exists_keeps_it_unopened(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    store.block_user(b.user, a.user, 10, 1).await.unwrap();
    assert!(matches!(store.get_or_create_direct(a.user, b.user, 2).await, Err(StoreError::Blocked)));
    assert!(store.list_conversations(a.user).await.unwrap().is_empty(), "nothing was created");
    store.unblock_user(b.user, a.user).await.unwrap();
    let (conv, created) = store.get_or_create_direct(a.user, b.user, 3).await.unwrap();
    assert!(created);
    send(&*store, conv, a, "hello").await;
}

async fn a_blocked_user_cannot_add_the_blocker_to_groups_and_membership_stays(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let c = sender(&*store, "carol").await;
    let shared = store.create_group(c.user, "shared", &[a.user, b.user], 1).await.unwrap();
    store.block_user(a.user, b.user, 10, 2).await.unwrap();
    assert!(matches!(store.create_group(b.user, "trap", &[c.user, a.user], 3).await, Err(StoreError::Blocked)));
    let own = store.create_group(b.user, "own", &[c.user], 3).await.unwrap();
    assert!(matches!(store.add_members(own, b.user, &[a.user], 4).await, Err(StoreError::Blocked)));
    assert_eq!(store.member_ids(own).await.unwrap(), vec![b.user, c.user], "nothing added");
    // The blocker may still add the user they blocked; groups they share stay.
    let mine = store.create_group(a.user, "mine", &[b.user], 5).await.unwrap();
    assert_eq!(store.member_ids(mine).await.unwrap(), vec![a.user, b.user]);
    send(&*store, shared, a, "from a").await;
    send(&*store, shared, b, "from b").await;
    store.unblock_user(a.user, b.user).await.unwrap();
    store.add_members(own, b.user, &[a.user], 6).await.expect("after unblocking");
}

async fn blocks_are_capped_per_blocker_also_when_concurrent(db: &dyn Backend) {
    let store = db.open().await;
    let a = user(&*store, "alice").await;
    let others = users(&store, "user", 6).await;
    let mut tasks = JoinSet::new();
    for other in &others {
        let (store, other) = (store.clone(), other.id);
        tasks.spawn(async move { store.block_user(a.id, other, 3, 1).await });
    }
    let results = tasks.join_all().await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3, "{results:?}");
    assert!(results.iter().filter(|r| r.is_err()).all(|r| matches!(r, Err(StoreError::TooManyBlocks { limit: 3 }))));
    let blocked: Vec<UserId> = store.blocked_users(a.id).await.unwrap().iter().map(|e| e.user.id).collect();
    assert_eq!(blocked.len(), 3);
    store.block_user(a.id, blocked[0], 3, 2).await.expect("blocking someone already blocked is not one more");
    let outside = others.iter().map(|u| u.id).find(|id| !blocked.contains(id)).unwrap();
    assert!(matches!(store.block_user(a.id, outside, 3, 2).await, Err(StoreError::TooManyBlocks { .. })));
    store.unblock_user(a.id, blocked[0]).await.unwrap();
    store.block_user(a.id, outside, 3, 3).await.expect("room again after an unblock");
}

async fn deleting_an_account_erases_its_profile_and_keeps_its_messages(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let c = sender(&*store, "carol").await;
    let a_laptop = device(&*store, a.user).await;
    let (direct, _) = store.get_or_create_direct(a.user, b.user, 1).await.unwrap();
    let (direct_c, _) = store.get_or_create_direct(c.user, a.user, 1).await.unwrap();
    let group = store.create_group(a.user, "club", &[b.user, c.user], 1).await.unwrap();
    send(&*store, direct, a, "direct from a").await;
    send(&*store, group, a, "group from a").await;
    let caps = PushSubscriptionCaps { per_device: 5, per_user: 20 };
    let web = PushTarget::Web { endpoint: "https://push.example/a".into(), p256dh: "k".into(), auth: "x".into() };
    store.add_push_subscription(NewPushSubscription { user_id: a.user, device_id: a.device, target: web, created_at: 1 }, caps).await.unwrap();
    store.block_user(a.user, c.user, 10, 1).await.unwrap();
    store.block_user(b.user, a.user, 10, 1).await.unwrap();

    let deleted = store.delete_account(a.user, 9).await.unwrap();
    assert_eq!(deleted.device_ids, vec![a.device, a_laptop]);
    assert_eq!(deleted.left_groups.len(), 1);
    assert_eq!(deleted.left_groups[0].member_ids, vec![b.user, c.user]);
    assert_eq!(deleted.closed_directs, vec![(direct, b.user), (direct_c, c.user)], "each peer, to be told");
    assert!(matches!(store.delete_account(a.user, 10).await, Err(StoreError::UserNotFound)));

    // Profile, credentials, devices, push, blocks: gone.
    let gone = store.user_by_id(a.user).await.unwrap().expect("the row stays for its messages");
    assert_eq!(gone, User { id: a.user, username: String::new(), display_name: String::new(), deleted: true });
    assert!(store.user_by_username("alice").await.unwrap().is_none());
    assert!(store.user_credentials("alice").await.unwrap().is_none());
    assert!(store.list_devices(a.user).await.unwrap().is_empty());
    assert!(store.push_targets(direct, &[a.user]).await.unwrap().is_empty());
    assert!(store.blocked_users(a.user).await.unwrap().is_empty());
    assert!(store.blocked_users(b.user).await.unwrap().is_empty());
    assert!(matches!(store.create_user("alice", "hash", "Another Alice", 10).await, Err(StoreError::UsernameTaken)), "the name stays reserved");

    // Groups: left, admin handed on. Messages: kept, under the deleted user.
    assert_eq!(store.membership(group, b.user).await.unwrap(), Some(MemberRole::Admin));
    assert_eq!(read_all(&*store, group, b.user).await[0].sender_id, a.user);
    let history = read_all(&*store, direct, b.user).await;
    assert_eq!((history[0].sender_id, history[0].text.as_str()), (a.user, "direct from a"));
    let members = store.members(direct, b.user).await.unwrap();
    assert!(members.iter().any(|m| m.user.id == a.user && m.user.deleted && m.user.display_name.is_empty()));
    let listed = store.conversation(direct, b.user).await.unwrap();
    assert!(listed.peer.is_some_and(|p| p.deleted));

    // Nobody reaches it any more.
    let rules = ChangeRules::default();
    assert!(matches!(append(&*store, direct, b, Content::text("hello?"), 2_000, rules).await, Err(StoreError::Blocked)));
    assert!(matches!(store.get_or_create_direct(c.user, a.user, 11).await, Err(StoreError::UserNotFound)));
    assert!(matches!(store.add_members(group, b.user, &[a.user], 11).await, Err(StoreError::UserNotFound)));
    assert!(matches!(store.block_user(b.user, a.user, 10, 11).await, Err(StoreError::UserNotFound)));
    assert!(store.contacts(b.user).await.unwrap().is_empty());
}

async fn sent_messages_page_through_every_conversation_once_as_they_stand(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let c = sender(&*store, "carol").await;
    let (ab, _) = store.get_or_create_direct(a.user, b.user, 1).await.unwrap();
    let (ac, _) = store.get_or_create_direct(a.user, c.user, 1).await.unwrap();
    let group = store.create_group(b.user, "club", &[a.user, c.user], 1).await.unwrap();
    let rules = ChangeRules::default();
    let mut expected = Vec::new();
    for round in 0..4 {
        for conv in [ab, ac, group] {
            let m = send(&*store, conv, a, &format!("a {conv} {round}")).await;
            expected.push((conv, m.seq, m.text));
            send(&*store, conv, if conv == ac { c } else { b }, "not mine").await;
        }
    }
    let (edited, dropped) = (expected[0].clone(), expected[1].clone());
    append(&*store, edited.0, a, Content::Edit { target: edited.1, text: "edited".into() }, 1_000, rules).await.unwrap();
    append(&*store, dropped.0, a, Content::Delete { target: dropped.1 }, 1_000, rules).await.unwrap();
    expected[0].2 = "edited".into();
    expected.remove(1);
    expected.sort();

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.sent_messages(a.user, after, 5).await.unwrap();
        assert!(page.messages.len() <= 5);
        seen.extend(page.messages.iter().map(|m| (m.conversation_id, m.seq, m.text.clone())));
        assert!(page.messages.iter().all(|m| m.sender_id == a.user && m.kind == MessageKind::Text));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    let past_the_end = store.sent_messages(c.user, Some((i64::MAX, 0)), 5).await.unwrap();
    assert_eq!(past_the_end, SentPage::default());
}

/// A page visits at most EXPORT_SCAN_CONVERSATIONS conversations: a user
/// in more, who wrote only in the last, gets a page that ends at the
/// 100th conversation without a message, then the message.
async fn sent_messages_visit_a_bounded_number_of_conversations_per_page(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let people = users(&store, "peer", EXPORT_SCAN_CONVERSATIONS as usize + 1).await;
    let mut conversations = Vec::new();
    for peer in &people {
        conversations.push(store.get_or_create_direct(a.user, peer.id, 1).await.unwrap().0);
    }
    conversations.sort_unstable();
    let last = *conversations.last().unwrap();
    send(&*store, last, a, "only here").await;
    let first = store.sent_messages(a.user, None, 500).await.unwrap();
    assert!(first.messages.is_empty());
    assert_eq!(first.next, Some((conversations[EXPORT_SCAN_CONVERSATIONS as usize - 1], 0)));
    let second = store.sent_messages(a.user, first.next, 500).await.unwrap();
    assert_eq!(second.messages.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["only here"]);
    assert_eq!(second.next, None);
}

/// Every page of `user`'s export, from the start.
async fn export_pages(store: &dyn Store, user: UserId) -> Vec<SentPage> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store.sent_messages(user, after, 500).await.unwrap();
        after = page.next;
        pages.push(page);
        if after.is_none() {
            return pages;
        }
    }
}

/// The export finds messages in a group the user has left (and in one
/// they were removed from), and reads a long conversation in bounded
/// windows: a page looks at EXPORT_SCAN_SEQS seqs at most, so one written
/// once at the end of a long conversation takes an empty page first.
async fn sent_messages_cover_former_conversations_in_bounded_windows(db: &dyn Backend) {
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let left = store.create_group(b.user, "left", &[a.user], 1).await.unwrap();
    let removed = store.create_group(b.user, "removed", &[a.user], 1).await.unwrap();
    let long = store.create_group(b.user, "long", &[a.user], 1).await.unwrap();
    let in_left = send(&*store, left, a, "before leaving").await;
    let in_removed = send(&*store, removed, a, "before removal").await;
    store.remove_member(left, a.user, a.user).await.unwrap();
    store.remove_member(removed, b.user, a.user).await.unwrap();
    let first = send(&*store, long, a, "first").await;
    let others = send_many(&store, long, b, EXPORT_SCAN_SEQS as usize).await;
    let last = send(&*store, long, a, "last").await;
    assert_eq!(last.seq, EXPORT_SCAN_SEQS + 2, "{} seqs of bob's", others.len());

    let pages = export_pages(&*store, a.user).await;
    let texts: Vec<Vec<&str>> =
        pages.iter().map(|p| p.messages.iter().map(|m| m.text.as_str()).collect()).collect();
    // Page 1 reads both former groups and the long one's first 9,998 seqs
    // (one each before); page 2 the rest.
    assert_eq!(texts, vec![vec!["before leaving", "before removal", "first"], vec!["last"]]);
    assert_eq!(pages[0].next, Some((long, EXPORT_SCAN_SEQS - in_left.seq - in_removed.seq)));
    assert_eq!(first.seq, 1);
    // Bob never left these groups; his export holds nothing of alice's.
    let bobs: usize = export_pages(&*store, b.user).await.iter().map(|p| p.messages.len()).sum();
    assert_eq!(bobs, EXPORT_SCAN_SEQS as usize);
}

// ---------------------------------------------------------------------------
// Per-user questions across shards
// ---------------------------------------------------------------------------

fn texts(messages: &[Message]) -> BTreeSet<&str> {
    messages.iter().map(|m| m.text.as_str()).collect()
}

async fn listed_ids(store: &dyn Store, user: UserId) -> BTreeSet<ConversationId> {
    store.list_conversations(user).await.unwrap().iter().map(|c| c.id).collect()
}

/// Every per-user question (list, sync, contacts, related users, search,
/// export) finds the user's conversations wherever they are: on a sharded
/// store the three groups go round-robin to three shards, and the user
/// joins two of them, and a direct conversation, after the first listing.
async fn a_users_conversations_on_every_shard_are_listed_synced_searched_and_exported(db: &dyn Backend) {
    let store = db.open().await;
    let me = sender(&*store, "me").await;
    let friend = sender(&*store, "friend").await;
    let pal = sender(&*store, "pal").await;
    let one = store.create_group(friend.user, "one", &[me.user], 1).await.unwrap();
    let two = store.create_group(friend.user, "two", &[pal.user], 1).await.unwrap();
    let three = store.create_group(friend.user, "three", &[pal.user], 1).await.unwrap();
    for (conversation, text) in [(one, "hello one"), (two, "hello two"), (three, "hello three")] {
        send(&*store, conversation, friend, text).await;
    }
    assert_eq!(listed_ids(&*store, me.user).await, BTreeSet::from([one]));
    assert_eq!(texts(&store.sync(me.user, &[], 100).await.unwrap().messages), BTreeSet::from(["hello one"]));
    assert!(store.contacts(me.user).await.unwrap().is_empty());

    // Joined after the first listing, on the other shards.
    store.add_members(two, friend.user, &[me.user], 2).await.unwrap();
    store.add_members(three, friend.user, &[me.user], 2).await.unwrap();
    let (direct, _) = store.get_or_create_direct(pal.user, me.user, 2).await.unwrap();
    send(&*store, direct, pal, "hello direct").await;
    send(&*store, three, me, "mine, then I left").await;
    assert_eq!(listed_ids(&*store, me.user).await, BTreeSet::from([one, two, three, direct]));
    let everything = BTreeSet::from(["hello one", "hello two", "hello three", "hello direct", "mine, then I left"]);
    assert_eq!(texts(&store.sync(me.user, &[], 100).await.unwrap().messages), everything);
    assert_eq!(store.contacts(me.user).await.unwrap(), vec![pal.user]);
    assert_eq!(store.related_users(me.user, &[pal.user, friend.user]).await.unwrap(), vec![pal.user, friend.user]);
    let found = store.search(search_request(me.user, "hello", None, SearchOrder::Recent, 0)).await.unwrap();
    assert_eq!(texts(&found.messages), BTreeSet::from(["hello one", "hello two", "hello three", "hello direct"]));

    // Former memberships stay in the export.
    store.remove_member(three, me.user, me.user).await.unwrap();
    assert_eq!(listed_ids(&*store, me.user).await, BTreeSet::from([one, two, direct]));
    let exported: Vec<Message> = export_pages(&*store, me.user).await.into_iter().flat_map(|p| p.messages).collect();
    assert_eq!(texts(&exported), BTreeSet::from(["mine, then I left"]));
}

// ---------------------------------------------------------------------------
// Running the suite
// ---------------------------------------------------------------------------

/// Expands to one `#[tokio::test]` per check for one backend, inside a
/// module named after the backend.
macro_rules! conformance_suite {
    ($backend:ident => $make:expr; $($check:ident),+ $(,)?) => {
        mod $backend {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    let backend = $make;
                    super::$check(&backend).await;
                }
            )+
        }
    };
}

/// The list of checks, in one place, handed to `conformance_suite!`.
macro_rules! for_each_check {
    ($backend:ident => $make:expr) => {
        conformance_suite!($backend => $make;
            usernames_are_unique,
            display_names_can_be_changed,
            device_tokens_authenticate_until_revoked,
            direct_conversation_is_unique_per_pair,
            direct_conversation_is_unique_when_both_sides_ask_at_once,
            many_direct_conversations_are_created_at_once,
            members_are_added_to_many_groups_at_once,
            group_of_exactly_the_limit_is_allowed_and_one_more_is_refused,
            group_members_are_deduplicated_and_the_creator_is_admin,
            adding_beyond_the_limit_is_refused_and_changes_nothing,
            add_members_is_all_or_nothing,
            only_admins_add_or_remove_others,
            members_may_leave,
            last_admin_leaving_promotes_the_longest_standing_member,
            conversations_are_listed_by_most_recent_activity,
            append_assigns_seqs_1_2_3_in_order,
            concurrent_appends_get_exactly_seqs_1_to_400,
            retried_append_returns_the_original_and_stores_nothing,
            concurrent_retries_store_one_message,
            a_client_msg_id_reused_for_another_message_is_refused,
            non_members_cannot_append_read_mark_or_mute,
            a_removed_member_cannot_replay_an_old_send,
            history_pages_walk_250_messages_without_gap_or_overlap,
            sync_pages_through_three_conversations_exactly_once,
            history_pages_over_large_messages_hold_one_budget_and_stay_contiguous,
            sync_over_large_messages_holds_one_budget_across_conversations,
            read_marker_never_moves_back_and_is_clamped,
            unread_count_counts_only_other_peoples_messages,
            a_reply_names_an_earlier_text_message_of_the_same_conversation,
            an_edit_is_an_entry_of_its_own_and_changes_the_message_everywhere,
            only_the_sender_changes_a_message_and_a_delete_leaves_a_tombstone,
            edits_are_held_to_the_window_and_the_count_also_when_concurrent,
            search_finds_words_of_any_script_ignoring_case_and_accents,
            search_ranks_better_matches_first_and_orders_recent_by_time,
            search_finds_only_the_conversations_the_user_is_in_now,
            an_edit_is_found_by_its_new_text_and_a_deleted_message_not_at_all,
            search_pages_through_the_newest_thousand_matches,
            everything_survives_close_and_reopen,
            writes_survive_dropping_the_store_without_close,
            writes_after_close_are_refused,
            a_100000_character_multibyte_text_round_trips_exactly,
            sql_metacharacters_are_stored_verbatim,
            delivered_marker_moves_forward_and_reading_implies_delivery,
            group_receipts_count_members_except_the_sender,
            last_seen_only_moves_forward_and_contacts_are_direct_peers,
            push_subscriptions_follow_devices_membership_and_mute,
            settings_are_created_once,
            touches_are_batched_only_move_forward_and_ignore_revoked_devices,
            expired_devices_are_swept_in_batches_with_their_push_subscriptions,
            a_push_endpoint_belongs_to_the_device_holding_it,
            native_push_tokens_are_one_per_device_and_go_with_it,
            push_subscriptions_are_capped_per_device_and_per_user,
            a_block_closes_the_direct_conversation_both_ways_until_lifted,
            a_block_made_before_the_direct_conversation_exists_keeps_it_unopened,
            a_blocked_user_cannot_add_the_blocker_to_groups_and_membership_stays,
            blocks_are_capped_per_blocker_also_when_concurrent,
            deleting_an_account_erases_its_profile_and_keeps_its_messages,
            sent_messages_page_through_every_conversation_once_as_they_stand,
            sent_messages_cover_former_conversations_in_bounded_windows,
            sent_messages_visit_a_bounded_number_of_conversations_per_page,
            a_users_conversations_on_every_shard_are_listed_synced_searched_and_exported,
        );
    };
}

for_each_check!(sqlite => SqliteBackend::new());
for_each_check!(postgres => PgBackend::new(1).await);
for_each_check!(postgres_sharded => PgBackend::new(3).await);

/// The SQLite migrations, in order.
const SQLITE_MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_initial.sql"),
    include_str!("../migrations/sqlite/0002_presence_receipts_push.sql"),
    include_str!("../migrations/sqlite/0003_session_expiry.sql"),
    include_str!("../migrations/sqlite/0004_native_push.sql"),
    include_str!("../migrations/sqlite/0005_replies_edits_deletes.sql"),
];

/// A SQLite database at schema `version` (its first migrations applied)
/// holding `rows`, opened by the store, which migrates it the rest of the way.
fn sqlite_store_from_schema(dir: &tempfile::TempDir, version: usize, rows: &str) -> Arc<dyn Store> {
    let path = dir.path().join("banter.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        for sql in &SQLITE_MIGRATIONS[..version] {
            conn.execute_batch(sql).expect("old migration");
        }
        conn.execute_batch(&format!("PRAGMA user_version = {version}; {rows}")).expect("rows of the old schema");
    }
    Arc::new(banter_store::sqlite::SqliteStore::open(&path).expect("migrates"))
}

/// Migration 0004 on a database written by the previous schema: its push
/// subscriptions become `web` ones, unchanged.
#[tokio::test]
async fn sqlite_push_subscriptions_from_before_kinds_are_web() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sqlite_store_from_schema(
        &dir,
        3,
        "INSERT INTO users (id, username, password_hash, display_name, created_at) VALUES (1, 'old', 'h', 'Old', 1);
             INSERT INTO devices (id, user_id, name, token_hash, created_at, last_active_at) VALUES (1, 1, 'phone', x'01', 1, 1);
             INSERT INTO push_subscriptions (user_id, device_id, endpoint, p256dh, auth, created_at)
                 VALUES (1, 1, 'https://push.example/old', 'k', 'a', 1);",
    );
    let peer = user(&*store, "peer").await;
    let (conv, _) = store.get_or_create_direct(1, peer.id, 2).await.unwrap();
    let targets = store.push_targets(conv, &[1]).await.unwrap();
    let web = PushTarget::Web { endpoint: "https://push.example/old".into(), p256dh: "k".into(), auth: "a".into() };
    assert_eq!(targets.into_iter().map(|t| (t.device_id, t.target)).collect::<Vec<_>>(), vec![(1, web)]);
}

/// Migration 0006 on a database written by the previous schema: its text
/// messages are found by search, its deleted ones and change entries not.
#[tokio::test]
async fn sqlite_messages_from_before_search_are_indexed_by_the_migration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sqlite_store_from_schema(
        &dir,
        5,
        "INSERT INTO users (id, username, password_hash, display_name, created_at) VALUES (1, 'old', 'h', 'Old', 1), (2, 'peer', 'h', 'Peer', 1);
             INSERT INTO conversations (id, kind, created_at, last_seq, last_activity_at, direct_key, member_count) VALUES (1, 'direct', 1, 3, 1, '1:2', 2);
             INSERT INTO members (conversation_id, user_id, role, joined_at) VALUES (1, 1, 'member', 1), (1, 2, 'member', 1);
             INSERT INTO messages (conversation_id, seq, sender_id, sender_device_id, client_msg_id, text, server_ts, kind, deleted, target_seq)
                 VALUES (1, 1, 1, 1, 'a', 'Grüße aus München', 1, 'text', 0, NULL),
                        (1, 2, 1, 1, 'b', '', 1, 'text', 1, NULL),
                        (1, 3, 1, 1, 'c', 'Grüße again', 1, 'edit', 0, 2);",
    );
    assert_eq!(search(&*store, 2, "grusse", None).await, ["Grüße aus München"]);
}

/// Migration 0008 on a database written before it: a user who wrote in a
/// group and left it still finds those messages in the export.
#[tokio::test]
async fn sqlite_export_finds_groups_left_before_the_migration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sqlite_store_from_schema(
        &dir,
        5,
        "INSERT INTO users (id, username, password_hash, display_name, created_at) VALUES (1, 'old', 'h', 'Old', 1), (2, 'peer', 'h', 'Peer', 1);
             INSERT INTO conversations (id, kind, name, created_at, last_seq, last_activity_at, member_count) VALUES (1, 'group', 'g', 1, 2, 1, 1);
             INSERT INTO members (conversation_id, user_id, role, joined_at) VALUES (1, 2, 'admin', 1);
             INSERT INTO messages (conversation_id, seq, sender_id, sender_device_id, client_msg_id, text, server_ts, kind, deleted, target_seq)
                 VALUES (1, 1, 1, 1, 'a', 'written before leaving', 1, 'text', 0, NULL),
                        (1, 2, 2, 2, 'b', 'the peer', 1, 'text', 0, NULL);",
    );
    let page = store.sent_messages(1, None, 10).await.unwrap();
    assert_eq!(page.messages.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["written before leaving"]);
    assert_eq!(page.next, None);
}

/// Messages stored before migration 0006 are indexed when the store starts
/// (in Rust, since the search form is made there), once.
#[tokio::test]
async fn postgres_messages_from_before_search_are_indexed_at_start() {
    let db = PgBackend::new(1).await;
    let store = db.open().await;
    let a = sender(&*store, "alice").await;
    let b = sender(&*store, "bob").await;
    let (conv, _) = store.get_or_create_direct(a.user, b.user, 1).await.unwrap();
    for i in 0..1_200 {
        send(&*store, conv, a, &format!("Grüße number {i}")).await;
    }
    // 8 MB of long texts: more than one batch by bytes (4 MiB).
    let long = format!("longtext {}", "word ".repeat(80_000));
    for _ in 0..20 {
        send(&*store, conv, a, &long).await;
    }
    store.close().await;
    // As a database of schema 5 would be: no message indexed yet.
    let pool = sqlx::PgPool::connect(&db.url(0)).await.unwrap();
    sqlx::query("UPDATE messages SET search = NULL").execute(&pool).await.unwrap();
    sqlx::query("UPDATE search_backfill SET done = FALSE").execute(&pool).await.unwrap();
    let store = db.open().await;
    let page = store.search(search_request(b.user, "grusse", None, SearchOrder::Recent, 0)).await.unwrap();
    assert!(page.truncated, "all 1,200 are indexed, over several batches");
    assert_eq!(page.messages[0].text, "Grüße number 1199");
    let long_found = store.search(search_request(b.user, "longtext", None, SearchOrder::Recent, 0)).await.unwrap();
    assert_eq!(long_found.messages.len(), 20);
    let unindexed: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE search IS NULL").fetch_one(&pool).await.unwrap();
    assert_eq!(unindexed, 0);
    assert!(sqlx::query_scalar::<_, bool>("SELECT done FROM search_backfill").fetch_one(&pool).await.unwrap());
}

/// "Acknowledged = durable" on PostgreSQL rests on `synchronous_commit`.
mod postgres_durability {
    use super::*;

    #[tokio::test]
    async fn the_store_commits_synchronously_even_where_the_database_default_is_off() {
        use sqlx::Connection;
        let db = PgBackend::new(1).await;
        db.set_database_default("synchronous_commit", "off").await;
        let mut plain = sqlx::PgConnection::connect(&db.url(0)).await.unwrap();
        let default: String = sqlx::query_scalar("SHOW synchronous_commit").fetch_one(&mut plain).await.unwrap();
        assert_eq!(default, "off", "a session that asks for nothing gets the database's default");
        // The store reads the setting back at start and refuses to start
        // on `off`: opening is the proof that its connections asked for `on`.
        let store = db.open().await;
        let from = sender(&*store, "durable").await;
        let peer = user(&*store, "peer").await;
        let (conversation, _) = store.get_or_create_direct(from.user, peer.id, 1).await.unwrap();
        assert_eq!(send(&*store, conversation, from, "kept").await.seq, 1);
        store.close().await;
    }
}

/// Cluster mode: several nodes (here two stores on the same databases) write
/// to the same conversations at once.
mod postgres_nodes {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_nodes_appending_and_retrying_at_once_keep_seqs_dense_and_keys_single() {
        let db = PgBackend::new(2).await;
        let (node_a, node_b) = (db.open().await, db.open().await);
        let mut people = Vec::new();
        for i in 0..4 {
            people.push(sender(&*node_a, &format!("user{i}")).await);
        }
        let ids: Vec<UserId> = people.iter().map(|p| p.user).collect();
        // Groups go round-robin, so with two shards these two are on different ones.
        let g1 = node_a.create_group(ids[0], "one", &ids[1..], 1).await.unwrap();
        let g2 = node_b.create_group(ids[0], "two", &ids[1..], 1).await.unwrap();

        let mut tasks = JoinSet::new();
        for (n, from) in people.iter().copied().enumerate() {
            for (node, other) in [(node_a.clone(), node_b.clone()), (node_b.clone(), node_a.clone())] {
                tasks.spawn(async move {
                    let mut stored = Vec::new();
                    for i in 0..40 {
                        let conv = if i % 2 == 0 { g1 } else { g2 };
                        // Each device's key is sent to both nodes at the same time,
                        // as a client retrying on another node would.
                        let key = format!("k{n}-{i}");
                        let msg = new_message(conv, from, &key, "x");
                        let (x, y) = tokio::join!(node.append_message(msg.clone()), other.append_message(msg));
                        let (x, y) = (x.unwrap(), y.unwrap());
                        assert_eq!(x.message, y.message, "both nodes answer with the one stored message");
                        stored.push((x.duplicate, y.duplicate, x.message.conversation_id, x.message.seq));
                    }
                    stored
                });
            }
        }
        let mut per_conversation: HashMap<ConversationId, Vec<Seq>> = HashMap::new();
        let mut fresh = 0;
        for stored in tasks.join_all().await {
            for (dup_x, dup_y, conv, seq) in stored {
                fresh += usize::from(!dup_x) + usize::from(!dup_y);
                per_conversation.entry(conv).or_default().push(seq);
            }
        }
        // 4 senders × 2 tasks send the same 40 keys each: 160 distinct keys.
        assert_eq!(fresh, 160, "each key stored exactly once");
        for conv in [g1, g2] {
            let mut seqs_seen = per_conversation.remove(&conv).unwrap();
            seqs_seen.sort_unstable();
            seqs_seen.dedup();
            assert_eq!(seqs_seen, (1..=80).collect::<Vec<_>>());
            assert_eq!(seqs(&read_all(&*node_b, conv, ids[2]).await), (1..=80).collect::<Vec<_>>());
        }
    }

    /// The routing directory: leases on the database's clock, entries that
    /// count only while their node's lease runs, a sweep, and a node told
    /// when it must re-assert its users.
    #[tokio::test]
    async fn the_routing_directory_counts_entries_while_their_nodes_lease_runs() {
        routing_directory_on(1).await;
    }

    /// The same with the entries spread over three shards by user id.
    #[tokio::test]
    async fn the_routing_directory_partitioned_over_shards_behaves_the_same() {
        routing_directory_on(3).await;
    }

    /// A shard that is down does not keep a node's lease from being
    /// renewed on the others: its users there stay reachable.
    #[tokio::test]
    async fn a_shard_that_is_down_does_not_stop_the_lease_on_the_others() {
        use std::time::Duration;
        let db = PgBackend::new(3).await;
        let store = db.open().await;
        let directory = store.node_directory().expect("a directory");
        let node: u64 = 11;
        assert!(directory.renew_node(node, Duration::from_secs(1)).await.unwrap());
        // Users 3, 4 and 5 have their entries on shards 0, 1 and 2.
        directory.update_users(node, &[3, 4, 5], &[]).await.unwrap();
        let shard2 = sqlx::PgPool::connect(&db.url(2)).await.unwrap();
        sqlx::query("ALTER TABLE cluster_nodes RENAME TO cluster_nodes_away").execute(&shard2).await.unwrap();
        assert!(directory.renew_node(node, Duration::from_secs(60)).await.is_err(), "the failure is reported");
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        assert_eq!(directory.nodes_of(&[3, 4]).await.unwrap(), vec![(3, node), (4, node)], "renewed on shards 0 and 1");
        sqlx::query("ALTER TABLE cluster_nodes_away RENAME TO cluster_nodes").execute(&shard2).await.unwrap();
        assert_eq!(directory.sweep_expired().await.unwrap(), vec![5], "only shard 2's lease ran out");
    }

    async fn routing_directory_on(shards: usize) {
        use std::time::Duration;
        let db = PgBackend::new(shards).await;
        let (node_a, node_b) = (db.open().await, db.open().await);
        let (dir_a, dir_b) = (node_a.node_directory().expect("a directory"), node_b.node_directory().expect("a directory"));
        let (a, b): (u64, u64) = (u64::MAX - 1, 7);
        assert!(dir_a.renew_node(a, Duration::from_secs(60)).await.unwrap(), "a new node is told it was unknown");
        assert!(!dir_a.renew_node(a, Duration::from_secs(60)).await.unwrap(), "a renewal is not");
        assert!(dir_b.renew_node(b, Duration::from_secs(1)).await.unwrap());
        dir_a.update_users(a, &[1, 2], &[]).await.unwrap();
        dir_a.update_users(a, &[2], &[]).await.unwrap();
        dir_b.update_users(b, &[2, 3], &[]).await.unwrap();
        let mut found = dir_b.nodes_of(&[1, 2, 3, 4]).await.unwrap();
        found.sort_unstable();
        assert_eq!(found, vec![(1, a), (2, b), (2, a), (3, b)], "sorted by user, then node (b < a)");
        dir_a.update_users(a, &[], &[1]).await.unwrap();
        assert_eq!(dir_a.nodes_of(&[1]).await.unwrap(), vec![], "a user who left is nobody's");

        // Node b stops renewing: one lease later its entries stop counting,
        // and a sweep removes it; its next renewal says it was lost.
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        assert_eq!(dir_a.nodes_of(&[2, 3]).await.unwrap(), vec![(2, a)]);
        assert_eq!(dir_a.sweep_expired().await.unwrap(), vec![2, 3], "the swept node's users, once each");
        assert_eq!(dir_a.sweep_expired().await.unwrap(), Vec::<UserId>::new(), "swept once");
        assert!(dir_b.renew_node(b, Duration::from_secs(60)).await.unwrap(), "swept: must re-assert");
        assert_eq!(dir_a.nodes_of(&[3]).await.unwrap(), vec![], "its entries went with it");
    }
}

/// The per-user index on sharded PostgreSQL (`postgres/user_shards.rs`):
/// per-user questions ask only the shards holding the user's memberships,
/// the index is built at start for data written without it, and a single
/// database neither writes nor reads it.
mod postgres_user_shards {
    use super::*;

    /// The shard of a conversation on a store of `count` shards (ids are
    /// handed out `index + 1` stepping by `count`).
    fn shard_of(conversation_id: ConversationId, count: i64) -> usize {
        ((conversation_id - 1) % count) as usize
    }

    async fn raw(db: &PgBackend, shard: usize) -> sqlx::PgPool {
        sqlx::PgPool::connect(&db.url(shard)).await.unwrap()
    }

    /// A shard without `members` answers every per-user query with an
    /// error, so a question that succeeds did not ask it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_users_questions_do_not_touch_shards_that_hold_none_of_their_conversations() {
        let db = PgBackend::new(3).await;
        let store = db.open().await;
        let alice = sender(&*store, "alice").await;
        let bob = sender(&*store, "bob").await;
        let carol = sender(&*store, "carol").await;
        let (direct, _) = store.get_or_create_direct(alice.user, bob.user, 1).await.unwrap();
        let group = store.create_group(alice.user, "pair", &[bob.user], 1).await.unwrap();
        send(&*store, direct, alice, "alpha direct").await;
        send(&*store, group, alice, "alpha group").await;
        // Round-robin: carol's three groups are one per shard.
        let mut carols = Vec::new();
        for name in ["c1", "c2", "c3"] {
            let conversation = store.create_group(carol.user, name, &[bob.user], 1).await.unwrap();
            send(&*store, conversation, carol, "gamma").await;
            carols.push(conversation);
        }
        let alices: BTreeSet<usize> = [direct, group].iter().map(|c| shard_of(*c, 3)).collect();
        let elsewhere = (0..3).find(|shard| !alices.contains(shard)).expect("alice is on at most two shards");
        assert!(carols.iter().any(|c| shard_of(*c, 3) == elsewhere));

        let away = raw(&db, elsewhere).await;
        sqlx::query("ALTER TABLE members RENAME TO members_away").execute(&away).await.unwrap();

        assert_eq!(listed_ids(&*store, alice.user).await, BTreeSet::from([direct, group]));
        let synced = store.sync(alice.user, &[], 100).await.unwrap();
        assert_eq!(texts(&synced.messages), BTreeSet::from(["alpha direct", "alpha group"]));
        assert_eq!(store.contacts(alice.user).await.unwrap(), vec![bob.user]);
        assert_eq!(store.related_users(alice.user, &[bob.user, carol.user]).await.unwrap(), vec![bob.user]);
        assert_eq!(search(&*store, alice.user, "alpha", None).await.len(), 2);
        let exported: Vec<Message> = export_pages(&*store, alice.user).await.into_iter().flat_map(|p| p.messages).collect();
        assert_eq!(texts(&exported), BTreeSet::from(["alpha direct", "alpha group"]));
        // The shard is really unusable for those who are on it.
        assert!(store.list_conversations(carol.user).await.is_err());
        assert!(store.sync(bob.user, &[], 100).await.is_err());
        assert!(store.search(search_request(carol.user, "gamma", None, SearchOrder::Recent, 0)).await.is_err());

        sqlx::query("ALTER TABLE members_away RENAME TO members").execute(&away).await.unwrap();
        assert_eq!(listed_ids(&*store, carol.user).await, carols.iter().copied().collect());
    }

    /// No cache stands between a membership and the next question: another
    /// node's add is listed at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_membership_added_on_another_node_is_listed_at_once() {
        let db = PgBackend::new(3).await;
        let (node_a, node_b) = (db.open().await, db.open().await);
        let alice = sender(&*node_a, "alice").await;
        let bob = sender(&*node_a, "bob").await;
        let first = node_a.create_group(bob.user, "first", &[alice.user], 1).await.unwrap();
        assert_eq!(listed_ids(&*node_a, alice.user).await, BTreeSet::from([first]));
        let mut more = BTreeSet::from([first]);
        for name in ["second", "third"] {
            let group = node_b.create_group(bob.user, name, &[], 1).await.unwrap();
            node_b.add_members(group, bob.user, &[alice.user], 2).await.unwrap();
            send(&*node_b, group, bob, name).await;
            more.insert(group);
        }
        assert_eq!(more.iter().map(|c| shard_of(*c, 3)).collect::<BTreeSet<_>>().len(), 2, "on two shards");
        assert_eq!(listed_ids(&*node_a, alice.user).await, more);
        assert_eq!(texts(&node_a.sync(alice.user, &[], 100).await.unwrap().messages), BTreeSet::from(["second", "third"]));
    }

    /// A database whose memberships were written before the index existed
    /// (here: index and its "done" row removed) gets the index at start,
    /// current and former memberships alike, also when two nodes start at
    /// once; until then the questions trust the index and miss them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_index_is_built_at_start_for_memberships_written_without_it() {
        let db = PgBackend::new(3).await;
        let store = db.open().await;
        let alice = sender(&*store, "alice").await;
        let bob = sender(&*store, "bob").await;
        let (direct, _) = store.get_or_create_direct(alice.user, bob.user, 1).await.unwrap();
        let mut groups = Vec::new();
        for name in ["g1", "g2", "g3"] {
            groups.push(store.create_group(bob.user, name, &[alice.user], 1).await.unwrap());
        }
        send(&*store, direct, alice, "direct").await;
        send(&*store, groups[1], alice, "left behind").await;
        store.remove_member(groups[1], alice.user, alice.user).await.unwrap();
        store.close().await;

        let accounts = raw(&db, 0).await;
        sqlx::query("DELETE FROM user_shards").execute(&accounts).await.unwrap();
        // First as if built: the questions then see nothing.
        sqlx::query("UPDATE server_settings SET value = 'done' WHERE name = 'user_shards_backfilled'")
            .execute(&accounts)
            .await
            .unwrap();
        let trusting = db.open().await;
        assert!(trusting.list_conversations(alice.user).await.unwrap().is_empty());
        trusting.close().await;

        sqlx::query("DELETE FROM server_settings WHERE name = 'user_shards_backfilled'").execute(&accounts).await.unwrap();
        let (node_a, node_b) = tokio::join!(db.open(), db.open());
        let expected: BTreeSet<i16> =
            groups.iter().chain([&direct]).map(|c| shard_of(*c, 3) as i16).collect();
        let indexed: BTreeSet<i16> = sqlx::query_scalar("SELECT shard FROM user_shards WHERE user_id = $1")
            .bind(alice.user)
            .fetch_all(&accounts)
            .await
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(indexed, expected);
        assert_eq!(listed_ids(&*node_a, alice.user).await, BTreeSet::from([direct, groups[0], groups[2]]));
        assert_eq!(node_b.contacts(alice.user).await.unwrap(), vec![bob.user]);
        let exported: Vec<Message> = export_pages(&*node_b, alice.user).await.into_iter().flat_map(|p| p.messages).collect();
        assert_eq!(texts(&exported), BTreeSet::from(["direct", "left behind"]));
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM server_settings WHERE name = 'user_shards_backfilled'")
            .fetch_one(&accounts)
            .await
            .unwrap();
        assert_eq!(done, 1);
    }

    /// With one database everything is on shard 0: no index row is written
    /// and no backfill runs (the single-database deployment pays nothing).
    #[tokio::test]
    async fn one_database_neither_writes_nor_builds_the_index() {
        let db = PgBackend::new(1).await;
        let store = db.open().await;
        let alice = sender(&*store, "alice").await;
        let bob = sender(&*store, "bob").await;
        let (direct, _) = store.get_or_create_direct(alice.user, bob.user, 1).await.unwrap();
        let group = store.create_group(alice.user, "g", &[bob.user], 1).await.unwrap();
        assert_eq!(listed_ids(&*store, alice.user).await, BTreeSet::from([direct, group]));
        let pool = raw(&db, 0).await;
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM user_shards").fetch_one(&pool).await.unwrap();
        let marked: i64 = sqlx::query_scalar("SELECT count(*) FROM server_settings WHERE name = 'user_shards_backfilled'")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!((rows, marked), (0, 0));
    }
}

/// Cluster-wide rate limits: token buckets every node shares
/// (`banter_store::rate_limits`; PostgreSQL only, on one and three shards).
mod postgres_rate_limits {
    use std::net::IpAddr;
    use std::time::Duration;

    use banter_store::{Bucket, RateLimitStore, KNOWN_ADDRESSES_PER_ACCOUNT};

    use super::*;

    /// A node: a store on the databases and its shared buckets.
    async fn node(db: &PgBackend) -> (Arc<dyn Store>, Arc<dyn RateLimitStore>) {
        let store = db.open().await;
        let buckets = store.rate_limits().expect("PostgreSQL shares its buckets");
        (store, buckets)
    }

    #[tokio::test]
    async fn the_embedded_store_has_no_shared_buckets() {
        let db = SqliteBackend::new();
        assert!(db.open().await.rate_limits().is_none(), "one process counts in memory");
    }

    /// Each check on one database and on three shards.
    macro_rules! on_one_and_three_shards {
        ($($check:ident),* $(,)?) => {
            mod one_shard { $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $check() { super::$check(1).await } )* }
            mod three_shards { $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $check() { super::$check(3).await } )* }
        };
    }

    on_one_and_three_shards!(
        a_bucket_grants_its_burst_then_refuses_with_the_wait_for_one_token,
        a_take_gets_what_the_bucket_holds_and_the_bucket_refills_with_time,
        two_nodes_taking_at_once_share_one_budget_and_never_exceed_it,
        known_login_addresses_are_shared_and_kept_to_the_most_recent_per_account,
        full_buckets_are_swept_and_others_kept,
    );

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([198, 51, 100, n])
    }

    async fn a_bucket_grants_its_burst_then_refuses_with_the_wait_for_one_token(shards: usize) {
        let db = PgBackend::new(shards).await;
        let (_node, store) = node(&db).await;
        let bucket = Bucket::new(3, Duration::from_secs(3600), 3);
        for _ in 0..3 {
            assert_eq!(store.take_tokens("login.user alice", bucket, 1).await.unwrap().granted, 1);
        }
        let refused = store.take_tokens("login.user alice", bucket, 1).await.unwrap();
        assert_eq!(refused.granted, 0);
        let twenty_minutes = Duration::from_secs(20 * 60);
        assert!(refused.retry_after <= twenty_minutes && refused.retry_after > twenty_minutes - Duration::from_secs(30), "{refused:?}");
        assert_eq!(store.take_tokens("login.user bob", bucket, 1).await.unwrap().granted, 1, "keys are independent");
    }

    async fn a_take_gets_what_the_bucket_holds_and_the_bucket_refills_with_time(shards: usize) {
        let db = PgBackend::new(shards).await;
        let (_node, store) = node(&db).await;
        let bucket = Bucket::new(10, Duration::from_secs(1), 10);
        assert_eq!(store.take_tokens("frames 1", bucket, 4).await.unwrap().granted, 4);
        assert_eq!(store.take_tokens("frames 1", bucket, 10).await.unwrap().granted, 6, "what is left, not nothing");
        let empty = store.take_tokens("frames 1", bucket, 5).await.unwrap();
        assert_eq!(empty.granted, 0);
        assert!(empty.retry_after <= Duration::from_millis(100), "{empty:?}");
        tokio::time::sleep(Duration::from_millis(350)).await;
        let refilled = store.take_tokens("frames 1", bucket, 10).await.unwrap().granted;
        assert!((3..=5).contains(&refilled), "about 3 tokens came back in 350 ms, got {refilled}");
        assert_eq!(store.take_tokens("frames 1", bucket, 50).await.unwrap().granted, 0, "a take never exceeds the burst");
    }

    async fn two_nodes_taking_at_once_share_one_budget_and_never_exceed_it(shards: usize) {
        let db = PgBackend::new(shards).await;
        let ((_a, node_a), (_b, node_b)) = (node(&db).await, node(&db).await);
        let bucket = Bucket::new(1, Duration::from_secs(3600), 25);
        let mut tasks = JoinSet::new();
        for n in 0..40 {
            let node = if n % 2 == 0 { node_a.clone() } else { node_b.clone() };
            tasks.spawn(async move { node.take_tokens("login.address 198.51.100.1", bucket, 1 + n % 3).await.unwrap().granted });
        }
        let granted: u32 = tasks.join_all().await.into_iter().sum();
        assert_eq!(granted, 25, "exactly the burst over both nodes");
        for node in [&node_a, &node_b] {
            assert_eq!(node.take_tokens("login.address 198.51.100.1", bucket, 1).await.unwrap().granted, 0);
        }
    }

    async fn known_login_addresses_are_shared_and_kept_to_the_most_recent_per_account(shards: usize) {
        let db = PgBackend::new(shards).await;
        let ((_a, node_a), (_b, node_b)) = (node(&db).await, node(&db).await);
        node_a.remember_login_address("alice", ip(1)).await.unwrap();
        assert!(node_b.is_known_login_address("alice", ip(1)).await.unwrap(), "seen by every node");
        assert!(!node_b.is_known_login_address("bob", ip(1)).await.unwrap(), "per account");
        let count = KNOWN_ADDRESSES_PER_ACCOUNT as u8;
        for n in 2..=count + 1 {
            // Distinct times, so "most recent" is well defined.
            tokio::time::sleep(Duration::from_millis(2)).await;
            node_b.remember_login_address("alice", ip(n)).await.unwrap();
        }
        assert!(!node_a.is_known_login_address("alice", ip(1)).await.unwrap(), "the oldest is forgotten");
        for n in 2..=count + 1 {
            assert!(node_a.is_known_login_address("alice", ip(n)).await.unwrap());
        }
        // Logging in again from a remembered address refreshes it.
        node_a.remember_login_address("alice", ip(2)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
        node_a.remember_login_address("alice", ip(9)).await.unwrap();
        assert!(node_a.is_known_login_address("alice", ip(2)).await.unwrap());
        assert!(!node_a.is_known_login_address("alice", ip(3)).await.unwrap());
    }

    async fn full_buckets_are_swept_and_others_kept(shards: usize) {
        let db = PgBackend::new(shards).await;
        let (_node, store) = node(&db).await;
        let quick = Bucket::new(100, Duration::from_secs(1), 1);
        let slow = Bucket::new(1, Duration::from_secs(3600), 1);
        for n in 0..10 {
            store.take_tokens(&format!("quick {n}"), quick, 1).await.unwrap();
        }
        assert_eq!(store.take_tokens("slow", slow, 1).await.unwrap().granted, 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(store.sweep_rate_limits().await.unwrap(), 10, "the full ones, on every shard");
        assert_eq!(store.take_tokens("slow", slow, 1).await.unwrap().granted, 0, "a bucket still refilling is kept");
    }
}
