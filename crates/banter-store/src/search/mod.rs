//! Full-text search over the messages of a user's conversations.
//!
//! **The index.** Each backend indexes the *search form* of every `text`
//! message ([`text::search_form`]: one analysis for every script, since
//! neither engine's tokenizer cuts Chinese, Japanese or Thai into words)
//! with its own full-text engine: SQLite FTS5 (`messages_fts`), PostgreSQL
//! a `tsvector` column under a GIN index. The index is written in the same
//! transaction as the message, and an edit or delete rewrites or removes
//! its entry in the transaction that changes the message, so a result
//! always names a message that exists with the text that matched, and a
//! deleted message is never found. Edit and delete entries are not indexed.
//!
//! **Who finds what.** Only messages of conversations the user is a member
//! of *now*: a removed member finds nothing more of that conversation.
//!
//! **Bounded work.** A search looks at the [`SEARCH_WINDOW`] newest matching
//! messages the user may see, then orders those (by the engine's relevance,
//! or newest first) and returns a page of them. A word found in a million
//! messages therefore costs a thousand rows, not a million; the page says
//! `truncated` when older matches were left out. Each page re-runs the
//! query (no state is held between pages), so messages sent meanwhile can
//! shift the pages.

mod query;
pub mod text;

use std::cmp::Ordering;

use async_trait::async_trait;
use banter_protocol::limits::SEARCH_WINDOW;
use banter_protocol::{ConversationId, Message, Seq, TimestampMs, UserId};

pub use query::{SearchQuery, MIN_PREFIX_CHARS};

use crate::StoreResult;

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchOrder {
    /// Best match first; newer first among equals.
    Relevance,
    /// Newest first.
    Recent,
}

/// One search.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub user_id: UserId,
    pub query: SearchQuery,
    /// Only this conversation (else all of the user's).
    pub conversation_id: Option<ConversationId>,
    pub order: SearchOrder,
    /// Results to skip.
    pub offset: u32,
    /// Page size (already clamped by the caller).
    pub limit: u32,
}

/// A page of matching messages, in the order asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPage {
    pub messages: Vec<Message>,
    /// More results follow this page (within the window).
    pub has_more: bool,
    /// More than [`SEARCH_WINDOW`] messages matched; only the newest were
    /// looked at.
    pub truncated: bool,
}

/// A matching message before the page is chosen: where it is, when it was
/// sent, and how well it matched (higher is better).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    pub conversation_id: ConversationId,
    pub seq: Seq,
    pub server_ts: TimestampMs,
    pub score: f64,
}

/// The page of `candidates` (at most one window of the newest matches, as
/// a backend read them) that `request` asks for: `(conversation, seq)` of
/// each result in order, whether more follow, and whether the window was
/// full. The rule every backend applies after its query.
pub(crate) fn choose_page(mut candidates: Vec<Candidate>, request: &SearchRequest) -> (Vec<(ConversationId, Seq)>, bool, bool) {
    let truncated = candidates.len() > SEARCH_WINDOW;
    let newest_first = |a: &Candidate, b: &Candidate| {
        (b.server_ts, b.conversation_id, b.seq).cmp(&(a.server_ts, a.conversation_id, a.seq))
    };
    candidates.sort_by(newest_first);
    candidates.truncate(SEARCH_WINDOW);
    if request.order == SearchOrder::Relevance {
        candidates.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(Ordering::Equal).then_with(|| newest_first(a, b)));
    }
    let start = (request.offset as usize).min(candidates.len());
    let end = start.saturating_add(request.limit as usize).min(candidates.len());
    let page = candidates[start..end].iter().map(|c| (c.conversation_id, c.seq)).collect();
    (page, end < candidates.len(), truncated)
}

/// Full-text search.
#[async_trait]
pub trait SearchStore: Send + Sync {
    /// A page of the messages matching `request.query` in the user's
    /// conversations (or the one asked for), each as stored now. Backends
    /// read at most `SEARCH_WINDOW + 1` matches, newest first.
    /// Errors: NotAMember (a conversation the user is not in).
    async fn search(&self, request: SearchRequest) -> StoreResult<SearchPage>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(order: SearchOrder, offset: u32, limit: u32) -> SearchRequest {
        SearchRequest {
            user_id: 1,
            query: SearchQuery::parse("x").unwrap(),
            conversation_id: None,
            order,
            offset,
            limit,
        }
    }

    fn candidate(seq: Seq, server_ts: TimestampMs, score: f64) -> Candidate {
        Candidate { conversation_id: 1, seq, server_ts, score }
    }

    #[test]
    fn relevance_orders_by_score_then_newest_and_recent_by_time() {
        let all = vec![candidate(1, 10, 0.5), candidate(2, 20, 0.9), candidate(3, 30, 0.5)];
        let (page, more, truncated) = choose_page(all.clone(), &request(SearchOrder::Relevance, 0, 10));
        assert_eq!(page, [(1, 2), (1, 3), (1, 1)]);
        assert!(!more && !truncated);
        let (page, _, _) = choose_page(all, &request(SearchOrder::Recent, 0, 10));
        assert_eq!(page, [(1, 3), (1, 2), (1, 1)]);
    }

    #[test]
    fn pages_follow_each_other_and_the_window_keeps_the_newest() {
        let all: Vec<Candidate> = (1..=SEARCH_WINDOW as Seq + 1).map(|seq| candidate(seq, seq, 1.0)).collect();
        let (first, more, truncated) = choose_page(all.clone(), &request(SearchOrder::Relevance, 0, 20));
        assert!(more && truncated);
        assert_eq!(first[0], (1, SEARCH_WINDOW as Seq + 1));
        let (second, _, _) = choose_page(all.clone(), &request(SearchOrder::Relevance, 20, 20));
        assert_eq!(second[0], (1, SEARCH_WINDOW as Seq + 1 - 20));
        let (last, more, _) = choose_page(all.clone(), &request(SearchOrder::Recent, SEARCH_WINDOW as u32 - 5, 20));
        assert_eq!(last.len(), 5);
        assert!(!more);
        assert_eq!(last.last(), Some(&(1, 2)), "the oldest match is outside the window");
        let (past, more, _) = choose_page(all, &request(SearchOrder::Recent, 5_000, 20));
        assert!(past.is_empty() && !more);
    }
}
