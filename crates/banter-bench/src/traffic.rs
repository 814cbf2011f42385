//! The live-traffic engine behind `direct` and `group`: every device holds
//! one WebSocket, senders send on an open-loop schedule ([`super::pace`]),
//! every device receives, and afterwards every delivery is accounted for.
//!
//! Each device runs one task that both sends and reads (the SDK's
//! `Connection` is one object; reading is cancel-safe, so a `select!` over
//! "next frame", "next send due" and "next heartbeat" is enough). Tasks log
//! raw timestamps — `(message, sent, acked)` and `(message, sent, received)`
//! — and the histograms are built once at the end, so the hot loop only
//! pushes to a `Vec`.
//!
//! Exactly-once accounting: a receiver passes every live message through a
//! `SyncState` (seq dedup, the SDK's own model). After sending stops and the
//! traffic has drained, each receiver syncs from its cursors once more;
//! messages found only then were *missed live* (recovered by sync). For each
//! acknowledged message the engine knows how many devices must receive it
//! (every member's device but the sender's), so:
//! `lost = expected − received live − recovered` and `duplicates` = live
//! frames for a seq already held. Both must be zero.
//!
//! With several nodes, device *i* is on node *i mod N* ([`Cluster`]); a
//! receiver knows each sender's node, so every live delivery is counted and
//! timed as same-node or cross-node (the latter went through NATS).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use banter_protocol::{ClientFrame, ConversationId, DeviceId, ServerFrame};
use banter_sdk::{Connection, SyncState};
use tokio::sync::watch;

use super::accounting::{account, key, DeviceLog, IdleCpu, Window};
pub use super::accounting::{report_common, Outcome};
use super::clock::{self, now_us};
use super::cluster::{Cluster, CpuUse};
use super::net::{connect_all, SourceAddresses};
use super::pace::{sleep_until_us, Schedule};
use super::progress;
use super::seed::BenchUser;

/// One device of the run.
#[derive(Debug, Clone)]
pub struct Device {
    pub user: BenchUser,
    /// The conversation this device sends to, if it is a sender.
    pub sends_to: Option<ConversationId>,
}

/// What to run.
pub struct Plan {
    pub devices: Vec<Device>,
    /// For each conversation: how many devices receive each of its messages.
    pub recipients: HashMap<ConversationId, u32>,
    /// Total messages per second over all senders.
    pub rate: f64,
    pub warmup: Duration,
    pub duration: Duration,
    pub text_size: usize,
    /// How long to wait for the last deliveries after sending stops.
    pub drain_timeout: Duration,
    pub connect_concurrency: usize,
    /// Before the traffic, with every device connected and nothing sent:
    /// how long to measure the servers' idle CPU, to report the CPU per
    /// delivery above it (zero: not measured).
    pub idle_baseline: Duration,
}

/// Counters shared by the tasks, for progress and for knowing when the
/// traffic has drained.
#[derive(Default)]
struct Shared {
    sent: AtomicU64,
    answered: AtomicU64,
    expected: AtomicU64,
    delivered: AtomicU64,
}

