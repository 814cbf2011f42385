//! Appending messages with group commit, safe with many nodes writing.
//!
//! Sends queue here; a few worker tasks each take whatever is queued (up to
//! [`MAX_BATCH`] jobs or about [`MAX_BATCH_BYTES`] of text) and store the
//! lot in **one** transaction of a fixed handful of statements, whatever the
//! batch size:
//!
//! 1. lock the batch's conversation rows, in id order (`FOR UPDATE`) — two
//!    batches, on this node or another, that share conversations serialise
//!    here, and the common id order rules out deadlocks between them;
//! 2. look up the idempotency keys already stored;
//! 3. read the members of every conversation involved (membership check and
//!    fan-out list, under the lock, so a concurrent removal is either fully
//!    before or fully after);
//! 4. in memory: per job, duplicate / not a member / next seq;
//! 5. raise `last_seq`, insert the messages, raise the senders' read markers
//!    — three set-based statements over arrays;
//! 6. COMMIT, then answer every job.
//!
//! Seqs stay dense: they are assigned from `last_seq` read under the row
//! lock and written in the same transaction, and a transaction that fails
//! leaves `last_seq` as it was.
//!
//! **When a batch fails**, what happens depends on why ([`classify`]):
//!
//! * an error one job can cause (a unique violation because another node
//!   stored the same idempotency key at the same instant, a data error, a
//!   serialization failure or deadlock): each job is retried alone, so one
//!   bad job never fails the others;
//! * the database being unreachable or unable to work (connection refused
//!   or lost, pool timeout, shutdown): every job of the batch is answered
//!   `Unavailable` at once, and so is every job queued behind it — trying
//!   them one by one would only make each wait for the pool's timeout in
//!   turn, which is how a 10 s outage used to leave senders waiting for
//!   minutes;
//! * the connection lost *while the COMMIT was under way*: the batch may
//!   have committed, so its jobs are answered [`StoreError::CommitUnknown`]
//!   (the client retries with the same `client_msg_id` and gets the
//!   original, or stores it once).
//!
//! **Every wait is bounded**: a job waits at most [`ENQUEUE_TIMEOUT`] for
//! room in the queue, and a batch (taking a pooled connection included)
//! gets [`BATCH_DEADLINE`], which also covers a network that silently drops
//! packets rather than refusing them. With a database that refuses or drops
//! connections, a batch fails within the pool's acquire timeout (3 s, see
//! `shards.rs`).
//!
//! Idempotency keys: step 2 finds a key stored on this shard; a key used in
//! a conversation on another shard is looked up there before the batch
//! starts ([`refuse_keys_used_on_other_shards`]), so a reuse is refused the
//! same way on one shard or many (`NewMessage::is_retry_of`).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use banter_protocol::{Content, ConversationId, DeviceId, Message, Seq, UserId};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::rows::{classify, is_retryable, message, message_columns, unavailable, BatchFailure, MessageRow};
use crate::blocks::check_entry;
use crate::messages::{require_sender, Target};
use crate::rows::parse_message_kind;
use crate::search::text::search_form;
use crate::{AppendOutcome, NewMessage, StoreError, StoreResult};

/// Jobs queued before senders wait: back-pressure, not unbounded memory.
const QUEUE_CAPACITY: usize = 4096;
/// Most jobs stored in one transaction.
const MAX_BATCH: usize = 256;
/// A batch stops taking jobs once it holds this much text (a text can be
/// 400 KB; a statement should not grow to hundreds of megabytes).
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Batches in flight at once per shard. More overlap the round trips of one
/// batch with the next one's; conversations they share serialise on the
/// row lock anyway.
const WORKERS: usize = 4;
/// Attempts for a job retried alone after a conflict with another writer.
const SOLO_ATTEMPTS: usize = 3;
/// The longest a job waits for room in the queue (a database so slow that
/// 4096 jobs are waiting is as good as unavailable).
const ENQUEUE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest one transaction may take, from asking the pool for a
/// connection to the COMMIT's answer. A healthy batch takes milliseconds;
/// this is for a network that drops packets silently, where no error would
/// come for minutes.
const BATCH_DEADLINE: Duration = Duration::from_secs(10);

