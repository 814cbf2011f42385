//! The PostgreSQL implementation of [`Store`], for cluster mode.
//!
//! Many identical Banter nodes share one set of PostgreSQL databases, so
//! every invariant is kept by PostgreSQL itself rather than by a single
//! writer: row locks on the conversation serialise appends and membership
//! changes, UNIQUE constraints keep usernames, direct pairs and idempotency
//! keys single, and each write is one transaction.
//!
//! Layout:
//! * [`shards`]: the databases (one or more), migrations, and which one
//!   holds a given conversation (sharding by conversation id);
//! * [`appender`]: batched appends, group-committed like the SQLite writer
//!   but correct with several nodes writing concurrently;
//! * [`accounts`], [`conversations`], [`messages`], [`markers`],
//!   [`presence`], [`push`]: the SQL, as async functions over the shards.
//!
//! sqlx with runtime-bound queries (`sqlx::query` + binds): no database is
//! needed at build time.

mod accounts;
mod appender;
mod conversations;
mod markers;
mod messages;
mod presence;
mod push;
mod rows;
mod shards;

use async_trait::async_trait;
use banter_protocol::{
    frames::SyncCursor, http::MessageReceipts, Conversation, ConversationId, DeviceId, Member, MemberRole, Seq,
    TimestampMs, User, UserId,
};

use self::appender::Appender;
use self::shards::Shards;
use crate::{
    AppendOutcome, AuthenticatedDevice, DeviceRecord, HistoryRange, MarkerUpdate, MembershipChange, MessagePage,
    NewMessage, NewPushSubscription, PushSubscriptionRecord, Store, StoreResult,
};
use self::markers::Marker;

/// How to reach the databases.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// One URL per shard (`postgres://user@host:port/db`), in a fixed order:
    /// shard 0 also holds the accounts. Never reorder or resize a deployed
    /// list (the store checks and refuses).
    pub urls: Vec<String>,
    /// Pooled connections per shard on this node.
    pub max_connections: u32,
}

impl PgConfig {
    /// A single database with the default pool size.
    pub fn single(url: impl Into<String>) -> PgConfig {
        PgConfig { urls: vec![url.into()], max_connections: 16 }
    }
}

/// A [`Store`] on one or more PostgreSQL databases.
pub struct PgStore {
    shards: Shards,
    /// One appender per shard, same order.
    appenders: Vec<Appender>,
}

impl PgStore {
    /// Connects, applies migrations to every shard and starts the appenders.
    /// Must be called inside a tokio runtime.
    pub async fn connect(config: &PgConfig) -> StoreResult<PgStore> {
        let shards = Shards::connect(&config.urls, config.max_connections).await?;
        let appenders = shards.all().iter().map(|pool| Appender::start(pool.clone())).collect();
        tracing::info!(shards = shards.count(), "opened PostgreSQL store");
        Ok(PgStore { shards, appenders })
    }
}

