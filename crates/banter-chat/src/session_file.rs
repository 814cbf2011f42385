//! The logged-in device, kept between runs in a file only its owner can
//! read (it holds the bearer token).

use std::path::{Path, PathBuf};

use anyhow::Context;
use banter_protocol::http::SessionResponse;
use serde::{Deserialize, Serialize};

/// What is stored: the server it belongs to and the signup/login answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct SavedSession {
    pub url: String,
    pub session: SessionResponse,
}

/// `$BANTER_SESSION_FILE` is handled by clap; this is the fallback:
/// `~/.config/banter/session.json`.
pub fn default_path() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(config.join("banter").join("session.json"))
}

/// The saved session, if there is one for `url`.
pub fn load(path: &Path, url: &str) -> Option<SessionResponse> {
    let text = std::fs::read_to_string(path).ok()?;
    let saved: SavedSession = serde_json::from_str(&text).ok()?;
    (saved.url == url).then_some(saved.session)
}

pub fn save(path: &Path, url: &str, session: &SessionResponse) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&SavedSession { url: url.to_owned(), session: session.clone() })?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    Ok(())
}

pub fn forget(path: &Path) {
    let _ = std::fs::remove_file(path);
}
