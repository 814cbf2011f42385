//! The push decision: which members of a just-stored message get a push
//! notification instead of a live frame.
//!
//! A member with no device connected anywhere is pushed; the sender never
//! is. Where devices are connected is the router's knowledge (this node's
//! registry, and in cluster mode the routing directory), so the decision
//! is made in two steps: here, the members other than the sender with no
//! connection on this node become the job's candidates (none: no job, the
//! common case costs one registry lookup); the router then keeps those no
//! other node holds either ([`Router::publish_message`]) and hands the job
//! over with `try_send` ([`PushDispatcher::enqueue`]): a full push queue
//! drops the notification and never delays the message or its ack.
//!
//! [`Router::publish_message`]: crate::router::Router::publish_message
//! [`PushDispatcher::enqueue`]: crate::push::PushDispatcher::enqueue

use banter_protocol::{Message, UserId};

use crate::{push::PushJob, registry::ConnectionRegistry};

/// The push job for `message`, naming the members (other than the sender)
/// with no connection on this node, or `None` when there are none. An edit
/// or delete is not pushed: it is not news, and the device gets it with its
/// next sync.
pub(super) fn push_candidates(registry: &ConnectionRegistry, message: &Message, member_ids: &[UserId]) -> Option<PushJob> {
    if message.is_change() {
        return None;
    }
    let recipients: Vec<UserId> = member_ids.iter().copied().filter(|id| *id != message.sender_id).collect();
    let candidates = registry.users_without_connection(&recipients);
    (!candidates.is_empty()).then(|| PushJob::new(message, candidates))
}
