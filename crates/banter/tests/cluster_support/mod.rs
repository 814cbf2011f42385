//! Harness for the cluster tests: real `banter serve` processes on random
//! ports over a fresh PostgreSQL database and a NATS server (the shared one,
//! or one of the test's own that it can stop). Databases, service URLs and
//! frame waits come from the workspace's `banter-test-support`.
#![allow(dead_code)]

#[path = "../support/banter_process.rs"]
mod banter_process;

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use banter_protocol::{ConversationId, Message, ServerFrame};
use banter_process::BanterProcess;
use banter_sdk::{ApiClient, Connection, Session};

pub use banter_test_support::{frames::next_matching, nats_url, PASSWORD};
use banter_test_support::{postgres::TestDatabase, unique_name};

/// Presence grace of the test nodes: short, so "offline" comes quickly.
pub const PRESENCE_GRACE_SECS: u64 = 2;
/// Routing directory lease of the test nodes: short, so a dead node's
/// entries are swept within a test.
pub const NODE_LEASE_SECS: u64 = 3;

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

/// A nats-server of the test's own on a random port, for tests that stop it.
pub struct PrivateNats {
    port: u16,
    child: Option<Child>,
}

impl PrivateNats {
    pub fn start() -> PrivateNats {
        let mut nats = PrivateNats { port: free_port(), child: None };
        nats.start_again();
        nats
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on the same port and waits until it accepts.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("/usr/sbin/nats-server")
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/sbin/nats-server (run scripts/services-up to install it)");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nats-server did not start on port {}", self.port);
    }

    /// Kills the server (SIGKILL: nothing is flushed or handed over).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// One `banter serve` process and its (unused in cluster mode) data dir.
struct Node {
    process: BanterProcess,
    metrics_url: String,
    _data_dir: tempfile::TempDir,
}

impl Node {
    /// `settings` are `--set` arguments (`name=value`).
    fn start(database_url: &str, nats_url: &str, subject_prefix: &str, settings: &[String]) -> Node {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let metrics_addr = format!("127.0.0.1:{}", free_port());
        let process = BanterProcess::start_command(|command| {
            command
                .args(["--listen", "127.0.0.1:0", "--database-pool-size", "4"])
                .args(["--metrics-listen", &metrics_addr])
                .args(["--presence-grace", &format!("{PRESENCE_GRACE_SECS}s")])
                .args(["--cluster-node-lease", &format!("{NODE_LEASE_SECS}s")])
                .args(["--database-url", database_url, "--nats-url", nats_url, "--nats-subject-prefix", subject_prefix])
                .arg("--data-dir")
                .arg(data_dir.path());
            for setting in settings {
                command.args(["--set", setting.as_str()]);
            }
        });
        Node { process, metrics_url: format!("http://{metrics_addr}/metrics"), _data_dir: data_dir }
    }
}

/// Several nodes on one database and one NATS subject prefix.
pub struct Cluster {
    nodes: Vec<Option<Node>>,
    // Dropped after the nodes (field order), which hold connections to it.
    database: TestDatabase,
}

impl Cluster {
    /// `n` nodes on the shared NATS server.
    pub async fn start(n: usize) -> Cluster {
        Self::start_with_nats(n, &nats_url()).await
    }

    pub async fn start_with_nats(n: usize, nats_url: &str) -> Cluster {
        Self::start_with(n, nats_url, &[]).await
    }

    /// `n` nodes on the shared NATS server, each with the same `--set`
    /// `settings` (`name=value`).
    pub async fn start_with_settings(n: usize, settings: &[&str]) -> Cluster {
        Self::start_with(n, &nats_url(), settings).await
    }

    async fn start_with(n: usize, nats_url: &str, settings: &[&str]) -> Cluster {
        let settings: Vec<String> = settings.iter().map(|s| (*s).to_owned()).collect();
        let database = TestDatabase::create("banter_cluster").await;
        let prefix = unique_name("test");
        let (url, nats, prefix) = (database.url(), nats_url.to_owned(), prefix);
        // Started one after the other on a blocking thread: the first
        // applies the migrations, the others find them done.
        let nodes = tokio::task::spawn_blocking(move || {
            (0..n).map(|_| Some(Node::start(&url, &nats, &prefix, &settings))).collect::<Vec<_>>()
        })
        .await
        .expect("nodes start");
        Cluster { nodes, database }
    }

    pub fn url(&self, node: usize) -> String {
        self.nodes[node].as_ref().expect("node is running").process.url.clone()
    }

    /// The cluster's database, for tests that look at the routing
    /// directory's tables.
    pub fn database_url(&self) -> String {
        self.database.url()
    }

