//! `banter backup` and `banter restore` against a real server:
//!
//! - a backup taken while messages are being sent and acknowledged is one
//!   consistent snapshot: every message acknowledged before it began is in
//!   it, its seqs are dense, and each is the message that was acked at that
//!   seq;
//! - a server started on the restored copy serves that history;
//! - restore refuses while a server has the database open, keeps the
//!   database it replaces, and refuses what is not a Banter database;
//! - a cluster (PostgreSQL) configuration is refused with a pointer to
//!   PostgreSQL's own tools.

#[path = "support/banter_process.rs"]
mod banter_process;
#[path = "support/history.rs"]
mod history;

use std::{
    collections::BTreeMap,
    ffi::OsStr,
    path::Path,
    process::{Command, Output},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use banter_process::BanterProcess;
use banter_protocol::{ConversationId, ErrorCode, Seq};
use banter_sdk::{ApiClient, Session};
use banter_test_support::PASSWORD;
use history::full_history;

fn start(data_dir: &Path) -> BanterProcess {
    BanterProcess::start([OsStr::new("--data-dir"), data_dir.as_os_str()])
}

/// `banter <args>`, waited for (a backup of a small database takes well
/// under a second; the test's own timeout bounds it).
async fn banter(args: Vec<std::ffi::OsString>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_banter")).args(args).output().expect("banter runs")
    })
    .await
    .expect("join")
}

fn args(items: &[&OsStr]) -> Vec<std::ffi::OsString> {
    items.iter().map(|s| s.to_os_string()).collect()
}

/// Sends numbered messages one after the other until `stop`; returns what
/// was acked, by seq.
async fn send_until(session: Session, conversation_id: ConversationId, prefix: &'static str, stop: Arc<AtomicBool>) -> BTreeMap<Seq, String> {
    let mut conn = session.connect().await.expect("connect");
    let mut acked = BTreeMap::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let text = format!("{prefix} {n}");
        match conn.send_message(conversation_id, text.clone()).await {
            Ok(ack) => {
                acked.insert(ack.seq, text);
                n += 1;
            }
            Err(e) if e.code() == Some(ErrorCode::RateLimited) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("send failed: {e}"),
        }
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_of_a_busy_server_restores_to_a_consistent_history() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = dir.path().join("live");
    let server = start(&live);
    let api = ApiClient::new(&server.url).expect("api");
    let alice = api.signup("alice", PASSWORD).await.expect("signup");
    let bob = api.signup("bob", PASSWORD).await.expect("signup");
    let direct = alice.api().direct_conversation_with(bob.user.id).await.expect("direct").conversation.id;

    // Acknowledged before the backup begins: all of it must be in the copy.
    let stop = Arc::new(AtomicBool::new(false));
    let before = tokio::spawn(send_until(alice.clone(), direct, "before", stop.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let before = before.await.expect("sender");
    assert!(before.len() >= 10, "only {} messages were acked", before.len());

    // Bob keeps sending while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let during = tokio::spawn(send_until(bob.clone(), direct, "during", stop.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let copy = dir.path().join("copy.sqlite3");
    let out = banter(args(&[OsStr::new("backup"), copy.as_os_str(), OsStr::new("--data-dir"), live.as_os_str()])).await;
    stop.store(true, Ordering::Relaxed);
    let during = during.await.expect("sender");
    assert!(out.status.success(), "backup failed: {}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("2 users, 1 conversations"), "{report}");

    // A second backup to the same file is refused; nothing is overwritten.
    let again = banter(args(&[OsStr::new("backup"), copy.as_os_str(), OsStr::new("--data-dir"), live.as_os_str()])).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // Restoring over the running server's database is refused.
    let busy = banter(args(&[OsStr::new("restore"), copy.as_os_str(), OsStr::new("--data-dir"), live.as_os_str()])).await;
    assert!(!busy.status.success());
    assert!(String::from_utf8_lossy(&busy.stderr).contains("in use by another banter process"), "{}", String::from_utf8_lossy(&busy.stderr));
    assert!(server.terminate().success());

    // Restore into a fresh data directory and serve it.
    let restored = dir.path().join("restored");
    let out = banter(args(&[OsStr::new("restore"), copy.as_os_str(), OsStr::new("--data-dir"), restored.as_os_str()])).await;
    assert!(out.status.success(), "restore failed: {}", String::from_utf8_lossy(&out.stderr));
    let server = start(&restored);
    let alice = alice.with_base_url(&server.url).expect("session");
    let history = full_history(alice.api(), direct).await;
    let seqs: Vec<Seq> = history.iter().map(|m| m.seq).collect();
    let dense: Vec<Seq> = (1..=history.len() as Seq).collect();
    assert_eq!(seqs, dense, "the copy's seqs are dense from 1");
    let stored: BTreeMap<Seq, &str> = history.iter().map(|m| (m.seq, m.text.as_str())).collect();
    for (seq, text) in &before {
        assert_eq!(stored.get(seq), Some(&text.as_str()), "message acked before the backup, seq {seq}");
    }
    // The snapshot is a prefix of the order: whatever it holds of the
    // messages sent during the backup is exactly what was acked there.
    for (seq, text) in during.iter().filter(|(seq, _)| **seq <= history.len() as Seq) {
        assert_eq!(stored.get(seq), Some(&text.as_str()), "message acked during the backup, seq {seq}");
    }
    assert!(server.terminate().success());

    // Restoring over an existing (stopped) database keeps the old one aside.
    let out = banter(args(&[OsStr::new("restore"), copy.as_os_str(), OsStr::new("--data-dir"), live.as_os_str()])).await;
    assert!(out.status.success(), "restore failed: {}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8_lossy(&out.stdout);
    let kept = report.split("kept as ").nth(1).map(str::trim).expect("says where the replaced database is");
    assert!(Path::new(kept).exists(), "{kept}");
}

#[tokio::test]
async fn restore_refuses_a_file_that_is_not_a_banter_database_and_backup_refuses_a_cluster() {
    let dir = tempfile::tempdir().expect("temp dir");
    let junk = dir.path().join("junk.sqlite3");
    std::fs::write(&junk, "not a database").expect("write");
    let data = dir.path().join("data");
    let out = banter(args(&[OsStr::new("restore"), junk.as_os_str(), OsStr::new("--data-dir"), data.as_os_str()])).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a SQLite database"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!data.join("banter.sqlite3").exists(), "nothing was put in place");

    let out = banter(args(&[
        OsStr::new("backup"),
        dir.path().join("x").as_os_str(),
        OsStr::new("--database-url"),
        OsStr::new("postgres://postgres@127.0.0.1:5432/postgres"),
    ]))
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"), "{}", String::from_utf8_lossy(&out.stderr));
}
