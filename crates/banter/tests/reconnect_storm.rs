//! Reconnect storm: thousands of devices that were offline while their
//! groups talked all reconnect at the same instant (every handshake in
//! flight at once) and catch up by cursor. The server must stay up, accept
//! them all, and every device must converge on exactly the messages it
//! missed: seqs 1..=M, none missing, none twice.
//!
//! Driven by `banter bench sync` (which seeds the devices straight into the
//! store, as 5000 argon2id signups would take minutes) against a real
//! `banter serve` child process.

use std::process::Command;

use serde_json::Value;

const DEVICES: u64 = 5000;
const MISSED: u64 = 20;

#[test]
fn five_thousand_devices_reconnecting_at_once_all_converge() {
    let devices = DEVICES.to_string();
    let missed = MISSED.to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_banter"))
        .args(["bench", "sync", "--devices", &devices, "--connect-concurrency", &devices])
        .args(["--group-size", "100", "--messages", &missed, "--json", "--quiet"])
        .output()
        .expect("banter bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the storm failed ({}):\n{stdout}\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_str(&stdout).expect("the report is JSON");
    assert_eq!(report["problems"], Value::Array(vec![]), "{report:#}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["params"]["connect_concurrency"], DEVICES, "every device reconnects at the same time");
    let results = &report["results"];
    assert_eq!(results["messages_synced"], DEVICES * MISSED, "every device caught up on everything it missed");
    assert_eq!((&results["missing"], &results["gaps"], &results["duplicates"]), (&0.into(), &0.into(), &0.into()));
    assert_eq!(report["latency_ms"]["caught_up"]["count"], DEVICES, "every device converged");
}
