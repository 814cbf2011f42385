//! Presence of many users at once (e.g. a group's member list).

use std::sync::Arc;

use axum::extract::State;
use banter_protocol::{
    http::{PresenceList, PresenceQuery},
    limits::MAX_PRESENCE_QUERY_USERS,
    ErrorBody, UserId,
};

use super::extract::{Json, Query};
use crate::{
    auth::Authenticated,
    error::{ApiError, ApiResult},
    presence,
    state::AppState,
};

/// Online state and last seen of up to 200 users. Users who share no
/// conversation with the caller are left out of the answer.
#[utoipa::path(get, path = "/api/v1/presence", tag = "presence", security(("bearer" = [])),
    params(PresenceQuery),
    responses((status = 200, body = PresenceList), (status = 400, description = "invalid_request", body = ErrorBody)))]
pub async fn query(State(state): State<Arc<AppState>>, auth: Authenticated, Query(query): Query<PresenceQuery>) -> ApiResult<Json<PresenceList>> {
    let ids = parse_ids(&query.user_ids)?;
    Ok(Json(PresenceList { presence: presence::query(&state, auth.user.id, &ids).await? }))
}

fn parse_ids(list: &str) -> ApiResult<Vec<UserId>> {
    let ids = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<UserId>().map_err(|_| ApiError::invalid_request(format!("user_ids: {s:?} is not a user id"))))
        .collect::<ApiResult<Vec<_>>>()?;
    if ids.len() > MAX_PRESENCE_QUERY_USERS {
        return Err(ApiError::invalid_request(format!("at most {MAX_PRESENCE_QUERY_USERS} user ids per query")));
    }
    Ok(ids)
}
