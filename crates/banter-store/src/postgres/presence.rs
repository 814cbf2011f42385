//! What presence needs from storage: last-seen times (accounts shard) and
//! who may see whom (every shard: conversations are spread over them).

use std::collections::BTreeSet;

use banter_protocol::{TimestampMs, UserId};

use super::rows::DbResult;
use super::shards::Shards;
use crate::StoreResult;

pub(super) async fn record_last_seen(shards: &Shards, seen: &[(UserId, TimestampMs)]) -> StoreResult<()> {
    if seen.is_empty() {
        return Ok(());
    }
    let (ids, times): (Vec<UserId>, Vec<TimestampMs>) = seen.iter().copied().unzip();
    // GREATEST also folds repeats of one user within the call.
    sqlx::query(
        "UPDATE users u SET last_seen_at = GREATEST(COALESCE(u.last_seen_at, 0), v.at)
         FROM (SELECT id, max(at) AS at FROM unnest($1::bigint[], $2::bigint[]) AS t(id, at) GROUP BY id) v
         WHERE u.id = v.id",
    )
    .bind(&ids)
    .bind(&times)
    .execute(shards.accounts())
    .await
    .db()?;
    Ok(())
}

pub(super) async fn last_seen(shards: &Shards, user_ids: &[UserId]) -> StoreResult<Vec<(UserId, Option<TimestampMs>)>> {
    let rows: Vec<(UserId, Option<TimestampMs>)> =
        sqlx::query_as("SELECT id, last_seen_at FROM users WHERE id = ANY($1)")
            .bind(user_ids)
            .fetch_all(shards.accounts())
            .await
            .db()?;
    let found: std::collections::HashMap<UserId, Option<TimestampMs>> = rows.into_iter().collect();
    Ok(user_ids.iter().filter_map(|id| found.get(id).map(|at| (*id, *at))).collect())
}

/// Everyone the user shares a direct conversation with, ascending.
pub(super) async fn contacts(shards: &Shards, user_id: UserId) -> StoreResult<Vec<UserId>> {
    let per_shard = futures_util::future::try_join_all(shards.all().iter().map(|pool| async move {
        sqlx::query_scalar::<_, UserId>(
            "SELECT DISTINCT peer.user_id
             FROM members me
             JOIN conversations c ON c.id = me.conversation_id AND c.kind = 'direct'
             JOIN members peer ON peer.conversation_id = me.conversation_id AND peer.user_id <> me.user_id
             WHERE me.user_id = $1",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await
        .db()
    }))
    .await?;
    Ok(per_shard.into_iter().flatten().collect::<BTreeSet<_>>().into_iter().collect())
}

/// The candidates sharing a conversation with `viewer` (and the viewer), in
/// the order given.
pub(super) async fn related_users(shards: &Shards, viewer: UserId, candidates: &[UserId]) -> StoreResult<Vec<UserId>> {
    let per_shard = futures_util::future::try_join_all(shards.all().iter().map(|pool| async move {
        sqlx::query_scalar::<_, UserId>(
            "SELECT DISTINCT theirs.user_id
             FROM members mine JOIN members theirs ON theirs.conversation_id = mine.conversation_id
             WHERE mine.user_id = $1 AND theirs.user_id = ANY($2)",
        )
        .bind(viewer)
        .bind(candidates)
        .fetch_all(pool)
        .await
        .db()
    }))
    .await?;
    let related: BTreeSet<UserId> = per_shard.into_iter().flatten().collect();
    Ok(candidates.iter().copied().filter(|c| *c == viewer || related.contains(c)).collect())
}
