//! The accept loop: HTTP/1.1 over hyper, with the protections `axum::serve`
//! does not offer. (HTTP/2 is left to the TLS-terminating load balancer in
//! front; hyper's protocol sniffing would also read the first bytes without
//! a deadline, which is exactly what a silent socket exploits.)
//!
//! * **Slow or silent clients** (slowloris, idle unauthenticated sockets): a
//!   connection must deliver a complete request head within
//!   `http_header_timeout`, for its first request and between keep-alive
//!   requests, or it is closed. (Upgraded WebSockets then follow the
//!   gateway's own idle timeout.)
//! * **Out of file descriptors**: `accept` errors such as EMFILE do not end
//!   the server; it pauses briefly and goes on.
//! * The peer address is attached to every request as
//!   `ConnectInfo<SocketAddr>` (rate limits per address use it).
//!
//! On shutdown it stops accepting and lets in-flight requests finish
//! (bounded by the caller).

use std::{net::SocketAddr, time::Duration};

use axum::{extract::ConnectInfo, Router};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

/// Serves `app` on `listener` until `shutdown` is cancelled, then waits for
/// open HTTP exchanges to finish.
pub async fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken, header_timeout: Duration) {
    let connections = TaskTracker::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
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
        let _ = stream.set_nodelay(true);
        let app = app.clone().map_request(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.map(axum::body::Body::new)
        });
        let mut connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app)).with_upgrades();
        let stopping = shutdown.clone();
        connections.spawn(async move {
            let result = tokio::select! {
                result = &mut connection => result,
                () = stopping.cancelled() => {
                    // Finish the request in flight, then close.
                    std::pin::Pin::new(&mut connection).graceful_shutdown();
                    connection.await
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
pub fn peer_addr(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0)
}
