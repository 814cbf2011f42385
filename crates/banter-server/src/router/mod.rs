//! Routing of real-time events to users' devices.
//!
//! Routing is best-effort by design: nothing durable depends on it. A device
//! that misses an event (slow, offline, or its node died) recovers the
//! message by cursor sync. [`LocalRouter`] delivers within this process (the
//! embedded default); a cluster router publishes to per-user NATS subjects
//! and each node delivers to its own [`ConnectionRegistry`].

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use banter_protocol::{ServerFrame, UserId};

use crate::registry::{ConnectionId, ConnectionRegistry};

/// Delivers encoded frames to every connected device of some users.
pub trait Router: Send + Sync + 'static {
    /// Delivers `frame` to all connections of `user_ids`, except the
    /// connection `skip` (the sending one). Never blocks.
    fn publish(&self, user_ids: &[UserId], frame: Utf8Bytes, skip: Option<ConnectionId>);
}

/// Encodes a frame once, to be shared by every recipient.
pub fn encode(frame: &ServerFrame) -> Utf8Bytes {
    // Serializing our own enum of plain data cannot fail.
    Utf8Bytes::from(serde_json::to_string(frame).unwrap_or_default())
}

/// In-process routing: every device is connected to this node.
pub struct LocalRouter {
    registry: Arc<ConnectionRegistry>,
}

impl LocalRouter {
    pub fn new(registry: Arc<ConnectionRegistry>) -> Self {
        LocalRouter { registry }
    }
}

impl Router for LocalRouter {
    fn publish(&self, user_ids: &[UserId], frame: Utf8Bytes, skip: Option<ConnectionId>) {
        self.registry.deliver_to_users(user_ids, &frame, skip);
    }
}
