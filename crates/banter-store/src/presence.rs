//! What presence needs from storage: last-seen times, and who may see whom.
//! Who is online right now is not stored (see `banter-server/src/presence/`).

use async_trait::async_trait;
use banter_protocol::{TimestampMs, UserId};

use crate::StoreResult;

/// Durable storage of last-seen times, and the relations that decide who
/// may see whose presence.
#[async_trait]
pub trait PresenceStore: Send + Sync {
    /// Records when users were last seen (a marker only moves forward).
    /// Unknown users are ignored.
    async fn record_last_seen(&self, seen: &[(UserId, TimestampMs)]) -> StoreResult<()>;

    /// The stored last-seen time of each listed user that exists, in the
    /// order given.
    async fn last_seen(&self, user_ids: &[UserId]) -> StoreResult<Vec<(UserId, Option<TimestampMs>)>>;

    /// The user's contacts: everyone they share an open direct conversation
    /// with (not closed by a block, either way, or a deleted account),
    /// ascending.
    async fn contacts(&self, user_id: UserId) -> StoreResult<Vec<UserId>>;

    /// The subset of `candidates` that share at least one conversation with
    /// `viewer` and have no block between them and `viewer` (the viewer
    /// counts as related to itself), in the order given.
    async fn related_users(&self, viewer: UserId, candidates: &[UserId]) -> StoreResult<Vec<UserId>>;
}
