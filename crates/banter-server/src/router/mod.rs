//! Routing of real-time events to users' devices.
//!
//! Routing is best-effort by design: nothing durable depends on it. A device
//! that misses an event (slow, offline, or its node or the message bus died)
//! recovers the message by cursor sync.
//!
//! * [`LocalRouter`] delivers within this process: the embedded default,
//!   where every device is connected to this node.
//! * [`NatsRouter`] is cluster mode: it delivers to this node's connections
//!   directly and sends the event over NATS once to each other node that
//!   holds recipients, found in the routing directory ([`directory`]).

pub(crate) mod directory;
mod late_push;
mod local;
mod nats;

use banter_protocol::{DeviceId, UserId};

pub use self::local::LocalRouter;
pub use self::nats::{NatsRouter, NatsRouterError};
use crate::{frame::EncodedFrame, push::PushJob, registry::ConnectionId};

/// Delivers encoded frames to every connected device of some users, on
/// whichever node those devices are connected to.
pub trait Router: Send + Sync + 'static {
    /// Delivers `frame` to all connections of `user_ids`, except the
    /// connection `skip` of this node (the sending one). Never blocks.
    fn publish(&self, user_ids: &[UserId], frame: EncodedFrame, skip: Option<ConnectionId>);

    /// [`Router::publish`] for a new message, and its push notification:
    /// `push` names the members with no connection on this node; those
    /// that no other node holds either are notified. Never blocks.
    fn publish_message(&self, user_ids: &[UserId], frame: EncodedFrame, skip: Option<ConnectionId>, push: Option<PushJob>);

    /// Closes every connection of one device, on every node, with
    /// `session_revoked` (logout or device removal). Never blocks.
    fn revoke_device(&self, user_id: UserId, device_id: DeviceId);
}
