//! [`DeviceStore`] on SQLite: devices (sessions) and their tokens.
//!
//! Removing a device and its push subscriptions is one job on the writer,
//! so nothing can touch a device between the read that finds it expired and
//! its delete.

use async_trait::async_trait;
use banter_protocol::{DeviceId, TimestampMs, UserId};
use rusqlite::{Connection, OptionalExtension};

use super::accounts::require_user;
use super::rows::{user_at, DbResult};
use super::SqliteStore;
use crate::{AuthenticatedDevice, DeviceRecord, DeviceStore, StoreError, StoreResult};

#[async_trait]
impl DeviceStore for SqliteStore {
    async fn create_device(
        &self,
        user_id: UserId,
        name: &str,
        token_hash: &[u8],
        now: TimestampMs,
    ) -> StoreResult<DeviceRecord> {
        let (name, token_hash) = (name.to_owned(), token_hash.to_vec());
        self.write(move |c| create_device(c, user_id, &name, &token_hash, now)).await
    }

    async fn device_by_token_hash(&self, token_hash: &[u8]) -> StoreResult<Option<AuthenticatedDevice>> {
        let token_hash = token_hash.to_vec();
        self.read(move |c| device_by_token_hash(c, &token_hash)).await
    }

    async fn touch_devices(&self, device_ids: &[DeviceId], now: TimestampMs) -> StoreResult<()> {
        let device_ids = device_ids.to_vec();
        self.write(move |c| touch_devices(c, &device_ids, now)).await
    }

    async fn devices_by_id(&self, device_ids: &[DeviceId]) -> StoreResult<Vec<DeviceRecord>> {
        let device_ids = device_ids.to_vec();
        self.read(move |c| devices_by_id(c, &device_ids)).await
    }

    async fn remove_expired_devices(
        &self,
        created_before: TimestampMs,
        active_before: TimestampMs,
        limit: u32,
    ) -> StoreResult<Vec<DeviceRecord>> {
        self.write(move |c| remove_expired_devices(c, created_before, active_before, limit)).await
    }

    async fn list_devices(&self, user_id: UserId) -> StoreResult<Vec<DeviceRecord>> {
        self.read(move |c| list_devices(c, user_id)).await
    }

    async fn revoke_device(&self, user_id: UserId, device_id: DeviceId) -> StoreResult<()> {
        self.write(move |c| revoke_device(c, user_id, device_id)).await
    }
}

fn create_device(
    conn: &Connection,
    user_id: UserId,
    name: &str,
    token_hash: &[u8],
    now: TimestampMs,
) -> StoreResult<DeviceRecord> {
    // Checked explicitly so the caller gets UserNotFound rather than a
    // foreign-key failure reported as Unavailable.
    require_user(conn, user_id)?;
    let id: DeviceId = conn
        .prepare_cached(
            "INSERT INTO devices (user_id, name, token_hash, created_at, last_active_at) VALUES (?1, ?2, ?3, ?4, ?4)
             RETURNING id",
        )
        .db()?
        .query_row((user_id, name, token_hash, now), |row| row.get(0))
        .db()?;
    Ok(DeviceRecord { id, user_id, name: name.to_owned(), created_at: now, last_active_at: now })
}

fn device_by_token_hash(conn: &Connection, token_hash: &[u8]) -> StoreResult<Option<AuthenticatedDevice>> {
    conn.prepare_cached(
        "SELECT u.id, u.username, u.display_name, d.id, d.created_at, d.last_active_at
         FROM devices d JOIN users u ON u.id = d.user_id
         WHERE d.token_hash = ?1",
    )
    .db()?
    .query_row([token_hash], |row| {
        Ok(AuthenticatedDevice {
            user: user_at(row, 0)?,
            device_id: row.get(3)?,
            created_at: row.get(4)?,
            last_active_at: row.get(5)?,
        })
    })
    .optional()
    .db()
}

fn touch_devices(conn: &Connection, device_ids: &[DeviceId], now: TimestampMs) -> StoreResult<()> {
    // max(): touches may arrive out of order; the marker never goes back.
    // A revoked device simply matches no row.
    let mut stmt = conn.prepare_cached("UPDATE devices SET last_active_at = max(last_active_at, ?2) WHERE id = ?1").db()?;
    for &device_id in device_ids {
        stmt.execute((device_id, now)).db()?;
    }
    Ok(())
}

/// The columns [`device_at`] reads, in order.
const DEVICE_COLUMNS: &str = "id, user_id, name, created_at, last_active_at";

fn device_at(row: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRecord> {
    Ok(DeviceRecord {
        id: row.get(0)?,
        user_id: row.get(1)?,
        name: row.get(2)?,
        created_at: row.get(3)?,
        last_active_at: row.get(4)?,
    })
}

fn devices_by_id(conn: &Connection, device_ids: &[DeviceId]) -> StoreResult<Vec<DeviceRecord>> {
    // One indexed lookup per id inside the caller's single read transaction:
    // in-process, this is as cheap as an IN list and needs no SQL built
    // from the input.
    let mut stmt = conn.prepare_cached(&format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1")).db()?;
    let mut found = Vec::with_capacity(device_ids.len());
    for &device_id in device_ids {
        if let Some(device) = stmt.query_row([device_id], device_at).optional().db()? {
            found.push(device);
        }
    }
    Ok(found)
}

fn list_devices(conn: &Connection, user_id: UserId) -> StoreResult<Vec<DeviceRecord>> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = ?1 ORDER BY created_at, id"))
        .db()?;
    let rows = stmt.query_map([user_id], device_at).db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

fn remove_expired_devices(
    conn: &Connection,
    created_before: TimestampMs,
    active_before: TimestampMs,
    limit: u32,
) -> StoreResult<Vec<DeviceRecord>> {
    // On the single writer, so nothing can touch a device between this read
    // and its delete.
    let expired = conn
        .prepare_cached(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE created_at < ?1 OR last_active_at < ?2 ORDER BY id LIMIT ?3"
        ))
        .db()?
        .query_map((created_before, active_before, limit), device_at)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    for device in &expired {
        delete_device(conn, device.id)?;
    }
    Ok(expired)
}

/// Deletes a device and, in the same transaction, its push subscriptions:
/// an ended session must not keep receiving notifications.
fn delete_device(conn: &Connection, device_id: DeviceId) -> StoreResult<usize> {
    let deleted = conn.prepare_cached("DELETE FROM devices WHERE id = ?1").db()?.execute([device_id]).db()?;
    conn.prepare_cached("DELETE FROM push_subscriptions WHERE device_id = ?1").db()?.execute([device_id]).db()?;
    Ok(deleted)
}

fn revoke_device(conn: &Connection, user_id: UserId, device_id: DeviceId) -> StoreResult<()> {
    require_device(conn, user_id, device_id)?;
    delete_device(conn, device_id)?;
    Ok(())
}

/// Fails with [`StoreError::DeviceNotFound`] unless the device exists and
/// is the user's.
pub(super) fn require_device(conn: &Connection, user_id: UserId, device_id: DeviceId) -> StoreResult<()> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM devices WHERE id = ?1 AND user_id = ?2")
        .db()?
        .exists((device_id, user_id))
        .db()?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::DeviceNotFound)
    }
}
