//! `banter serve`: configuration from flags, environment (`BANTER_*`) and an
//! optional TOML file, in that order of precedence over the defaults.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use banter_server::{Server, ServerConfig};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML file with any `ServerConfig` field (see README).
    #[arg(long, env = "BANTER_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "BANTER_LISTEN")]
    listen: Option<SocketAddr>,
    /// Directory for the database [default: ./banter-data].
    #[arg(long, env = "BANTER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Serve Prometheus metrics (`GET /metrics`) on this address, e.g.
    /// 10.0.0.5:9090 [default: not served].
    #[arg(long, env = "BANTER_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Extra Origin allowed to open WebSockets (repeatable).
    #[arg(long = "allow-origin", env = "BANTER_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Vec<String>,
    /// Close WebSockets silent for this many seconds.
    #[arg(long, env = "BANTER_IDLE_TIMEOUT_SECS")]
    idle_timeout_secs: Option<u64>,
    /// Cluster mode: PostgreSQL instead of the embedded SQLite
    /// (`postgres://user@host:5432/banter`). Several, comma-separated or
    /// repeated, are shards in a fixed order.
    #[arg(long = "database-url", env = "BANTER_DATABASE_URL", value_delimiter = ',')]
    database_urls: Vec<String>,
    /// Cluster mode: route to devices on other nodes through this NATS
    /// server (`nats://host:4222`).
    #[arg(long, env = "BANTER_NATS_URL")]
    nats_url: Option<String>,
    /// First token of this cluster's NATS subjects [default: banter].
    #[arg(long, env = "BANTER_NATS_SUBJECT_PREFIX")]
    nats_subject_prefix: Option<String>,
    /// PostgreSQL connections per shard on this node [default: 16].
    #[arg(long, env = "BANTER_DATABASE_POOL_SIZE")]
    database_pool_size: Option<u32>,
    /// Seconds without a frame from any device before a user shows offline.
    #[arg(long, env = "BANTER_PRESENCE_GRACE_SECS")]
    presence_grace_secs: Option<u64>,
    /// Load balancer / reverse proxy (address or CIDR) whose
    /// X-Forwarded-For is believed for per-address rate limits (repeatable).
    #[arg(long = "trusted-proxy", env = "BANTER_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// VAPID contact for Web Push (`mailto:` or `https:` URL).
    #[arg(long, env = "BANTER_PUSH_CONTACT")]
    push_contact: Option<String>,
}

impl ServeArgs {
    fn into_config(self) -> anyhow::Result<ServerConfig> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => ServerConfig::default(),
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(dir) = self.data_dir {
            config.data_dir = dir;
        }
        if self.metrics_listen.is_some() {
            config.metrics_listen = self.metrics_listen;
        }
        if !self.allowed_origins.is_empty() {
            config.allowed_origins = self.allowed_origins;
        }
        if let Some(secs) = self.idle_timeout_secs {
            config.idle_timeout = std::time::Duration::from_secs(secs);
        }
        if !self.database_urls.is_empty() {
            config.database_urls = self.database_urls;
        }
        if self.nats_url.is_some() {
            config.nats_url = self.nats_url;
        }
        if let Some(prefix) = self.nats_subject_prefix {
            config.nats_subject_prefix = prefix;
        }
        if let Some(size) = self.database_pool_size {
            config.database_pool_size = size;
        }
        if let Some(secs) = self.presence_grace_secs {
            config.presence_grace = std::time::Duration::from_secs(secs);
        }
        if !self.trusted_proxies.is_empty() {
            config.trusted_proxies = self.trusted_proxies;
        }
        if let Some(contact) = self.push_contact {
            config.push_contact = contact;
        }
        Ok(config)
    }
}

/// Runs until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.into_config()?;
    let server = Server::start(config).await.context("starting the server")?;
    // Machine-readable line for scripts and tests that start the binary.
    tracing::info!(url = %server.base_url(), "ready");
    wait_for_signal().await;
    server.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
