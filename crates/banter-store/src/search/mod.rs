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
//! messages the user may see, then orders those (by relevance, or newest
//! first) and returns a page of them. A word found in a million messages
//! therefore costs a thousand rows, not a million; the page says
//! `truncated` when older matches were left out. Each page re-runs the
//! query (no state is held between pages), so messages sent meanwhile can
//! shift the pages.
//!
//! **Relevance** is BM25 computed here, the same for both engines, over
//! the window: each term's rarity among the window's messages, how often
//! it occurs in a message, and the message's length, read from its first
//! [`SCORE_HEAD_BYTES`] (the engines' own ranks, FTS5's `bm25()` and
//! `ts_rank`, count every match in the server to weigh a term, 30 ms for a
//! common word over a million messages; this costs the window only).

mod query;
pub mod text;

use std::cmp::Ordering;
use std::collections::HashMap;

use async_trait::async_trait;
use banter_protocol::limits::SEARCH_WINDOW;
use banter_protocol::{ConversationId, Message, Seq, TimestampMs, UserId};

pub use query::SearchQuery;

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

/// Relevance is read from this much of a message's text (bytes, cut at a
/// character): enough for nearly every chat message, and a window of long
/// ones costs at most 1,001 × 2 KiB.
pub const SCORE_HEAD_BYTES: usize = 2_048;

/// A matching message before the page is chosen: where it is, when it was
/// sent, the first [`SCORE_HEAD_BYTES`] of its text and its whole length
/// in bytes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    pub conversation_id: ConversationId,
    pub seq: Seq,
    pub server_ts: TimestampMs,
    pub head: String,
    pub bytes: usize,
}

/// The page of `candidates` (at most one window of the newest matches, as
/// a backend read them) that `request` asks for: `(conversation, seq)` of
/// each result in order, whether more follow, and whether the window was
/// full. The rule every backend applies after its query.
pub(crate) fn choose_page(mut candidates: Vec<Candidate>, request: &SearchRequest) -> (Vec<(ConversationId, Seq)>, bool, bool) {
    let truncated = candidates.len() > SEARCH_WINDOW;
    let key = |c: &Candidate| (c.server_ts, c.conversation_id, c.seq);
    candidates.sort_by_key(|c| std::cmp::Reverse(key(c)));
    candidates.truncate(SEARCH_WINDOW);
    let mut ordered: Vec<(f64, &Candidate)> = match request.order {
        SearchOrder::Recent => candidates.iter().map(|c| (0.0, c)).collect(),
        SearchOrder::Relevance => bm25(&request.query, &candidates).into_iter().zip(candidates.iter()).collect(),
    };
    // Stable: equal scores stay newest first.
    ordered.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(Ordering::Equal));
    let start = (request.offset as usize).min(ordered.len());
    let end = start.saturating_add(request.limit as usize).min(ordered.len());
    let page = ordered[start..end].iter().map(|(_, c)| (c.conversation_id, c.seq)).collect();
    (page, end < ordered.len(), truncated)
}

/// Okapi BM25 (k1 = 1.2, b = 0.75) of each candidate, with the window as
/// the collection: a term in fewer of its messages weighs more, repeats
/// count with diminishing returns, long messages are discounted. A
/// message's length is its head's token count scaled to its whole bytes.
fn bm25(query: &SearchQuery, candidates: &[Candidate]) -> Vec<f64> {
    const K1: f64 = 1.2;
    const B: f64 = 0.75;
    let read: Vec<(Vec<u32>, f64)> = candidates
        .iter()
        .map(|c| {
            let (counts, tokens) = query.frequencies(&c.head);
            let scale = if c.head.is_empty() { 1.0 } else { c.bytes.max(c.head.len()) as f64 / c.head.len() as f64 };
            (counts, (tokens as f64 * scale).max(1.0))
        })
        .collect();
    let n = read.len() as f64;
    let average_length = read.iter().map(|(_, length)| length).sum::<f64>() / n.max(1.0);
    let mut holding: HashMap<usize, f64> = HashMap::new();
    for (counts, _) in &read {
        for (term, &count) in counts.iter().enumerate() {
            if count > 0 {
                *holding.entry(term).or_default() += 1.0;
            }
        }
    }
    let idf = |term: usize| {
        let df = holding.get(&term).copied().unwrap_or(0.0);
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    };
    read.iter()
        .map(|(counts, length)| {
            counts
                .iter()
                .enumerate()
                .map(|(term, &count)| {
                    let tf = f64::from(count);
                    idf(term) * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * length / average_length.max(1.0)))
                })
                .sum()
        })
        .collect()
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

    fn candidate(seq: Seq, server_ts: TimestampMs, text: &str) -> Candidate {
        Candidate { conversation_id: 1, seq, server_ts, head: text.into(), bytes: text.len() }
    }

    #[test]
    fn relevance_orders_by_bm25_then_newest_and_recent_by_time() {
        let all = vec![
            candidate(1, 10, "x and a long tail of other words that say nothing"),
            candidate(2, 20, "x x x"),
            candidate(3, 30, "x y"),
            candidate(4, 40, "x and a long tail of other words that say nothing"),
        ];
        let (page, more, truncated) = choose_page(all.clone(), &request(SearchOrder::Relevance, 0, 10));
        assert_eq!(page, [(1, 2), (1, 3), (1, 4), (1, 1)], "repeats first, then short, then the newer of equals");
        assert!(!more && !truncated);
        let (page, _, _) = choose_page(all, &request(SearchOrder::Recent, 0, 10));
        assert_eq!(page, [(1, 4), (1, 3), (1, 2), (1, 1)]);
    }

    #[test]
    fn a_rarer_term_weighs_more_and_a_long_text_counts_by_its_whole_length() {
        let mut request = request(SearchOrder::Relevance, 0, 10);
        request.query = SearchQuery::parse("common rare").unwrap();
        let all = vec![
            candidate(1, 10, "common common common rare"),
            candidate(2, 20, "common rare rare rare"),
            candidate(3, 30, "common filler"),
            candidate(4, 40, "common filler"),
        ];
        let (page, _, _) = choose_page(all, &request);
        assert_eq!(page[0], (1, 2), "three of the rare term beat three of the common one");
        let long = Candidate { bytes: 2_000_000, ..candidate(5, 50, "common rare") };
        let short = candidate(6, 10, "common rare");
        let (page, _, _) = choose_page(vec![long, short], &request);
        assert_eq!(page, [(1, 6), (1, 5)]);
    }

    #[test]
    fn pages_follow_each_other_and_the_window_keeps_the_newest() {
        let all: Vec<Candidate> = (1..=SEARCH_WINDOW as Seq + 1).map(|seq| candidate(seq, seq, "x")).collect();
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
