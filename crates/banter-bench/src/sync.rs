//! `sync`: K devices are offline while M messages are sent to each of them,
//! then all reconnect at once and catch up.
//!
//! Devices are members of groups (default 100 members); each group's
//! creator sends M messages from a second device while the measured devices
//! are offline, so every measured device misses exactly M messages. Then
//! every device connects (`--connect-concurrency` handshakes in flight) and
//! syncs from its cursor in pages of 200. Reports the time until the last
//! device has caught up, and proves each one got seqs 1..=M with no gap and
//! no duplicate.

use std::sync::Arc;

use banter_protocol::frames::SyncCursor;
use banter_sdk::{Accepted, SyncState};
use futures_util::{stream, StreamExt, TryStreamExt};
use tokio::sync::Semaphore;

use super::clock::now_us;
use super::cluster::CpuUse;
use super::target::cpu_seconds;
use super::net::SourceAddresses;
use super::report::{round2, Latency, Report};
use super::seed::Setup;
use super::{pipeline, progress, CommonArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Devices that reconnect (one user each).
    #[arg(long, default_value_t = 10_000)]
    devices: usize,
    /// Messages each device misses while offline.
    #[arg(long, default_value_t = 100)]
    messages: u64,
    /// Members per group (at most 100).
    #[arg(long, default_value_t = 100)]
    group_size: usize,
    /// Reconnecting devices in flight at once (handshake + catch-up).
    #[arg(long, default_value_t = 1000)]
    connect_concurrency: usize,
    /// Bytes of text per message.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Page size of each sync request (1–200).
    #[arg(long, default_value_t = 200)]
    page: u32,
}

/// What one reconnecting device saw.
struct DeviceResult {
    connected_us: u64,
    caught_up_us: u64,
    received: u64,
    duplicates: u64,
    gaps: u64,
    missing: u64,
}

