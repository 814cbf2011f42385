//! [`DeviceStore`] on PostgreSQL: devices (sessions), on the accounts shard.

use async_trait::async_trait;
use banter_protocol::{DeviceId, TimestampMs, UserId};

use super::accounts::require_users;
use super::rows::DbResult;
use super::PgStore;
use crate::{AuthenticatedDevice, DeviceRecord, DeviceStore, StoreError, StoreResult};

#[async_trait]
impl DeviceStore for PgStore {
    async fn create_device(
        &self,
        user_id: UserId,
        name: &str,
        token_hash: &[u8],
        now: TimestampMs,
    ) -> StoreResult<DeviceRecord> {
        let pool = self.shards.accounts();
        // Checked explicitly so the caller gets UserNotFound rather than a
        // foreign-key failure reported as Unavailable.
        require_users(pool, &[user_id]).await?;
        let id: DeviceId = sqlx::query_scalar(
            "INSERT INTO devices (user_id, name, token_hash, created_at, last_active_at) VALUES ($1, $2, $3, $4, $4)
             RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(now)
        .fetch_one(pool)
        .await
        .db()?;
        Ok(DeviceRecord { id, user_id, name: name.to_owned(), created_at: now, last_active_at: now })
    }

    async fn device_by_token_hash(&self, token_hash: &[u8]) -> StoreResult<Option<AuthenticatedDevice>> {
        let pool = self.shards.accounts();
        let row: Option<(i64, String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT u.id, u.username, u.display_name, d.id, d.created_at, d.last_active_at
             FROM devices d JOIN users u ON u.id = d.user_id WHERE d.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await
        .db()?;
        Ok(row.map(|(id, username, display_name, device_id, created_at, last_active_at)| AuthenticatedDevice {
            user: crate::rows::stored_user(id, username, display_name),
            device_id,
            created_at,
            last_active_at,
        }))
    }

    async fn touch_devices(&self, device_ids: &[DeviceId], now: TimestampMs) -> StoreResult<()> {
        let pool = self.shards.accounts();
        if device_ids.is_empty() {
            return Ok(());
        }
        // GREATEST: touches from several nodes may arrive out of order. The rows
        // are locked in id order, so two nodes touching overlapping sets wait
        // for each other instead of deadlocking.
        sqlx::query(
            "UPDATE devices d SET last_active_at = GREATEST(d.last_active_at, $2)
             FROM (SELECT id FROM devices WHERE id = ANY($1) ORDER BY id FOR UPDATE) locked
             WHERE d.id = locked.id",
        )
        .bind(device_ids)
        .bind(now)
        .execute(pool)
        .await
        .db()?;
        Ok(())
    }

    async fn devices_by_id(&self, device_ids: &[DeviceId]) -> StoreResult<Vec<DeviceRecord>> {
        let pool = self.shards.accounts();
        if device_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<DeviceRow> =
            sqlx::query_as("SELECT id, user_id, name, created_at, last_active_at FROM devices WHERE id = ANY($1)")
                .bind(device_ids)
                .fetch_all(pool)
                .await
                .db()?;
        Ok(rows.into_iter().map(device).collect())
    }

    async fn list_devices(&self, user_id: UserId) -> StoreResult<Vec<DeviceRecord>> {
        let pool = self.shards.accounts();
        let rows: Vec<DeviceRow> = sqlx::query_as(
            "SELECT id, user_id, name, created_at, last_active_at FROM devices WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await
        .db()?;
        Ok(rows.into_iter().map(device).collect())
    }

    async fn remove_expired_devices(
        &self,
        created_before: TimestampMs,
        active_before: TimestampMs,
        limit: u32,
    ) -> StoreResult<Vec<DeviceRecord>> {
        let pool = self.shards.accounts();
        let mut tx = pool.begin().await.db()?;
        // SKIP LOCKED: a device being touched (or revoked) right now is left for
        // the next sweep; FOR UPDATE re-checks the condition on the row version
        // it locks, so a device touched just before is not removed.
        let rows: Vec<DeviceRow> = sqlx::query_as(
            "DELETE FROM devices d USING (
                 SELECT id FROM devices WHERE created_at < $1 OR last_active_at < $2
                 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED
             ) expired
             WHERE d.id = expired.id
             RETURNING d.id, d.user_id, d.name, d.created_at, d.last_active_at",
        )
        .bind(created_before)
        .bind(active_before)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .db()?;
        let ids: Vec<DeviceId> = rows.iter().map(|r| r.0).collect();
        // An ended session must not keep receiving notifications.
        sqlx::query("DELETE FROM push_subscriptions WHERE device_id = ANY($1)").bind(&ids).execute(&mut *tx).await.db()?;
        tx.commit().await.db()?;
        Ok(rows.into_iter().map(device).collect())
    }

    async fn revoke_device(&self, user_id: UserId, device_id: DeviceId) -> StoreResult<()> {
        let pool = self.shards.accounts();
        let mut tx = pool.begin().await.db()?;
        let deleted = sqlx::query("DELETE FROM devices WHERE id = $1 AND user_id = $2")
            .bind(device_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .db()?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::DeviceNotFound);
        }
        // A revoked device must not keep receiving notifications.
        sqlx::query("DELETE FROM push_subscriptions WHERE device_id = $1").bind(device_id).execute(&mut *tx).await.db()?;
        tx.commit().await.db()
    }
}

/// A row of `id, user_id, name, created_at, last_active_at`.
type DeviceRow = (i64, i64, String, i64, i64);

fn device((id, user_id, name, created_at, last_active_at): DeviceRow) -> DeviceRecord {
    DeviceRecord { id, user_id, name, created_at, last_active_at }
}
