//! `group`: groups of (by default) 100 members, every member online on one
//! device, some members sending at a target total rate.
//!
//! Each message is delivered to every other member's device, so deliveries
//! per second = rate × (members − 1). Reports deliveries/s, send → each
//! recipient and send → last recipient (the slowest device of the group),
//! and proves every delivery happened exactly once.

use std::collections::HashMap;
use std::time::Duration;

use super::net::SourceAddresses;
use super::report::{round2, Report};
use super::seed::Setup;
use super::traffic::{self, Device, Plan};
use super::CommonArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of groups.
    #[arg(long, default_value_t = 10)]
    groups: usize,
    /// Members per group (at most 100), each with one online device.
    #[arg(long, default_value_t = 100)]
    members: usize,
    /// Members of each group that send.
    #[arg(long, default_value_t = 10)]
    senders_per_group: usize,
    /// Target total messages per second over all senders (deliveries/s is
    /// this times members − 1).
    #[arg(long, default_value_t = 1010.0)]
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
    anyhow::ensure!((2..=100).contains(&args.members), "--members must be 2..=100");
    anyhow::ensure!(args.groups >= 1, "--groups must be at least 1");
    let senders = args.senders_per_group.clamp(1, args.members);
    let setup = Setup::new(common).await?;
    let users = setup.users(args.groups * args.members).await?;
    let groups: Vec<Vec<_>> = users.chunks(args.members).map(<[_]>::to_vec).collect();
    let conversations = setup.groups(&groups).await?;
    let target = setup.start(common).await?;

    let mut devices = Vec::with_capacity(users.len());
    for (members, &conversation) in groups.iter().zip(&conversations) {
        for (i, user) in members.iter().enumerate() {
            devices.push(Device { user: user.clone(), sends_to: (i < senders).then_some(conversation) });
        }
    }
    let fan_out = (args.members - 1) as u32;
    let recipients: HashMap<_, _> = conversations.iter().map(|&c| (c, fan_out)).collect();
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

    let mut report = Report::new("group", target.describe());
    report
        .param("groups", args.groups)
        .param("members", args.members)
        .param("senders_per_group", senders)
        .param("rate", args.rate)
        .param("target_deliveries_per_s", args.rate * f64::from(fan_out))
        .param("duration_s", args.duration)
        .param("warmup_s", args.warmup)
        .param("size", args.size);
    traffic::report_common(&mut report, &out);
    report.result(
        "deliveries_per_s",
        "deliveries/s (measured window)",
        round2(out.delivered_in_window as f64 / out.measured_seconds),
        "/s",
    );
    report
        .latency("publish_to_ack", "publish → ack (durable)", &out.ack)
        .latency("publish_to_each_recipient", "publish → each recipient", &out.delivery)
        .latency("publish_to_last_recipient", "publish → last recipient", &out.last_delivery)
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
