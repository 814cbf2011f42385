//! How things are printed. Message text and names come from other people:
//! control characters (a carriage return that overwrites the line, escape
//! sequences that recolour or retitle the terminal) are shown as visible
//! symbols, never passed to the terminal.

use banter_protocol::http::SearchResult;
use banter_protocol::{Conversation, ConversationKind, Message, MessageKind};

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
/// `[n]` after each message is its number, for `/reply`, `/edit` and
/// `/delete`; a reply starts with the number it quotes.
pub fn message_line(message: &Message, sender: &str) -> String {
    let (conversation, who, seq) = (message.conversation_id, printable(sender), message.seq);
    match (message.kind, message.target_seq) {
        (MessageKind::Edit, Some(target)) => format!("#{conversation} {who} edited [{target}]: {}", printable(&message.text)),
        (MessageKind::Delete, Some(target)) => format!("#{conversation} {who} deleted [{target}]"),
        _ if message.deleted => format!("#{conversation} {who}: (deleted)  [{seq}]"),
        _ => {
            let reply = message.reply_to.map(|r| format!("↪[{r}] ")).unwrap_or_default();
            let edited = if message.edited_at.is_some() { " (edited)" } else { "" };
            format!("#{conversation} {who}: {reply}{}{edited}  [{seq}]", printable(&message.text))
        }
    }
}

/// One search result: `#<conversation> [n] …snippet…`, the matched words
/// in `*stars*` (the message number, for `/open` and `/history`).
pub fn search_line(result: &SearchResult) -> String {
    let snippet: String = result
        .snippet
        .iter()
        .map(|part| if part.hit { format!("*{}*", printable(&part.text)) } else { printable(&part.text) })
        .collect();
    format!("#{} [{}] {snippet}", result.conversation_id, result.seq)
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
