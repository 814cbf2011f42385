//! Web Push subscriptions and server-wide settings.

use banter_protocol::{ConversationId, DeviceId, UserId};
use rusqlite::{Connection, OptionalExtension};

use super::rows::DbResult;
use crate::{NewPushSubscription, PushSubscriptionRecord, StoreResult};

pub(super) fn add_push_subscription(conn: &Connection, sub: &NewPushSubscription) -> StoreResult<i64> {
    conn.prepare_cached(
        "INSERT INTO push_subscriptions (user_id, device_id, endpoint, p256dh, auth, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (endpoint) DO UPDATE SET
             user_id = excluded.user_id, device_id = excluded.device_id,
             p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at
         RETURNING id",
    )
    .db()?
    .query_row((sub.user_id, sub.device_id, &sub.endpoint, &sub.p256dh, &sub.auth, sub.created_at), |row| row.get(0))
    .db()
}

pub(super) fn remove_device_push_subscriptions(conn: &Connection, device_id: DeviceId) -> StoreResult<u64> {
    let removed =
        conn.prepare_cached("DELETE FROM push_subscriptions WHERE device_id = ?1").db()?.execute([device_id]).db()?;
    Ok(removed as u64)
}

pub(super) fn remove_push_subscription(conn: &Connection, id: i64) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM push_subscriptions WHERE id = ?1").db()?.execute([id]).db()?;
    Ok(())
}

pub(super) fn push_targets(
    conn: &Connection,
    conversation_id: ConversationId,
    user_ids: &[UserId],
) -> StoreResult<Vec<PushSubscriptionRecord>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT s.id, s.user_id, s.device_id, s.endpoint, s.p256dh, s.auth
             FROM members m JOIN push_subscriptions s ON s.user_id = m.user_id
             WHERE m.conversation_id = ?1 AND m.user_id = ?2 AND m.muted = 0
             ORDER BY s.id",
        )
        .db()?;
    let mut targets = Vec::new();
    for &user_id in user_ids {
        let rows = stmt
            .query_map((conversation_id, user_id), |row| {
                Ok(PushSubscriptionRecord {
                    id: row.get(0)?,
                    user_id: row.get(1)?,
                    device_id: row.get(2)?,
                    endpoint: row.get(3)?,
                    p256dh: row.get(4)?,
                    auth: row.get(5)?,
                })
            })
            .db()?;
        for row in rows {
            targets.push(row.db()?);
        }
    }
    Ok(targets)
}

pub(super) fn setting_or_init(conn: &Connection, name: &str, initial: &str) -> StoreResult<String> {
    conn.prepare_cached("INSERT INTO server_settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING")
        .db()?
        .execute((name, initial))
        .db()?;
    conn.prepare_cached("SELECT value FROM server_settings WHERE name = ?1")
        .db()?
        .query_row([name], |row| row.get(0))
        .optional()
        .db()?
        .ok_or_else(|| crate::StoreError::Unavailable(format!("setting {name} vanished")))
}
