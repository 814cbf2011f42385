//! Queries on conversations and their membership.
//!
//! The functions that change membership run on the writer thread, where
//! their checks (admin? full? already a member?) and their changes happen in
//! one transaction with no other writer in between: that is what makes "a
//! group never exceeds the limit" and "one direct conversation per pair" hold
//! under concurrency.

use std::collections::HashSet;

use banter_protocol::limits::MAX_GROUP_MEMBERS;
use banter_protocol::{Conversation, ConversationId, ConversationKind, Member, MemberRole, Seq, TimestampMs, UserId};
use rusqlite::{Connection, OptionalExtension, Row};

use super::accounts::require_user;
use super::rows::{
    member_ids, message_columns, message_from_row, parse_kind, parse_role, require_member, role_of, user_at, DbResult,
};
use crate::{MembershipChange, StoreError, StoreResult};

pub(super) fn get_or_create_direct(
    conn: &Connection,
    a: UserId,
    b: UserId,
    now: TimestampMs,
) -> StoreResult<(ConversationId, bool)> {
    if a == b {
        return Err(StoreError::InvalidConversation("cannot start a direct conversation with yourself"));
    }
    require_user(conn, a)?;
    require_user(conn, b)?;
    // Order-independent, so (a, b) and (b, a) find the same row.
    let key = format!("{}:{}", a.min(b), a.max(b));
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

pub(super) fn create_group(
    conn: &Connection,
    creator: UserId,
    name: &str,
    members: &[UserId],
    now: TimestampMs,
) -> StoreResult<ConversationId> {
    let others = dedup(members.iter().copied().filter(|&id| id != creator));
    // Checked before touching the database so an oversized request costs
    // nothing.
    let would_have = others.len() + 1;
    if would_have > MAX_GROUP_MEMBERS {
        return Err(StoreError::GroupFull { would_have, limit: MAX_GROUP_MEMBERS });
    }
    require_user(conn, creator)?;
    for &user_id in &others {
        require_user(conn, user_id)?;
    }
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

pub(super) fn add_members(
    conn: &Connection,
    conversation_id: ConversationId,
    actor: UserId,
    user_ids: &[UserId],
    now: TimestampMs,
) -> StoreResult<MembershipChange> {
    let actor_role = require_member(conn, conversation_id, actor)?;
    let (kind, member_count) = kind_and_count(conn, conversation_id)?;
    // Kind before role: in a direct conversation nobody is admin, and
    // "direct conversations have exactly two members" is the useful answer.
    if kind == ConversationKind::Direct {
        return Err(StoreError::InvalidConversation("direct conversations have exactly two members"));
    }
    if actor_role != MemberRole::Admin {
        return Err(StoreError::NotAdmin);
    }
    let new = dedup(user_ids.iter().copied());
    let would_have = member_count.max(0) as usize + new.len();
    if would_have > MAX_GROUP_MEMBERS {
        return Err(StoreError::GroupFull { would_have, limit: MAX_GROUP_MEMBERS });
    }
    for &user_id in &new {
        require_user(conn, user_id)?;
        if role_of(conn, conversation_id, user_id)?.is_some() {
            return Err(StoreError::AlreadyMember(user_id));
        }
    }
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
    if kind == ConversationKind::Direct {
        return Err(StoreError::InvalidConversation("direct conversations have exactly two members"));
    }
    if actor != target && actor_role != MemberRole::Admin {
        return Err(StoreError::NotAdmin);
    }
    let target_role = require_member(conn, conversation_id, target)?;
    conn.prepare_cached("DELETE FROM members WHERE conversation_id = ?1 AND user_id = ?2")
        .db()?
        .execute((conversation_id, target))
        .db()?;
    let remaining = (member_count.max(1) - 1) as usize;
    set_member_count(conn, conversation_id, remaining)?;
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
pub(super) fn members(conn: &Connection, conversation_id: ConversationId, viewer: UserId) -> StoreResult<Vec<Member>> {
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

pub(super) fn conversation(
    conn: &Connection,
    conversation_id: ConversationId,
    viewer: UserId,
) -> StoreResult<Conversation> {
    let row = conn
        .prepare_cached(concat!(view_select!(), "WHERE m.conversation_id = ?1 AND m.user_id = ?2"))
        .db()?
        .query_row((conversation_id, viewer), ViewRow::from_row)
        .optional()
        .db()?
        .ok_or(StoreError::NotAMember)?;
    complete_view(conn, row, viewer)
}

pub(super) fn list_conversations(conn: &Connection, viewer: UserId) -> StoreResult<Vec<Conversation>> {
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
    let last_message = if row.last_seq > 0 {
        conn.prepare_cached(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = ?1 AND seq = ?2"
        ))
        .db()?
        .query_row((row.id, row.last_seq), message_from_row)
        .optional()
        .db()?
    } else {
        None
    };
    Ok(Conversation {
        id: row.id,
        kind,
        name: row.name,
        created_at: row.created_at,
        last_seq: row.last_seq,
        read_seq: row.read_seq,
        unread_count: (row.last_seq - row.read_seq).max(0),
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

/// Removes repeats, keeping first-seen order so results are predictable.
fn dedup(ids: impl Iterator<Item = UserId>) -> Vec<UserId> {
    let mut seen = HashSet::new();
    ids.filter(|id| seen.insert(*id)).collect()
}
