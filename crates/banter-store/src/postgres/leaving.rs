//! [`LeavingStore`] on PostgreSQL. An account's rows live on the accounts
//! shard, its memberships on the shards the per-user index names
//! ([`shards_of_user`]; rows stay there after the account is deleted, as
//! every row of the index stays), so deleting it cannot be one
//! transaction: the shards are done first (leave the groups, close the
//! direct conversations), so a failure there leaves a live account whose
//! owner may try again; then the account itself in one transaction on the
//! accounts shard; then the shards once more, for a group add or a block
//! change that slipped in between (each checked the account was live
//! before it began).

use async_trait::async_trait;
use banter_protocol::{ConversationId, DeviceId, Seq, TimestampMs, UserId};

use super::messages::{fill, history_sql, BudgetedRow};
use super::rows::{message_columns, DbResult};
use super::user_shards::shards_of_user;
use super::PgStore;
use crate::leaving::ExportWalk;
use crate::rows::deleted_username;
use crate::{
    ConversationStore, DeletedAccount, LeavingStore, MembershipChange, SentPage, StoreError, StoreResult,
    EXPORT_SCAN_CONVERSATIONS, PAGE_TEXT_BYTES,
};

#[async_trait]
impl LeavingStore for PgStore {
    async fn delete_account(&self, user_id: UserId, now: TimestampMs) -> StoreResult<DeletedAccount> {
        let accounts = self.shards.accounts();
        let live: Option<i32> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL")
            .bind(user_id)
            .fetch_optional(accounts)
            .await
            .db()?;
        if live.is_none() {
            return Err(StoreError::UserNotFound);
        }
        let (mut left_groups, closed_directs) = self.leave_everything(user_id).await?;
        let mut tx = accounts.begin().await.db()?;
        let live: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await
                .db()?;
        if live.is_none() {
            return Err(StoreError::UserNotFound);
        }
        let device_ids: Vec<DeviceId> = sqlx::query_scalar("SELECT id FROM devices WHERE user_id = $1 ORDER BY id")
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await
            .db()?;
        sqlx::query("DELETE FROM push_subscriptions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await.db()?;
        sqlx::query("DELETE FROM devices WHERE user_id = $1").bind(user_id).execute(&mut *tx).await.db()?;
        sqlx::query("DELETE FROM blocks WHERE blocker_id = $1 OR blocked_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .db()?;
        sqlx::query(
            "UPDATE users SET reserved_username = username, username = $2, display_name = '', password_hash = '',
                              last_seen_at = NULL, deleted_at = $3
             WHERE id = $1",
        )
        .bind(user_id)
        .bind(deleted_username(user_id))
        .bind(now)
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        left_groups.extend(self.leave_everything(user_id).await?.0);
        Ok(DeletedAccount { device_ids, left_groups, closed_directs })
    }

    /// The walk of [`ExportWalk`]: the user's conversations listed on each
    /// shard that holds (or held) a membership of theirs, and merged, then each read on its own shard with history's
    /// byte-budgeted query.
    async fn sent_messages(
        &self,
        user_id: UserId,
        after: Option<(ConversationId, Seq)>,
        limit: u32,
    ) -> StoreResult<SentPage> {
        let mut walk = ExportWalk::new(after, limit);
        let first = walk.first_conversation();
        let pools = shards_of_user(&self.shards, user_id).await?;
        let per_shard = futures_util::future::try_join_all(pools.into_iter().map(|pool| async move {
            sqlx::query_as::<_, (ConversationId, Seq)>(
                "SELECT c.id, c.last_seq FROM conversations c
                 WHERE c.id >= $2
                   AND c.id IN (SELECT conversation_id FROM members WHERE user_id = $1
                                UNION ALL SELECT conversation_id FROM former_members WHERE user_id = $1)
                 ORDER BY c.id LIMIT $3",
            )
            .bind(user_id)
            .bind(first)
            .bind(i64::from(EXPORT_SCAN_CONVERSATIONS))
            .fetch_all(pool)
            .await
            .db()
        }))
        .await?;
        let wanted = EXPORT_SCAN_CONVERSATIONS as usize;
        // More may follow if a shard filled its list, or if the shards
        // together listed more than one page visits.
        let shard_full = per_shard.iter().any(|listed| listed.len() >= wanted);
        let mut conversations: Vec<(ConversationId, Seq)> = per_shard.into_iter().flatten().collect();
        let listed_more = shard_full || conversations.len() > wanted;
        conversations.sort_unstable();
        conversations.truncate(wanted);
        for (conversation_id, last_seq) in conversations {
            let window = walk.window(conversation_id, last_seq);
            if window.1 > window.0 {
                let left = walk.page.remaining() as i64;
                let rows: Vec<BudgetedRow> = sqlx::query_as(history_sql!(
                    "seq > $2 AND seq <= $6 AND sender_id = $7 AND kind = 'text' AND NOT deleted",
                    "ASC"
                ))
                .bind(conversation_id)
                .bind(window.0)
                .bind(left + 1)
                .bind(left)
                .bind(PAGE_TEXT_BYTES as i64)
                .bind(window.1)
                .bind(user_id)
                .fetch_all(self.shards.for_conversation(conversation_id))
                .await
                .db()?;
                fill(&mut walk.page, rows)?;
            }
            if !walk.advance(conversation_id, window, last_seq) {
                break;
            }
        }
        Ok(walk.finish(listed_more))
    }
}

impl PgStore {
    /// On each shard holding a membership of the user: leaves each group the user is in (as leaving does)
    /// and closes its direct conversations, which it returns with their
    /// other user.
    async fn leave_everything(&self, user_id: UserId) -> StoreResult<(Vec<MembershipChange>, Vec<(ConversationId, UserId)>)> {
        let mut left = Vec::new();
        let mut directs = Vec::new();
        for pool in shards_of_user(&self.shards, user_id).await? {
            let groups: Vec<ConversationId> = sqlx::query_scalar(
                "SELECT m.conversation_id FROM members m JOIN conversations c ON c.id = m.conversation_id
                 WHERE m.user_id = $1 AND c.kind = 'group' ORDER BY m.conversation_id",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await
            .db()?;
            for conversation_id in groups {
                match self.remove_member(conversation_id, user_id, user_id).await {
                    Ok(change) => left.push(change),
                    // Left meanwhile (or removed by an admin): nothing to do.
                    Err(StoreError::NotAMember) => {}
                    Err(e) => return Err(e),
                }
            }
            directs.extend(
                sqlx::query_as::<_, (ConversationId, UserId)>(
                    "SELECT c.id, o.user_id FROM members m
                     JOIN conversations c ON c.id = m.conversation_id AND c.kind = 'direct'
                     JOIN members o ON o.conversation_id = c.id AND o.user_id <> m.user_id
                     WHERE m.user_id = $1 ORDER BY c.id",
                )
                .bind(user_id)
                .fetch_all(pool)
                .await
                .db()?,
            );
            sqlx::query(
                "UPDATE conversations SET closed = TRUE
                 WHERE kind = 'direct' AND id IN (SELECT conversation_id FROM members WHERE user_id = $1)",
            )
            .bind(user_id)
            .execute(pool)
            .await
            .db()?;
        }
        directs.sort_unstable();
        Ok((left, directs))
    }
}
