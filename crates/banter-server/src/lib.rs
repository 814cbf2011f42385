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
//!
//! Cluster mode is the same server with two settings: `database_urls`
//! (PostgreSQL instead of SQLite) and `nats_url` (routing to devices on other
//! nodes over NATS instead of in-process). Nodes share nothing else, so any
//! number of them run behind any load balancer.

pub mod auth;
pub mod client_address;
pub mod config;
pub mod dirty_set;
pub mod error;
pub mod gateway;
pub mod http;
pub mod listener;
pub mod messaging;
pub mod metrics;
pub mod presence;
pub mod rate_limits;
pub mod push;
pub mod registry;
pub mod router;
pub mod state;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use banter_protocol::frames::close_code;
use banter_store::{
    postgres::{PgConfig, PgStore},
    sqlite::SqliteStore,
    Store, StoreError,
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

pub use config::ServerConfig;

use crate::{
    auth::PasswordHashing,
    presence::{ClusterPresence, LocalPresence, PresenceTracker, TRANSITION_QUEUE},
    push::{web_push::WebPush, PushDispatcher, RetryPolicy},
    registry::{CloseReason, ConnectionRegistry},
    router::{LocalRouter, NatsRouter, NatsRouterError, Router},
    state::AppState,
};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open storage: {0}")]
    Storage(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Routing(#[from] NatsRouterError),
}

/// Entry point.
pub struct Server;

impl Server {
    /// Opens storage (SQLite in `data_dir`, or PostgreSQL when
    /// `database_urls` is set), binds the listener and starts serving in the
    /// background.
    pub async fn start(config: ServerConfig) -> Result<RunningServer, StartError> {
        let store: Arc<dyn Store> = if config.database_urls.is_empty() {
            Arc::new(SqliteStore::open(&config.database_path())?)
        } else {
            let pg = PgConfig { urls: config.database_urls.clone(), max_connections: config.database_pool_size };
            Arc::new(PgStore::connect(&pg).await?)
        };
        Self::start_with_store(config, store).await
    }

    /// Like [`Server::start`] with a store chosen by the caller.
    pub async fn start_with_store(config: ServerConfig, store: Arc<dyn Store>) -> Result<RunningServer, StartError> {
        let listener = listen(config.listen).map_err(|source| StartError::Bind { addr: config.listen, source })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.listen, source })?;
        let registry = Arc::new(ConnectionRegistry::new());
        let (presence_changes, presence_rx) = tokio::sync::mpsc::channel(TRANSITION_QUEUE);
        let (router, presence): (Arc<dyn Router>, Arc<dyn PresenceTracker>) = match &config.nats_url {
            Some(url) => {
                let prefix = &config.nats_subject_prefix;
                let nats = NatsRouter::connect(url, prefix, registry.clone()).await?;
                let client = nats.client().clone();
                let grace = config.presence_grace;
                (nats.clone(), ClusterPresence::start(client, prefix, nats.node_id(), grace, presence_changes).await?)
            }
            None => (
                Arc::new(LocalRouter::new(registry.clone())),
                LocalPresence::start(config.presence_grace, presence_changes),
            ),
        };
        let shutdown = CancellationToken::new();
        let vapid = push::vapid::load_or_create(&*store).await?;
        let vapid_public_key = push::vapid::public_key_base64url(&vapid);
        let push = PushDispatcher::start(
            store.clone(),
            Arc::new(WebPush::new(vapid, config.push_contact.clone())),
            RetryPolicy { max_attempts: config.push_max_attempts, base_delay: config.push_retry_base },
            shutdown.clone(),
        );
        let state = Arc::new(AppState {
            presence,
            push,
            vapid_public_key,
            passwords: PasswordHashing::new(config.max_concurrent_password_hashes),
            login_limits: rate_limits::LoginLimits::new(&config),
            signup_limits: rate_limits::SignupLimits::new(&config),
            account_frame_limits: rate_limits::AccountFrameLimits::new(&config),
            router,
            registry,
            store,
            config,
            shutdown: shutdown.clone(),
        });
        tokio::spawn(presence::run_notifier(state.clone(), presence_rx));
        let metrics_addr = match state.config.metrics_listen {
            Some(metrics_listen) => {
                metrics::handle();
                let (bound, _task) = metrics::serve(metrics_listen, state.clone(), shutdown.clone())
                    .await
                    .map_err(|source| StartError::Bind { addr: metrics_listen, source })?;
                Some(bound)
            }
            None => None,
        };
        let app = http::routes(state.clone())
            .layer(axum::middleware::from_fn(metrics::track_http))
            .layer(tower_http::trace::TraceLayer::new_for_http());
        let serve = tokio::spawn(listener::serve(listener, app, shutdown.clone(), state.config.http_header_timeout));
        tracing::info!(%addr, "banter listening");
        Ok(RunningServer { addr, metrics_addr, state, serve })
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
    metrics_addr: Option<SocketAddr>,
    state: Arc<AppState>,
    serve: JoinHandle<()>,
}

impl RunningServer {
    /// The address it listens on (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `GET /metrics` is served, if `metrics_listen` was set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
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
        // Whoever is online now was last seen now.
        if let Err(e) = self.state.store.record_last_seen(&self.state.presence.online_users()).await {
            tracing::warn!(error = %e, "could not record last-seen times at shutdown");
        }
        self.state.store.close().await;
        tracing::info!("shut down");
    }
}
