//! [`NodeDirectory`] on PostgreSQL: two unlogged tables on the accounts
//! shard (migration 0009). Node ids are stored as `bigint` (the same 64
//! bits); leases are on the database's clock.

use std::time::Duration;

use async_trait::async_trait;
use banter_protocol::UserId;
use sqlx::PgPool;

use super::rows::DbResult;
use crate::directory::{NodeDirectory, NodeId};
use crate::StoreResult;

/// The directory on the accounts shard's pool.
pub struct PgDirectory {
    pool: PgPool,
}

impl PgDirectory {
    pub(super) fn new(pool: PgPool) -> PgDirectory {
        PgDirectory { pool }
    }
}

fn db_id(node: NodeId) -> i64 {
    node as i64
}

#[async_trait]
impl NodeDirectory for PgDirectory {
    async fn renew_node(&self, node: NodeId, lease: Duration) -> StoreResult<bool> {
        // `xmax = 0` only for a freshly inserted row: the node was unknown.
        let inserted: bool = sqlx::query_scalar(
            "INSERT INTO cluster_nodes (node_id, lease_until) VALUES ($1, now() + make_interval(secs => $2))
             ON CONFLICT (node_id) DO UPDATE SET lease_until = EXCLUDED.lease_until
             RETURNING xmax = 0",
        )
        .bind(db_id(node))
        .bind(lease.as_secs_f64())
        .fetch_one(&self.pool)
        .await
        .db()?;
        Ok(inserted)
    }

    async fn update_users(&self, node: NodeId, joined: &[UserId], left: &[UserId]) -> StoreResult<()> {
        // Two statements, no transaction: each is idempotent, and a user in
        // both lists cannot happen (the caller compares with its registry).
        if !left.is_empty() {
            sqlx::query("DELETE FROM user_nodes WHERE node_id = $1 AND user_id = ANY($2)")
                .bind(db_id(node))
                .bind(left)
                .execute(&self.pool)
                .await
                .db()?;
        }
        if !joined.is_empty() {
            sqlx::query(
                "INSERT INTO user_nodes (user_id, node_id) SELECT u, $1 FROM unnest($2::bigint[]) AS u
                 ON CONFLICT DO NOTHING",
            )
            .bind(db_id(node))
            .bind(joined)
            .execute(&self.pool)
            .await
            .db()?;
        }
        Ok(())
    }

    async fn nodes_of(&self, user_ids: &[UserId]) -> StoreResult<Vec<(UserId, NodeId)>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(UserId, i64)> = sqlx::query_as(
            "SELECT un.user_id, un.node_id FROM user_nodes un
             JOIN cluster_nodes n ON n.node_id = un.node_id AND n.lease_until > now()
             WHERE un.user_id = ANY($1)",
        )
        .bind(user_ids)
        .fetch_all(&self.pool)
        .await
        .db()?;
        Ok(rows.into_iter().map(|(user_id, node)| (user_id, node as NodeId)).collect())
    }

    async fn sweep_expired(&self) -> StoreResult<Vec<UserId>> {
        // DELETE … RETURNING: of several nodes sweeping at once, each row
        // (and so each user) is reported to one of them only.
        let expired: Vec<i64> =
            sqlx::query_scalar("DELETE FROM cluster_nodes WHERE lease_until < now() RETURNING node_id")
                .fetch_all(&self.pool)
                .await
                .db()?;
        if expired.is_empty() {
            return Ok(Vec::new());
        }
        let mut users: Vec<UserId> =
            sqlx::query_scalar("DELETE FROM user_nodes WHERE node_id = ANY($1) RETURNING user_id")
                .bind(&expired)
                .fetch_all(&self.pool)
                .await
                .db()?;
        users.sort_unstable();
        users.dedup();
        Ok(users)
    }
}
