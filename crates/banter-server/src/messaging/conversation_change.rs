//! Telling users that a conversation changed for them (they joined, were
//! removed, or its members changed), so their devices refresh it.
//!
//! Best effort like every live frame: a device that misses it sees the
//! change on its next conversation-list refresh (every reconnect).

use banter_protocol::{frames::ConversationChange, ConversationId, ServerFrame, UserId};

use crate::{frame::encode, state::AppState};

/// Tells users that a conversation changed for them.
pub fn notify_conversation_change(state: &AppState, user_ids: &[UserId], conversation_id: ConversationId, change: ConversationChange) {
    if user_ids.is_empty() {
        return;
    }
    let frame = encode(&ServerFrame::ConversationUpdated { conversation_id, change });
    state.router.publish(user_ids, frame, None);
}
