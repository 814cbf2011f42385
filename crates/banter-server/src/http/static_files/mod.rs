//! The web client: the files of `crates/banter-server/web/`, compiled into the
//! binary so that one file deploys server and client together.
//!
//! This is the router's fallback for every path outside `/api/v1`:
//!
//! - a known file is served with its Content-Type and an `ETag` (a matching
//!   `If-None-Match` gets `304`);
//! - the client's own routes (`/`, `/c/<id>`, see `app/router.js`) get
//!   `index.html` (single-page app);
//! - a missing file (`/nope.js`) gets `404`, so a typo in a module path fails
//!   loudly instead of returning HTML as JavaScript;
//! - `/api/...` and every other path (`/healthz`, `/metrics`,
//!   `/.well-known/…`) get the API's JSON `not_found`: a health probe or a
//!   scanner aimed at the wrong path must not see a 200 with the app.
//!
//! Caching (see `fingerprint.rs`): every file is also served under
//! `/assets/<version>/…`, a URL that names one content forever, with
//! `Cache-Control: public, max-age=31536000, immutable`; `index.html`
//! references only such URLs. The plain paths (`/`, `/sw.js`, client routes,
//! and the files at their own names) are `no-cache` + `ETag`: one conditional
//! request, never a stale app.
//!
//! Compression (see `encoding.rs`, `variants.rs`): text files are sent as
//! brotli or gzip when `Accept-Encoding` asks for it (q-values honoured),
//! compressed once per file and cached; every such answer says
//! `Vary: Accept-Encoding`, and each encoding has its own `ETag` and
//! `Content-Length`.
//!
//! HTML carries a strict Content-Security-Policy: scripts, styles and
//! connections from this origin only, no inline script at all, and Trusted
//! Types enforced (assigning a string to `innerHTML` and similar sinks throws;
//! the app's one policy, `banter`, only lets `/sw.js` through as a script
//! URL), so even a rendering bug cannot run text from a message.

mod encoding;
mod fingerprint;
mod variants;

use axum::{
    body::Body,
    http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use banter_protocol::ErrorCode;

use crate::error::ApiError;

#[derive(rust_embed::Embed)]
#[folder = "web/"]
struct WebFiles;

/// Applied to every HTML answer.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
     style-src 'self'; script-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
     require-trusted-types-for 'script'; trusted-types banter";

/// For `/assets/<version>/…`: the URL changes whenever the content does.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Fallback handler: serves the embedded web client.
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        return ApiError::new(ErrorCode::NotFound, "no such endpoint").into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response =
            ApiError::new(ErrorCode::MethodNotAllowed, "the web client's files take GET and HEAD only").into_response();
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let (name, immutable) = match fingerprint::asset_name(path) {
        Some(Ok(name)) if is_file(name) => (name.to_owned(), true),
        Some(_) => return (StatusCode::NOT_FOUND, "not found\n").into_response(),
        None => match lookup(path) {
            Lookup::File(name) => (name, false),
            Lookup::MissingFile => return (StatusCode::NOT_FOUND, "not found\n").into_response(),
            Lookup::Unknown => {
                return ApiError::new(
                    ErrorCode::NotFound,
                    "no such page; the API is under /api/v1/ (health: /api/v1/health, readiness: /api/v1/ready)",
                )
                .into_response()
            }
        },
    };
    let content_type = content_type(&name);
    let compressible = is_compressible(content_type);
    let Some(file) = variants::get(&name, compressible).await else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let accept_encoding = headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok());
    let encoding = encoding::negotiate(accept_encoding, &file.available());
    let etag = format!("\"{}{}\"", file.hash, encoding.etag_suffix());
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));

    let body = file.body(encoding);
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else if method == Method::HEAD {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(body.clone()))
    };
    let h = response.headers_mut();
    if !not_modified {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        if let Some(coding) = encoding.header_value() {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
    }
    if compressible {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(if immutable { IMMUTABLE } else { "no-cache" }));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, etag);
    }
    if content_type.starts_with("text/html") {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if name == "sw.js" {
        // The service worker controls the whole origin.
        h.insert("service-worker-allowed", HeaderValue::from_static("/"));
    }
    response
}

