//! Rust client SDK for Banter.
//!
//! * [`ApiClient`] — typed calls to the HTTP API (accounts, devices,
//!   conversations, history, read markers). [`ApiClient::signup`] and
//!   [`ApiClient::login`] return a [`Session`]: an authenticated client plus
//!   the user, device id and token.
//! * [`Connection`] — the device's WebSocket: send messages and wait for
//!   their acks, receive live events, catch up with `sync`. A client that
//!   opens many connections (a load generator) can choose each one's source
//!   address ([`ConnectOptions::local_addr`]), pass a TCP stream it opened
//!   itself ([`Connection::connect_over`]) and shrink the per-connection
//!   read buffer ([`ConnectOptions::read_buffer_size`]).
//! * [`Connection::send_all`] — flushes an outbox of many messages on one
//!   connection: pipelined, paced by the limits announced in `hello`, and
//!   resending what the server refuses with `rate_limited` after the wait
//!   it asks for ([`outbox`]).
//! * [`ReconnectingClient`] — a device that stays connected: reconnects
//!   with backoff and jitter, keeps an outbox resent with the same
//!   `client_msg_id`s after every reconnect (on [`Connection::send_all`]),
//!   catches up by cursor, and hands the application [`Event`]s
//!   ([`reconnect`]). What a chat application uses.
//! * Replies, edits and deletes — [`Connection::reply_to_message`],
//!   [`Connection::edit_message`], [`Connection::delete_message`] (and the
//!   same on [`ReconnectingClient`]). An edit or delete arrives as an entry
//!   with its own seq (`kind` `edit` / `delete`, `target_seq`): apply it to
//!   the message you hold with
//!   [`Message::apply_change`](banter_protocol::Message::apply_change) and
//!   do not show it by itself.
//! * [`SyncState`] — per-conversation cursors that turn at-least-once
//!   delivery into exactly-once display and detect gaps.
//! * [`SdkError`] — one error type; [`SdkError::code`] gives the server's
//!   stable [`ErrorCode`].
//!
//! The wire types themselves live in [`banter_protocol`], re-exported here as
//! [`protocol`].
//!
//! # The delivery model
//!
//! **Durable ack.** A `send` carries a `client_msg_id` chosen by the device.
//! The server answers `ack` only after the message is committed to storage,
//! with the message's `seq` — its position in the conversation (1, 2, 3, …
//! without gaps). Before the ack the message may or may not be stored; the
//! fix is to resend *with the same `client_msg_id`*, on this or a later
//! connection: the server stores it at most once and answers the retry with
//! the original ack (`duplicate: true`). [`Connection::send_message`] picks a
//! fresh id; [`Connection::send_message_with_id`] is for retries.
//!
//! **At-least-once delivery, deduplicated by seq.** Every stored message is
//! pushed live (`message` frame) to every connected device of every member,
//! the sender's own devices included. A device can therefore see a message
//! more than once — live and again through sync — and can miss live messages
//! while disconnected or if its connection is dropped for reading too slowly.
//! Because `(conversation_id, seq)` identifies a message and seqs are dense,
//! a [`SyncState`] per device is enough: [`SyncState::accept`] says whether a
//! message is new, a duplicate, or reveals a gap.
//!
//! **Catch-up with cursors.** A cursor is the highest seq up to which a device
//! holds every message of a conversation. After (re)connecting, send `sync`
//! with the cursors ([`SyncState::cursors`]); the server returns what follows
//! them, in batches, until `complete`. [`Connection::sync_all`] runs that
//! loop and [`Connection::catch_up`] also filters through a `SyncState`.
//! Conversations missing from the cursors are synced from the start.
//!
//! ```no_run
//! # async fn demo() -> Result<(), banter_sdk::SdkError> {
//! use banter_sdk::{ApiClient, SyncState};
//!
//! let api = ApiClient::new("http://127.0.0.1:8080")?;
//! let alice = api.login("alice", "correct horse", Some("laptop")).await?;
//! let bob = alice.api().user_by_username("bob").await?;
//! let chat = alice.api().direct_conversation_with(bob.id).await?;
//!
//! let mut conn = alice.connect().await?;
//! let mut state = SyncState::new();
//! for m in conn.catch_up(&mut state).await? {
//!     println!("{}: {}", m.sender_id, m.text);
//! }
//! let ack = conn.send_message(chat.conversation.id, "hi Bob").await?;
//! println!("stored as #{}", ack.seq);
//! loop {
//!     if let banter_sdk::protocol::ServerFrame::Message { message } = conn.next_frame().await? {
//!         match state.accept(&message) {
//!             banter_sdk::Accepted::New => println!("{}", message.text),
//!             banter_sdk::Accepted::Gap { .. } => {
//!                 println!("{}", message.text);
//!                 for m in conn.catch_up(&mut state).await? {
//!                     println!("{}", m.text);
//!                 }
//!             }
//!             banter_sdk::Accepted::Duplicate => {}
//!         }
//!     }
//! }
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod connection;
pub mod error;
mod event_stream;
pub mod http;
pub mod outbox;
pub mod reconnect;
pub mod session;
pub mod sync;

pub use banter_protocol as protocol;
pub use banter_protocol::ErrorCode;
pub use connection::{new_client_msg_id, ws_url, Ack, ConnectOptions, Connection, Hello, SyncPage, TransportKind};
pub use error::SdkError;
pub use http::ApiClient;
pub use outbox::{Flushed, OutgoingMessage};
pub use reconnect::{Event, JoinedConversations, ReconnectOptions, ReconnectingClient};
pub use session::Session;
pub use sync::{Accepted, SyncState};

#[cfg(test)]
mod mock_tests;
