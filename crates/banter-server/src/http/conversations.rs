//! Conversations: direct and group creation, membership, listing, history
//! and read markers. Membership is checked by the store on every read and
//! write; a non-member gets `not_a_member` whether or not the conversation
//! exists.

use std::sync::Arc;

use axum::{extract::State, http::StatusCode};
use banter_protocol::{
    frames::ConversationChange,
    http::{
        AddMembersRequest, ConversationList, ConversationListQuery, CreateDirectRequest, CreateGroupRequest, HistoryPage, HistoryQuery,
        MarkReadRequest, MessageReceipts, MuteRequest, MuteState, ReadMarkerResponse,
    },
    limits::{self, GROUP_NAME_MAX_CHARS, MAX_GROUP_MEMBERS},
    ConversationDetail, ConversationId, ErrorBody, ErrorCode, Seq, UserId,
};
use banter_store::search::text::name_contains;
use banter_store::{HistoryRange, MembershipChange};

use super::extract::{Json, Path, Query};
use crate::{
    auth::Authenticated,
    error::{ApiError, ApiResult},
    messaging::{self, notify_conversation_change, page_size},
    state::{now_ms, AppState},
};

type AppStateRef = State<Arc<AppState>>;

/// Gets or creates the 1:1 conversation with a user (exactly one per pair).
#[utoipa::path(post, path = "/api/v1/conversations/direct", tag = "conversations", security(("bearer" = [])),
    request_body = CreateDirectRequest,
    responses((status = 201, description = "created", body = ConversationDetail), (status = 200, description = "already existed", body = ConversationDetail),
              (status = 400, description = "invalid_request, invalid_conversation (yourself)", body = ErrorBody),
              (status = 403, description = "blocked: a block stands between the two users, either way", body = ErrorBody),
              (status = 404, description = "user_not_found", body = ErrorBody)))]
pub async fn create_direct(State(state): AppStateRef, auth: Authenticated, Json(req): Json<CreateDirectRequest>) -> ApiResult<(StatusCode, Json<ConversationDetail>)> {
    let peer_id = match (req.user_id, req.username) {
        (Some(id), None) => id,
        (None, Some(name)) => {
            let user = state.store.user_by_username(&name.trim().to_lowercase()).await?;
            user.ok_or_else(|| ApiError::new(ErrorCode::UserNotFound, "no user with that username"))?.id
        }
        _ => return Err(ApiError::invalid_request("give exactly one of user_id and username")),
    };
    let (id, created) = state.store.get_or_create_direct(auth.user.id, peer_id, now_ms()).await?;
    if created {
        notify_conversation_change(&state, &[auth.user.id, peer_id], id, ConversationChange::Joined);
    }
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(detail(&state, id, auth.user.id).await?)))
}

/// Creates a group; the caller becomes its admin.
#[utoipa::path(post, path = "/api/v1/conversations/groups", tag = "conversations", security(("bearer" = [])),
    request_body = CreateGroupRequest,
    responses((status = 201, body = ConversationDetail), (status = 400, description = "invalid_name", body = ErrorBody),
              (status = 403, description = "blocked: a member named has blocked the caller", body = ErrorBody),
              (status = 404, description = "user_not_found", body = ErrorBody),
              (status = 409, description = "group_full: more than 100 members", body = ErrorBody)))]
pub async fn create_group(State(state): AppStateRef, auth: Authenticated, Json(req): Json<CreateGroupRequest>) -> ApiResult<(StatusCode, Json<ConversationDetail>)> {
    let name = req.name.trim();
    limits::validate_name("group name", name, GROUP_NAME_MAX_CHARS)?;
    // Cheap early refusal of absurd lists; the store enforces the exact limit.
    if req.member_ids.len() > MAX_GROUP_MEMBERS * 2 {
        return Err(ApiError::new(ErrorCode::GroupFull, format!("a group has at most {MAX_GROUP_MEMBERS} members")));
    }
    let id = state.store.create_group(auth.user.id, name, &req.member_ids, now_ms()).await?;
    let detail = detail(&state, id, auth.user.id).await?;
    let member_ids: Vec<UserId> = detail.members.iter().map(|m| m.user.id).collect();
    notify_conversation_change(&state, &member_ids, id, ConversationChange::Joined);
    Ok((StatusCode::CREATED, Json(detail)))
}

