//! Server configuration: one typed struct, [`ServerConfig`], with defaults
//! that work out of the box. It is the one place that lists every setting:
//!
//! * `load.rs` layers it: defaults → TOML file → `BANTER_*` environment →
//!   command-line flags, each layer overriding the one before;
//! * `validate.rs` refuses impossible combinations at start, all of them in
//!   one message;
//! * `reference.rs` renders docs/CONFIGURATION.md from the doc comments
//!   below (a test keeps the file in step with the code);
//! * `duration.rs`: durations are written with their unit (`"45s"`).
//!
//! Tests and embedders build the struct directly (temp data dir, port 0);
//! [`Server::start`](crate::Server::start) validates it either way.

mod duration;
mod load;
mod reference;
mod validate;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use load::{load, setting_names, ConfigError, ConfigSource, LIST_SETTINGS};
pub use reference::reference_markdown;
pub use validate::InvalidConfig;

/// Everything `banter serve` can be told. Each field is also a TOML key, a
/// `BANTER_<FIELD>` environment variable and a `--set <field>=<value>`
/// flag (docs/CONFIGURATION.md lists them all).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. Port 0 picks a free port.
    #[schemars(with = "String")]
    pub listen: SocketAddr,
    /// Directory for the SQLite database (created if missing).
    pub data_dir: PathBuf,
    /// Where to serve Prometheus metrics (`GET /metrics`), on a listener of
    /// its own so it stays off the public port. None: not served.
    #[schemars(with = "Option<String>")]
    pub metrics_listen: Option<SocketAddr>,
    /// Origins (e.g. `https://chat.example.com`) allowed to open WebSockets in
    /// addition to the server's own origin. Requests without an Origin header
    /// (native clients) are allowed; they still need a token.
    pub allowed_origins: Vec<String>,
    /// Clients should send a frame at least this often.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub heartbeat_interval: Duration,
    /// A WebSocket silent for this long is closed.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub idle_timeout: Duration,
    /// Frames per connection the server keeps queued for a device before it
    /// disconnects it as a slow consumer.
    pub outbound_queue_frames: usize,
    /// Bytes per connection the server keeps queued (or being written) for
    /// a device before it disconnects it as a slow consumer (close 4008).
    /// The default, 4 MiB, holds the largest frame the server sends (a sync
    /// batch: 1 MiB of text, at most doubled by JSON escaping, ~2.1 MiB)
    /// with room to spare, so a page always fits; a smaller value still
    /// lets one such frame through when nothing else is queued.
    pub outbound_queue_bytes: usize,
    /// A socket write (or flush) that the peer does not accept within this
    /// time closes the connection, and an answer (`ack`, `error`,
    /// `sync_batch`, `pong`) that finds no room in the outbound queue
    /// within it closes the connection with 4008. Also bounds how long the
    /// close frame may take to go out.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub write_timeout: Duration,
    /// Sustained frames per second per connection.
    pub frames_per_second: u32,
    /// Frames a connection may send at once above `frames_per_second`.
    pub frames_burst: u32,
    /// Sustained frames per second per account over all its connections.
    pub account_frames_per_second: u32,
    /// Frames an account may send at once above `account_frames_per_second`.
    pub account_frames_burst: u32,
    /// A connection is closed with 4029 when more than this many of its
    /// frames were refused (`rate_limited`) within `frames_refusal_window`,
    /// however many were accepted in between: a flood ends, while a client
    /// that waits `retry_after_ms` when told is refused a few frames at most.
    pub frames_refused_before_close: u32,
    /// The window over which `frames_refused_before_close` is counted.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub frames_refusal_window: Duration,
    /// Login attempts per minute per username and client address (one
    /// address guessing one account's password).
    pub login_attempts_per_minute_per_user_and_address: u32,
    /// Login attempts per minute per username from all addresses together
    /// (distributed guessing). Once spent, only addresses that have logged
    /// in to that account before may still try, so an attacker cannot lock
    /// the owner out (see SECURITY.md, "Login throttling").
    pub login_attempts_per_minute_per_user: u32,
    /// Login attempts per minute per client address (guessing across many
    /// usernames).
    pub login_attempts_per_minute_per_address: u32,
    /// Accounts created per hour per client address (account-creation spam).
    pub signups_per_hour_per_address: u32,
    /// Per-account budgets of the signed-in HTTP endpoints, by class
    /// (`429 rate_limited` with `Retry-After` once spent).
    pub account_http_limits: AccountHttpLimits,
    /// Load balancers / reverse proxies (addresses or CIDR networks) whose
    /// `X-Forwarded-For` is believed when working out a client's address for
    /// the per-address limits. Empty: the socket's peer is the client.
    /// Their own connections are not capped by
    /// `max_http_connections_per_address` (they carry many clients).
    /// A plain address (`10.0.0.5`) means that one host.
    #[serde(deserialize_with = "ip_nets")]
    #[schemars(with = "Vec<String>")]
    pub trusted_proxies: Vec<IpNet>,
    /// Open HTTP connections per client (socket peer) address, counted from
    /// accept until the connection closes or becomes a WebSocket (which only
    /// happens after its token was checked). A connection over the cap is
    /// answered 429 if the socket takes it at once, and closed. 0: no cap.
    pub max_http_connections_per_address: usize,
    /// A device's session (its token) ends this long after login, however
    /// much it is used: a stolen token is worth this much at most.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub session_max_age: Duration,
    /// A session not used for this long ends (a lost or abandoned device).
    /// Use is recorded at most once a minute (or every tenth of this, if
    /// shorter).
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub session_idle_timeout: Duration,
    /// How often each node re-checks the sessions of its connected devices
    /// (one batched read) and removes expired ones: the longest a revoked or
    /// expired device keeps a socket on a node that missed the revocation
    /// event (NATS is best effort).
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub session_check_interval: Duration,
    /// Concurrent password hashes (argon2id is deliberately expensive).
    /// Unset: one per CPU.
    pub max_concurrent_password_hashes: Option<usize>,
    /// `sync` requests this node runs against storage at once; more wait
    /// their turn (at most `sync_queue_timeout`). After a node dies its
    /// clients reconnect to the others together and each syncs: this keeps
    /// that storm from taking every database connection from sends.
    pub max_concurrent_syncs: u32,
    /// How long a `sync` waits for its turn before it is answered
    /// `storage_unavailable` (with `retry_after_ms`).
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub sync_queue_timeout: Duration,
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
    /// (`<prefix>.node.<id>`, `<prefix>.presence.<node>`), so several
    /// clusters (or test runs) can share one NATS server.
    pub nats_subject_prefix: String,
    /// Cluster mode: how long a node's entries in the routing directory
    /// count without a renewal (renewed, and expired nodes swept, every
    /// third of it). A node that dies is sent frames for its users, which
    /// nobody receives, for at most this long, and its users go offline
    /// within 4/3 of it (20 s: within the default presence grace).
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub cluster_node_lease: Duration,
    /// A connection must send a complete request head within this time
    /// (first request and between keep-alive requests), or it is closed:
    /// slowloris and idle unauthenticated sockets cost nothing for long.
    /// It is also the idle keep-alive deadline.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub http_header_timeout: Duration,
    /// Once its head is in, a request's body must arrive and its answer be
    /// ready within this time, or it is answered `408 request_timeout` and
    /// the connection closed: a body trickled in byte by byte holds a
    /// connection for at most `http_header_timeout + http_request_timeout`.
    /// WebSockets are not cut by it once upgraded.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub http_request_timeout: Duration,
    /// A user goes offline once none of their devices has sent anything for
    /// this long (a brief network drop does not flap their presence).
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub presence_grace: Duration,
    /// Push: hosts a push subscription's endpoint may point at. `*.example.com`
    /// matches subdomains. Endpoints must be https, except on a loopback
    /// address listed here (tests). This keeps the server from being used to
    /// send requests to arbitrary internal hosts (SSRF).
    pub push_endpoint_hosts: Vec<String>,
    /// Push: the VAPID `sub` contact (a `mailto:` or `https:` URL).
    pub push_contact: String,
    /// Push: subscriptions one device may register (each is a URL the
    /// server will POST to).
    pub push_subscriptions_per_device: u32,
    /// Push: subscriptions one account may register over all its devices.
    pub push_subscriptions_per_user: u32,
    /// Users one account may block (`PUT /blocks/{user_id}` beyond it:
    /// `409 too_many_blocks`). Bounds the block list and the checks that
    /// read it.
    pub max_blocked_users: u32,
    /// Graceful shutdown: how long connections may take to answer what they
    /// hold (the send being stored is acked if it commits; the rest get
    /// `shutting_down`) and close with 1001, while `/health` answers 503.
    /// Connections still open then are closed at once.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub shutdown_drain_timeout: Duration,
    /// Graceful shutdown: each connection, before its 1001 close, is told
    /// to reconnect after a random delay up to this (`error`
    /// `shutting_down` with `retry_after_ms`), so a node's clients come
    /// back to the others spread over this window rather than all at
    /// once. `0s`: no hint.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub shutdown_reconnect_spread: Duration,
    /// A node lost without warning (killed, crashed, cut off): its clients
    /// find out together. `hello` tells each connection to spread its
    /// first reconnect after such a loss over `reconnect_spread_ms` = the
    /// node's connections at that moment ÷ this rate (connections per
    /// second), at most `reconnect_spread_max`, so they come back and sync
    /// at about this pace. 0: no spread (reconnect at once).
    pub reconnect_spread_rate: u32,
    /// The longest `reconnect_spread_ms` announced in `hello`: the worst
    /// extra wait for a client of a lost node (or of a lost network).
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub reconnect_spread_max: Duration,
    /// Push: attempts per notification, the first try included.
    pub push_max_attempts: u32,
    /// Push: the delay before the first retry (doubling each time).
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub push_retry_base: Duration,
    /// Native push (FCM, Android): the Google service-account key file (the
    /// JSON downloaded from the Firebase console: `project_id`,
    /// `client_email`, `private_key`, `token_uri`). None: FCM tokens are
    /// refused (`push_provider_not_configured`). An unreadable or malformed
    /// file stops the server at start.
    #[schemars(with = "Option<String>")]
    pub fcm_service_account_file: Option<PathBuf>,
    /// Native push (FCM): the API's base URL.
    pub fcm_api_url: String,
    /// Native push (APNs, iOS): the `.p8` signing key file from the Apple
    /// developer account. Set `apns_key_file`, `apns_key_id`, `apns_team_id`
    /// and `apns_topic` together, or none of them (APNs tokens are then
    /// refused with `push_provider_not_configured`).
    #[schemars(with = "Option<String>")]
    pub apns_key_file: Option<PathBuf>,
    /// Native push (APNs): the key's 10-character id.
    pub apns_key_id: Option<String>,
    /// Native push (APNs): the 10-character team id.
    pub apns_team_id: Option<String>,
    /// Native push (APNs): the app's bundle id (`apns-topic`).
    pub apns_topic: Option<String>,
    /// Native push (APNs): the API's base URL. Production; apps built for
    /// development register sandbox tokens, which need
    /// `https://api.sandbox.push.apple.com`.
    pub apns_api_url: String,
    /// Native push: put the message's text preview in FCM and APNs
    /// notifications. Off by default: unlike Web Push, these payloads are
    /// not end-to-end encrypted, so Google and Apple would read the text;
    /// without it they carry ids and names, and the app syncs the message.
    pub native_push_include_text: bool,
    /// How long after sending its sender may edit a message (`edit`
    /// frames); later edits are refused with `edit_window_closed`.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub edit_window: Duration,
    /// How long after sending its sender may delete a message for everyone.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub delete_window: Duration,
    /// Most edits of one message; one more is refused with `too_many_edits`.
    pub max_edits: u32,
}

