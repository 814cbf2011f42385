//! The real `banter serve` binary: starts with flags, serves, and shuts down
//! gracefully on SIGTERM with everything acknowledged still on disk.

#[path = "support/banter_process.rs"]
mod banter_process;

use std::time::Duration;

use banter_process::BanterProcess;
use banter_protocol::{ErrorCode, ServerFrame};
use banter_sdk::ApiClient;

fn start(data_dir: &std::path::Path) -> BanterProcess {
    BanterProcess::start([std::ffi::OsStr::new("--data-dir"), data_dir.as_os_str()])
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

    let status = banter.terminate();
    assert!(status.success(), "graceful exit, got {status}");
    // When to come back, then the close.
    match conn.next_frame_timeout(Duration::from_secs(5)).await {
        Ok(ServerFrame::Error { code: ErrorCode::ShuttingDown, client_msg_id: None, retry_after_ms: Some(_), .. }) => {}
        other => panic!("expected the reconnect hint, got {other:?}"),
    }
    let err = conn.next_frame_timeout(Duration::from_secs(5)).await.unwrap_err();
    assert!(err.is_closed());

    let banter = start(data.path());
    let bob = bob.with_base_url(&banter.url).unwrap();
    let history = bob.api().history(chat.id, Default::default()).await.unwrap();
    assert_eq!(history.messages.len(), 20);
    banter.terminate();
}

/// Runs `banter serve <args>` to completion (it is expected to refuse to
/// start) and returns its exit status and standard error.
fn run_to_exit(args: &[&std::ffi::OsStr]) -> (std::process::ExitStatus, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_banter"))
        .arg("serve")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("banter starts");
    for _ in 0..200 {
        if child.try_wait().expect("wait").is_some() {
            let output = child.wait_with_output().expect("output");
            return (output.status, String::from_utf8_lossy(&output.stderr).into_owned());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("banter serve kept running; it should have refused to start");
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_refuses_to_start_with_one_clear_line() {
    let data = tempfile::tempdir().unwrap();
    let first = start(data.path());
    let (status, stderr) =
        run_to_exit(&["--listen".as_ref(), "127.0.0.1:0".as_ref(), "--data-dir".as_ref(), data.path().as_os_str()]);
    assert!(!status.success(), "refused, got {status}");
    assert!(stderr.contains("in use by another banter process"), "stderr: {stderr}");
    assert!(!stderr.contains("stack backtrace"), "one line, not a backtrace: {stderr}");
    let api = ApiClient::new(&first.url).unwrap();
    assert_eq!(api.health().await.unwrap().status, "ok", "the first server is unaffected");
    first.terminate();
    // Once the first has stopped, the data dir is free again.
    start(data.path()).terminate();
}

#[tokio::test]
async fn a_taken_port_is_reported_in_one_line() {
    let data = tempfile::tempdir().unwrap();
    let first = start(data.path());
    let taken = first.url.trim_start_matches("http://").to_owned();
    let other = tempfile::tempdir().unwrap();
    let (status, stderr) = run_to_exit(&["--listen".as_ref(), taken.as_ref(), "--data-dir".as_ref(), other.path().as_os_str()]);
    assert!(!status.success());
    assert!(stderr.contains("cannot listen on") && stderr.contains(&taken), "stderr: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert_eq!(stderr.matches("Address already in use").count(), 1, "the cause once: {stderr}");
    first.terminate();
}

#[tokio::test]
async fn a_dead_storage_writer_fails_health_and_ends_the_process_non_zero() {
    let data = tempfile::tempdir().unwrap();
    let trigger = data.path().join("kill-the-writer");
    let banter = BanterProcess::start_command(|command| {
        command
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .env("BANTER_FAULT_WRITER_PANIC_FILE", &trigger);
    });
    let api = ApiClient::new(&banter.url).unwrap();
    let alice = api.signup("alice", "correct horse battery").await.unwrap();
    let bob = api.signup("bob", "correct horse battery").await.unwrap();
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut conn = alice.connect().await.unwrap();
    conn.send_message(chat.id, "before").await.unwrap();

    std::fs::write(&trigger, b"now").unwrap();
    // The writer thread dies right after its next batch: this send is
    // acknowledged if that batch was its own, refused otherwise.
    let last = conn.send_message(chat.id, "the last one").await;
    // Health is never "ok" again, and the process exits non-zero by itself.
    let mut saw_unhealthy = false;
    for _ in 0..100 {
        match api.health().await {
            Ok(health) => assert_eq!(health.status, "ok", "not yet noticed"),
            Err(e) => {
                // Storage failed (or, a moment later, the shutdown that
                // follows it); on a loaded machine the process may even be
                // gone before this poll, which the exit status below checks.
                if e.status().is_some() {
                    assert_eq!(e.status(), Some(503), "{e}");
                    assert!(matches!(e.code(), Some(ErrorCode::StorageUnavailable | ErrorCode::ShuttingDown)), "{e}");
                }
                saw_unhealthy = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(saw_unhealthy, "health turned red");
    let status = banter.wait_for_exit(Duration::from_secs(20));
    assert!(!status.success(), "a supervisor must see a failure, got {status}");

    // Restarted (as a supervisor would), nothing acknowledged is lost.
    std::fs::remove_file(&trigger).unwrap();
    let banter = start(data.path());
    let bob = bob.with_base_url(&banter.url).unwrap();
    let texts: Vec<String> =
        bob.api().history(chat.id, Default::default()).await.unwrap().messages.into_iter().map(|m| m.text).collect();
    let expected: &[&str] = if last.is_ok() { &["before", "the last one"] } else { &["before"] };
    assert_eq!(texts, expected, "acknowledged means durable; nothing else stored");
    banter.terminate();
}
