//! Per-account budgets on every signed-in HTTP endpoint, applied once, as a
//! middleware over the routes, so no handler can forget it.
//!
//! Each signed-in route belongs to one [`EndpointClass`] ([`class_of`] is the
//! table; SECURITY.md repeats it with the defaults). The middleware
//! authenticates the request (one token lookup: the [`Authenticated`] it
//! finds is handed on to the handler's extractor), spends one unit of the
//! caller's budget for that class and answers `429 rate_limited` with
//! `Retry-After` when it is spent. Budgets are per user, over all devices;
//! lookups (which tell whether an account exists) are also counted per
//! client address, since accounts are cheaper to make than addresses.
//!
//! Routes without a class (signup, login, health, ready, the WebSocket upgrade
//! and the fallback transport's event stream and POSTs,
//! the VAPID key, static files) pass untouched: they have limits of their
//! own or need no token.

use std::sync::Arc;

use axum::{
    extract::{MatchedPath, Request, State},
    http::Method,
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{
    auth::{bearer_token, Authenticated},
    client_address::ClientAddress,
    error::ApiError,
    rate_limits::EndpointClass,
    state::AppState,
};

/// The class of a signed-in route (`route` as matched, under `/api/v1`), or
/// `None` for routes outside the per-account budgets.
pub fn class_of(method: &Method, route: &str) -> Option<EndpointClass> {
    use EndpointClass::*;
    let route = route.strip_prefix("/api/v1").unwrap_or(route);
    Some(match (method.as_str(), route) {
        (
            "GET",
            "/me" | "/conversations" | "/conversations/{id}" | "/conversations/{id}/messages"
            | "/conversations/{id}/messages/{seq}/receipts" | "/presence" | "/search" | "/blocks",
        ) => Reads,
        // An export page costs what a history page does.
        ("GET", "/me/export") => Reads,
        ("GET", "/users/{username}") | ("POST", "/conversations/direct") => Lookups,
        ("POST", "/conversations/groups" | "/conversations/{id}/members")
        | ("DELETE", "/conversations/{id}/members/{user_id}") => Membership,
        // Who may reach whom, like membership.
        ("PUT" | "DELETE", "/blocks/{user_id}") => Membership,
        ("POST", "/conversations/{id}/read") | ("PUT", "/conversations/{id}/mute") => Updates,
        // Deleting the account checks the password (argon2): as tight as
        // profile changes, so a stolen token cannot guess at speed.
        ("PATCH" | "DELETE", "/me") => Profile,
        ("GET", "/devices") | ("DELETE", "/devices/{device_id}") | ("POST", "/auth/logout") => Sessions,
        ("POST" | "DELETE", "/push/subscriptions") | ("PUT" | "DELETE", "/push/native") => Push,
        _ => return None,
    })
}

/// Middleware (a route layer, so the matched route is known).
pub async fn limit(
    State(state): State<Arc<AppState>>,
    ClientAddress(client): ClientAddress,
    matched: Option<MatchedPath>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(class) = matched.and_then(|route| class_of(request.method(), route.as_str())) else {
        return next.run(request).await;
    };
    let Some(token) = bearer_token(request.headers()) else { return ApiError::unauthorized().into_response() };
    let auth = match Authenticated::from_token(&state, token).await {
        Ok(auth) => auth,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = state.account_http_limits.check(class, auth.user.id, client) {
        tracing::debug!(user = auth.user.id, class = class.name(), "account HTTP budget spent");
        return e.into_response();
    }
    request.extensions_mut().insert(auth);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    use super::*;

    /// Every route the OpenAPI document marks as needing a token has a
    /// class: a new signed-in endpoint cannot slip past the budgets.
    #[test]
    fn every_signed_in_route_has_a_class() {
        let doc = super::super::ApiDoc::openapi();
        let mut checked = 0;
        for (path, item) in &doc.paths.paths {
            let operations = [
                (Method::GET, &item.get),
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::PATCH, &item.patch),
                (Method::DELETE, &item.delete),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                // The WebSocket handshake and the fallback's stream and
                // POSTs take a token but spend no HTTP budget: their frames
                // have budgets of their own.
                let transport = path == "/api/v1/ws" || path.starts_with("/api/v1/events");
                let signed_in = operation.security.as_ref().is_some_and(|s| !s.is_empty()) && !transport;
                assert_eq!(class_of(&method, path).is_some(), signed_in, "{method} {path}");
                checked += usize::from(signed_in);
            }
        }
        assert!(checked >= 19, "only {checked} signed-in routes found");
    }
}
