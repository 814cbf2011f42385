//! `GET /api/v1/search`: full-text search over the caller's conversations.
//! The store finds and ranks (see `banter_store::search`); this module
//! reads the request and cuts each result's text down to a snippet around
//! what matched, so an answer is a page of small snippets, not of 400 KB
//! texts.

use std::ops::Range;
use std::sync::Arc;

use axum::extract::State;
use banter_protocol::http::{SearchOrder, SearchParams, SearchResult, SearchResults, SnippetPart};
use banter_protocol::limits::MAX_SEARCH_PAGE_SIZE;
use banter_protocol::ErrorBody;
use banter_store::{SearchQuery, SearchRequest};

use super::extract::{Json, Query};
use crate::{
    auth::Authenticated,
    error::{ApiError, ApiResult},
    state::AppState,
};

/// A snippet holds about this many characters of the text.
const SNIPPET_CHARS: usize = 160;
/// … of which this many come before the first match.
const SNIPPET_LEAD_CHARS: usize = 50;

/// Messages of the caller's conversations that contain every word searched for.
#[utoipa::path(get, path = "/api/v1/search", tag = "messages", security(("bearer" = [])),
    params(SearchParams),
    responses((status = 200, body = SearchResults),
              (status = 400, description = "query_too_long (over 256 characters), invalid_query (nothing to search for, or over 16 words), invalid_request (limit)", body = ErrorBody),
              (status = 403, description = "not_a_member (of conversation_id)", body = ErrorBody)))]
pub async fn search(
    State(state): State<Arc<AppState>>,
    auth: Authenticated,
    Query(params): Query<SearchParams>,
) -> ApiResult<Json<SearchResults>> {
    let query = SearchQuery::parse(&params.q)?;
    let limit = match params.limit {
        None => MAX_SEARCH_PAGE_SIZE,
        Some(limit @ 1..=MAX_SEARCH_PAGE_SIZE) => limit,
        Some(_) => return Err(ApiError::invalid_request(format!("limit must be 1 to {MAX_SEARCH_PAGE_SIZE}"))),
    };
    let offset = params.offset.unwrap_or(0);
    let order = match params.order.unwrap_or_default() {
        SearchOrder::Relevance => banter_store::SearchOrder::Relevance,
        SearchOrder::Recent => banter_store::SearchOrder::Recent,
    };
    let request =
        SearchRequest { user_id: auth.user.id, query, conversation_id: params.conversation_id, order, offset, limit };
    let page = state.store.search(request.clone()).await?;
    let results: Vec<SearchResult> = page
        .messages
        .into_iter()
        .map(|m| SearchResult {
            conversation_id: m.conversation_id,
            seq: m.seq,
            sender_id: m.sender_id,
            server_ts: m.server_ts,
            edited_at: m.edited_at,
            // A snippet of SNIPPET_CHARS holds at most that many matches.
            snippet: snippet(&m.text, &request.query.highlights(&m.text, SNIPPET_CHARS)),
        })
        .collect();
    let next_offset = page.has_more.then(|| offset.saturating_add(limit));
    Ok(Json(SearchResults { results, next_offset, truncated: page.truncated }))
}

/// About [`SNIPPET_CHARS`] of `text` from a little before the first of
/// `highlights` (byte ranges, in order), in parts; "…" where text was cut,
/// line breaks and tabs as spaces.
fn snippet(text: &str, highlights: &[Range<usize>]) -> Vec<SnippetPart> {
    let first = highlights.first().map_or(0, |r| r.start);
    let start = text[..first].char_indices().rev().nth(SNIPPET_LEAD_CHARS - 1).map_or(0, |(at, _)| at);
    let end = text[start..].char_indices().nth(SNIPPET_CHARS).map_or(text.len(), |(at, _)| start + at);
    let mut parts: Vec<SnippetPart> = Vec::new();
    let mut push = |piece: &str, hit: bool| {
        if piece.is_empty() {
            return;
        }
        let piece: String = piece.chars().map(|c| if matches!(c, '\n' | '\r' | '\t') { ' ' } else { c }).collect();
        match parts.last_mut() {
            Some(last) if last.hit == hit => last.text.push_str(&piece),
            _ => parts.push(SnippetPart { text: piece, hit }),
        }
    };
    if start > 0 {
        push("…", false);
    }
    let mut at = start;
    for range in highlights {
        let (from, to) = (range.start.max(at), range.end.min(end));
        if from >= to {
            continue;
        }
        push(&text[at..from], false);
        push(&text[from..to], true);
        at = to;
    }
    push(&text[at..end], false);
    if end < text.len() {
        push("…", false);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(parts: &[SnippetPart]) -> String {
        parts.iter().map(|p| if p.hit { format!("[{}]", p.text) } else { p.text.clone() }).collect()
    }

    fn snip(text: &str, query: &str) -> String {
        shown(&snippet(text, &SearchQuery::parse(query).unwrap().highlights(text, SNIPPET_CHARS)))
    }

    #[test]
    fn a_short_text_is_whole_with_its_matches_marked() {
        assert_eq!(snip("Let's meet at the Café\ntomorrow", "cafe meet"), "Let's [meet] at the [Café] tomorrow");
        assert_eq!(snip("東京で会いましょう", "東京"), "[東京]で会いましょう");
    }

    #[test]
    fn a_long_text_is_cut_around_the_first_match() {
        let text = format!("{} needle {}", "a ".repeat(500), "b ".repeat(500));
        let shown = snip(&text, "needle");
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        assert!(shown.contains("[needle]"));
        assert!(shown.chars().count() <= SNIPPET_CHARS + 2 + 2, "{}", shown.chars().count());
    }

    #[test]
    fn no_match_shows_the_start() {
        assert_eq!(snip("hello there", "zzz"), "hello there");
    }
}
