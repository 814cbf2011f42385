//! One time base for the whole run, so that a timestamp taken by a sender
//! task and one taken by a receiver task (same process) can be subtracted.
//! Timestamps are microseconds since the run started, from the monotonic
//! clock.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Fixes the epoch; call first thing in a run.
pub fn start() {
    EPOCH.get_or_init(Instant::now);
}

fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

/// Microseconds since the epoch.
pub fn now_us() -> u64 {
    epoch().elapsed().as_micros() as u64
}

/// The instant `us` microseconds after the epoch.
pub fn instant_at(us: u64) -> Instant {
    epoch() + Duration::from_micros(us)
}

/// Bench message texts start with the send timestamp: `"<micros>|xxxx…"`,
/// padded with `x` to `size` bytes. The receiver needs nothing else to
/// measure end-to-end latency.
pub fn stamped_text(sent_us: u64, size: usize) -> String {
    let mut text = format!("{sent_us}|");
    while text.len() < size {
        text.push('x');
    }
    text
}

/// The send timestamp of a bench message text.
pub fn stamp_of(text: &str) -> Option<u64> {
    text.split('|').next()?.parse().ok()
}

/// A `client_msg_id` that carries the send timestamp too, so an ack can be
/// timed without a map of pending sends: `"<micros>-<n>"`, unique per
/// connection by `n`.
pub fn stamped_id(sent_us: u64, n: u64) -> String {
    format!("{sent_us}-{n}")
}

/// The send timestamp of a `client_msg_id` made by [`stamped_id`].
pub fn stamp_of_id(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_through_text_and_ids() {
        let text = stamped_text(123_456, 64);
        assert_eq!(text.len(), 64);
        assert_eq!(stamp_of(&text), Some(123_456));
        assert_eq!(stamp_of(&stamped_text(7, 0)), Some(7));
        let id = stamped_id(99, 3);
        assert!(banter_protocol::limits::validate_client_msg_id(&id).is_ok());
        assert_eq!(stamp_of_id(&id), Some(99));
        assert_eq!(stamp_of("hello"), None);
    }
}
