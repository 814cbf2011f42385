//! [`NodeDirectory`] on PostgreSQL: two unlogged tables (migration 0009),
//! **partitioned by user id over the shards**: a user's entries live on
//! shard `user_id mod n`, so the connect/disconnect churn and the lookups
//! spread over every shard instead of loading the accounts shard. Each
//! shard keeps its own copy of the node leases (`cluster_nodes`), so an
//! entry and the lease it counts under are read in one query on one shard;
//! a renewal is one statement per shard. Node ids are stored as `bigint`
//! (the same 64 bits); leases are on each shard's own clock.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use banter_protocol::UserId;
use futures_util::future::{join_all, try_join_all};
use sqlx::PgPool;

use super::rows::DbResult;
use crate::directory::{NodeDirectory, NodeId};
use crate::StoreResult;

/// The directory over every shard's pool, in shard order.
pub struct PgDirectory {
    pools: Vec<PgPool>,
}

impl PgDirectory {
    pub(super) fn new(pools: Vec<PgPool>) -> PgDirectory {
        PgDirectory { pools }
    }

    /// `user_ids` grouped by the shard that holds their entries.
    fn by_shard(&self, user_ids: &[UserId]) -> HashMap<usize, Vec<UserId>> {
        let mut groups: HashMap<usize, Vec<UserId>> = HashMap::new();
        for &user_id in user_ids {
            groups.entry(shard_of_user(user_id, self.pools.len())).or_default().push(user_id);
        }
        groups
    }
}

/// The shard holding a user's directory entries.
fn shard_of_user(user_id: UserId, shards: usize) -> usize {
    (user_id.rem_euclid(shards.max(1) as i64)) as usize
}

fn db_id(node: NodeId) -> i64 {
    node as i64
}

#[async_trait]
impl NodeDirectory for PgDirectory {
    async fn renew_node(&self, node: NodeId, lease: Duration) -> StoreResult<bool> {
        // Every shard is renewed on its own: one that is down must not keep
        // the lease from being renewed on the others (its entries there
        // would expire, and this node's users become unreachable while only
        // that shard is out). `xmax = 0` only for a freshly inserted row:
        // the node was unknown on that shard (its entries there swept or
        // lost), so it must re-assert its users.
        let renewed = join_all(self.pools.iter().map(|pool| async move {
            sqlx::query_scalar::<_, bool>(
                "INSERT INTO cluster_nodes (node_id, lease_until) VALUES ($1, now() + make_interval(secs => $2))
                 ON CONFLICT (node_id) DO UPDATE SET lease_until = EXCLUDED.lease_until
                 RETURNING xmax = 0",
            )
            .bind(db_id(node))
            .bind(lease.as_secs_f64())
            .fetch_one(pool)
            .await
            .db()
        }))
        .await;
        if renewed.iter().any(|r| matches!(r, Ok(true))) {
            return Ok(true);
        }
        renewed.into_iter().collect::<StoreResult<Vec<bool>>>().map(|_| false)
    }

    async fn update_users(&self, node: NodeId, joined: &[UserId], left: &[UserId]) -> StoreResult<()> {
        // Per shard, two statements, no transaction: each is idempotent, and
        // a user in both lists cannot happen (the caller compares with its
        // registry).
        let (joined, left) = (self.by_shard(joined), self.by_shard(left));
        let shards: std::collections::BTreeSet<usize> = joined.keys().chain(left.keys()).copied().collect();
        try_join_all(shards.into_iter().map(|shard| {
            let pool = &self.pools[shard];
            let (joined, left) = (joined.get(&shard), left.get(&shard));
            async move {
                if let Some(left) = left {
                    sqlx::query("DELETE FROM user_nodes WHERE node_id = $1 AND user_id = ANY($2)")
                        .bind(db_id(node))
                        .bind(left)
                        .execute(pool)
                        .await
                        .db()?;
                }
                if let Some(joined) = joined {
                    sqlx::query(
                        "INSERT INTO user_nodes (user_id, node_id) SELECT u, $1 FROM unnest($2::bigint[]) AS u
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(db_id(node))
                    .bind(joined)
                    .execute(pool)
                    .await
                    .db()?;
                }
                StoreResult::Ok(())
            }
        }))
        .await?;
        Ok(())
    }

    async fn nodes_of(&self, user_ids: &[UserId]) -> StoreResult<Vec<(UserId, NodeId)>> {
        let groups = self.by_shard(user_ids);
        let per_shard = try_join_all(groups.iter().map(|(&shard, users)| {
            let pool = &self.pools[shard];
            async move {
                sqlx::query_as::<_, (UserId, i64)>(
                    "SELECT un.user_id, un.node_id FROM user_nodes un
                     JOIN cluster_nodes n ON n.node_id = un.node_id AND n.lease_until > now()
                     WHERE un.user_id = ANY($1)",
                )
                .bind(users)
                .fetch_all(pool)
                .await
                .db()
            }
        }))
        .await?;
        let mut pairs: Vec<(UserId, NodeId)> =
            per_shard.into_iter().flatten().map(|(user_id, node)| (user_id, node as NodeId)).collect();
        pairs.sort_unstable();
        Ok(pairs)
    }

    async fn sweep_expired(&self) -> StoreResult<Vec<UserId>> {
        // DELETE … RETURNING: of several nodes sweeping at once, each row
        // (and so each user) is reported to one of them only. Every shard
        // is swept on its own, and what the reachable ones removed is
        // reported even if one failed: those users' entries are gone.
        // One statement per shard, so a node row never goes without its
        // entries (they would linger unseen and unswept).
        let per_shard = join_all(self.pools.iter().map(|pool| async move {
            sqlx::query_scalar::<_, UserId>(
                "WITH gone AS (DELETE FROM cluster_nodes WHERE lease_until < now() RETURNING node_id)
                 DELETE FROM user_nodes WHERE node_id IN (SELECT node_id FROM gone) RETURNING user_id",
            )
            .fetch_all(pool)
            .await
            .db()
        }))
        .await;
        let mut users = Vec::new();
        let mut failed = None;
        for result in per_shard {
            match result {
                Ok(swept) => users.extend(swept),
                Err(e) => failed = Some(e),
            }
        }
        if users.is_empty() {
            if let Some(e) = failed {
                return Err(e);
            }
        }
        users.sort_unstable();
        users.dedup();
        Ok(users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_entries_have_one_shard_and_users_spread_over_all() {
        assert_eq!(shard_of_user(7, 1), 0);
        assert_eq!((0..6).map(|u| shard_of_user(u, 3)).collect::<Vec<_>>(), vec![0, 1, 2, 0, 1, 2]);
    }
}
