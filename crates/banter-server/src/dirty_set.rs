//! A set of keys that need attention, drained by one worker task.
//!
//! The bounded replacement for an event channel when only the latest state
//! of a key matters (which users to (un)subscribe, whose presence to
//! announce): marking a key twice before the worker runs costs nothing, so
//! memory is bounded by the number of distinct keys (users on this node),
//! never by the event rate, and bursts coalesce.

use std::{
    collections::HashSet,
    hash::Hash,
    sync::Mutex,
};

use tokio::sync::Notify;

/// Keys marked since the last [`DirtySet::drain`].
#[derive(Debug)]
pub struct DirtySet<K> {
    keys: Mutex<HashSet<K>>,
    marked: Notify,
}

impl<K: Hash + Eq> Default for DirtySet<K> {
    fn default() -> Self {
        DirtySet { keys: Mutex::new(HashSet::new()), marked: Notify::new() }
    }
}

impl<K: Hash + Eq> DirtySet<K> {
    /// Marks `key` and wakes the worker.
    pub fn mark(&self, key: K) {
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).insert(key);
        self.marked.notify_one();
    }

    /// Waits until something is marked, then takes every marked key.
    pub async fn drain(&self) -> Vec<K> {
        loop {
            let keys: Vec<K> = self.keys.lock().unwrap_or_else(|e| e.into_inner()).drain().collect();
            if !keys.is_empty() {
                return keys;
            }
            self.marked.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn repeated_marks_coalesce_into_one_entry() {
        let set = DirtySet::default();
        for _ in 0..1000 {
            set.mark(7_i64);
        }
        set.mark(8);
        let mut keys = set.drain().await;
        keys.sort_unstable();
        assert_eq!(keys, vec![7, 8]);
    }

    #[tokio::test]
    async fn drain_waits_for_a_mark() {
        let set = std::sync::Arc::new(DirtySet::default());
        let waiter = tokio::spawn({
            let set = set.clone();
            async move { set.drain().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        set.mark(1_i64);
        assert_eq!(waiter.await.unwrap(), vec![1]);
    }
}
