//! The messaging rules, one file per rule set. Both the HTTP API and the
//! WebSocket gateway call these functions; neither holds rules of its own.
//!
//! * [`send`]: validate, store durably, hand the fan-out to the router,
//!   return the ack (the send path; its order is below).
//! * [`push_decision`]: which members of a stored message get a push
//!   notification instead of a live frame.
//! * [`receipts`]: the read and delivered markers and the `receipt` frames
//!   they cause.
//! * [`typing`]: the ephemeral "is typing" frame.
//! * [`sync`]: one page of what a device is missing, and [`page_size`] the
//!   page-size rule shared by sync and history pages.
//! * [`conversation_change`]: telling users a conversation changed for them.
//!
//! The send path's order is the core guarantee:
//!
//! 1. commit: [`MessageStore::append_message`](banter_store::MessageStore::append_message)
//!    stores the message durably (group commit, fsync);
//! 2. fan-out handed to the router: the live frame goes through
//!    [`crate::live_order`] (this node's frames of a conversation in seq
//!    order) to [`Router::publish`](crate::router::Router::publish);
//! 3. ack: [`send_message`] returns the ack, and the caller (the gateway's
//!    per-connection send queue, or an HTTP route) queues it.
//!
//! No device ever sees a message that could still be lost: both the
//! fan-out and the ack come after the commit. The fan-out and the ack
//! travel different queues, so which of the two a device sees first is not
//! promised.

pub mod conversation_change;
pub mod page_size;
pub mod push_decision;
pub mod receipts;
pub mod send;
pub mod sync;
pub mod typing;

pub use self::{
    conversation_change::notify_conversation_change,
    page_size::page_size,
    receipts::{mark_delivered, mark_read},
    send::{send_message, SendAck},
    sync::{sync_page, SyncAdmission},
    typing::typing,
};
