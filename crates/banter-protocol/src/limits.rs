//! Limits the server enforces, and the validation rules that go with them.
//!
//! Clients may check these too for a better user experience, but the server
//! is the authority: every rule here is enforced server-side.

use crate::ErrorCode;

/// A message is at most this many Unicode scalar values (Rust `char`s).
pub const MAX_MESSAGE_CHARS: usize = 100_000;
/// A group has at most this many members, its creator included.
pub const MAX_GROUP_MEMBERS: usize = 100;
/// Typing frames for one conversation on one connection closer together than
/// this are dropped.
pub const TYPING_MIN_INTERVAL_MS: u64 = 2_000;
/// How long a `typing` indication lasts on the receiving side unless refreshed.
pub const TYPING_EXPIRES_MS: u64 = 5_000;
/// Most user ids in one presence query.
pub const MAX_PRESENCE_QUERY_USERS: usize = 200;
/// Longest text preview (in characters) carried by a push notification.
pub const PUSH_PREVIEW_MAX_CHARS: usize = 200;
/// Longest accepted push subscription endpoint URL, in bytes.
pub const PUSH_ENDPOINT_MAX_BYTES: usize = 2_048;
/// Longest accepted native push token (FCM registration token or APNs
/// device token), in bytes.
pub const NATIVE_PUSH_TOKEN_MAX_BYTES: usize = 4_096;
/// Largest WebSocket message (frame payload) the server reads, in bytes.
/// A 100,000-character message needs at most 400 KB of UTF-8 plus JSON
/// escaping, so 1 MiB leaves room for any valid `send` frame.
pub const MAX_WS_FRAME_BYTES: usize = 1024 * 1024;
/// Largest HTTP request body, in bytes.
pub const MAX_HTTP_BODY_BYTES: usize = 64 * 1024;
/// Username length bounds, in characters.
pub const USERNAME_MIN_CHARS: usize = 3;
/// Longest username, in characters.
pub const USERNAME_MAX_CHARS: usize = 32;
/// Password length bounds, in characters (the upper bound caps hashing cost).
pub const PASSWORD_MIN_CHARS: usize = 8;
/// Longest password, in characters.
pub const PASSWORD_MAX_CHARS: usize = 256;
/// Display names and group names, in characters.
pub const DISPLAY_NAME_MAX_CHARS: usize = 64;
/// Longest group name, in characters.
pub const GROUP_NAME_MAX_CHARS: usize = 100;
/// Device names, in characters.
pub const DEVICE_NAME_MAX_CHARS: usize = 64;
/// `client_msg_id`: 1 to this many characters from `[A-Za-z0-9_-]`.
pub const CLIENT_MSG_ID_MAX_CHARS: usize = 64;
/// Largest page of history or sync messages; the default page is smaller.
pub const MAX_PAGE_SIZE: u32 = 200;
/// Page size when a request gives none.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Longest search, in characters (`query_too_long` beyond).
pub const MAX_SEARCH_QUERY_CHARS: usize = 256;
/// Most different words (or runs of Chinese, Japanese, Korean or Thai
/// characters) in one search (`invalid_query` beyond).
pub const MAX_SEARCH_TERMS: usize = 16;
/// Largest page of search results; also the default.
pub const MAX_SEARCH_PAGE_SIZE: u32 = 20;
/// How many of the newest matching messages a search ranks: older matches
/// are not looked at (the answer says `truncated`).
pub const SEARCH_WINDOW: usize = 1_000;
/// Most messages in one page of `GET /me/export` (the page also stops at
/// 1 MiB of text).
pub const EXPORT_PAGE_MESSAGES: u32 = 500;

/// A rule that a piece of user input broke, with the wire code it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The wire code of the refusal.
    pub code: ErrorCode,
    /// What is wrong, for people.
    pub message: String,
}

impl Invalid {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Invalid { code, message: message.into() }
    }
}

/// Characters that show nothing: whitespace and the zero-width ones (a
/// message of only U+200B would look empty but not count as empty).
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{180E}')
}

/// Bidirectional embedding, override and isolate controls: in a name they
/// reorder the text shown after it ("evil\u{202E}cod.exe"), a spoofing tool.
/// Allowed in messages, where right-to-left writers may need them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks a message text: not empty or only whitespace, at most
/// [`MAX_MESSAGE_CHARS`] scalar values, and no control characters other than
/// tab, line feed and carriage return.
pub fn validate_message_text(text: &str) -> Result<(), Invalid> {
    if text.chars().all(is_invisible) {
        return Err(Invalid::new(ErrorCode::MessageEmpty, "message text is empty"));
    }
    let mut chars = 0usize;
    for c in text.chars() {
        chars += 1;
        if c.is_control() && !matches!(c, '\n' | '\r' | '\t') {
            return Err(Invalid::new(
                ErrorCode::InvalidText,
                format!("message contains control character U+{:04X}", c as u32),
            ));
        }
    }
    if chars > MAX_MESSAGE_CHARS {
        return Err(Invalid::new(
            ErrorCode::MessageTooLong,
            format!("message has {chars} characters; the limit is {MAX_MESSAGE_CHARS}"),
        ));
    }
    Ok(())
}

