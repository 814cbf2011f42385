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
    ConversationId, Markers, Seq, ServerFrame, UserId,
};
use banter_store::{MarkerUpdate, MessagePage, NewMessage};

use crate::{
    auth::Authenticated,
    error::{ApiError, ApiResult},
    presence::has_connected_device,
    push::PushJob,
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
    let outcome = store_message(state, sender, conversation_id, client_msg_id, text).await.inspect_err(|refusal| {
        metrics::counter!(crate::metrics::SENDS_REFUSED, "code" => refusal.code.as_str()).increment(1);
    })?;
    let message = outcome.message;
    let ack = SendAck {
        conversation_id: message.conversation_id,
        seq: message.seq,
        server_ts: message.server_ts,
        duplicate: outcome.duplicate,
    };
    // A duplicate was fanned out (and pushed) when first stored; devices
    // that missed it then will get it by sync.
    if !outcome.duplicate {
        let unreachable = members_without_connected_device(state, &outcome.member_ids, sender.user.id);
        if !unreachable.is_empty() {
            state.push.enqueue(PushJob { message: message.clone(), recipients: unreachable });
        }
        let frame = encode(&ServerFrame::Message { message });
        state.router.publish(&outcome.member_ids, frame, origin);
    }
    Ok(ack)
}

/// Validates and appends; the commit latency is measured here.
async fn store_message(
    state: &AppState,
    sender: &Authenticated,
    conversation_id: ConversationId,
    client_msg_id: String,
    text: String,
) -> ApiResult<banter_store::AppendOutcome> {
    limits::validate_client_msg_id(&client_msg_id)?;
    limits::validate_message_text(&text)?;
    let started = std::time::Instant::now();
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
    if outcome.duplicate {
        metrics::counter!(crate::metrics::MESSAGES_DUPLICATE).increment(1);
    } else {
        metrics::histogram!(crate::metrics::MESSAGE_COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
        metrics::counter!(crate::metrics::MESSAGES_STORED).increment(1);
    }
    Ok(outcome)
}

/// Members other than the sender with no device connected right now: they
/// get a push notification instead of a live frame.
fn members_without_connected_device(state: &AppState, member_ids: &[UserId], sender: UserId) -> Vec<UserId> {
    let recipients: Vec<UserId> = member_ids.iter().copied().filter(|id| *id != sender).collect();
    let live = state.presence.live(&recipients);
    recipients.into_iter().zip(live).filter(|(_, live)| !has_connected_device(*live)).map(|(id, _)| id).collect()
}

/// Moves the user's read marker (and with it the delivered marker), tells
/// all of the user's devices, and in a direct conversation the peer too.
pub async fn mark_read(state: &AppState, user_id: UserId, conversation_id: ConversationId, seq: Seq) -> ApiResult<Seq> {
    let update = state.store.mark_read(conversation_id, user_id, seq).await?;
    let frame = encode(&ServerFrame::ReadMarker { conversation_id, user_id, seq: update.markers.read_seq });
    state.router.publish(&[user_id], frame, None);
    send_receipt(state, user_id, conversation_id, &update);
    Ok(update.markers.read_seq)
}

/// Moves the user's delivered marker; in a direct conversation the peer is
/// told with a `receipt`.
pub async fn mark_delivered(state: &AppState, user_id: UserId, conversation_id: ConversationId, seq: Seq) -> ApiResult<Markers> {
    let update = state.store.mark_delivered(conversation_id, user_id, seq).await?;
    send_receipt(state, user_id, conversation_id, &update);
    Ok(update.markers)
}

fn send_receipt(state: &AppState, user_id: UserId, conversation_id: ConversationId, update: &MarkerUpdate) {
    if let (true, Some(peer)) = (update.changed, update.direct_peer) {
        let frame = encode(&ServerFrame::Receipt {
            conversation_id,
            user_id,
            delivered_seq: update.markers.delivered_seq,
            read_seq: update.markers.read_seq,
        });
        state.router.publish(&[peer], frame, None);
    }
}

/// Tells the other members that `typer` is typing. Ephemeral: nothing is
/// stored. Errors: `not_a_member`.
pub async fn typing(state: &AppState, typer: UserId, conversation_id: ConversationId) -> ApiResult<()> {
    let mut member_ids = state.store.member_ids(conversation_id).await?;
    if !member_ids.contains(&typer) {
        return Err(ApiError::from(banter_store::StoreError::NotAMember));
    }
    member_ids.retain(|id| *id != typer);
    let frame =
        encode(&ServerFrame::Typing { conversation_id, user_id: typer, expires_in_ms: limits::TYPING_EXPIRES_MS });
    state.router.publish(&member_ids, frame, None);
    Ok(())
}

/// Text bytes in one page (sync batch or history page) beyond which the
/// page is cut short; it always holds at least one message. Keeps frames
/// inside the gateway's write buffer limit and responses bounded even when
/// messages are 100,000 characters.
pub const PAGE_TEXT_BYTES: usize = 1024 * 1024;

/// Which end of an ascending page to keep when it is cut to size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepEnd {
    /// Keep the oldest messages (reading forwards: sync, `after`).
    Oldest,
    /// Keep the newest messages (reading backwards: latest, `before`).
    Newest,
}

