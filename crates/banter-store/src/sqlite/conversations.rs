//! [`ConversationStore`] on SQLite: conversations and their membership.
//!
//! The functions that change membership run on the writer thread, where
//! the rules of [`crate::conversations`] (admin? full? already a member?)
//! and the changes happen in one transaction with no other writer in
//! between: that is what makes "a group never exceeds the limit" and "one
//! direct conversation per pair" hold under concurrency.

use async_trait::async_trait;
use banter_protocol::{Conversation, ConversationId, ConversationKind, Member, MemberRole, Seq, TimestampMs, UserId};
use rusqlite::{Connection, OptionalExtension, Row};

use super::accounts::{require_user, user_exists};
use super::blocks::{blocked_either_way, require_not_blocked_by};
use super::rows::{member_ids, message_columns, message_from_row, require_member, role_of, user_at, DbResult};
use super::SqliteStore;
use crate::conversations::{
    check_addable, direct_key, may_add_members, may_remove_member, members_after_removal, members_to_add,
    new_group_members, unread_count,
};
use crate::rows::{parse_kind, parse_role};
use crate::{ConversationStore, MembershipChange, StoreError, StoreResult};

#[async_trait]
impl ConversationStore for SqliteStore {
    async fn get_or_create_direct(
        &self,
        a: UserId,
        b: UserId,
        now: TimestampMs,
    ) -> StoreResult<(ConversationId, bool)> {
        self.write(move |c| get_or_create_direct(c, a, b, now)).await
    }

    async fn create_group(
        &self,
        creator: UserId,
        name: &str,
        members: &[UserId],
        now: TimestampMs,
    ) -> StoreResult<ConversationId> {
        let (name, members) = (name.to_owned(), members.to_vec());
        self.write(move |c| create_group(c, creator, &name, &members, now)).await
    }

    async fn add_members(
        &self,
        conversation_id: ConversationId,
        actor: UserId,
        user_ids: &[UserId],
        now: TimestampMs,
    ) -> StoreResult<MembershipChange> {
        let user_ids = user_ids.to_vec();
        self.write(move |c| add_members(c, conversation_id, actor, &user_ids, now)).await
    }

    async fn remove_member(
        &self,
        conversation_id: ConversationId,
        actor: UserId,
        target: UserId,
    ) -> StoreResult<MembershipChange> {
        self.write(move |c| remove_member(c, conversation_id, actor, target)).await
    }

    async fn membership(&self, conversation_id: ConversationId, user_id: UserId) -> StoreResult<Option<MemberRole>> {
        self.read(move |c| role_of(c, conversation_id, user_id)).await
    }

    async fn member_ids(&self, conversation_id: ConversationId) -> StoreResult<Vec<UserId>> {
        self.read(move |c| member_ids(c, conversation_id)).await
    }

    async fn members(&self, conversation_id: ConversationId, viewer: UserId) -> StoreResult<Vec<Member>> {
        self.read(move |c| members(c, conversation_id, viewer)).await
    }

    async fn conversation(&self, conversation_id: ConversationId, viewer: UserId) -> StoreResult<Conversation> {
        self.read(move |c| conversation(c, conversation_id, viewer)).await
    }

    async fn list_conversations(&self, viewer: UserId) -> StoreResult<Vec<Conversation>> {
        self.read(move |c| list_conversations(c, viewer)).await
    }
}

fn get_or_create_direct(
    conn: &Connection,
    a: UserId,
    b: UserId,
    now: TimestampMs,
) -> StoreResult<(ConversationId, bool)> {
    let key = direct_key(a, b)?;
    require_user(conn, a)?;
    require_user(conn, b)?;
    if blocked_either_way(conn, a, b)? {
        return Err(StoreError::Blocked);
    }
    let existing: Option<ConversationId> = conn
        .prepare_cached("SELECT id FROM conversations WHERE direct_key = ?1")
        .db()?
        .query_row([&key], |row| row.get(0))
        .optional()
        .db()?;
    if let Some(id) = existing {
        return Ok((id, false));
    }
    let id: ConversationId = conn
        .prepare_cached(
            "INSERT INTO conversations (kind, name, direct_key, creator_id, created_at, last_activity_at, member_count)
             VALUES ('direct', NULL, ?1, ?2, ?3, ?3, 2) RETURNING id",
        )
        .db()?
        .query_row((&key, a, now), |row| row.get(0))
        .db()?;
    insert_member(conn, id, a, MemberRole::Member, now)?;
    insert_member(conn, id, b, MemberRole::Member, now)?;
    Ok((id, true))
}

