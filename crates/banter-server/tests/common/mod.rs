//! Test harness: a real server on a random port with its own temp data dir,
//! driven through the SDK over real HTTP and WebSocket.
#![allow(dead_code)]

pub mod postgres;

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use banter_protocol::{Message, ServerFrame};
use banter_sdk::{ApiClient, Connection, Session};
use banter_server::{RunningServer, Server, ServerConfig};
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery staple";
pub const WAIT: Duration = Duration::from_secs(10);

/// A running server and the directory holding its database.
pub struct TestServer {
    pub server: Option<RunningServer>,
    pub data_dir: TempDir,
    pub config: ServerConfig,
    /// With `BANTER_TEST_STORE=postgres`: the server's own database.
    /// Declared last: dropped after the server has closed its pool.
    database: Option<postgres::TestDatabase>,
}

impl TestServer {
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
            // limit itself is tested with its own setting (hostile.rs).
            signups_per_hour_per_address: 100_000,
            ..ServerConfig::default()
        };
        let database = if postgres::requested() { Some(postgres::TestDatabase::create().await) } else { None };
        if let Some(database) = &database {
            config.database_urls = vec![database.url()];
            config.database_pool_size = 4;
        }
        tweak(&mut config);
        let server = Server::start(config.clone()).await.expect("server starts");
        TestServer { server: Some(server), data_dir, config, database }
    }

    pub fn url(&self) -> String {
        self.running().base_url()
    }

    pub fn running(&self) -> &RunningServer {
        self.server.as_ref().expect("server is running")
    }

    pub fn api(&self) -> ApiClient {
        ApiClient::new(&self.url()).expect("api client")
    }

    /// Signs up a fresh user with a unique name derived from `prefix`.
    pub async fn user(&self, prefix: &str) -> Session {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}_{n:04}");
        self.api().signup(&name, PASSWORD).await.expect("signup")
    }

    /// Logs in another device of an existing user.
    pub async fn second_device(&self, session: &Session) -> Session {
        self.api().login(&session.user.username, PASSWORD, Some("second device")).await.expect("login")
    }

    /// Graceful shutdown, then a new server on the same data dir (new port).
    pub async fn restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        self.server = Some(Server::start(self.config.clone()).await.expect("server restarts"));
    }

    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

/// The next live message on a connection, skipping other frames.
pub async fn next_message(conn: &mut Connection) -> Message {
    loop {
        match conn.next_frame_timeout(WAIT).await.expect("a frame arrives") {
            ServerFrame::Message { message } => return message,
            _ => continue,
        }
    }
}

/// The next frame satisfying `pick`, skipping others.
pub async fn next_matching<T>(conn: &mut Connection, mut pick: impl FnMut(ServerFrame) -> Option<T>) -> T {
    loop {
        let frame = conn.next_frame_timeout(WAIT).await.expect("a frame arrives");
        if let Some(found) = pick(frame) {
            return found;
        }
    }
}

/// The next `error` frame's code.
pub async fn next_error(conn: &mut Connection) -> (banter_protocol::ErrorCode, Option<String>) {
    next_matching(conn, |f| match f {
        ServerFrame::Error { code, client_msg_id, .. } => Some((code, client_msg_id)),
        _ => None,
    })
    .await
}

/// Reads until the server ends the connection; the error carries the close code.
pub async fn closed(conn: &mut Connection) -> banter_sdk::SdkError {
    loop {
        if let Err(e) = conn.next_frame_timeout(WAIT).await {
            return e;
        }
    }
}
