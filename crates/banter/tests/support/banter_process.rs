//! A real `banter serve` process for the binary-level tests: started (on a
//! free port unless told otherwise), ready once it prints its `ready url=…` line, and stopped by
//! SIGTERM (graceful) or SIGKILL (crash). Included with `#[path]` by each
//! test crate that needs it.
#![allow(dead_code)]

use std::{
    ffi::OsStr,
    io::{BufRead, BufReader},
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

/// A running `banter serve`; killed when dropped.
pub struct BanterProcess {
    child: Child,
    pub url: String,
}

impl BanterProcess {
    /// `banter serve --listen 127.0.0.1:0 <args>`, waiting for readiness.
    pub fn start<I, S>(args: I) -> BanterProcess
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::start_command(|command| {
            command.args(["--listen", "127.0.0.1:0"]).args(args);
        })
    }

    /// `banter serve` with the arguments (`--listen` included) and
    /// environment `configure` gives it.
    pub fn start_command(configure: impl FnOnce(&mut Command)) -> BanterProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_banter"));
        command.arg("serve");
        configure(&mut command);
        let mut child = command
            .env("BANTER_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("banter starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines.next().expect("banter printed a ready line").expect("readable output");
            if let Some(rest) = line.split("url=").nth(1) {
                if line.contains("ready") {
                    break rest.split_whitespace().next().unwrap_or_default().to_string();
                }
            }
        };
        // Keep draining output so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        BanterProcess { child, url }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits (at most 10 s) for the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        self.signal("-TERM");
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("banter did not exit within 10 s of SIGTERM");
    }

    /// Waits (at most `limit`) for the process to exit by itself.
    pub fn wait_for_exit(mut self, limit: Duration) -> ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("banter did not exit by itself within {limit:?}");
    }

    /// SIGKILL: the process gets no chance to flush or say goodbye.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn signal(&self, signal: &str) {
        Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("kill runs");
    }
}

impl Drop for BanterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
