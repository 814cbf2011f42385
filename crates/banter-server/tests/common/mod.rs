//! Test harness: a real server on a random port with its own temp data dir,
//! driven through the SDK over real HTTP and WebSocket — all from the
//! workspace's `banter-test-support`; only what no other crate's tests need
//! lives here (`pg_proxy`, `postgres::via`).
#![allow(dead_code, unused_imports)]

pub mod pg_proxy;
pub mod postgres;

pub use banter_test_support::{
    frames::{closed, next_error, next_matching, next_message},
    server::{generous_account_http_limits, TestServer},
    PASSWORD, WAIT,
};
