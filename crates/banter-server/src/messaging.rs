//! The messaging rules: validate, store durably, acknowledge, fan out.
//!
//! Order matters and is the core guarantee: a message is acknowledged only
//! after [`Store::append_message`](banter_store::Store::append_message) has
//! committed it, and it is fanned out only after that too, so no device ever
//! sees a message that could still be lost. Both the HTTP API and the
//! WebSocket gateway call these functions; neither holds rules of its own.

use banter_protocol::{
    frames::{ConversationChange, SyncCursor},
    limits::{self, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE},
    ConversationId, Seq, ServerFrame, UserId,
};
use banter_store::{MessagePage, NewMessage};

use crate::{
    auth::Authenticated,
    error::ApiResult,
    registry::ConnectionId,
    router::encode,
    state::{now_ms, AppState},
};

/// What the sender is told once its message is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendAck {
    pub conversation_id: ConversationId,
    pub seq: Seq,
    pub server_ts: i64,
    pub duplicate: bool,
}

/// Validates, stores and fans out one message from `sender`'s connection
/// `origin`. The returned ack is for that connection only.
pub async fn send_message(
    state: &AppState,
    sender: &Authenticated,
    origin: Option<ConnectionId>,
    conversation_id: ConversationId,
    client_msg_id: String,
    text: String,
) -> ApiResult<SendAck> {
    limits::validate_client_msg_id(&client_msg_id)?;
    limits::validate_message_text(&text)?;
    let outcome = state
        .store
        .append_message(NewMessage {
            conversation_id,
            sender_id: sender.user.id,
            sender_device_id: sender.device_id,
            client_msg_id,
            text,
            server_ts: now_ms(),
        })
        .await?;
    let message = outcome.message;
    let ack = SendAck {
        conversation_id: message.conversation_id,
        seq: message.seq,
        server_ts: message.server_ts,
        duplicate: outcome.duplicate,
    };
    // A duplicate was fanned out when first stored; devices that missed it
    // then will get it by sync.
    if !outcome.duplicate {
        let frame = encode(&ServerFrame::Message { message });
        state.router.publish(&outcome.member_ids, frame, origin);
    }
    Ok(ack)
}

/// Moves the user's read marker and tells all of the user's devices.
pub async fn mark_read(state: &AppState, user_id: UserId, conversation_id: ConversationId, seq: Seq) -> ApiResult<Seq> {
    let read_seq = state.store.mark_read(conversation_id, user_id, seq).await?;
    let frame = encode(&ServerFrame::ReadMarker { conversation_id, user_id, seq: read_seq });
    state.router.publish(&[user_id], frame, None);
    Ok(read_seq)
}

/// Text bytes in one `sync_batch` frame beyond which the page is cut short
/// (it always holds at least one message). Keeps every frame well inside the
/// gateway's write buffer limit even when messages are 100,000 characters.
pub const SYNC_PAGE_TEXT_BYTES: usize = 1024 * 1024;

/// One page of the messages a device is missing.
pub async fn sync_page(state: &AppState, user_id: UserId, cursors: &[SyncCursor], limit: Option<u32>) -> ApiResult<MessagePage> {
    let limit = clamp_page_size(limit);
    let mut page = state.store.sync(user_id, cursors, limit).await?;
    // Cutting a suffix keeps each conversation contiguous from its cursor.
    let mut bytes = 0;
    if let Some(cut) = page.messages.iter().position(|m| {
        bytes += m.text.len();
        bytes > SYNC_PAGE_TEXT_BYTES
    }) {
        page.messages.truncate(cut.max(1));
        page.has_more = true;
    }
    Ok(page)
}

/// Tells users that a conversation changed for them.
pub fn notify_conversation_change(state: &AppState, user_ids: &[UserId], conversation_id: ConversationId, change: ConversationChange) {
    if user_ids.is_empty() {
        return;
    }
    let frame = encode(&ServerFrame::ConversationUpdated { conversation_id, change });
    state.router.publish(user_ids, frame, None);
}

/// Page sizes are 1..=200, default 50.
pub fn clamp_page_size(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE)
}