/// Cuts an ascending page to [`PAGE_TEXT_BYTES`], keeping it contiguous with
/// the cursor it was read from. Returns whether anything was cut.
pub fn cut_to_byte_budget(messages: &mut Vec<banter_protocol::Message>, keep: KeepEnd) -> bool {
    let mut bytes = 0;
    let over = |m: &banter_protocol::Message| {
        bytes += m.text.len();
        bytes > PAGE_TEXT_BYTES
    };
    match keep {
        KeepEnd::Oldest => match messages.iter().position(over) {
            Some(cut) => {
                messages.truncate(cut.max(1));
                true
            }
            None => false,
        },
        KeepEnd::Newest => match messages.iter().rposition(over) {
            Some(cut) => {
                let first_kept = (cut + 1).min(messages.len() - 1);
                messages.drain(..first_kept);
                true
            }
            None => false,
        },
    }
}

/// One page of the messages a device is missing.
pub async fn sync_page(state: &AppState, user_id: UserId, cursors: &[SyncCursor], limit: Option<u32>) -> ApiResult<MessagePage> {
    let limit = clamp_page_size(limit);
    let mut page = state.store.sync(user_id, cursors, limit).await?;
    if cut_to_byte_budget(&mut page.messages, KeepEnd::Oldest) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn page(sizes: &[usize]) -> Vec<banter_protocol::Message> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| banter_protocol::Message {
                conversation_id: 1,
                seq: i as i64 + 1,
                sender_id: 1,
                sender_device_id: 1,
                client_msg_id: format!("c{i}"),
                text: "x".repeat(n),
                server_ts: 0,
            })
            .collect()
    }

    fn seqs(messages: &[banter_protocol::Message]) -> Vec<i64> {
        messages.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn pages_within_the_budget_are_untouched() {
        let mut m = page(&[10, 10, 10]);
        assert!(!cut_to_byte_budget(&mut m, KeepEnd::Oldest));
        assert!(!cut_to_byte_budget(&mut m, KeepEnd::Newest));
        assert_eq!(seqs(&m), vec![1, 2, 3]);
    }

    #[test]
    fn reading_forwards_keeps_the_oldest_contiguous_prefix() {
        let mut m = page(&[400_000, 400_000, 400_000, 10]);
        assert!(cut_to_byte_budget(&mut m, KeepEnd::Oldest));
        assert_eq!(seqs(&m), vec![1, 2]);
    }

    #[test]
    fn reading_backwards_keeps_the_newest_contiguous_suffix() {
        let mut m = page(&[10, 400_000, 400_000, 400_000]);
        assert!(cut_to_byte_budget(&mut m, KeepEnd::Newest));
        assert_eq!(seqs(&m), vec![3, 4]);
    }

    #[test]
    fn a_page_always_keeps_at_least_one_message() {
        let mut m = page(&[2_000_000, 2_000_000]);
        assert!(cut_to_byte_budget(&mut m, KeepEnd::Oldest));
        assert_eq!(seqs(&m), vec![1]);
        let mut m = page(&[2_000_000, 2_000_000]);
        assert!(cut_to_byte_budget(&mut m, KeepEnd::Newest));
        assert_eq!(seqs(&m), vec![2]);
    }
}