/// The caller's conversations, most recent activity first, with last message
/// and unread count; with `q`, only those whose name contains it.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", security(("bearer" = [])),
    params(ConversationListQuery),
    responses((status = 200, body = ConversationList), (status = 400, description = "query_too_long", body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn list(State(state): AppStateRef, auth: Authenticated, Query(query): Query<ConversationListQuery>) -> ApiResult<Json<ConversationList>> {
    if let Some(wanted) = query.q.as_deref() {
        limits::validate_search_length(wanted)?;
    }
    let mut conversations = state.store.list_conversations(auth.user.id).await?;
    if let Some(wanted) = query.q.as_deref() {
        conversations.retain(|c| {
            let names = [c.name.as_deref(), c.peer.as_ref().map(|p| p.display_name.as_str()), c.peer.as_ref().map(|p| p.username.as_str())];
            names.into_iter().flatten().any(|name| name_contains(name, wanted))
        });
    }
    Ok(Json(ConversationList { conversations }))
}

/// One conversation with its members.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = ConversationDetail), (status = 403, description = "not_a_member", body = ErrorBody)))]
pub async fn get(State(state): AppStateRef, auth: Authenticated, Path(id): Path<ConversationId>) -> ApiResult<Json<ConversationDetail>> {
    Ok(Json(detail(&state, id, auth.user.id).await?))
}

/// Adds members to a group (admins only; at most 100 members in all).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/members", tag = "conversations", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = AddMembersRequest,
    responses((status = 200, body = ConversationDetail),
              (status = 400, description = "invalid_request (empty user_ids), invalid_conversation (a direct conversation), invalid_json", body = ErrorBody),
              (status = 403, description = "not_a_member, forbidden (not an admin), blocked (a user named has blocked the caller)", body = ErrorBody),
              (status = 404, description = "user_not_found", body = ErrorBody),
              (status = 409, description = "group_full, already_member", body = ErrorBody)))]
pub async fn add_members(State(state): AppStateRef, auth: Authenticated, Path(id): Path<ConversationId>, Json(req): Json<AddMembersRequest>) -> ApiResult<Json<ConversationDetail>> {
    if req.user_ids.is_empty() {
        return Err(ApiError::invalid_request("user_ids is empty"));
    }
    if req.user_ids.len() > MAX_GROUP_MEMBERS {
        return Err(ApiError::new(ErrorCode::GroupFull, format!("a group has at most {MAX_GROUP_MEMBERS} members")));
    }
    let change = state.store.add_members(id, auth.user.id, &req.user_ids, now_ms()).await?;
    announce(&state, &change, ConversationChange::Joined);
    Ok(Json(detail(&state, id, auth.user.id).await?))
}

/// Removes a member (admins), or leaves (any member removing themself).
#[utoipa::path(delete, path = "/api/v1/conversations/{id}/members/{user_id}", tag = "conversations", security(("bearer" = [])),
    params(("id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 204), (status = 400, description = "invalid_conversation (a direct conversation), invalid_request", body = ErrorBody),
              (status = 403, description = "not_a_member, forbidden", body = ErrorBody)))]
pub async fn remove_member(State(state): AppStateRef, auth: Authenticated, Path((id, user_id)): Path<(ConversationId, UserId)>) -> ApiResult<StatusCode> {
    let change = state.store.remove_member(id, auth.user.id, user_id).await?;
    announce(&state, &change, ConversationChange::Left);
    Ok(StatusCode::NO_CONTENT)
}

