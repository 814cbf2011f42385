//! The accept loop: HTTP/1.1 over hyper, with the protections `axum::serve`
//! does not offer. (HTTP/2 is left to the TLS-terminating load balancer in
//! front; hyper's protocol sniffing would also read the first bytes without
//! a deadline, which is exactly what a silent socket exploits.)
//!
//! * **Slow or silent clients** (slowloris, idle unauthenticated sockets): a
//!   connection must deliver a complete request head within
//!   `http_header_timeout`, for its first request and between keep-alive
//!   requests (so it is also the idle keep-alive deadline), or it is closed.
//!   The body and the answer then have `http_request_timeout`
//!   (`http::deadline`). Upgraded WebSockets follow the gateway's own idle
//!   timeout.
//! * **Many connections from one address**: at most
//!   `max_http_connections_per_address` open HTTP connections per peer
//!   address. A connection counts from accept until it closes or is
//!   upgraded to a WebSocket — and only a handshake with a valid token is
//!   upgraded, so what is capped is exactly the connections that have not
//!   proved who they are. One over the cap gets a best-effort 429 (if the
//!   socket takes it without waiting) and is closed at once, before hyper
//!   allocates anything for it. Trusted proxies are not capped: their
//!   connections carry many clients, and which ones is known only per
//!   request (`X-Forwarded-For`); the proxy caps its own clients. The
//!   per-address counts live in a map holding only addresses with open
//!   connections, so it is bounded by the open sockets.
//! * **Out of file descriptors**: `accept` errors such as EMFILE do not end
//!   the server; it pauses briefly and goes on.
//! * The peer address is attached to every request as
//!   `ConnectInfo<SocketAddr>` (rate limits per address use it).
//!
//! Stopping it is the last step of a shutdown, after the WebSockets have
//! drained (`RunningServer::shutdown`): until then it goes on accepting, so
//! `/health` can answer 503 during the drain. Then it stops accepting and
//! lets in-flight requests finish (bounded by the caller).

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{extract::ConnectInfo, Router};
use banter_protocol::{ErrorBody, ErrorCode};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use ipnet::IpNet;
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

use crate::config::ServerConfig;

/// What the accept loop enforces per connection.
#[derive(Debug, Clone)]
pub struct ConnectionPolicy {
    /// `http_header_timeout`.
    pub header_timeout: Duration,
    /// `max_http_connections_per_address`; 0 is no cap.
    pub max_per_address: usize,
    /// Peers not capped (`trusted_proxies`).
    pub uncapped: Vec<IpNet>,
}

impl ConnectionPolicy {
    pub fn from_config(config: &ServerConfig) -> Self {
        ConnectionPolicy {
            header_timeout: config.http_header_timeout,
            max_per_address: config.max_http_connections_per_address,
            uncapped: config.trusted_proxies.clone(),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then waits for
/// open HTTP exchanges to finish.
pub async fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken, policy: ConnectionPolicy) {
    let connections = TaskTracker::new();
    let per_address = Arc::new(AddressCounts::default());
    let over_cap_answer = over_cap_answer();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(policy.header_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE/ENFILE/ECONNABORTED: transient. Back off so a
                    // full descriptor table does not spin the loop.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let capped = policy.max_per_address > 0 && !policy.uncapped.iter().any(|net| net.contains(&peer.ip()));
        let slot = if capped {
            match per_address.try_acquire(peer.ip(), policy.max_per_address) {
                Some(slot) => Some(slot),
                None => {
                    tracing::debug!(%peer, "too many HTTP connections from this address; refused");
                    crate::metrics::rate_limited("connections_per_address");
                    // Never wait on this peer: one non-blocking write, then close.
                    let _ = stream.try_write(&over_cap_answer);
                    continue;
                }
            }
        } else {
            None
        };
        let _ = stream.set_nodelay(true);
        // Lets a handler drop this TCP connection (see [`ConnectionAbort`]).
        let abort = CancellationToken::new();
        let abort_for_requests = ConnectionAbort(abort.clone());
        let app = app.clone().map_request(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(abort_for_requests.clone());
            request.map(axum::body::Body::new)
        });
        let mut connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app)).with_upgrades();
        let stopping = shutdown.clone();
        connections.spawn(async move {
            // Counted until this task ends: when the connection closes, or
            // when hyper hands an upgraded (WebSocket) connection over.
            let _slot = slot;
            let result = tokio::select! {
                result = &mut connection => result,
                // A handler gave up on this connection: dropping it closes
                // the socket, whatever hyper was waiting for.
                () = abort.cancelled() => Ok(()),
                () = stopping.cancelled() => {
                    // Finish the request in flight, then close.
                    std::pin::Pin::new(&mut connection).graceful_shutdown();
                    tokio::select! {
                        result = connection => result,
                        () = abort.cancelled() => Ok(()),
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// The peer address of a request, when served by [`serve`].
/// In every request's extensions: cancelling it drops the HTTP connection
/// the request came on. A streamed response (the fallback event stream)
/// uses it when the client stops reading: hyper has no write deadline of
/// its own, and a response body it cannot write out would otherwise hold
/// the connection for as long as the client likes.
#[derive(Debug, Clone)]
pub struct ConnectionAbort(pub CancellationToken);

pub fn peer_addr(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0)
}

/// The whole answer to a connection over the per-address cap.
fn over_cap_answer() -> Vec<u8> {
    let body = ErrorBody {
        code: ErrorCode::RateLimited,
        message: "too many open connections from this address; close some and retry".to_owned(),
    };
    let body = serde_json::to_string(&body).unwrap_or_default();
    format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Open connections per peer address. Only addresses with at least one
/// open connection have an entry.
#[derive(Default)]
struct AddressCounts {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl AddressCounts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A slot for one more connection from `ip`, unless it has `max` open.
    fn try_acquire(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut open = self.lock();
        let count = open.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(AddressSlot { counts: self.clone(), ip })
    }
}

/// One counted connection; dropping it frees the slot.
struct AddressSlot {
    counts: Arc<AddressCounts>,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.counts.lock();
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_address_and_entries_go_when_the_last_closes() {
        let counts = Arc::new(AddressCounts::default());
        let a: IpAddr = "198.51.100.1".parse().unwrap();
        let b: IpAddr = "198.51.100.2".parse().unwrap();
        let first = counts.try_acquire(a, 2).expect("first");
        let second = counts.try_acquire(a, 2).expect("second");
        assert!(counts.try_acquire(a, 2).is_none(), "over the cap");
        let other = counts.try_acquire(b, 2).expect("another address has its own count");
        drop(first);
        let third = counts.try_acquire(a, 2).expect("a freed slot is reusable");
        drop((second, third, other));
        assert!(counts.lock().is_empty(), "no entry outlives its connections");
    }
}
