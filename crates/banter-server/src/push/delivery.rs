//! Fair, bounded sending of push notifications.
//!
//! One user's notifications must never wait for another user's push
//! service. So deliveries are queued per user, and each user with pending
//! deliveries has one worker task that sends at most [`PER_USER_IN_FLIGHT`]
//! at a time; every HTTP attempt also takes a permit of the global bound
//! ([`MAX_IN_FLIGHT`], a FIFO semaphore, so users take turns). An account
//! with 20 subscriptions on a service that hangs until the request timeout
//! holds [`PER_USER_IN_FLIGHT`] permits, and everyone else's deliveries go
//! past it. Backoff sleeps hold no global permit.
//!
//! Memory is bounded: at most [`MAX_PENDING`] deliveries wait in all and
//! [`MAX_PENDING_PER_USER`] per user; beyond that a delivery is dropped
//! (counted as `dropped`) — notifications are best effort, the messages are
//! safe in the store.
//!
//! Before the first attempt the endpoint is checked against the current
//! `push_endpoint_hosts`: a subscription stored under an older, wider
//! allow-list is not contacted but removed (the client re-subscribes, and is
//! refused if its push service is no longer allowed).

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use banter_protocol::UserId;
use banter_protocol::http::PushPayload;
use banter_store::{PushSubscriptionRecord, PushTarget, Store};
use tokio::{sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;

use super::{endpoint, PushError, PushProvider, PushSettings};

/// Push requests in flight at once, over all users.
pub const MAX_IN_FLIGHT: usize = 64;
/// Push requests in flight at once for one user.
pub const PER_USER_IN_FLIGHT: usize = 4;
/// Deliveries waiting, over all users.
pub const MAX_PENDING: usize = 4096;
/// Deliveries waiting for one user.
pub const MAX_PENDING_PER_USER: usize = 128;

/// One notification for one subscription.
struct Delivery {
    target: PushSubscriptionRecord,
    payload: Arc<PushPayload>,
}

/// The per-user queues. A user is present exactly while a worker runs for
/// them, so the worker and [`Deliveries::enqueue`] agree, under this one
/// lock, on whether a new worker is needed.
#[derive(Default)]
struct Queues {
    by_user: HashMap<UserId, VecDeque<Delivery>>,
    pending: usize,
}

/// The sending side of the dispatcher.
pub(super) struct Deliveries {
    queues: Mutex<Queues>,
    in_flight: Semaphore,
    store: Arc<dyn Store>,
    provider: Arc<dyn PushProvider>,
    settings: PushSettings,
    shutdown: CancellationToken,
}

impl Deliveries {
    pub(super) fn new(
        store: Arc<dyn Store>,
        provider: Arc<dyn PushProvider>,
        settings: PushSettings,
        shutdown: CancellationToken,
    ) -> Arc<Deliveries> {
        Arc::new(Deliveries {
            queues: Mutex::default(),
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
            store,
            provider,
            settings,
            shutdown,
        })
    }

    /// Queues one delivery without waiting; starts the user's worker if
    /// none runs. Dropped when the queues are full.
    pub(super) fn enqueue(self: &Arc<Self>, target: PushSubscriptionRecord, payload: Arc<PushPayload>) {
        let user_id = target.user_id;
        let start_worker = {
            let mut queues = self.lock();
            let running = queues.by_user.contains_key(&user_id);
            let queued = queues.by_user.get(&user_id).map_or(0, VecDeque::len);
            if queues.pending >= MAX_PENDING || queued >= MAX_PENDING_PER_USER {
                drop(queues);
                tracing::warn!(user = user_id, subscription = target.id, "push deliveries queue full; notification dropped");
                crate::metrics::push("dropped");
                return;
            }
            queues.by_user.entry(user_id).or_default().push_back(Delivery { target, payload });
            queues.pending += 1;
            !running
        };
        if start_worker {
            tokio::spawn(self.clone().serve_user(user_id));
        }
    }

    /// The user's worker: sends their deliveries, [`PER_USER_IN_FLIGHT`] at
    /// a time, and ends once none is left.
    async fn serve_user(self: Arc<Self>, user_id: UserId) {
        let mut sending = JoinSet::new();
        loop {
            if self.shutdown.is_cancelled() {
                let mut queues = self.lock();
                if let Some(left) = queues.by_user.remove(&user_id) {
                    queues.pending -= left.len();
                }
                return;
            }
            if sending.len() >= PER_USER_IN_FLIGHT {
                sending.join_next().await;
                continue;
            }
            let next = {
                let mut queues = self.lock();
                match queues.by_user.get_mut(&user_id).and_then(VecDeque::pop_front) {
                    Some(delivery) => {
                        queues.pending -= 1;
                        Some(delivery)
                    }
                    None if sending.is_empty() => {
                        queues.by_user.remove(&user_id);
                        return;
                    }
                    None => None,
                }
            };
            match next {
                Some(delivery) => {
                    sending.spawn(self.clone().deliver(delivery));
                }
                // Wait for one to finish; more may have been queued by then.
                None => {
                    sending.join_next().await;
                }
            }
        }
    }

    /// Sends to one subscription, retrying temporary failures.
    async fn deliver(self: Arc<Self>, delivery: Delivery) {
        let Delivery { target, payload } = delivery;
        let allowed = match &target.target {
            PushTarget::Web { endpoint: url, .. } => endpoint::check(url, &self.settings.endpoint_hosts),
            PushTarget::Fcm { .. } | PushTarget::Apns { .. } => Ok(()),
        };
        if let Err(why) = allowed {
            tracing::info!(subscription = target.id, user = target.user_id, %why, "push endpoint no longer allowed; subscription removed");
            crate::metrics::push("disallowed");
            if let Err(e) = self.store.remove_push_subscription(target.id).await {
                tracing::warn!(error = %e, "could not remove a disallowed push subscription");
            }
            return;
        }
        let retry = self.settings.retry;
        let mut delay = retry.base_delay;
        for attempt in 1..=retry.max_attempts.max(1) {
            let result = {
                let permit = tokio::select! {
                    () = self.shutdown.cancelled() => return,
                    permit = self.in_flight.acquire() => permit,
                };
                let Ok(_permit) = permit else { return };
                self.provider.send(&target, &payload).await
            };
            match result {
                Ok(()) => {
                    tracing::debug!(subscription = target.id, user = target.user_id, "push delivered");
                    crate::metrics::push("delivered");
                    return;
                }
                Err(PushError::Gone) => {
                    tracing::info!(subscription = target.id, user = target.user_id, "push subscription gone; removed");
                    crate::metrics::push("gone");
                    if let Err(e) = self.store.remove_push_subscription(target.id).await {
                        tracing::warn!(error = %e, "could not remove a dead push subscription");
                    }
                    return;
                }
                Err(PushError::Rejected(why)) => {
                    tracing::warn!(subscription = target.id, %why, "push rejected");
                    crate::metrics::push("rejected");
                    return;
                }
                Err(error @ (PushError::Temporary(_) | PushError::Throttled { .. })) => {
                    let why = error.to_string();
                    if let PushError::Throttled { retry_after, .. } = error {
                        delay = delay.max(retry_after.min(super::provider::MAX_RETRY_AFTER));
                    }
                    tracing::debug!(subscription = target.id, attempt, %why, "push failed; will retry");
                    if attempt >= retry.max_attempts {
                        tracing::warn!(subscription = target.id, %why, "push failed after every attempt");
                        crate::metrics::push("failed");
                        return;
                    }
                    tokio::select! {
                        () = self.shutdown.cancelled() => return,
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = delay.saturating_mul(2);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        // A poisoned lock only means a panic mid-update of plain queues.
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }
}
