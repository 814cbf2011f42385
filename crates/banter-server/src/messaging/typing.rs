//! Typing indicators: ephemeral, never stored. The gateway throttles how
//! often a connection may send them; this rule checks membership and tells
//! the other members, except those with a block between them and the typer.

use banter_protocol::{limits, ConversationId, ServerFrame, UserId};

use crate::{
    error::{ApiError, ApiResult},
    frame::encode,
    state::AppState,
};

/// Tells the other members that `typer` is typing. Ephemeral: nothing is
/// stored. Errors: `not_a_member`.
pub async fn typing(state: &AppState, typer: UserId, conversation_id: ConversationId) -> ApiResult<()> {
    let mut member_ids = state.store.member_ids(conversation_id).await?;
    if !member_ids.contains(&typer) {
        return Err(ApiError::from(banter_store::StoreError::NotAMember));
    }
    member_ids.retain(|id| *id != typer);
    // Typing does not cross a block, either way: not in a group both are
    // in either (a block leaves shared groups as they are).
    let blocked = state.store.blocks_between(typer, &member_ids).await?;
    member_ids.retain(|id| !blocked.contains(id));
    let frame =
        encode(&ServerFrame::Typing { conversation_id, user_id: typer, expires_in_ms: limits::TYPING_EXPIRES_MS });
    state.router.publish(&member_ids, frame, None);
    Ok(())
}
