//! The per-user conversation index: which shards hold a user's
//! memberships, so that the per-user questions ask those shards only.
//!
//! Conversations are placed by id ([`shards`](super::shards)), so "the
//! conversations of user 7" has no one home. Without an index, every
//! per-user question — the conversation list, sync, contacts, "shares a
//! conversation with", search without a conversation, the export's walk,
//! account deletion — asked every shard. `user_shards (user_id, shard)`, on
//! the accounts shard, lists the shards that hold at least one membership
//! of the user, current or former (the export reads `former_members` too);
//! [`shards_of_user`] reads it, and the questions ask only those shards.
//!
//! **Invariant: a superset.** Before a membership commits on shard `s`, the
//! row `(user, s)` has committed on the accounts shard. They are different
//! databases with no transaction across them, so the order of the writes is
//! what holds it: [`ensure`] writes the rows first, in its own statement and
//! while no other connection is held (taking a second connection while
//! holding one deadlocked the pool once, see `blocks.rs`), idempotently
//! (`ON CONFLICT DO NOTHING`), and hands back an [`IndexedUsers`] — the
//! argument `insert_members` (conversations.rs), the one function that
//! writes `members`, requires and checks. So no path adds a member the index
//! does not know of, and a reader that could see the membership sees the
//! row. The other way round is allowed: a row outlives the memberships it
//! stood for (leaving, removal, account deletion, an add written to the index
//! and then refused, a crash between the two writes). A stale row costs a
//! query that finds nothing; a missing one would hide conversations. So rows
//! are never deleted, and since a user has at most one row per shard, no
//! user costs more than asking every shard, which every user did before.
//!
//! **One shard** needs no index: everything is on shard 0, so nothing is
//! written, read or backfilled, and the single-database deployment pays no
//! extra statement.
//!
//! **Cost, and why no cache.** A per-user question costs one primary-key
//! read on the accounts shard, then one query per shard that holds the user
//! (in parallel), instead of one query on every shard: one more round trip
//! of latency, in exchange for the queries on shards that hold nothing of
//! the user. The read is not cached: a node's cache would not see a
//! membership another node has just added, and a missing shard loses data.
//! How much it saves depends on placement: direct conversations hash over the
//! shards, so a user with `c` conversations on `n` shards holds about
//! `n·(1 − (1 − 1/n)^c)` of them (32 shards: 1 for one conversation, ≈ 9 for
//! ten) — docs/SCALING.md.
//!
//! **Existing databases.** A migration cannot read the other shards, so
//! [`backfill`] fills the index from every shard's `members` and
//! `former_members` when the store opens, once (a `server_settings` row says
//! it is done), in one transaction on the accounts shard under an advisory
//! lock: nodes starting together wait for the first and then find it done;
//! a node that dies halfway leaves nothing, and the next start begins again.
//! A node of an older release does not write the index: memberships it adds
//! after the backfill ran are missing from it. Upgrade with no older node
//! running, or delete the `user_shards_backfilled` setting afterwards and
//! restart a node (docs/SCALING.md).

use std::collections::HashSet;

use banter_protocol::{ConversationId, UserId};
use sqlx::{PgConnection, PgPool};

use super::rows::DbResult;
use super::shards::{shard_of, Shards};
use crate::{StoreError, StoreResult};

/// The `server_settings` row that says [`backfill`] has run.
const BACKFILLED: &str = "user_shards_backfilled";

/// Users read per statement by [`backfill`].
const BACKFILL_BATCH: i64 = 10_000;

/// Users whose index rows for one shard have committed: proof, for
/// `insert_members`, that their memberships there may be written.
pub(super) struct IndexedUsers {
    shard: usize,
    count: usize,
    user_ids: HashSet<UserId>,
}

impl IndexedUsers {
    /// Fails unless every one of `user_ids` is indexed on the shard of
    /// `conversation_id`: a membership written without its row would be
    /// lost to every per-user question.
    pub(super) fn require(&self, conversation_id: ConversationId, user_ids: &[UserId]) -> StoreResult<()> {
        if self.count == 1 {
            return Ok(());
        }
        let shard = shard_of(conversation_id, self.count);
        if shard == self.shard && user_ids.iter().all(|id| self.user_ids.contains(id)) {
            return Ok(());
        }
        Err(StoreError::Unavailable(format!(
            "members of conversation {conversation_id} (shard {shard}) were not written to the user index for that shard"
        )))
    }
}

/// Records that `user_ids` have memberships on `shard`, before they do
/// (module doc). One statement on the accounts shard; none with one shard
/// or no user.
pub(super) async fn ensure(shards: &Shards, shard: usize, user_ids: &[UserId]) -> StoreResult<IndexedUsers> {
    if shards.count() > 1 && !user_ids.is_empty() {
        let mut sorted = user_ids.to_vec();
        // In one order, so two concurrent inserts of the same users never
        // wait for each other in a cycle.
        sorted.sort_unstable();
        sorted.dedup();
        sqlx::query(
            "INSERT INTO user_shards (user_id, shard) SELECT u, $2 FROM unnest($1::bigint[]) AS t(u)
             ON CONFLICT DO NOTHING",
        )
        .bind(&sorted)
        .bind(shard as i16)
        .execute(shards.accounts())
        .await
        .db()?;
    }
    Ok(IndexedUsers { shard, count: shards.count(), user_ids: user_ids.iter().copied().collect() })
}