/// The limits on edits and deletes by default.
const RULES: banter_store::ChangeRules = banter_store::ChangeRules::DEFAULT;

fn window(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
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
            outbound_queue_bytes: 4 * 1024 * 1024,
            write_timeout: Duration::from_secs(10),
            frames_per_second: 200,
            frames_burst: 400,
            account_frames_per_second: 400,
            account_frames_burst: 800,
            frames_refused_before_close: 100,
            frames_refusal_window: Duration::from_secs(10),
            login_attempts_per_minute_per_user_and_address: 10,
            login_attempts_per_minute_per_user: 30,
            login_attempts_per_minute_per_address: 120,
            signups_per_hour_per_address: 60,
            account_http_limits: AccountHttpLimits::default(),
            trusted_proxies: Vec::new(),
            max_http_connections_per_address: 64,
            session_max_age: Duration::from_secs(90 * DAY_SECS),
            session_idle_timeout: Duration::from_secs(30 * DAY_SECS),
            session_check_interval: Duration::from_secs(60),
            max_concurrent_password_hashes: None,
            max_concurrent_syncs: 8,
            sync_queue_timeout: Duration::from_secs(10),
            database_urls: Vec::new(),
            database_pool_size: 16,
            nats_url: None,
            nats_subject_prefix: "banter".to_owned(),
            cluster_node_lease: Duration::from_secs(20),
            http_header_timeout: Duration::from_secs(10),
            http_request_timeout: Duration::from_secs(30),
            presence_grace: Duration::from_secs(30),
            push_endpoint_hosts: DEFAULT_PUSH_ENDPOINT_HOSTS.iter().map(|h| h.to_string()).collect(),
            push_contact: "mailto:admin@localhost".to_owned(),
            push_subscriptions_per_device: 5,
            push_subscriptions_per_user: 20,
            max_blocked_users: 10_000,
            shutdown_drain_timeout: Duration::from_secs(5),
            shutdown_reconnect_spread: Duration::from_secs(10),
            reconnect_spread_rate: 1_000,
            reconnect_spread_max: Duration::from_secs(30),
            push_max_attempts: 4,
            push_retry_base: Duration::from_secs(2),
            fcm_service_account_file: None,
            fcm_api_url: crate::push::fcm::FCM_API.to_owned(),
            apns_key_file: None,
            apns_key_id: None,
            apns_team_id: None,
            apns_topic: None,
            apns_api_url: crate::push::apns::APNS_API.to_owned(),
            native_push_include_text: false,
            // The one place the numbers are written: ChangeRules::default.
            edit_window: window(RULES.edit_window_ms),
            delete_window: window(RULES.delete_window_ms),
            max_edits: RULES.max_edits,
        }
    }
}

