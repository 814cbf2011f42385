//! The Banter server.
//!
//! One process holds the whole system in the embedded default: an HTTP API
//! ([`http`]), a WebSocket gateway ([`gateway`]), the messaging rules
//! ([`messaging`]), in-process routing ([`router`], [`registry`]) and durable
//! storage (`banter-store`). The flow of a message:
//!
//! ```text
//! device ──send──▶ gateway (sends.rs: in order, per connection)
//!                     │
//!                     ▼
//!        messaging::send_message ──1──▶ MessageStore::append_message (group commit, fsync)
//!                     │
//!                     ├──2──▶ LiveOrder (seq order) ──▶ Router::publish ──▶ every other
//!                     │                                  connection of every member
//!        ◀──ack───────┘ 3: the gateway queues the ack
//! ```
//!
//! Acknowledged means committed: both the fan-out (2) and the ack (3) come
//! after the commit (1). The fan-out is handed to the router before the
//! ack is queued, but the two travel different queues, so a member's device
//! may see the message before the sender's device sees its ack; nothing
//! depends on which comes first. Fan-out is best effort and a device that
//! misses it catches up with `sync` from its cursors.
//!
//! Start one with [`Server::start`]; stop it with [`RunningServer::shutdown`]
//! (graceful: drain — answer every send held, refuse new ones, health 503 —
//! then close connections with a reason, stop accepting, flush storage).
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
pub mod frame;
pub mod gateway;
pub mod http;
pub mod leaving;
pub mod listener;
pub mod live_order;
pub mod messaging;
pub mod metrics;
pub mod outbound;
pub mod presence;
pub mod rate_limits;
pub mod push;
pub mod readiness;
pub mod registry;
pub mod router;
pub mod sessions;
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
    presence::{ClusterPresence, LocalPresence, PresenceChanges, PresenceTracker},
    push::{
        native::{NativePush, Providers},
        web_push::WebPush,
        PushDispatcher, PushSettings, RetryPolicy,
    },
    registry::{CloseReason, ConnectionRegistry},
    router::{LocalRouter, NatsRouter, NatsRouterError, Router},
    sessions::Sessions,
    state::AppState,
};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::InvalidConfig),
    // The messages name what failed; the cause is the error's source, so
    // a `{:#}` chain ("cannot listen on …: Address already in use") shows
    // it once.
    #[error("cannot open storage")]
    Storage(#[from] StoreError),
    #[error("cannot listen on {addr}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Routing(#[from] NatsRouterError),
    #[error("cannot build the push HTTP client")]
    PushClient(#[from] reqwest::Error),
    /// A native push key file is missing, unreadable or malformed.
    #[error("native push: {0}")]
    NativePush(String),
}

/// Entry point.
pub struct Server;

impl Server {
    /// Opens storage (SQLite in `data_dir`, or PostgreSQL when
    /// `database_urls` is set), binds the listener and starts serving in the
    /// background.
    pub async fn start(config: ServerConfig) -> Result<RunningServer, StartError> {
        config.validate()?;
        let store: Arc<dyn Store> = if config.database_urls.is_empty() {
            Arc::new(SqliteStore::open(&config.database_path())?)
        } else {
            let pg = PgConfig { urls: config.database_urls.clone(), max_connections: config.database_pool_size };
            Arc::new(PgStore::connect(&pg).await?)
        };
        Self::start_with_store(config, store).await
    }

    /// Like [`Server::start`] with a store chosen by the caller. A store
    /// that several nodes share (PostgreSQL) also brings the cluster-wide
    /// rate limits (`StoreLifecycle::rate_limits`).
    pub async fn start_with_store(config: ServerConfig, store: Arc<dyn Store>) -> Result<RunningServer, StartError> {
        config.validate()?;
        let listener = listen(config.listen).map_err(|source| StartError::Bind { addr: config.listen, source })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.listen, source })?;
        let registry = Arc::new(ConnectionRegistry::new());
        let presence_changes = Arc::new(PresenceChanges::default());
        let shutdown = CancellationToken::new();
        let vapid = push::vapid::load_or_create(&*store).await?;
        let vapid_public_key = push::vapid::public_key_base64url(&vapid);
        let native_push = Arc::new(NativePush::from_config(&config).map_err(StartError::NativePush)?);
        let push = PushDispatcher::start(
            store.clone(),
            Arc::new(Providers { web: WebPush::new(vapid, config.push_contact.clone())?, native: native_push.clone() }),
            PushSettings {
                retry: RetryPolicy { max_attempts: config.push_max_attempts, base_delay: config.push_retry_base },
                endpoint_hosts: config.push_endpoint_hosts.clone(),
            },
            shutdown.clone(),
        );
        let mut cluster_router = None;
        let (router, presence): (Arc<dyn Router>, Arc<dyn PresenceTracker>) = match &config.nats_url {
            Some(url) => {
                let prefix = &config.nats_subject_prefix;
                let directory = store.node_directory().ok_or(NatsRouterError::NoDirectory)?;
                let lease = config.cluster_node_lease;
                let nats = NatsRouter::connect(url, prefix, registry.clone(), directory, lease, push.clone()).await?;
                cluster_router = Some(nats.clone());
                (nats.clone(), ClusterPresence::start(&nats, config.presence_grace, presence_changes.clone()))
            }
            None => (
                Arc::new(LocalRouter::new(registry.clone(), push.clone())),
                LocalPresence::start(config.presence_grace, presence_changes.clone()),
            ),
        };
        let sessions = Sessions::start(&config, store.clone(), shutdown.clone());
        let shared_limits = store.rate_limits().map(|buckets| Arc::new(rate_limits::SharedBuckets::new(buckets)));
        if let Some(shared) = &shared_limits {
            shared.spawn_sweeper(shutdown.clone());
        }
        let state = Arc::new(AppState {
            presence,
            push,
            native_push,
            vapid_public_key,
            passwords: PasswordHashing::new(config.password_hash_concurrency()),
            sessions,
            login_limits: rate_limits::LoginLimits::new(&config, shared_limits.clone()),
            signup_limits: rate_limits::SignupLimits::new(&config, shared_limits.clone()),
            account_frame_limits: rate_limits::AccountFrameLimits::new(&config, shared_limits),
            account_http_limits: rate_limits::AccountHttpRequestLimits::new(&config),
            sync_admission: messaging::SyncAdmission::new(config.max_concurrent_syncs, config.sync_queue_timeout),
            router,
            live_order: live_order::LiveOrder::new(),
            registry,
            store,
            config,
            shutdown: shutdown.clone(),
            readiness: readiness::StoreReadiness::default(),
            event_streams: Default::default(),
        });
        tokio::spawn(presence::run_notifier(state.clone(), presence_changes));
        if let Some(router) = &cluster_router {
            tokio::spawn(presence::resend_on_reachable(state.clone(), router.reachable().clone()));
        }
        tokio::spawn(sessions::checker::run(state.clone()));
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
        let policy = listener::ConnectionPolicy::from_config(&state.config);
        // Not `shutdown`: the listener keeps serving (health answers 503)
        // while connections drain.
        let stop_listening = CancellationToken::new();
        let serve = tokio::spawn(listener::serve(listener, app, stop_listening.clone(), policy));
        tracing::info!(%addr, "banter listening");
        Ok(RunningServer { addr, metrics_addr, state, serve, stop_listening })
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
    /// Ends the accept loop, after the drain.
    stop_listening: CancellationToken,
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

    /// Resolves once storage has failed for good ([`StoreLifecycle::fatal_error`](banter_store::StoreLifecycle::fatal_error)):
    /// nothing can be stored any more, so the process should exit non-zero
    /// and be restarted by its supervisor (`banter serve` does).
    pub async fn storage_failure(&self) -> String {
        loop {
            if let Some(failure) = self.state.store.fatal_error() {
                return failure;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Number of open WebSocket connections.
    pub fn connection_count(&self) -> usize {
        self.state.registry.connection_count()
    }

    /// Graceful shutdown, in three steps:
    ///
    /// 1. **Drain** (at most `shutdown_drain_timeout`): `/health` and
    ///    `/ready` answer 503 `shutting_down`, new WebSockets are refused,
    ///    and every connection answers what it holds — the send being
    ///    stored gets its ack if it commits, sends not started get
    ///    `shutting_down` — then closes with 1001 "going away". HTTP is
    ///    still served meanwhile, so load balancers see the 503.
    /// 2. Connections still open are closed at once (1001), and the
    ///    listener stops accepting and finishes its open requests.
    ///    In cluster mode the node's routing directory entries are left to
    ///    expire with its lease, as a crashed node's are: the users who do
    ///    not come back through another node within it are then reported
    ///    offline by whichever node sweeps them (a clean removal now would
    ///    leave nobody to report them).
    /// 3. Storage is flushed and closed: every acknowledged message is on
    ///    disk when this returns.
    pub async fn shutdown(self) {
        tracing::info!(drain = ?self.state.config.shutdown_drain_timeout, "shutting down: draining connections");
        // Cancelled first: a connection registering after `drain_all` sees
        // it and closes (`gateway::connection`).
        self.state.shutdown.cancel();
        self.state.registry.drain_all();
        let drained = self.wait_for_connections(self.state.config.shutdown_drain_timeout).await;
        if !drained {
            tracing::warn!(open = self.state.registry.connection_count(), "connections still open after the drain; closing them");
            self.state.registry.kick_all(CloseReason { code: close_code::GOING_AWAY, reason: "server shutting down" });
            // A kicked connection's close frame gets 2 s at most.
            self.wait_for_connections(Duration::from_secs(3)).await;
        }
        self.stop_listening.cancel();
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

    /// Waits until no WebSocket is open, at most `limit`; true if none is.
    async fn wait_for_connections(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.state.registry.connection_count() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}