/// Connects every device (round-robin over the cluster's nodes), runs the
/// traffic, drains and accounts.
pub async fn run(cluster: &Cluster, sources: &SourceAddresses, plan: Plan, quiet: bool) -> anyhow::Result<Outcome> {
    let cpu_at_start = super::target::cpu_seconds(std::process::id());
    let tokens: Vec<String> = plan.devices.iter().map(|d| d.user.token.clone()).collect();
    let (connections, connect, connect_time) =
        connect_all(cluster, sources, &tokens, plan.connect_concurrency, quiet).await?;
    let fallback = connections.iter().filter(|c| c.transport() == banter_sdk::TransportKind::EventStream).count();
    let transport = match fallback {
        0 => "websocket",
        n if n == connections.len() => "events",
        _ => "mixed",
    };
    let node_of_device: Arc<HashMap<DeviceId, usize>> =
        Arc::new(plan.devices.iter().enumerate().map(|(i, d)| (d.user.device_id, cluster.node_of_client(i))).collect());
    let idle = idle_baseline(cluster, plan.idle_baseline).await;
    let server_cpu_at_start = cluster.cpu_snapshot().await;
    let traffic_started = std::time::Instant::now();
    let nats_at_start = cluster.nats_snapshot().await;

    let senders = plan.devices.iter().filter(|d| d.sends_to.is_some()).count();
    let start_us = now_us() + 300_000;
    let window = Window {
        start_us,
        measure_from_us: start_us + plan.warmup.as_micros() as u64,
        end_us: start_us + (plan.warmup + plan.duration).as_micros() as u64,
    };
    let shared = Arc::new(Shared::default());
    let recipients = Arc::new(plan.recipients);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sender_index = 0;
    let tasks: Vec<_> = connections
        .into_iter()
        .zip(plan.devices)
        .enumerate()
        .map(|(i, (conn, device))| {
            let schedule = device.sends_to.map(|conversation_id| {
                let s = Schedule::new(sender_index, senders, plan.rate, window.start_us, window.end_us);
                sender_index += 1;
                (conversation_id, s)
            });
            let task = DeviceTask {
                conn,
                device_id: device.user.device_id,
                node: cluster.node_of_client(i),
                node_of_device: node_of_device.clone(),
                schedule,
                window,
                text_size: plan.text_size,
                recipients: recipients.clone(),
                shared: shared.clone(),
                stop: stop_rx.clone(),
            };
            tokio::spawn(task.run())
        })
        .collect();

    // Progress while sending, then wait for the traffic to drain.
    let total_us = window.end_us - window.start_us;
    let bar = progress::bar(total_us / 1_000_000, "sending", quiet);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = now_us();
        bar.set_position(now.saturating_sub(window.start_us) / 1_000_000);
        bar.set_message(format!("{} sent", shared.sent.load(Ordering::Relaxed)));
        if now >= window.end_us {
            break;
        }
    }
    bar.finish_and_clear();
    let drain_deadline = now_us() + plan.drain_timeout.as_micros() as u64;
    while now_us() < drain_deadline {
        let sent = shared.sent.load(Ordering::Relaxed);
        let answered = shared.answered.load(Ordering::Relaxed);
        let expected = shared.expected.load(Ordering::Relaxed);
        let delivered = shared.delivered.load(Ordering::Relaxed);
        if answered >= sent && delivered >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let server_cpu = cluster.cpu_snapshot().await.since(&server_cpu_at_start);
    let traffic_seconds = traffic_started.elapsed().as_secs_f64();
    let nats = cluster.nats_snapshot().await.since(&nats_at_start);
    let _ = stop_tx.send(true);
    let mut logs = Vec::with_capacity(tasks.len());
    for task in tasks {
        logs.push(task.await?);
    }
    let mut out = account(logs, &recipients, window, connect, connect_time);
    out.transport = transport;
    out.nodes = cluster.len();
    out.server_cpu = Some(server_cpu);
    out.server_idle = idle.map(|(cpu, seconds)| IdleCpu { cpu, seconds, traffic_seconds });
    out.nats = nats;
    if let (Some(start), Some(end)) = (cpu_at_start, super::target::cpu_seconds(std::process::id())) {
        out.client_cpu_seconds = Some(end - start);
    }
    Ok(out)
}

