//! Conversations (direct and group) and their membership, and the
//! membership rules every backend applies.
//!
//! The rules live here once (`direct_key`, `new_group_members`,
//! `may_add_members`, `may_remove_member`, `members_to_add`,
//! `check_addable`); a backend runs them inside the transaction that
//! writes the change (SQLite: on its single writer; PostgreSQL: under the
//! conversation's row lock), which is what makes "a group never exceeds
//! [`MAX_GROUP_MEMBERS`]" and "one direct conversation per pair" hold under
//! concurrency. Backends hold only the SQL.
//!
//! [`Conversation`], [`Member`] and [`MemberRole`] are `banter_protocol`'s
//! model types, used here as the domain types: a conversation as one
//! member sees it is exactly what the API returns, so a second copy would
//! only add a conversion.

use std::collections::HashSet;

use async_trait::async_trait;
use banter_protocol::limits::MAX_GROUP_MEMBERS;
use banter_protocol::{Conversation, ConversationId, ConversationKind, Member, MemberRole, Seq, TimestampMs, UserId};

use crate::{StoreError, StoreResult};

/// The result of [`ConversationStore::add_members`] and
/// [`ConversationStore::remove_member`]: who is a member now, so the server
/// can notify everyone concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipChange {
    pub conversation_id: ConversationId,
    /// Members after the change.
    pub member_ids: Vec<UserId>,
    /// Users added (for add) or removed (for remove) by this change.
    pub changed_user_ids: Vec<UserId>,
}

/// Durable storage of conversations and membership.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// The direct conversation between two distinct users, created if absent.
    /// Returns its id and whether it was created now.
    /// Errors: [`StoreError::UserNotFound`], [`StoreError::InvalidConversation`] when `a == b`.
    async fn get_or_create_direct(&self, a: UserId, b: UserId, now: TimestampMs) -> StoreResult<(ConversationId, bool)>;

    /// Creates a group; `creator` becomes its admin, `members` (deduplicated,
    /// creator ignored if listed) plain members.
    /// Errors: [`StoreError::GroupFull`], [`StoreError::UserNotFound`].
    async fn create_group(
        &self,
        creator: UserId,
        name: &str,
        members: &[UserId],
        now: TimestampMs,
    ) -> StoreResult<ConversationId>;

    /// Adds users to a group; `actor` must be an admin. All or nothing.
    /// Errors: NotAMember, NotAdmin, GroupFull, UserNotFound, AlreadyMember,
    /// InvalidConversation (direct).
    async fn add_members(
        &self,
        conversation_id: ConversationId,
        actor: UserId,
        user_ids: &[UserId],
        now: TimestampMs,
    ) -> StoreResult<MembershipChange>;

    /// Removes `target` from a group. `actor` must be an admin, or `target`
    /// itself (leaving). If the last admin leaves, the longest-standing member
    /// becomes admin. Errors: NotAMember (actor or target), NotAdmin,
    /// InvalidConversation (direct).
    async fn remove_member(
        &self,
        conversation_id: ConversationId,
        actor: UserId,
        target: UserId,
    ) -> StoreResult<MembershipChange>;

    /// The user's role in the conversation, or `None` if not a member.
    async fn membership(&self, conversation_id: ConversationId, user_id: UserId) -> StoreResult<Option<MemberRole>>;

    /// Ids of every member, ascending.
    async fn member_ids(&self, conversation_id: ConversationId) -> StoreResult<Vec<UserId>>;

    /// Members with profiles, oldest member first. Errors: NotAMember if
    /// `viewer` is not a member.
    async fn members(&self, conversation_id: ConversationId, viewer: UserId) -> StoreResult<Vec<Member>>;

    /// One conversation as `viewer` sees it (read marker, unread count, peer,
    /// last message). Errors: NotAMember.
    async fn conversation(&self, conversation_id: ConversationId, viewer: UserId) -> StoreResult<Conversation>;

    /// Every conversation `viewer` is a member of, most recent activity first.
    async fn list_conversations(&self, viewer: UserId) -> StoreResult<Vec<Conversation>>;
}

/// The key that names the direct conversation of `a` and `b`, the same for
/// `(a, b)` and `(b, a)`: a UNIQUE column on it keeps one conversation per
/// pair. A conversation with oneself is refused.
pub(crate) fn direct_key(a: UserId, b: UserId) -> StoreResult<String> {
    if a == b {
        return Err(StoreError::InvalidConversation("cannot start a direct conversation with yourself"));
    }
    Ok(format!("{}:{}", a.min(b), a.max(b)))
}

/// The plain members of a new group — `members` without repeats (first-seen
/// order) and without the creator — and the group's size with its creator.
/// Checked before touching the database, so an oversized request costs
/// nothing. Errors: [`StoreError::GroupFull`].
pub(crate) fn new_group_members(creator: UserId, members: &[UserId]) -> StoreResult<(Vec<UserId>, usize)> {
    let others = dedup(members.iter().copied().filter(|&id| id != creator));
    let would_have = others.len() + 1;
    check_group_size(would_have)?;
    Ok((others, would_have))
}

/// Whether `actor` (of `actor_role`) may add members to a conversation of
/// `kind`. Kind before role: in a direct conversation nobody is admin, and
/// "direct conversations have exactly two members" is the useful answer.
pub(crate) fn may_add_members(kind: ConversationKind, actor_role: MemberRole) -> StoreResult<()> {
    require_group(kind)?;
    require_admin(actor_role)
}

