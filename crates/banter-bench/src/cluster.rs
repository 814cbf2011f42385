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
