//! The web client: the files of `crates/banter-server/web/`, compiled into the
//! binary so that one file deploys server and client together.
//!
//! This is the router's fallback for every path outside `/api/v1`:
//!
//! - a known file is served with its Content-Type and an `ETag` (a matching
//!   `If-None-Match` gets `304`);
//! - any other path whose last segment has no dot (`/c/42`, `/login`) is a
//!   client-side route and gets `index.html` (single-page app);
//! - a missing file (`/nope.js`) gets `404`, so a typo in a module path fails
//!   loudly instead of returning HTML as JavaScript;
//! - `/api/...` keeps the API's JSON `not_found`.
//!
//! File names carry no content hash (there is no build step), so nothing may
//! be cached without revalidation: everything is `no-cache` + `ETag`, which
//! costs one conditional request per file and never serves a stale app.
//! HTML carries a strict Content-Security-Policy: scripts, styles and
//! connections from this origin only, no inline script at all, and Trusted
//! Types enforced (assigning a string to `innerHTML` and similar sinks throws;
//! the app's one policy, `banter`, only lets `/sw.js` through as a script
//! URL), so even a rendering bug cannot run text from a message.

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
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
     style-src 'self'; script-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
     require-trusted-types-for 'script'; trusted-types banter";

/// Fallback handler: serves the embedded web client.
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        return ApiError::new(ErrorCode::NotFound, "no such endpoint").into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let Some((name, file)) = lookup(path) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));

    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else if method == Method::HEAD {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(file.data))
    };
    let content_type = content_type(&name);
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
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

/// The embedded file for a request path, with its name; client-side routes
/// resolve to `index.html`.
fn lookup(path: &str) -> Option<(String, rust_embed::EmbeddedFile)> {
    let name = path.trim_start_matches('/');
    let name = if name.is_empty() || name.ends_with('/') { format!("{name}index.html") } else { name.to_owned() };
    if name.split('/').any(|segment| segment == "..") {
        return None;
    }
    if let Some(file) = WebFiles::get(&name) {
        return Some((name, file));
    }
    let last_segment = name.rsplit('/').next().unwrap_or_default();
    if last_segment.contains('.') {
        return None;
    }
    WebFiles::get("index.html").map(|file| ("index.html".to_owned(), file))
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
