//! `banter bench`: every scenario, run small against its own embedded
//! server, completes and proves zero loss. No timing is asserted — these
//! runs share the machine with everything else; the figures that matter
//! are in docs/BENCHMARKS.md.

use std::process::Command;

use serde_json::Value;

/// Runs `banter bench <args> --json --quiet` and returns the parsed report.
fn bench(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_banter"))
        .arg("bench")
        .args(args)
        .args(["--json", "--quiet"])
        .output()
        .expect("banter bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "banter bench {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).expect("the report is JSON");
    assert_eq!(report["ok"], true, "{report:#}");
    report
}

#[test]
fn connections_opens_and_holds_every_connection_and_reports_server_memory() {
    let r = bench(&["connections", "-n", "60", "--hold", "0.5"]);
    assert_eq!(r["results"]["opened"], 60);
    assert_eq!(r["results"]["dropped"], 0);
    assert!(r["results"]["server_bytes_per_connection"].is_number());
    assert_eq!(r["latency_ms"]["connect"]["count"], 60);
}

#[test]
fn direct_over_the_fallback_transport_delivers_every_message_exactly_once() {
    let r = bench(&["direct", "--users", "10", "--rate", "200", "--duration", "1", "--warmup", "0.2", "--transport", "events"]);
    assert_eq!(r["params"]["transport"], "events", "every connection on the fallback");
    assert_every_message_delivered_once(&r["results"]);
}

/// Every send acked, and every delivery made live, once.
fn assert_every_message_delivered_once(results: &Value) {
    assert!(results["acked"].as_u64().unwrap() > 0);
    assert_eq!(results["acked"], results["sent"]);
    assert_eq!(results["delivered_live"], results["expected_deliveries"]);
    assert_eq!(results["lost"], 0);
    assert_eq!(results["duplicates"], 0);
}

#[test]
fn direct_delivers_every_message_exactly_once() {
    let r = bench(&["direct", "--users", "10", "--rate", "200", "--duration", "1", "--warmup", "0.2", "--idle-baseline", "0.5"]);
    let results = &r["results"];
    assert_every_message_delivered_once(results);
    // The servers' idle CPU, measured before sending, and the CPU per
    // delivery above it (never more than the whole).
    let idle = results["server_idle_cpu_pct_per_node"].as_f64().expect("idle CPU reported");
    assert!((0.0..=100.0 * 64.0).contains(&idle), "{results:#}");
    let whole = results["server_cpu_us_per_delivery"].as_f64().expect("CPU per delivery");
    let above = results["server_cpu_us_per_delivery_above_idle"].as_f64().expect("CPU per delivery above idle");
    assert!((0.0..=whole).contains(&above), "{above} above idle of {whole}");
    for key in ["publish_to_ack", "publish_to_recipient"] {
        assert!(r["latency_ms"][key]["count"].as_u64().unwrap() > 0, "{key}");
        assert!(r["latency_ms"][key]["p99_9"].is_number(), "{key}");
    }
    // What the load generator itself spent, per message, and how busy the
    // machine was before the run (a warning when above 1.5).
    assert!(results["client_cpu_us_per_msg"].as_f64().unwrap() > 0.0, "{results:#}");
    let load_before = results["machine_load_before_1m"].as_f64().expect("the load before the run");
    let warned = r["warnings"].as_array().expect("warnings").iter().any(|w| w.as_str().unwrap_or("").contains("busy"));
    assert_eq!(warned, load_before > 1.5, "{:#}", r["warnings"]);
}

#[test]
fn group_delivers_every_message_to_every_other_member_exactly_once() {
    let r = bench(&[
        "group",
        "--groups",
        "2",
        "--members",
        "12",
        "--senders-per-group",
        "3",
        "--rate",
        "60",
        "--duration",
        "1",
        "--warmup",
        "0.2",
    ]);
    let results = &r["results"];
    let acked = results["acked"].as_u64().unwrap();
    assert!(acked > 0);
    assert_eq!(results["expected_deliveries"].as_u64().unwrap(), acked * 11);
    assert_eq!(results["delivered_live"], results["expected_deliveries"]);
    assert_eq!(results["lost"], 0);
    assert_eq!(results["duplicates"], 0);
    assert!(r["latency_ms"]["publish_to_last_recipient"]["count"].as_u64().unwrap() > 0);
}

#[test]
fn sync_catches_every_reconnecting_device_up_without_gaps() {
    let r = bench(&["sync", "--devices", "40", "--group-size", "20", "--messages", "30", "--page", "7"]);
    let results = &r["results"];
    assert_eq!(results["messages_synced"], 40 * 30);
    assert_eq!(results["missing"], 0);
    assert_eq!(results["gaps"], 0);
    assert_eq!(results["duplicates"], 0);
    assert_eq!(r["latency_ms"]["caught_up"]["count"], 40);
    // Both sides' CPU during the catch-up, in total and per synced message.
    for (total, per_message) in
        [("catch_up_server_cpu_s", "server_cpu_us_per_synced"), ("catch_up_client_cpu_s", "client_cpu_us_per_synced")]
    {
        let total = results[total].as_f64().unwrap_or_else(|| panic!("{total} reported: {results:#}"));
        let per_message = results[per_message].as_f64().unwrap_or_else(|| panic!("{per_message} reported: {results:#}"));
        assert!(total >= 0.0 && per_message >= 0.0, "{results:#}");
        // Both are rounded to two decimals.
        assert!((per_message * 1200.0 / 1e6 - total).abs() <= 0.006, "{per_message} µs × 1,200 vs {total} s");
    }
}

#[test]
fn history_pages_through_the_whole_conversation_with_correct_pages() {
    let r = bench(&["history", "--messages", "1234", "--page", "50", "--readers", "3"]);
    let results = &r["results"];
    // 3 stretches of 411–412 messages: 9 pages each, the last one short.
    assert_eq!(results["pages_read"], 27);
    assert_eq!(results["bad_pages"], 0);
    assert_eq!(r["params"]["pages"], 27);
}

/// More pages than one account's read budget allows in a burst (300): the
/// server the bench starts must measure the store, not answer 429.
#[test]
fn history_reads_more_pages_than_the_per_account_read_budget() {
    let r = bench(&["history", "--messages", "20000", "--page", "50", "--readers", "4"]);
    assert_eq!(r["results"]["pages_read"], 400);
    assert_eq!(r["results"]["bad_pages"], 0);
}

#[test]
fn search_runs_every_query_and_finds_the_common_words() {
    let r = bench(&["search", "--messages", "3000", "--users", "10", "--conversations", "40", "--queries", "200"]);
    let results = &r["results"];
    assert_eq!(r["latency_ms"]["query"]["count"], 200, "{r:#}");
    // Queries are drawn like the texts: most find something.
    assert!(results["results_per_query"].as_f64().unwrap_or(0.0) > 1.0, "{results:#}");
}

/// The shared PostgreSQL server and NATS (`scripts/services-up`).
fn cluster_services() -> (String, String) {
    (banter_test_support::postgres::admin_url(), banter_test_support::nats_url())
}

#[test]
fn a_two_node_cluster_delivers_every_group_message_exactly_once_across_nodes() {
    let (database, nats) = cluster_services();
    let r = bench(&[
        "group",
        "--nodes",
        "2",
        "--database-url",
        &database,
        "--nats-url",
        &nats,
        "--groups",
        "2",
        "--members",
        "6",
        "--senders-per-group",
        "2",
        "--rate",
        "40",
        "--duration",
        "1",
        "--warmup",
        "0.2",
    ]);
    assert_eq!(r["params"]["nodes"], 2);
    assert_eq!(r["params"]["storage"], "postgresql");
    let results = &r["results"];
    let acked = results["acked"].as_u64().unwrap();
    assert!(acked > 0);
    assert_eq!(results["acked"], results["sent"]);
    assert_eq!(results["expected_deliveries"].as_u64().unwrap(), acked * 5);
    assert_eq!(results["delivered_live"], results["expected_deliveries"]);
    assert_eq!(results["lost"], 0);
    assert_eq!(results["duplicates"], 0);
    // Members alternate between the nodes: of a sender's 5 fellow members,
    // 3 are on the other node whichever node it is on.
    assert_eq!(results["delivered_cross_node"].as_u64().unwrap(), acked * 3);
    assert!(r["latency_ms"]["publish_to_cross_node_recipient"]["count"].as_u64().unwrap() > 0);
    // Routing by node: each message crosses to the other node once, for
    // its 3 members there together.
    assert_eq!(results["nats_router_messages"].as_f64().unwrap(), acked as f64, "one NATS message per message");
    for node in ["node0_rss_mib", "node1_rss_mib"] {
        assert!(results[node].as_f64().unwrap() > 0.0, "{node}");
    }
}
