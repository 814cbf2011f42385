//! [`MessageStore`] on PostgreSQL: history and sync are read here;
//! appending is the [`appender`](super::appender)'s job, on the
//! conversation's shard.

use async_trait::async_trait;
use banter_protocol::{ConversationId, Seq, UserId};

use super::conversations::require_member;
use super::rows::{message, message_columns, DbResult, MessageRow};
use super::user_shards::shards_of_user;
use super::PgStore;
use crate::messages::cursor_map;
use crate::{
    page::PageBuilder, AppendOutcome, ConversationCursor, HistoryRange, MessagePage, MessageStore, NewMessage,
    StoreResult, PAGE_TEXT_BYTES,
};

/// A history page's query, reading in `$order` of seq from the cursor
/// (`$2`, by `$condition`). The page's byte budget is applied in the query:
/// a running total of `octet_length(text)` (which PostgreSQL reads from the
/// TOAST header, without fetching the text) picks the rows that fit; only
/// those come back with their text, and the first row that does not fit
/// comes back without it, to say that more exist. `$3`: rows to look at
/// (limit + 1), `$4`: limit, `$5`: byte budget.
macro_rules! history_sql {
    ($condition:literal, $order:literal) => {
        concat!(
            "SELECT conversation_id, seq, sender_id, sender_device_id, client_msg_id,
                    CASE WHEN n <= $4 AND (n = 1 OR running <= $5) THEN text END, server_ts,
                    kind, reply_to, target_seq, edited_at, deleted
             FROM (SELECT ",
            message_columns!(),
            ", row_number() OVER w AS n, sum(octet_length(text)) OVER w AS running
                   FROM messages WHERE conversation_id = $1 AND ",
            $condition,
            " WINDOW w AS (ORDER BY seq ",
            $order,
            " ROWS UNBOUNDED PRECEDING)
                   ORDER BY seq ",
            $order,
            " LIMIT $3) page
             WHERE n <= 2 OR running - octet_length(text) <= $5
             ORDER BY seq ",
            $order
        )
    };
}
pub(super) use history_sql;

#[async_trait]
impl MessageStore for PgStore {
    async fn append_message(&self, message: NewMessage) -> StoreResult<AppendOutcome> {
        self.appenders[self.shards.index_of_conversation(message.conversation_id)].append(message).await
    }

    async fn history(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
        range: HistoryRange,
        limit: u32,
    ) -> StoreResult<MessagePage> {
        let shards = &self.shards;
        let pool = shards.for_conversation(conversation_id);
        require_member(pool, conversation_id, viewer).await?;
        // One extra row tells whether more exist beyond the page.
        let fetch = i64::from(limit) + 1;
        let (cursor, newest_first) = range.cursor();
        let sql = if newest_first { history_sql!("seq < $2", "DESC") } else { history_sql!("seq > $2", "ASC") };
        let rows: Vec<BudgetedRow> = sqlx::query_as(sql)
            .bind(conversation_id)
            .bind(cursor)
            .bind(fetch)
            .bind(i64::from(limit))
            .bind(PAGE_TEXT_BYTES as i64)
            .fetch_all(pool)
            .await
            .db()?;
        let mut page = PageBuilder::new(limit);
        fill(&mut page, rows)?;
        Ok(page.finish(newest_first))
    }

    /// For each of the user's conversations (ascending id), the messages after
    /// its cursor: one query per shard holding the user's memberships
    /// ([`shards_of_user`]), each a range scan per conversation, then a
    /// merge. Each shard returns its first `limit + 1` rows in
    /// (conversation, seq) order, the text only of those within the byte
    /// budget (as history does). A shard's running total never exceeds the merged one, so the
    /// merged page is a prefix of what the shards returned; at most one budget
    /// of text per shard is read.
    async fn sync(&self, user_id: UserId, cursors: &[ConversationCursor], limit: u32) -> StoreResult<MessagePage> {
        let shards = &self.shards;
        let (ids, seqs): (Vec<ConversationId>, Vec<Seq>) = cursor_map(cursors).into_iter().unzip();
        let fetch = i64::from(limit) + 1;
        let (ids, seqs) = (&ids, &seqs);
        let pools = shards_of_user(shards, user_id).await?;
        let per_shard = futures_util::future::try_join_all(pools.into_iter().map(|pool| async move {
            sqlx::query_as::<_, BudgetedRow>(concat!(
                "WITH cursor AS (SELECT * FROM unnest($2::bigint[], $3::bigint[]) AS t(conversation_id, seq)),
                 missing AS (
                     SELECT msg.conversation_id, msg.seq, msg.sender_id, msg.sender_device_id, msg.client_msg_id,
                            msg.text, msg.server_ts, msg.kind, msg.reply_to, msg.target_seq, msg.edited_at, msg.deleted
                     FROM members mb
                     JOIN conversations c ON c.id = mb.conversation_id
                     LEFT JOIN cursor cur ON cur.conversation_id = c.id
                     CROSS JOIN LATERAL (
                         SELECT ",
                message_columns!(),
                " FROM messages
                         WHERE conversation_id = c.id AND seq > COALESCE(cur.seq, 0)
                         ORDER BY seq LIMIT $4) msg
                     WHERE mb.user_id = $1 AND c.last_seq > COALESCE(cur.seq, 0)
                     ORDER BY msg.conversation_id, msg.seq
                     LIMIT $4)
                 SELECT conversation_id, seq, sender_id, sender_device_id, client_msg_id,
                        CASE WHEN n <= $5 AND (n = 1 OR running <= $6) THEN text END, server_ts,
                        kind, reply_to, target_seq, edited_at, deleted
                 FROM (SELECT missing.*, row_number() OVER w AS n, sum(octet_length(text)) OVER w AS running
                       FROM missing
                       WINDOW w AS (ORDER BY conversation_id, seq ROWS UNBOUNDED PRECEDING)) page
                 WHERE n <= 2 OR running - octet_length(text) <= $6
                 ORDER BY conversation_id, seq"
            ))
            .bind(user_id)
            .bind(ids)
            .bind(seqs)
            .bind(fetch)
            .bind(i64::from(limit))
            .bind(PAGE_TEXT_BYTES as i64)
            .fetch_all(pool)
            .await
            .db()
        }))
        .await?;
        merged_page(per_shard, limit)
    }
}

/// The page that the shards' pages (each in (conversation, seq) order,
/// texts past its own budget left out) make together: merged in that
/// order and cut to `limit` messages and one budget of text.
pub(super) fn merged_page(per_shard: Vec<Vec<BudgetedRow>>, limit: u32) -> StoreResult<MessagePage> {
    let mut rows: Vec<BudgetedRow> = per_shard.into_iter().flatten().collect();
    rows.sort_by_key(|row| (row.0, row.1));
    let mut page = PageBuilder::new(limit);
    fill(&mut page, rows)?;
    Ok(page.finish(false))
}

/// A message row whose text is NULL when it lies beyond the byte budget.
pub(super) type BudgetedRow = MessageRow<Option<String>>;

/// Offers `rows` (in reading order) to `page` until one does not fit; a
/// row without its text is past the budget, so more exist.
pub(super) fn fill(page: &mut PageBuilder, rows: Vec<BudgetedRow>) -> StoreResult<()> {
    for (conversation_id, seq, sender_id, sender_device_id, client_msg_id, text, server_ts, kind, reply_to, target_seq, edited_at, deleted) in
        rows
    {
        let Some(text) = text else {
            page.more_exist();
            return Ok(());
        };
        let row = (conversation_id, seq, sender_id, sender_device_id, client_msg_id, text, server_ts, kind, reply_to, target_seq, edited_at, deleted);
        if !page.offer(message(row)?) {
            return Ok(());
        }
    }
    Ok(())
}