/// A token bucket: `per_minute` sustained, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
}

impl Budget {
    pub const fn new(per_minute: u32, burst: u32) -> Self {
        Budget { per_minute, burst }
    }
}

/// Per-account budgets of the signed-in HTTP endpoints, one per class of
/// endpoint (the table in SECURITY.md lists which endpoint is in which).
/// Sized so the web client never meets them in normal use; a script that
/// hammers an endpoint does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AccountHttpLimits {
    /// Reads: profile, conversation list and details, history pages,
    /// receipts, presence, search.
    pub reads: Budget,
    /// Finding users: `GET /users/{username}` and starting a direct
    /// conversation (both tell whether an account exists). Tight, against
    /// enumeration; the burst lets the web client resolve a group's names.
    pub lookups: Budget,
    /// The same lookups counted per client address over all accounts
    /// (accounts are cheap to make; addresses less so).
    pub lookups_per_address: Budget,
    /// Creating groups, adding and removing members.
    pub membership: Budget,
    /// Read markers and mute switches.
    pub updates: Budget,
    /// Display-name changes.
    pub profile: Budget,
    /// The device list, removing a device, logging out.
    pub sessions: Budget,
    /// Registering and removing push subscriptions.
    pub push: Budget,
}

impl Default for AccountHttpLimits {
    fn default() -> Self {
        AccountHttpLimits {
            reads: Budget::new(600, 300),
            lookups: Budget::new(4, 100),
            lookups_per_address: Budget::new(20, 300),
            membership: Budget::new(10, 20),
            updates: Budget::new(120, 120),
            profile: Budget::new(10, 10),
            sessions: Budget::new(30, 30),
            push: Budget::new(10, 10),
        }
    }
}
const DAY_SECS: u64 = 24 * 60 * 60;

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

    /// The limits on edits and deletes, as the store applies them.
    pub fn change_rules(&self) -> banter_store::ChangeRules {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        banter_store::ChangeRules {
            edit_window_ms: ms(self.edit_window),
            delete_window_ms: ms(self.delete_window),
            max_edits: self.max_edits,
        }
    }

    /// `max_concurrent_password_hashes`, or one per CPU when unset.
    pub fn password_hash_concurrency(&self) -> usize {
        self.max_concurrent_password_hashes
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
            .max(1)
    }

    /// This configuration as TOML, with the credentials in database and
    /// NATS URLs replaced by `***` (`banter config check` prints it).
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database_urls = shown.database_urls.iter().map(|u| redacted_url(u)).collect();
        shown.nats_url = shown.nats_url.as_deref().map(redacted_url);
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot show the configuration: {e}\n"))
    }
}

