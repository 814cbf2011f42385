//! [`ConversationStore`] on PostgreSQL: conversations and their
//! membership, on the conversation's shard.
//!
//! Every membership change locks its conversation row first (`SELECT … FOR
//! UPDATE`), the same row appends lock, and applies the rules of
//! [`crate::conversations`] under that lock: so "a group never exceeds the
//! limit" holds with many nodes writing, and an append never sees half a
//! change. User profiles live on the accounts shard and are joined in code.
//!
//! Every membership is written by `insert_members`, which takes the proof
//! that the per-user index already names the conversation's shard for those
//! users ([`user_shards`](super::user_shards), written before the
//! transaction begins); the list of a user's conversations asks only the
//! shards that index names.

use std::collections::HashSet;

use async_trait::async_trait;
use banter_protocol::{Conversation, ConversationId, ConversationKind, Member, MemberRole, TimestampMs, UserId};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

use super::accounts::{live_user_ids, require_users, users_by_ids};
use super::blocks::{blocked_either_way, blockers_of, refresh_direct_closed, require_not_blocked_by};
use crate::blocks::check_not_blocked_by;
use super::rows::DbResult;
use super::shards::Shards;
use super::user_shards::{self, shards_of_user, IndexedUsers};
use super::PgStore;
use crate::conversations::{
    check_addable, direct_key, may_add_members, may_remove_member, members_after_removal, members_to_add,
    new_group_members, unread_count,
};
use crate::rows::{parse_kind, parse_role};
use crate::{ConversationStore, MembershipChange, StoreError, StoreResult};

/// The conversation columns [`ViewRow::decode`] reads: the conversation, the
/// viewer's membership, the peer (direct only) and the last message.
macro_rules! view_select {
    () => {
        "SELECT c.id, c.kind, c.name, c.created_at, c.last_seq, m.read_seq, c.member_count, c.last_activity_at,
                p.user_id, p.delivered_seq, p.read_seq, m.muted,
                lm.conversation_id, lm.seq, lm.sender_id, lm.sender_device_id, lm.client_msg_id, lm.text, lm.server_ts,
                lm.kind, lm.reply_to, lm.target_seq, lm.edited_at, lm.deleted,
                (SELECT count(*) FROM messages ch
                 WHERE ch.conversation_id = c.id AND ch.seq > m.read_seq AND ch.kind <> 'text') AS unread_changes
         FROM members m JOIN conversations c ON c.id = m.conversation_id
         LEFT JOIN LATERAL (
             SELECT o.user_id, o.delivered_seq, o.read_seq FROM members o
             WHERE c.kind = 'direct' AND o.conversation_id = c.id AND o.user_id <> m.user_id LIMIT 1) p ON TRUE
         LEFT JOIN LATERAL (
             SELECT * FROM messages x WHERE x.conversation_id = c.id AND x.kind = 'text'
             ORDER BY x.seq DESC LIMIT 1) lm ON TRUE "
    };
}

#[async_trait]
impl ConversationStore for PgStore {
    async fn get_or_create_direct(
        &self,
        a: UserId,
        b: UserId,
        now: TimestampMs,
    ) -> StoreResult<(ConversationId, bool)> {
        let shards = &self.shards;
        let key = direct_key(a, b)?;
        require_users(shards.accounts(), &[a, b]).await?;
        if blocked_either_way(shards.accounts(), a, b).await? {
            return Err(StoreError::Blocked);
        }
        let shard = shards.index_for_direct(a, b);
        let pool = shards.get(shard);
        // The common case, without spending an id from the sequence.
        if let Some(id) = direct_by_key(pool, &key).await? {
            return Ok((id, false));
        }
        let indexed = user_shards::ensure(shards, shard, &[a, b]).await?;
        let mut tx = pool.begin().await.db()?;
        // ON CONFLICT waits for a concurrent creator of the same pair and then
        // yields nothing; the SELECT after it (a new snapshot under READ
        // COMMITTED) finds that row.
        let created: Option<ConversationId> = sqlx::query_scalar(
            "INSERT INTO conversations (kind, name, direct_key, creator_id, created_at, last_activity_at, member_count)
             VALUES ('direct', NULL, $1, $2, $3, $3, 2) ON CONFLICT (direct_key) DO NOTHING RETURNING id",
        )
        .bind(&key)
        .bind(a)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let Some(id) = created else {
            let id: ConversationId = sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = $1")
                .bind(&key)
                .fetch_one(&mut *tx)
                .await
                .db()?;
            return Ok((id, false));
        };
        insert_members(&mut tx, &indexed, id, &[(a, MemberRole::Member), (b, MemberRole::Member)], now).await?;
        tx.commit().await.db()?;
        // A block committed since the check above found no conversation to
        // close: recompute the flag now that there is one.
        refresh_direct_closed(shards, a, b).await?;
        Ok((id, true))
    }