fn create_group(
    conn: &Connection,
    creator: UserId,
    name: &str,
    members: &[UserId],
    now: TimestampMs,
) -> StoreResult<ConversationId> {
    let (others, would_have) = new_group_members(creator, members)?;
    require_user(conn, creator)?;
    for &user_id in &others {
        require_user(conn, user_id)?;
    }
    require_not_blocked_by(conn, creator, &others)?;
    let id: ConversationId = conn
        .prepare_cached(
            "INSERT INTO conversations (kind, name, direct_key, creator_id, created_at, last_activity_at, member_count)
             VALUES ('group', ?1, NULL, ?2, ?3, ?3, ?4) RETURNING id",
        )
        .db()?
        .query_row((name, creator, now, would_have as i64), |row| row.get(0))
        .db()?;
    insert_member(conn, id, creator, MemberRole::Admin, now)?;
    for &user_id in &others {
        insert_member(conn, id, user_id, MemberRole::Member, now)?;
    }
    Ok(id)
}

fn add_members(
    conn: &Connection,
    conversation_id: ConversationId,
    actor: UserId,
    user_ids: &[UserId],
    now: TimestampMs,
) -> StoreResult<MembershipChange> {
    let actor_role = require_member(conn, conversation_id, actor)?;
    let (kind, member_count) = kind_and_count(conn, conversation_id)?;
    may_add_members(kind, actor_role)?;
    let (new, would_have) = members_to_add(member_count, user_ids)?;
    check_addable(&new, |user_id| {
        Ok((user_exists(conn, user_id)?, role_of(conn, conversation_id, user_id)?.is_some()))
    })?;
    require_not_blocked_by(conn, actor, &new)?;
    for &user_id in &new {
        insert_member(conn, conversation_id, user_id, MemberRole::Member, now)?;
    }
    set_member_count(conn, conversation_id, would_have)?;
    Ok(MembershipChange { conversation_id, member_ids: member_ids(conn, conversation_id)?, changed_user_ids: new })
}

pub(super) fn remove_member(
    conn: &Connection,
    conversation_id: ConversationId,
    actor: UserId,
    target: UserId,
) -> StoreResult<MembershipChange> {
    let actor_role = require_member(conn, conversation_id, actor)?;
    let (kind, member_count) = kind_and_count(conn, conversation_id)?;
    may_remove_member(kind, actor, actor_role, target)?;
    let target_role = require_member(conn, conversation_id, target)?;
    conn.prepare_cached("DELETE FROM members WHERE conversation_id = ?1 AND user_id = ?2")
        .db()?
        .execute((conversation_id, target))
        .db()?;
    // The export still finds what the user wrote here (leaving.rs).
    conn.prepare_cached("INSERT OR IGNORE INTO former_members (user_id, conversation_id) VALUES (?1, ?2)")
        .db()?
        .execute((target, conversation_id))
        .db()?;
    set_member_count(conn, conversation_id, members_after_removal(member_count))?;
    if target_role == MemberRole::Admin {
        // A group with members but no admin could never change again.
        let admins_left = conn
            .prepare_cached("SELECT 1 FROM members WHERE conversation_id = ?1 AND role = 'admin'")
            .db()?
            .exists([conversation_id])
            .db()?;
        if !admins_left {
            conn.prepare_cached(
                "UPDATE members SET role = 'admin'
                 WHERE conversation_id = ?1 AND user_id = (
                     SELECT user_id FROM members WHERE conversation_id = ?1 ORDER BY joined_at, user_id LIMIT 1)",
            )
            .db()?
            .execute([conversation_id])
            .db()?;
        }
    }
    Ok(MembershipChange {
        conversation_id,
        member_ids: member_ids(conn, conversation_id)?,
        changed_user_ids: vec![target],
    })
}

/// Members with profiles, longest-standing first. Ties (members added
/// together) are broken by user id so the order is stable.
fn members(conn: &Connection, conversation_id: ConversationId, viewer: UserId) -> StoreResult<Vec<Member>> {
    require_member(conn, conversation_id, viewer)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT u.id, u.username, u.display_name, m.role, m.joined_at, m.delivered_seq, m.read_seq
             FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.conversation_id = ?1
             ORDER BY m.joined_at, m.user_id",
        )
        .db()?;
    let rows = stmt
        .query_map([conversation_id], |row| {
            Ok((user_at(row, 0)?, row.get::<_, String>(3)?, row.get(4)?, row.get(5)?, row.get(6)?))
        })
        .db()?;
    let mut members = Vec::new();
    for row in rows {
        let (user, role, joined_at, delivered_seq, read_seq) = row.db()?;
        members.push(Member { user, role: parse_role(&role)?, joined_at, delivered_seq, read_seq });
    }
    Ok(members)
}

/// The columns [`ViewRow::from_row`] reads: the conversation joined with the
/// viewer's own membership row.
macro_rules! view_select {
    () => {
        "SELECT c.id, c.kind, c.name, c.created_at, c.last_seq, m.read_seq, c.member_count, m.muted
         FROM members m JOIN conversations c ON c.id = m.conversation_id "
    };
}

/// A conversation row before its peer and last message are attached.
struct ViewRow {
    id: ConversationId,
    kind: String,
    name: Option<String>,
    created_at: TimestampMs,
    last_seq: Seq,
    read_seq: Seq,
    member_count: i64,
    muted: bool,
}

