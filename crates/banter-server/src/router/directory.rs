//! This node's side of the routing directory ([`NodeDirectory`]): keeping
//! its own entries true, and finding the nodes of other users.
//!
//! **Entries.** [`maintain`] follows the registry (a [`UserWatcher`] marks
//! each user whose first connection arrived or last one left) and writes
//! the differences in one statement pair per batch, renews the node's
//! lease (`cluster_node_lease`, 20 s by default) every third of it, and as
//! often sweeps nodes whose lease ran out. Users whose entries went (their
//! last connection here closed, or a dead node was swept) are reported as
//! **departures**, after the write: presence decides from them whether the
//! user is now offline everywhere. When the renewal finds
//! the node unknown (swept after a long pause, or the unlogged tables
//! emptied by a database crash), it re-asserts every user the node holds.
//!
//! **Lookups.** [`NodeCache`] answers "which nodes hold these users" from
//! memory for [`CACHE_TTL`] after a lookup, then asks the directory again
//! (one query for all the misses of a publish batch). So a publisher may
//! act on an answer up to [`CACHE_TTL`] old: a device whose user became
//! reachable on a new node may miss cross-node events for that long. The
//! node therefore sends each user it adds to the directory a `resync`
//! (`directory_joined`) once [`CACHE_TTL`] has passed since the write:
//! every event published after that reaches the node, and everything
//! published before it was stored before it was published, so the sync
//! finds it. A user who leaves a node costs nothing: stale answers send a
//! frame to a node that no longer holds them, which drops it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use banter_protocol::UserId;
use banter_store::{NodeDirectory, NodeId};
use tokio::time::{timeout, Instant, MissedTickBehavior};

use super::nats::{ResyncTarget, Resyncs};
use crate::dirty_set::DirtySet;
use crate::registry::{ConnectionRegistry, UserWatcher};

/// How long a lookup's answer is used before the directory is asked again.
pub const CACHE_TTL: Duration = Duration::from_secs(1);
/// Users remembered in the lookup cache; at this size, expired answers are
/// dropped, and if that frees nothing, all of them (≈ 80 B per user: at
/// most ~5 MiB).
pub const CACHE_MAX_USERS: usize = 64 * 1024;
/// Every directory statement gets this long before it counts as failed.
pub const DIRECTORY_DEADLINE: Duration = Duration::from_secs(2);
/// A failed write is retried after this pause.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Tells [`maintain`] which users' connections on this node changed.
#[derive(Debug)]
pub(super) struct DirectoryWatcher {
    pub(super) changed: Arc<DirtySet<UserId>>,
}

impl UserWatcher for DirectoryWatcher {
    fn first_connection(&self, user_id: UserId) {
        self.changed.mark(user_id);
    }

    fn last_connection_closed(&self, user_id: UserId) {
        self.changed.mark(user_id);
    }
}

