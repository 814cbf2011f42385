//! Leaving for good: deleting an account, and reading back what a user
//! sent (the data export).
//!
//! A deleted account keeps its `users` row, because the messages it sent
//! stay for the other members and name it; everything else of it goes:
//!
//! * its profile: the display name is erased and the username moves to a
//!   reserved column ([`deleted_username`](crate::rows::deleted_username)
//!   takes its place), so the row reads back as a `deleted` user with
//!   neither, nobody can log in to it, find it or open a conversation with
//!   it, and nobody can sign up with the old name (SECURITY.md says why);
//! * its password hash (emptied: no hash verifies against it) and last seen;
//! * its devices (sessions, tokens) and their push subscriptions of every
//!   kind;
//! * its blocks, both ways;
//! * its group memberships, as if it had left each (admin handed on as on
//!   leaving); its direct conversations stay, closed
//!   ([`direct_closed`](crate::blocks::direct_closed)), so the peer keeps
//!   the history.

use async_trait::async_trait;
use banter_protocol::{ConversationId, DeviceId, Seq, TimestampMs, UserId};

use crate::page::PageBuilder;
use crate::{MembershipChange, StoreResult};

/// What deleting an account changed, for the server to tell those
/// concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletedAccount {
    /// The devices removed (their sockets must close).
    pub device_ids: Vec<DeviceId>,
    /// Each group the account left, with who is a member now.
    pub left_groups: Vec<MembershipChange>,
    /// Each direct conversation it had, now closed, with the other user
    /// (to be told: the peer's profile is gone).
    pub closed_directs: Vec<(ConversationId, UserId)>,
}

/// Durable storage of what leaving needs.
#[async_trait]
pub trait LeavingStore: Send + Sync {
    /// Deletes the account as the module doc says. Deleting it again finds
    /// no such user. Errors: [`StoreError::UserNotFound`](crate::StoreError::UserNotFound).
    async fn delete_account(&self, user_id: UserId, now: TimestampMs) -> StoreResult<DeletedAccount>;

    /// The `text` messages `user_id` sent and did not delete, as they
    /// stand (edits applied), after the position `after` in (conversation,
    /// seq) order, from the conversations the user is or was a member of:
    /// at most `limit` messages and one page of text
    /// ([`PAGE_TEXT_BYTES`](crate::PAGE_TEXT_BYTES)), and at most
    /// [`EXPORT_SCAN_SEQS`] seqs and [`EXPORT_SCAN_CONVERSATIONS`]
    /// conversations looked at (see [`ExportWalk`]).
    async fn sent_messages(
        &self,
        user_id: UserId,
        after: Option<(ConversationId, Seq)>,
        limit: u32,
    ) -> StoreResult<SentPage>;
}

/// One page of a user's sent messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SentPage {
    /// In (conversation, seq) order; may be empty while `next` is set.
    pub messages: Vec<banter_protocol::Message>,
    /// Where the next page starts (pass as `after`): the last message, or
    /// the position the walk reached when it ran out of rows to look at.
    /// `None` on the last page.
    pub next: Option<(ConversationId, Seq)>,
}

/// Seqs one export page looks at, across its conversations.
pub const EXPORT_SCAN_SEQS: Seq = 10_000;

/// Conversations one export page visits.
pub const EXPORT_SCAN_CONVERSATIONS: u32 = 100;

/// The walk of one export page, which both backends share; they hold only
/// the SQL.
///
/// No index is kept by sender, which would cost every send (measured at
/// 13 µs of server CPU per message, issue 15). Instead a page walks the
/// user's conversations, current and former (`former_members`, written
/// when a membership ends), in id order and reads each by its primary key
/// (conversation, seq), keeping the user's rows. Seqs are dense, so a seq
/// window is a row count: a page looks at [`EXPORT_SCAN_SEQS`] seqs and
/// [`EXPORT_SCAN_CONVERSATIONS`] conversations at most, and a user who
/// wrote once in a conversation of a million messages gets a few empty
/// pages, each as cheap as a history page, rather than one long scan.
#[derive(Debug)]
pub(crate) struct ExportWalk {
    pub(crate) page: PageBuilder,
    /// Everything up to here has been read.
    position: (ConversationId, Seq),
    seqs_left: Seq,
    stopped: bool,
}

impl ExportWalk {
    pub(crate) fn new(after: Option<(ConversationId, Seq)>, limit: u32) -> ExportWalk {
        ExportWalk { page: PageBuilder::new(limit), position: after.unwrap_or((0, 0)), seqs_left: EXPORT_SCAN_SEQS, stopped: false }
    }

    /// The conversations to visit have this id or a greater one.
    pub(crate) fn first_conversation(&self) -> ConversationId {
        self.position.0
    }

    /// The seqs of `conversation` (whose last is `last_seq`) to read next,
    /// as `(after, up_to)`; the conversations are visited in id order.
    pub(crate) fn window(&self, conversation: ConversationId, last_seq: Seq) -> (Seq, Seq) {
        let after = if conversation == self.position.0 { self.position.1.max(0) } else { 0 };
        (after, last_seq.min(after.saturating_add(self.seqs_left)).max(after))
    }

    /// Records that `window` of `conversation` was read into the page;
    /// false when the walk ends here.
    pub(crate) fn advance(&mut self, conversation: ConversationId, (after, up_to): (Seq, Seq), last_seq: Seq) -> bool {
        if self.page.is_complete() {
            self.stopped = true;
            return false;
        }
        self.seqs_left -= up_to - after;
        self.position = (conversation, up_to);
        if up_to < last_seq {
            self.stopped = true;
            return false;
        }
        true
    }

    /// The page. `listed_more`: more conversations exist than were listed.
    pub(crate) fn finish(self, listed_more: bool) -> SentPage {
        let complete = self.page.is_complete();
        let page = self.page.finish(false);
        let next = match page.messages.last() {
            Some(last) if complete => Some((last.conversation_id, last.seq)),
            _ if self.stopped || listed_more => Some(self.position),
            _ => None,
        };
        SentPage { messages: page.messages, next }
    }
}
