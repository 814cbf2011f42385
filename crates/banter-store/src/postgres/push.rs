//! [`PushStore`] on PostgreSQL: push subscriptions of every kind (Web Push,
//! FCM, APNs) in one table on the accounts shard, the address unique per kind.

use std::collections::HashSet;

use async_trait::async_trait;
use banter_protocol::{ConversationId, DeviceId, UserId};

use super::rows::{is_unique_violation, unavailable, DbResult};
use super::PgStore;
use crate::push::push_endpoint_holder;
use crate::{NewPushSubscription, PushStore, PushSubscriptionCaps, PushSubscriptionRecord, PushTarget, StoreError, StoreResult};

#[async_trait]
impl PushStore for PgStore {
    /// One transaction on the accounts shard. Locking the user's row (NO KEY
    /// UPDATE: new devices may still reference it)
    /// serialises that user's registrations, so counting and inserting cannot
    /// interleave with another node's; locking the device row (shared) makes a
    /// concurrent revocation wait and then delete what was registered. Two
    /// users racing for one new endpoint meet the UNIQUE constraint: the loser
    /// is told it is taken.
    async fn add_push_subscription(&self, sub: NewPushSubscription, caps: PushSubscriptionCaps) -> StoreResult<i64> {
        let shards = &self.shards;
        let mut tx = shards.accounts().begin().await.db()?;
        sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE").bind(sub.user_id).execute(&mut *tx).await.db()?;
        let device: Option<i32> = sqlx::query_scalar("SELECT 1 FROM devices WHERE id = $1 AND user_id = $2 FOR SHARE")
            .bind(sub.device_id)
            .bind(sub.user_id)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        if device.is_none() {
            return Err(StoreError::DeviceNotFound);
        }
        let (kind, address) = (sub.target.kind(), sub.target.address());
        let (p256dh, auth) = sub.target.keys();
        let holder: Option<(i64, DeviceId)> =
            sqlx::query_as("SELECT id, device_id FROM push_subscriptions WHERE kind = $1 AND endpoint = $2")
                .bind(kind)
                .bind(address)
                .fetch_optional(&mut *tx)
                .await
                .db()?;
        let same = push_endpoint_holder(holder, sub.device_id)?;
        if sub.target.is_native() {
            // A device has one native token: a new one replaces the old.
            sqlx::query("DELETE FROM push_subscriptions WHERE device_id = $1 AND kind <> 'web' AND id IS DISTINCT FROM $2")
                .bind(sub.device_id)
                .bind(same)
                .execute(&mut *tx)
                .await
                .db()?;
        }
        let id = match same {
            Some(id) => {
                sqlx::query("UPDATE push_subscriptions SET p256dh = $2, auth = $3, created_at = $4 WHERE id = $1")
                    .bind(id)
                    .bind(p256dh)
                    .bind(auth)
                    .bind(sub.created_at)
                    .execute(&mut *tx)
                    .await
                    .db()?;
                id
            }
            None => {
                let (device_count, user_count): (i64, i64) = sqlx::query_as(
                    "SELECT count(*) FILTER (WHERE device_id = $2), count(*) FROM push_subscriptions WHERE user_id = $1",
                )
                .bind(sub.user_id)
                .bind(sub.device_id)
                .fetch_one(&mut *tx)
                .await
                .db()?;
                caps.check(device_count, user_count)?;
                sqlx::query_scalar(
                    "INSERT INTO push_subscriptions (user_id, device_id, kind, endpoint, p256dh, auth, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(sub.user_id)
                .bind(sub.device_id)
                .bind(kind)
                .bind(address)
                .bind(p256dh)
                .bind(auth)
                .bind(sub.created_at)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e, "push_subscriptions_kind_endpoint_key") {
                        StoreError::PushEndpointTaken
                    } else {
                        unavailable(e)
                    }
                })?
            }
        };
        tx.commit().await.db()?;
        Ok(id)
    }

    async fn remove_device_push_subscriptions(&self, device_id: DeviceId) -> StoreResult<u64> {
        let shards = &self.shards;
        Ok(sqlx::query("DELETE FROM push_subscriptions WHERE device_id = $1")
            .bind(device_id)
            .execute(shards.accounts())
            .await
            .db()?
            .rows_affected())
    }

    async fn remove_device_native_push(&self, device_id: DeviceId) -> StoreResult<u64> {
        let shards = &self.shards;
        Ok(sqlx::query("DELETE FROM push_subscriptions WHERE device_id = $1 AND kind <> 'web'")
            .bind(device_id)
            .execute(shards.accounts())
            .await
            .db()?
            .rows_affected())
    }

    async fn remove_push_subscription(&self, id: i64) -> StoreResult<()> {
        let shards = &self.shards;
        sqlx::query("DELETE FROM push_subscriptions WHERE id = $1").bind(id).execute(shards.accounts()).await.db()?;
        Ok(())
    }

    /// Who to notify: members (conversation shard) that have not muted it, and
    /// their subscriptions (accounts shard), in the order of `user_ids`.
    async fn push_targets(
        &self,
        conversation_id: ConversationId,
        user_ids: &[UserId],
    ) -> StoreResult<Vec<PushSubscriptionRecord>> {
        let shards = &self.shards;
        let unmuted: HashSet<UserId> = sqlx::query_scalar::<_, UserId>(
            "SELECT user_id FROM members WHERE conversation_id = $1 AND user_id = ANY($2) AND NOT muted",
        )
        .bind(conversation_id)
        .bind(user_ids)
        .fetch_all(shards.for_conversation(conversation_id))
        .await
        .db()?
        .into_iter()
        .collect();
        let wanted: Vec<UserId> = user_ids.iter().copied().filter(|u| unmuted.contains(u)).collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, UserId, DeviceId, String, String, String, String)> = sqlx::query_as(
            "SELECT id, user_id, device_id, kind, endpoint, p256dh, auth FROM push_subscriptions
             WHERE user_id = ANY($1) ORDER BY id",
        )
        .bind(&wanted)
        .fetch_all(shards.accounts())
        .await
        .db()?;
        // A kind this version does not know (a newer server's row) is skipped.
        let records = rows.into_iter().filter_map(|(id, user_id, device_id, kind, endpoint, p256dh, auth)| {
            let target = PushTarget::from_columns(&kind, endpoint, p256dh, auth)?;
            Some(PushSubscriptionRecord { id, user_id, device_id, target })
        });
        // Grouped by user in the order asked, by id within a user.
        let mut records: Vec<PushSubscriptionRecord> = records.collect();
        records.sort_by_key(|r| (wanted.iter().position(|u| *u == r.user_id), r.id));
        Ok(records)
    }
}