struct Job {
    message: NewMessage,
    reply: oneshot::Sender<StoreResult<AppendOutcome>>,
}

/// The batching appender of one shard.
pub(super) struct Appender {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Appender {
    /// Starts the workers. `other_shards` are looked at for idempotency keys
    /// used in their conversations. Must be called inside a tokio runtime.
    pub(super) fn start(pool: PgPool, other_shards: Vec<PgPool>) -> Appender {
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        let queue = Arc::new(tokio::sync::Mutex::new(queue));
        let other_shards: Arc<[PgPool]> = other_shards.into();
        let workers =
            (0..WORKERS).map(|_| tokio::spawn(work(pool.clone(), other_shards.clone(), queue.clone()))).collect();
        Appender { jobs: Mutex::new(Some(jobs)), workers: Mutex::new(workers) }
    }

    /// Stores `message` (or finds its original) and returns once committed.
    pub(super) async fn append(&self, message: NewMessage) -> StoreResult<AppendOutcome> {
        let jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner).clone().ok_or_else(closed)?;
        let (reply, answer) = oneshot::channel();
        match tokio::time::timeout(ENQUEUE_TIMEOUT, jobs.send(Job { message, reply })).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(closed()),
            Err(_) => return Err(StoreError::Unavailable("too many appends are waiting for the database".into())),
        }
        drop(jobs);
        answer.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the appender stopped before answering".into())))
    }

    /// Refuses new jobs and waits until every queued job is answered.
    pub(super) async fn close(&self) {
        drop(self.jobs.lock().unwrap_or_else(PoisonError::into_inner).take());
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(PoisonError::into_inner));
        for worker in workers {
            if let Err(e) = worker.await {
                tracing::error!(error = %e, "an appender worker failed");
            }
        }
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".into())
}

/// One worker: take a batch, store it, answer it; until the queue closes.
async fn work(pool: PgPool, other_shards: Arc<[PgPool]>, queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let batch = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else { return };
            let mut bytes = first.message.content.text_str().len();
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                match queue.try_recv() {
                    Ok(job) => {
                        bytes += job.message.content.text_str().len();
                        batch.push(job);
                    }
                    Err(_) => break,
                }
            }
            batch
        };
        let batch = refuse_keys_used_on_other_shards(&other_shards, batch).await;
        if !batch.is_empty() {
            if let Err(down) = run(&pool, batch).await {
                refuse_queued(&queue, &down);
            }
        }
    }
}

/// Answers every job queued right now with `Unavailable`: the database just
/// failed a batch for a reason no job caused, so they would fail alike, each
/// after waiting for the pool. Skipped when another worker holds the queue
/// (it is taking a batch, which will fail as quickly by itself).
fn refuse_queued(queue: &tokio::sync::Mutex<mpsc::Receiver<Job>>, reason: &str) {
    let Ok(mut queue) = queue.try_lock() else { return };
    let mut refused = 0usize;
    while let Ok(job) = queue.try_recv() {
        let _ = job.reply.send(Err(StoreError::Unavailable(reason.to_owned())));
        refused += 1;
    }
    if refused > 0 {
        tracing::debug!(jobs = refused, "database unavailable; refused the queued appends at once");
    }
}

/// The idempotency rule across shards: a key this device already used in a
/// conversation of another shard is reused here, whatever the text (a
/// retry always goes to its conversation's shard). One query per other
/// shard per batch. The check cannot be atomic across databases: two sends
/// with one key in flight at the same instant into conversations on
/// different shards may both be stored (docs/PROTOCOL.md says so). A shard
/// that cannot be reached is skipped with a warning rather than failing
/// sends that do not concern it.
/// Whether the idempotency lookups are kept as prepared statements: they
/// are not. A prepared statement's plan is cached for the connection's
/// life, and PostgreSQL replans it only when the table's statistics
/// change: a plan made while `messages` was empty or small (a new
/// database, a new shard, the first minute before autovacuum's first
/// `ANALYZE`) reads the whole table for every batch — measured: ~150
/// sequential scans a second of a growing table, 1.3 ms of PostgreSQL CPU
/// per 1:1 message at 1,000 msg/s. Unprepared, the statement is planned at
/// each run (a fraction of a millisecond, once per batch) against the
/// table's current size, and uses the unique index on
/// `(sender_device_id, client_msg_id)` as soon as the table has more than a
/// few pages.
const IDEMPOTENCY_LOOKUP_PERSISTENT: bool = false;

