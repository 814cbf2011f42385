//! WAL checkpoints off the writer thread.
//!
//! In WAL mode every commit appends to the `-wal` file; a *checkpoint*
//! copies those pages back into the database file and fsyncs it. SQLite's
//! default runs it inside the commit that pushes the WAL past 1000 pages,
//! on the committing connection — here the single writer thread — so every
//! few hundred batches one commit also paid for copying megabytes and two
//! more fsyncs, and every write queued behind it waited (tens of
//! milliseconds at the tail). This thread instead runs a PASSIVE checkpoint
//! on its own connection every [`INTERVAL`]: PASSIVE never blocks the writer
//! or readers, and the writer restarts the WAL from its beginning on its
//! own once everything is copied back. The writer keeps a high
//! auto-checkpoint threshold ([`WRITER_AUTOCHECKPOINT_PAGES`]) only as a
//! backstop that bounds the WAL should this thread fall behind.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::{StoreError, StoreResult};

/// How often the WAL is copied back.
const INTERVAL: Duration = Duration::from_millis(200);

/// The writer's own auto-checkpoint threshold (pages of 4 KiB): ~40 MiB.
pub(super) const WRITER_AUTOCHECKPOINT_PAGES: i64 = 10_000;

/// Handle to the checkpoint thread; dropping it stops the thread.
pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread, which owns `conn` (a read-write connection that
    /// is never used to write rows).
    pub(super) fn start(conn: Connection) -> StoreResult<Checkpointer> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("banter-sqlite-checkpoint".into())
            .spawn(move || loop {
                match stopped.recv_timeout(INTERVAL) {
                    Err(RecvTimeoutError::Timeout) => checkpoint(&conn),
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start checkpoint thread: {e}")))?;
        Ok(Checkpointer { stop: Some(stop), thread: Some(thread) })
    }
}

fn checkpoint(conn: &Connection) {
    // (busy, WAL frames, frames checkpointed); an error here costs nothing
    // but a larger WAL until the next attempt.
    let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    });
    if let Err(e) = result {
        tracing::warn!(error = %e, "WAL checkpoint failed");
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the SQLite checkpoint thread panicked");
            }
        }
    }
}
