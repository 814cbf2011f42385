//! Leaving for good: the rules of deleting an account (the store erases,
//! this module checks the password first and tells everyone concerned
//! after) and of the data export's pages.
//!
//! What is erased and what is kept is listed in
//! `banter_store::leaving` and SECURITY.md ("Deleting an account").

use banter_protocol::{
    frames::ConversationChange,
    http::{ExportCursor, ExportPage},
    limits::{self, EXPORT_PAGE_MESSAGES},
    ConversationId, ErrorCode, Seq, User,
};

use crate::{
    error::{ApiError, ApiResult},
    messaging::conversation_change::notify_conversation_change,
    state::{now_ms, AppState},
};

/// Deletes `user`'s account once `password` is confirmed: the store
/// erases it; then every device's sockets close (on every node, as a
/// revocation does) and the members of each group it left, and the peer
/// of each direct conversation it had, are told (`conversation_updated`,
/// `members_changed`).
/// Errors: `wrong_password`.
pub async fn delete_account(state: &AppState, user: &User, password: String) -> ApiResult<()> {
    let wrong = || ApiError::new(ErrorCode::WrongPassword, "the password is wrong; the account was not deleted");
    // Longer than any password: refused before hashing anything.
    if password.chars().count() > limits::PASSWORD_MAX_CHARS {
        return Err(wrong());
    }
    let Some((_, phc)) = state.store.user_credentials(&user.username).await? else {
        return Err(ApiError::unauthorized());
    };
    if !state.passwords.verify(password, phc).await? {
        return Err(wrong());
    }
    let deleted = state.store.delete_account(user.id, now_ms()).await?;
    for &device_id in &deleted.device_ids {
        state.router.revoke_device(user.id, device_id);
    }
    for change in &deleted.left_groups {
        notify_conversation_change(state, &change.member_ids, change.conversation_id, ConversationChange::MembersChanged);
    }
    // The peer of each direct conversation: its other member's profile is
    // gone and the conversation is closed.
    for &(conversation_id, peer) in &deleted.closed_directs {
        notify_conversation_change(state, &[peer], conversation_id, ConversationChange::MembersChanged);
    }
    tracing::info!(user = user.id, devices = deleted.device_ids.len(), groups = deleted.left_groups.len(), "account deleted");
    Ok(())
}

/// One page of `user`'s export: the messages after `after` (both parts or
/// neither), at most [`EXPORT_PAGE_MESSAGES`] and one page of text, from a
/// bounded walk of the user's conversations (`banter_store::leaving`), so
/// a page costs the server about what a history page does however many
/// messages the user sent, or did not send, in them. Errors: `invalid_request` (half a cursor).
pub async fn export_page(
    state: &AppState,
    user: User,
    after_conversation_id: Option<ConversationId>,
    after_seq: Option<Seq>,
) -> ApiResult<ExportPage> {
    let after = match (after_conversation_id, after_seq) {
        (Some(conversation_id), Some(seq)) => Some((conversation_id, seq)),
        (None, None) => None,
        _ => return Err(ApiError::invalid_request("give both after_conversation_id and after_seq, or neither")),
    };
    let page = state.store.sent_messages(user.id, after, EXPORT_PAGE_MESSAGES).await?;
    let next = page.next.map(|(conversation_id, seq)| ExportCursor { conversation_id, seq });
    Ok(ExportPage { user, messages: page.messages, next })
}