#[async_trait]
impl Store for PgStore {
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        display_name: &str,
        now: TimestampMs,
    ) -> StoreResult<User> {
        accounts::create_user(self.shards.accounts(), username, password_hash, display_name, now).await
    }

    async fn user_credentials(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        accounts::user_credentials(self.shards.accounts(), username).await
    }

    async fn user_by_id(&self, user_id: UserId) -> StoreResult<Option<User>> {
        accounts::user_by_id(self.shards.accounts(), user_id).await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        accounts::user_by_username(self.shards.accounts(), username).await
    }

    async fn update_display_name(&self, user_id: UserId, display_name: &str) -> StoreResult<User> {
        accounts::update_display_name(self.shards.accounts(), user_id, display_name).await
    }

    async fn create_device(
        &self,
        user_id: UserId,
        name: &str,
        token_hash: &[u8],
        now: TimestampMs,
    ) -> StoreResult<DeviceRecord> {
        accounts::create_device(self.shards.accounts(), user_id, name, token_hash, now).await
    }

    async fn device_by_token_hash(&self, token_hash: &[u8]) -> StoreResult<Option<AuthenticatedDevice>> {
        accounts::device_by_token_hash(self.shards.accounts(), token_hash).await
    }

    async fn touch_device(&self, device_id: DeviceId, now: TimestampMs) -> StoreResult<()> {
        accounts::touch_device(self.shards.accounts(), device_id, now).await
    }

    async fn list_devices(&self, user_id: UserId) -> StoreResult<Vec<DeviceRecord>> {
        accounts::list_devices(self.shards.accounts(), user_id).await
    }

    async fn revoke_device(&self, user_id: UserId, device_id: DeviceId) -> StoreResult<()> {
        accounts::revoke_device(self.shards.accounts(), user_id, device_id).await
    }

    async fn get_or_create_direct(
        &self,
        a: UserId,
        b: UserId,
        now: TimestampMs,
    ) -> StoreResult<(ConversationId, bool)> {
        conversations::get_or_create_direct(&self.shards, a, b, now).await
    }

    async fn create_group(
        &self,
        creator: UserId,
        name: &str,
        members: &[UserId],
        now: TimestampMs,
    ) -> StoreResult<ConversationId> {
        conversations::create_group(&self.shards, creator, name, members, now).await
    }

    async fn add_members(
        &self,
        conversation_id: ConversationId,
        actor: UserId,
        user_ids: &[UserId],
        now: TimestampMs,
    ) -> StoreResult<MembershipChange> {
        conversations::add_members(&self.shards, conversation_id, actor, user_ids, now).await
    }

    async fn remove_member(
        &self,
        conversation_id: ConversationId,
        actor: UserId,
        target: UserId,
    ) -> StoreResult<MembershipChange> {
        conversations::remove_member(&self.shards, conversation_id, actor, target).await
    }

    async fn membership(&self, conversation_id: ConversationId, user_id: UserId) -> StoreResult<Option<MemberRole>> {
        conversations::membership(self.shards.for_conversation(conversation_id), conversation_id, user_id).await
    }

    async fn member_ids(&self, conversation_id: ConversationId) -> StoreResult<Vec<UserId>> {
        conversations::member_ids(self.shards.for_conversation(conversation_id), conversation_id).await
    }

    async fn members(&self, conversation_id: ConversationId, viewer: UserId) -> StoreResult<Vec<Member>> {
        conversations::members(&self.shards, conversation_id, viewer).await
    }

    async fn conversation(&self, conversation_id: ConversationId, viewer: UserId) -> StoreResult<Conversation> {
        conversations::conversation(&self.shards, conversation_id, viewer).await
    }

    async fn list_conversations(&self, viewer: UserId) -> StoreResult<Vec<Conversation>> {
        conversations::list_conversations(&self.shards, viewer).await
    }

    async fn append_message(&self, message: NewMessage) -> StoreResult<AppendOutcome> {
        self.appenders[self.shards.index_of_conversation(message.conversation_id)].append(message).await
    }

    async fn history(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
        range: HistoryRange,
        limit: u32,
    ) -> StoreResult<MessagePage> {
        messages::history(&self.shards, conversation_id, viewer, range, limit).await
    }

    async fn sync(&self, user_id: UserId, cursors: &[SyncCursor], limit: u32) -> StoreResult<MessagePage> {
        messages::sync(&self.shards, user_id, cursors, limit).await
    }

    async fn mark_read(&self, conversation_id: ConversationId, user_id: UserId, seq: Seq) -> StoreResult<MarkerUpdate> {
        markers::advance(self.shards.for_conversation(conversation_id), conversation_id, user_id, seq, Marker::Read).await
    }

    async fn mark_delivered(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        seq: Seq,
    ) -> StoreResult<MarkerUpdate> {
        let pool = self.shards.for_conversation(conversation_id);
        markers::advance(pool, conversation_id, user_id, seq, Marker::Delivered).await
    }

    async fn message_receipts(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
        seq: Seq,
    ) -> StoreResult<MessageReceipts> {
        markers::message_receipts(self.shards.for_conversation(conversation_id), conversation_id, viewer, seq).await
    }

    async fn set_muted(&self, conversation_id: ConversationId, user_id: UserId, muted: bool) -> StoreResult<()> {
        markers::set_muted(self.shards.for_conversation(conversation_id), conversation_id, user_id, muted).await
    }

    async fn record_last_seen(&self, seen: &[(UserId, TimestampMs)]) -> StoreResult<()> {
        presence::record_last_seen(&self.shards, seen).await
    }

    async fn last_seen(&self, user_ids: &[UserId]) -> StoreResult<Vec<(UserId, Option<TimestampMs>)>> {
        presence::last_seen(&self.shards, user_ids).await
    }

    async fn contacts(&self, user_id: UserId) -> StoreResult<Vec<UserId>> {
        presence::contacts(&self.shards, user_id).await
    }

    async fn related_users(&self, viewer: UserId, candidates: &[UserId]) -> StoreResult<Vec<UserId>> {
        presence::related_users(&self.shards, viewer, candidates).await
    }

    async fn add_push_subscription(&self, subscription: NewPushSubscription) -> StoreResult<i64> {
        push::add_push_subscription(&self.shards, &subscription).await
    }

    async fn remove_device_push_subscriptions(&self, device_id: DeviceId) -> StoreResult<u64> {
        push::remove_device_push_subscriptions(&self.shards, device_id).await
    }

    async fn remove_push_subscription(&self, subscription_id: i64) -> StoreResult<()> {
        push::remove_push_subscription(&self.shards, subscription_id).await
    }

    async fn push_targets(
        &self,
        conversation_id: ConversationId,
        user_ids: &[UserId],
    ) -> StoreResult<Vec<PushSubscriptionRecord>> {
        push::push_targets(&self.shards, conversation_id, user_ids).await
    }

    async fn setting_or_init(&self, name: &str, initial: &str) -> StoreResult<String> {
        push::setting_or_init(&self.shards, name, initial).await
    }

    async fn close(&self) {
        for appender in &self.appenders {
            appender.close().await;
        }
        self.shards.close().await;
    }
}

