//! Whether this node can serve right now, for load balancers: the answer
//! to `GET /api/v1/ready`.
//!
//! Liveness (`/health`) says whether the process should be restarted;
//! readiness says whether traffic should be sent here. A node whose
//! database is unreachable is alive — restarting it would not bring the
//! database back — but not ready: sends would be refused
//! `storage_unavailable`.
//!
//! The check ([`Store::probe`](banter_store::StoreLifecycle::probe)) is one trivial
//! query per shard on a connection of its own, under a 2 s timeout. So that
//! a load balancer polling many times a second (or many of them) never
//! hammers the database, an answer is reused for [`FRESH_FOR`], and
//! concurrent callers share one probe in flight.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use banter_store::Store;

/// How long a probe's answer is reused.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// The last probe's answer, and the lock that keeps probes one at a time.
#[derive(Default)]
pub struct StoreReadiness {
    last: Mutex<Option<(Instant, Result<(), String>)>>,
    probing: tokio::sync::Mutex<()>,
}

impl StoreReadiness {
    /// `Err` with the reason when the store did not answer the latest probe
    /// (at most [`FRESH_FOR`] old). Waits at most for one probe (bounded by
    /// its own timeout) and the one before it.
    pub async fn check(&self, store: &dyn Store) -> Result<(), String> {
        if let Some(answer) = self.fresh() {
            return answer;
        }
        let _probing = self.probing.lock().await;
        // Someone else may have probed while this caller waited.
        if let Some(answer) = self.fresh() {
            return answer;
        }
        let answer = store.probe().await.map_err(|e| e.to_string());
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), answer.clone()));
        answer
    }

    fn fresh(&self) -> Option<Result<(), String>> {
        match &*self.last.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((at, answer)) if at.elapsed() < FRESH_FOR => Some(answer.clone()),
            _ => None,
        }
    }
}
