//! What `direct` and `group` share: conversations whose members are all
//! online (one device each), some of them sending at a total rate over the
//! cluster's nodes, and the common part of their reports.
//!
//! The scenarios differ only in the shape of their conversations (pairs
//! vs. groups) and in a few figures of their own.

use std::collections::HashMap;
use std::time::Duration;

use super::cluster::Cluster;
use super::net::SourceAddresses;
use super::report::Report;
use super::seed::{BenchUser, Setup};
use super::traffic::{self, Device, Outcome, Plan};
use super::CommonArgs;

/// Load options both scenarios take (each has its own `--rate` default).
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Bytes of text per message.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Concurrent WebSocket handshakes while connecting.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// Seconds to wait, once sending stops, for the last acks and
    /// deliveries; sends still unanswered then are a problem of the run.
    #[arg(long, default_value_t = 15.0)]
    drain: f64,
    /// Seconds to measure the servers' idle CPU with every device
    /// connected, before sending: the report then also gives the CPU per
    /// delivery above that idle cost (0: not measured).
    #[arg(long, default_value_t = 0.0)]
    idle_baseline: f64,
}

/// The conversations of a run.
#[derive(Debug, Clone, Copy)]
pub enum Rooms {
    /// `pairs` 1:1 conversations, both sides sending.
    Direct { pairs: usize },
    /// `groups` groups of `members`, the first `senders` of each sending.
    Groups { groups: usize, members: usize, senders: usize },
}

impl Rooms {
    fn count(self) -> usize {
        match self {
            Rooms::Direct { pairs } => pairs,
            Rooms::Groups { groups, .. } => groups,
        }
    }

    fn members(self) -> usize {
        match self {
            Rooms::Direct { .. } => 2,
            Rooms::Groups { members, .. } => members,
        }
    }

    fn senders(self) -> usize {
        match self {
            Rooms::Direct { .. } => 2,
            Rooms::Groups { senders, .. } => senders,
        }
    }
}

/// A finished run, its servers still up (for their memory).
pub struct LiveRun {
    pub cluster: Cluster,
    pub out: Outcome,
    rate: f64,
    load: LoadArgs,
}

/// Seeds the users and conversations, starts the servers, runs the traffic.
pub async fn run(common: &CommonArgs, rooms: Rooms, rate: f64, load: &LoadArgs) -> anyhow::Result<LiveRun> {
    let setup = Setup::new(common).await?;
    let users = setup.users(rooms.count() * rooms.members()).await?;
    // Consecutive users share a conversation, so that with round-robin
    // placement its members sit on different nodes.
    let members: Vec<Vec<BenchUser>> = users.chunks(rooms.members()).map(<[_]>::to_vec).collect();
    let conversations = match rooms {
        Rooms::Direct { .. } => {
            let pairs: Vec<_> = members.iter().map(|p| (p[0].clone(), p[1].clone())).collect();
            setup.directs(&pairs).await?
        }
        Rooms::Groups { .. } => setup.groups(&members).await?,
    };
    let cluster = setup.start(common).await?;

    let mut devices = Vec::with_capacity(users.len());
    for (room, &conversation) in members.iter().zip(&conversations) {
        for (i, user) in room.iter().enumerate() {
            devices.push(Device { user: user.clone(), sends_to: (i < rooms.senders()).then_some(conversation) });
        }
    }
    let fan_out = (rooms.members() - 1) as u32;
    let recipients: HashMap<_, _> = conversations.iter().map(|&c| (c, fan_out)).collect();
    let plan = Plan {
        devices,
        recipients,
        rate,
        warmup: Duration::from_secs_f64(load.warmup),
        duration: Duration::from_secs_f64(load.duration),
        text_size: load.size,
        drain_timeout: Duration::from_secs_f64(load.drain),
        connect_concurrency: load.connect_concurrency,
        idle_baseline: Duration::from_secs_f64(load.idle_baseline.max(0.0)),
    };
    let sources = SourceAddresses::for_server(cluster.first_url(), common.source_addresses).transport(common.transport);
    let out = traffic::run(&cluster, &sources, plan, common.quiet).await?;
    Ok(LiveRun { cluster, out, rate, load: load.clone() })
}

impl LiveRun {
    /// The report: `own` adds the scenario's parameters and figures to the
    /// common ones; then the servers are stopped.
    pub fn finish(self, scenario: &'static str, own: impl FnOnce(&mut Report, &Outcome)) -> Report {
        let (cluster, out) = (self.cluster, self.out);
        let mut report = Report::new(scenario, cluster.describe());
        cluster.add_params(&mut report);
        report
            .param("rate", self.rate)
            .param("duration_s", self.load.duration)
            .param("warmup_s", self.load.warmup)
            .param("size", self.load.size)
            .param("transport", out.transport);
        traffic::report_common(&mut report, &out);
        report.latency("publish_to_ack", "publish → ack (durable)", &out.ack);
        own(&mut report, &out);
        // Same-node vs cross-node (through NATS): only where both can occur.
        if out.nodes > 1 {
            if out.delivery_same_node.count() > 0 {
                report.latency(
                    "publish_to_same_node_recipient",
                    "publish → recipient on the same node",
                    &out.delivery_same_node,
                );
            }
            report.latency(
                "publish_to_cross_node_recipient",
                "publish → recipient on another node",
                &out.delivery_cross_node,
            );
        }
        report.latency("sender_lag", "sender lag behind schedule", &out.sender_lag).latency(
            "connect",
            "connect (TCP → hello)",
            &out.connect,
        );
        cluster.report_usage(&mut report);
        cluster.stop();
        report
    }
}
