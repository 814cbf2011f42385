//! Sync: one page of the messages a device is missing, after its
//! per-conversation cursors. Sync is the safety net under best-effort
//! fan-out: whatever a device missed live, it gets here.
//!
//! Invariant: a page is bounded in messages ([`page_size`]) and in text
//! (the store ends it at `PAGE_TEXT_BYTES`); only conversations the user
//! is a member of are read.
//!
//! Syncs come in storms: when a node dies, its clients reconnect to the
//! other nodes within a second and every one of them syncs. A node runs at
//! most `max_concurrent_syncs` against storage at once ([`SyncAdmission`]);
//! the rest wait their turn, at most `sync_queue_timeout`, and are then
//! answered `storage_unavailable` with a `retry_after_ms`. So a storm is
//! worked off at the pace storage allows while sends, which need the same
//! database connections, keep going.

use std::time::Duration;

use banter_protocol::{frames::SyncCursor, ErrorCode, UserId};
use banter_store::{ConversationCursor, MessagePage};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::page_size;
use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
};

/// After a sync was refused for waiting too long, when to try again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Turns for syncs against storage on this node.
#[derive(Debug)]
pub struct SyncAdmission {
    turns: Semaphore,
    wait: Duration,
}

impl SyncAdmission {
    pub fn new(concurrent: u32, wait: Duration) -> SyncAdmission {
        SyncAdmission { turns: Semaphore::new(concurrent.max(1) as usize), wait }
    }

    /// Waits for a turn, at most the configured time.
    pub async fn turn(&self) -> ApiResult<SemaphorePermit<'_>> {
        match tokio::time::timeout(self.wait, self.turns.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                metrics::counter!(crate::metrics::SYNCS_TURNED_AWAY).increment(1);
                let mut error = ApiError::new(ErrorCode::StorageUnavailable, "too many syncs waiting on this server; retry later");
                error.retry_after = Some(RETRY_AFTER);
                Err(error)
            }
        }
    }
}

/// One page of the messages a device is missing; the store ends it at
/// [`PAGE_TEXT_BYTES`](banter_store::PAGE_TEXT_BYTES) of text too.
pub async fn sync_page(state: &AppState, user_id: UserId, cursors: &[SyncCursor], limit: Option<u32>) -> ApiResult<MessagePage> {
    // The store's own cursor type: the wire's `SyncCursor` stays out of it.
    let cursors: Vec<ConversationCursor> =
        cursors.iter().map(|c| ConversationCursor { conversation_id: c.conversation_id, seq: c.seq }).collect();
    let limit = page_size(limit)?;
    let _turn = state.sync_admission.turn().await?;
    Ok(state.store.sync(user_id, &cursors, limit).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn syncs_beyond_the_limit_wait_their_turn_and_give_up_after_the_wait() {
        let admission = std::sync::Arc::new(SyncAdmission::new(2, Duration::from_secs(10)));
        let (first, _second) = (admission.turn().await.unwrap(), admission.turn().await.unwrap());
        let started = tokio::time::Instant::now();
        let refused = admission.turn().await.expect_err("no third turn while two run");
        assert_eq!(refused.code, ErrorCode::StorageUnavailable);
        assert_eq!(refused.retry_after, Some(RETRY_AFTER));
        assert_eq!(started.elapsed(), Duration::from_secs(10), "it waited the whole configured time first");

        // A turn freed while one waits goes to the waiter.
        let other = admission.clone();
        let waiting = tokio::spawn(async move {
            let admission = other;
            let started = tokio::time::Instant::now();
            admission.turn().await.map(|_| started.elapsed()).map_err(|e| e.code)
        });
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(first);
        assert_eq!(waiting.await.unwrap(), Ok(Duration::from_secs(3)));
    }
}