pub async fn run(common: &CommonArgs, args: Args) -> anyhow::Result<Report> {
    anyhow::ensure!((2..=100).contains(&args.group_size), "--group-size must be 2..=100");
    anyhow::ensure!(args.devices.is_multiple_of(args.group_size), "--devices must be a multiple of --group-size");
    let setup = Setup::new(common).await?;
    let users = setup.users(args.devices).await?;
    let groups: Vec<Vec<_>> = users.chunks(args.group_size).map(<[_]>::to_vec).collect();
    let conversations = setup.groups(&groups).await?;
    let mut senders = Vec::with_capacity(groups.len());
    for members in &groups {
        senders.push(setup.extra_device(&members[0]).await?);
    }
    let cluster = setup.start(common).await?;
    let sources = SourceAddresses::for_server(cluster.first_url(), common.source_addresses).transport(common.transport);

    // While every measured device is offline: M messages into each group.
    let bar = progress::bar(senders.len() as u64, "offline send", common.quiet);
    let send_started = std::time::Instant::now();
    stream::iter(senders.iter().zip(&conversations).enumerate())
        .map(|(i, (sender, &conversation))| {
            let (sources, base_url, bar) = (&sources, cluster.url_of_client(i), bar.clone());
            async move {
                let mut conn = sources.connect(base_url, i, &sender.token).await?;
                pipeline::send_all(&mut conn, conversation, "offline", args.messages, args.size, 64).await?;
                let _ = conn.close().await;
                bar.inc(1);
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(256)
        .try_collect::<()>()
        .await?;
    let send_seconds = send_started.elapsed().as_secs_f64();
    bar.finish_and_clear();

    // Everyone comes back at once.
    let bar = progress::bar(args.devices as u64, "catch up", common.quiet);
    let permits = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let server_cpu_at_start = cluster.cpu_snapshot().await;
    let client_cpu_at_start = cpu_seconds(std::process::id());
    let start_us = now_us();
    let tasks: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let conversation = conversations[i / args.group_size];
            let (permits, sources, base_url, token, bar) = (
                permits.clone(),
                sources.clone(),
                cluster.url_of_client(i).to_owned(),
                user.token.clone(),
                bar.clone(),
            );
            let (expected, page) = (args.messages, args.page);
            tokio::spawn(async move {
                let permit = permits.acquire_owned().await?;
                let mut conn = sources.connect(&base_url, i, &token).await?;
                let connected_us = now_us();
                let mut state = SyncState::new();
                let (mut received, mut duplicates, mut gaps) = (0u64, 0u64, 0u64);
                loop {
                    let cursors: Vec<SyncCursor> =
                        vec![SyncCursor { conversation_id: conversation, seq: state.cursor(conversation) }];
                    let batch = conn.sync_once(&cursors, Some(page)).await?;
                    for m in &batch.messages {
                        match state.accept(m) {
                            Accepted::New => received += 1,
                            Accepted::Gap { .. } => {
                                received += 1;
                                gaps += 1;
                            }
                            Accepted::Duplicate => duplicates += 1,
                        }
                    }
                    if batch.complete {
                        break;
                    }
                }
                let caught_up_us = now_us();
                drop(permit);
                bar.inc(1);
                let missing = expected.saturating_sub(state.cursor(conversation) as u64);
                let result = DeviceResult { connected_us, caught_up_us, received, duplicates, gaps, missing };
                // Stay online until everyone is done, as a real device would.
                Ok::<_, anyhow::Error>((result, conn))
            })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    let mut held = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (result, conn) = task.await??;
        results.push(result);
        held.push(conn);
    }
    let server_cpu = cluster.cpu_snapshot().await.since(&server_cpu_at_start);
    let client_cpu = client_cpu_at_start.zip(cpu_seconds(std::process::id())).map(|(start, end)| end - start);
    bar.finish_and_clear();
    let all_done_us = results.iter().map(|r| r.caught_up_us).max().unwrap_or(start_us);
    drop(held);

    let mut catch_up = Latency::new();
    let mut connect = Latency::new();
    let (mut received, mut duplicates, mut gaps, mut missing) = (0, 0, 0, 0);
    for r in &results {
        catch_up.record_us(r.caught_up_us - start_us);
        connect.record_us(r.connected_us - start_us);
        received += r.received;
        duplicates += r.duplicates;
        gaps += r.gaps;
        missing += r.missing;
    }
    let total_s = (all_done_us - start_us) as f64 / 1e6;

    let mut report = Report::new("sync", cluster.describe());
    cluster.add_params(&mut report);
    report
        .param("devices", args.devices)
        .param("messages_per_device", args.messages)
        .param("group_size", args.group_size)
        .param("connect_concurrency", args.connect_concurrency)
        .param("page", args.page)
        .param("size", args.size);
    report
        .result("offline_messages", "messages sent while offline", args.messages * groups.len() as u64, "")
        .result("offline_send_seconds", "time to send them", round2(send_seconds), "s")
        .result("all_caught_up_seconds", "time until all caught up", round2(total_s), "s")
        .result("messages_synced", "messages synced", received, "")
        .result("synced_per_s", "messages synced per second", round2(received as f64 / total_s.max(1e-9)), "/s");
    report_catch_up_cpu(&mut report, &server_cpu, client_cpu, received);
    report
        .must_be_zero("missing", "missing after sync", missing)
        .must_be_zero("gaps", "gaps", gaps)
        .must_be_zero("duplicates", "duplicates", duplicates);
    report.latency("caught_up", "reconnect start → device caught up", &catch_up).latency(
        "connected",
        "reconnect start → device connected",
        &connect,
    );
    cluster.stop();
    Ok(report)
}

/// The CPU the catch-up took on each side (from the first reconnect until
/// the last device caught up), in total and per synced message: which side
/// of the shared cores bounds the storm.
fn report_catch_up_cpu(report: &mut Report, server: &CpuUse, client: Option<f64>, synced: u64) {
    let per_message = |seconds: f64| round2(seconds * 1e6 / synced.max(1) as f64);
    if let Some(total) = server.nodes_total() {
        report
            .result("catch_up_server_cpu_s", "server CPU during the catch-up (all nodes)", round2(total), "s")
            .result("catch_up_server_system_cpu_s", "  of which in the kernel", round2(server.nodes_system), "s")
            .result("server_cpu_us_per_synced", "server CPU per synced message", per_message(total), "µs");
    }
    if let Some(database) = server.database {
        report.result("catch_up_database_cpu_s", "PostgreSQL backends CPU during the catch-up", round2(database), "s");
    }
    if let Some(client) = client {
        report
            .result("catch_up_client_cpu_s", "load generator CPU during the catch-up", round2(client), "s")
            .result("client_cpu_us_per_synced", "load generator CPU per synced message", per_message(client), "µs");
    }
}