    /// The sum of one counter's samples on `node` (all label sets whose
    /// line starts with `series`, e.g. `banter_nats_received_messages_total{stream="router"}`).
    pub async fn metric(&self, node: usize, series: &str) -> f64 {
        let url = &self.nodes[node].as_ref().expect("node is running").metrics_url;
        let text = reqwest::get(url.as_str()).await.expect("metrics answer").text().await.expect("metrics text");
        text.lines()
            .filter(|line| line.starts_with(series))
            .filter_map(|line| line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum()
    }

    pub fn api(&self, node: usize) -> ApiClient {
        ApiClient::new(&self.url(node)).expect("api client")
    }

    /// Signs up a fresh user through `node`; the session talks to that node.
    pub async fn user(&self, node: usize, prefix: &str) -> Session {
        let name = format!("{prefix}{}", UNIQUE.fetch_add(1, Ordering::Relaxed));
        self.api(node).signup(&name, PASSWORD).await.expect("signup")
    }

    /// Another device of `session`'s user, logged in through `node`.
    pub async fn login(&self, node: usize, session: &Session) -> Session {
        self.api(node).login(&session.user.username, PASSWORD, Some("another device")).await.expect("login")
    }

    /// `kill -9` of one node.
    pub fn kill(&mut self, node: usize) {
        drop(self.nodes[node].take());
    }

    /// SIGTERM to one node; the task ends with its exit status (it must
    /// exit within 10 s).
    pub fn terminate(&mut self, node: usize) -> tokio::task::JoinHandle<std::process::ExitStatus> {
        let node = self.nodes[node].take().expect("node is running");
        tokio::task::spawn_blocking(move || {
            let Node { process, _data_dir, .. } = node;
            process.terminate()
        })
    }
}

/// The next live message, skipping other frames and warm-up probes.
pub async fn next_message(conn: &mut Connection) -> Message {
    next_matching(conn, |frame| match frame {
        ServerFrame::Message { message } if !message.text.starts_with(PROBE) => Some(message),
        _ => None,
    })
    .await
}

/// Waits for a `presence` frame saying `user_id` is online (skipping
/// `hello`'s snapshot, which may still say offline).
pub async fn told_online(conn: &mut Connection, user_id: banter_protocol::UserId) {
    next_matching(conn, |frame| match frame {
        ServerFrame::Presence { user_id: id, online: true, .. } if id == user_id => Some(()),
        _ => None,
    })
    .await
}

/// Pings `conn` (so it stays online itself) and reads until a `presence`
/// frame says `user_id` is offline; whether that came within `limit`.
pub async fn told_offline_within(conn: &mut Connection, user_id: banter_protocol::UserId, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        conn.ping().await.expect("ping");
        while let Ok(frame) = conn.next_frame_timeout(Duration::from_millis(200)).await {
            if matches!(frame, ServerFrame::Presence { user_id: id, online: false, .. } if id == user_id) {
                return true;
            }
        }
    }
    false
}

/// Reads until the server closes the connection; its close code.
pub async fn closed_code(conn: &mut Connection) -> Option<u16> {
    let e = banter_test_support::frames::closed(conn).await;
    assert!(e.is_closed(), "expected a close, got {e:?}");
    e.close_code()
}

const PROBE: &str = "probe ";

/// Waits until routing from `sender` reaches every receiver live.
///
/// A node subscribes to a user's subject when the user's first connection
/// arrives, a moment after the client sees `hello`; routing is best effort
/// and sync covers that moment. Tests about live delivery start after it:
/// probes are sent until each receiver has had one, and later reads skip
/// them.
pub async fn warm_up(sender: &mut Connection, conversation_id: ConversationId, receivers: &mut [&mut Connection]) {
    let mut warm = vec![false; receivers.len()];
    for attempt in 0..100 {
        sender.send_message(conversation_id, format!("{PROBE}{attempt}")).await.expect("probe sent");
        for (receiver, warm) in receivers.iter_mut().zip(warm.iter_mut()).filter(|(_, w)| !**w) {
            while let Ok(frame) = receiver.next_frame_timeout(Duration::from_millis(200)).await {
                if matches!(&frame, ServerFrame::Message { message } if message.text.starts_with(PROBE)) {
                    *warm = true;
                    break;
                }
            }
        }
        if warm.iter().all(|w| *w) {
            // Drain probes already on their way.
            for receiver in receivers.iter_mut() {
                while receiver.next_frame_timeout(Duration::from_millis(100)).await.is_ok() {}
            }
            return;
        }
    }
    panic!("cross-node routing never started");
}
