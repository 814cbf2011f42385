//! The single writer thread, with group commit.
//!
//! SQLite allows one writer at a time, and with `synchronous=FULL` each
//! commit costs an fsync. So one OS thread owns the only write connection and
//! runs jobs in batches: it blocks for the first queued job, takes whatever
//! else is already queued (up to [`MAX_BATCH`]), runs them all in one
//! transaction and pays one fsync for the lot. Each job runs inside its own
//! SAVEPOINT, so a job that fails (say, `NotAMember`) undoes only its own
//! changes. Nobody is answered before COMMIT returns: if the commit fails,
//! every job in the batch gets [`StoreError::Unavailable`], never a success
//! for something that is not on disk.
//!
//! Being the only writer is also what makes per-conversation seqs dense:
//! read-increment-insert cannot interleave with another writer.
//!
//! After the last job and before COMMIT, outside every savepoint, the
//! writer runs a *closing step* for the batch as a whole (the store's is
//! indexing the batch's messages for search: FTS5 writes its index to disk
//! at every savepoint release, so per job would cost a flush per message).
//! If it fails, the batch fails: nothing commits.
//!
//! If the thread itself dies (a panic outside any job), nothing can write
//! any more: [`Writer::failure`] says so, the server's health check turns
//! red and `banter serve` exits non-zero so that its supervisor restarts it.
//! Limping on with a store that refuses every write would look healthy
//! from outside while losing every send.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::{StoreError, StoreResult};

/// Most jobs queued before senders wait: back-pressure, not unbounded memory.
const QUEUE_CAPACITY: usize = 4096;
/// Most jobs committed together. Bounds the latency of the first job in a
/// batch and the size of the WAL growth per commit.
const MAX_BATCH: usize = 512;

/// The closing step of every batch (see the module doc).
pub(super) type BeforeCommit = fn(&Connection) -> rusqlite::Result<()>;

/// A write job as the thread sees it: run it now, answer it after COMMIT.
trait Job: Send {
    /// Runs the job against the open transaction. Returns whether it
    /// succeeded, i.e. whether its changes should be kept.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Sends the answer: the job's own result if the batch committed, or
    /// `Unavailable(failure)` if it did not.
    fn finish(self: Box<Self>, failure: Option<&str>);
}

/// A job with a typed result.
struct TypedJob<T, F> {
    work: Option<F>,
    result: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> StoreResult<T> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else { return false };
        // A panic in one job must not take down the thread (and with it every
        // later write); it fails that job only.
        let result = catch_unwind(AssertUnwindSafe(|| work(conn)))
            .unwrap_or_else(|_| Err(StoreError::Unavailable("internal error: write job panicked".into())));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, failure: Option<&str>) {
        let answer = match (failure, self.result) {
            (None, Some(result)) => result,
            (Some(msg), _) => Err(StoreError::Unavailable(msg.to_owned())),
            (None, None) => Err(StoreError::Unavailable("internal error: write job never ran".into())),
        };
        // The caller may have given up waiting (its future was dropped); the
        // write stands regardless, so there is nothing to do about it.
        let _ = self.reply.send(answer);
    }
}

type BoxedJob = Box<dyn Job>;

/// Handle to the writer thread.
pub(super) struct Writer {
    running: Mutex<Option<Running>>,
    /// Set once if the thread died of a panic outside any job.
    failure: Arc<OnceLock<String>>,
}

struct Running {
    jobs: mpsc::Sender<BoxedJob>,
    thread: JoinHandle<()>,
    /// Fires (by being dropped) when the thread has finished its last batch,
    /// so `close` can wait without blocking the async runtime.
    stopped: oneshot::Receiver<()>,
}

