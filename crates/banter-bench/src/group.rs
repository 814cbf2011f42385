//! `group`: groups of (by default) 100 members, every member online on one
//! device, some members sending at a target total rate.
//!
//! Each message is delivered to every other member's device, so deliveries
//! per second = rate × (members − 1). Reports deliveries/s, send → each
//! recipient and send → last recipient (the slowest device of the group),
//! and proves every delivery happened exactly once. Set-up and the common
//! figures: [`super::live`].

use super::live::{self, LoadArgs, Rooms};
use super::report::{round2, Report};
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
    #[command(flatten)]
    load: LoadArgs,
}

pub async fn run(common: &CommonArgs, args: Args) -> anyhow::Result<Report> {
    anyhow::ensure!((2..=100).contains(&args.members), "--members must be 2..=100");
    anyhow::ensure!(args.groups >= 1, "--groups must be at least 1");
    let senders = args.senders_per_group.clamp(1, args.members);
    let rooms = Rooms::Groups { groups: args.groups, members: args.members, senders };
    let run = live::run(common, rooms, args.rate, &args.load).await?;
    let fan_out = (args.members - 1) as f64;
    Ok(run.finish("group", |report, out| {
        report
            .param("groups", args.groups)
            .param("members", args.members)
            .param("senders_per_group", senders)
            .param("target_deliveries_per_s", args.rate * fan_out);
        report.result(
            "deliveries_per_s",
            "deliveries/s (measured window)",
            round2(out.delivered_in_window as f64 / out.measured_seconds),
            "/s",
        );
        report.latency("publish_to_each_recipient", "publish → each recipient", &out.delivery).latency(
            "publish_to_last_recipient",
            "publish → last recipient",
            &out.last_delivery,
        );
    }))
}