fn is_file(name: &str) -> bool {
    !name.split('/').any(|segment| segment == "..") && WebFiles::get(name).is_some()
}

/// Text compresses well; images are compressed already.
fn is_compressible(content_type: &str) -> bool {
    content_type.starts_with("text/") || content_type.starts_with("application/json") || content_type.starts_with("application/manifest+json") || content_type.starts_with("image/svg")
}

/// What a plain request path names.
enum Lookup {
    /// An embedded file (client routes resolve to `index.html`).
    File(String),
    /// Looks like a file (its last segment has a dot) but is not one.
    MissingFile,
    /// Neither a file nor one of the client's routes.
    Unknown,
}

fn lookup(path: &str) -> Lookup {
    if is_client_route(path) {
        return Lookup::File("index.html".to_owned());
    }
    let name = path.trim_start_matches('/');
    if name.split('/').any(|segment| segment == "..") {
        return Lookup::MissingFile;
    }
    if WebFiles::get(name).is_some() {
        return Lookup::File(name.to_owned());
    }
    if name.rsplit('/').next().unwrap_or_default().contains('.') {
        Lookup::MissingFile
    } else {
        Lookup::Unknown
    }
}

/// The web client's own routes (`app/router.js`): the list, `/`, and a
/// conversation, `/c/<id>`.
fn is_client_route(path: &str) -> bool {
    path == "/" || path.strip_prefix("/c/").is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("webmanifest") => "application/manifest+json",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(path: &str) -> Response {
        serve(Method::GET, path.parse().unwrap(), HeaderMap::new()).await
    }

    fn header<'a>(r: &'a Response, name: &str) -> &'a str {
        r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    #[tokio::test]
    async fn the_root_is_the_app_with_a_strict_csp() {
        let r = get("/").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&r, "cache-control"), "no-cache");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        assert!(header(&r, "content-security-policy").contains("script-src 'self'"));
    }

    #[tokio::test]
    async fn files_get_their_content_type() {
        for (path, ty) in [
            ("/sw.js", "text/javascript; charset=utf-8"),
            ("/app/main.js", "text/javascript; charset=utf-8"),
            ("/style.css", "text/css; charset=utf-8"),
            ("/manifest.webmanifest", "application/manifest+json"),
            ("/icons/icon-192.png", "image/png"),
        ] {
            let r = get(path).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(header(&r, "content-type"), ty, "{path}");
        }
    }

    #[tokio::test]
    async fn client_routes_fall_back_to_the_app_but_missing_files_are_404() {
        let r = get("/c/42").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(header(&r, "content-type").starts_with("text/html"));
        assert_eq!(get("/app/missing.js").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(get("/../Cargo.toml").await.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn paths_that_are_not_client_routes_are_a_json_404_not_the_app() {
        for path in ["/healthz", "/health", "/metrics", "/.well-known/change-password", "/login", "/c/", "/c/abc", "/c/1/x"] {
            let r = get(path).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
            assert!(header(&r, "content-type").starts_with("application/json"), "{path}");
        }
        assert_eq!(get("/.well-known/security.txt").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(get("/").await.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn unknown_api_paths_stay_json_404() {
        let r = get("/api/v2/anything").await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(header(&r, "content-type").starts_with("application/json"));
    }

    #[test]
    fn every_app_module_is_in_the_service_worker_shell() {
        // The service worker caches a fixed list for offline start; a module
        // missing from it would break the app offline.
        let sw = WebFiles::get("sw.js").expect("sw.js is embedded");
        let sw = std::str::from_utf8(&sw.data).expect("utf-8");
        for name in WebFiles::iter().filter(|n| n.starts_with("app/") && n.ends_with(".js")) {
            assert!(sw.contains(&format!("'/{name}'")), "sw.js SHELL lacks /{name}");
        }
    }

    #[tokio::test]
    async fn a_matching_etag_is_not_modified() {
        let etag = header(&get("/style.css").await, "etag").to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, etag.parse().unwrap());
        let r = serve(Method::GET, "/style.css".parse().unwrap(), headers).await;
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    }
}
