//! A real `banter-server` in this process, on its own temp data dir, for
//! tests that drive it through the SDK over real HTTP and WebSocket.
//!
//! With `BANTER_TEST_STORE=postgres` every [`TestServer`] gets a fresh
//! PostgreSQL database of its own instead of SQLite (the server suite runs
//! on both stores). The limits meant for abuse (signups, per-account HTTP
//! budgets, connections per address) are lifted, since every test user
//! connects from 127.0.0.1; the tests of those limits set them back.

use std::net::SocketAddr;
use std::time::Duration;

use banter_sdk::{ApiClient, Session};
use banter_server::{
    config::{AccountHttpLimits, Budget},
    RunningServer, Server, ServerConfig,
};
use tempfile::TempDir;

use crate::{postgres::TestDatabase, PASSWORD};

/// Whether this run uses PostgreSQL instead of the embedded SQLite.
pub fn postgres_requested() -> bool {
    std::env::var("BANTER_TEST_STORE").is_ok_and(|v| v == "postgres")
}

/// A running server and the directory holding its database.
pub struct TestServer {
    /// The server; `None` while stopped.
    pub server: Option<RunningServer>,
    /// Its data directory, kept across restarts.
    pub data_dir: TempDir,
    /// The configuration it was started with (and restarts with).
    pub config: ServerConfig,
    /// With `BANTER_TEST_STORE=postgres`: the server's own database.
    /// Declared last: dropped after the server has closed its pool.
    _database: Option<TestDatabase>,
}

impl TestServer {
    /// A server with the test defaults on a random port.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts with the test defaults, adjusted by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: data_dir.path().to_path_buf(),
            // Tests sign up hundreds of users from 127.0.0.1; the signup
            // limit itself is tested with its own setting.
            signups_per_hour_per_address: 100_000,
            // Likewise the per-account HTTP budgets and the per-address
            // connection cap: tests open many connections and requests
            // from one address at once.
            account_http_limits: generous_account_http_limits(),
            max_http_connections_per_address: 0,
            // Clients of a restarted test server come back at once (the
            // spread itself is tested with its own setting).
            shutdown_reconnect_spread: Duration::from_millis(100),
            ..ServerConfig::default()
        };
        let database = if postgres_requested() { Some(TestDatabase::create("banter_it").await) } else { None };
        if let Some(database) = &database {
            config.database_urls = vec![database.url()];
            config.database_pool_size = 4;
        }
        tweak(&mut config);
        let server = Server::start(config.clone()).await.expect("server starts");
        TestServer { server: Some(server), data_dir, config, _database: database }
    }

    /// Its base URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        self.running().base_url()
    }

    /// The running server; panics while stopped.
    pub fn running(&self) -> &RunningServer {
        self.server.as_ref().expect("server is running")
    }

    /// An HTTP client of its API.
    pub fn api(&self) -> ApiClient {
        ApiClient::new(&self.url()).expect("api client")
    }

    /// Signs up a fresh user with a unique name derived from `prefix`.
    pub async fn user(&self, prefix: &str) -> Session {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{prefix}_{n:04}");
        self.api().signup(&name, PASSWORD).await.expect("signup")
    }

    /// Logs in another device of an existing user.
    pub async fn second_device(&self, session: &Session) -> Session {
        self.api().login(&session.user.username, PASSWORD, Some("second device")).await.expect("login")
    }

    /// Graceful shutdown, then a new server on the same data dir: on a new
    /// port, or the same one when `config.listen` names one.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.server = Some(Server::start(self.config.clone()).await.expect("server restarts"));
    }

    /// Graceful shutdown: connections are closed, the port is free.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

/// A free local address, for a server that must keep its port across
/// restarts (its clients reconnect to the address they know).
pub fn free_local_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port")
}

/// Per-account HTTP budgets no test meets by accident.
pub fn generous_account_http_limits() -> AccountHttpLimits {
    let plenty = Budget::new(100_000, 100_000);
    AccountHttpLimits {
        reads: plenty,
        lookups: plenty,
        lookups_per_address: plenty,
        membership: plenty,
        updates: plenty,
        profile: plenty,
        sessions: plenty,
        push: plenty,
    }
}
