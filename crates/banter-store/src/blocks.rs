//! Blocks: who blocked whom, and the rules a block imposes.
//!
//! A block is one row (blocker, blocked) on the accounts shard, capped per
//! blocker. While a block stands between two users, in either direction:
//!
//! * neither may open their direct conversation
//!   ([`ConversationStore::get_or_create_direct`](crate::ConversationStore::get_or_create_direct)
//!   answers [`StoreError::Blocked`]);
//! * nothing new enters it but deletes ([`check_entry`]): the conversation
//!   row carries a `closed` flag, recomputed by every block, unblock and
//!   account deletion ([`direct_closed`]), which the append reads in the
//!   transaction that stores the message;
//! * the blocked user cannot add the blocker to a group (creating one
//!   included): [`check_not_blocked_by`];
//! * presence and typing do not flow between them (the store leaves them
//!   out of [`PresenceStore::contacts`](crate::PresenceStore::contacts) and
//!   [`PresenceStore::related_users`](crate::PresenceStore::related_users);
//!   the server asks [`BlockStore::blocks_between`] before a typing frame).
//!
//! Existing group membership is left as it is. The rules live here once;
//! the backends hold the SQL.

use async_trait::async_trait;
use banter_protocol::{MessageKind, TimestampMs, User, UserId};

use crate::{StoreError, StoreResult};

/// One entry of a block list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEntry {
    /// The blocked user.
    pub user: User,
    /// When they were blocked.
    pub blocked_at: TimestampMs,
}

/// Durable storage of blocks.
#[async_trait]
pub trait BlockStore: Send + Sync {
    /// `blocker` blocks `blocked`; blocking again changes nothing. At most
    /// `cap` users per blocker. Closes their direct conversation, if any.
    /// Errors: [`StoreError::BlockingYourself`], [`StoreError::UserNotFound`]
    /// (no such user, or a deleted one), [`StoreError::TooManyBlocks`].
    async fn block_user(&self, blocker: UserId, blocked: UserId, cap: usize, now: TimestampMs) -> StoreResult<()>;

    /// Lifts `blocker`'s block of `blocked`, if any; their direct
    /// conversation opens again unless a block stands the other way.
    async fn unblock_user(&self, blocker: UserId, blocked: UserId) -> StoreResult<()>;

    /// Everyone `blocker` has blocked, most recent first.
    async fn blocked_users(&self, blocker: UserId) -> StoreResult<Vec<BlockEntry>>;

    /// The users among `others` with a block between them and `user`, in
    /// either direction, in the order given.
    async fn blocks_between(&self, user: UserId, others: &[UserId]) -> StoreResult<Vec<UserId>>;
}

/// Whether `blocker` may block `blocked` at all: not themselves.
pub(crate) fn check_block(blocker: UserId, blocked: UserId) -> StoreResult<()> {
    if blocker == blocked {
        return Err(StoreError::BlockingYourself);
    }
    Ok(())
}

/// Whether a blocker with `count` blocks may add one more.
pub(crate) fn check_block_cap(count: i64, cap: usize) -> StoreResult<()> {
    if usize::try_from(count.max(0)).unwrap_or(usize::MAX) >= cap {
        return Err(StoreError::TooManyBlocks { limit: cap });
    }
    Ok(())
}

/// Whether a direct conversation is closed: a block stands between its
/// users (either way) or one of them deleted the account.
pub(crate) fn direct_closed(blocked_either_way: bool, someone_deleted: bool) -> bool {
    blocked_either_way || someone_deleted
}

/// Whether an entry of `kind` may enter a conversation that is `closed`:
/// only deletes do (taking back what one sent stays possible).
pub(crate) fn check_entry(closed: bool, kind: MessageKind) -> StoreResult<()> {
    if closed && kind != MessageKind::Delete {
        return Err(StoreError::Blocked);
    }
    Ok(())
}

/// Whether `actor` may put users into a group: none of them may have
/// blocked `actor`. `blockers` are the users among them who did.
pub(crate) fn check_not_blocked_by(blockers: &[UserId]) -> StoreResult<()> {
    if blockers.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Blocked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_blocks_themselves_and_the_cap_counts_existing_blocks() {
        assert!(matches!(check_block(4, 4), Err(StoreError::BlockingYourself)));
        assert!(check_block(4, 5).is_ok());
        assert!(check_block_cap(2, 3).is_ok());
        assert!(matches!(check_block_cap(3, 3), Err(StoreError::TooManyBlocks { limit: 3 })));
    }

    #[test]
    fn a_closed_conversation_takes_only_deletes() {
        assert!(check_entry(false, MessageKind::Text).is_ok());
        assert!(matches!(check_entry(true, MessageKind::Text), Err(StoreError::Blocked)));
        assert!(matches!(check_entry(true, MessageKind::Edit), Err(StoreError::Blocked)));
        assert!(check_entry(true, MessageKind::Delete).is_ok());
        assert!(direct_closed(false, true) && direct_closed(true, false) && !direct_closed(false, false));
    }
}
