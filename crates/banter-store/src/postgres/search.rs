//! [`SearchStore`] on PostgreSQL: the `search` tsvector column under a GIN
//! index (migration 0006), written by the appender with each message.
//!
//! A search asks every shard holding the user's memberships (the per-user
//! index, [`shards_of_user`]; only the conversation's shard when the search
//! names one) at once for its newest matches among the user's conversations
//! there (the `members` join: a removed member finds nothing), at most one
//! window each, then merges them and reads the page's rows. Also here: indexing the messages stored before the migration.

use async_trait::async_trait;
use banter_protocol::limits::SEARCH_WINDOW;
use banter_protocol::{ConversationId, Message, Seq};
use sqlx::PgPool;

use super::conversations::require_member;
use super::rows::{message, message_columns, DbResult, MessageRow};
use super::user_shards::shards_of_user;
use super::PgStore;
use crate::search::text::search_form;
use crate::search::{choose_page, Candidate, SearchPage, SearchRequest, SearchStore, SCORE_HEAD_BYTES};
use crate::StoreResult;

/// Messages indexed per statement by [`backfill`]…
const BACKFILL_BATCH: i64 = 500;
/// … and at most this much of their text (one 400 KB message always fits).
const BACKFILL_BYTES: i64 = 4 * 1024 * 1024;

#[async_trait]
impl SearchStore for PgStore {
    async fn search(&self, request: SearchRequest) -> StoreResult<SearchPage> {
        let shards = &self.shards;
        let pools: Vec<&PgPool> = match request.conversation_id {
            Some(id) => {
                let pool = shards.for_conversation(id);
                require_member(pool, id, request.user_id).await?;
                vec![pool]
            }
            None => shards_of_user(shards, request.user_id).await?,
        };
        let tsquery = request.query.tsquery();
        let (tsquery, request_ref) = (&tsquery, &request);
        let per_shard = futures_util::future::try_join_all(pools.iter().map(|pool| async move {
            // substr of a TOASTed text fetches only the slices it needs;
            // octet_length reads the stored length.
            sqlx::query_as::<_, (i64, i64, i64, String, i32)>(
                "SELECT m.conversation_id, m.seq, m.server_ts, substr(m.text, 1, $5), octet_length(m.text)
                 FROM to_tsquery('simple', $1) q, messages m
                 JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.user_id = $2
                 WHERE m.search @@ q AND ($3::bigint IS NULL OR m.conversation_id = $3)
                 ORDER BY m.server_ts DESC, m.conversation_id DESC, m.seq DESC LIMIT $4",
            )
            .bind(tsquery)
            .bind(request_ref.user_id)
            .bind(request_ref.conversation_id)
            .bind(SEARCH_WINDOW as i64 + 1)
            .bind(SCORE_HEAD_BYTES as i32)
            .fetch_all(*pool)
            .await
            .db()
        }))
        .await?;
        let candidates = per_shard
            .into_iter()
            .flatten()
            .map(|(conversation_id, seq, server_ts, head, bytes)| Candidate {
                conversation_id,
                seq,
                server_ts,
                head: cut_at_char(head, SCORE_HEAD_BYTES),
                bytes: usize::try_from(bytes).unwrap_or(0),
            })
            .collect();
        let (page, has_more, truncated) = choose_page(candidates, &request);
        let mut messages = Vec::with_capacity(page.len());
        for (conversation_id, seq) in page {
            // A row deleted or changed since the match is left out.
            if let Some(found) = live_message(shards.for_conversation(conversation_id), conversation_id, seq).await? {
                messages.push(found);
            }
        }
        Ok(SearchPage { messages, has_more, truncated })
    }
}

/// The message at `seq`, if it is still a live text message.
async fn live_message(pool: &PgPool, conversation_id: ConversationId, seq: Seq) -> StoreResult<Option<Message>> {
    let row: Option<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE conversation_id = $1 AND seq = $2 AND search IS NOT NULL"
    ))
    .bind(conversation_id)
    .bind(seq)
    .fetch_optional(pool)
    .await
    .db()?;
    row.map(message).transpose()
}

/// Indexes the text messages stored before migration 0006, in batches of
/// [`BACKFILL_BATCH`] rows and [`BACKFILL_BYTES`] in key order, then records that it is done; a no-op
/// on later starts. Run at start, on each shard.
pub(super) async fn backfill(pool: &PgPool, shard: usize) -> StoreResult<()> {
    let done: bool = sqlx::query_scalar("SELECT done FROM search_backfill").fetch_one(pool).await.db()?;
    if done {
        return Ok(());
    }
    tracing::info!(shard, "indexing stored messages for search");
    let (mut after_conversation, mut after_seq, mut indexed) = (0i64, 0i64, 0u64);
    loop {
        // At most BACKFILL_BATCH rows and BACKFILL_BYTES of text (at least
        // one row): octet_length reads the stored length, so only the
        // texts that fit are fetched.
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT conversation_id, seq, text FROM (
                 SELECT conversation_id, seq, text,
                        sum(octet_length(text)) OVER (ORDER BY conversation_id, seq) AS running,
                        row_number() OVER (ORDER BY conversation_id, seq) AS n
                 FROM messages
                 WHERE (conversation_id, seq) > ($1, $2) AND kind = 'text' AND NOT deleted AND search IS NULL
                 ORDER BY conversation_id, seq LIMIT $3) batch
             WHERE n = 1 OR running <= $4
             ORDER BY conversation_id, seq",
        )
        .bind(after_conversation)
        .bind(after_seq)
        .bind(BACKFILL_BATCH)
        .bind(BACKFILL_BYTES)
        .fetch_all(pool)
        .await
        .db()?;
        let Some(&(last_conversation, last_seq, _)) = rows.last() else { break };
        let conversations: Vec<i64> = rows.iter().map(|row| row.0).collect();
        let seqs: Vec<i64> = rows.iter().map(|row| row.1).collect();
        let forms: Vec<String> = rows.iter().map(|row| search_form(&row.2)).collect();
        // `search IS NULL` again: a message edited meanwhile keeps its newer entry.
        sqlx::query(
            "UPDATE messages m SET search = to_tsvector('simple', v.form)
             FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS v(conversation_id, seq, form)
             WHERE m.conversation_id = v.conversation_id AND m.seq = v.seq AND m.search IS NULL AND NOT m.deleted",
        )
        .bind(&conversations)
        .bind(&seqs)
        .bind(&forms)
        .execute(pool)
        .await
        .db()?;
        indexed += rows.len() as u64;
        (after_conversation, after_seq) = (last_conversation, last_seq);
    }
    sqlx::query("UPDATE search_backfill SET done = TRUE").execute(pool).await.db()?;
    tracing::info!(shard, indexed, "stored messages indexed for search");
    Ok(())
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut_at_char(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
