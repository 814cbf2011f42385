//! The embedded SQLite implementation of [`Store`].
//!
//! Layout:
//! * [`writer`]: one OS thread owns the only write connection and commits
//!   queued writes in batches (group commit): many writers, one fsync.
//! * [`checkpointer`]: copies the WAL back into the database file on its
//!   own thread, so the writer never pauses for it.
//! * [`readers`]: a few threads with read-only connections serve reads in
//!   parallel; WAL lets them run while the writer commits.
//! * [`schema`]: connection PRAGMAs and embedded, versioned migrations.
//! * [`accounts`], [`conversations`], [`messages`]: the SQL, as plain
//!   synchronous functions over a `&Connection`.
//!
//! rusqlite (rather than an async driver) because the writer must control its
//! transactions exactly — one transaction per batch, one savepoint per job —
//! and the hot path should run cached prepared statements without an async
//! hop per statement.

mod accounts;
mod checkpointer;
mod conversations;
mod markers;
mod messages;
mod presence;
mod push;
mod readers;
pub(crate) mod rows;
mod schema;
mod writer;

use std::path::Path;

use async_trait::async_trait;
use banter_protocol::{
    frames::SyncCursor, http::MessageReceipts, Conversation, ConversationId, DeviceId, Member, MemberRole, Seq,
    TimestampMs, User, UserId,
};
use rusqlite::Connection;

use self::checkpointer::Checkpointer;
use self::readers::ReaderPool;
use self::schema::Access;
use self::writer::Writer;
use crate::{
    AppendOutcome, AuthenticatedDevice, DeviceRecord, HistoryRange, MarkerUpdate, MembershipChange, MessagePage,
    NewMessage, NewPushSubscription, PushSubscriptionRecord, Store, StoreError, StoreResult,
};
use self::markers::Marker;

/// Reader threads (and connections). Reads are short indexed lookups, so a
/// few threads keep up with many connections; more would mostly contend.
const READER_THREADS: usize = 4;

/// A [`Store`] backed by one SQLite file in WAL mode.
///
/// Cheap to share behind an `Arc`; all methods take `&self`. Dropping it
/// commits queued writes and stops its threads (blocking), as
/// [`Store::close`] does.
pub struct SqliteStore {
    // Field order is drop order: the writer finishes its queue before the
    // readers go away.
    writer: Writer,
    readers: ReaderPool,
    _checkpointer: Checkpointer,
}