async fn refuse_keys_used_on_other_shards(other_shards: &[PgPool], batch: Vec<Job>) -> Vec<Job> {
    if other_shards.is_empty() {
        return batch;
    }
    let devices: Vec<DeviceId> = batch.iter().map(|j| j.message.sender_device_id).collect();
    let keys: Vec<&str> = batch.iter().map(|j| j.message.client_msg_id.as_str()).collect();
    let lookups = other_shards.iter().map(|pool| {
        sqlx::query_as::<_, (i64, String)>(
            "SELECT sender_device_id, client_msg_id FROM messages
             WHERE (sender_device_id, client_msg_id) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))",
        )
        .persistent(IDEMPOTENCY_LOOKUP_PERSISTENT)
        .bind(&devices)
        .bind(&keys)
        .fetch_all(pool)
    });
    let mut used: BTreeSet<(DeviceId, String)> = BTreeSet::new();
    for found in futures_util::future::join_all(lookups).await {
        match found {
            Ok(rows) => used.extend(rows),
            Err(e) => tracing::warn!(error = %e, "cannot check idempotency keys on another shard; skipped"),
        }
    }
    if used.is_empty() {
        return batch;
    }
    let mut kept = Vec::with_capacity(batch.len());
    for job in batch {
        if used.contains(&(job.message.sender_device_id, job.message.client_msg_id.clone())) {
            let _ = job.reply.send(Err(StoreError::ClientMsgIdReused));
        } else {
            kept.push(job);
        }
    }
    kept
}

/// Stores one batch and answers its jobs. `Err` carries the reason when the
/// database was unavailable (the caller refuses the queue too).
async fn run(pool: &PgPool, batch: Vec<Job>) -> Result<(), String> {
    let messages: Vec<&NewMessage> = batch.iter().map(|j| &j.message).collect();
    let failure = match attempt(pool, &messages).await {
        Ok(outcomes) => {
            for (job, outcome) in batch.into_iter().zip(outcomes) {
                let _ = job.reply.send(outcome);
            }
            return Ok(());
        }
        Err(failure) => failure,
    };
    match failure {
        Failed::Before(e) if classify(&e) == BatchFailure::JobSpecific => {
            tracing::debug!(jobs = batch.len(), error = %e, "batch failed; storing its jobs one by one");
            for job in batch {
                let outcome = store_alone(pool, &job.message).await;
                let _ = job.reply.send(outcome);
            }
            Ok(())
        }
        failure => {
            let error = failure.into_store_error();
            tracing::warn!(jobs = batch.len(), %error, "batch failed: database unavailable");
            let reason = error.to_string();
            for job in batch {
                let _ = job.reply.send(Err(match &error {
                    StoreError::CommitUnknown(detail) => StoreError::CommitUnknown(detail.clone()),
                    _ => StoreError::Unavailable(reason.clone()),
                }));
            }
            Err(reason)
        }
    }
}

/// One job in its own transaction, retried after conflicts with other writers.
async fn store_alone(pool: &PgPool, new: &NewMessage) -> StoreResult<AppendOutcome> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        match attempt(pool, &[new]).await {
            Ok(mut outcomes) => return outcomes.remove(0),
            Err(Failed::Before(e)) if attempts < SOLO_ATTEMPTS && is_retryable(&e) => continue,
            Err(failure) => return Err(failure.into_store_error()),
        }
    }
}

