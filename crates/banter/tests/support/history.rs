//! A conversation's whole history through the API, oldest first, paged
//! forwards; for tests that compare everything stored with what was acked.
#![allow(dead_code)]

use banter_protocol::{http::HistoryQuery, ConversationId, Message};
use banter_sdk::ApiClient;

pub async fn full_history(api: &ApiClient, conversation_id: ConversationId) -> Vec<Message> {
    let mut messages: Vec<Message> = Vec::new();
    loop {
        let after = messages.last().map(|m| m.seq).unwrap_or(0);
        let query = HistoryQuery {
            after: Some(after),
            before: None,
            limit: Some(200),
        };
        let page = api.history(conversation_id, query).await.expect("history");
        messages.extend(page.messages);
        if !page.has_more {
            return messages;
        }
    }
}
