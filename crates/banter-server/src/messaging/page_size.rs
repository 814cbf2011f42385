//! The page-size rule of every paged read (history over HTTP, `sync` over
//! the WebSocket), so both answer an out-of-range limit the same way.
//!
//! Invariant: a page never holds more than `MAX_PAGE_SIZE` messages; the
//! store also ends it at `PAGE_TEXT_BYTES` of text (`banter_store::page`).

use banter_protocol::limits::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

use crate::error::{ApiError, ApiResult};

/// The page size a request asked for: 1 to `MAX_PAGE_SIZE` (200), or the
/// default (50) when it gave none. Out of range is `invalid_request`, the
/// same for a history page over HTTP and a `sync` frame.
pub fn page_size(limit: Option<u32>) -> ApiResult<u32> {
    match limit {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid_request(format!("limit must be 1 to {MAX_PAGE_SIZE}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_is_the_default_or_within_one_to_the_maximum() {
        assert_eq!(page_size(None).ok(), Some(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(Some(1)).ok(), Some(1));
        assert_eq!(page_size(Some(MAX_PAGE_SIZE)).ok(), Some(MAX_PAGE_SIZE));
        assert!(page_size(Some(0)).is_err());
        assert!(page_size(Some(MAX_PAGE_SIZE + 1)).is_err());
    }
}
