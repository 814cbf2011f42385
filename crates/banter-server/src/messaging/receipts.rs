//! Receipts: each member's two markers in a conversation (`delivered_seq ≥
//! read_seq`, kept by the store) and the frames that report them.
//!
//! Moving a marker tells the user's own devices (`read_marker`, so every
//! device clears its unread count) and, in a direct conversation, the peer
//! (`receipt`, the ticks on their messages). Group receipts are read on
//! request instead, so a busy group costs no frame per member per read.
//! A marker that did not move sends nothing.

use banter_protocol::{ConversationId, Markers, Seq, ServerFrame, UserId};
use banter_store::MarkerUpdate;

use crate::{
    error::ApiResult,
    frame::{encode, EncodedFrame},
    state::AppState,
};

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

/// The `receipt` frame telling a direct conversation's peer where `user_id`'s
/// markers are.
pub(super) fn receipt_frame(conversation_id: ConversationId, user_id: UserId, markers: Markers) -> EncodedFrame {
    encode(&ServerFrame::Receipt {
        conversation_id,
        user_id,
        delivered_seq: markers.delivered_seq,
        read_seq: markers.read_seq,
    })
}

fn send_receipt(state: &AppState, user_id: UserId, conversation_id: ConversationId, update: &MarkerUpdate) {
    if let (true, Some(peer)) = (update.changed, update.direct_peer) {
        state.router.publish(&[peer], receipt_frame(conversation_id, user_id, update.markers), None);
    }
}
