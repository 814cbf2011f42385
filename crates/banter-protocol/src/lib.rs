//! Wire types of the Banter chat protocol.
//!
//! Everything a client and the server exchange is defined here, once:
//!
//! * [`http`] — request and response bodies of the HTTP API under `/api/v1`.
//! * [`frames`] — the JSON frames carried over the WebSocket at `/api/v1/ws`,
//!   as `#[serde(tag = "type")]` enums so they document themselves in the
//!   OpenAPI schema.
//! * [`codec`] — decoding those frames from text, for the server and the SDK
//!   alike (the fuzz targets in `fuzz/` drive it).
//! * [`error`] — the stable machine-readable [`ErrorCode`]s and the error body.
//! * [`limits`] — the limits the server enforces, and the text validation rule
//!   shared by server and clients so both agree on what "100,000 characters"
//!   means.
//!
//! The server, the Rust SDK, `banter bench` and `banter chat` all depend on
//! this crate, so a change here is a protocol change: document it in
//! `docs/PROTOCOL.md`.
//!
//! The `openapi` feature derives the OpenAPI schemas (utoipa) the server
//! publishes; clients leave it off.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod codec;
pub mod error;
pub mod frames;
pub mod http;
pub mod limits;
pub mod model;

pub use codec::{decode_client_frame, decode_server_frame, FrameDecodeError};
pub use error::{ErrorBody, ErrorCode};
pub use frames::{ClientFrame, ServerFrame};
pub use model::*;
