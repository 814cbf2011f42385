//! Sync: one page of the messages a device is missing, after its
//! per-conversation cursors. Sync is the safety net under best-effort
//! fan-out: whatever a device missed live, it gets here.
//!
//! Invariant: a page is bounded in messages ([`page_size`]) and in text
//! (the store ends it at `PAGE_TEXT_BYTES`); only conversations the user
//! is a member of are read.

use banter_protocol::{frames::SyncCursor, UserId};
use banter_store::{ConversationCursor, MessagePage};

use super::page_size;
use crate::{error::ApiResult, state::AppState};

/// One page of the messages a device is missing; the store ends it at
/// [`PAGE_TEXT_BYTES`](banter_store::PAGE_TEXT_BYTES) of text too.
pub async fn sync_page(state: &AppState, user_id: UserId, cursors: &[SyncCursor], limit: Option<u32>) -> ApiResult<MessagePage> {
    // The store's own cursor type: the wire's `SyncCursor` stays out of it.
    let cursors: Vec<ConversationCursor> =
        cursors.iter().map(|c| ConversationCursor { conversation_id: c.conversation_id, seq: c.seq }).collect();
    Ok(state.store.sync(user_id, &cursors, page_size(limit)?).await?)
}
