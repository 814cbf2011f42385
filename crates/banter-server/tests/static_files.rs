//! The web client's files over real HTTP: compression negotiated from
//! `Accept-Encoding` (brotli, gzip, identity; q-values), per-encoding ETag
//! and Content-Length, `Vary`, and the caching split between fingerprinted
//! assets (immutable) and the entry points (`no-cache`).

mod common;

use std::io::Read;

use common::TestServer;
use reqwest::{header, Client, Response};

async fn get(server: &TestServer, path: &str, accept_encoding: Option<&str>) -> Response {
    let mut request = Client::new().get(format!("{}{path}", server.url()));
    if let Some(value) = accept_encoding {
        request = request.header(header::ACCEPT_ENCODING, value);
    }
    request.send().await.expect("request")
}

fn header_of<'a>(response: &'a Response, name: &str) -> &'a str {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The fingerprinted URL of `file`, as `index.html` references it.
async fn asset_url(server: &TestServer, file: &str) -> String {
    let html = get(server, "/", None).await.text().await.expect("index.html");
    let needle = format!("/{file}\"");
    let end = html.find(&needle).unwrap_or_else(|| panic!("index.html references {file}: {html}"));
    let start = html[..end].rfind('"').expect("attribute start") + 1;
    html[start..end + needle.len() - 1].to_owned()
}

#[tokio::test]
async fn text_files_are_sent_as_brotli_or_gzip_as_the_client_prefers() {
    let server = TestServer::start().await;
    let plain = get(&server, "/app/client.js", None).await;
    assert_eq!(header_of(&plain, "content-encoding"), "");
    assert_eq!(header_of(&plain, "vary"), "accept-encoding");
    let plain_etag = header_of(&plain, "etag").to_owned();
    let original = plain.bytes().await.expect("body").to_vec();

    let br = get(&server, "/app/client.js", Some("gzip, deflate, br")).await;
    assert_eq!(header_of(&br, "content-encoding"), "br");
    assert_eq!(header_of(&br, "vary"), "accept-encoding");
    let br_etag = header_of(&br, "etag").to_owned();
    let length: usize = header_of(&br, "content-length").parse().expect("content-length");
    let compressed = br.bytes().await.expect("body").to_vec();
    assert_eq!(compressed.len(), length);
    assert!(compressed.len() < original.len() / 2, "brotli {} of {}", compressed.len(), original.len());
    let mut decoded = Vec::new();
    brotli::Decompressor::new(&compressed[..], 4096).read_to_end(&mut decoded).expect("valid brotli");
    assert_eq!(decoded, original);

    let gz = get(&server, "/app/client.js", Some("br;q=0.5, gzip;q=0.9")).await;
    assert_eq!(header_of(&gz, "content-encoding"), "gzip");
    let gz_etag = header_of(&gz, "etag").to_owned();
    let compressed = gz.bytes().await.expect("body").to_vec();
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut decoded).expect("valid gzip");
    assert_eq!(decoded, original);

    // Each encoding is a different representation: its own validator.
    assert!(plain_etag != br_etag && br_etag != gz_etag && plain_etag != gz_etag, "{plain_etag} {br_etag} {gz_etag}");

    let refused = get(&server, "/app/client.js", Some("br;q=0, gzip;q=0")).await;
    assert_eq!(header_of(&refused, "content-encoding"), "");
    assert_eq!(refused.bytes().await.expect("body").to_vec(), original);
}

#[tokio::test]
async fn a_revalidation_matches_only_the_same_encoding() {
    let server = TestServer::start().await;
    let br = get(&server, "/style.css", Some("br")).await;
    let etag = header_of(&br, "etag").to_owned();
    let revalidate = |accept: &'static str, etag: String| {
        Client::new()
            .get(format!("{}/style.css", server.url()))
            .header(header::ACCEPT_ENCODING, accept)
            .header(header::IF_NONE_MATCH, etag)
            .send()
    };
    let same = revalidate("br", etag.clone()).await.expect("request");
    assert_eq!(same.status(), 304);
    assert_eq!(header_of(&same, "etag"), etag);
    assert_eq!(header_of(&same, "vary"), "accept-encoding");
    let other = revalidate("gzip", etag).await.expect("request");
    assert_eq!(other.status(), 200);
    assert_eq!(header_of(&other, "content-encoding"), "gzip");
}

#[tokio::test]
async fn head_answers_the_length_of_the_encoding_it_would_send() {
    let server = TestServer::start().await;
    let get_length: usize = header_of(&get(&server, "/app/store.js", Some("gzip")).await, "content-length").parse().expect("length");
    let head = Client::new()
        .head(format!("{}/app/store.js", server.url()))
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(head.status(), 200);
    assert_eq!(header_of(&head, "content-encoding"), "gzip");
    assert_eq!(header_of(&head, "content-length").parse::<usize>().expect("length"), get_length);
}

#[tokio::test]
async fn images_are_sent_as_they_are() {
    let server = TestServer::start().await;
    let png = get(&server, "/icons/icon-192.png", Some("br, gzip")).await;
    assert_eq!(png.status(), 200);
    assert_eq!(header_of(&png, "content-encoding"), "");
    assert_eq!(header_of(&png, "vary"), "");
    assert_eq!(&png.bytes().await.expect("body")[..4], b"\x89PNG");
}

#[tokio::test]
async fn fingerprinted_assets_are_immutable_and_the_entry_points_are_revalidated() {
    let server = TestServer::start().await;
    let main = asset_url(&server, "app/main.js").await;
    assert!(main.starts_with("/assets/"), "{main}");
    let asset = get(&server, &main, Some("br")).await;
    assert_eq!(asset.status(), 200);
    assert_eq!(header_of(&asset, "cache-control"), "public, max-age=31536000, immutable");
    assert_eq!(header_of(&asset, "content-type"), "text/javascript; charset=utf-8");

    // Relative imports resolve under the same prefix.
    let prefix = main.trim_end_matches("app/main.js");
    let sibling = get(&server, &format!("{prefix}app/views/shell.js"), None).await;
    assert_eq!(sibling.status(), 200);
    assert_eq!(header_of(&sibling, "cache-control"), "public, max-age=31536000, immutable");
    let css = asset_url(&server, "style.css").await;
    assert!(css.starts_with(prefix), "{css} under {prefix}");

    for entry in ["/", "/sw.js", "/c/42", "/app/main.js"] {
        let r = get(&server, entry, Some("br")).await;
        assert_eq!(r.status(), 200, "{entry}");
        assert_eq!(header_of(&r, "cache-control"), "no-cache", "{entry}");
    }
    // The service worker precaches the same URLs the page loads.
    let sw = get(&server, "/sw.js", None).await.text().await.expect("sw.js");
    assert!(sw.contains(&format!("'{}'", prefix.trim_end_matches('/'))), "sw.js names {prefix}");
}

#[tokio::test]
async fn asset_urls_of_another_version_or_file_are_404() {
    let server = TestServer::start().await;
    assert_eq!(get(&server, "/assets/000000000000000000000000/app/main.js", None).await.status(), 404);
    let main = asset_url(&server, "app/main.js").await;
    let prefix = main.trim_end_matches("app/main.js");
    assert_eq!(get(&server, &format!("{prefix}app/missing.js"), None).await.status(), 404);
    // No client-route fallback under /assets/.
    assert_eq!(get(&server, &format!("{prefix}c/42"), None).await.status(), 404);
    assert_eq!(get(&server, &format!("{prefix}../Cargo.toml"), None).await.status(), 404);
}
