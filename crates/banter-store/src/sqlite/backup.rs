//! Online backup and offline restore of the embedded database
//! (`banter backup`, `banter restore`).
//!
//! **Backup runs beside a live server.** It is `VACUUM INTO` on a read-only
//! connection of its own: one read transaction, so the copy is one
//! consistent snapshot (every message acknowledged before the backup began
//! is in it, and no half-committed batch is), and in WAL mode a reader never
//! blocks the server's writer nor is blocked by it. SQLite's page-by-page
//! backup API would restart from the first page whenever another process
//! writes, which on a busy server can mean never finishing. The copy is
//! written to a temporary name beside the destination, synced, checked
//! (`PRAGMA integrity_check`), and only then renamed into place: a crash or a
//! full disk mid-backup never leaves something that looks like a backup.
//!
//! **Restore needs the server stopped**, which the owner lock proves (the
//! same lock `banter serve` holds while it runs). The backup is checked
//! first (integrity, and a schema version this binary knows: migrations run
//! forward at the next start), the current database and its WAL are moved
//! aside rather than deleted (`<database>.before-restore-<unix time>`), and
//! the backup is copied in under a temporary name and renamed.

use std::{
    fs::{self, File},
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use rusqlite::{Connection, OpenFlags};

use super::{owner_lock::OwnerLock, rows::DbResult, schema};
use crate::{StoreError, StoreResult};

/// What a backup or a restore found in the copy it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// The copy's size on disk.
    pub bytes: u64,
    /// Its schema version (`PRAGMA user_version`).
    pub schema_version: i64,
    /// Accounts in it.
    pub users: i64,
    /// Conversations (direct and groups) in it.
    pub conversations: i64,
    /// Messages in it.
    pub messages: i64,
}

/// Writes a consistent copy of the database at `database` to `destination`,
/// which must not exist yet. Safe while `banter serve` runs on it.
pub fn backup(database: &Path, destination: &Path) -> StoreResult<BackupSummary> {
    if !database.exists() {
        return Err(unavailable(format!("there is no database at {}", database.display())));
    }
    if destination.exists() {
        return Err(unavailable(format!("{} already exists; a backup never overwrites a file", destination.display())));
    }
    let partial = sibling(destination, ".partial");
    // A previous backup that died half-way may have left this behind.
    remove_if_present(&partial)?;
    let result = (|| {
        let source = Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| unavailable(format!("cannot open {}: {e}", database.display())))?;
        source.busy_timeout(schema::BUSY_TIMEOUT).db()?;
        let target = partial.to_str().ok_or_else(|| unavailable(format!("{} is not valid UTF-8", partial.display())))?;
        source
            .execute("VACUUM INTO ?1", [target])
            .map_err(|e| unavailable(format!("copying the database to {}: {e}", partial.display())))?;
        drop(source);
        sync_file(&partial)?;
        let summary = check(&partial)?;
        fs::rename(&partial, destination)
            .map_err(|e| unavailable(format!("renaming {} to {}: {e}", partial.display(), destination.display())))?;
        sync_parent(destination)?;
        Ok(summary)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&partial);
    }
    result
}

/// Replaces the database at `database` with the backup at `backup`. Fails
/// while a server has the database open. The database it replaces is kept
/// beside it; returns where (None when there was none).
pub fn restore(backup: &Path, database: &Path) -> StoreResult<(BackupSummary, Option<PathBuf>)> {
    let summary = check(backup)?;
    if summary.schema_version > schema::latest_version() {
        return Err(unavailable(format!(
            "the backup's schema version {} is newer than this binary supports ({}); restore it with the release that made it",
            summary.schema_version,
            schema::latest_version()
        )));
    }
    if let Some(dir) = database.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| unavailable(format!("cannot create directory {}: {e}", dir.display())))?;
    }
    let owner = OwnerLock::acquire(database)?;
    let kept = if database.exists() {
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let aside = sibling(database, &format!(".before-restore-{stamp}"));
        // The WAL holds committed transactions not yet in the main file:
        // it moves with it, so what was set aside is whole.
        for suffix in ["-wal", "-shm"] {
            let from = sibling(database, suffix);
            if from.exists() {
                let to = sibling(&aside, suffix);
                fs::rename(&from, &to).map_err(|e| unavailable(format!("moving {} aside: {e}", from.display())))?;
            }
        }
        fs::rename(database, &aside).map_err(|e| unavailable(format!("moving {} aside: {e}", database.display())))?;
        Some(aside)
    } else {
        None
    };
    let partial = sibling(database, ".restoring");
    fs::copy(backup, &partial)
        .map_err(|e| unavailable(format!("copying {} to {}: {e}", backup.display(), partial.display())))?;
    sync_file(&partial)?;
    fs::rename(&partial, database).map_err(|e| unavailable(format!("renaming into {}: {e}", database.display())))?;
    sync_parent(database)?;
    owner.release();
    Ok((summary, kept))
}

/// Opens a copy read-only and checks it is a whole, sound Banter database.
fn check(path: &Path) -> StoreResult<BackupSummary> {
    let bytes = fs::metadata(path).map_err(|e| unavailable(format!("cannot read {}: {e}", path.display())))?.len();
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| unavailable(format!("cannot open {}: {e}", path.display())))?;
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(|e| unavailable(format!("{} is not a SQLite database: {e}", path.display())))?;
    if integrity != "ok" {
        return Err(unavailable(format!("{} failed its integrity check: {integrity}", path.display())));
    }
    let schema_version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).db()?;
    let count = |table: &str| -> StoreResult<i64> {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| row.get(0))
            .map_err(|e| unavailable(format!("{} is not a Banter database ({table}: {e})", path.display())))
    };
    Ok(BackupSummary {
        bytes,
        schema_version,
        users: count("users")?,
        conversations: count("conversations")?,
        messages: count("messages")?,
    })
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_present(path: &Path) -> StoreResult<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(unavailable(format!("cannot remove {}: {e}", path.display()))),
    }
}

fn sync_file(path: &Path) -> StoreResult<()> {
    File::open(path).and_then(|f| f.sync_all()).map_err(|e| unavailable(format!("syncing {}: {e}", path.display())))
}

/// Makes a rename durable: the directory entry is synced too.
fn sync_parent(path: &Path) -> StoreResult<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| unavailable(format!("syncing {}: {e}", dir.display())))
}

fn unavailable(message: String) -> StoreError {
    StoreError::Unavailable(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteStore;

    #[test]
    fn a_backup_never_overwrites_and_a_restore_refuses_a_database_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("banter.sqlite3");
        let store = SqliteStore::open(&database).unwrap();
        let copy = dir.path().join("copy.sqlite3");
        let summary = backup(&database, &copy).unwrap();
        assert_eq!((summary.users, summary.messages, summary.schema_version), (0, 0, schema::latest_version()));
        let again = backup(&database, &copy).unwrap_err();
        assert!(again.to_string().contains("already exists"), "{again}");
        let in_use = restore(&copy, &database).unwrap_err();
        assert!(in_use.to_string().contains("in use by another banter process"), "{in_use}");
        drop(store);
        let (_, kept) = restore(&copy, &database).unwrap();
        assert!(kept.is_some_and(|p| p.exists()), "the replaced database is kept");
    }

    #[test]
    fn a_file_that_is_not_a_banter_database_is_not_restored() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk");
        fs::write(&junk, b"not a database at all").unwrap();
        let database = dir.path().join("banter.sqlite3");
        let err = restore(&junk, &database).unwrap_err();
        assert!(err.to_string().contains("not a SQLite database"), "{err}");
        assert!(!database.exists());
    }
}
