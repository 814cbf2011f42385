//! Server configuration: one typed struct with defaults that work out of the
//! box. The `banter` binary fills it from flags, environment and an optional
//! TOML file; tests build it directly with a temp data dir and port 0.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use ipnet::IpNet;

use serde::Deserialize;

/// Everything `banter serve` can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// Directory for the SQLite database (created if missing).
    pub data_dir: PathBuf,
    /// Where to serve Prometheus metrics (`GET /metrics`), on a listener of
    /// its own so it stays off the public port. None: not served.
    pub metrics_listen: Option<SocketAddr>,
    /// Origins (e.g. `https://chat.example.com`) allowed to open WebSockets in
    /// addition to the server's own origin. Requests without an Origin header
    /// (native clients) are allowed; they still need a token.
    pub allowed_origins: Vec<String>,
    /// Clients should send a frame at least this often.
    #[serde(with = "millis")]
    pub heartbeat_interval: Duration,
    /// A WebSocket silent for this long is closed.
    #[serde(with = "millis")]
    pub idle_timeout: Duration,
    /// Frames per connection the server keeps queued for a device before it
    /// disconnects it as a slow consumer.
    pub outbound_queue_frames: usize,
    /// Sustained frames per second per connection, and the burst above it.
    pub frames_per_second: u32,
    pub frames_burst: u32,
    /// Sustained frames per second per account over all its connections,
    /// and the burst above it.
    pub account_frames_per_second: u32,
    pub account_frames_burst: u32,
    /// Login attempts per minute per username (password guessing), and per
    /// client address (guessing across many usernames).
    pub login_attempts_per_minute_per_user: u32,
    pub login_attempts_per_minute_per_address: u32,
    /// Accounts created per hour per client address (account-creation spam).
    pub signups_per_hour_per_address: u32,
    /// Load balancers / reverse proxies (addresses or CIDR networks) whose
    /// `X-Forwarded-For` is believed when working out a client's address for
    /// the per-address limits. Empty: the socket's peer is the client.
    pub trusted_proxies: Vec<IpNet>,
    /// Concurrent password hashes (argon2id is deliberately expensive).
    pub max_concurrent_password_hashes: usize,
    /// Cluster mode storage: PostgreSQL URLs, one per shard, in a fixed
    /// order (shard 0 also holds accounts). Empty: embedded SQLite in
    /// `data_dir`.
    pub database_urls: Vec<String>,
    /// Pooled PostgreSQL connections per shard on this node.
    pub database_pool_size: u32,
    /// Cluster mode routing: the NATS server (`nats://host:4222`). None:
    /// in-process routing (every device on this node).
    pub nats_url: Option<String>,
    /// First token of every NATS subject this cluster uses
    /// (`<prefix>.user.<id>`), so several clusters (or test runs) can share
    /// one NATS server.
    pub nats_subject_prefix: String,
    /// A connection must send a complete request head within this time
    /// (first request and between keep-alive requests), or it is closed:
    /// slowloris and idle unauthenticated sockets cost nothing for long.
    #[serde(with = "millis")]
    pub http_header_timeout: Duration,
    /// A user goes offline once none of their devices has sent anything for
    /// this long (a brief network drop does not flap their presence).
    #[serde(with = "millis")]
    pub presence_grace: Duration,
    /// Push: hosts a push subscription's endpoint may point at. `*.example.com`
    /// matches subdomains. Endpoints must be https, except on a loopback
    /// address listed here (tests). This keeps the server from being used to
    /// send requests to arbitrary internal hosts (SSRF).
    pub push_endpoint_hosts: Vec<String>,
    /// Push: the VAPID `sub` contact (a `mailto:` or `https:` URL).
    pub push_contact: String,
    /// Push: attempts per notification (first try included) and the delay
    /// before the first retry (doubling each time).
    pub push_max_attempts: u32,
    #[serde(with = "millis")]
    pub push_retry_base: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("banter-data"),
            metrics_listen: None,
            allowed_origins: Vec::new(),
            heartbeat_interval: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(45),
            outbound_queue_frames: 1024,
            frames_per_second: 200,
            frames_burst: 400,
            account_frames_per_second: 400,
            account_frames_burst: 800,
            login_attempts_per_minute_per_user: 10,
            login_attempts_per_minute_per_address: 120,
            signups_per_hour_per_address: 60,
            trusted_proxies: Vec::new(),
            max_concurrent_password_hashes: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            database_urls: Vec::new(),
            database_pool_size: 16,
            nats_url: None,
            nats_subject_prefix: "banter".to_owned(),
            http_header_timeout: Duration::from_secs(10),
            presence_grace: Duration::from_secs(30),
            push_endpoint_hosts: DEFAULT_PUSH_ENDPOINT_HOSTS.iter().map(|h| h.to_string()).collect(),
            push_contact: "mailto:admin@localhost".to_owned(),
            push_max_attempts: 4,
            push_retry_base: Duration::from_secs(2),
        }
    }
}

/// The push services of the major browsers (Chrome/Edge via FCM, Firefox,
/// Safari, legacy Edge/Windows).
pub const DEFAULT_PUSH_ENDPOINT_HOSTS: &[&str] = &[
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    "*.push.apple.com",
    "*.notify.windows.com",
];

impl ServerConfig {
    /// The SQLite database file inside `data_dir`.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("banter.sqlite3")
    }
}

/// Durations in config files are integer milliseconds.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}
