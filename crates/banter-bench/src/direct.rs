//! `direct`: users in 1:1 pairs, both sides sending, at a target total rate.
//!
//! Reports the achieved rate, send → ack (durable) and send → recipient
//! latency, and proves that every acknowledged message reached its
//! recipient exactly once. Set-up and the common figures: [`super::live`].

use super::live::{self, LoadArgs, Rooms};
use super::report::Report;
use super::CommonArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Users (devices), paired 1:1; every user sends to its partner.
    #[arg(long, default_value_t = 2000)]
    users: usize,
    /// Target total messages per second, over all senders.
    #[arg(long, default_value_t = 20_000.0)]
    rate: f64,
    #[command(flatten)]
    load: LoadArgs,
}

pub async fn run(common: &CommonArgs, args: Args) -> anyhow::Result<Report> {
    anyhow::ensure!(args.users >= 2 && args.users.is_multiple_of(2), "--users must be even and at least 2");
    let rooms = Rooms::Direct { pairs: args.users / 2 };
    let run = live::run(common, rooms, args.rate, &args.load).await?;
    Ok(run.finish("direct", |report, out| {
        report.param("users", args.users).param("pairs", args.users / 2);
        report.latency("publish_to_recipient", "publish → recipient", &out.delivery);
    }))
}
