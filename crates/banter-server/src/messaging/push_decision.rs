//! The push decision: which members of a just-stored message get a push
//! notification instead of a live frame.
//!
//! A member with no device connected anywhere (presence, across nodes in
//! cluster mode) is pushed; the sender never is. The job is handed over
//! with `try_send` ([`PushDispatcher::enqueue`](crate::push::PushDispatcher::enqueue)):
//! a full push queue drops the notification and never delays the message
//! or its ack.

use banter_protocol::{Message, UserId};

use crate::{presence::has_connected_device, push::PushJob, state::AppState};

/// Hands `message` to the push dispatcher for the members (other than the
/// sender) with no connected device. Never waits. An edit or delete is not
/// pushed: it is not news, and the device gets it with its next sync.
pub(super) fn push_to_unreachable_members(state: &AppState, message: &Message, member_ids: &[UserId]) {
    if message.is_change() {
        return;
    }
    let unreachable = members_without_connected_device(state, member_ids, message.sender_id);
    if !unreachable.is_empty() {
        state.push.enqueue(PushJob::new(message, unreachable));
    }
}

/// Members other than the sender with no device connected right now.
fn members_without_connected_device(state: &AppState, member_ids: &[UserId], sender: UserId) -> Vec<UserId> {
    let recipients: Vec<UserId> = member_ids.iter().copied().filter(|id| *id != sender).collect();
    let live = state.presence.live(&recipients);
    recipients.into_iter().zip(live).filter(|(_, live)| !has_connected_device(*live)).map(|(id, _)| id).collect()
}