impl Writer {
    /// Starts the writer thread, which takes ownership of `conn` and runs
    /// `before_commit` at the end of every batch.
    pub(super) fn start(conn: Connection, before_commit: BeforeCommit) -> StoreResult<Writer> {
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        let (stopped_tx, stopped) = oneshot::channel::<()>();
        let failure = Arc::new(OnceLock::new());
        let thread_failure = failure.clone();
        let thread = std::thread::Builder::new()
            .name("banter-sqlite-writer".into())
            .spawn(move || {
                if let Err(panic) = catch_unwind(AssertUnwindSafe(|| run(conn, queue, before_commit))) {
                    let what = panic_message(panic.as_ref());
                    tracing::error!(error = %what, "the SQLite writer thread died: every later write fails");
                    let _ = thread_failure.set(format!("the SQLite writer thread died: {what}"));
                }
                drop(stopped_tx);
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start writer thread: {e}")))?;
        Ok(Writer { running: Mutex::new(Some(Running { jobs, thread, stopped })), failure })
    }

    /// Why the writer can no longer write, if its thread died.
    pub(super) fn failure(&self) -> Option<String> {
        self.failure.get().cloned()
    }

    /// Runs `work` in the next batch and returns its result once the batch is
    /// committed. Waits (asynchronously) while the queue is full.
    pub(super) async fn submit<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let jobs = {
            let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
            match running.as_ref() {
                Some(r) => r.jobs.clone(),
                None => return Err(closed()),
            }
        };
        let (reply, answer) = oneshot::channel();
        let job: BoxedJob = Box::new(TypedJob { work: Some(work), result: None, reply });
        jobs.send(job).await.map_err(|_| self.failure().map_or_else(closed, StoreError::Unavailable))?;
        drop(jobs);
        answer.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the writer stopped before answering".into())))
    }

    /// Stops accepting jobs, lets the thread commit everything already queued
    /// and waits for it to exit.
    pub(super) async fn close(&self) {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(Running { jobs, thread, stopped }) = running {
            drop(jobs);
            // Returns when the thread is done (the sender is dropped at exit,
            // also on panic), so the join below does not block.
            let _ = stopped.await;
            if thread.join().is_err() {
                tracing::error!("the SQLite writer thread panicked");
            }
        }
    }
}

impl Drop for Writer {
    /// Same as `close`, blocking: queued writes are committed, not lost.
    fn drop(&mut self) {
        let running = self.running.get_mut().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(Running { jobs, thread, .. }) = running {
            drop(jobs);
            if thread.join().is_err() {
                tracing::error!("the SQLite writer thread panicked");
            }
        }
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".into())
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

/// The thread's loop. Returns when every sender is gone and the queue is empty.
fn run(conn: Connection, mut queue: mpsc::Receiver<BoxedJob>, before_commit: BeforeCommit) {
    let mut batch: Vec<BoxedJob> = Vec::with_capacity(MAX_BATCH);
    #[cfg(feature = "fault-injection")]
    let mut fault = crate::fault_injection::WriterFault::from_env();
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&conn, &mut batch, before_commit);
        #[cfg(feature = "fault-injection")]
        fault.after_batch();
    }
}

/// Runs one batch in one transaction and answers every job in it.
fn run_batch(conn: &Connection, batch: &mut Vec<BoxedJob>, before_commit: BeforeCommit) {
    let outcome = execute_batch(conn, batch, before_commit);
    if let Err(msg) = &outcome {
        tracing::error!(jobs = batch.len(), error = %msg, "write batch failed; nothing was committed");
        if !conn.is_autocommit() {
            // A failed ROLLBACK leaves nothing else to try; the next BEGIN
            // will fail and report it.
            if let Err(e) = conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %e, "rollback after a failed batch failed");
            }
        }
    }
    let failure = outcome.err();
    for job in batch.drain(..) {
        job.finish(failure.as_deref());
    }
}

