//! [`LeavingStore`] on PostgreSQL. An account's rows live on the accounts
//! shard, its memberships on every shard, so deleting it cannot be one
//! transaction: the shards are done first (leave the groups, close the
//! direct conversations), so a failure there leaves a live account whose
//! owner may try again; then the account itself in one transaction on the
//! accounts shard; then the shards once more, for a group add or a block
//! change that slipped in between (each checked the account was live
//! before it began).

use async_trait::async_trait;
use banter_protocol::{ConversationId, DeviceId, Seq, TimestampMs, UserId};

use super::messages::{merged_page, BudgetedRow};
use super::rows::{message_columns, DbResult};
use super::PgStore;
use crate::rows::deleted_username;
use crate::{
    ConversationStore, DeletedAccount, LeavingStore, MembershipChange, MessagePage, StoreError, StoreResult,
    PAGE_TEXT_BYTES,
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
        let mut left_groups = self.leave_everything(user_id).await?;
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
        left_groups.extend(self.leave_everything(user_id).await?);
        Ok(DeletedAccount { device_ids, left_groups })
    }

    /// Per shard (as sync does), the first `limit + 1` of the user's rows
    /// after the cursor, text only within the byte budget; then merged.
    async fn sent_messages(
        &self,
        user_id: UserId,
        after: Option<(ConversationId, Seq)>,
        limit: u32,
    ) -> StoreResult<MessagePage> {
        let (after_conversation, after_seq) = after.unwrap_or((0, 0));
        let fetch = i64::from(limit) + 1;
        let per_shard = futures_util::future::try_join_all(self.shards.all().iter().map(|pool| async move {
            sqlx::query_as::<_, BudgetedRow>(concat!(
                "SELECT conversation_id, seq, sender_id, sender_device_id, client_msg_id,
                        CASE WHEN n <= $5 AND (n = 1 OR running <= $6) THEN text END, server_ts,
                        kind, reply_to, target_seq, edited_at, deleted
                 FROM (SELECT ",
                message_columns!(),
                ", row_number() OVER w AS n, sum(octet_length(text)) OVER w AS running
                       FROM messages
                       WHERE sender_id = $1 AND kind = 'text' AND NOT deleted AND (conversation_id, seq) > ($2, $3)
                       WINDOW w AS (ORDER BY conversation_id, seq ROWS UNBOUNDED PRECEDING)
                       ORDER BY conversation_id, seq LIMIT $4) page
                 WHERE n <= 2 OR running - octet_length(text) <= $6
                 ORDER BY conversation_id, seq"
            ))
            .bind(user_id)
            .bind(after_conversation)
            .bind(after_seq)
            .bind(fetch)
            .bind(i64::from(limit))
            .bind(PAGE_TEXT_BYTES as i64)
            .fetch_all(pool)
            .await
            .db()
        }))
        .await?;
        merged_page(per_shard, limit)
    }
}

impl PgStore {
    /// On every shard: leaves each group the user is in (as leaving does)
    /// and closes its direct conversations.
    async fn leave_everything(&self, user_id: UserId) -> StoreResult<Vec<MembershipChange>> {
        let mut left = Vec::new();
        for pool in self.shards.all() {
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
            sqlx::query(
                "UPDATE conversations SET closed = TRUE
                 WHERE kind = 'direct' AND id IN (SELECT conversation_id FROM members WHERE user_id = $1)",
            )
            .bind(user_id)
            .execute(pool)
            .await
            .db()?;
        }
        Ok(left)
    }
}
