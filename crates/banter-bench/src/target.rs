//! One server under test (one node): `banter serve` started as a child
//! process on the storage [`super::backend`] chose, or a server already
//! running at `--url`. [`super::cluster`] holds one or more of them.
//!
//! A child process rather than an in-process server so that its memory can
//! be read on its own (`/proc/<pid>/status`, VmRSS) and it has its own
//! runtime and threads, as in production; the load generator competes with
//! it only for the CPU.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

use super::CommonArgs;

/// Where the server's data lives until the run ends.
pub enum DataDir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl DataDir {
    /// The `--data-dir` given, or a fresh temp dir.
    pub fn new(common: &CommonArgs) -> anyhow::Result<DataDir> {
        match &common.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                Ok(DataDir::Kept(dir.clone()))
            }
            None => Ok(DataDir::Temp(tempfile::Builder::new().prefix("banter-bench-").tempdir()?)),
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            DataDir::Temp(t) => t.path(),
            DataDir::Kept(p) => p,
        }
    }

    /// The database file `banter serve --data-dir` uses.
    pub fn database_path(&self) -> PathBuf {
        banter_server::ServerConfig { data_dir: self.path().to_owned(), ..Default::default() }.database_path()
    }
}

/// A running server to load.
pub struct Target {
    pub base_url: String,
    /// Its `GET /metrics`, for a child server (per-node NATS traffic).
    pub metrics_url: Option<String>,
    /// Its process, when known: the child, or `--server-pid`.
    pub pid: Option<u32>,
    child: Option<Child>,
}

impl Target {
    /// A server at `url` (one `--url`), with its process id if given.
    pub fn external(url: &str, pid: Option<u32>) -> Target {
        Target { base_url: url.trim_end_matches('/').to_owned(), metrics_url: None, pid, child: None }
    }

    /// Starts `banter serve <storage_args>` (storage already seeded) on a
    /// free port and waits until it is ready.
    pub fn start_child(common: &CommonArgs, storage_args: &[OsString]) -> anyhow::Result<Target> {
        let exe = std::env::current_exe().context("finding the banter binary")?;
        let mut command = match common.server_wrapper.as_deref().map(str::split_whitespace) {
            Some(mut words) => {
                let mut command = Command::new(words.next().context("--server-wrapper is empty")?);
                command.args(words).arg(exe);
                command
            }
            None => Command::new(exe),
        };
        // Every simulated device connects from this one host: the cap on
        // connections per client address would refuse a connect storm.
        command.args(["serve", "--listen", "127.0.0.1:0", "--max-http-connections-per-address", "0"]).args(storage_args);
        // Metrics on a port of their own (the NATS traffic of each node).
        let metrics_addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a port for the server's metrics")?;
        command.arg("--metrics-listen").arg(metrics_addr.to_string());
        if let Some(config) = &common.server_config {
            command.arg("--config").arg(config);
        }
        // If the load tool dies without stopping it (killed, crashed), the
        // server must not outlive it.
        super::sys::terminate_with_parent(&mut command);
        // Warnings only, plus the binary's own "ready" line.
        // The history scenario's readers are one account reading thousands
        // of pages a second: what is measured is the store, not the
        // per-account read budget (`account_http_limits.reads`), which would
        // answer 429 after its burst of 300.
        let mut child = command
            .env("BANTER_ACCOUNT_HTTP_LIMITS__READS__BURST", "1000000")
            .env("BANTER_ACCOUNT_HTTP_LIMITS__READS__PER_MINUTE", "100000000")
            .env("BANTER_LOG", "warn,banter::serve=info")
            .env_remove("BANTER_LISTEN")
            .env_remove("BANTER_DATA_DIR")
            .env_remove("BANTER_CONFIG")
            .env_remove("BANTER_DATABASE_URL")
            .env_remove("BANTER_NATS_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting banter serve")?;
        let pid = child.id();
        let stdout = child.stdout.take().context("server stdout")?;
        let stderr = child.stderr.take().context("server stderr")?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<String>();
        // Read the server's log until it is ready, then keep forwarding it
        // (to our stderr) so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut ready_tx = Some(ready_tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = ready_url(&line) {
                    if let Some(tx) = ready_tx.take() {
                        let _ = tx.send(url);
                        continue;
                    }
                }
                eprintln!("[server] {line}");
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[server] {line}");
            }
        });
        let base_url = match ready_rx.recv_timeout(Duration::from_secs(120)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                bail!("banter serve did not become ready (exit status {status:?})");
            }
        };
        let metrics_url = Some(format!("http://{metrics_addr}/metrics"));
        Ok(Target { base_url, metrics_url, pid: Some(pid), child: Some(child) })
    }

    /// The server's resident memory in bytes, if its process is known.
    pub fn rss_bytes(&self) -> Option<u64> {
        rss_bytes(self.pid?)
    }

    /// Stops the server if the bench started it (SIGTERM, then SIGKILL
    /// after 10 s); a `--url` server is left alone.
    pub fn stop_child(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        super::sys::terminate(&child);
        for _ in 0..200 {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.stop_child();
    }
}

/// `url=…` from the server's "ready" log line.
fn ready_url(line: &str) -> Option<String> {
    if !line.contains("ready") {
        return None;
    }
    let rest = line.split("url=").nth(1)?;
    Some(rest.split_whitespace().next()?.to_owned())
}

/// VmRSS of a process, from `/proc/<pid>/status`.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// User + system CPU seconds of a process.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    cpu_times(pid).map(|(user, system)| user + system)
}

/// (user, system) CPU seconds of a process, from `/proc/<pid>/stat`.
pub fn cpu_times(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let (user, system): (f64, f64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    let per_second = super::sys::clock_ticks_per_second();
    Some((user / per_second, system / per_second))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_line_gives_the_url() {
        let line = "2026-01-01T00:00:00Z  INFO banter::serve: ready url=http://127.0.0.1:4242";
        assert_eq!(ready_url(line).as_deref(), Some("http://127.0.0.1:4242"));
        assert_eq!(ready_url("INFO banter listening addr=127.0.0.1:1"), None);
    }

    #[test]
    fn our_own_memory_is_readable() {
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
        assert!(cpu_seconds(std::process::id()).unwrap() >= 0.0);
    }
}