/// Whether `actor` may remove `target`: an admin may remove anyone, anyone
/// may leave. Same order of checks as [`may_add_members`].
pub(crate) fn may_remove_member(
    kind: ConversationKind,
    actor: UserId,
    actor_role: MemberRole,
    target: UserId,
) -> StoreResult<()> {
    require_group(kind)?;
    if actor == target {
        Ok(())
    } else {
        require_admin(actor_role)
    }
}

/// The users an add names, without repeats (first-seen order), and the
/// group's size after adding them to its `member_count` current members.
/// Errors: [`StoreError::GroupFull`].
pub(crate) fn members_to_add(member_count: i64, user_ids: &[UserId]) -> StoreResult<(Vec<UserId>, usize)> {
    let new = dedup(user_ids.iter().copied());
    let would_have = usize::try_from(member_count.max(0)).unwrap_or(usize::MAX).saturating_add(new.len());
    check_group_size(would_have)?;
    Ok((new, would_have))
}

/// Checks each user to add, in order: it must exist
/// ([`StoreError::UserNotFound`]) and not be a member yet
/// ([`StoreError::AlreadyMember`]). `status` answers `(exists, is_member)`
/// for one user, from the backend's own reads.
pub(crate) fn check_addable(
    new: &[UserId],
    mut status: impl FnMut(UserId) -> StoreResult<(bool, bool)>,
) -> StoreResult<()> {
    for &user_id in new {
        let (exists, is_member) = status(user_id)?;
        if !exists {
            return Err(StoreError::UserNotFound);
        }
        if is_member {
            return Err(StoreError::AlreadyMember(user_id));
        }
    }
    Ok(())
}

/// A group's size once one of its `member_count` members has gone.
pub(crate) fn members_after_removal(member_count: i64) -> usize {
    usize::try_from(member_count.max(1) - 1).unwrap_or(0)
}

/// How many messages `viewer` has not read: everything after its read
/// marker (its own sends move the marker, so only others' count) except
/// the `changes` (edits and deletes) among them, which are not shown.
pub(crate) fn unread_count(last_seq: Seq, read_seq: Seq, changes: i64) -> i64 {
    (last_seq - read_seq - changes).max(0)
}

fn check_group_size(would_have: usize) -> StoreResult<()> {
    if would_have > MAX_GROUP_MEMBERS {
        return Err(StoreError::GroupFull { would_have, limit: MAX_GROUP_MEMBERS });
    }
    Ok(())
}

fn require_group(kind: ConversationKind) -> StoreResult<()> {
    match kind {
        ConversationKind::Direct => Err(StoreError::InvalidConversation("direct conversations have exactly two members")),
        ConversationKind::Group => Ok(()),
    }
}

fn require_admin(role: MemberRole) -> StoreResult<()> {
    if role == MemberRole::Admin {
        Ok(())
    } else {
        Err(StoreError::NotAdmin)
    }
}

/// Removes repeats, keeping first-seen order so results are predictable.
fn dedup(ids: impl Iterator<Item = UserId>) -> Vec<UserId> {
    let mut seen = HashSet::new();
    ids.filter(|id| seen.insert(*id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_group_counts_its_creator_once_and_members_once() {
        let (others, size) = new_group_members(1, &[2, 1, 3, 2]).unwrap();
        assert_eq!(others, vec![2, 3]);
        assert_eq!(size, 3);
    }

    #[test]
    fn a_group_past_the_limit_is_refused_with_its_would_be_size() {
        let too_many: Vec<UserId> = (2..=MAX_GROUP_MEMBERS as i64 + 1).collect();
        assert!(matches!(
            new_group_members(1, &too_many),
            Err(StoreError::GroupFull { would_have, limit }) if would_have == MAX_GROUP_MEMBERS + 1 && limit == MAX_GROUP_MEMBERS
        ));
        assert!(matches!(members_to_add(MAX_GROUP_MEMBERS as i64, &[7, 7]), Err(StoreError::GroupFull { would_have, .. }) if would_have == MAX_GROUP_MEMBERS + 1));
        assert_eq!(members_to_add(MAX_GROUP_MEMBERS as i64 - 1, &[7, 7]).unwrap(), (vec![7], MAX_GROUP_MEMBERS));
    }

    #[test]
    fn direct_conversations_refuse_membership_changes_before_roles_are_asked() {
        assert!(matches!(may_add_members(ConversationKind::Direct, MemberRole::Member), Err(StoreError::InvalidConversation(_))));
        assert!(matches!(may_add_members(ConversationKind::Group, MemberRole::Member), Err(StoreError::NotAdmin)));
        assert!(may_remove_member(ConversationKind::Group, 5, MemberRole::Member, 5).is_ok(), "anyone may leave");
        assert!(matches!(may_remove_member(ConversationKind::Group, 5, MemberRole::Member, 6), Err(StoreError::NotAdmin)));
    }

    #[test]
    fn the_direct_key_names_the_pair_in_either_order() {
        assert_eq!(direct_key(9, 4).unwrap(), direct_key(4, 9).unwrap());
        assert!(matches!(direct_key(4, 4), Err(StoreError::InvalidConversation(_))));
    }
}
