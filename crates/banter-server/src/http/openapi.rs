//! The OpenAPI document, generated from the handlers' annotations and the
//! protocol types, served at `GET /api/v1/openapi.json`. The WebSocket
//! frames are included as schemas (`ClientFrame`, `ServerFrame`).

use axum::{http::Method, response::IntoResponse};
use banter_protocol::{
    frames::{ClientFrame, ConnectionLimits, ConversationChange, ServerFrame, SyncCursor},
    http::PushPayload,
    ErrorBody, ErrorCode,
};
use utoipa::{
    openapi::{
        header::HeaderBuilder,
        content::ContentBuilder,
        path::{Parameter, ParameterIn},
        response::{Response, ResponseBuilder},
        Ref,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        schema::SchemaType,
        ObjectBuilder, RefOr, Schema, Type,
    },
    Modify, OpenApi,
};

use super::{account_limits::class_of, accounts, blocks, conversations, leaving, presence, push, search};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Banter API", description = "HTTP API of the Banter chat server. Real-time messaging runs over the WebSocket at /api/v1/ws; its frames are the ClientFrame and ServerFrame schemas. See docs/PROTOCOL.md."),
    paths(
        accounts::signup, accounts::login, accounts::logout, accounts::me, accounts::update_profile,
        accounts::user_by_username, accounts::list_devices, accounts::revoke_device,
        conversations::create_direct, conversations::create_group, conversations::list, conversations::get,
        conversations::add_members, conversations::remove_member, conversations::history, conversations::mark_read,
        conversations::receipts, conversations::mute, presence::query, search::search, push::vapid_public_key, push::subscribe,
        push::unsubscribe, push::register_native, push::unregister_native, super::health::health, super::health::ready, serve, crate::gateway::upgrade,
        crate::gateway::events::open, crate::gateway::events::post,
        blocks::list, blocks::block, blocks::unblock, leaving::delete_account, leaving::export,
    ),
    components(schemas(ClientFrame, ServerFrame, SyncCursor, ConnectionLimits, ConversationChange, ErrorBody, ErrorCode, PushPayload)),
    modifiers(&BearerAuth, &CommonAnswers),
    tags((name = "accounts"), (name = "conversations"), (name = "messages"), (name = "presence"), (name = "push"), (name = "meta"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        }
    }
}

/// The answers that do not depend on the handler, added to every operation
/// they apply to (unless it declares its own for that status):
///
/// * `401` where a token is required (`unauthorized`, `session_expired`);
/// * `429` + `Retry-After` where a per-account budget applies
///   ([`class_of`], SECURITY.md);
/// * `400` where a body, a path or a query parameter is parsed
///   (`invalid_json`, `invalid_request`), `413` where a body is read;
/// * `408` on every operation (the whole-request deadline);
/// * `503 storage_unavailable` on every operation that reads or writes the
///   store.
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                (Method::GET, &mut item.get),
                (Method::POST, &mut item.post),
                (Method::PUT, &mut item.put),
                (Method::PATCH, &mut item.patch),
                (Method::DELETE, &mut item.delete),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation.as_mut() else { continue };
                let signed_in = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let parameters = operation.parameters.as_deref().unwrap_or_default();
                let parsed = operation.request_body.is_some() || parameters.iter().any(can_be_malformed);
                let stateless = ["/api/v1/openapi.json", "/api/v1/push/vapid-public-key"].contains(&path.as_str());
                let mut answers: Vec<(&str, Response)> = Vec::new();
                if signed_in {
                    answers.push(("401", error_answer("unauthorized (missing, unknown or revoked token), session_expired")));
                }
                if class_of(&method, path).is_some() {
                    let retry_after = HeaderBuilder::new()
                        .schema(ObjectBuilder::new().schema_type(Type::Integer))
                        .description(Some("seconds until the budget allows the request again"))
                        .build();
                    let mut budget =
                        error_answer("rate_limited: the account's budget for this class of endpoint is spent (SECURITY.md)");
                    budget.headers.insert("Retry-After".to_owned(), retry_after);
                    answers.push(("429", budget));
                }
                if parsed {
                    answers.push(("400", error_answer("invalid_json (body), invalid_request (path or query parameter)")));
                }
                if operation.request_body.is_some() {
                    answers.push(("413", error_answer("payload_too_large: the body is over 64 KiB")));
                }
                answers.push(("408", error_answer("request_timeout: the request did not complete within http_request_timeout")));
                if !stateless {
                    answers.push(("503", error_answer("storage_unavailable, shutting_down")));
                }
                for (status, answer) in answers {
                    operation.responses.responses.entry(status.to_owned()).or_insert_with(|| answer.into());
                }
            }
        }
    }
}

/// A query parameter, or a path parameter that is not plain text (a
/// number that may not parse).
fn can_be_malformed(parameter: &Parameter) -> bool {
    let text = matches!(
        &parameter.schema,
        Some(RefOr::T(Schema::Object(object))) if object.schema_type == SchemaType::Type(Type::String)
    );
    match parameter.parameter_in {
        ParameterIn::Query => true,
        ParameterIn::Path => !text,
        _ => false,
    }
}

fn error_answer(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
        .build()
}

/// The document, as served.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "this OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn serve() -> impl IntoResponse {
    axum::Json(ApiDoc::openapi())
}
