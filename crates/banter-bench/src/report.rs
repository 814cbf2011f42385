//! The results of a run: a human table and machine-readable JSON.
//!
//! Latencies go into HdrHistograms (microsecond resolution, three
//! significant digits) and are reported in milliseconds at p50, p90, p99,
//! p99.9 and max.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

/// A latency distribution being recorded, in microseconds.
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl Latency {
    pub fn new() -> Latency {
        // 1 µs to 10 min; values outside are clamped rather than lost.
        let histogram = Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds");
        Latency { histogram }
    }

    /// Records one sample in microseconds.
    pub fn record_us(&mut self, us: u64) {
        self.histogram.saturating_record(us.max(1));
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The summary that goes into the report.
    pub fn summary(&self) -> LatencySummary {
        let h = &self.histogram;
        let ms = |v: u64| v as f64 / 1000.0;
        LatencySummary {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// Percentiles of one latency, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// One named figure of a report.
#[derive(Debug, Clone)]
struct Figure {
    key: String,
    label: String,
    value: Value,
    unit: &'static str,
}

/// What a scenario found.
#[derive(Debug, Clone)]
pub struct Report {
    pub scenario: &'static str,
    /// Where the server ran: `embedded` (child process) or the URL.
    pub server: String,
    params: Vec<Figure>,
    results: Vec<Figure>,
    latencies: Vec<(String, String, LatencySummary)>,
    /// Lost or duplicated messages, errors: anything that makes the run fail.
    pub problems: Vec<String>,
    /// What makes the figures doubtful without failing the run (a machine
    /// that was busy before it started).
    pub warnings: Vec<String>,
}

impl Report {
    pub fn new(scenario: &'static str, server: impl Into<String>) -> Report {
        Report {
            scenario,
            server: server.into(),
            params: Vec::new(),
            results: Vec::new(),
            latencies: Vec::new(),
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// A parameter of the run (`key` is the JSON name).
    pub fn param(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        self.params.push(Figure { key: key.into(), label: key.replace('_', " "), value: value.into(), unit: "" });
        self
    }

    /// A measured figure.
    pub fn result(&mut self, key: &str, label: &str, value: impl Into<Value>, unit: &'static str) -> &mut Self {
        self.results.push(Figure { key: key.into(), label: label.into(), value: value.into(), unit });
        self
    }

    /// A counter that must be zero for the run to pass (losses, duplicates, errors).
    pub fn must_be_zero(&mut self, key: &str, label: &str, value: u64) -> &mut Self {
        if value != 0 {
            self.problems.push(format!("{label}: {value}"));
        }
        self.result(key, label, value, "")
    }

    /// A latency distribution.
    pub fn latency(&mut self, key: &str, label: &str, latency: &Latency) -> &mut Self {
        self.latencies.push((key.into(), label.into(), latency.summary()));
        self
    }

    pub fn to_json(&self) -> Value {
        let figures =
            |list: &[Figure]| -> Map<String, Value> { list.iter().map(|f| (f.key.clone(), f.value.clone())).collect() };
        let latencies: Map<String, Value> = self
            .latencies
            .iter()
            .map(|(key, _, s)| {
                let v = json!({
                    "count": s.count, "p50": s.p50, "p90": s.p90, "p99": s.p99,
                    "p99_9": s.p999, "max": s.max, "mean": s.mean,
                });
                (key.clone(), v)
            })
            .collect();
        json!({
            "scenario": self.scenario,
            "server": self.server,
            "params": figures(&self.params),
            "results": figures(&self.results),
            "latency_ms": latencies,
            "problems": self.problems,
            "warnings": self.warnings,
            "ok": self.problems.is_empty(),
        })
    }

    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\nbanter bench {} (server: {})", self.scenario, self.server);
        let params: Vec<String> = self.params.iter().map(|p| format!("{}={}", p.key, show(&p.value))).collect();
        let _ = writeln!(out, "  {}", params.join("  "));
        let width = self.results.iter().map(|r| r.label.len()).max().unwrap_or(0).max(10);
        let _ = writeln!(out);
        for r in &self.results {
            let _ = writeln!(out, "  {:<width$}  {:>14} {}", r.label, show(&r.value), r.unit);
        }
        if !self.latencies.is_empty() {
            let lw = self.latencies.iter().map(|(_, l, _)| l.len()).max().unwrap_or(0).max(12);
            let _ = writeln!(
                out,
                "\n  {:<lw$}  {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "latency (ms)", "count", "p50", "p90", "p99", "p99.9", "max"
            );
            for (_, label, s) in &self.latencies {
                let _ = writeln!(
                    out,
                    "  {:<lw$}  {:>10} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                    label, s.count, s.p50, s.p90, s.p99, s.p999, s.max
                );
            }
        }
        let _ = writeln!(out);
        for w in &self.warnings {
            let _ = writeln!(out, "  WARNING: {w}");
        }
        if self.problems.is_empty() {
            let _ = writeln!(out, "  OK");
        } else {
            for p in &self.problems {
                let _ = writeln!(out, "  PROBLEM: {p}");
            }
        }
        out
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => {
                if f.abs() >= 100.0 {
                    format!("{f:.0}")
                } else {
                    format!("{f:.2}")
                }
            }
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Rounds to two decimals for the JSON output.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_with_a_nonzero_must_be_zero_counter_has_a_problem() {
        let mut lat = Latency::new();
        for us in [500, 1_000, 2_000] {
            lat.record_us(us);
        }
        let mut r = Report::new("direct", "embedded");
        r.param("rate", 10).result("achieved", "achieved rate", 9.5, "msg/s").must_be_zero("lost", "lost", 0);
        r.latency("ack", "publish → ack", &lat);
        assert!(r.problems.is_empty());
        let json = r.to_json();
        assert_eq!(json["results"]["lost"], 0);
        assert_eq!(json["latency_ms"]["ack"]["count"], 3);
        assert!(r.to_table().contains("publish → ack"));
        r.warnings.push("busy".into());
        assert!(r.to_table().contains("WARNING: busy"));
        assert_eq!(r.to_json()["warnings"][0], "busy");
        r.must_be_zero("duplicates", "duplicates", 2);
        assert_eq!(r.problems, vec!["duplicates: 2".to_string()]);
        assert_eq!(r.to_json()["ok"], false);
    }
}