/// SQLite's own error for a read-only directory is "unable to open database
/// file"; a probe file gives the operator the real reason (read-only file
/// system, permission denied, disk full) before anything else is tried.
fn check_writable(dir: &Path) -> StoreResult<()> {
    let probe = dir.join(".banter-write-probe");
    std::fs::write(&probe, b"banter")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| StoreError::Unavailable(format!("data directory {} is not writable: {e}", dir.display())))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, creating its parent
    /// directory, and brings the schema up to date.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("cannot create directory {}: {e}", dir.display())))?;
            check_writable(dir)?;
        }
        let mut write_conn = schema::open_connection(path, Access::ReadWrite)?;
        schema::migrate(&mut write_conn)?;
        write_conn
            .pragma_update(None, "wal_autocheckpoint", checkpointer::WRITER_AUTOCHECKPOINT_PAGES)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let checkpointer = Checkpointer::start(schema::open_connection(path, Access::ReadWrite)?)?;
        // Readers open after migrating so they never see a half-built schema.
        let read_conns = (0..READER_THREADS)
            .map(|_| schema::open_connection(path, Access::ReadOnly))
            .collect::<StoreResult<Vec<_>>>()?;
        let readers = ReaderPool::start(read_conns)?;
        let writer = Writer::start(write_conn)?;
        tracing::info!(path = %path.display(), "opened SQLite store");
        Ok(SqliteStore { writer, readers, _checkpointer: checkpointer })
    }

    /// Runs `f` on the writer thread inside the next batch's transaction;
    /// returns once that transaction has committed (or failed).
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.writer.submit(f).await
    }

    /// Runs `f` on a reader thread inside a read transaction (one snapshot).
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.readers.submit(f).await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        display_name: &str,
        now: TimestampMs,
    ) -> StoreResult<User> {
        let (username, password_hash, display_name) =
            (username.to_owned(), password_hash.to_owned(), display_name.to_owned());
        self.write(move |c| accounts::create_user(c, &username, &password_hash, &display_name, now)).await
    }

    async fn user_credentials(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        let username = username.to_owned();
        self.read(move |c| accounts::user_credentials(c, &username)).await
    }

    async fn user_by_id(&self, user_id: UserId) -> StoreResult<Option<User>> {
        self.read(move |c| accounts::user_by_id(c, user_id)).await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let username = username.to_owned();
        self.read(move |c| accounts::user_by_username(c, &username)).await
    }

    async fn update_display_name(&self, user_id: UserId, display_name: &str) -> StoreResult<User> {
        let display_name = display_name.to_owned();
        self.write(move |c| accounts::update_display_name(c, user_id, &display_name)).await
    }

    async fn create_device(
        &self,
        user_id: UserId,
        name: &str,
        token_hash: &[u8],
        now: TimestampMs,
    ) -> StoreResult<DeviceRecord> {
        let (name, token_hash) = (name.to_owned(), token_hash.to_vec());
        self.write(move |c| accounts::create_device(c, user_id, &name, &token_hash, now)).await
    }

    async fn device_by_token_hash(&self, token_hash: &[u8]) -> StoreResult<Option<AuthenticatedDevice>> {
        let token_hash = token_hash.to_vec();
        self.read(move |c| accounts::device_by_token_hash(c, &token_hash)).await
    }

    async fn touch_device(&self, device_id: DeviceId, now: TimestampMs) -> StoreResult<()> {
        self.write(move |c| accounts::touch_device(c, device_id, now)).await
    }

    async fn list_devices(&self, user_id: UserId) -> StoreResult<Vec<DeviceRecord>> {
        self.read(move |c| accounts::list_devices(c, user_id)).await
    }

    async fn revoke_device(&self, user_id: UserId, device_id: DeviceId) -> StoreResult<()> {
        self.write(move |c| accounts::revoke_device(c, user_id, device_id)).await
    }

    async fn get_or_create_direct(
        &self,
        a: UserId,
        b: UserId,
        now: TimestampMs,
    ) -> StoreResult<(ConversationId, bool)> {
        self.write(move |c| conversations::get_or_create_direct(c, a, b, now)).await
    }

    async fn create_group(
        &self,
        creator: UserId,
        name: &str,
        members: &[UserId],
        now: TimestampMs,
    ) -> StoreResult<ConversationId> {
        let (name, members) = (name.to_owned(), members.to_vec());
        self.write(move |c| conversations::create_group(c, creator, &name, &members, now)).await
    }

    async fn add_members(
        &self,
        conversation_id: ConversationId,
        actor: UserId,
        user_ids: &[UserId],
        now: TimestampMs,
    ) -> StoreResult<MembershipChange> {
        let user_ids = user_ids.to_vec();
        self.write(move |c| conversations::add_members(c, conversation_id, actor, &user_ids, now)).await
    }

    async fn remove_member(
        &self,
        conversation_id: ConversationId,
        actor: UserId,
        target: UserId,
    ) -> StoreResult<MembershipChange> {
        self.write(move |c| conversations::remove_member(c, conversation_id, actor, target)).await
    }

    async fn membership(&self, conversation_id: ConversationId, user_id: UserId) -> StoreResult<Option<MemberRole>> {
        self.read(move |c| rows::role_of(c, conversation_id, user_id)).await
    }

    async fn member_ids(&self, conversation_id: ConversationId) -> StoreResult<Vec<UserId>> {
        self.read(move |c| rows::member_ids(c, conversation_id)).await
    }

    async fn members(&self, conversation_id: ConversationId, viewer: UserId) -> StoreResult<Vec<Member>> {
        self.read(move |c| conversations::members(c, conversation_id, viewer)).await
    }

    async fn conversation(&self, conversation_id: ConversationId, viewer: UserId) -> StoreResult<Conversation> {
        self.read(move |c| conversations::conversation(c, conversation_id, viewer)).await
    }

    async fn list_conversations(&self, viewer: UserId) -> StoreResult<Vec<Conversation>> {
        self.read(move |c| conversations::list_conversations(c, viewer)).await
    }

    async fn append_message(&self, message: NewMessage) -> StoreResult<AppendOutcome> {
        self.write(move |c| messages::append_message(c, message)).await
    }

    async fn history(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
        range: HistoryRange,
        limit: u32,
    ) -> StoreResult<MessagePage> {
        self.read(move |c| messages::history(c, conversation_id, viewer, range, limit)).await
    }

    async fn sync(&self, user_id: UserId, cursors: &[SyncCursor], limit: u32) -> StoreResult<MessagePage> {
        let cursors = cursors.to_vec();
        self.read(move |c| messages::sync(c, user_id, &cursors, limit)).await
    }

    async fn mark_read(&self, conversation_id: ConversationId, user_id: UserId, seq: Seq) -> StoreResult<MarkerUpdate> {
        self.write(move |c| markers::advance(c, conversation_id, user_id, seq, Marker::Read)).await
    }

    async fn mark_delivered(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        seq: Seq,
    ) -> StoreResult<MarkerUpdate> {
        self.write(move |c| markers::advance(c, conversation_id, user_id, seq, Marker::Delivered)).await
    }

    async fn message_receipts(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
        seq: Seq,
    ) -> StoreResult<MessageReceipts> {
        self.read(move |c| markers::message_receipts(c, conversation_id, viewer, seq)).await
    }

    async fn set_muted(&self, conversation_id: ConversationId, user_id: UserId, muted: bool) -> StoreResult<()> {
        self.write(move |c| markers::set_muted(c, conversation_id, user_id, muted)).await
    }

    async fn record_last_seen(&self, seen: &[(UserId, TimestampMs)]) -> StoreResult<()> {
        let seen = seen.to_vec();
        self.write(move |c| presence::record_last_seen(c, &seen)).await
    }

    async fn last_seen(&self, user_ids: &[UserId]) -> StoreResult<Vec<(UserId, Option<TimestampMs>)>> {
        let user_ids = user_ids.to_vec();
        self.read(move |c| presence::last_seen(c, &user_ids)).await
    }

    async fn contacts(&self, user_id: UserId) -> StoreResult<Vec<UserId>> {
        self.read(move |c| presence::contacts(c, user_id)).await
    }

    async fn related_users(&self, viewer: UserId, candidates: &[UserId]) -> StoreResult<Vec<UserId>> {
        let candidates = candidates.to_vec();
        self.read(move |c| presence::related_users(c, viewer, &candidates)).await
    }

    async fn add_push_subscription(&self, subscription: NewPushSubscription) -> StoreResult<i64> {
        self.write(move |c| push::add_push_subscription(c, &subscription)).await
    }

    async fn remove_device_push_subscriptions(&self, device_id: DeviceId) -> StoreResult<u64> {
        self.write(move |c| push::remove_device_push_subscriptions(c, device_id)).await
    }

    async fn remove_push_subscription(&self, subscription_id: i64) -> StoreResult<()> {
        self.write(move |c| push::remove_push_subscription(c, subscription_id)).await
    }

    async fn push_targets(
        &self,
        conversation_id: ConversationId,
        user_ids: &[UserId],
    ) -> StoreResult<Vec<PushSubscriptionRecord>> {
        let user_ids = user_ids.to_vec();
        self.read(move |c| push::push_targets(c, conversation_id, &user_ids)).await
    }

    async fn setting_or_init(&self, name: &str, initial: &str) -> StoreResult<String> {
        let (name, initial) = (name.to_owned(), initial.to_owned());
        self.write(move |c| push::setting_or_init(c, &name, &initial)).await
    }

    async fn close(&self) {
        self.writer.close().await;
    }
}
