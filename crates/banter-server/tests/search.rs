//! Search through a real server: results with snippets, membership, paging
//! and the documented refusals; the conversation list filtered by name.

mod common;

use banter_protocol::http::{SearchOrder, SearchParams, SnippetPart};
use banter_protocol::limits::{MAX_SEARCH_QUERY_CHARS, MAX_SEARCH_TERMS};
use banter_protocol::{ErrorBody, ErrorCode};
use common::TestServer;

fn params(q: &str) -> SearchParams {
    SearchParams { q: q.into(), ..SearchParams::default() }
}

fn shown(snippet: &[SnippetPart]) -> String {
    snippet.iter().map(|p| if p.hit { format!("[{}]", p.text) } else { p.text.clone() }).collect()
}

#[tokio::test]
async fn a_search_finds_messages_of_my_conversations_with_the_match_highlighted() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut alice_conn = alice.connect().await.unwrap();
    alice_conn.send_message(chat.id, "Let's meet at the Café\ntomorrow").await.unwrap();
    alice_conn.send_message(chat.id, "東京で会いましょう").await.unwrap();
    alice_conn.send_message(chat.id, "unrelated").await.unwrap();

    let found = bob.api().search(&params("cafe")).await.unwrap();
    assert_eq!(found.results.len(), 1);
    let hit = &found.results[0];
    assert_eq!((hit.conversation_id, hit.seq, hit.sender_id), (chat.id, 1, alice.user.id));
    assert_eq!(shown(&hit.snippet), "Let's meet at the [Café] tomorrow");
    assert_eq!((found.next_offset, found.truncated), (None, false));

    let found = bob.api().search(&SearchParams { conversation_id: Some(chat.id), ..params("東京") }).await.unwrap();
    assert_eq!(found.results.iter().map(|r| shown(&r.snippet)).collect::<Vec<_>>(), ["[東京]で会いましょう"]);

    assert!(carol.api().search(&params("cafe")).await.unwrap().results.is_empty(), "not carol's conversation");
    let refused = carol.api().search(&SearchParams { conversation_id: Some(chat.id), ..params("cafe") }).await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::NotAMember));
}

#[tokio::test]
async fn search_results_come_in_pages_newest_first_when_asked() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut alice_conn = alice.connect().await.unwrap();
    for i in 1..=25 {
        alice_conn.send_message(chat.id, &format!("report number {i}")).await.unwrap();
    }
    let recent = SearchParams { order: Some(SearchOrder::Recent), limit: Some(10), ..params("report") };
    let first = bob.api().search(&recent).await.unwrap();
    assert_eq!(first.results.iter().map(|r| r.seq).collect::<Vec<_>>(), (16..=25).rev().collect::<Vec<_>>());
    assert_eq!(first.next_offset, Some(10));
    let mut seqs: Vec<i64> = first.results.iter().map(|r| r.seq).collect();
    let mut offset = first.next_offset;
    while let Some(at) = offset {
        let page = bob.api().search(&SearchParams { offset: Some(at), ..recent.clone() }).await.unwrap();
        seqs.extend(page.results.iter().map(|r| r.seq));
        offset = page.next_offset;
    }
    assert_eq!(seqs, (1..=25).rev().collect::<Vec<_>>(), "every match once, newest first");
}

#[tokio::test]
async fn bad_searches_get_documented_errors() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let ten_kb = "word ".repeat(2 * 1024);
    let cases = [
        (params(&ten_kb), ErrorCode::QueryTooLong),
        (params(&"x".repeat(MAX_SEARCH_QUERY_CHARS + 1)), ErrorCode::QueryTooLong),
        (params("?! … ---"), ErrorCode::InvalidQuery),
        (params(&(0..=MAX_SEARCH_TERMS).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ")), ErrorCode::InvalidQuery),
        (SearchParams { limit: Some(0), ..params("hi") }, ErrorCode::InvalidRequest),
        (SearchParams { limit: Some(21), ..params("hi") }, ErrorCode::InvalidRequest),
    ];
    for (request, code) in cases {
        let refused = alice.api().search(&request).await.unwrap_err();
        assert_eq!(refused.code(), Some(code), "q of {} characters, limit {:?}", request.q.chars().count(), request.limit);
    }
    // Without q at all.
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/search", server.url()))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<ErrorBody>().await.unwrap().code, ErrorCode::InvalidRequest);
}

#[tokio::test]
async fn the_conversation_list_filters_by_name_ignoring_case_and_accents() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    bob.api().update_profile("Zoë Martín").await.unwrap();
    let direct = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let group = alice.api().create_group("Le Café-Crew", &[bob.user.id]).await.unwrap().conversation;

    let api = alice.api();
    let named = |q: String| async move {
        api.conversations_named(&q).await.unwrap().into_iter().map(|c| c.id).collect::<Vec<_>>()
    };
    assert_eq!(named("cafe crew".into()).await, [group.id]);
    assert_eq!(named("ZOE".into()).await, [direct.id], "the peer's display name");
    assert_eq!(named(bob.user.username.to_uppercase()).await, [direct.id], "the peer's username");
    assert!(named("nobody".into()).await.is_empty());
    let refused = alice.api().conversations_named(&"x".repeat(MAX_SEARCH_QUERY_CHARS + 1)).await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::QueryTooLong));
}
