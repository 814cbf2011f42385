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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use banter_protocol::{ClientFrame, ConversationId, ServerFrame};
use banter_sdk::{Connection, SyncState};
use tokio::sync::watch;

use super::clock::{self, now_us};
use super::net::{connect_all, SourceAddresses};
use super::pace::{sleep_until_us, Schedule};
use super::progress;
use super::report::{round2, Latency, Report};
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
}

/// Everything measured in a run.
pub struct Outcome {
    pub connect: Latency,
    pub connect_time: Duration,
    /// Messages whose send fell in the measured window.
    pub measured_messages: u64,
    /// Acks received within the measured window: the rate the server
    /// actually sustained, whatever was offered.
    pub acked_in_window: u64,
    /// Deliveries received within the measured window.
    pub delivered_in_window: u64,
    /// Deliveries of those messages.
    pub measured_deliveries: u64,
    pub measured_seconds: f64,
    pub sent: u64,
    pub acked: u64,
    pub send_errors: u64,
    pub expected_deliveries: u64,
    pub delivered_live: u64,
    pub recovered_by_sync: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub disconnects: u64,
    pub first_errors: Vec<String>,
    /// send → ack on the sending device.
    pub ack: Latency,
    /// send → each receiving device.
    pub delivery: Latency,
    /// send → the last receiving device (messages that reached all of them live).
    pub last_delivery: Latency,
    /// How late senders were against their schedule.
    pub sender_lag: Latency,
    /// CPU time the load generator used from connecting to the end.
    pub client_cpu_seconds: Option<f64>,
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

/// What one device task logged.
#[derive(Default)]
struct DeviceLog {
    /// (message key, sent µs, acked µs)
    acks: Vec<(u64, u64, u64)>,
    /// (message key, sent µs, received µs), first live receipt only
    deliveries: Vec<(u64, u64, u64)>,
    lags: Vec<u64>,
    sent: u64,
    send_errors: u64,
    duplicates: u64,
    recovered: u64,
    errors: Vec<String>,
    disconnected: bool,
}

fn key(conversation_id: ConversationId, seq: i64) -> u64 {
    ((conversation_id as u64) << 32) | (seq as u64 & 0xffff_ffff)
}

/// Timing of the run, in clock microseconds.
#[derive(Debug, Clone, Copy)]
struct Window {
    start_us: u64,
    measure_from_us: u64,
    end_us: u64,
}

impl Window {
    fn measured(&self, sent_us: u64) -> bool {
        sent_us >= self.measure_from_us && sent_us < self.end_us
    }
}

/// Connects every device, runs the traffic, drains and accounts.
pub async fn run(base_url: &str, sources: &SourceAddresses, plan: Plan, quiet: bool) -> anyhow::Result<Outcome> {
    let cpu_at_start = super::target::cpu_seconds(std::process::id());
    let tokens: Vec<String> = plan.devices.iter().map(|d| d.user.token.clone()).collect();
    let (connections, connect, connect_time) =
        connect_all(base_url, sources, &tokens, plan.connect_concurrency, quiet).await?;

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
        .map(|(conn, device)| {
            let schedule = device.sends_to.map(|conversation_id| {
                let s = Schedule::new(sender_index, senders, plan.rate, window.start_us, window.end_us);
                sender_index += 1;
                (conversation_id, s)
            });
            let task = DeviceTask {
                conn,
                device_id: device.user.device_id,
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
    let _ = stop_tx.send(true);
    let mut logs = Vec::with_capacity(tasks.len());
    for task in tasks {
        logs.push(task.await?);
    }
    let mut out = account(logs, &recipients, window, connect, connect_time);
    if let (Some(start), Some(end)) = (cpu_at_start, super::target::cpu_seconds(std::process::id())) {
        out.client_cpu_seconds = Some(end - start);
    }
    Ok(out)
}

/// Turns the logs into the outcome.
fn account(
    logs: Vec<DeviceLog>,
    recipients: &HashMap<ConversationId, u32>,
    window: Window,
    connect: Latency,
    connect_time: Duration,
) -> Outcome {
    let mut out = Outcome {
        connect,
        connect_time,
        measured_messages: 0,
        acked_in_window: 0,
        delivered_in_window: 0,
        measured_deliveries: 0,
        measured_seconds: (window.end_us - window.measure_from_us) as f64 / 1e6,
        sent: 0,
        acked: 0,
        send_errors: 0,
        expected_deliveries: 0,
        delivered_live: 0,
        recovered_by_sync: 0,
        lost: 0,
        duplicates: 0,
        disconnects: 0,
        first_errors: Vec::new(),
        ack: Latency::new(),
        delivery: Latency::new(),
        last_delivery: Latency::new(),
        sender_lag: Latency::new(),
        client_cpu_seconds: None,
    };
    // Per acknowledged message: (sent µs, receivers so far, latest receipt µs).
    let mut messages: HashMap<u64, (u64, u32, u64)> = HashMap::new();
    for log in &logs {
        for &(k, sent, acked) in &log.acks {
            messages.insert(k, (sent, 0, 0));
            out.acked += 1;
            out.expected_deliveries += u64::from(recipients.get(&((k >> 32) as i64)).copied().unwrap_or(0));
            if window.measured(sent) {
                out.measured_messages += 1;
                out.ack.record_us(acked.saturating_sub(sent));
            }
            out.acked_in_window += u64::from(window.measured(acked));
        }
    }
    for log in &logs {
        out.sent += log.sent;
        out.send_errors += log.send_errors;
        out.duplicates += log.duplicates;
        out.recovered_by_sync += log.recovered;
        out.disconnects += u64::from(log.disconnected);
        for lag in &log.lags {
            out.sender_lag.record_us(*lag);
        }
        if out.first_errors.len() < 5 {
            out.first_errors.extend(log.errors.iter().take(5 - out.first_errors.len()).cloned());
        }
        for &(k, sent, received) in &log.deliveries {
            out.delivered_live += 1;
            out.delivered_in_window += u64::from(window.measured(received));
            if window.measured(sent) {
                out.measured_deliveries += 1;
                out.delivery.record_us(received.saturating_sub(sent));
            }
            if let Some(m) = messages.get_mut(&k) {
                m.1 += 1;
                m.2 = m.2.max(received);
            }
        }
    }
    for (k, (sent, receivers, last)) in &messages {
        let want = recipients.get(&((k >> 32) as i64)).copied().unwrap_or(0);
        if *receivers == want && want > 0 && window.measured(*sent) {
            out.last_delivery.record_us(last.saturating_sub(*sent));
        }
    }
    out.lost = out.expected_deliveries.saturating_sub(out.delivered_live + out.recovered_by_sync);
    out
}

/// One device: sends on its schedule, receives, heartbeats.
struct DeviceTask {
    conn: Connection,
    device_id: i64,
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
                    log.deliveries.push((key(message.conversation_id, message.seq), sent, now));
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
            ServerFrame::Error { code, message, client_msg_id } => {
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

/// Adds what `direct` and `group` both report.
pub fn report_common(report: &mut Report, out: &Outcome) {
    report
        .result("connections", "connections", out.connect.count(), "")
        .result(
            "connect_rate",
            "connect rate",
            round2(out.connect.count() as f64 / out.connect_time.as_secs_f64().max(1e-9)),
            "conn/s",
        )
        .result("sent", "messages sent", out.sent, "")
        .result("acked", "messages acknowledged", out.acked, "")
        .result(
            "offered_rate",
            "offered rate (sends in measured window)",
            round2(out.measured_messages as f64 / out.measured_seconds),
            "msg/s",
        )
        .result(
            "achieved_rate",
            "achieved rate (acks in measured window)",
            round2(out.acked_in_window as f64 / out.measured_seconds),
            "msg/s",
        )
        .result("expected_deliveries", "deliveries expected", out.expected_deliveries, "")
        .result("delivered_live", "delivered live", out.delivered_live, "")
        .result("recovered_by_sync", "missed live (recovered by sync)", out.recovered_by_sync, "")
        .must_be_zero("unanswered", "sends never answered", out.sent.saturating_sub(out.acked + out.send_errors))
        .must_be_zero("lost", "lost", out.lost)
        .must_be_zero("duplicates", "duplicates", out.duplicates)
        .must_be_zero("send_errors", "send errors", out.send_errors)
        .must_be_zero("disconnects", "disconnects", out.disconnects);
    if let Some(cpu) = out.client_cpu_seconds {
        report.result("client_cpu_s", "load generator CPU time", round2(cpu), "s");
    }
    if !out.first_errors.is_empty() {
        report.result("first_errors", "first errors", out.first_errors.join(" | "), "");
    }
}
