//! The Banter server.
//!
//! One process holds the whole system in the embedded default: an HTTP API
//! ([`http`]), a WebSocket gateway ([`gateway`]), the messaging rules
//! ([`messaging`]), in-process routing ([`router`], [`registry`]) and durable
//! storage (`banter-store`). The flow of a message:
//!
//! ```text
//! device ──send──▶ gateway ──▶ messaging::send_message ──▶ Store::append_message
//!                                   │                        (group commit, fsync)
//!        ◀──ack─── gateway ◀────────┤
//!                                   └──▶ Router::publish ──▶ every other connection
//!                                                            of every member
//! ```
//!
//! Acknowledged means committed; fan-out is best-effort and a device that
//! misses it catches up with `sync` from its cursors.
//!
//! Start one with [`Server::start`]; stop it with [`RunningServer::shutdown`]
//! (graceful: stop accepting, close connections with a reason, flush storage).

pub mod auth;
pub mod config;
pub mod error;
pub mod gateway;
pub mod http;
pub mod messaging;
pub mod registry;
pub mod router;
pub mod state;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use banter_protocol::frames::close_code;
use banter_store::{sqlite::SqliteStore, Store, StoreError};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

pub use config::ServerConfig;

use crate::{
    auth::PasswordHashing,
    registry::{CloseReason, ConnectionRegistry},
    router::LocalRouter,
    state::AppState,
};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open storage: {0}")]
    Storage(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// Entry point.
pub struct Server;

impl Server {
    /// Opens storage, binds the listener and starts serving in the background.
    pub async fn start(config: ServerConfig) -> Result<RunningServer, StartError> {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&config.database_path())?);
        Self::start_with_store(config, store).await
    }

    /// Like [`Server::start`] with a store chosen by the caller.
    pub async fn start_with_store(config: ServerConfig, store: Arc<dyn Store>) -> Result<RunningServer, StartError> {
        let listener = listen(config.listen).map_err(|source| StartError::Bind { addr: config.listen, source })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.listen, source })?;
        let registry = Arc::new(ConnectionRegistry::new());
        let shutdown = CancellationToken::new();
        let state = Arc::new(AppState {
            passwords: PasswordHashing::new(config.max_concurrent_password_hashes),
            router: Arc::new(LocalRouter::new(registry.clone())),
            registry,
            store,
            config,
            shutdown: shutdown.clone(),
        });
        let app = http::routes(state.clone()).layer(tower_http::trace::TraceLayer::new_for_http());
        let stop_accepting = shutdown.clone();
        let serve = tokio::spawn(async move {
            let result = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop_accepting.cancelled().await })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "server stopped with an error");
            }
        });
        tracing::info!(%addr, "banter listening");
        Ok(RunningServer { addr, state, serve })
    }
}

/// Pending connections the kernel may queue before `accept`. The standard
/// library's bind uses 128, which a reconnect storm (thousands of devices
/// coming back after a restart) overflows: each dropped SYN costs that
/// client a 1 s retransmission. The kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` (with `SO_REUSEADDR`, as `TcpListener::bind` does) and listens.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// A server running in the background.
pub struct RunningServer {
    addr: SocketAddr,
    state: Arc<AppState>,
    serve: JoinHandle<()>,
}

impl RunningServer {
    /// The address it listens on (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Number of open WebSocket connections.
    pub fn connection_count(&self) -> usize {
        self.state.registry.connection_count()
    }

    /// Graceful shutdown: stop accepting, close every WebSocket with
    /// "going away", wait (bounded) for connections to end, then flush and
    /// close storage. Every acknowledged message is on disk when this returns.
    pub async fn shutdown(self) {
        tracing::info!("shutting down");
        self.state.shutdown.cancel();
        self.state.registry.kick_all(CloseReason { code: close_code::GOING_AWAY, reason: "server shutting down" });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.state.registry.connection_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if tokio::time::timeout(Duration::from_secs(5), self.serve).await.is_err() {
            tracing::warn!("HTTP connections still open after 5 s; closing storage anyway");
        }
        self.state.store.close().await;
        tracing::info!("shut down");
    }
}