/// BEGIN, each job in its own savepoint, the closing step, COMMIT. An `Err`
/// means the batch as a whole did not commit.
fn execute_batch(conn: &Connection, batch: &mut [BoxedJob], before_commit: BeforeCommit) -> Result<(), String> {
    // IMMEDIATE takes the write lock now, so a conflict with another process
    // surfaces here (after busy_timeout) rather than halfway through a job.
    exec(conn, "BEGIN IMMEDIATE").map_err(|e| format!("cannot begin a write transaction: {e}"))?;
    for job in batch.iter_mut() {
        exec(conn, "SAVEPOINT job").map_err(|e| format!("cannot create a savepoint: {e}"))?;
        let ok = job.run(conn);
        if conn.is_autocommit() {
            // Some errors (SQLITE_FULL, SQLITE_IOERR, …) make SQLite roll back
            // the whole transaction by itself, which also undid the jobs
            // before this one.
            return Err("the transaction was rolled back by the database after an error".into());
        }
        if !ok {
            exec(conn, "ROLLBACK TO job").map_err(|e| format!("cannot roll back a failed job: {e}"))?;
        }
        exec(conn, "RELEASE job").map_err(|e| format!("cannot release a savepoint: {e}"))?;
    }
    before_commit(conn).map_err(|e| format!("the batch's closing step failed: {e}"))?;
    exec(conn, "COMMIT").map_err(|e| format!("commit failed: {e}"))
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job<T: Send + 'static>(
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> (BoxedJob, oneshot::Receiver<StoreResult<T>>) {
        let (reply, answer) = oneshot::channel();
        (Box::new(TypedJob { work: Some(f), result: None, reply }), answer)
    }

    fn insert(value: i64) -> impl FnOnce(&Connection) -> StoreResult<()> + Send + 'static {
        move |c: &Connection| {
            c.execute("INSERT INTO t (v) VALUES (?1)", [value]).map_err(|e| StoreError::Unavailable(e.to_string()))?;
            Ok(())
        }
    }

    fn values(conn: &Connection) -> Vec<i64> {
        let mut stmt = conn.prepare("SELECT v FROM t ORDER BY v").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    /// Runs `jobs` as exactly one batch on `conn` and hands the connection back.
    fn run_one_batch(conn: Connection, jobs: Vec<BoxedJob>) -> Connection {
        let mut batch = jobs;
        run_batch(&conn, &mut batch, nothing);
        conn
    }

    fn nothing(_: &Connection) -> rusqlite::Result<()> {
        Ok(())
    }

    #[test]
    fn a_failing_job_rolls_back_only_its_own_changes() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER NOT NULL)").unwrap();
        let (a, a_answer) = job(insert(1));
        let (b, b_answer) = job(|c: &Connection| -> StoreResult<()> {
            insert(2)(c)?;
            Err(StoreError::NotAMember)
        });
        let (c, c_answer) = job(insert(3));
        let conn = run_one_batch(conn, vec![a, b, c]);
        assert!(a_answer.blocking_recv().unwrap().is_ok());
        assert!(matches!(b_answer.blocking_recv().unwrap(), Err(StoreError::NotAMember)));
        assert!(c_answer.blocking_recv().unwrap().is_ok());
        assert_eq!(values(&conn), vec![1, 3]);
    }

    #[test]
    fn the_closing_step_runs_once_after_the_jobs_and_its_failure_fails_the_batch() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER NOT NULL); CREATE TABLE closed (jobs INTEGER)").unwrap();
        fn count(c: &Connection) -> rusqlite::Result<()> {
            c.execute("INSERT INTO closed SELECT count(*) FROM t", []).map(|_| ())
        }
        fn refuse(c: &Connection) -> rusqlite::Result<()> {
            c.execute("INSERT INTO missing_table VALUES (1)", []).map(|_| ())
        }
        let (a, a_answer) = job(insert(1));
        let (b, b_answer) = job(insert(2));
        let mut batch = vec![a, b];
        run_batch(&conn, &mut batch, count);
        assert!(a_answer.blocking_recv().unwrap().is_ok() && b_answer.blocking_recv().unwrap().is_ok());
        let closed: Vec<i64> = conn.prepare("SELECT jobs FROM closed").unwrap().query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(closed, [2], "once per batch, after both jobs");
        let (c, c_answer) = job(insert(3));
        let mut batch = vec![c];
        run_batch(&conn, &mut batch, refuse);
        assert!(matches!(c_answer.blocking_recv().unwrap(), Err(StoreError::Unavailable(_))));
        assert_eq!(values(&conn), vec![1, 2], "nothing of the failed batch is kept");
        assert!(conn.is_autocommit());
    }

    #[test]
    fn a_failed_commit_answers_every_job_unavailable_and_keeps_nothing() {
        let conn = Connection::open_in_memory().unwrap();
        // A deferred foreign key is checked only at COMMIT, which lets the
        // test make COMMIT itself fail after every job succeeded.
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE p (id INTEGER PRIMARY KEY);
             CREATE TABLE t (v INTEGER NOT NULL REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED);
             INSERT INTO p (id) VALUES (1);",
        )
        .unwrap();
        let (good, good_answer) = job(insert(1));
        let (bad, bad_answer) = job(insert(99));
        let conn = run_one_batch(conn, vec![good, bad]);
        assert!(matches!(good_answer.blocking_recv().unwrap(), Err(StoreError::Unavailable(_))));
        assert!(matches!(bad_answer.blocking_recv().unwrap(), Err(StoreError::Unavailable(_))));
        assert!(conn.is_autocommit(), "the failed transaction must be closed");
        assert!(values(&conn).is_empty());
        // The writer recovers: the next batch commits normally.
        let (next, next_answer) = job(insert(1));
        let conn = run_one_batch(conn, vec![next]);
        assert!(next_answer.blocking_recv().unwrap().is_ok());
        assert_eq!(values(&conn), vec![1]);
    }

    #[test]
    fn a_panicking_job_fails_alone() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER NOT NULL)").unwrap();
        let (a, a_answer) = job(insert(1));
        let (b, b_answer) = job(|c: &Connection| -> StoreResult<()> {
            insert(2)(c)?;
            panic!("bug")
        });
        let conn = run_one_batch(conn, vec![a, b]);
        assert!(a_answer.blocking_recv().unwrap().is_ok());
        assert!(matches!(b_answer.blocking_recv().unwrap(), Err(StoreError::Unavailable(_))));
        assert_eq!(values(&conn), vec![1]);
    }

    #[tokio::test]
    async fn a_writer_thread_that_dies_reports_it_and_refuses_writes_with_the_reason() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER NOT NULL)").unwrap();
        let writer = Writer::start(conn, nothing).unwrap();
        assert_eq!(writer.failure(), None);
        writer.submit(insert(1)).await.unwrap();
        // A job whose answer panics: outside the job's own catch_unwind, so
        // it takes the thread down as a bug in the writer itself would.
        struct Poison;
        impl Job for Poison {
            fn run(&mut self, _: &Connection) -> bool {
                true
            }
            fn finish(self: Box<Self>, _: Option<&str>) {
                panic!("writer bug")
            }
        }
        let jobs = writer.running.lock().unwrap().as_ref().unwrap().jobs.clone();
        let _ = jobs.send(Box::new(Poison)).await;
        drop(jobs);
        let mut failure = None;
        for _ in 0..200 {
            failure = writer.failure();
            if failure.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(failure.as_deref(), Some("the SQLite writer thread died: writer bug"));
        match writer.submit(insert(2)).await {
            Err(StoreError::Unavailable(reason)) => assert!(reason.contains("writer thread died"), "{reason}"),
            other => panic!("expected the failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn after_close_writes_are_refused() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER NOT NULL)").unwrap();
        let writer = std::sync::Arc::new(Writer::start(conn, nothing).unwrap());
        let pending: Vec<_> = (0..100)
            .map(|i| {
                let writer = writer.clone();
                tokio::spawn(async move { writer.submit(insert(i)).await })
            })
            .collect();
        for p in pending {
            p.await.unwrap().unwrap();
        }
        writer.close().await;
        assert!(matches!(writer.submit(insert(1000)).await, Err(StoreError::Unavailable(_))));
    }
}
