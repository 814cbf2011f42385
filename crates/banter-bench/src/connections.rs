//! `connections`: N authenticated WebSockets, held idle (heartbeating).
//!
//! Reports how fast they were opened and the server's memory per
//! connection: (VmRSS with N open − VmRSS before) / N, read from
//! `/proc/<pid>/status` of the server process — per node when the
//! connections are spread over several (node *i* holds every N-th).

use std::time::Duration;

use banter_protocol::ClientFrame;
use tokio::sync::watch;

use super::cluster::Cluster;
use super::net::{connect_all, SourceAddresses};
use super::report::{round2, Report};
use super::seed::Setup;
use super::target::rss_bytes;
use super::CommonArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Connections to open (one user and device each).
    #[arg(long, short = 'n', default_value_t = 19_900)]
    connections: usize,
    /// Seconds to hold them open once all are connected.
    #[arg(long, default_value_t = 5.0)]
    hold: f64,
    /// Concurrent WebSocket handshakes.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
}

pub async fn run(common: &CommonArgs, args: Args) -> anyhow::Result<Report> {
    let setup = Setup::new(common).await?;
    let users = setup.users(args.connections).await?;
    let cluster = setup.start(common).await?;
    // Let the servers settle (allocator, runtime threads) before the baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = cluster.rss_bytes();

    let sources = SourceAddresses::for_server(cluster.first_url(), common.source_addresses).transport(common.transport);
    let tokens: Vec<String> = users.iter().map(|u| u.token.clone()).collect();
    let (connections, connect, elapsed) =
        connect_all(&cluster, &sources, &tokens, args.connect_concurrency, common.quiet).await?;

    // Hold: each connection heartbeats and reads (pongs) until told to stop.
    let (stop_tx, stop_rx) = watch::channel(false);
    let holders: Vec<_> = connections
        .into_iter()
        .map(|mut conn| {
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                let heartbeat = Duration::from_millis(conn.hello().heartbeat_interval_ms.max(1_000));
                // Spread the heartbeats instead of sending them all at once.
                let jitter = Duration::from_millis(rand::random::<u64>() % heartbeat.as_millis() as u64);
                let mut next_ping = tokio::time::Instant::now() + jitter;
                loop {
                    tokio::select! {
                        _ = stop.changed() => return true,
                        frame = conn.next_frame() => if frame.is_err() { return false },
                        () = tokio::time::sleep_until(next_ping) => {
                            next_ping += heartbeat;
                            if conn.send_frame(ClientFrame::Ping).await.is_err() { return false }
                        }
                    }
                }
            })
        })
        .collect();
    let nats_at_start = cluster.nats_snapshot().await;
    tokio::time::sleep(Duration::from_secs_f64(args.hold.max(0.5))).await;
    let nats = cluster.nats_snapshot().await.since(&nats_at_start);
    let rss_with = cluster.rss_bytes();
    let client_rss = rss_bytes(std::process::id());
    let _ = stop_tx.send(true);
    let mut alive = 0u64;
    for h in holders {
        alive += u64::from(h.await.unwrap_or(false));
    }
    let n = args.connections as u64;

    let mut report = Report::new("connections", cluster.describe());
    cluster.add_params(&mut report);
    report.param("connections", args.connections).param("hold_s", args.hold);
    report
        .result("opened", "connections opened", connect.count(), "")
        .result("connect_seconds", "time to open all", round2(elapsed.as_secs_f64()), "s")
        .result("connect_rate", "connect rate", round2(n as f64 / elapsed.as_secs_f64().max(1e-9)), "conn/s")
        .must_be_zero("dropped", "dropped while held", n - alive);
    report_memory(&mut report, &cluster, &rss_before, &rss_with, args.connections);
    if let Some(client) = client_rss {
        report.result("client_rss_mib", "load generator RSS", round2(client as f64 / 1048576.0), "MiB");
    }
    if let Some(nats) = nats {
        // Idle connections: what the nodes hear is presence refreshes.
        nats.report(&mut report);
    }
    report.latency("connect", "connect (TCP → hello)", &connect);
    cluster.stop();
    Ok(report)
}

/// Server memory before and with the connections open, and per connection:
/// over all nodes (`server_*`) and, with several, for each (`node<i>_*`).
fn report_memory(
    report: &mut Report,
    cluster: &Cluster,
    before: &[Option<u64>],
    with: &[Option<u64>],
    connections: usize,
) {
    let known = |v: &[Option<u64>]| v.iter().copied().collect::<Option<Vec<u64>>>();
    let (Some(before), Some(with)) = (known(before), known(with)) else {
        return;
    };
    let mib = |b: u64| round2(b as f64 / 1048576.0);
    let per = |before: u64, with: u64, held: usize| with.saturating_sub(before) as f64 / held.max(1) as f64;
    let (total_before, total_with) = (before.iter().sum(), with.iter().sum());
    let all = per(total_before, total_with, connections);
    report
        .result("server_rss_before_mib", "server RSS before (all nodes)", mib(total_before), "MiB")
        .result("server_rss_with_mib", "server RSS with all open (all nodes)", mib(total_with), "MiB")
        .result("server_bytes_per_connection", "server memory per connection", all.round(), "B")
        .result("server_kib_per_connection", "server memory per connection", round2(all / 1024.0), "KiB");
    if cluster.len() > 1 {
        for (node, (b, w)) in before.iter().zip(&with).enumerate() {
            let held = (0..connections).filter(|&c| cluster.node_of_client(c) == node).count();
            report
                .result(&format!("node{node}_connections"), &format!("node {node}: connections"), held, "")
                .result(&format!("node{node}_rss_with_mib"), "  RSS with all open", mib(*w), "MiB")
                .result(
                    &format!("node{node}_bytes_per_connection"),
                    "  memory per connection",
                    per(*b, *w, held).round(),
                    "B",
                );
        }
    }
}
