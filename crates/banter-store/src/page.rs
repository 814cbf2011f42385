//! How much one page of messages (a history page or a sync batch) may hold.
//!
//! A page ends at `limit` messages or once it holds [`PAGE_TEXT_BYTES`] of
//! text, whichever comes first, and always holds at least one message. The
//! budget is applied while the rows are read, not after: a backend offers
//! rows to a [`PageBuilder`] one at a time, in reading order, and stops
//! reading at the first one that does not fit. So a page over 400 KB
//! messages costs about one page of memory and I/O, not `limit` messages.
//!
//! The rule lives here once; the backends hold only their SQL.

use banter_protocol::Message;

use crate::MessagePage;

/// Text bytes (UTF-8) in one page beyond which it ends early; a page always
/// holds at least one message, and a message is at most 400 KB, so no page
/// holds more than this. Keeps a sync batch or history response (at most
/// twice this after JSON escaping) bounded however large messages are.
pub const PAGE_TEXT_BYTES: usize = 1024 * 1024;

/// Collects one page in reading order (oldest first when reading forwards,
/// newest first when reading backwards).
#[derive(Debug)]
pub(crate) struct PageBuilder {
    limit: usize,
    messages: Vec<Message>,
    text_bytes: usize,
    /// A message that did not fit was offered: more exist beyond the page.
    full: bool,
}

impl PageBuilder {
    /// A page of at most `limit` (at least 1) messages.
    pub(crate) fn new(limit: u32) -> PageBuilder {
        PageBuilder { limit: (limit as usize).max(1), messages: Vec::new(), text_bytes: 0, full: false }
    }

    /// Whether a message with `text_bytes` of text would still go in.
    pub(crate) fn fits(&self, text_bytes: usize) -> bool {
        !self.full
            && self.messages.len() < self.limit
            && (self.messages.is_empty() || self.text_bytes + text_bytes <= PAGE_TEXT_BYTES)
    }

    /// Offers the next message in reading order. False when it does not fit:
    /// the page is then complete, `has_more` is set, and the caller stops
    /// reading.
    pub(crate) fn offer(&mut self, message: Message) -> bool {
        if !self.fits(message.text.len()) {
            self.full = true;
            return false;
        }
        self.text_bytes += message.text.len();
        self.messages.push(message);
        true
    }

    /// Records that a message exists beyond what was offered (read without
    /// its text, or known from a count): the page is complete.
    pub(crate) fn more_exist(&mut self) {
        self.full = true;
    }

    /// Messages in the page so far.
    pub(crate) fn len(&self) -> usize {
        self.messages.len()
    }

    /// How many more messages the limit allows.
    pub(crate) fn remaining(&self) -> usize {
        self.limit - self.messages.len()
    }

    /// Whether the page takes no more messages.
    pub(crate) fn is_complete(&self) -> bool {
        self.full || self.messages.len() >= self.limit
    }

    /// The page in ascending seq order. `newest_first`: the messages were
    /// offered newest first (reading backwards).
    pub(crate) fn finish(self, newest_first: bool) -> MessagePage {
        let mut messages = self.messages;
        if newest_first {
            messages.reverse();
        }
        MessagePage { messages, has_more: self.full }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: i64, bytes: usize) -> Message {
        Message {
            conversation_id: 1,
            seq,
            sender_id: 1,
            sender_device_id: 1,
            client_msg_id: format!("c{seq}"),
            text: "x".repeat(bytes),
            server_ts: 0,
            ..Default::default()
        }
    }

    fn fill(builder: &mut PageBuilder, sizes: &[usize]) -> Vec<i64> {
        for (i, &size) in sizes.iter().enumerate() {
            if !builder.offer(message(i as i64 + 1, size)) {
                break;
            }
        }
        builder.messages.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn a_page_ends_at_the_limit_or_the_byte_budget_whichever_is_first() {
        let mut by_count = PageBuilder::new(2);
        assert_eq!(fill(&mut by_count, &[10, 10, 10]), vec![1, 2]);
        assert!(by_count.finish(false).has_more);

        let mut by_bytes = PageBuilder::new(200);
        assert_eq!(fill(&mut by_bytes, &[400_000, 400_000, 400_000, 10]), vec![1, 2]);
        assert!(by_bytes.finish(false).has_more);

        let mut whole = PageBuilder::new(200);
        assert_eq!(fill(&mut whole, &[10, 10]), vec![1, 2]);
        assert!(!whole.finish(false).has_more, "nothing was refused");
    }

    #[test]
    fn the_first_message_always_fits() {
        let mut page = PageBuilder::new(5);
        assert_eq!(fill(&mut page, &[PAGE_TEXT_BYTES + 1, 1]), vec![1]);
    }

    #[test]
    fn a_page_read_backwards_comes_out_ascending() {
        let mut page = PageBuilder::new(5);
        page.offer(message(3, 1));
        page.offer(message(2, 1));
        let page = page.finish(true);
        assert_eq!(page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![2, 3]);
    }
}