/// A page of history in ascending seq order.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path), HistoryQuery),
    responses((status = 200, body = HistoryPage), (status = 400, description = "invalid_request", body = ErrorBody),
              (status = 403, description = "not_a_member", body = ErrorBody)))]
pub async fn history(State(state): AppStateRef, auth: Authenticated, Path(id): Path<ConversationId>, Query(query): Query<HistoryQuery>) -> ApiResult<Json<HistoryPage>> {
    let range = match (query.before, query.after) {
        (None, None) => HistoryRange::Latest,
        (Some(before), None) => HistoryRange::Before(before),
        (None, Some(after)) => HistoryRange::After(after),
        (Some(_), Some(_)) => return Err(ApiError::invalid_request("give at most one of before and after")),
    };
    // The store ends the page at its byte budget as it reads.
    let page = state.store.history(id, auth.user.id, range, page_size(query.limit)?).await?;
    Ok(Json(HistoryPage { messages: page.messages, has_more: page.has_more }))
}

/// Marks messages up to `seq` read for all of the caller's devices.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/read", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = MarkReadRequest,
    responses((status = 200, body = ReadMarkerResponse), (status = 403, description = "not_a_member", body = ErrorBody)))]
pub async fn mark_read(State(state): AppStateRef, auth: Authenticated, Path(id): Path<ConversationId>, Json(req): Json<MarkReadRequest>) -> ApiResult<Json<ReadMarkerResponse>> {
    let read_seq = messaging::mark_read(&state, auth.user.id, id, req.seq).await?;
    Ok(Json(ReadMarkerResponse { conversation_id: id, read_seq }))
}

/// Who has a message delivered and who has read it (the sender excluded).
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages/{seq}/receipts", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path), ("seq" = i64, Path)),
    responses((status = 200, body = MessageReceipts), (status = 403, description = "not_a_member", body = ErrorBody),
              (status = 404, description = "message_not_found", body = ErrorBody)))]
pub async fn receipts(State(state): AppStateRef, auth: Authenticated, Path((id, seq)): Path<(ConversationId, Seq)>) -> ApiResult<Json<MessageReceipts>> {
    let receipts = state.store.message_receipts(id, auth.user.id, seq).await?;
    Ok(Json(MessageReceipts {
        conversation_id: receipts.conversation_id,
        seq: receipts.seq,
        member_count: receipts.member_count as i64,
        delivered_count: receipts.delivered_to.len() as i64,
        read_count: receipts.read_by.len() as i64,
        delivered_to: receipts.delivered_to,
        read_by: receipts.read_by,
    }))
}

/// Mutes or unmutes push notifications of a conversation for the caller.
#[utoipa::path(put, path = "/api/v1/conversations/{id}/mute", tag = "conversations", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = MuteRequest,
    responses((status = 200, body = MuteState), (status = 403, description = "not_a_member", body = ErrorBody)))]
pub async fn mute(State(state): AppStateRef, auth: Authenticated, Path(id): Path<ConversationId>, Json(req): Json<MuteRequest>) -> ApiResult<Json<MuteState>> {
    state.store.set_muted(id, auth.user.id, req.muted).await?;
    Ok(Json(MuteState { conversation_id: id, muted: req.muted }))
}

async fn detail(state: &AppState, id: ConversationId, viewer: UserId) -> ApiResult<ConversationDetail> {
    let conversation = state.store.conversation(id, viewer).await?;
    let members = state.store.members(id, viewer).await?;
    Ok(ConversationDetail { conversation, members })
}

/// Tells the changed users what happened to them and the remaining members
/// that the member list changed.
fn announce(state: &AppState, change: &MembershipChange, for_changed: ConversationChange) {
    notify_conversation_change(state, &change.changed_user_ids, change.conversation_id, for_changed);
    let others: Vec<UserId> = change.member_ids.iter().copied().filter(|id| !change.changed_user_ids.contains(id)).collect();
    notify_conversation_change(state, &others, change.conversation_id, ConversationChange::MembersChanged);
}