impl ViewRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<ViewRow> {
        Ok(ViewRow {
            id: row.get(0)?,
            kind: row.get(1)?,
            name: row.get(2)?,
            created_at: row.get(3)?,
            last_seq: row.get(4)?,
            read_seq: row.get(5)?,
            member_count: row.get(6)?,
            muted: row.get(7)?,
        })
    }
}

fn conversation(conn: &Connection, conversation_id: ConversationId, viewer: UserId) -> StoreResult<Conversation> {
    let row = conn
        .prepare_cached(concat!(view_select!(), "WHERE m.conversation_id = ?1 AND m.user_id = ?2"))
        .db()?
        .query_row((conversation_id, viewer), ViewRow::from_row)
        .optional()
        .db()?
        .ok_or(StoreError::NotAMember)?;
    complete_view(conn, row, viewer)
}

fn list_conversations(conn: &Connection, viewer: UserId) -> StoreResult<Vec<Conversation>> {
    let rows = {
        let mut stmt = conn
            .prepare_cached(concat!(view_select!(), "WHERE m.user_id = ?1 ORDER BY c.last_activity_at DESC, c.id DESC"))
            .db()?;
        let rows = stmt.query_map([viewer], ViewRow::from_row).db()?;
        rows.collect::<rusqlite::Result<Vec<_>>>().db()?
    };
    rows.into_iter().map(|row| complete_view(conn, row, viewer)).collect()
}

/// Attaches the peer (direct only) and the last message. Two indexed point
/// lookups per conversation; in-process SQLite makes that cheaper than a wide
/// join that would repeat the same work.
fn complete_view(conn: &Connection, row: ViewRow, viewer: UserId) -> StoreResult<Conversation> {
    let kind = parse_kind(&row.kind)?;
    let peer = match kind {
        ConversationKind::Direct => conn
            .prepare_cached(
                "SELECT u.id, u.username, u.display_name, m.delivered_seq, m.read_seq
                 FROM members m JOIN users u ON u.id = m.user_id
                 WHERE m.conversation_id = ?1 AND m.user_id <> ?2 LIMIT 1",
            )
            .db()?
            .query_row((row.id, viewer), |r| Ok((user_at(r, 0)?, r.get::<_, Seq>(3)?, r.get::<_, Seq>(4)?)))
            .optional()
            .db()?,
        ConversationKind::Group => None,
    };
    let (peer, peer_delivered_seq, peer_read_seq) = match peer {
        Some((user, delivered, read)) => (Some(user), Some(delivered), Some(read)),
        None => (None, None, None),
    };
    // The newest `text` entry: a change after it (it is rare) is skipped.
    let last_message = if row.last_seq > 0 {
        conn.prepare_cached(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = ?1 AND seq <= ?2 AND kind = 'text' ORDER BY seq DESC LIMIT 1"
        ))
        .db()?
        .query_row((row.id, row.last_seq), message_from_row)
        .optional()
        .db()?
    } else {
        None
    };
    // `kind <> 'text'` as the partial index `messages_changes` spells it.
    let unread_changes: i64 = if row.last_seq > row.read_seq {
        conn.prepare_cached(
            "SELECT count(*) FROM messages WHERE conversation_id = ?1 AND seq > ?2 AND kind <> 'text'",
        )
        .db()?
        .query_row((row.id, row.read_seq), |r| r.get(0))
        .db()?
    } else {
        0
    };
    Ok(Conversation {
        id: row.id,
        kind,
        name: row.name,
        created_at: row.created_at,
        last_seq: row.last_seq,
        read_seq: row.read_seq,
        unread_count: unread_count(row.last_seq, row.read_seq, unread_changes),
        member_count: row.member_count,
        peer,
        last_message,
        muted: row.muted,
        peer_delivered_seq,
        peer_read_seq,
    })
}

fn kind_and_count(conn: &Connection, conversation_id: ConversationId) -> StoreResult<(ConversationKind, i64)> {
    let (kind, count): (String, i64) = conn
        .prepare_cached("SELECT kind, member_count FROM conversations WHERE id = ?1")
        .db()?
        .query_row([conversation_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
        .db()?
        .ok_or(StoreError::ConversationNotFound)?;
    Ok((parse_kind(&kind)?, count))
}

fn insert_member(
    conn: &Connection,
    conversation_id: ConversationId,
    user_id: UserId,
    role: MemberRole,
    now: TimestampMs,
) -> StoreResult<()> {
    conn.prepare_cached("INSERT INTO members (conversation_id, user_id, role, joined_at) VALUES (?1, ?2, ?3, ?4)")
        .db()?
        .execute((conversation_id, user_id, role.as_str(), now))
        .db()?;
    Ok(())
}

fn set_member_count(conn: &Connection, conversation_id: ConversationId, count: usize) -> StoreResult<()> {
    conn.prepare_cached("UPDATE conversations SET member_count = ?2 WHERE id = ?1")
        .db()?
        .execute((conversation_id, count as i64))
        .db()?;
    Ok(())
}
