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
//! leaves `last_seq` as it was. If a batch fails as a whole (say a unique
//! violation because another node stored the same idempotency key in a
//! different conversation at the same instant), each of its jobs is retried
//! alone, so one bad job never fails the others.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use banter_protocol::{ConversationId, DeviceId, Message, Seq, UserId};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::rows::{is_retryable, message, message_columns, unavailable, MessageRow};
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
    /// Starts the workers. Must be called inside a tokio runtime.
    pub(super) fn start(pool: PgPool) -> Appender {
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        let queue = Arc::new(tokio::sync::Mutex::new(queue));
        let workers = (0..WORKERS).map(|_| tokio::spawn(work(pool.clone(), queue.clone()))).collect();
        Appender { jobs: Mutex::new(Some(jobs)), workers: Mutex::new(workers) }
    }

    /// Stores `message` (or finds its original) and returns once committed.
    pub(super) async fn append(&self, message: NewMessage) -> StoreResult<AppendOutcome> {
        let jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner).clone().ok_or_else(closed)?;
        let (reply, answer) = oneshot::channel();
        jobs.send(Job { message, reply }).await.map_err(|_| closed())?;
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
async fn work(pool: PgPool, queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let batch = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else { return };
            let mut bytes = first.message.text.len();
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                match queue.try_recv() {
                    Ok(job) => {
                        bytes += job.message.text.len();
                        batch.push(job);
                    }
                    Err(_) => break,
                }
            }
            batch
        };
        run(&pool, batch).await;
    }
}

async fn run(pool: &PgPool, batch: Vec<Job>) {
    let messages: Vec<&NewMessage> = batch.iter().map(|j| &j.message).collect();
    match store_batch(pool, &messages).await {
        Ok(outcomes) => {
            for (job, outcome) in batch.into_iter().zip(outcomes) {
                let _ = job.reply.send(outcome);
            }
        }
        Err(e) if batch.len() > 1 => {
            tracing::debug!(jobs = batch.len(), error = %e, "batch failed; storing its jobs one by one");
            for job in batch {
                let outcome = store_alone(pool, &job.message).await;
                let _ = job.reply.send(outcome);
            }
        }
        Err(first_error) => {
            let Some(job) = batch.into_iter().next() else { return };
            let outcome = if is_retryable(&first_error) {
                store_alone(pool, &job.message).await
            } else {
                Err(unavailable(first_error))
            };
            let _ = job.reply.send(outcome);
        }
    }
}

/// One job in its own transaction, retried after conflicts with other writers.
async fn store_alone(pool: &PgPool, new: &NewMessage) -> StoreResult<AppendOutcome> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match store_batch(pool, &[new]).await {
            Ok(mut outcomes) => return outcomes.remove(0),
            Err(e) if attempt < SOLO_ATTEMPTS && is_retryable(&e) => continue,
            Err(e) => return Err(unavailable(e)),
        }
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

/// Steps 1–6 for `batch`. `Err` means nothing was committed.
async fn store_batch(pool: &PgPool, batch: &[&NewMessage]) -> Result<Vec<StoreResult<AppendOutcome>>, sqlx::Error> {
    let mut tx = pool.begin().await?;

    // 1. Lock the conversations, in id order; learn their last seq.
    let targets: Vec<ConversationId> =
        batch.iter().map(|m| m.conversation_id).collect::<BTreeSet<_>>().into_iter().collect();
    let mut last_seq: HashMap<ConversationId, Seq> =
        sqlx::query_as::<_, (i64, i64)>("SELECT id, last_seq FROM conversations WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&targets)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();

    // 2. Idempotency keys already stored.
    let devices: Vec<DeviceId> = batch.iter().map(|m| m.sender_device_id).collect();
    let keys: Vec<&str> = batch.iter().map(|m| m.client_msg_id.as_str()).collect();
    let originals: HashMap<(DeviceId, String), Message> = sqlx::query_as::<_, MessageRow>(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE (sender_device_id, client_msg_id) IN
             (SELECT * FROM unnest($1::bigint[], $2::text[]))"
    ))
    .bind(&devices)
    .bind(&keys)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|row| {
        let m = message(row);
        ((m.sender_device_id, m.client_msg_id.clone()), m)
    })
    .collect();

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
    let is_member = |conversation_id: ConversationId, user_id: UserId| {
        members.get(&conversation_id).is_some_and(|m| m.contains(&user_id))
    };

    // 4. Decide, in arrival order.
    let mut first_with_key: HashMap<(DeviceId, &str), usize> = HashMap::new();
    let mut plans = Vec::with_capacity(batch.len());
    for (index, new) in batch.iter().enumerate() {
        let key = (new.sender_device_id, new.client_msg_id.as_str());
        let plan = if let Some(original) = originals.get(&(key.0, key.1.to_owned())) {
            // A retry is answered only while the sender may still see it.
            if is_member(original.conversation_id, new.sender_id) {
                Plan::Duplicate(original.clone())
            } else {
                Plan::Refuse(StoreError::NotAMember)
            }
        } else if let Some(&earlier) = first_with_key.get(&key) {
            Plan::DuplicateOf(earlier)
        } else if !is_member(new.conversation_id, new.sender_id) {
            // Also a conversation that does not exist: it has no members.
            Plan::Refuse(StoreError::NotAMember)
        } else {
            match last_seq.get_mut(&new.conversation_id) {
                Some(seq) => {
                    first_with_key.insert(key, index);
                    *seq += 1;
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
    tx.commit().await?;
    let members_of = |conversation_id| members.get(&conversation_id).cloned().unwrap_or_default();
    let mut outcomes: Vec<StoreResult<AppendOutcome>> = Vec::with_capacity(batch.len());
    for (new, plan) in batch.iter().zip(plans) {
        let outcome = match plan {
            Plan::Refuse(e) => Err(e),
            Plan::Duplicate(original) => {
                Ok(AppendOutcome { member_ids: members_of(original.conversation_id), message: original, duplicate: true })
            }
            Plan::DuplicateOf(earlier) => match &outcomes[earlier] {
                Ok(first) => Ok(AppendOutcome { duplicate: true, ..first.clone() }),
                Err(_) => Err(StoreError::Unavailable("internal error: the original failed".into())),
            },
            Plan::Store(seq) => Ok(AppendOutcome {
                message: Message {
                    conversation_id: new.conversation_id,
                    seq,
                    sender_id: new.sender_id,
                    sender_device_id: new.sender_device_id,
                    client_msg_id: new.client_msg_id.clone(),
                    text: new.text.clone(),
                    server_ts: new.server_ts,
                },
                duplicate: false,
                member_ids: members_of(new.conversation_id),
            }),
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
    let client_msg_ids: Vec<&str> = stored.iter().map(|(m, _)| m.client_msg_id.as_str()).collect();
    let texts: Vec<&str> = stored.iter().map(|(m, _)| m.text.as_str()).collect();
    sqlx::query(concat!(
        "INSERT INTO messages (",
        message_columns!(),
        ") SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::bigint[])"
    ))
    .bind(column(|m, _| m.conversation_id))
    .bind(column(|_, s| s))
    .bind(column(|m, _| m.sender_id))
    .bind(column(|m, _| m.sender_device_id))
    .bind(&client_msg_ids)
    .bind(&texts)
    .bind(column(|m, _| m.server_ts))
    .execute(&mut *tx)
    .await?;

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
