//! [`PresenceStore`] on PostgreSQL: last-seen times (accounts shard) and
//! who may see whom (the shards holding the user's memberships, which the
//! per-user index names: [`shards_of_user`]).

use std::collections::BTreeSet;

use async_trait::async_trait;
use banter_protocol::{TimestampMs, UserId};

use super::blocks::blocks_between;
use super::rows::DbResult;
use super::user_shards::shards_of_user;
use super::PgStore;
use crate::{PresenceStore, StoreResult};

#[async_trait]
impl PresenceStore for PgStore {
    async fn record_last_seen(&self, seen: &[(UserId, TimestampMs)]) -> StoreResult<()> {
        let shards = &self.shards;
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

    async fn last_seen(&self, user_ids: &[UserId]) -> StoreResult<Vec<(UserId, Option<TimestampMs>)>> {
        let shards = &self.shards;
        let rows: Vec<(UserId, Option<TimestampMs>)> =
            sqlx::query_as("SELECT id, last_seen_at FROM users WHERE id = ANY($1)")
                .bind(user_ids)
                .fetch_all(shards.accounts())
                .await
                .db()?;
        let found: std::collections::HashMap<UserId, Option<TimestampMs>> = rows.into_iter().collect();
        Ok(user_ids.iter().filter_map(|id| found.get(id).map(|at| (*id, *at))).collect())
    }

    /// Everyone the user shares an open direct conversation with (not
    /// closed by a block or a deleted account), ascending.
    async fn contacts(&self, user_id: UserId) -> StoreResult<Vec<UserId>> {
        let pools = shards_of_user(&self.shards, user_id).await?;
        let per_shard = futures_util::future::try_join_all(pools.into_iter().map(|pool| async move {
            sqlx::query_scalar::<_, UserId>(
                "SELECT DISTINCT peer.user_id
                 FROM members me
                 JOIN conversations c ON c.id = me.conversation_id AND c.kind = 'direct' AND NOT c.closed
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
    async fn related_users(&self, viewer: UserId, candidates: &[UserId]) -> StoreResult<Vec<UserId>> {
        let shards = &self.shards;
        let pools = shards_of_user(shards, viewer).await?;
        let per_shard = futures_util::future::try_join_all(pools.into_iter().map(|pool| async move {
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
        let mut related: BTreeSet<UserId> = per_shard.into_iter().flatten().collect();
        let shared: Vec<UserId> = related.iter().copied().collect();
        for blocked in blocks_between(shards.accounts(), viewer, &shared).await? {
            related.remove(&blocked);
        }
        Ok(candidates.iter().copied().filter(|c| *c == viewer || related.contains(c)).collect())
    }
}