/// The servers' CPU over `length` with every device connected and idle,
/// after a 2 s pause for the connect storm's tail (directory writes,
/// presence) to finish; `None` when not asked for.
async fn idle_baseline(cluster: &Cluster, length: Duration) -> Option<(CpuUse, f64)> {
    if length.is_zero() {
        return None;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = cluster.cpu_snapshot().await;
    let started = std::time::Instant::now();
    tokio::time::sleep(length).await;
    Some((cluster.cpu_snapshot().await.since(&before), started.elapsed().as_secs_f64()))
}

/// One device: sends on its schedule, receives, heartbeats.
struct DeviceTask {
    conn: Connection,
    device_id: i64,
    /// The node this device is connected to.
    node: usize,
    node_of_device: Arc<HashMap<DeviceId, usize>>,
    schedule: Option<(ConversationId, Schedule)>,
    window: Window,
    text_size: usize,
    recipients: Arc<HashMap<ConversationId, u32>>,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
}

impl DeviceTask {
    async fn run(mut self) -> DeviceLog {
        let mut log = DeviceLog::default();
        let mut state = SyncState::new();
        let heartbeat = Duration::from_millis(self.conn.hello().heartbeat_interval_ms.max(1_000));
        let mut next_ping = tokio::time::Instant::now() + heartbeat;
        let mut n = 0u64;
        loop {
            let due = self.schedule.as_ref().and_then(|(_, s)| s.next_due_us());
            tokio::select! {
                biased;
                _ = self.stop.changed() => break,
                () = sleep_until_us(due.unwrap_or(0)), if due.is_some() => {
                    let Some((conversation_id, schedule)) = self.schedule.as_mut() else { continue };
                    let sent_us = now_us();
                    if self.window.measured(sent_us) {
                        log.lags.push(sent_us.saturating_sub(due.unwrap_or(sent_us)));
                    }
                    let frame = ClientFrame::Send {
                        client_msg_id: clock::stamped_id(sent_us, n),
                        conversation_id: *conversation_id,
                        text: clock::stamped_text(sent_us, self.text_size),
                        reply_to: None,
                    };
                    n += 1;
                    schedule.advance();
                    if let Err(e) = self.conn.send_frame(frame).await {
                        log.errors.push(format!("send: {e}"));
                        log.disconnected = true;
                        break;
                    }
                    log.sent += 1;
                    self.shared.sent.fetch_add(1, Ordering::Relaxed);
                }
                frame = self.conn.next_frame() => match frame {
                    Ok(frame) => self.on_frame(frame, &mut state, &mut log),
                    Err(e) => {
                        log.errors.push(format!("receive: {e}"));
                        log.disconnected = true;
                        break;
                    }
                },
                () = tokio::time::sleep_until(next_ping) => {
                    next_ping += heartbeat;
                    if self.conn.send_frame(ClientFrame::Ping).await.is_err() {
                        log.disconnected = true;
                        break;
                    }
                }
            }
        }
        // Whatever did not arrive live must come through sync.
        if !log.disconnected {
            match self.conn.catch_up(&mut state).await {
                Ok(missed) => {
                    log.recovered = missed.iter().filter(|m| m.sender_device_id != self.device_id).count() as u64
                }
                Err(e) => log.errors.push(format!("final sync: {e}")),
            }
        }
        // Dropping the connection closes it; the run is over.
        log
    }

    fn on_frame(&self, frame: ServerFrame, state: &mut SyncState, log: &mut DeviceLog) {
        let now = now_us();
        match frame {
            ServerFrame::Message { message } => {
                if message.sender_device_id == self.device_id {
                    return;
                }
                if state.accept(&message).is_new() {
                    let sent = clock::stamp_of(&message.text).unwrap_or(now);
                    let cross_node = self.node_of_device.get(&message.sender_device_id) != Some(&self.node);
                    log.deliveries.push((key(message.conversation_id, message.seq), sent, now, cross_node));
                    self.shared.delivered.fetch_add(1, Ordering::Relaxed);
                } else {
                    log.duplicates += 1;
                }
            }
            ServerFrame::Ack { client_msg_id, conversation_id, seq, .. } => {
                let sent = clock::stamp_of_id(&client_msg_id).unwrap_or(now);
                // Our own message: held, so a sync never counts it as missed.
                state.accept_seq(conversation_id, seq);
                log.acks.push((key(conversation_id, seq), sent, now));
                let fan_out = self.recipients.get(&conversation_id).copied().unwrap_or(0);
                self.shared.expected.fetch_add(u64::from(fan_out), Ordering::Relaxed);
                self.shared.answered.fetch_add(1, Ordering::Relaxed);
            }
            ServerFrame::Error { code, message, client_msg_id, .. } => {
                if client_msg_id.is_some() {
                    log.send_errors += 1;
                    self.shared.answered.fetch_add(1, Ordering::Relaxed);
                }
                if log.errors.len() < 5 {
                    log.errors.push(format!("{code:?}: {message}"));
                }
            }
            _ => {}
        }
    }
}