/// `url` with any password (and user name) replaced by `***`, for logs and
/// error messages: database and NATS URLs may carry credentials, and logs
/// travel further than the config file. A NATS server list
/// (`nats://a:4222,nats://b:4222`) is redacted entry by entry; anything
/// that does not parse as a URL is shown only by its scheme.
pub fn redacted_url(url: &str) -> String {
    url.split(',')
        .map(|part| match url::Url::parse(part.trim()) {
            Ok(mut parsed) => {
                if parsed.password().is_some() {
                    let _ = parsed.set_password(Some("***"));
                }
                if !parsed.username().is_empty() && parsed.password().is_none() {
                    // A lone user name may be a token (NATS `nats://token@host`).
                    let _ = parsed.set_username("***");
                }
                parsed.to_string()
            }
            Err(_) => format!("{}://<unparsable>", part.split("://").next().unwrap_or("?")),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses a network in CIDR form (`10.0.0.0/8`) or a single address
/// (`10.0.0.5`, meaning `/32`; `::1` meaning `/128`).
pub fn parse_ip_net(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is neither an IP address nor a CIDR network (e.g. 10.0.0.0/8)"))
}

fn ip_nets<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?.iter().map(|t| parse_ip_net(t).map_err(serde::de::Error::custom)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_take_single_addresses_and_networks() {
        assert_eq!(parse_ip_net("127.0.0.1").unwrap().to_string(), "127.0.0.1/32");
        assert_eq!(parse_ip_net("::1").unwrap().to_string(), "::1/128");
        assert_eq!(parse_ip_net("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert!(parse_ip_net("proxy.local").unwrap_err().contains("neither an IP address nor a CIDR"));
        let config: ServerConfig = toml::from_str(r#"trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]"#).unwrap();
        assert_eq!(config.trusted_proxies.len(), 2);
        assert!(toml::from_str::<ServerConfig>(r#"trusted_proxies = ["nope"]"#).is_err());
    }

    #[test]
    fn credentials_in_urls_are_redacted_for_logs() {
        assert_eq!(redacted_url("postgres://banter:s3cret@db:5432/banter"), "postgres://banter:***@db:5432/banter");
        assert_eq!(redacted_url("nats://tok3n@127.0.0.1:4222"), "nats://***@127.0.0.1:4222");
        assert_eq!(
            redacted_url("nats://u:p@a:4222,nats://b:4222"),
            "nats://u:***@a:4222,nats://b:4222"
        );
        assert_eq!(redacted_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(redacted_url("postgres://u:s3cret@[::1:5432/x"), "postgres://<unparsable>");
    }
}
