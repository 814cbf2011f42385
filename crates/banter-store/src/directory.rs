//! The routing directory of cluster mode: which nodes hold connections of
//! which users.
//!
//! Soft state with leases. Each node registers itself with a lease that it
//! renews (on the database's clock, so node clocks do not matter), and
//! records the users it holds as their first connection arrives and their
//! last one leaves. An entry counts only while its node's lease runs: a
//! node that dies stops renewing, its entries stop counting one lease
//! later, and a sweep removes them. A node that finds its own registration
//! gone (swept after a long pause, or the tables emptied by a database
//! crash: they are not WAL-logged) registers again and re-asserts all its
//! users. Nothing durable depends on it: a publisher that misses a node
//! only delays live delivery, and the router resyncs the devices concerned.

use std::time::Duration;

use async_trait::async_trait;
use banter_protocol::UserId;

use crate::StoreResult;

/// A cluster node's id (random per process).
pub type NodeId = u64;

/// Where each user's connections are, across the cluster.
#[async_trait]
pub trait NodeDirectory: Send + Sync + 'static {
    /// Registers `node`, or extends its lease to `lease` from now. `true`
    /// when the node was not registered (its first call, or its entries
    /// were swept or lost): the caller must re-assert all its users.
    async fn renew_node(&self, node: NodeId, lease: Duration) -> StoreResult<bool>;

    /// Records that `node` now holds connections of `joined` and no longer
    /// of `left`. Idempotent.
    async fn update_users(&self, node: NodeId, joined: &[UserId], left: &[UserId]) -> StoreResult<()>;

    /// The nodes with a running lease that hold each of `user_ids`, as
    /// (user, node) pairs; users nobody holds are absent.
    async fn nodes_of(&self, user_ids: &[UserId]) -> StoreResult<Vec<(UserId, NodeId)>>;

    /// Removes every node whose lease ran out, with its entries; returns
    /// the users those entries were for (once each), whom nobody else may
    /// now hold: the caller decides whether they went offline.
    async fn sweep_expired(&self) -> StoreResult<Vec<UserId>>;
}
