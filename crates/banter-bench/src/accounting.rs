//! Turning what the device tasks of [`super::traffic`] logged into the
//! figures of a report: latency histograms, rates, and the exactly-once
//! check (`lost = expected − received live − recovered by sync`; a live
//! frame for a seq already held is a duplicate).

use std::collections::HashMap;
use std::time::Duration;

use banter_protocol::ConversationId;

use super::cluster::{CpuUse, NatsUse};
use super::report::{round2, Latency, Report};

/// Everything measured in a run.
pub struct Outcome {
    /// The transport every connection ran over: `websocket`, `events`
    /// (the fallback) or `mixed`.
    pub transport: &'static str,
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
    /// Nodes the devices were spread over.
    pub nodes: usize,
    /// Live deliveries to a device on another node than the sender's.
    pub delivered_cross_node: u64,
    /// send → recipient on the sender's node / on another node.
    pub delivery_same_node: Latency,
    pub delivery_cross_node: Latency,
    /// Server (and database) CPU from the first send to the end of the drain.
    pub server_cpu: Option<CpuUse>,
    /// The servers' idle CPU measured before the traffic (`--idle-baseline`).
    pub server_idle: Option<IdleCpu>,
    /// NATS traffic each node received over the same span (clusters).
    pub nats: Option<NatsUse>,
}

/// The servers' CPU with every device connected and nothing sent, and how
/// long the traffic's own CPU span lasted (to scale it to).
#[derive(Debug, Clone)]
pub struct IdleCpu {
    pub cpu: CpuUse,
    /// Length of the idle measurement.
    pub seconds: f64,
    /// Length of the span `server_cpu` covers (first send to drained).
    pub traffic_seconds: f64,
}

impl IdleCpu {
    /// Summed over the nodes, per second.
    fn per_second(&self) -> Option<f64> {
        Some(self.cpu.nodes_total()? / self.seconds.max(1e-9))
    }
}

/// What one device task logged.
#[derive(Default)]
pub(super) struct DeviceLog {
    /// (message key, sent µs, acked µs)
    pub(super) acks: Vec<(u64, u64, u64)>,
    /// (message key, sent µs, received µs, crossed nodes), first live
    /// receipt only
    pub(super) deliveries: Vec<(u64, u64, u64, bool)>,
    pub(super) lags: Vec<u64>,
    pub(super) sent: u64,
    pub(super) send_errors: u64,
    pub(super) duplicates: u64,
    pub(super) recovered: u64,
    pub(super) errors: Vec<String>,
    pub(super) disconnected: bool,
}

pub(super) fn key(conversation_id: ConversationId, seq: i64) -> u64 {
    ((conversation_id as u64) << 32) | (seq as u64 & 0xffff_ffff)
}

/// Timing of the run, in clock microseconds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub(super) start_us: u64,
    pub(super) measure_from_us: u64,
    pub(super) end_us: u64,
}

impl Window {
    pub(super) fn measured(&self, sent_us: u64) -> bool {
        sent_us >= self.measure_from_us && sent_us < self.end_us
    }
}

/// Turns the logs into the outcome.
pub(super) fn account(
    logs: Vec<DeviceLog>,
    recipients: &HashMap<ConversationId, u32>,
    window: Window,
    connect: Latency,
    connect_time: Duration,
) -> Outcome {
    let mut out = Outcome {
        transport: "websocket",
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
        nodes: 1,
        delivered_cross_node: 0,
        delivery_same_node: Latency::new(),
        delivery_cross_node: Latency::new(),
        server_cpu: None,
        server_idle: None,
        nats: None,
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
        for &(k, sent, received, cross_node) in &log.deliveries {
            out.delivered_live += 1;
            out.delivered_cross_node += u64::from(cross_node);
            out.delivered_in_window += u64::from(window.measured(received));
            if window.measured(sent) {
                out.measured_deliveries += 1;
                let us = received.saturating_sub(sent);
                out.delivery.record_us(us);
                if cross_node {
                    out.delivery_cross_node.record_us(us);
                } else {
                    out.delivery_same_node.record_us(us);
                }
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
    report.result("delivered_cross_node", "delivered live across nodes", out.delivered_cross_node, "").result(
        "cross_node_pct",
        "  share of live deliveries",
        round2(100.0 * out.delivered_cross_node as f64 / out.delivered_live.max(1) as f64),
        "%",
    );
    if let Some(cpu) = out.client_cpu_seconds {
        report.result("client_cpu_s", "load generator CPU time", round2(cpu), "s").result(
            "client_cpu_us_per_msg",
            "load generator CPU per message",
            round2(cpu * 1e6 / out.acked.max(1) as f64),
            "µs",
        );
    }
    if let Some(used) = &out.server_cpu {
        report_traffic_cpu(report, out, used);
    }
    if let Some(nats) = &out.nats {
        nats.report(report);
    }
    if !out.first_errors.is_empty() {
        report.result("first_errors", "first errors", out.first_errors.join(" | "), "");
    }
}

/// What the traffic cost the servers: CPU seconds from the first send to
/// the end of the drain, per node and summed, and per acknowledged message
/// (µs; each message includes its deliveries).
fn report_traffic_cpu(report: &mut Report, out: &Outcome, used: &CpuUse) {
    let per_message_us = |seconds: f64| round2(seconds * 1e6 / out.acked.max(1) as f64);
    if let Some(total) = used.nodes_total() {
        report.result("traffic_server_cpu_s", "server CPU while sending (all nodes)", round2(total), "s").result(
            "traffic_server_system_cpu_s",
            "  of which in the kernel",
            round2(used.nodes_system),
            "s",
        );
        if used.nodes.len() > 1 {
            for (i, seconds) in used.nodes.iter().flatten().enumerate() {
                report.result(&format!("node{i}_traffic_cpu_s"), &format!("  node {i}"), round2(*seconds), "s");
            }
        }
        report.result("server_cpu_us_per_msg", "server CPU per message (all nodes)", per_message_us(total), "µs");
        let deliveries = out.delivered_live.max(1) as f64;
        report.result("server_cpu_us_per_delivery", "server CPU per live delivery (all nodes)", round2(total * 1e6 / deliveries), "µs");
        if let Some((idle, idle_per_second)) = out.server_idle.as_ref().and_then(|i| Some((i, i.per_second()?))) {
            // What the nodes spend anyway (timers, heartbeats, the
            // directory's lease) is a cost per node, not per delivery; what
            // is left over it is what the traffic itself cost.
            let nodes = used.nodes.len().max(1) as f64;
            let above = (total - idle_per_second * idle.traffic_seconds).max(0.0);
            report
                .result("server_idle_cpu_pct_per_node", "server idle CPU per node (before sending)", round2(idle_per_second * 100.0 / nodes), "%")
                .result(
                    "server_cpu_us_per_delivery_above_idle",
                    "server CPU per live delivery above idle (all nodes)",
                    round2(above * 1e6 / deliveries),
                    "µs",
                );
        }
    }
    if let Some(database) = used.database {
        report.result("traffic_database_cpu_s", "PostgreSQL backends CPU while sending", round2(database), "s").result(
            "database_cpu_us_per_msg",
            "PostgreSQL CPU per message",
            per_message_us(database),
            "µs",
        );
    }
}
