//! [`PushStore`] on SQLite: push subscriptions of every kind (Web Push, FCM,
//! APNs) in one table, the address unique per kind.

use async_trait::async_trait;
use banter_protocol::{ConversationId, DeviceId, UserId};
use rusqlite::{Connection, OptionalExtension};

use super::{devices::require_device, rows::DbResult, SqliteStore};
use crate::push::push_endpoint_holder;
use crate::{NewPushSubscription, PushStore, PushSubscriptionCaps, PushSubscriptionRecord, PushTarget, StoreResult};

#[async_trait]
impl PushStore for SqliteStore {
    async fn add_push_subscription(
        &self,
        subscription: NewPushSubscription,
        caps: PushSubscriptionCaps,
    ) -> StoreResult<i64> {
        self.write(move |c| add_push_subscription(c, &subscription, caps)).await
    }

    async fn remove_device_push_subscriptions(&self, device_id: DeviceId) -> StoreResult<u64> {
        self.write(move |c| remove_device_push_subscriptions(c, device_id)).await
    }

    async fn remove_device_native_push(&self, device_id: DeviceId) -> StoreResult<u64> {
        self.write(move |c| remove_device_native_push(c, device_id, None)).await
    }

    async fn remove_push_subscription(&self, subscription_id: i64) -> StoreResult<()> {
        self.write(move |c| remove_push_subscription(c, subscription_id)).await
    }

    async fn push_targets(
        &self,
        conversation_id: ConversationId,
        user_ids: &[UserId],
    ) -> StoreResult<Vec<PushSubscriptionRecord>> {
        let user_ids = user_ids.to_vec();
        self.read(move |c| push_targets(c, conversation_id, &user_ids)).await
    }
}

/// Runs on the single writer: the holder lookup, the counts and the insert
/// see no concurrent registration, so the caps hold exactly.
fn add_push_subscription(conn: &Connection, sub: &NewPushSubscription, caps: PushSubscriptionCaps) -> StoreResult<i64> {
    require_device(conn, sub.user_id, sub.device_id)?;
    let (kind, address) = (sub.target.kind(), sub.target.address());
    let (p256dh, auth) = sub.target.keys();
    let holder: Option<(i64, DeviceId)> = conn
        .prepare_cached("SELECT id, device_id FROM push_subscriptions WHERE kind = ?1 AND endpoint = ?2")
        .db()?
        .query_row((kind, address), |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
        .db()?;
    let same = push_endpoint_holder(holder, sub.device_id)?;
    if sub.target.is_native() {
        // A device has one native token: a new one replaces the old.
        remove_device_native_push(conn, sub.device_id, same)?;
    }
    if let Some(id) = same {
        conn.prepare_cached("UPDATE push_subscriptions SET p256dh = ?2, auth = ?3, created_at = ?4 WHERE id = ?1")
            .db()?
            .execute((id, p256dh, auth, sub.created_at))
            .db()?;
        return Ok(id);
    }
    let (device_count, user_count): (i64, i64) = conn
        .prepare_cached(
            "SELECT count(*) FILTER (WHERE device_id = ?2), count(*) FROM push_subscriptions WHERE user_id = ?1",
        )
        .db()?
        .query_row((sub.user_id, sub.device_id), |row| Ok((row.get(0)?, row.get(1)?)))
        .db()?;
    caps.check(device_count, user_count)?;
    conn.prepare_cached(
        "INSERT INTO push_subscriptions (user_id, device_id, kind, endpoint, p256dh, auth, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
    )
    .db()?
    .query_row((sub.user_id, sub.device_id, kind, address, p256dh, auth, sub.created_at), |row| row.get(0))
    .db()
}

fn remove_device_push_subscriptions(conn: &Connection, device_id: DeviceId) -> StoreResult<u64> {
    let removed =
        conn.prepare_cached("DELETE FROM push_subscriptions WHERE device_id = ?1").db()?.execute([device_id]).db()?;
    Ok(removed as u64)
}

/// Removes the device's native tokens except `keep` (the one being registered again).
fn remove_device_native_push(conn: &Connection, device_id: DeviceId, keep: Option<i64>) -> StoreResult<u64> {
    let removed = conn
        .prepare_cached("DELETE FROM push_subscriptions WHERE device_id = ?1 AND kind <> 'web' AND id IS NOT ?2")
        .db()?
        .execute((device_id, keep))
        .db()?;
    Ok(removed as u64)
}

fn remove_push_subscription(conn: &Connection, id: i64) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM push_subscriptions WHERE id = ?1").db()?.execute([id]).db()?;
    Ok(())
}

fn push_targets(
    conn: &Connection,
    conversation_id: ConversationId,
    user_ids: &[UserId],
) -> StoreResult<Vec<PushSubscriptionRecord>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT s.id, s.user_id, s.device_id, s.kind, s.endpoint, s.p256dh, s.auth
             FROM members m JOIN push_subscriptions s ON s.user_id = m.user_id
             WHERE m.conversation_id = ?1 AND m.user_id = ?2 AND m.muted = 0
             ORDER BY s.id",
        )
        .db()?;
    let mut targets = Vec::new();
    for &user_id in user_ids {
        let rows = stmt
            .query_map((conversation_id, user_id), |row| {
                let (id, user_id, device_id, kind): (i64, UserId, DeviceId, String) =
                    (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
                let target = PushTarget::from_columns(&kind, row.get(4)?, row.get(5)?, row.get(6)?);
                Ok(target.map(|target| PushSubscriptionRecord { id, user_id, device_id, target }))
            })
            .db()?;
        for row in rows {
            targets.extend(row.db()?);
        }
    }
    Ok(targets)
}
