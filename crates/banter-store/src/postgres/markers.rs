//! Per-member markers (delivered and read seqs), receipts and mute, on the
//! conversation's shard.
//!
//! `delivered_seq >= read_seq` always holds: reading implies delivery. Both
//! only move forward and never past the conversation's last seq. A marker
//! update locks only the member's own row (`FOR UPDATE OF m`), never the
//! conversation row appends lock, so it cannot deadlock with them.

use banter_protocol::http::MessageReceipts;
use banter_protocol::{ConversationId, ConversationKind, Markers, Seq, UserId};
use sqlx::PgPool;

use super::conversations::membership;
use super::rows::DbResult;
use crate::sqlite::rows::parse_kind;
use crate::{advance_markers, MarkerUpdate, StoreError, StoreResult};

pub(super) use crate::Marker;

pub(super) async fn advance(
    pool: &PgPool,
    conversation_id: ConversationId,
    user_id: UserId,
    seq: Seq,
    marker: Marker,
) -> StoreResult<MarkerUpdate> {
    let mut tx = pool.begin().await.db()?;
    let (delivered, read, last_seq, kind): (Seq, Seq, Seq, String) = sqlx::query_as(
        "SELECT m.delivered_seq, m.read_seq, c.last_seq, c.kind
         FROM members m JOIN conversations c ON c.id = m.conversation_id
         WHERE m.conversation_id = $1 AND m.user_id = $2
         FOR UPDATE OF m",
    )
    .bind(conversation_id)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await
    .db()?
    .ok_or(StoreError::NotAMember)?;
    let Markers { delivered_seq: new_delivered, read_seq: new_read } =
        advance_markers(Markers { delivered_seq: delivered, read_seq: read }, marker, seq, last_seq);
    let changed = new_read != read || new_delivered != delivered;
    if changed {
        sqlx::query("UPDATE members SET delivered_seq = $3, read_seq = $4 WHERE conversation_id = $1 AND user_id = $2")
            .bind(conversation_id)
            .bind(user_id)
            .bind(new_delivered)
            .bind(new_read)
            .execute(&mut *tx)
            .await
            .db()?;
    }
    let direct_peer = match parse_kind(&kind)? {
        ConversationKind::Group => None,
        ConversationKind::Direct => sqlx::query_scalar(
            "SELECT user_id FROM members WHERE conversation_id = $1 AND user_id <> $2 LIMIT 1",
        )
        .bind(conversation_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .db()?,
    };
    tx.commit().await.db()?;
    Ok(MarkerUpdate { markers: Markers { delivered_seq: new_delivered, read_seq: new_read }, changed, direct_peer })
}

pub(super) async fn message_receipts(
    pool: &PgPool,
    conversation_id: ConversationId,
    viewer: UserId,
    seq: Seq,
) -> StoreResult<MessageReceipts> {
    if membership(pool, conversation_id, viewer).await?.is_none() {
        return Err(StoreError::NotAMember);
    }
    let sender_id: UserId = sqlx::query_scalar("SELECT sender_id FROM messages WHERE conversation_id = $1 AND seq = $2")
        .bind(conversation_id)
        .bind(seq)
        .fetch_optional(pool)
        .await
        .db()?
        .ok_or(StoreError::MessageNotFound)?;
    let rows: Vec<(UserId, Seq, Seq)> = sqlx::query_as(
        "SELECT user_id, delivered_seq, read_seq FROM members
         WHERE conversation_id = $1 AND user_id <> $2 ORDER BY user_id",
    )
    .bind(conversation_id)
    .bind(sender_id)
    .fetch_all(pool)
    .await
    .db()?;
    let delivered_to: Vec<UserId> = rows.iter().filter(|r| r.1 >= seq).map(|r| r.0).collect();
    let read_by: Vec<UserId> = rows.iter().filter(|r| r.2 >= seq).map(|r| r.0).collect();
    Ok(MessageReceipts {
        conversation_id,
        seq,
        member_count: rows.len() as i64,
        delivered_count: delivered_to.len() as i64,
        read_count: read_by.len() as i64,
        delivered_to,
        read_by,
    })
}

pub(super) async fn set_muted(
    pool: &PgPool,
    conversation_id: ConversationId,
    user_id: UserId,
    muted: bool,
) -> StoreResult<()> {
    let updated = sqlx::query("UPDATE members SET muted = $3 WHERE conversation_id = $1 AND user_id = $2")
        .bind(conversation_id)
        .bind(user_id)
        .bind(muted)
        .execute(pool)
        .await
        .db()?
        .rows_affected();
    if updated == 0 {
        Err(StoreError::NotAMember)
    } else {
        Ok(())
    }
}
