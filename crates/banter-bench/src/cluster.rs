//! The servers under test, as one: one or more nodes ([`Target`]) and the
//! storage they share ([`Backend`]). A single embedded server is a cluster
//! of one.
//!
//! Clients are spread **round-robin**: client *i* talks to node *i mod N*.
//! The scenarios number a conversation's members consecutively, so the two
//! sides of a 1:1 pair are always on different nodes (every delivery
//! crosses nodes), and in a group (N − 1)/N of the deliveries do. The
//! traffic engine counts the deliveries that actually crossed.
//!
//! Server memory and CPU are read per node from `/proc` and summed; for a
//! PostgreSQL run, the CPU of the database's backend processes too.

use std::collections::HashMap;

use anyhow::Context;

use super::backend::Backend;
use super::database::backend_cpu_between;
use super::report::{round2, Report};
use super::target::{cpu_times, Target};
use super::CommonArgs;

/// The nodes of one run.
pub struct Cluster {
    nodes: Vec<Target>,
    /// Declared after `nodes`, so dropped after they have stopped: the
    /// database (or data dir) must outlive the servers using it.
    backend: Option<Backend>,
}

impl Cluster {
    /// The servers at `--url` (one or more), with `--server-pid`s in the
    /// same order when given.
    pub fn external(common: &CommonArgs) -> Cluster {
        let nodes = common
            .url
            .iter()
            .enumerate()
            .map(|(i, url)| Target::external(url, common.server_pid.get(i).copied()))
            .collect();
        Cluster { nodes, backend: None }
    }

    /// Starts `--nodes` child servers on `backend` (already seeded), one
    /// after the other.
    pub async fn start(common: &CommonArgs, backend: Backend) -> anyhow::Result<Cluster> {
        if let Some(database) = backend.database() {
            database.make_durable().await?;
        }
        let args = backend.serve_args();
        let mut nodes = Vec::with_capacity(common.nodes);
        for i in 0..common.nodes {
            nodes.push(Target::start_child(common, &args).with_context(|| format!("starting node {i}"))?);
        }
        Ok(Cluster { nodes, backend: Some(backend) })
    }

    /// Each node's NATS counters now (from its `/metrics`).
    pub async fn nats_snapshot(&self) -> NatsSnapshot {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build().ok();
        let mut nodes = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            let read = async {
                let (client, url) = (client.as_ref()?, node.metrics_url.as_ref()?);
                let text = client.get(url).send().await.ok()?.text().await.ok()?;
                Some(NatsCounters::parse(&text))
            };
            nodes.push(read.await);
        }
        NatsSnapshot { nodes, at: std::time::Instant::now() }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The node client number `client` talks to.
    pub fn node_of_client(&self, client: usize) -> usize {
        client % self.nodes.len()
    }

    /// The base URL client number `client` talks to.
    pub fn url_of_client(&self, client: usize) -> &str {
        &self.nodes[self.node_of_client(client)].base_url
    }

    /// Node 0's base URL (seeding through the API, source addresses).
    pub fn first_url(&self) -> &str {
        &self.nodes[0].base_url
    }

    /// Where the servers run, for the report.
    pub fn describe(&self) -> String {
        let urls: Vec<&str> = self.nodes.iter().map(|n| n.base_url.as_str()).collect();
        match &self.backend {
            None => urls.join(", "),
            Some(Backend::Sqlite(_)) if self.nodes.len() == 1 => {
                format!("embedded banter serve (child process) at {}", urls[0])
            }
            Some(backend) => format!(
                "{} banter serve node(s) (child processes) on {} at {}",
                self.nodes.len(),
                backend.describe(),
                urls.join(", ")
            ),
        }
    }

    /// The parameters every scenario reports: how many nodes, which storage.
    pub fn add_params(&self, report: &mut Report) {
        report.param("nodes", self.nodes.len());
        let storage = self.backend.as_ref().map_or("external", Backend::storage);
        report.param("storage", storage);
    }

    /// Resident memory of each node, when its process is known.
    pub fn rss_bytes(&self) -> Vec<Option<u64>> {
        self.nodes.iter().map(Target::rss_bytes).collect()
    }

    /// The CPU used so far by each node and by the database's backends.
    pub async fn cpu_snapshot(&self) -> CpuSnapshot {
        let database = match self.backend.as_ref().and_then(Backend::database) {
            Some(db) => Some(db.backend_cpu().await),
            None => None,
        };
        CpuSnapshot { nodes: self.nodes.iter().map(|n| n.pid.and_then(cpu_times)).collect(), database }
    }

