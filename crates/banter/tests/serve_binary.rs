//! The real `banter serve` binary: starts with flags, serves, and shuts down
//! gracefully on SIGTERM with everything acknowledged still on disk.

#[path = "support/banter_process.rs"]
mod banter_process;

use std::time::Duration;

use banter_process::BanterProcess;
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
    let err = conn.next_frame_timeout(Duration::from_secs(5)).await.unwrap_err();
    assert!(err.is_closed());

    let banter = start(data.path());
    let bob = bob.with_base_url(&banter.url).unwrap();
    let history = bob.api().history(chat.id, Default::default()).await.unwrap();
    assert_eq!(history.messages.len(), 20);
    banter.terminate();
}
