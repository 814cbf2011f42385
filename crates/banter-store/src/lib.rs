//! Durable storage for Banter.
//!
//! [`Store`] is the boundary between the server's rules and the database:
//! one trait per domain, each in its module with the types it speaks and
//! the rules every backend applies —
//!
//! | trait | module | holds |
//! |---|---|---|
//! | [`AccountStore`] | [`accounts`] | users, credentials, profiles |
//! | [`DeviceStore`] | [`devices`] | devices (sessions) and their tokens |
//! | [`ConversationStore`] | [`conversations`] | conversations, membership; group size, admin and direct-pair rules |
//! | [`MessageStore`] | [`messages`] | append, history, sync; the retry (idempotency) rule |
//! | [`MarkerStore`] | [`markers`] | delivered/read markers, receipts, mute; the marker rule |
//! | [`PresenceStore`] | [`presence`] | last-seen times, who may see whom |
//! | [`PushStore`] | [`push`] | Web Push subscriptions; endpoint and cap rules |
//! | [`SearchStore`] | [`search`] | full-text search; the text analysis and the page rule |
//! | [`SettingsStore`] | [`settings`] | server-wide settings |
//! | [`BlockStore`] | [`blocks`] | who blocked whom; what a block refuses |
//! | [`LeavingStore`] | [`leaving`] | account deletion, the export's pages |
//! | [`StoreLifecycle`] | [`lifecycle`] | health and shutdown |
//!
//! and [`Store`] is all of them, implemented for every type that implements
//! each, so the server holds one `Arc<dyn Store>` and calls any domain's
//! methods on it (a trait object's supertrait methods need no import; a
//! concrete `SqliteStore` or `PgStore` needs its domain trait in scope).
//! Two domains only the cluster backend has are outside [`Store`]:
//! [`NodeDirectory`] ([`directory`]) and [`RateLimitStore`] ([`rate_limits`],
//! token buckets every node shares); [`StoreLifecycle`] hands them out
//! (`node_directory`, `rate_limits`), `None` on the embedded store.
//!
//! The server validates input (text length, names) and decides who may do
//! what at the request level; the store keeps the invariants that must hold
//! atomically, because only it sees every concurrent write:
//!
//! * per-conversation `seq` is 1, 2, 3, … with no gap and no reuse;
//! * `(sender_device_id, client_msg_id)` names one message: an exact retry
//!   (same conversation, same text) gets the original back, any other reuse
//!   is refused ([`NewMessage::is_retry_of`], the rule of every backend);
//! * a group never exceeds [`MAX_GROUP_MEMBERS`](banter_protocol::limits::MAX_GROUP_MEMBERS);
//! * only members append or read, only admins add or remove others;
//! * nothing but deletes enters a direct conversation closed by a block
//!   or a deleted account ([`blocks`]);
//! * exactly one direct conversation exists per pair of users;
//! * a method that returns `Ok` after a write has committed it to disk.
//!
//! A rule lives once, in its domain module (or `page.rs` for the page
//! budget, `rows.rs` for the column values both schemas share); a backend
//! holds only its SQL and calls the rule inside the transaction that
//! writes. Implementations: [`sqlite::SqliteStore`] (embedded default: one
//! writer thread with group commit, a pool of reader threads, WAL) and
//! [`postgres::PgStore`] (cluster mode: many nodes, one or more PostgreSQL
//! shards, batched appends under row locks). Each implements the domain
//! traits in its modules of the same names. Both pass the same test suite
//! (`tests/store_conformance.rs`).
//!
//! Types: the store speaks `banter_protocol`'s model types (ids, [`Seq`](banter_protocol::Seq),
//! `User`, `Message`, `Conversation`, `Member`, `Markers`) — the domain model
//! that wire and storage share — and its own types for everything else;
//! nothing from `banter_protocol::http` or `::frames`.

pub mod accounts;
pub mod blocks;
pub mod conversations;
pub mod devices;
pub mod directory;
mod error;
#[cfg(feature = "fault-injection")]
mod fault_injection;
pub mod leaving;
pub mod lifecycle;
pub mod markers;
pub mod messages;
mod page;
pub mod postgres;
pub mod presence;
pub mod push;
pub mod rate_limits;
mod rows;
pub mod search;
pub mod settings;
pub mod sqlite;

pub use accounts::AccountStore;
pub use blocks::{BlockEntry, BlockStore};
pub use conversations::{ConversationStore, MembershipChange};
pub use directory::{NodeDirectory, NodeId};
pub use devices::{AuthenticatedDevice, DeviceRecord, DeviceStore};
pub use error::{StoreError, StoreResult};
pub use leaving::{DeletedAccount, LeavingStore, SentPage, EXPORT_SCAN_CONVERSATIONS, EXPORT_SCAN_SEQS};
pub use lifecycle::StoreLifecycle;
pub use markers::{Marker, MarkerStore, MarkerUpdate, Receipts};
pub use messages::{AppendOutcome, ChangeRules, ConversationCursor, HistoryRange, MessagePage, MessageStore, NewMessage};
pub use page::PAGE_TEXT_BYTES;
pub use presence::PresenceStore;
pub use push::{NewPushSubscription, PushCapScope, PushStore, PushSubscriptionCaps, PushSubscriptionRecord, PushTarget};
pub use rate_limits::{Bucket, RateLimitStore, Taken, KNOWN_ADDRESSES_PER_ACCOUNT};
pub use search::{SearchOrder, SearchPage, SearchQuery, SearchRequest, SearchStore};
pub use settings::SettingsStore;

/// Durable storage for accounts, devices, conversations and messages: every
/// domain trait at once, what the server holds as `Arc<dyn Store>`.
///
/// All methods are cancellation-safe in the sense that a dropped future never
/// leaves a partial write: each write is one transaction.
pub trait Store:
    AccountStore + DeviceStore + ConversationStore + MessageStore + MarkerStore + PresenceStore + PushStore
    + SearchStore + SettingsStore + BlockStore + LeavingStore + StoreLifecycle + Send + Sync + 'static
{
}

impl<T> Store for T where
    T: AccountStore + DeviceStore + ConversationStore + MessageStore + MarkerStore + PresenceStore + PushStore
        + SearchStore + SettingsStore + BlockStore + LeavingStore + StoreLifecycle + Send + Sync + 'static
{
}
