//! Storage faults on the embedded server's data dir, made real with a small
//! tmpfs mounted for the test (root, or CAP_SYS_ADMIN, is needed: CI and the
//! dev machines run as root; elsewhere set BANTER_SKIP_MOUNT_TESTS=1):
//!
//! - the disk fills up: sends fail with `storage_unavailable`, nothing
//!   acknowledged is lost, reads keep working, and sends work again as soon
//!   as space returns, without a restart;
//! - the data dir is read-only: the server refuses to start with a clear
//!   error instead of running without storage, and starts with everything
//!   intact once the directory is writable again.

#[path = "support/banter_process.rs"]
mod banter_process;
#[path = "support/history.rs"]
mod history;

use std::{
    ffi::OsStr,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use banter_process::BanterProcess;
use history::full_history;
use banter_protocol::{ConversationId, ErrorCode, Seq};
use banter_sdk::{ApiClient, Connection, Session};

use banter_test_support::PASSWORD;

/// A tmpfs of a given size mounted on a fresh temp dir; unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts it, or `None` when the test is told to skip mount tests.
    fn mount(size: &str) -> Option<SmallDisk> {
        if std::env::var_os("BANTER_SKIP_MOUNT_TESTS").is_some() {
            eprintln!("skipped: BANTER_SKIP_MOUNT_TESTS is set");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let disk = SmallDisk { dir };
        disk.mount_command(&["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]);
        Some(disk)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `mount -o remount,<options>`: resize, or switch to ro / rw.
    fn remount(&self, options: &str) {
        self.mount_command(&["-o", &format!("remount,{options}")]);
    }

    fn mount_command(&self, args: &[&str]) {
        let status = Command::new("mount").args(args).arg(self.path()).stderr(Stdio::inherit()).status().expect("run mount");
        assert!(
            status.success(),
            "mount {args:?} failed: these tests need root (or CAP_SYS_ADMIN) to mount a tmpfs; \
             set BANTER_SKIP_MOUNT_TESTS=1 to skip them"
        );
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

fn start(data_dir: &Path) -> BanterProcess {
    BanterProcess::start([OsStr::new("--data-dir"), data_dir.as_os_str()])
}

/// Two users and the direct conversation between them.
async fn two_users(url: &str) -> (Session, Session, ConversationId) {
    let api = ApiClient::new(url).expect("api");
    let alice = api.signup("alice", PASSWORD).await.expect("signup");
    let bob = api.signup("bob", PASSWORD).await.expect("signup");
    let chat = alice.api().direct_conversation_with(bob.user.id).await.expect("direct").conversation.id;
    (alice, bob, chat)
}

/// History holds exactly `acked` (seq, text), densely from 1.
async fn assert_history_is(api: &ApiClient, chat: ConversationId, acked: &[(Seq, String)]) {
    let history = full_history(api, chat).await;
    let stored: Vec<(Seq, &str)> = history.iter().map(|m| (m.seq, m.text.as_str())).collect();
    let expected: Vec<(Seq, &str)> = acked.iter().map(|(seq, text)| (*seq, text.as_str())).collect();
    assert_eq!(stored.len(), expected.len(), "history has exactly the acknowledged messages");
    assert!(stored == expected, "history differs from what was acknowledged");
}

/// A message of about 16 KiB that says which it is.
fn bulky_text(n: usize) -> String {
    format!("message {n} {}", "lorem ipsum ".repeat(1365))
}

/// Sends until the server refuses; returns the acknowledged (seq, text) and the refusal.
async fn send_until_refused(conn: &mut Connection, chat: ConversationId) -> (Vec<(Seq, String)>, banter_sdk::SdkError) {
    let mut acked = Vec::new();
    for n in 0..2000 {
        let text = bulky_text(n);
        match conn.send_message(chat, text.clone()).await {
            Ok(ack) => acked.push((ack.seq, text)),
            Err(e) => return (acked, e),
        }
    }
    panic!("2000 messages of 16 KiB fitted on a 4 MiB disk");
}

#[tokio::test]
async fn a_full_disk_refuses_sends_clearly_keeps_everything_acked_and_recovers_when_space_returns() {
    let Some(disk) = SmallDisk::mount("4m") else { return };
    let server = start(disk.path());
    let (alice, bob, chat) = two_users(&server.url).await;
    let mut conn = alice.connect().await.expect("connect");

    let (mut acked, refusal) = send_until_refused(&mut conn, chat).await;
    assert_eq!(refusal.code(), Some(ErrorCode::StorageUnavailable), "a clear error, got: {refusal}");
    assert!(acked.len() > 10, "the disk held some messages first ({})", acked.len());

    // Reads go on while the disk is full, and hold everything acknowledged
    // and nothing of the refused message.
    assert_history_is(bob.api(), chat, &acked).await;
    assert_eq!(bob.api().health().await.expect("health").status, "ok");

    disk.remount("size=64m");
    let mut recovered = None;
    for _ in 0..50 {
        match conn.send_message(chat, "space is back").await {
            Ok(ack) => {
                recovered = Some(ack);
                break;
            }
            Err(e) => {
                assert_eq!(e.code(), Some(ErrorCode::StorageUnavailable), "only the storage error while recovering: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let ack = recovered.expect("sends work again once space returns, without a restart");
    acked.push((ack.seq, "space is back".to_owned()));
    assert_history_is(bob.api(), chat, &acked).await;

    // And all of it is on disk: a crash and a restart keep it.
    drop(conn);
    server.kill();
    let server = start(disk.path());
    let bob = bob.with_base_url(&server.url).expect("session");
    assert_history_is(bob.api(), chat, &acked).await;
}

#[tokio::test]
async fn a_read_only_data_dir_stops_the_server_from_starting_and_loses_nothing() {
    let Some(disk) = SmallDisk::mount("64m") else { return };
    let server = start(disk.path());
    let (alice, bob, chat) = two_users(&server.url).await;
    let mut conn = alice.connect().await.expect("connect");
    let mut acked = Vec::new();
    for n in 0..20 {
        let text = format!("before read-only {n}");
        acked.push((conn.send_message(chat, text.clone()).await.expect("send").seq, text));
    }
    drop(conn);
    assert!(server.terminate().success());

    disk.remount("ro");
    let output = Command::new(env!("CARGO_BIN_EXE_banter"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(disk.path())
        .env("BANTER_LOG", "info")
        .output()
        .expect("run banter");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string() + &String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "banter must not run on a read-only data dir");
    assert!(stderr.to_lowercase().contains("read-only"), "the error says why: {stderr}");

    disk.remount("rw");
    let server = start(disk.path());
    let bob = bob.with_base_url(&server.url).expect("session");
    assert_history_is(bob.api(), chat, &acked).await;
    let alice = alice.with_base_url(&server.url).expect("session");
    alice.connect().await.expect("connect").send_message(chat, "writable again").await.expect("send");
}