    /// Per-node and summed CPU (whole run) and memory (now): `server_*`
    /// keys are sums over the nodes, `node<i>_*` each node's share.
    pub fn report_usage(&self, report: &mut Report) {
        let cpu: Vec<Option<(f64, f64)>> = self.nodes.iter().map(|n| n.pid.and_then(cpu_times)).collect();
        if cpu.iter().all(Option::is_some) {
            let user: f64 = cpu.iter().flatten().map(|c| c.0).sum();
            let system: f64 = cpu.iter().flatten().map(|c| c.1).sum();
            report.result("server_cpu_s", "server CPU time (whole run, all nodes)", round2(user + system), "s");
            report.result("server_system_cpu_s", "  of which in the kernel", round2(system), "s");
            if self.nodes.len() > 1 {
                for (i, (user, system)) in cpu.iter().flatten().enumerate() {
                    report.result(&format!("node{i}_cpu_s"), &format!("  node {i}"), round2(user + system), "s");
                }
            }
        }
        let rss = self.rss_bytes();
        if rss.iter().all(Option::is_some) {
            let mib = |b: u64| round2(b as f64 / 1048576.0);
            report.result("server_rss_mib", "server RSS at end (all nodes)", mib(rss.iter().flatten().sum()), "MiB");
            if self.nodes.len() > 1 {
                for (i, bytes) in rss.iter().flatten().enumerate() {
                    report.result(&format!("node{i}_rss_mib"), &format!("  node {i}"), mib(*bytes), "MiB");
                }
            }
        }
    }

    /// Stops the child servers (a `--url` server is left running), then
    /// drops the run's database.
    pub fn stop(mut self) {
        for node in &mut self.nodes {
            node.stop_child();
        }
    }
}

/// NATS traffic each node has received so far (its own counters), for
/// [`NatsSnapshot::since`]. `None` for a node without metrics (`--url`).
pub struct NatsSnapshot {
    nodes: Vec<Option<NatsCounters>>,
    at: std::time::Instant,
}

/// Messages and bytes a node received over NATS, by stream.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NatsCounters {
    pub router_messages: f64,
    pub router_bytes: f64,
    pub presence_messages: f64,
    pub presence_bytes: f64,
}