/// Keeps this node's directory entries equal to the users its registry
/// holds, its `lease` running, and expired nodes swept. Runs for the life
/// of the process.
pub(super) async fn maintain(
    directory: Arc<dyn NodeDirectory>,
    node: NodeId,
    lease: Duration,
    registry: Arc<ConnectionRegistry>,
    changed: Arc<DirtySet<UserId>>,
    resyncs: Arc<Resyncs>,
    departures: Arc<DirtySet<UserId>>,
    reachable: Arc<DirtySet<UserId>>,
) {
    let mut registered: HashSet<UserId> = HashSet::new();
    let mut renew = tokio::time::interval(lease / 3);
    renew.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sweep = tokio::time::interval(lease / 3);
    sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            // Renewal first: the first tick registers the node before any
            // user is written.
            biased;
            _ = renew.tick() => match timeout(DIRECTORY_DEADLINE, directory.renew_node(node, lease)).await {
                Ok(Ok(true)) => {
                    if !registered.is_empty() {
                        tracing::warn!(users = registered.len(), "this node was missing from the routing directory; re-asserting its users");
                    }
                    registered.clear();
                    for user_id in registry.users() {
                        changed.mark(user_id);
                    }
                }
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "renewing this node's directory lease failed"),
                Err(_) => tracing::warn!("renewing this node's directory lease timed out"),
            },
            _ = sweep.tick() => match timeout(DIRECTORY_DEADLINE, directory.sweep_expired()).await {
                Ok(Ok(users)) if users.is_empty() => {}
                Ok(Ok(users)) => {
                    tracing::info!(users = users.len(), "swept expired nodes from the routing directory");
                    for user_id in users {
                        departures.mark(user_id);
                    }
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "sweeping the routing directory failed"),
                Err(_) => tracing::debug!("sweeping the routing directory timed out"),
            },
            users = changed.drain() => {
                let (mut joined, mut left) = (Vec::new(), Vec::new());
                for user_id in users {
                    match (registry.has_user(user_id), registered.contains(&user_id)) {
                        (true, false) => joined.push(user_id),
                        (false, true) => left.push(user_id),
                        _ => {}
                    }
                }
                if joined.is_empty() && left.is_empty() {
                    continue;
                }
                match timeout(DIRECTORY_DEADLINE, directory.update_users(node, &joined, &left)).await {
                    Ok(Ok(())) => {
                        for user_id in &left {
                            registered.remove(user_id);
                            departures.mark(*user_id);
                        }
                        registered.extend(joined.iter().copied());
                        if !joined.is_empty() {
                            tokio::spawn(resync_when_reachable(resyncs.clone(), reachable.clone(), joined));
                        }
                    }
                    failed => {
                        match failed {
                            Ok(Err(e)) => tracing::warn!(error = %e, "updating the routing directory failed; retrying"),
                            _ => tracing::warn!("updating the routing directory timed out; retrying"),
                        }
                        tokio::time::sleep(RETRY_AFTER).await;
                        for user_id in joined.into_iter().chain(left) {
                            changed.mark(user_id);
                        }
                    }
                }
            }
        }
    }
}

/// Which of `user_ids` a node other than `own` holds a connection of,
/// asked now (no cache); `None` if the directory did not answer within
/// [`DIRECTORY_DEADLINE`] (logged). For the decisions that must not act on
/// a second-old answer: whether a user went offline everywhere, whether a
/// user who just left this node must be pushed.
pub async fn held_elsewhere(directory: &dyn NodeDirectory, own: NodeId, user_ids: &[UserId]) -> Option<HashSet<UserId>> {
    match timeout(DIRECTORY_DEADLINE, directory.nodes_of(user_ids)).await {
        Ok(Ok(pairs)) => Some(pairs.into_iter().filter(|(_, node)| *node != own).map(|(user, _)| user).collect()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the routing directory did not answer");
            None
        }
        Err(_) => {
            tracing::warn!("the routing directory timed out");
            None
        }
    }
}

/// Marks `joined` for a resync once every publisher's cached answer
/// includes this node (see the module doc), and reports them as
/// reachable (presence sends them their contacts' state again: presence
/// frames are not recovered by sync).
async fn resync_when_reachable(resyncs: Arc<Resyncs>, reachable: Arc<DirtySet<UserId>>, joined: Vec<UserId>) {
    tokio::time::sleep(CACHE_TTL + Duration::from_millis(100)).await;
    for user_id in joined {
        resyncs.mark(ResyncTarget::User(user_id), "directory_joined");
        reachable.mark(user_id);
    }
}

/// Where users are: one answer per user, fresh for [`CACHE_TTL`]. Owned by
/// the publishing task alone (no lock).
#[derive(Debug, Default)]
pub(super) struct NodeCache {
    entries: HashMap<UserId, Cached>,
}

#[derive(Debug)]
struct Cached {
    asked: Instant,
    nodes: Vec<NodeId>,
}

