//! Reading messages: history and sync. Appending is the
//! [`appender`](super::appender)'s job, markers are in [`markers`](super::markers).

use std::collections::HashMap;

use banter_protocol::frames::SyncCursor;
use banter_protocol::{ConversationId, Seq, UserId};

use super::conversations::membership;
use super::rows::{message, message_columns, DbResult, MessageRow};
use super::shards::Shards;
use crate::{HistoryRange, MessagePage, StoreError, StoreResult};

pub(super) async fn history(
    shards: &Shards,
    conversation_id: ConversationId,
    viewer: UserId,
    range: HistoryRange,
    limit: u32,
) -> StoreResult<MessagePage> {
    let pool = shards.for_conversation(conversation_id);
    if membership(pool, conversation_id, viewer).await?.is_none() {
        return Err(StoreError::NotAMember);
    }
    // One extra row tells whether more exist beyond the page.
    let fetch = i64::from(limit) + 1;
    let (sql, bound, newest_first) = match range {
        HistoryRange::Latest => (
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE conversation_id = $1 AND seq <= $2 ORDER BY seq DESC LIMIT $3"
            ),
            i64::MAX,
            true,
        ),
        HistoryRange::Before(seq) => (
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
            ),
            seq,
            true,
        ),
        HistoryRange::After(seq) => (
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq ASC LIMIT $3"
            ),
            seq,
            false,
        ),
    };
    let rows: Vec<MessageRow> =
        sqlx::query_as(sql).bind(conversation_id).bind(bound).bind(fetch).fetch_all(pool).await.db()?;
    let mut messages: Vec<_> = rows.into_iter().map(message).collect();
    let has_more = messages.len() > limit as usize;
    // The extra row is the one furthest from the starting point, i.e. last.
    messages.truncate(limit as usize);
    if newest_first {
        messages.reverse();
    }
    Ok(MessagePage { messages, has_more })
}

/// For each of the user's conversations (ascending id), the messages after
/// its cursor: one query per shard, each a range scan per conversation, then
/// a merge. Each shard returns its first `limit + 1` rows in (conversation,
/// seq) order, so the merged first `limit + 1` are the global ones.
pub(super) async fn sync(shards: &Shards, user_id: UserId, cursors: &[SyncCursor], limit: u32) -> StoreResult<MessagePage> {
    // Later cursors for the same conversation win, as in the embedded store.
    let cursors: HashMap<ConversationId, Seq> = cursors.iter().map(|c| (c.conversation_id, c.seq.max(0))).collect();
    let (ids, seqs): (Vec<ConversationId>, Vec<Seq>) = cursors.into_iter().unzip();
    let fetch = i64::from(limit) + 1;
    let (ids, seqs) = (&ids, &seqs);
    let per_shard = futures_util::future::try_join_all(shards.all().iter().map(|pool| async move {
        sqlx::query_as::<_, MessageRow>(concat!(
            "WITH cursor AS (SELECT * FROM unnest($2::bigint[], $3::bigint[]) AS t(conversation_id, seq))
             SELECT msg.conversation_id, msg.seq, msg.sender_id, msg.sender_device_id, msg.client_msg_id,
                    msg.text, msg.server_ts
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
             LIMIT $4"
        ))
        .bind(user_id)
        .bind(ids)
        .bind(seqs)
        .bind(fetch)
        .fetch_all(pool)
        .await
        .db()
    }))
    .await?;
    let mut messages: Vec<_> = per_shard.into_iter().flatten().map(message).collect();
    messages.sort_by_key(|m| (m.conversation_id, m.seq));
    let has_more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    Ok(MessagePage { messages, has_more })
}
