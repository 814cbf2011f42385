//! The real `banter serve` binary: starts with flags, serves, and shuts down
//! gracefully on SIGTERM with everything acknowledged still on disk.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use banter_sdk::ApiClient;

struct Banter {
    child: Child,
    url: String,
}

/// Starts `banter serve` on a free port and waits for its "ready" line.
fn start(data_dir: &std::path::Path) -> Banter {
    let mut child = Command::new(env!("CARGO_BIN_EXE_banter"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
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
    Banter { child, url }
}

fn terminate(mut banter: Banter) -> std::process::ExitStatus {
    Command::new("kill").args(["-TERM", &banter.child.id().to_string()]).status().expect("kill runs");
    for _ in 0..100 {
        if let Some(status) = banter.child.try_wait().expect("wait") {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = banter.child.kill();
    panic!("banter did not exit within 10 s of SIGTERM");
}

#[tokio::test]
async fn banter_serve_runs_and_stops_gracefully_on_sigterm_keeping_acknowledged_messages() {
    let data = tempfile::tempdir().unwrap();
    let banter = start(data.path());
    let api = ApiClient::new(&banter.url).unwrap();
    assert_eq!(api.health().await.unwrap().status, "ok");
    let alice = api.signup("alice", "correct horse battery").await.unwrap();
    let bob = api.signup("bob", "correct horse battery").await.unwrap();
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut conn = alice.connect().await.unwrap();
    for i in 0..20 {
        conn.send_message(chat.id, &format!("message {i}")).await.unwrap();
    }

    let status = terminate(banter);
    assert!(status.success(), "graceful exit, got {status}");
    let err = conn.next_frame_timeout(Duration::from_secs(5)).await.unwrap_err();
    assert!(err.is_closed());

    let banter = start(data.path());
    let bob = bob.with_base_url(&banter.url).unwrap();
    let history = bob.api().history(chat.id, Default::default()).await.unwrap();
    assert_eq!(history.messages.len(), 20);
    terminate(banter);
}
