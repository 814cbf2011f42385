//! [`SearchStore`] on SQLite: one FTS5 query over `messages_fts`
//! (migration 0006), written in the transaction that writes each message:
//! by a trigger for an edit or delete, and for new messages once per
//! commit batch ([`index_pending`], migration 0009).
//!
//! The query reads matches newest first (FTS5 walks its doclists by rowid,
//! which is append order) and stops after one window; membership is a join
//! on `members`, so a removed member finds nothing. For a user in a few
//! conversations the match also names them (`conv : (c1 OR c2 …)`), so the
//! index skips other people's messages instead of the join discarding them
//! one by one: a word common in the whole server but rare in the user's
//! chats still costs little.

use async_trait::async_trait;
use banter_protocol::limits::SEARCH_WINDOW;
use banter_protocol::{ConversationId, Message};
use std::io::Read;

use rusqlite::{Connection, DatabaseName, OptionalExtension};

use super::rows::{message_columns, message_from_row, require_member, DbResult};
use super::SqliteStore;
use crate::search::{choose_page, Candidate, SearchPage, SearchRequest, SearchStore, SCORE_HEAD_BYTES};
use crate::StoreResult;

/// Up to this many conversations are named in the match itself; a user in
/// more is filtered by the join alone.
const NAMED_CONVERSATIONS_MAX: usize = 100;

/// `CROSS JOIN` fixes the loop order: the few noted rows, each looked up
/// in `messages` by rowid. With a plain join SQLite chose to scan every
/// message and look each up in `search_pending` (found by perf: the
/// writer's CPU grew with the database).
const INDEX_PENDING: &str = "INSERT INTO messages_fts (rowid, body, conv)
     SELECT m.id, banter_search_form(m.text), 'c' || m.conversation_id
     FROM search_pending p CROSS JOIN messages m ON m.id = p.id
     WHERE m.kind = 'text' AND m.deleted = 0";

/// Indexes the messages the batch wrote (noted in `search_pending` by the
/// insert trigger) in one statement and forgets them: the writer's closing
/// step, run before every COMMIT outside the jobs' savepoints, so FTS5
/// writes one index segment per batch instead of one per message. A
/// message deleted within the batch is not indexed; an edited one is
/// indexed as it stands.
pub(super) fn index_pending(conn: &Connection) -> rusqlite::Result<()> {
    conn.prepare_cached(INDEX_PENDING)?.execute([])?;
    conn.prepare_cached("DELETE FROM search_pending")?.execute([])?;
    Ok(())
}

#[async_trait]
impl SearchStore for SqliteStore {
    async fn search(&self, request: SearchRequest) -> StoreResult<SearchPage> {
        self.read(move |c| search(c, &request)).await
    }
}

fn search(conn: &Connection, request: &SearchRequest) -> StoreResult<SearchPage> {
    let conversations: Vec<ConversationId> = match request.conversation_id {
        Some(id) => {
            require_member(conn, id, request.user_id)?;
            vec![id]
        }
        None => {
            let mut stmt = conn.prepare_cached("SELECT conversation_id FROM members WHERE user_id = ?1").db()?;
            let rows = stmt.query_map([request.user_id], |row| row.get(0)).db()?;
            rows.collect::<rusqlite::Result<_>>().db()?
        }
    };
    if conversations.is_empty() {
        return Ok(SearchPage { messages: Vec::new(), has_more: false, truncated: false });
    }
    let mut matching = format!("body : ({})", request.query.fts5());
    if conversations.len() <= NAMED_CONVERSATIONS_MAX {
        let named: Vec<String> = conversations.iter().map(|id| format!("c{id}")).collect();
        matching.push_str(&format!(" AND conv : ({})", named.join(" OR ")));
    }
    // A short text comes whole; a longer one's head is read by blob I/O,
    // which reads only its first pages (`substr` would load all of it).
    // `octet_length` reads the length without the text.
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut long: Vec<(usize, i64)> = Vec::new();
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT m.id, m.conversation_id, m.seq, m.server_ts, octet_length(m.text),
                        CASE WHEN octet_length(m.text) <= ?5 THEN m.text END
                 FROM messages_fts
                 JOIN messages m ON m.id = messages_fts.rowid
                 JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.user_id = ?2
                 WHERE messages_fts MATCH ?1 AND (?3 IS NULL OR m.conversation_id = ?3)
                 ORDER BY messages_fts.rowid DESC LIMIT ?4",
            )
            .db()?;
        let window = SEARCH_WINDOW as i64 + 1;
        let mut rows = stmt
            .query((&matching, request.user_id, request.conversation_id, window, SCORE_HEAD_BYTES as i64))
            .db()?;
        while let Some(row) = rows.next().db()? {
            let head: Option<String> = row.get(5).db()?;
            if head.is_none() {
                long.push((candidates.len(), row.get(0).db()?));
            }
            let bytes: i64 = row.get(4).db()?;
            candidates.push(Candidate {
                conversation_id: row.get(1).db()?,
                seq: row.get(2).db()?,
                server_ts: row.get(3).db()?,
                head: head.unwrap_or_default(),
                bytes: usize::try_from(bytes).unwrap_or(0),
            });
        }
    }
    for (at, id) in long {
        candidates[at].head = text_head(conn, id)?;
    }
    let (page, has_more, truncated) = choose_page(candidates, request);
    let mut messages: Vec<Message> = Vec::with_capacity(page.len());
    let mut stmt = conn
        .prepare_cached(concat!("SELECT ", message_columns!(), " FROM messages WHERE conversation_id = ?1 AND seq = ?2"))
        .db()?;
    for (conversation_id, seq) in page {
        // A reader's job is one read transaction: the row is there, with
        // the text that matched.
        if let Some(message) = stmt.query_row((conversation_id, seq), message_from_row).optional().db()? {
            messages.push(message);
        }
    }
    Ok(SearchPage { messages, has_more, truncated })
}

