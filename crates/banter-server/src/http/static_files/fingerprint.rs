//! Fingerprinted URLs without a build step: every file of the web client is
//! also served under `/assets/<version>/<path>`, where `<version>` is a hash
//! of all the embedded files. Such a URL names one exact content forever, so
//! it may be cached as `immutable` for a year; a deploy that changes any file
//! changes the version, hence every URL.
//!
//! `index.html` and `sw.js` are the entry points (always revalidated): the
//! server rewrites their references at serve time. In `index.html` every
//! root-relative `href="/…"` and `src="/…"` gains the prefix, so the modules'
//! relative imports (`./api.js`) resolve under the same prefix; in `sw.js`
//! the placeholder [`SW_PLACEHOLDER`] becomes the prefix, so the service
//! worker precaches and serves the same URLs the page loads.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

use super::WebFiles;

/// What `sw.js` says where the asset prefix (`/assets/<version>`) goes.
pub const SW_PLACEHOLDER: &str = "/assets/__BANTER_ASSET_VERSION__";

/// The hash of every embedded file (names and contents), 24 hex digits.
pub fn version() -> &'static str {
    static VERSION: LazyLock<String> = LazyLock::new(|| {
        let mut names: Vec<_> = WebFiles::iter().collect();
        names.sort();
        let mut hasher = Sha256::new();
        for name in names {
            if let Some(file) = WebFiles::get(&name) {
                hasher.update((name.len() as u64).to_le_bytes());
                hasher.update(name.as_bytes());
                hasher.update(file.metadata.sha256_hash());
            }
        }
        hasher.finalize()[..12].iter().map(|b| format!("{b:02x}")).collect()
    });
    &VERSION
}

/// `/assets/<version>`.
pub fn prefix() -> String {
    format!("/assets/{}", version())
}

/// The file behind `/assets/<version>/<name>` if `path` is such a URL of the
/// current version: `Some(Ok(name))`; `Some(Err(()))` for another version
/// (an old page after a deploy: refused rather than answered with content
/// that does not match its URL); `None` when `path` is no asset URL.
pub fn asset_name(path: &str) -> Option<Result<&str, ()>> {
    let rest = path.strip_prefix("/assets/")?;
    let (version_in_path, name) = rest.split_once('/').unwrap_or((rest, ""));
    Some(if version_in_path == version() && !name.is_empty() { Ok(name) } else { Err(()) })
}

/// The bytes to serve for `name`: the entry points with their references
/// rewritten, every other file as embedded.
pub fn rewrite(name: &str, data: &[u8]) -> Vec<u8> {
    let prefix = prefix();
    match name {
        "index.html" => String::from_utf8_lossy(data)
            .replace("href=\"/", &format!("href=\"{prefix}/"))
            .replace("src=\"/", &format!("src=\"{prefix}/"))
            .into_bytes(),
        "sw.js" => String::from_utf8_lossy(data).replace(SW_PLACEHOLDER, &prefix).into_bytes(),
        _ => data.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_stable_and_hex() {
        assert_eq!(version(), version());
        assert_eq!(version().len(), 24);
        assert!(version().bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn asset_urls_of_the_current_version_name_a_file() {
        let p = format!("/assets/{}/app/main.js", version());
        assert_eq!(asset_name(&p), Some(Ok("app/main.js")));
        assert_eq!(asset_name("/assets/0123/app/main.js"), Some(Err(())));
        assert_eq!(asset_name(&format!("/assets/{}", version())), Some(Err(())));
        assert_eq!(asset_name("/app/main.js"), None);
    }

    #[test]
    fn index_html_references_the_fingerprinted_files() {
        let html = WebFiles::get("index.html").expect("index.html is embedded");
        let html = String::from_utf8(rewrite("index.html", &html.data)).expect("utf-8");
        assert!(html.contains(&format!("src=\"{}/app/main.js\"", prefix())), "{html}");
        assert!(html.contains(&format!("href=\"{}/style.css\"", prefix())), "{html}");
        assert!(!html.contains("src=\"/app"), "{html}");
    }

    #[test]
    fn the_service_worker_gets_the_prefix() {
        let sw = WebFiles::get("sw.js").expect("sw.js is embedded");
        assert!(std::str::from_utf8(&sw.data).expect("utf-8").contains(SW_PLACEHOLDER));
        let sw = String::from_utf8(rewrite("sw.js", &sw.data)).expect("utf-8");
        assert!(sw.contains(&prefix()) && !sw.contains(SW_PLACEHOLDER));
    }
}
