//! `banter serve` / `banter config check` through the real binary: the
//! layers (file → environment → flags), human durations, validation at
//! start, and credentials hidden in what is printed.

use std::{path::Path, process::Command};

/// `banter <args>` with only the given `BANTER_*` variables set.
fn banter(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_banter"));
    command.args(args);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("BANTER_")) {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let output = command.output().expect("banter runs");
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn write(dir: &Path, text: &str) -> String {
    let path = dir.join("banter.toml");
    std::fs::write(&path, text).expect("write the config file");
    path.to_string_lossy().into_owned()
}

#[test]
fn flags_override_the_environment_which_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "idle_timeout = \"50s\"\nwrite_timeout = \"7s\"\nframes_burst = 9\n");
    let (ok, out, err) = banter(
        &["config", "check", "--config", &file, "--set", "frames_burst=11", "--presence-grace", "5s"],
        &[("BANTER_WRITE_TIMEOUT", "8s"), ("BANTER_FRAMES_BURST", "10"), ("BANTER_DATABASE_URL", "postgres://u:s3cret@db/a,postgres://db/b")],
    );
    assert!(ok, "{err}");
    for line in ["idle_timeout = \"50s\"", "write_timeout = \"8s\"", "frames_burst = 11", "presence_grace = \"5s\"", "heartbeat_interval = \"10s\""] {
        assert!(out.lines().any(|l| l == line), "{line} in:\n{out}");
    }
    assert!(out.contains("postgres://u:***@db/a") && out.contains("postgres://db/b"), "{out}");
    assert!(!out.contains("s3cret"), "{out}");
}

#[test]
fn a_duration_without_unit_is_refused_with_what_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "idle_timeout = 60\n");
    let (ok, _, err) = banter(&["serve", "--config", &file, "--listen", "127.0.0.1:0", "--data-dir", &dir.path().join("d").to_string_lossy()], &[]);
    assert!(!ok);
    assert!(err.contains("60 has no unit: write e.g. \"60s\" or \"60ms\"") && err.contains("idle_timeout"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line for the operator: {err}");
}

#[test]
fn an_impossible_combination_stops_the_server_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ok, _, err) = banter(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", &data.to_string_lossy(), "--set", "heartbeat_interval=1m", "--nats-url", "nats://127.0.0.1:4222"],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("idle_timeout (45s) must be longer than heartbeat_interval (1m)"), "{err}");
    assert!(err.contains("nats_url needs database_urls"), "both problems at once: {err}");
    assert!(!data.exists(), "nothing was opened");
}

#[test]
fn every_setting_can_be_given_on_the_command_line_and_in_the_environment() {
    let (ok, out, err) = banter(
        &["config", "check", "--set", "account_http_limits.reads.burst=50", "--set", "push_endpoint_hosts=[\"push.example.com\"]"],
        &[("BANTER_ACCOUNT_HTTP_LIMITS__READS__PER_MINUTE", "70"), ("BANTER_SESSION_CHECK_INTERVAL", "30s")],
    );
    assert!(ok, "{err}");
    let config: toml::Table = toml::from_str(&out).expect("check prints TOML");
    assert_eq!(config["account_http_limits"]["reads"]["burst"].as_integer(), Some(50));
    assert_eq!(config["account_http_limits"]["reads"]["per_minute"].as_integer(), Some(70));
    assert_eq!(config["session_check_interval"].as_str(), Some("30s"));
    assert_eq!(config["push_endpoint_hosts"].as_array().map(Vec::len), Some(1));
}

#[test]
fn a_variable_of_the_old_seconds_form_is_refused_not_ignored() {
    let (ok, _, err) = banter(&["config", "check"], &[("BANTER_IDLE_TIMEOUT_SECS", "60")]);
    assert!(!ok);
    assert!(err.contains("BANTER_IDLE_TIMEOUT_SECS is no longer read") && err.contains("BANTER_IDLE_TIMEOUT=45s"), "{err}");
}

#[test]
fn the_reference_lists_every_setting() {
    let (ok, out, _) = banter(&["config", "reference"], &[]);
    assert!(ok);
    let on_disk = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/CONFIGURATION.md")).unwrap();
    assert_eq!(out, on_disk, "docs/CONFIGURATION.md is what `banter config reference` prints");
}
