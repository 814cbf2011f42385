//! Leaving for good: deleting an account, and reading back what a user
//! sent (the data export).
//!
//! A deleted account keeps its `users` row, because the messages it sent
//! stay for the other members and name it; everything else of it goes:
//!
//! * its profile: the display name is erased and the username moves to a
//!   reserved column ([`deleted_username`](crate::rows::deleted_username)
//!   takes its place), so the row reads back as a `deleted` user with
//!   neither, nobody can log in to it, find it or open a conversation with
//!   it, and nobody can sign up with the old name (SECURITY.md says why);
//! * its password hash (emptied: no hash verifies against it) and last seen;
//! * its devices (sessions, tokens) and their push subscriptions of every
//!   kind;
//! * its blocks, both ways;
//! * its group memberships, as if it had left each (admin handed on as on
//!   leaving); its direct conversations stay, closed
//!   ([`direct_closed`](crate::blocks::direct_closed)), so the peer keeps
//!   the history.

use async_trait::async_trait;
use banter_protocol::{ConversationId, DeviceId, Seq, TimestampMs, UserId};

use crate::{MembershipChange, MessagePage, StoreResult};

/// What deleting an account changed, for the server to tell those
/// concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletedAccount {
    /// The devices removed (their sockets must close).
    pub device_ids: Vec<DeviceId>,
    /// Each group the account left, with who is a member now.
    pub left_groups: Vec<MembershipChange>,
}

/// Durable storage of what leaving needs.
#[async_trait]
pub trait LeavingStore: Send + Sync {
    /// Deletes the account as the module doc says. Deleting it again finds
    /// no such user. Errors: [`StoreError::UserNotFound`](crate::StoreError::UserNotFound).
    async fn delete_account(&self, user_id: UserId, now: TimestampMs) -> StoreResult<DeletedAccount>;

    /// The `text` messages `user_id` sent and did not delete, as they
    /// stand (edits applied), after `(conversation, seq)` `after`, in that
    /// order (`has_more` when more follow): at most `limit` messages and one page of text
    /// ([`PAGE_TEXT_BYTES`](crate::PAGE_TEXT_BYTES)), at least one.
    async fn sent_messages(
        &self,
        user_id: UserId,
        after: Option<(ConversationId, Seq)>,
        limit: u32,
    ) -> StoreResult<MessagePage>;
}