/// How a transaction failed, as far as its commit is concerned.
enum Failed {
    /// Nothing was committed.
    Before(sqlx::Error),
    /// The COMMIT was sent and no answer came (the connection failed): it
    /// may have committed.
    AtCommit(sqlx::Error),
    /// [`BATCH_DEADLINE`] passed; `commit_sent` says whether the COMMIT had
    /// gone out.
    TimedOut { commit_sent: bool },
}

impl Failed {
    fn into_store_error(self) -> StoreError {
        match self {
            Failed::Before(e) => unavailable(e),
            Failed::AtCommit(e) => StoreError::CommitUnknown(e.to_string()),
            Failed::TimedOut { commit_sent: true } => {
                StoreError::CommitUnknown(format!("no answer to COMMIT within {BATCH_DEADLINE:?}"))
            }
            Failed::TimedOut { commit_sent: false } => {
                StoreError::Unavailable(format!("the database did not answer within {BATCH_DEADLINE:?}"))
            }
        }
    }
}

/// [`store_batch`] under [`BATCH_DEADLINE`], with its failure told apart
/// by whether the commit may have happened.
async fn attempt(pool: &PgPool, batch: &[&NewMessage]) -> Result<Vec<StoreResult<AppendOutcome>>, Failed> {
    let commit_sent = AtomicBool::new(false);
    match tokio::time::timeout(BATCH_DEADLINE, store_batch(pool, batch, &commit_sent)).await {
        Ok(Ok(outcomes)) => Ok(outcomes),
        // A database error at COMMIT is PostgreSQL's answer (e.g. a
        // serialization failure): it did not commit. Any other error there
        // (I/O, protocol) leaves the outcome unknown.
        Ok(Err(e)) if commit_sent.load(Ordering::Relaxed) && e.as_database_error().is_none() => Err(Failed::AtCommit(e)),
        Ok(Err(e)) => Err(Failed::Before(e)),
        Err(_) => Err(Failed::TimedOut { commit_sent: commit_sent.load(Ordering::Relaxed) }),
    }
}

/// What step 4 decided for one job.
enum Plan {
    /// Answer with this error; nothing stored.
    Refuse(StoreError),
    /// Already stored: the original.
    Duplicate(Message),
    /// Same key as an earlier job of this batch, which is being stored.
    DuplicateOf(usize),
    /// Store with this seq.
    Store(Seq),
}

