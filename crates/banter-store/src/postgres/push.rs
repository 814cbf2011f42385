//! Web Push subscriptions and server-wide settings (accounts shard).

use std::collections::HashSet;

use banter_protocol::{ConversationId, DeviceId, UserId};

use super::rows::DbResult;
use super::shards::Shards;
use crate::{NewPushSubscription, PushSubscriptionRecord, StoreError, StoreResult};

pub(super) async fn add_push_subscription(shards: &Shards, sub: &NewPushSubscription) -> StoreResult<i64> {
    sqlx::query_scalar(
        "INSERT INTO push_subscriptions (user_id, device_id, endpoint, p256dh, auth, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (endpoint) DO UPDATE SET
             user_id = excluded.user_id, device_id = excluded.device_id,
             p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at
         RETURNING id",
    )
    .bind(sub.user_id)
    .bind(sub.device_id)
    .bind(&sub.endpoint)
    .bind(&sub.p256dh)
    .bind(&sub.auth)
    .bind(sub.created_at)
    .fetch_one(shards.accounts())
    .await
    .db()
}

pub(super) async fn remove_device_push_subscriptions(shards: &Shards, device_id: DeviceId) -> StoreResult<u64> {
    Ok(sqlx::query("DELETE FROM push_subscriptions WHERE device_id = $1")
        .bind(device_id)
        .execute(shards.accounts())
        .await
        .db()?
        .rows_affected())
}

pub(super) async fn remove_push_subscription(shards: &Shards, id: i64) -> StoreResult<()> {
    sqlx::query("DELETE FROM push_subscriptions WHERE id = $1").bind(id).execute(shards.accounts()).await.db()?;
    Ok(())
}

/// Who to notify: members (conversation shard) that have not muted it, and
/// their subscriptions (accounts shard), in the order of `user_ids`.
pub(super) async fn push_targets(
    shards: &Shards,
    conversation_id: ConversationId,
    user_ids: &[UserId],
) -> StoreResult<Vec<PushSubscriptionRecord>> {
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
    let rows: Vec<(i64, UserId, DeviceId, String, String, String)> = sqlx::query_as(
        "SELECT id, user_id, device_id, endpoint, p256dh, auth FROM push_subscriptions
         WHERE user_id = ANY($1) ORDER BY id",
    )
    .bind(&wanted)
    .fetch_all(shards.accounts())
    .await
    .db()?;
    let records = rows.into_iter().map(|(id, user_id, device_id, endpoint, p256dh, auth)| PushSubscriptionRecord {
        id,
        user_id,
        device_id,
        endpoint,
        p256dh,
        auth,
    });
    // Grouped by user in the order asked, by id within a user.
    let mut records: Vec<PushSubscriptionRecord> = records.collect();
    records.sort_by_key(|r| (wanted.iter().position(|u| *u == r.user_id), r.id));
    Ok(records)
}

/// The setting's value, storing `initial` first if absent; concurrent
/// first starts of several nodes all read the one value that won.
pub(super) async fn setting_or_init(shards: &Shards, name: &str, initial: &str) -> StoreResult<String> {
    let pool = shards.accounts();
    sqlx::query("INSERT INTO server_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(initial)
        .execute(pool)
        .await
        .db()?;
    sqlx::query_scalar("SELECT value FROM server_settings WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await
        .db()?
        .ok_or_else(|| StoreError::Unavailable(format!("setting {name} vanished")))
}