    async fn create_group(
        &self,
        creator: UserId,
        name: &str,
        members: &[UserId],
        now: TimestampMs,
    ) -> StoreResult<ConversationId> {
        let shards = &self.shards;
        let (others, would_have) = new_group_members(creator, members)?;
        let everyone: Vec<UserId> = std::iter::once(creator).chain(others.iter().copied()).collect();
        require_users(shards.accounts(), &everyone).await?;
        require_not_blocked_by(shards.accounts(), creator, &others).await?;
        let shard = shards.index_for_new_group();
        let indexed = user_shards::ensure(shards, shard, &everyone).await?;
        let mut tx = shards.get(shard).begin().await.db()?;
        let id: ConversationId = sqlx::query_scalar(
            "INSERT INTO conversations (kind, name, direct_key, creator_id, created_at, last_activity_at, member_count)
             VALUES ('group', $1, NULL, $2, $3, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(creator)
        .bind(now)
        .bind(would_have as i32)
        .fetch_one(&mut *tx)
        .await
        .db()?;
        let roles: Vec<(UserId, MemberRole)> = std::iter::once((creator, MemberRole::Admin))
            .chain(others.iter().map(|&u| (u, MemberRole::Member)))
            .collect();
        insert_members(&mut tx, &indexed, id, &roles, now).await?;
        tx.commit().await.db()?;
        Ok(id)
    }

    async fn add_members(
        &self,
        conversation_id: ConversationId,
        actor: UserId,
        user_ids: &[UserId],
        now: TimestampMs,
    ) -> StoreResult<MembershipChange> {
        let shards = &self.shards;
        // Looked up before the transaction (users rows are never removed, and
        // they may be on another shard); reported in the same order as the embedded store.
        let existing = live_user_ids(shards.accounts(), user_ids).await?;
        // Every live user named, before knowing which the rules will let in:
        // a row for one refused is only stale (user_shards.rs).
        let named: Vec<UserId> = user_ids.iter().copied().filter(|id| existing.contains(id)).collect();
        let indexed = user_shards::ensure(shards, shards.index_of_conversation(conversation_id), &named).await?;
        // Before the transaction (see `blockers_of`); only the users
        // actually added are checked against it below.
        let blockers = blockers_of(shards.accounts(), actor, &named).await?;
        let mut tx = shards.for_conversation(conversation_id).begin().await.db()?;
        let (kind, member_count) = lock_conversation(&mut tx, conversation_id).await?;
        let actor_role = role_of(&mut tx, conversation_id, actor).await?.ok_or(StoreError::NotAMember)?;
        may_add_members(kind, actor_role)?;
        let (new, would_have) = members_to_add(member_count, user_ids)?;
        let current: HashSet<UserId> = member_ids_in(&mut tx, conversation_id).await?.into_iter().collect();
        check_addable(&new, |user_id| Ok((existing.contains(&user_id), current.contains(&user_id))))?;
        let blocked_by: Vec<UserId> = blockers.iter().copied().filter(|b| new.contains(b)).collect();
        check_not_blocked_by(&blocked_by)?;
        let roles: Vec<(UserId, MemberRole)> = new.iter().map(|&u| (u, MemberRole::Member)).collect();
        insert_members(&mut tx, &indexed, conversation_id, &roles, now).await?;
        set_member_count(&mut tx, conversation_id, would_have).await?;
        let member_ids = member_ids_in(&mut tx, conversation_id).await?;
        tx.commit().await.db()?;
        Ok(MembershipChange { conversation_id, member_ids, changed_user_ids: new })
    }

    async fn remove_member(
        &self,
        conversation_id: ConversationId,
        actor: UserId,
        target: UserId,
    ) -> StoreResult<MembershipChange> {
        let shards = &self.shards;
        let mut tx = shards.for_conversation(conversation_id).begin().await.db()?;
        let (kind, member_count) = lock_conversation(&mut tx, conversation_id).await?;
        let actor_role = role_of(&mut tx, conversation_id, actor).await?.ok_or(StoreError::NotAMember)?;
        may_remove_member(kind, actor, actor_role, target)?;
        let target_role = role_of(&mut tx, conversation_id, target).await?.ok_or(StoreError::NotAMember)?;
        sqlx::query("DELETE FROM members WHERE conversation_id = $1 AND user_id = $2")
            .bind(conversation_id)
            .bind(target)
            .execute(&mut *tx)
            .await
            .db()?;
        // The export still finds what the user wrote here (leaving.rs).
        sqlx::query("INSERT INTO former_members (user_id, conversation_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(target)
            .bind(conversation_id)
            .execute(&mut *tx)
            .await
            .db()?;
        set_member_count(&mut tx, conversation_id, members_after_removal(member_count)).await?;
        if target_role == MemberRole::Admin {
            // A group with members but no admin could never change again.
            sqlx::query(
                "UPDATE members SET role = 'admin'
                 WHERE conversation_id = $1
                   AND NOT EXISTS (SELECT 1 FROM members WHERE conversation_id = $1 AND role = 'admin')
                   AND user_id = (SELECT user_id FROM members WHERE conversation_id = $1
                                  ORDER BY joined_at, user_id LIMIT 1)",
            )
            .bind(conversation_id)
            .execute(&mut *tx)
            .await
            .db()?;
        }
        let member_ids = member_ids_in(&mut tx, conversation_id).await?;
        tx.commit().await.db()?;
        Ok(MembershipChange { conversation_id, member_ids, changed_user_ids: vec![target] })
    }

    /// The user's role, `None` if not a member (or no such conversation).
    async fn membership(&self, conversation_id: ConversationId, user_id: UserId) -> StoreResult<Option<MemberRole>> {
        let mut conn = self.shards.for_conversation(conversation_id).acquire().await.db()?;
        role_of(&mut conn, conversation_id, user_id).await
    }

    async fn member_ids(&self, conversation_id: ConversationId) -> StoreResult<Vec<UserId>> {
        let mut conn = self.shards.for_conversation(conversation_id).acquire().await.db()?;
        member_ids_in(&mut conn, conversation_id).await
    }

    /// Members with profiles, longest-standing first (ties by user id).
    async fn members(&self, conversation_id: ConversationId, viewer: UserId) -> StoreResult<Vec<Member>> {
        let shards = &self.shards;
        let pool = shards.for_conversation(conversation_id);
        require_member(pool, conversation_id, viewer).await?;
        let rows: Vec<(i64, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT user_id, role, joined_at, delivered_seq, read_seq FROM members WHERE conversation_id = $1
             ORDER BY joined_at, user_id",
        )
        .bind(conversation_id)
        .fetch_all(pool)
        .await
        .db()?;
        let ids: Vec<UserId> = rows.iter().map(|r| r.0).collect();
        let mut profiles = users_by_ids(shards.accounts(), &ids).await?;
        rows.into_iter()
            .map(|(user_id, role, joined_at, delivered_seq, read_seq)| {
                let user = profiles
                    .remove(&user_id)
                    .ok_or_else(|| StoreError::Unavailable(format!("member {user_id} has no user row")))?;
                Ok(Member { user, role: parse_role(&role)?, joined_at, delivered_seq, read_seq })
            })
            .collect()
    }

    async fn conversation(&self, conversation_id: ConversationId, viewer: UserId) -> StoreResult<Conversation> {
        let shards = &self.shards;
        let row = sqlx::query(concat!(view_select!(), "WHERE m.conversation_id = $1 AND m.user_id = $2"))
            .bind(conversation_id)
            .bind(viewer)
            .fetch_optional(shards.for_conversation(conversation_id))
            .await
            .db()?
            .ok_or(StoreError::NotAMember)?;
        let view = ViewRow::decode(&row)?;
        Ok(attach_peers(shards, vec![view]).await?.remove(0))
    }

    /// Every conversation of `viewer`, from the shards that hold the
    /// viewer's memberships, most recent activity first.
    async fn list_conversations(&self, viewer: UserId) -> StoreResult<Vec<Conversation>> {
        let shards = &self.shards;
        let pools = shards_of_user(shards, viewer).await?;
        let per_shard = futures_util::future::try_join_all(pools.into_iter().map(|pool| async move {
            let rows = sqlx::query(concat!(view_select!(), "WHERE m.user_id = $1"))
                .bind(viewer)
                .fetch_all(pool)
                .await
                .db()?;
            rows.iter().map(ViewRow::decode).collect::<StoreResult<Vec<_>>>()
        }))
        .await?;
        let mut views: Vec<ViewRow> = per_shard.into_iter().flatten().collect();
        views.sort_by(|x, y| {
            (y.last_activity_at, y.conversation.id).cmp(&(x.last_activity_at, x.conversation.id))
        });
        attach_peers(shards, views).await
    }
}

/// Fails with [`StoreError::NotAMember`] unless the user is a member (a
/// conversation that does not exist has none).
pub(super) async fn require_member(pool: &PgPool, conversation_id: ConversationId, user_id: UserId) -> StoreResult<()> {
    let mut conn = pool.acquire().await.db()?;
    role_of(&mut conn, conversation_id, user_id).await?.ok_or(StoreError::NotAMember)?;
    Ok(())
}

/// A conversation row before the peer's profile is attached.
struct ViewRow {
    conversation: Conversation,
    last_activity_at: i64,
    peer_id: Option<UserId>,
}

impl ViewRow {
    fn decode(row: &PgRow) -> StoreResult<ViewRow> {
        let get_last = || -> Result<Option<banter_protocol::Message>, sqlx::Error> {
            let seq: Option<i64> = row.try_get(13)?;
            let Some(seq) = seq else { return Ok(None) };
            Ok(Some(banter_protocol::Message {
                conversation_id: row.try_get(12)?,
                seq,
                sender_id: row.try_get(14)?,
                sender_device_id: row.try_get(15)?,
                client_msg_id: row.try_get(16)?,
                text: row.try_get(17)?,
                server_ts: row.try_get(18)?,
                // The lateral join picks `text` entries only.
                kind: banter_protocol::MessageKind::Text,
                reply_to: row.try_get(20)?,
                target_seq: row.try_get(21)?,
                edited_at: row.try_get(22)?,
                deleted: row.try_get(23)?,
            }))
        };
        let unread_changes: i64 = row.try_get(24).db()?;
        let kind: String = row.try_get(1).db()?;
        let last_seq: i64 = row.try_get(4).db()?;
        let read_seq: i64 = row.try_get(5).db()?;
        let member_count: i32 = row.try_get(6).db()?;
        Ok(ViewRow {
            conversation: Conversation {
                id: row.try_get(0).db()?,
                kind: parse_kind(&kind)?,
                name: row.try_get(2).db()?,
                created_at: row.try_get(3).db()?,
                last_seq,
                read_seq,
                unread_count: unread_count(last_seq, read_seq, unread_changes),
                member_count: i64::from(member_count),
                peer: None,
                last_message: get_last().db()?,
                muted: row.try_get(11).db()?,
                peer_delivered_seq: row.try_get(9).db()?,
                peer_read_seq: row.try_get(10).db()?,
            },
            last_activity_at: row.try_get(7).db()?,
            peer_id: row.try_get(8).db()?,
        })
    }
}

/// Fills in the peers' profiles with one accounts query.
async fn attach_peers(shards: &Shards, views: Vec<ViewRow>) -> StoreResult<Vec<Conversation>> {
    let peer_ids: Vec<UserId> = views.iter().filter_map(|v| v.peer_id).collect();
    let profiles = users_by_ids(shards.accounts(), &peer_ids).await?;
    Ok(views
        .into_iter()
        .map(|v| {
            let mut conversation = v.conversation;
            conversation.peer = v.peer_id.and_then(|id| profiles.get(&id).cloned());
            conversation
        })
        .collect())
}

async fn direct_by_key(pool: &PgPool, key: &str) -> StoreResult<Option<ConversationId>> {
    sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = $1").bind(key).fetch_optional(pool).await.db()
}

/// Locks the conversation row for the rest of the transaction. A missing
/// conversation reads as "not a member", so outsiders learn nothing.
async fn lock_conversation(
    conn: &mut PgConnection,
    conversation_id: ConversationId,
) -> StoreResult<(ConversationKind, i64)> {
    let row: Option<(String, i32)> =
        sqlx::query_as("SELECT kind, member_count FROM conversations WHERE id = $1 FOR UPDATE")
            .bind(conversation_id)
            .fetch_optional(&mut *conn)
            .await
            .db()?;
    let (kind, count) = row.ok_or(StoreError::NotAMember)?;
    Ok((parse_kind(&kind)?, i64::from(count)))
}

async fn role_of(
    conn: &mut PgConnection,
    conversation_id: ConversationId,
    user_id: UserId,
) -> StoreResult<Option<MemberRole>> {
    let role: Option<String> = sqlx::query_scalar("SELECT role FROM members WHERE conversation_id = $1 AND user_id = $2")
        .bind(conversation_id)
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await
        .db()?;
    role.as_deref().map(parse_role).transpose()
}

/// Every member's id, ascending.
pub(super) async fn member_ids_in(conn: &mut PgConnection, conversation_id: ConversationId) -> StoreResult<Vec<UserId>> {
    sqlx::query_scalar("SELECT user_id FROM members WHERE conversation_id = $1 ORDER BY user_id")
        .bind(conversation_id)
        .fetch_all(&mut *conn)
        .await
        .db()
}

/// Writes memberships: the only code that does. `indexed` is the proof
/// that the per-user index already names this shard for each of them.
async fn insert_members(
    conn: &mut PgConnection,
    indexed: &IndexedUsers,
    conversation_id: ConversationId,
    members: &[(UserId, MemberRole)],
    now: TimestampMs,
) -> StoreResult<()> {
    let ids: Vec<UserId> = members.iter().map(|m| m.0).collect();
    indexed.require(conversation_id, &ids)?;
    let roles: Vec<&str> = members.iter().map(|m| m.1.as_str()).collect();
    sqlx::query(
        "INSERT INTO members (conversation_id, user_id, role, joined_at)
         SELECT $1, u, r, $4 FROM unnest($2::bigint[], $3::text[]) AS t(u, r)",
    )
    .bind(conversation_id)
    .bind(&ids)
    .bind(&roles)
    .bind(now)
    .execute(&mut *conn)
    .await
    .db()?;
    Ok(())
}

async fn set_member_count(conn: &mut PgConnection, conversation_id: ConversationId, count: usize) -> StoreResult<()> {
    sqlx::query("UPDATE conversations SET member_count = $2 WHERE id = $1")
        .bind(conversation_id)
        .bind(count as i32)
        .execute(&mut *conn)
        .await
        .db()?;
    Ok(())
}
