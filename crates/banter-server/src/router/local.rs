//! In-process routing: every device is connected to this node.

use std::sync::Arc;

use banter_protocol::{DeviceId, UserId};

use super::Router;
use crate::{
    frame::EncodedFrame,
    push::{PushDispatcher, PushJob},
    registry::{CloseReason, ConnectionId, ConnectionRegistry},
};

/// Delivers straight into this node's [`ConnectionRegistry`].
pub struct LocalRouter {
    registry: Arc<ConnectionRegistry>,
    push: PushDispatcher,
}

impl LocalRouter {
    pub fn new(registry: Arc<ConnectionRegistry>, push: PushDispatcher) -> Self {
        LocalRouter { registry, push }
    }
}

impl Router for LocalRouter {
    fn publish(&self, user_ids: &[UserId], frame: EncodedFrame, skip: Option<ConnectionId>) {
        self.registry.deliver_to_users(user_ids, &frame, skip);
    }

    fn publish_message(&self, user_ids: &[UserId], frame: EncodedFrame, skip: Option<ConnectionId>, push: Option<PushJob>) {
        self.registry.deliver_to_users(user_ids, &frame, skip);
        // Every device is on this node: a candidate (no connection here) is
        // unreachable.
        if let Some(job) = push {
            self.push.enqueue(job);
        }
    }

    fn revoke_device(&self, user_id: UserId, device_id: DeviceId) {
        self.registry.kick_device(user_id, device_id, CloseReason::SESSION_REVOKED);
    }
}
