//! `direct`: users in 1:1 pairs, both sides sending, at a target total rate.
//!
//! Reports the achieved rate, send → ack (durable) and send → recipient
//! latency, and proves that every acknowledged message reached its
//! recipient exactly once.

use std::collections::HashMap;
use std::time::Duration;

use super::net::SourceAddresses;
use super::report::{round2, Report};
use super::seed::Setup;
use super::traffic::{self, Device, Plan};
use super::CommonArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Users (devices), paired 1:1; every user sends to its partner.
    #[arg(long, default_value_t = 2000)]
    users: usize,
    /// Target total messages per second, over all senders.
    #[arg(long, default_value_t = 20_000.0)]
    rate: f64,
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
}

pub async fn run(common: &CommonArgs, args: Args) -> anyhow::Result<Report> {
    anyhow::ensure!(args.users >= 2 && args.users.is_multiple_of(2), "--users must be even and at least 2");
    let setup = Setup::new(common).await?;
    let users = setup.users(args.users).await?;
    let pairs: Vec<_> = users.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
    let conversations = setup.directs(&pairs).await?;
    let target = setup.start(common).await?;

    let mut devices = Vec::with_capacity(users.len());
    for ((a, b), &conversation) in pairs.iter().zip(&conversations) {
        devices.push(Device { user: a.clone(), sends_to: Some(conversation) });
        devices.push(Device { user: b.clone(), sends_to: Some(conversation) });
    }
    let recipients: HashMap<_, _> = conversations.iter().map(|&c| (c, 1)).collect();
    let plan = Plan {
        devices,
        recipients,
        rate: args.rate,
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs_f64(args.duration),
        text_size: args.size,
        drain_timeout: Duration::from_secs(15),
        connect_concurrency: args.connect_concurrency,
    };
    let sources = SourceAddresses::for_server(&target.base_url, common.source_addresses);
    let out = traffic::run(&target.base_url, &sources, plan, common.quiet).await?;

    let mut report = Report::new("direct", target.describe());
    report
        .param("users", args.users)
        .param("pairs", args.users / 2)
        .param("rate", args.rate)
        .param("duration_s", args.duration)
        .param("warmup_s", args.warmup)
        .param("size", args.size);
    traffic::report_common(&mut report, &out);
    report
        .latency("publish_to_ack", "publish → ack (durable)", &out.ack)
        .latency("publish_to_recipient", "publish → recipient", &out.delivery)
        .latency("sender_lag", "sender lag behind schedule", &out.sender_lag)
        .latency("connect", "connect (TCP → hello)", &out.connect);
    if let Some(cpu) = target.cpu_seconds() {
        report.result("server_cpu_s", "server CPU time (whole run)", round2(cpu), "s");
        let system = target.system_cpu_seconds().unwrap_or(0.0);
        report.result("server_system_cpu_s", "  of which in the kernel", round2(system), "s");
    }
    if let Some(rss) = target.rss_bytes() {
        report.result("server_rss_mib", "server RSS at end", round2(rss as f64 / 1048576.0), "MiB");
    }
    target.stop();
    Ok(report)
}
