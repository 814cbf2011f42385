//! The embedded SQLite implementation of [`Store`](crate::Store).
//!
//! Layout:
//! * [`writer`]: one OS thread owns the only write connection and commits
//!   queued writes in batches (group commit): many writers, one fsync.
//! * [`checkpointer`]: copies the WAL back into the database file on its
//!   own thread, so the writer never pauses for it.
//! * [`readers`]: a few threads with read-only connections serve reads in
//!   parallel; WAL lets them run while the writer commits.
//! * [`schema`]: connection PRAGMAs and embedded, versioned migrations.
//! * [`backup`]: `banter backup` (online, `VACUUM INTO`) and `banter restore`.
//! * [`accounts`], [`devices`], [`conversations`], [`messages`],
//!   [`markers`], [`presence`], [`push`], [`settings`], [`blocks`],
//!   [`leaving`]: each implements its
//!   domain trait ([`AccountStore`](crate::AccountStore) in `accounts`, and
//!   so on). The SQL is plain synchronous functions over a `&Connection`;
//!   the trait method only says which thread runs it — the writer (inside
//!   a batch transaction) or a reader — because the connection lives on
//!   that thread.
//! * [`rows`]: rusqlite error mapping and row decoding the modules share.
//!
//! rusqlite (rather than an async driver) because the writer must control its
//! transactions exactly — one transaction per batch, one savepoint per job —
//! and the hot path should run cached prepared statements without an async
//! hop per statement.

mod accounts;
pub mod backup;
mod blocks;
mod checkpointer;
mod conversations;
mod devices;
mod leaving;
mod markers;
mod messages;
mod owner_lock;
mod presence;
mod push;
mod readers;
mod rows;
mod schema;
mod search;
mod settings;
mod writer;

use std::path::Path;

use async_trait::async_trait;
use rusqlite::Connection;

use self::checkpointer::Checkpointer;
use self::owner_lock::OwnerLock;
use self::readers::ReaderPool;
use self::schema::Access;
use self::writer::Writer;
use crate::{StoreError, StoreLifecycle, StoreResult};

/// Reader threads (and connections). Reads are short indexed lookups, so a
/// few threads keep up with many connections; more would mostly contend.
const READER_THREADS: usize = 4;

/// A [`Store`](crate::Store) backed by one SQLite file in WAL mode.
///
/// Cheap to share behind an `Arc`; all methods take `&self`. Dropping it
/// commits queued writes and stops its threads (blocking), as
/// [`StoreLifecycle::close`] does.
pub struct SqliteStore {
    // Field order is drop order: the writer finishes its queue before the
    // readers go away.
    writer: Writer,
    readers: ReaderPool,
    _checkpointer: Checkpointer,
    /// Held from open to close: one process per database file.
    owner: OwnerLock,
}

/// SQLite's own error for a read-only directory is "unable to open database
/// file"; a probe file gives the operator the real reason (read-only file
/// system, permission denied, disk full) before anything else is tried.
fn check_writable(dir: &Path) -> StoreResult<()> {
    let probe = dir.join(".banter-write-probe");
    std::fs::write(&probe, b"banter")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| StoreError::Unavailable(format!("data directory {} is not writable: {e}", dir.display())))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, creating its parent
    /// directory, and brings the schema up to date.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("cannot create directory {}: {e}", dir.display())))?;
            check_writable(dir)?;
        }
        let owner = OwnerLock::acquire(path)?;
        let mut write_conn = schema::open_connection(path, Access::ReadWrite)?;
        schema::migrate(&mut write_conn)?;
        write_conn
            .pragma_update(None, "wal_autocheckpoint", checkpointer::WRITER_AUTOCHECKPOINT_PAGES)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let checkpointer = Checkpointer::start(schema::open_connection(path, Access::ReadWrite)?)?;
        // Readers open after migrating so they never see a half-built schema.
        let read_conns = (0..READER_THREADS)
            .map(|_| schema::open_connection(path, Access::ReadOnly))
            .collect::<StoreResult<Vec<_>>>()?;
        let readers = ReaderPool::start(read_conns)?;
        let writer = Writer::start(write_conn, search::index_pending)?;
        tracing::info!(path = %path.display(), "opened SQLite store");
        Ok(SqliteStore { writer, readers, _checkpointer: checkpointer, owner })
    }

    /// Runs `f` on the writer thread inside the next batch's transaction;
    /// returns once that transaction has committed (or failed).
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.writer.submit(f).await
    }

    /// Runs `f` on a reader thread inside a read transaction (one snapshot).
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.readers.submit(f).await
    }
}

#[async_trait]
impl StoreLifecycle for SqliteStore {
    async fn close(&self) {
        self.writer.close().await;
        self.owner.release();
    }

    fn fatal_error(&self) -> Option<String> {
        self.writer.failure()
    }
}
