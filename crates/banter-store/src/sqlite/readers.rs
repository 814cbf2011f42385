//! A small pool of reader threads, each owning a read-only connection.
//!
//! rusqlite is synchronous, so reads must not run on the async runtime's
//! worker threads. Dedicated threads (rather than `spawn_blocking`) keep one
//! connection per thread with its prepared-statement cache warm. In WAL mode
//! readers never block the writer nor each other.
//!
//! Each job runs inside a read transaction, so a method that issues several
//! queries (membership check, then messages) sees one consistent snapshot.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use rusqlite::Connection;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::{StoreError, StoreResult};

/// Most read jobs queued or running before callers wait.
const QUEUE_CAPACITY: usize = 1024;

type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Handle to the reader threads.
pub(super) struct ReaderPool {
    jobs: Mutex<Option<Sender<ReadJob>>>,
    /// Bounds the queue without blocking the async caller: a caller waits
    /// for a permit asynchronously, and `try_send` then cannot find the
    /// channel full because every queued or running job holds a permit.
    permits: Arc<Semaphore>,
    threads: Vec<JoinHandle<()>>,
}

impl ReaderPool {
    /// Starts one thread per connection.
    pub(super) fn start(connections: Vec<Connection>) -> StoreResult<ReaderPool> {
        let (jobs, queue) = crossbeam_channel::bounded::<ReadJob>(QUEUE_CAPACITY);
        let mut threads = Vec::with_capacity(connections.len());
        for (index, conn) in connections.into_iter().enumerate() {
            let queue = queue.clone();
            let thread = std::thread::Builder::new()
                .name(format!("banter-sqlite-reader-{index}"))
                .spawn(move || run(conn, queue))
                .map_err(|e| StoreError::Unavailable(format!("cannot start reader thread: {e}")))?;
            threads.push(thread);
        }
        Ok(ReaderPool { jobs: Mutex::new(Some(jobs)), permits: Arc::new(Semaphore::new(QUEUE_CAPACITY)), threads })
    }

    /// Runs `work` on a reader thread inside a read transaction.
    pub(super) async fn submit<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let permit: OwnedSemaphorePermit = self.permits.clone().acquire_owned().await.map_err(|_| stopped())?;
        let (reply, answer) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn: &Connection| {
            let result = in_read_transaction(conn, work);
            drop(permit);
            let _ = reply.send(result);
        });
        let jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner).clone().ok_or_else(stopped)?;
        match jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(StoreError::Unavailable("internal error: read queue full despite a permit".into()))
            }
            Err(TrySendError::Disconnected(_)) => return Err(stopped()),
        }
        answer.await.unwrap_or_else(|_| Err(StoreError::Unavailable("a reader stopped before answering".into())))
    }
}

impl Drop for ReaderPool {
    fn drop(&mut self) {
        self.permits.close();
        // Dropping the only sender ends every thread's loop once the queue
        // is empty.
        drop(self.jobs.get_mut().unwrap_or_else(PoisonError::into_inner).take());
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("an SQLite reader thread panicked");
            }
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the store is closed".into())
}

fn run(conn: Connection, queue: Receiver<ReadJob>) {
    while let Ok(job) = queue.recv() {
        job(&conn);
    }
}

fn in_read_transaction<T>(conn: &Connection, work: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
    let begin = conn.prepare_cached("BEGIN").and_then(|mut stmt| stmt.execute([]));
    if let Err(e) = begin {
        return Err(StoreError::Unavailable(format!("cannot begin a read transaction: {e}")));
    }
    let result = catch_unwind(AssertUnwindSafe(|| work(conn)))
        .unwrap_or_else(|_| Err(StoreError::Unavailable("internal error: read job panicked".into())));
    // Nothing was written, so ROLLBACK and COMMIT are equivalent; ROLLBACK
    // cannot fail for want of disk space.
    if !conn.is_autocommit() {
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::error!(error = %e, "ending a read transaction failed");
        }
    }
    result
}