/// Usernames: 3–32 characters from `[a-z0-9_.-]`, starting with a letter or
/// digit. They are compared case-insensitively: the server lowercases them.
pub fn validate_username(name: &str) -> Result<(), Invalid> {
    let len = name.chars().count();
    if !(USERNAME_MIN_CHARS..=USERNAME_MAX_CHARS).contains(&len) {
        return Err(Invalid::new(
            ErrorCode::InvalidUsername,
            format!("username must be {USERNAME_MIN_CHARS} to {USERNAME_MAX_CHARS} characters"),
        ));
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-');
    if !name.chars().all(ok_char) || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(Invalid::new(
            ErrorCode::InvalidUsername,
            "username may contain only a-z, 0-9, '_', '.', '-' and must start with a letter or digit",
        ));
    }
    Ok(())
}

/// Passwords: 8–256 characters.
pub fn validate_password(password: &str) -> Result<(), Invalid> {
    let len = password.chars().count();
    if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&len) {
        return Err(Invalid::new(
            ErrorCode::InvalidPassword,
            format!("password must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Display, group and device names: non-blank, at most `max` characters,
/// no control characters.
pub fn validate_name(what: &str, name: &str, max: usize) -> Result<(), Invalid> {
    if name.chars().all(is_invisible) {
        return Err(Invalid::new(ErrorCode::InvalidName, format!("{what} is empty")));
    }
    if name.chars().count() > max {
        return Err(Invalid::new(ErrorCode::InvalidName, format!("{what} is longer than {max} characters")));
    }
    if name.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(Invalid::new(ErrorCode::InvalidName, format!("{what} contains a control character")));
    }
    Ok(())
}

/// A search or name filter: at most [`MAX_SEARCH_QUERY_CHARS`] characters
/// (`query_too_long`). Counting stops at the limit, so a 10 MB query costs
/// no more than a long one.
pub fn validate_search_length(query: &str) -> Result<(), Invalid> {
    if query.chars().take(MAX_SEARCH_QUERY_CHARS + 1).count() > MAX_SEARCH_QUERY_CHARS {
        return Err(Invalid::new(
            ErrorCode::QueryTooLong,
            format!("a search is at most {MAX_SEARCH_QUERY_CHARS} characters"),
        ));
    }
    Ok(())
}

/// `client_msg_id`: 1–64 characters from `[A-Za-z0-9_-]` (a UUID fits).
pub fn validate_client_msg_id(id: &str) -> Result<(), Invalid> {
    let ok = !id.is_empty()
        && id.len() <= CLIENT_MSG_ID_MAX_CHARS
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            ErrorCode::InvalidClientMsgId,
            format!("client_msg_id must be 1 to {CLIENT_MSG_ID_MAX_CHARS} characters from [A-Za-z0-9_-]"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_limit_in_multibyte_characters_is_accepted() {
        let text = "é".repeat(MAX_MESSAGE_CHARS);
        assert!(validate_message_text(&text).is_ok());
        let emoji = "😀".repeat(MAX_MESSAGE_CHARS);
        assert!(validate_message_text(&emoji).is_ok());
    }

    #[test]
    fn one_over_the_limit_is_refused() {
        let text = "a".repeat(MAX_MESSAGE_CHARS + 1);
        assert_eq!(validate_message_text(&text).unwrap_err().code, ErrorCode::MessageTooLong);
    }

    #[test]
    fn blank_and_control_characters_are_refused() {
        assert_eq!(validate_message_text("\u{200B}\u{FEFF} \u{2060}").unwrap_err().code, ErrorCode::MessageEmpty);
        assert!(validate_message_text("\u{200B}hi").is_ok(), "zero-width beside text is fine");
        assert!(validate_message_text("\u{202E}مرحبا").is_ok(), "bidi controls are allowed in messages");
        assert_eq!(validate_name("display name", "\u{200B}", 64).unwrap_err().code, ErrorCode::InvalidName);
        assert_eq!(validate_name("display name", "evil\u{202E}cod.exe", 64).unwrap_err().code, ErrorCode::InvalidName);
        assert_eq!(validate_name("group name", "a\u{2067}b", 100).unwrap_err().code, ErrorCode::InvalidName);
        assert!(validate_name("display name", "Zoë 🎉", 64).is_ok());
        assert_eq!(validate_message_text(" \n\t ").unwrap_err().code, ErrorCode::MessageEmpty);
        assert_eq!(validate_message_text("a\u{0}b").unwrap_err().code, ErrorCode::InvalidText);
        assert_eq!(validate_message_text("a\u{1b}[2J").unwrap_err().code, ErrorCode::InvalidText);
        assert!(validate_message_text("line one\nline two\ttab").is_ok());
    }

    #[test]
    fn usernames_follow_the_charset_and_length_rules() {
        assert!(validate_username("alice_01").is_ok());
        assert!(validate_username("ab").is_err());
        assert!(validate_username(&"a".repeat(33)).is_err());
        assert!(validate_username("Alice").is_err());
        assert!(validate_username("_alice").is_err());
        assert!(validate_username("al ice").is_err());
        assert!(validate_username("al'; DROP TABLE users;--").is_err());
    }

    #[test]
    fn client_msg_ids_are_short_and_plain() {
        assert!(validate_client_msg_id("0b7c6f3e-7d1e-4a43-9d7a-0d6f1a2b3c4d").is_ok());
        assert!(validate_client_msg_id("").is_err());
        assert!(validate_client_msg_id(&"x".repeat(65)).is_err());
        assert!(validate_client_msg_id("a b").is_err());
    }
}