/// The first [`SCORE_HEAD_BYTES`] of message `id`'s text, cut at a
/// character, read by blob I/O (only those pages of the row).
fn text_head(conn: &Connection, id: i64) -> StoreResult<String> {
    let mut blob = conn.blob_open(DatabaseName::Main, "messages", "text", id, true).db()?;
    let mut head = Vec::with_capacity(SCORE_HEAD_BYTES);
    (&mut blob).take(SCORE_HEAD_BYTES as u64).read_to_end(&mut head).map_err(|e| crate::StoreError::Unavailable(e.to_string()))?;
    Ok(match String::from_utf8(head) {
        Ok(text) => text,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let mut bytes = e.into_bytes();
            bytes.truncate(valid);
            String::from_utf8(bytes).unwrap_or_default()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::{SearchOrder, SearchQuery};

    fn sql(c: &Connection, sql: &str) -> StoreResult<()> {
        c.execute_batch(sql).db()
    }

    /// A message written, edited and deleted within one batch is indexed as
    /// it stands at COMMIT, and nothing is left pending for readers.
    #[tokio::test]
    async fn the_batch_indexes_its_messages_as_they_stand_at_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("banter.db")).unwrap();
        store
            .write(|c| {
                sql(
                    c,
                    "INSERT INTO users (id, username, password_hash, display_name, created_at) VALUES (1, 'a', 'h', 'A', 1);
                     INSERT INTO conversations (id, kind, name, created_at, last_seq, last_activity_at, member_count)
                         VALUES (1, 'group', 'g', 1, 3, 1, 1);
                     INSERT INTO members (conversation_id, user_id, role, joined_at) VALUES (1, 1, 'admin', 1);
                     INSERT INTO messages (id, conversation_id, seq, sender_id, sender_device_id, client_msg_id, text, server_ts)
                         VALUES (1, 1, 1, 1, 1, 'a', 'first draft', 1), (2, 1, 2, 1, 1, 'b', 'regretted words', 1),
                                (3, 1, 3, 1, 1, 'c', 'kept as sent', 1);
                     UPDATE messages SET text = 'second thought', edited_at = 2 WHERE id = 1;
                     UPDATE messages SET text = '', deleted = 1 WHERE id = 2;",
                )
            })
            .await
            .unwrap();
        let found = |q: &'static str| {
            let store = &store;
            async move {
                let request = SearchRequest {
                    user_id: 1,
                    query: SearchQuery::parse(q).unwrap(),
                    conversation_id: None,
                    order: SearchOrder::Recent,
                    offset: 0,
                    limit: 20,
                };
                let page = store.search(request).await.unwrap();
                page.messages.into_iter().map(|m| m.seq).collect::<Vec<_>>()
            }
        };
        assert_eq!(found("thought").await, [1]);
        assert_eq!(found("draft").await, Vec::<i64>::new());
        assert_eq!(found("regretted").await, Vec::<i64>::new());
        assert_eq!(found("sent").await, [3]);
        let pending: i64 = store.read(|c| c.query_row("SELECT count(*) FROM search_pending", [], |r| r.get(0)).db()).await.unwrap();
        assert_eq!(pending, 0);
        // A later edit of an indexed message goes through the update trigger.
        store.write(|c| sql(c, "UPDATE messages SET text = 'as edited later' WHERE id = 3")).await.unwrap();
        assert_eq!(found("sent").await, Vec::<i64>::new());
        assert_eq!(found("later").await, [3]);
    }

    /// The batch's index statement reads the noted rows, not every message.
    #[tokio::test]
    async fn indexing_a_batch_reads_the_noted_rows_not_every_message() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("banter.db")).unwrap();
        // On the writer: readers have no `banter_search_form`.
        let plan: Vec<String> = store
            .write(|c| {
                let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {INDEX_PENDING}")).db()?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(3)).db()?;
                rows.collect::<rusqlite::Result<_>>().db()
            })
            .await
            .unwrap();
        assert_eq!(plan.len(), 2, "{plan:?}");
        assert!(plan[0].starts_with("SCAN p"), "{plan:?}");
        assert!(plan[1].starts_with("SEARCH m USING INTEGER PRIMARY KEY"), "{plan:?}");
    }
}
