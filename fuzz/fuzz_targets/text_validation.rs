//! The validators for user-supplied text, checked against their written
//! rules (docs/PROTOCOL.md), stated here independently of the code:
//!
//! * message text: accepted ⇔ not only whitespace and zero-width characters, at most 100,000 Unicode
//!   scalar values, no control character but tab, LF and CR; a refusal names
//!   a rule the text really breaks;
//! * usernames: accepted ⇔ 3–32 of `a-z 0-9 _ . -`, starting with a letter
//!   or digit;
//! * passwords: accepted ⇔ 8–256 characters;
//! * display, group and device names: accepted ⇔ not blank (whitespace and
//!   zero-width characters only), at most `max` characters, no control
//!   character and no bidi embedding/override/isolate control;
//! * `client_msg_id`: accepted ⇔ 1–64 of `[A-Za-z0-9_-]`.
//!
//! Texts are a fragment repeated, so short inputs reach the length limits.
#![no_main]

use arbitrary::Arbitrary;
use banter_protocol::{
    limits::{
        validate_client_msg_id, validate_message_text, validate_name, validate_password, validate_username,
        DISPLAY_NAME_MAX_CHARS, GROUP_NAME_MAX_CHARS, MAX_MESSAGE_CHARS,
    },
    ErrorCode,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    fragment: String,
    repeat: u16,
    /// Added once at the end, so a text can sit exactly at or past a limit.
    tail: String,
    /// Which `max` to give the name validator.
    name_max: u8,
}

impl Input {
    /// Up to just past the 100,000-character limit: longer texts cost time
    /// and test nothing more.
    fn text(&self) -> String {
        let unit = self.fragment.chars().count().max(1);
        let times = (self.repeat as usize).min((MAX_MESSAGE_CHARS + 2) / unit + 1);
        let mut text = self.fragment.repeat(times);
        text.push_str(&self.tail);
        text
    }
}

/// Shows nothing: whitespace or a zero-width character (written out here,
/// not taken from the code under test).
fn invisible(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{180E}')
}

/// Bidi embedding / override / isolate controls, refused in names.
fn bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn forbidden_in_messages(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

fn check_message_text(text: &str) {
    let chars = text.chars().count();
    let blank = text.chars().all(invisible);
    let has_forbidden = text.chars().any(forbidden_in_messages);
    match validate_message_text(text) {
        Ok(()) => {
            assert!(chars <= MAX_MESSAGE_CHARS, "accepted {chars} characters");
            assert!(!blank, "accepted a blank text");
            assert!(!has_forbidden, "accepted a control character");
        }
        Err(invalid) => {
            let broken = match invalid.code {
                ErrorCode::MessageEmpty => blank,
                ErrorCode::MessageTooLong => chars > MAX_MESSAGE_CHARS,
                ErrorCode::InvalidText => has_forbidden,
                other => panic!("unexpected code {other:?}"),
            };
            assert!(broken, "refused with {:?} but that rule holds", invalid.code);
        }
    }
}

fn check_username(name: &str) {
    let len = name.chars().count();
    let charset = name.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '.' | '-'));
    let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let expected = (3..=32).contains(&len) && charset && first_ok;
    assert_eq!(validate_username(name).is_ok(), expected, "username {name:?}");
}

fn check_password(password: &str) {
    let len = password.chars().count();
    assert_eq!(validate_password(password).is_ok(), (8..=256).contains(&len), "password of {len} characters");
}

fn check_name(name: &str, max: usize) {
    let expected = !name.chars().all(invisible)
        && name.chars().count() <= max
        && !name.chars().any(|c| c.is_control() || bidi_control(c));
    let result = validate_name("name", name, max);
    assert_eq!(result.is_ok(), expected, "name {name:?} with max {max}");
    if let Err(invalid) = result {
        assert_eq!(invalid.code, ErrorCode::InvalidName);
    }
}

fn check_client_msg_id(id: &str) {
    let expected = (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    assert_eq!(validate_client_msg_id(id).is_ok(), expected, "client_msg_id {id:?}");
}

fuzz_target!(|input: Input| {
    let text = input.text();
    check_message_text(&text);
    // The shorter checks see the tail and the fragment on their own too,
    // where short strings exercise the boundaries more often.
    for candidate in [text.as_str(), input.tail.as_str(), input.fragment.as_str()] {
        if candidate.len() > 4_096 {
            continue;
        }
        check_username(candidate);
        check_password(candidate);
        check_client_msg_id(candidate);
        let max = [DISPLAY_NAME_MAX_CHARS, GROUP_NAME_MAX_CHARS, input.name_max as usize][input.name_max as usize % 3];
        check_name(candidate, max);
    }
});
