//! What the workspace's tests share, written once: the store's, the
//! server's, the binary's and the SDK's tests all need "a fresh PostgreSQL
//! database", the service URLs from the environment, unique names and (with
//! features) a real server and the same waits on its frames.
//!
//! * [`postgres`]: a fresh database per test, dropped with its connections
//!   afterwards, on the shared server (`BANTER_TEST_DATABASE_URL`).
//! * [`nats_url`]: the shared NATS server (`BANTER_TEST_NATS_URL`).
//! * [`unique_name`]: names no other test of any process running now uses.
//! * `frames` (feature `sdk`): the next message / matching frame / error /
//!   close on an SDK [`Connection`](banter_sdk::Connection), within [`WAIT`].
//! * `server` (feature `server`): a real in-process server on its own temp
//!   data dir (and its own database with `BANTER_TEST_STORE=postgres`).
//!
//! Every wait here has a deadline ([`WAIT`]) and panics with what it waited
//! for; tests use real services on their standard loopback ports, started
//! by `scripts/services-up`.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

#[cfg(feature = "sdk")]
pub mod frames;
#[cfg(feature = "sdk")]
pub mod http;
pub mod postgres;
#[cfg(feature = "server")]
pub mod server;

/// The password every test user signs up with.
pub const PASSWORD: &str = "correct horse battery staple";

/// How long a test waits for something the server should do.
pub const WAIT: Duration = Duration::from_secs(15);

/// The shared NATS server (`scripts/services-up`), or `BANTER_TEST_NATS_URL`.
pub fn nats_url() -> String {
    std::env::var("BANTER_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// `<prefix>_<pid>_<n>_<ns since the epoch>`: unique across the tests of
/// this process and of every other one running now (several test binaries
/// share one PostgreSQL and one NATS). Also a valid SQL identifier when
/// `prefix` is one.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}_{}_{}_{stamp}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}
