//! [`MarkerStore`] on PostgreSQL: per-member markers (delivered and read
//! seqs), receipts and mute, on the conversation's shard.
//!
//! The marker rule is [`MarkerUpdate::advance`]. A marker update locks only
//! the member's own row (`FOR UPDATE OF m`), never the conversation row
//! appends lock, so it cannot deadlock with them.

use async_trait::async_trait;
use banter_protocol::{ConversationId, ConversationKind, Markers, Seq, UserId};
use sqlx::PgPool;

use super::conversations::require_member;
use super::rows::DbResult;
use super::PgStore;
use crate::rows::parse_kind;
use crate::{Marker, MarkerStore, MarkerUpdate, Receipts, StoreError, StoreResult};

#[async_trait]
impl MarkerStore for PgStore {
    async fn mark_read(&self, conversation_id: ConversationId, user_id: UserId, seq: Seq) -> StoreResult<MarkerUpdate> {
        advance(self.shards.for_conversation(conversation_id), conversation_id, user_id, seq, Marker::Read).await
    }

    async fn mark_delivered(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        seq: Seq,
    ) -> StoreResult<MarkerUpdate> {
        advance(self.shards.for_conversation(conversation_id), conversation_id, user_id, seq, Marker::Delivered).await
    }

    async fn message_receipts(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
        seq: Seq,
    ) -> StoreResult<Receipts> {
        let pool = self.shards.for_conversation(conversation_id);
        require_member(pool, conversation_id, viewer).await?;
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
        Ok(Receipts::from_markers(conversation_id, seq, rows))
    }

    async fn set_muted(&self, conversation_id: ConversationId, user_id: UserId, muted: bool) -> StoreResult<()> {
        let pool = self.shards.for_conversation(conversation_id);
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
}


async fn advance(
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
    let mut update = MarkerUpdate::advance(Markers { delivered_seq: delivered, read_seq: read }, marker, seq, last_seq);
    if update.changed {
        sqlx::query("UPDATE members SET delivered_seq = $3, read_seq = $4 WHERE conversation_id = $1 AND user_id = $2")
            .bind(conversation_id)
            .bind(user_id)
            .bind(update.markers.delivered_seq)
            .bind(update.markers.read_seq)
            .execute(&mut *tx)
            .await
            .db()?;
    }
    update.direct_peer = match parse_kind(&kind)? {
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
    Ok(update)
}

