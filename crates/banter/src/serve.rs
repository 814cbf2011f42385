//! `banter serve` and `banter config`: the command line as the top layer of
//! the configuration (`banter_server::config::load` holds the layering:
//! defaults → file → environment → these flags).

use std::path::PathBuf;

use anyhow::Context;
use banter_server::{
    config::{self, ConfigSource},
    Server, ServerConfig,
};
use figment::{providers::Serialized, Figment};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    settings: SettingsArgs,
}

/// The settings the command line can give: any one with `--set`, the
/// common ones with a flag of their own. Each is a field of `ServerConfig`
/// (docs/CONFIGURATION.md); values are parsed the same way as in the file.
#[derive(Debug, clap::Args)]
pub struct SettingsArgs {
    /// TOML file with any setting (docs/CONFIGURATION.md).
    #[arg(long, env = "BANTER_CONFIG")]
    config: Option<PathBuf>,
    /// Any setting, as NAME=VALUE (repeatable): `--set idle_timeout=60s`,
    /// `--set account_http_limits.reads.burst=50`.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_setting)]
    set: Vec<(String, String)>,
    #[command(flatten)]
    flags: Flags,
}

/// Flags named after their setting; unset ones leave the layers below be.
#[derive(Debug, Default, clap::Args, Serialize)]
struct Flags {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<String>,
    /// Directory for the database [default: ./banter-data].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    /// Serve Prometheus metrics (`GET /metrics`) on this address, e.g.
    /// 10.0.0.5:9090 [default: not served].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics_listen: Option<String>,
    /// Extra Origin allowed to open WebSockets (repeatable).
    #[arg(long = "allow-origin", env = "BANTER_ALLOWED_ORIGINS", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allowed_origins: Vec<String>,
    /// Close WebSockets silent for this long, e.g. 60s [default: 45s].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    idle_timeout: Option<String>,
    /// Close a connection whose socket accepts no write, or which leaves its
    /// answers unread, for this long [default: 10s].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    write_timeout: Option<String>,
    /// Cluster mode: PostgreSQL instead of the embedded SQLite
    /// (`postgres://user@host:5432/banter`). Several, comma-separated or
    /// repeated, are shards in a fixed order.
    #[arg(long = "database-url", env = "BANTER_DATABASE_URL", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    database_urls: Vec<String>,
    /// Cluster mode: route to devices on other nodes through this NATS
    /// server (`nats://host:4222`).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    nats_url: Option<String>,
    /// First token of this cluster's NATS subjects [default: banter].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    nats_subject_prefix: Option<String>,
    /// How long a node's routing directory entries count without renewal [default: 20s].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster_node_lease: Option<String>,
    /// PostgreSQL connections per shard on this node [default: 16].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    database_pool_size: Option<u32>,
    /// How long without a frame from any device before a user shows
    /// offline [default: 30s].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_grace: Option<String>,
    /// Load balancer / reverse proxy (address or CIDR) whose
    /// X-Forwarded-For is believed for per-address rate limits (repeatable).
    #[arg(long = "trusted-proxy", env = "BANTER_TRUSTED_PROXIES", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    trusted_proxies: Vec<String>,
    /// Open HTTP connections (not yet WebSockets) per client address; 0 is
    /// no cap [default: 64].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_http_connections_per_address: Option<usize>,
    /// A session (device token) ends this long after login [default: 90d].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    session_max_age: Option<String>,
    /// A session unused for this long ends [default: 30d].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    session_idle_timeout: Option<String>,
    /// On SIGTERM, how long connections get to answer what they hold and
    /// close (1001) while health answers 503 [default: 5s].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    shutdown_drain_timeout: Option<String>,
    /// On SIGTERM, each client is told to reconnect after a random delay up
    /// to this, so they come back spread out [default: 10s].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    shutdown_reconnect_spread: Option<String>,
    /// VAPID contact for Web Push (`mailto:` or `https:` URL).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    push_contact: Option<String>,
    /// Host a push subscription may point at (repeatable; replaces the
    /// browsers' push services, the default).
    #[arg(long = "push-endpoint-host", env = "BANTER_PUSH_ENDPOINT_HOSTS", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    push_endpoint_hosts: Vec<String>,
}

/// `NAME=VALUE`; the value is TOML if it parses as such (`50`, `true`,
/// `["a", "b"]`), a string otherwise (`60s`, `postgres://…`).
fn parse_setting(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once('=').ok_or_else(|| format!("{text:?} is not NAME=VALUE"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("{text:?} has no setting name"));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// Variables of earlier versions that gave a number of seconds or days:
/// refused rather than silently ignored.
const RENAMED_VARIABLES: [(&str, &str); 5] = [
    ("BANTER_IDLE_TIMEOUT_SECS", "BANTER_IDLE_TIMEOUT=45s"),
    ("BANTER_WRITE_TIMEOUT_SECS", "BANTER_WRITE_TIMEOUT=10s"),
    ("BANTER_PRESENCE_GRACE_SECS", "BANTER_PRESENCE_GRACE=30s"),
    ("BANTER_SESSION_MAX_AGE_DAYS", "BANTER_SESSION_MAX_AGE=90d"),
    ("BANTER_SESSION_IDLE_TIMEOUT_DAYS", "BANTER_SESSION_IDLE_TIMEOUT=30d"),
];

impl SettingsArgs {
    /// The configuration from every layer, validated.
    pub(crate) fn load(self) -> anyhow::Result<ServerConfig> {
        for (old, new) in RENAMED_VARIABLES {
            if std::env::var_os(old).is_some() {
                anyhow::bail!("{old} is no longer read: durations take a unit now, e.g. {new}");
            }
        }
        let mut flags = Figment::from(Serialized::defaults(self.flags));
        for (name, value) in self.set {
            flags = flags.merge(Serialized::default(&name, setting_value(&value)));
        }
        Ok(config::load(ConfigSource { file: self.config, environment: true, flags })?)
    }
}

/// A `--set` value as the file would read it.
fn setting_value(text: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {text}")) {
        Ok(mut table) => table.remove("v").unwrap_or_else(|| toml::Value::String(text.to_owned())),
        Err(_) => toml::Value::String(text.to_owned()),
    }
}

/// Runs until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.settings.load()?;
    let server = Server::start(config).await.context("starting the server")?;
    // Machine-readable line for scripts and tests that start the binary.
    tracing::info!(url = %server.base_url(), "ready");
    let failure = tokio::select! {
        () = wait_for_signal() => None,
        failure = server.storage_failure() => Some(failure),
    };
    server.shutdown().await;
    match failure {
        // Exit non-zero so that systemd / the orchestrator restarts us.
        Some(failure) => Err(anyhow::anyhow!("storage failed, stopping: {failure}")),
        None => Ok(()),
    }
}

/// `banter config`: the configuration without running the server.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Print the configuration the layers give (credentials in URLs
    /// hidden), or everything wrong with it (exit 1).
    Check(Box<SettingsArgs>),
    /// Print the reference of every setting (docs/CONFIGURATION.md).
    Reference,
}

pub fn config_command(command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Check(settings) => print!("{}", settings.load()?.to_redacted_toml()),
        ConfigCommand::Reference => print!("{}", config::reference_markdown()),
    }
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