impl NodeCache {
    /// The nodes holding `user_id`, if the cache has a fresh answer.
    pub(super) fn fresh(&self, user_id: UserId, now: Instant) -> Option<&[NodeId]> {
        self.entries.get(&user_id).filter(|c| now.duration_since(c.asked) < CACHE_TTL).map(|c| c.nodes.as_slice())
    }

    /// Looks up, in one query, every user of `user_ids` without a fresh
    /// answer. On failure the cache is unchanged (those users have no
    /// fresh answer, and the caller falls back to broadcasting).
    pub(super) async fn refresh(&mut self, directory: &dyn NodeDirectory, user_ids: impl Iterator<Item = UserId>) {
        let asked = Instant::now();
        let mut missing: Vec<UserId> = user_ids.filter(|u| self.fresh(*u, asked).is_none()).collect();
        if missing.is_empty() {
            return;
        }
        missing.sort_unstable();
        missing.dedup();
        metrics::counter!(crate::metrics::DIRECTORY_LOOKUPS).increment(missing.len() as u64);
        let pairs = match timeout(DIRECTORY_DEADLINE, directory.nodes_of(&missing)).await {
            Ok(Ok(pairs)) => pairs,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "routing directory lookup failed; broadcasting");
                return;
            }
            Err(_) => {
                tracing::warn!("routing directory lookup timed out; broadcasting");
                return;
            }
        };
        self.make_room(missing.len(), asked);
        let mut found: HashMap<UserId, Vec<NodeId>> = HashMap::new();
        for (user_id, node) in pairs {
            found.entry(user_id).or_default().push(node);
        }
        for user_id in missing {
            let nodes = found.remove(&user_id).unwrap_or_default();
            self.entries.insert(user_id, Cached { asked, nodes });
        }
    }

    /// Records an answer as if looked up at `asked`.
    #[cfg(test)]
    pub(super) fn insert(&mut self, user_id: UserId, nodes: Vec<NodeId>, asked: Instant) {
        self.entries.insert(user_id, Cached { asked, nodes });
    }

    fn make_room(&mut self, adding: usize, now: Instant) {
        if self.entries.len() + adding <= CACHE_MAX_USERS {
            return;
        }
        self.entries.retain(|_, c| now.duration_since(c.asked) < CACHE_TTL);
        if self.entries.len() + adding > CACHE_MAX_USERS {
            self.entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache never holds more than [`CACHE_MAX_USERS`] answers: room is
    /// made from the stale ones first, and only if that is not enough is
    /// it emptied (answers are cheap to ask again; memory is the bound).
    #[test]
    fn the_cache_makes_room_from_stale_answers_first_and_never_passes_its_bound() {
        let asked = Instant::now();
        let later = asked + CACHE_TTL / 2;
        let mut cache = NodeCache::default();
        // Half the answers a TTL older than the rest (then stale at `later`).
        let full = CACHE_MAX_USERS as UserId;
        for user_id in 0..full {
            cache.insert(user_id, vec![1], if user_id % 2 == 0 { asked - CACHE_TTL } else { asked });
        }
        cache.make_room(0, later);
        assert_eq!(cache.entries.len(), CACHE_MAX_USERS, "room enough: nothing dropped");

        cache.make_room(1, later);
        assert_eq!(cache.entries.len(), CACHE_MAX_USERS / 2, "the stale half dropped");
        assert!(cache.fresh(1, later).is_some(), "fresh answers kept");
        assert!(cache.fresh(0, later).is_none());

        // Full of fresh answers, with more to add: emptied.
        for user_id in full..full + CACHE_MAX_USERS as UserId / 2 {
            cache.insert(user_id, vec![2], asked);
        }
        assert_eq!(cache.entries.len(), CACHE_MAX_USERS);
        cache.make_room(10, later);
        assert!(cache.entries.is_empty(), "{} answers left", cache.entries.len());
    }
}
