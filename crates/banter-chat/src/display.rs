//! How things are printed. Message text and names come from other people:
//! control characters (a carriage return that overwrites the line, escape
//! sequences that recolour or retitle the terminal) are shown as visible
//! symbols, never passed to the terminal.

use banter_protocol::{Conversation, ConversationKind, Message};

/// `text` with every control character except tab made visible; newlines
/// continue on an indented line.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\n    "),
            '\t' => out.push('\t'),
            // U+2400 + code: the Control Pictures block (␀ … ␟), ␡ for DEL.
            c if (c as u32) < 0x20 => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}')),
            '\u{7f}' => out.push('\u{2421}'),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `#<conversation> <sender>: <text>`.
pub fn message_line(message: &Message, sender: &str) -> String {
    format!("#{} {}: {}", message.conversation_id, printable(sender), printable(&message.text))
}

/// A conversation's name as the user knows it: the group's, or the peer's username.
pub fn conversation_name(conversation: &Conversation) -> String {
    match (conversation.kind, &conversation.name, &conversation.peer) {
        (ConversationKind::Group, Some(name), _) => printable(name),
        (_, _, Some(peer)) => format!("@{}", peer.username),
        _ => "(unnamed)".to_owned(),
    }
}

/// One line of `/list`.
pub fn list_line(conversation: &Conversation) -> String {
    let unread = match conversation.unread_count {
        0 => String::new(),
        n => format!(" ({n} unread)"),
    };
    format!("#{} {}{unread}", conversation.id, conversation_name(conversation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_control_sequences_are_shown_not_obeyed() {
        assert_eq!(printable("a\u{1b}[2Jb"), "a\u{241b}[2Jb");
        assert_eq!(printable("fake\rreal"), "fake\u{240d}real");
        assert_eq!(printable("bell\u{7}"), "bell\u{2407}");
        assert_eq!(printable("csi\u{9b}"), "csi\u{fffd}");
    }

    #[test]
    fn lines_and_tabs_stay_readable() {
        assert_eq!(printable("one\ntwo\tcol"), "one\n    two\tcol");
        assert_eq!(printable("héllo 👋"), "héllo 👋");
    }
}