impl NatsCounters {
    /// Reads the counters from a Prometheus text page.
    fn parse(text: &str) -> NatsCounters {
        let sum = |series: &str| -> f64 {
            text.lines()
                .filter(|line| line.starts_with(series))
                .filter_map(|line| line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
                .sum()
        };
        NatsCounters {
            router_messages: sum("banter_nats_received_messages_total{stream=\"router\"}"),
            router_bytes: sum("banter_nats_received_bytes_total{stream=\"router\"}"),
            presence_messages: sum("banter_nats_received_messages_total{stream=\"presence\"}"),
            presence_bytes: sum("banter_nats_received_bytes_total{stream=\"presence\"}"),
        }
    }

    fn minus(self, earlier: NatsCounters) -> NatsCounters {
        NatsCounters {
            router_messages: self.router_messages - earlier.router_messages,
            router_bytes: self.router_bytes - earlier.router_bytes,
            presence_messages: self.presence_messages - earlier.presence_messages,
            presence_bytes: self.presence_bytes - earlier.presence_bytes,
        }
    }
}

/// NATS traffic received between two snapshots, per node.
#[derive(Debug, Clone)]
pub struct NatsUse {
    pub nodes: Vec<NatsCounters>,
    pub seconds: f64,
}

impl NatsSnapshot {
    /// `None` unless every node's counters were read both times.
    pub fn since(&self, earlier: &NatsSnapshot) -> Option<NatsUse> {
        let nodes = self.nodes.iter().zip(&earlier.nodes).map(|(now, then)| Some(now.as_ref()?.minus(*then.as_ref()?)));
        Some(NatsUse { nodes: nodes.collect::<Option<Vec<_>>>()?, seconds: self.at.duration_since(earlier.at).as_secs_f64() })
    }
}

impl NatsUse {
    /// Per node and on average per node: NATS messages and bytes received
    /// per second, router and presence apart. Reported for clusters only
    /// (a single node has no NATS traffic).
    pub fn report(&self, report: &mut Report) {
        if self.nodes.len() < 2 || self.seconds <= 0.0 {
            return;
        }
        let n = self.nodes.len() as f64;
        let rate = |f: fn(&NatsCounters) -> f64, c: &NatsCounters| round2(f(c) / self.seconds);
        let mean = |f: fn(&NatsCounters) -> f64| round2(self.nodes.iter().map(f).sum::<f64>() / n / self.seconds);
        let router_total: f64 = self.nodes.iter().map(|c| c.router_messages).sum();
        report
            .result("nats_router_messages", "NATS router messages received (all nodes)", router_total, "")
            .result("nats_router_msgs_per_s_per_node", "NATS received per node: router messages", mean(|c| c.router_messages), "msg/s")
            .result("nats_router_kib_per_s_per_node", "  router", mean(|c| c.router_bytes / 1024.0), "KiB/s")
            .result("nats_presence_msgs_per_s_per_node", "  presence messages", mean(|c| c.presence_messages), "msg/s")
            .result("nats_presence_kib_per_s_per_node", "  presence", mean(|c| c.presence_bytes / 1024.0), "KiB/s");
        for (i, c) in self.nodes.iter().enumerate() {
            report
                .result(&format!("node{i}_nats_router_msgs_per_s"), &format!("  node {i}: router"), rate(|c| c.router_messages, c), "msg/s")
                .result(&format!("node{i}_nats_router_kib_per_s"), "    router", rate(|c| c.router_bytes / 1024.0, c), "KiB/s")
                .result(&format!("node{i}_nats_presence_msgs_per_s"), "    presence", rate(|c| c.presence_messages, c), "msg/s")
                .result(&format!("node{i}_nats_presence_kib_per_s"), "    presence", rate(|c| c.presence_bytes / 1024.0, c), "KiB/s");
        }
    }
}

/// CPU seconds used so far, for [`CpuSnapshot::since`].
pub struct CpuSnapshot {
    /// (user, system) per node; `None` when the process is unknown.
    nodes: Vec<Option<(f64, f64)>>,
    /// Per PostgreSQL backend process of the run's database.
    database: Option<HashMap<u32, f64>>,
}

/// CPU used between two snapshots.
#[derive(Debug, Clone)]
pub struct CpuUse {
    /// User + system seconds per node (`None`: process unknown).
    pub nodes: Vec<Option<f64>>,
    /// Kernel seconds summed over the nodes.
    pub nodes_system: f64,
    /// The database's backend processes (PostgreSQL runs only).
    pub database: Option<f64>,
}

impl CpuUse {
    /// Summed over the nodes, if every node's process is known.
    pub fn nodes_total(&self) -> Option<f64> {
        self.nodes.iter().copied().sum()
    }
}

impl CpuSnapshot {
    pub fn since(&self, earlier: &CpuSnapshot) -> CpuUse {
        let pairs = self.nodes.iter().copied().zip(earlier.nodes.iter().copied());
        let nodes = pairs.clone().map(|(now, then)| Some(now?.0 + now?.1 - then?.0 - then?.1)).collect();
        let nodes_system = pairs.filter_map(|(now, then)| Some(now?.1 - then?.1)).sum();
        let database = match (&self.database, &earlier.database) {
            (Some(now), Some(then)) => Some(backend_cpu_between(then, now)),
            _ => None,
        };
        CpuUse { nodes, nodes_system, database }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_counters_are_read_by_stream_and_subtracted_per_node() {
        let page = "# TYPE banter_nats_received_messages_total counter\n\
            banter_nats_received_messages_total{stream=\"router\"} 10\n\
            banter_nats_received_messages_total{stream=\"presence\"} 4\n\
            banter_nats_received_bytes_total{stream=\"router\"} 2048\n\
            banter_nats_received_bytes_total{stream=\"presence\"} 100\n";
        let counters = NatsCounters::parse(page);
        assert_eq!(
            counters,
            NatsCounters { router_messages: 10.0, router_bytes: 2048.0, presence_messages: 4.0, presence_bytes: 100.0 }
        );
        let at = std::time::Instant::now();
        let then = NatsSnapshot { nodes: vec![Some(NatsCounters::default()), Some(counters)], at };
        let now = NatsSnapshot { nodes: vec![Some(counters), Some(counters)], at: at + std::time::Duration::from_secs(2) };
        let used = now.since(&then).expect("both read");
        assert_eq!(used.nodes, vec![counters, NatsCounters::default()]);
        assert_eq!(used.seconds, 2.0);
        let unread = NatsSnapshot { nodes: vec![None, Some(counters)], at };
        assert!(now.since(&unread).is_none());
    }

    #[test]
    fn cpu_use_is_the_difference_per_node_and_unknown_nodes_make_the_sum_unknown() {
        let then = CpuSnapshot { nodes: vec![Some((1.0, 0.5)), Some((2.0, 1.0))], database: None };
        let now = CpuSnapshot { nodes: vec![Some((1.5, 1.0)), Some((2.25, 1.25))], database: None };
        let used = now.since(&then);
        assert_eq!(used.nodes, vec![Some(1.0), Some(0.5)]);
        assert_eq!(used.nodes_total(), Some(1.5));
        assert!((used.nodes_system - 0.75).abs() < 1e-9);
        let unknown = CpuSnapshot { nodes: vec![Some((1.5, 1.0)), None], database: None };
        assert_eq!(unknown.since(&then).nodes_total(), None);
    }
}