/// Steps 1–6 for `batch`. `commit_sent` is set just before the COMMIT goes
/// out: an `Err` before then means nothing was committed.
async fn store_batch(
    pool: &PgPool,
    batch: &[&NewMessage],
    commit_sent: &AtomicBool,
) -> Result<Vec<StoreResult<AppendOutcome>>, sqlx::Error> {
    let mut tx = pool.begin().await?;

    // 1. Lock the conversations, in id order; learn their last seq.
    let targets: Vec<ConversationId> =
        batch.iter().map(|m| m.conversation_id).collect::<BTreeSet<_>>().into_iter().collect();
    let mut last_seq: HashMap<ConversationId, Seq> = HashMap::with_capacity(targets.len());
    let mut direct: BTreeSet<ConversationId> = BTreeSet::new();
    let mut closed: BTreeSet<ConversationId> = BTreeSet::new();
    for (id, seq, is_direct, is_closed) in sqlx::query_as::<_, (i64, i64, bool, bool)>(
        "SELECT id, last_seq, kind = 'direct', closed FROM conversations WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(&targets)
    .fetch_all(&mut *tx)
    .await?
    {
        last_seq.insert(id, seq);
        if is_direct {
            direct.insert(id);
        }
        if is_closed {
            closed.insert(id);
        }
    }

    // 2. Idempotency keys already stored. Planned at each run, not once
    // per connection (see `IDEMPOTENCY_LOOKUP_PERSISTENT`).
    let devices: Vec<DeviceId> = batch.iter().map(|m| m.sender_device_id).collect();
    let keys: Vec<&str> = batch.iter().map(|m| m.client_msg_id.as_str()).collect();
    let originals: HashMap<(DeviceId, String), Message> = sqlx::query_as::<_, MessageRow>(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE (sender_device_id, client_msg_id) IN
             (SELECT * FROM unnest($1::bigint[], $2::text[]))"
    ))
    .persistent(IDEMPOTENCY_LOOKUP_PERSISTENT)
    .bind(&devices)
    .bind(&keys)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|row| {
        let m = message(row).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        Ok(((m.sender_device_id, m.client_msg_id.clone()), m))
    })
    .collect::<Result<_, sqlx::Error>>()?;

    // 3. Members of every conversation involved.
    let involved: Vec<ConversationId> = targets
        .iter()
        .copied()
        .chain(originals.values().map(|m| m.conversation_id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut members: HashMap<ConversationId, Vec<UserId>> = HashMap::new();
    for (conversation_id, user_id) in sqlx::query_as::<_, (i64, i64)>(
        "SELECT conversation_id, user_id FROM members WHERE conversation_id = ANY($1) ORDER BY conversation_id, user_id",
    )
    .bind(&involved)
    .fetch_all(&mut *tx)
    .await?
    {
        members.entry(conversation_id).or_default().push(user_id);
    }
    let members_of =
        |conversation_id: ConversationId| members.get(&conversation_id).map(Vec::as_slice).unwrap_or_default();

    // 3b. The messages that replies, edits and deletes name.
    let mut targets = targets_of(&mut tx, batch).await?;

    // 4. Decide, in arrival order.
    let mut first_with_key: HashMap<(DeviceId, &str), usize> = HashMap::new();
    let mut plans = Vec::with_capacity(batch.len());
    for (index, new) in batch.iter().enumerate() {
        let key = (new.sender_device_id, new.client_msg_id.as_str());
        let plan = if let Some(original) = originals.get(&(key.0, key.1.to_owned())) {
            match new.check_retry(original, members_of(original.conversation_id)) {
                Ok(()) => Plan::Duplicate(original.clone()),
                Err(e) => Plan::Refuse(e),
            }
        } else if let Some(&earlier) = first_with_key.get(&key) {
            // The earlier job stores it (if it fails, so does this one).
            if new.same_request(batch[earlier]) {
                Plan::DuplicateOf(earlier)
            } else {
                Plan::Refuse(StoreError::ClientMsgIdReused)
            }
        } else if let Err(e) = require_sender(members_of(new.conversation_id), new.sender_id) {
            Plan::Refuse(e)
        } else if let Err(e) = check_entry(closed.contains(&new.conversation_id), new.content.kind()) {
            Plan::Refuse(e)
        } else if let Err(e) =
            new.check_target(new.referenced_seq().and_then(|seq| targets.get(&(new.conversation_id, seq))))
        {
            Plan::Refuse(e)
        } else {
            match last_seq.get_mut(&new.conversation_id) {
                Some(seq) => {
                    first_with_key.insert(key, index);
                    *seq += 1;
                    // What later jobs of the batch see: this message, or
                    // the target as this change leaves it.
                    if let Some(stored) = Target::of_new(new) {
                        targets.insert((new.conversation_id, *seq), stored);
                    } else if let Some(changed) = new.content.target_seq() {
                        if let Some(target) = targets.get_mut(&(new.conversation_id, changed)) {
                            *target = target.after(new);
                        }
                    }
                    Plan::Store(*seq)
                }
                // Members without a conversation row: a broken invariant,
                // refused rather than a panic that stops the appender.
                None => Plan::Refuse(StoreError::Unavailable(format!(
                    "conversation {} has members but no row",
                    new.conversation_id
                ))),
            }
        };
        plans.push(plan);
    }

    // 5. Write.
    let stored: Vec<(&NewMessage, Seq)> = batch
        .iter()
        .zip(&plans)
        .filter_map(|(new, plan)| match plan {
            Plan::Store(seq) => Some((*new, *seq)),
            _ => None,
        })
        .collect();
    if !stored.is_empty() {
        write(&mut tx, &stored, &last_seq).await?;
    }

    // 6. Commit, then answer.
    commit_sent.store(true, Ordering::Relaxed);
    tx.commit().await?;
    // A retry into a conversation outside this batch's locked rows is not
    // known to be direct: no receipt then (the first send sent it).
    let outcome_for = |message: Message, duplicate: bool| {
        let conversation_id = message.conversation_id;
        AppendOutcome::new(message, duplicate, members_of(conversation_id).to_vec(), direct.contains(&conversation_id))
    };
    let mut outcomes: Vec<StoreResult<AppendOutcome>> = Vec::with_capacity(batch.len());
    for (new, plan) in batch.iter().zip(plans) {
        let outcome = match plan {
            Plan::Refuse(e) => Err(e),
            Plan::Duplicate(original) => Ok(outcome_for(original, true)),
            Plan::DuplicateOf(earlier) => match &outcomes[earlier] {
                Ok(first) => Ok(AppendOutcome { duplicate: true, ..first.clone() }),
                Err(_) => Err(StoreError::Unavailable("internal error: the original failed".into())),
            },
            // Cloned: the job's sender holds `new` until it is answered.
            Plan::Store(seq) => Ok(outcome_for((*new).clone().into_message(seq), false)),
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Step 5: three set-based statements, whatever the batch size.
async fn write(
    tx: &mut sqlx::PgConnection,
    stored: &[(&NewMessage, Seq)],
    last_seq: &HashMap<ConversationId, Seq>,
) -> Result<(), sqlx::Error> {
    // The conversations that got messages: new last seq, latest activity.
    let mut activity: HashMap<ConversationId, i64> = HashMap::new();
    for (new, _) in stored {
        let at = activity.entry(new.conversation_id).or_insert(new.server_ts);
        *at = (*at).max(new.server_ts);
    }
    let (conv_ids, conv_ts): (Vec<i64>, Vec<i64>) = activity.into_iter().unzip();
    let conv_last: Vec<i64> = conv_ids.iter().map(|id| last_seq[id]).collect();
    sqlx::query(
        "UPDATE conversations c SET last_seq = v.last_seq, last_activity_at = GREATEST(c.last_activity_at, v.ts)
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS v(id, last_seq, ts) WHERE c.id = v.id",
    )
    .bind(&conv_ids)
    .bind(&conv_last)
    .bind(&conv_ts)
    .execute(&mut *tx)
    .await?;

    let column = |f: fn(&NewMessage, Seq) -> i64| stored.iter().map(|(m, s)| f(m, *s)).collect::<Vec<i64>>();
    let optional = |f: fn(&NewMessage) -> Option<Seq>| stored.iter().map(|(m, _)| f(m)).collect::<Vec<Option<i64>>>();
    let client_msg_ids: Vec<&str> = stored.iter().map(|(m, _)| m.client_msg_id.as_str()).collect();
    let texts: Vec<&str> = stored.iter().map(|(m, _)| m.content.text_str()).collect();
    let kinds: Vec<&str> = stored.iter().map(|(m, _)| m.content.kind().as_str()).collect();
    // The search index's form of each text message (NULL for changes).
    let forms: Vec<Option<String>> = stored
        .iter()
        .map(|(m, _)| matches!(m.content, Content::Text { .. }).then(|| search_form(m.content.text_str())))
        .collect();
    sqlx::query(concat!(
        "INSERT INTO messages (",
        message_columns!(),
        ", search) SELECT v.c, v.s, v.sender, v.device, v.key, v.text, v.ts, v.kind, v.reply_to, v.target_seq, NULL, FALSE,
                  to_tsvector('simple', v.form)
           FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
                  $6::text[], $7::bigint[], $8::text[], $9::bigint[], $10::bigint[], $11::text[])
                AS v(c, s, sender, device, key, text, ts, kind, reply_to, target_seq, form)"
    ))
    .bind(column(|m, _| m.conversation_id))
    .bind(column(|_, s| s))
    .bind(column(|m, _| m.sender_id))
    .bind(column(|m, _| m.sender_device_id))
    .bind(&client_msg_ids)
    .bind(&texts)
    .bind(column(|m, _| m.server_ts))
    .bind(&kinds)
    .bind(optional(|m| m.content.reply_to()))
    .bind(optional(|m| m.content.target_seq()))
    .bind(&forms)
    .execute(&mut *tx)
    .await?;

    // Edits and deletes change the message they name, in seq order (they
    // are rare: a statement each).
    for (new, _) in stored {
        apply_change(&mut *tx, new).await?;
    }

    // Sending marks everything before it read (and so delivered): one row per (conversation,
    // sender) with its highest seq (UPDATE … FROM applies one source row).
    let mut read: HashMap<(ConversationId, UserId), Seq> = HashMap::new();
    for (new, seq) in stored {
        let marker = read.entry((new.conversation_id, new.sender_id)).or_insert(*seq);
        *marker = (*marker).max(*seq);
    }
    let mut conv = Vec::with_capacity(read.len());
    let mut users = Vec::with_capacity(read.len());
    let mut seqs = Vec::with_capacity(read.len());
    for ((c, u), s) in read {
        conv.push(c);
        users.push(u);
        seqs.push(s);
    }
    sqlx::query(
        "UPDATE members m SET read_seq = GREATEST(m.read_seq, v.seq), delivered_seq = GREATEST(m.delivered_seq, v.seq)
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS v(conversation_id, user_id, seq)
         WHERE m.conversation_id = v.conversation_id AND m.user_id = v.user_id",
    )
    .bind(&conv)
    .bind(&users)
    .bind(&seqs)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Step 3b: the rows that the batch's replies, edits and deletes name, by
/// `(conversation, seq)`; none when no job names one (the common case
/// costs no query).
async fn targets_of(
    tx: &mut sqlx::PgConnection,
    batch: &[&NewMessage],
) -> Result<HashMap<(ConversationId, Seq), Target>, sqlx::Error> {
    let (conversations, seqs): (Vec<ConversationId>, Vec<Seq>) =
        batch.iter().filter_map(|m| m.referenced_seq().map(|seq| (m.conversation_id, seq))).unzip();
    if conversations.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query_as::<_, (i64, i64, i64, String, i64, bool, i32)>(
        "SELECT conversation_id, seq, sender_id, kind, server_ts, deleted, edit_count FROM messages
         WHERE (conversation_id, seq) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[]))",
    )
    .bind(&conversations)
    .bind(&seqs)
    .fetch_all(&mut *tx)
    .await?;
    rows.into_iter()
        .map(|(conversation_id, seq, sender_id, kind, server_ts, deleted, edit_count)| {
            let kind = parse_message_kind(&kind).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            let edit_count = u32::try_from(edit_count).unwrap_or(0);
            Ok(((conversation_id, seq), Target { sender_id, kind, server_ts, deleted, edit_count }))
        })
        .collect()
}

/// An edit rewrites the message's text and marks it edited; a delete
/// empties it (and the edit entries that held its later texts) and marks
/// it deleted. `kind <> 'text'` is spelled out for the partial index
/// `messages_changes`.
async fn apply_change(tx: &mut sqlx::PgConnection, new: &NewMessage) -> Result<(), sqlx::Error> {
    match &new.content {
        Content::Text { .. } => {}
        Content::Edit { target, text } => {
            sqlx::query(
                "UPDATE messages SET text = $3, edited_at = $4, edit_count = edit_count + 1,
                                    search = to_tsvector('simple', $5)
                 WHERE conversation_id = $1 AND seq = $2",
            )
            .bind(new.conversation_id)
            .bind(target)
            .bind(text)
            .bind(new.server_ts)
            .bind(search_form(text))
            .execute(&mut *tx)
            .await?;
        }
        Content::Delete { target } => {
            sqlx::query(
                "UPDATE messages SET text = '', deleted = TRUE, search = NULL
                 WHERE conversation_id = $1 AND (seq = $2 OR (kind <> 'text' AND kind = 'edit' AND target_seq = $2))",
            )
            .bind(new.conversation_id)
            .bind(target)
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}