/// The shards holding (or once holding) a membership of `user_id`, in
/// shard order: the only shards a per-user question needs to ask.
pub(super) async fn shards_of_user(shards: &Shards, user_id: UserId) -> StoreResult<Vec<&PgPool>> {
    if shards.count() == 1 {
        return Ok(vec![shards.accounts()]);
    }
    let held: Vec<i16> = sqlx::query_scalar("SELECT shard FROM user_shards WHERE user_id = $1 ORDER BY shard")
        .bind(user_id)
        .fetch_all(shards.accounts())
        .await
        .db()?;
    held.into_iter()
        .map(|shard| match usize::try_from(shard) {
            Ok(index) if index < shards.count() => Ok(shards.get(index)),
            _ => Err(StoreError::Unavailable(format!("user {user_id} is indexed on shard {shard}, which does not exist"))),
        })
        .collect()
}

/// Fills the index from the memberships already stored, once (module doc).
/// Run at start, after every shard is migrated.
pub(super) async fn backfill(shards: &Shards) -> StoreResult<()> {
    if shards.count() == 1 {
        return Ok(());
    }
    let mut tx = shards.accounts().begin().await.db()?;
    // Nodes starting together: one fills, the others wait here, then find it done.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('banter.user_shards_backfill'))")
        .execute(&mut *tx)
        .await
        .db()?;
    let done: Option<String> = sqlx::query_scalar("SELECT value FROM server_settings WHERE name = $1")
        .bind(BACKFILLED)
        .fetch_optional(&mut *tx)
        .await
        .db()?;
    if done.is_some() {
        return tx.commit().await.db();
    }
    tracing::info!(shards = shards.count(), "building the per-user shard index");
    let mut indexed = 0u64;
    for shard in 0..shards.count() {
        // Shard 0 is read in the transaction itself: no second connection
        // to the accounts shard.
        let mut other = if shard == 0 { None } else { Some(shards.get(shard).acquire().await.db()?) };
        for table in ["members", "former_members"] {
            let mut after = UserId::MIN;
            loop {
                let reader: &mut PgConnection = match other.as_mut() {
                    Some(connection) => &mut **connection,
                    None => &mut *tx,
                };
                let users = users_after(reader, table, after).await?;
                let Some(&last) = users.last() else { break };
                sqlx::query(
                    "INSERT INTO user_shards (user_id, shard) SELECT u, $2 FROM unnest($1::bigint[]) AS t(u)
                     ON CONFLICT DO NOTHING",
                )
                .bind(&users)
                .bind(shard as i16)
                .execute(&mut *tx)
                .await
                .db()?;
                indexed += users.len() as u64;
                after = last;
            }
        }
    }
    sqlx::query("INSERT INTO server_settings (name, value) VALUES ($1, 'done') ON CONFLICT (name) DO NOTHING")
        .bind(BACKFILLED)
        .execute(&mut *tx)
        .await
        .db()?;
    tx.commit().await.db()?;
    tracing::info!(indexed, "per-user shard index built");
    Ok(())
}

/// The next [`BACKFILL_BATCH`] distinct users of `table` after `after`, in
/// order: a walk of the index on `user_id` that stops at the limit.
async fn users_after(connection: &mut PgConnection, table: &str, after: UserId) -> StoreResult<Vec<UserId>> {
    // `table` is one of ours, not input.
    let sql = format!("SELECT DISTINCT user_id FROM {table} WHERE user_id > $1 ORDER BY user_id LIMIT $2");
    sqlx::query_scalar(&sql).bind(after).bind(BACKFILL_BATCH).fetch_all(connection).await.db()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indexed(shard: usize, count: usize, user_ids: &[UserId]) -> IndexedUsers {
        IndexedUsers { shard, count, user_ids: user_ids.iter().copied().collect() }
    }

    #[test]
    fn members_are_written_only_where_and_for_whom_the_index_was_written() {
        // Shard 1 of 3 holds conversations 2, 5, 8, …
        let proof = indexed(1, 3, &[7, 9]);
        assert!(proof.require(5, &[7, 9]).is_ok());
        assert!(proof.require(5, &[7]).is_ok());
        assert!(proof.require(5, &[7, 8]).is_err(), "user 8 was not indexed");
        assert!(proof.require(6, &[7]).is_err(), "conversation 6 is on shard 2");
        // One shard: no index, nothing to prove.
        assert!(indexed(0, 1, &[]).require(6, &[7]).is_ok());
    }
}
