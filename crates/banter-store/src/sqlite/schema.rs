//! Connection setup and schema migrations for the SQLite store.
//!
//! Every connection gets the same PRAGMAs, because SQLite applies most of them
//! per connection, not per file. Migrations are plain SQL files embedded in
//! the binary, so a deployed server never depends on files next to it; `PRAGMA
//! user_version` records how many have run.

use std::path::Path;

use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

use super::rows::DbResult;
use crate::search::text::search_form;
use crate::{StoreError, StoreResult};

/// The ordered migrations. Index `i` brings the schema from version `i` to
/// `i + 1`. Append only: a released entry must never change.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_initial", include_str!("../../migrations/sqlite/0001_initial.sql")),
    ("0002_presence_receipts_push", include_str!("../../migrations/sqlite/0002_presence_receipts_push.sql")),
    ("0003_session_expiry", include_str!("../../migrations/sqlite/0003_session_expiry.sql")),
    ("0004_native_push", include_str!("../../migrations/sqlite/0004_native_push.sql")),
    ("0005_replies_edits_deletes", include_str!("../../migrations/sqlite/0005_replies_edits_deletes.sql")),
    ("0006_search", include_str!("../../migrations/sqlite/0006_search.sql")),
    ("0007_blocks_and_account_deletion", include_str!("../../migrations/sqlite/0007_blocks_and_account_deletion.sql")),
    ("0008_former_members", include_str!("../../migrations/sqlite/0008_former_members.sql")),
    ("0009_search_per_batch", include_str!("../../migrations/sqlite/0009_search_per_batch.sql")),
];

/// Enough for every distinct statement the store prepares, so the hot path
/// never re-parses SQL.
const STATEMENT_CACHE_CAPACITY: usize = 128;

/// How long a connection waits for a lock held by another connection (e.g. a
/// checkpoint, or another process) before giving up.
pub(super) const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(5000);

/// Whether a connection may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    ReadWrite,
    ReadOnly,
}

/// Opens `path` and applies the PRAGMAs every store connection needs.
pub(super) fn open_connection(path: &Path, access: Access) -> StoreResult<Connection> {
    let conn = Connection::open(path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open database {}: {e}", path.display())))?;
    configure(&conn, access)?;
    Ok(conn)
}

/// Applies the connection PRAGMAs.
///
/// * WAL lets the reader threads read while the writer commits.
/// * `synchronous=FULL` syncs the WAL on every commit: an acknowledged write
///   survives power loss, which `NORMAL` does not guarantee in WAL mode.
/// * Foreign keys are off by default in SQLite; we rely on them.
/// * `query_only` on readers turns a bug that writes through a reader into an
///   error instead of a write that bypasses the group-commit writer.
pub(super) fn configure(conn: &Connection, access: Access) -> StoreResult<()> {
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).db()?;
    // An in-memory database answers "memory"; anything else means WAL could
    // not be enabled and readers would block the writer.
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        return Err(StoreError::Unavailable(format!("cannot enable WAL journal mode (got {mode:?})")));
    }
    conn.pragma_update(None, "synchronous", "FULL").db()?;
    conn.pragma_update(None, "foreign_keys", "ON").db()?;
    if access == Access::ReadOnly {
        conn.pragma_update(None, "query_only", "ON").db()?;
    } else {
        register_search_form(conn)?;
    }
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(())
}

/// `banter_search_form(text)`: the text as the search index holds it
/// ([`search_form`]), for the triggers that keep `messages_fts` (migration
/// 0006) in the transaction that writes a message.
fn register_search_form(conn: &Connection) -> StoreResult<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("banter_search_form", 1, flags, |ctx| {
        let text = ctx.get_raw(0).as_str().map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?;
        Ok(search_form(text))
    })
    .db()
}

/// Brings the schema up to date. Each migration runs in its own transaction
/// together with the `user_version` bump, so a crash leaves the database at
/// a whole version.
pub(super) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).db()?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        // Running an old binary on a newer database could corrupt it.
        return Err(StoreError::Unavailable(format!(
            "database schema version {current} is newer than this server supports ({known})"
        )));
    }
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).db()?;
        tx.execute_batch(sql).map_err(|e| StoreError::Unavailable(format!("migration {name} failed: {e}")))?;
        tx.pragma_update(None, "user_version", index as i64 + 1).db()?;
        tx.commit().db()?;
        tracing::info!(migration = name, "applied database migration");
    }
    Ok(())
}

/// The schema version this binary migrates to.
pub(super) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        configure(&conn, Access::ReadWrite).unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, latest_version());
    }

    #[test]
    fn a_database_from_a_newer_release_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", latest_version() + 1).unwrap();
        assert!(matches!(migrate(&mut conn), Err(StoreError::Unavailable(_))));
    }

    #[test]
    fn reader_connections_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let mut writer = open_connection(&path, Access::ReadWrite).unwrap();
        migrate(&mut writer).unwrap();
        let reader = open_connection(&path, Access::ReadOnly).unwrap();
        let err = reader.execute(
            "INSERT INTO users (username, password_hash, display_name, created_at) VALUES ('a','b','c',1)",
            [],
        );
        assert!(err.is_err());
    }
}
