//! The send path: validate, store durably, hand the fan-out to the router,
//! then return the ack for the caller (gateway or HTTP route) to queue.
//!
//! Invariant (see [`crate::messaging`] for the order): nothing about a
//! message leaves this node before
//! [`MessageStore::append_message`](banter_store::MessageStore::append_message) has
//! committed it — not the live frame, not the push, not the ack.
//!
//! Concurrent sends to one conversation commit in one order but their tasks
//! finish in another; [`crate::live_order`] puts this node's live frames
//! back into commit (seq) order before they reach the router.

use banter_protocol::{limits, Content, ConversationId, DeviceId, Markers, Seq, ServerFrame, UserId};
use std::sync::Arc;

use banter_store::{AppendOutcome, NewMessage};

use super::{push_decision::push_candidates, receipts::receipt_frame};
use crate::{
    auth::Authenticated,
    error::{ApiError, ApiResult},
    frame::encode,
    live_order::{Publish, Ticket},
    registry::ConnectionId,
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
///
/// The work runs in a task of its own: if the caller goes away mid-send
/// (its connection closed while the commit was under way), a message that
/// did commit is still fanned out and pushed — otherwise a quiet
/// conversation would hide it until someone's next reconnect.
pub async fn send_message(
    state: &Arc<AppState>,
    sender: &Authenticated,
    origin: Option<ConnectionId>,
    conversation_id: ConversationId,
    client_msg_id: String,
    content: Content,
) -> ApiResult<SendAck> {
    let task = tokio::spawn(store_and_fan_out(state.clone(), sender.user.id, sender.device_id, origin, conversation_id, client_msg_id, content));
    task.await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a send task failed");
        Err(ApiError::new(banter_protocol::ErrorCode::Internal, "internal error"))
    })
}

async fn store_and_fan_out(
    state: Arc<AppState>,
    sender_id: UserId,
    sender_device_id: DeviceId,
    origin: Option<ConnectionId>,
    conversation_id: ConversationId,
    client_msg_id: String,
    content: Content,
) -> ApiResult<SendAck> {
    let (outcome, ticket) = store_message(&state, sender_id, sender_device_id, conversation_id, client_msg_id, content)
        .await
        .inspect_err(|refusal| {
            metrics::counter!(crate::metrics::SENDS_REFUSED, "code" => refusal.code.as_str()).increment(1);
        })?;
    let message = outcome.message;
    let ack = SendAck {
        conversation_id: message.conversation_id,
        seq: message.seq,
        server_ts: message.server_ts,
        duplicate: outcome.duplicate,
    };
    // A duplicate is fanned out (and pushed) again: the first attempt may
    // have committed without reaching anyone (its node died between commit
    // and publish, or the commit's answer was lost). Devices drop a seq
    // they already hold; the web client tags notifications per
    // conversation, so a repeated one replaces the first on the device.
    let push = push_candidates(&state.registry, &message, &outcome.member_ids);
    let frame = encode(&ServerFrame::Message { message });
    // Sending moved the sender's markers to this message (see
    // `Store::append_message`): in a direct conversation the peer's ticks
    // on everything before it turn to "read" now.
    let receipt = outcome.direct_peer.map(|peer| {
        let markers = Markers { delivered_seq: ack.seq, read_seq: ack.seq };
        (peer, receipt_frame(ack.conversation_id, sender_id, markers))
    });
    let held_bytes = frame.len()
        + receipt.as_ref().map_or(0, |(_, r)| r.len())
        + outcome.member_ids.len() * 8
        + push.as_ref().map_or(0, |job| job.preview.len() + job.recipients.len() * 8);
    let router = state.router.clone();
    let member_ids = outcome.member_ids;
    let publish: Publish = Box::new(move || {
        router.publish_message(&member_ids, frame, origin, push);
        if let Some((peer, receipt)) = receipt {
            router.publish(&[peer], receipt, None);
        }
    });
    if ack.duplicate {
        // A retry's seq is an old one: it goes out at once, outside the
        // order (devices that hold it drop it).
        drop(ticket);
        publish();
    } else {
        ticket.publish_in_order(ack.seq, held_bytes, publish);
    }
    Ok(ack)
}

/// Validates and appends; the commit latency is measured here. The ticket
/// is taken just before the append, so the live frame keeps commit order.
async fn store_message(
    state: &Arc<AppState>,
    sender_id: UserId,
    sender_device_id: DeviceId,
    conversation_id: ConversationId,
    client_msg_id: String,
    content: Content,
) -> ApiResult<(AppendOutcome, Ticket)> {
    limits::validate_client_msg_id(&client_msg_id)?;
    if !matches!(content, Content::Delete { .. }) {
        limits::validate_message_text(content.text_str())?;
    }
    let started = std::time::Instant::now();
    let ticket = state.live_order.ticket(conversation_id);
    let outcome = state
        .store
        .append_message(NewMessage {
            conversation_id,
            sender_id,
            sender_device_id,
            client_msg_id,
            content,
            server_ts: now_ms(),
            rules: state.config.change_rules(),
        })
        .await?;
    if outcome.duplicate {
        metrics::counter!(crate::metrics::MESSAGES_DUPLICATE).increment(1);
    } else {
        metrics::histogram!(crate::metrics::MESSAGE_COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
        metrics::counter!(crate::metrics::MESSAGES_STORED).increment(1);
    }
    Ok((outcome, ticket))
}
