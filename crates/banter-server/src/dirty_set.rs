//! A set of keys that need attention, drained by one worker task.
//!
//! The bounded replacement for an event channel when only the latest state
//! of a key matters (which users to (un)subscribe, whose presence to
//! announce): marking a key twice before the worker runs costs nothing, so
//! memory is bounded by the number of distinct keys (users on this node),
//! never by the event rate, and bursts coalesce.

use std::{
    collections::{HashMap, HashSet},
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

/// Like [`DirtySet`], with a value per key: marking a key again replaces
/// its value, so the worker sees each key's latest value once. Memory is
/// bounded by the number of distinct keys, never by the event rate.
#[derive(Debug)]
pub struct LatestByKey<K, V> {
    entries: Mutex<HashMap<K, V>>,
    marked: Notify,
}

impl<K: Hash + Eq, V> Default for LatestByKey<K, V> {
    fn default() -> Self {
        LatestByKey { entries: Mutex::new(HashMap::new()), marked: Notify::new() }
    }
}

impl<K: Hash + Eq, V> LatestByKey<K, V> {
    /// Sets `key`'s latest value and wakes the worker.
    pub fn mark(&self, key: K, value: V) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).insert(key, value);
        self.marked.notify_one();
    }

    /// Takes every entry now, without waiting (possibly none).
    pub fn take_now(&self) -> Vec<V> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).drain().map(|(_, v)| v).collect()
    }

    /// Waits until something is marked, then takes every entry with its key.
    pub async fn drain_keyed(&self) -> Vec<(K, V)> {
        loop {
            let entries: Vec<(K, V)> = self.entries.lock().unwrap_or_else(|e| e.into_inner()).drain().collect();
            if !entries.is_empty() {
                return entries;
            }
            self.marked.notified().await;
        }
    }

    /// Waits until something is marked, then takes every entry.
    pub async fn drain(&self) -> Vec<V> {
        loop {
            let values = self.take_now();
            if !values.is_empty() {
                return values;
            }
            self.marked.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_latest_value_of_each_key_wins() {
        let latest = LatestByKey::default();
        for n in 0..1000 {
            latest.mark(7_i64, n);
        }
        latest.mark(8, -1);
        let mut values = latest.drain().await;
        values.sort_unstable();
        assert_eq!(values, vec![-1, 999]);
        assert!(latest.take_now().is_empty());
    }

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
