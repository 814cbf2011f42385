//! Server memory per connection is bounded in bytes, measured from outside
//! on the real `banter serve` process (VmRSS in /proc): clients that do not
//! read cannot make the server hold their frames, and are closed.
//!
//! The bound per connection is `connection_memory_bound` (SECURITY.md,
//! "Memory per connection"); the tests allow it per misbehaving connection
//! plus a constant for everything else the server does meanwhile (SQLite's
//! caches, allocator slack, the well-behaved clients).

#[path = "support/banter_process.rs"]
mod banter_process;

use std::{
    io::Write,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use banter_process::BanterProcess;
use banter_protocol::{
    frames::{close_code, SyncCursor},
    ClientFrame, ServerFrame,
};
use banter_sdk::ApiClient;
use banter_server::outbound::connection_memory_bound;

const MIB: usize = 1024 * 1024;
/// Everything besides the misbehaving connections' own memory.
const SLACK: usize = 48 * MIB;
const QUEUE_BYTES: usize = MIB;

/// Starts `banter serve` with a 1 MiB outbound queue and the given write
/// timeout; returns it and the URL of its metrics.
fn start(dir: &tempfile::TempDir, write_timeout: Duration) -> (BanterProcess, String) {
    let config = dir.path().join("banter.toml");
    let mut file = std::fs::File::create(&config).unwrap();
    writeln!(file, "outbound_queue_bytes = {QUEUE_BYTES}\nwrite_timeout = \"{}ms\"", write_timeout.as_millis()).unwrap();
    let data = dir.path().join("data");
    let metrics = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let banter = BanterProcess::start([
        "--config".as_ref(),
        config.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--metrics-listen".as_ref(),
        std::ffi::OsStr::new(&metrics),
    ]);
    (banter, format!("http://{metrics}/metrics"))
}

/// The process's resident set, in bytes.
fn rss(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    kib * 1024
}

/// Samples the RSS every 10 ms until stopped; returns the highest seen.
fn watch_peak_rss(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(rss(pid));
            std::thread::sleep(Duration::from_millis(10));
        }
        peak
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn never_reading_connections_stay_within_the_memory_bound_and_are_closed_while_others_are_served() {
    const FLOODERS: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let (banter, _) = start(&dir, Duration::from_secs(2));
    let api = ApiClient::new(&banter.url).unwrap();
    let alice = api.signup("alice", "correct horse battery").await.unwrap();
    let bob = api.signup("bob", "correct horse battery").await.unwrap();
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut polite = alice.connect().await.unwrap();
    // 30 × 40 KB: every sync answer is a full page, about 1 MB.
    for _ in 0..30 {
        polite.send_message(chat.id, &"x".repeat(40_000)).await.unwrap();
    }
    // Warm up the read path (store readers, allocator) before the baseline.
    for _ in 0..4 {
        bob.connect().await.unwrap().sync_all(&[]).await.unwrap();
    }
    let baseline = rss(banter.pid());

    let stop = Arc::new(AtomicBool::new(false));
    let peak = watch_peak_rss(banter.pid(), stop.clone());
    // Each floods 40 syncs (40 MB of answers) and never reads.
    let mut flooders = Vec::new();
    for _ in 0..FLOODERS {
        let mut conn = bob.connect().await.unwrap();
        for _ in 0..40 {
            let sync = ClientFrame::Sync { cursors: vec![SyncCursor { conversation_id: chat.id, seq: 0 }], limit: Some(200) };
            if conn.send_frame(sync).await.is_err() {
                break;
            }
        }
        flooders.push(conn);
    }
    // Meanwhile the polite client's round trips go on, until every flooder
    // has been closed (each ends once what the kernel held is read).
    let closed = Arc::new(AtomicUsize::new(0));
    let mut ends = Vec::new();
    for mut conn in flooders {
        let closed = closed.clone();
        ends.push(tokio::spawn(async move {
            // Read nothing for a while, so the server meets a full socket.
            tokio::time::sleep(Duration::from_secs(6)).await;
            loop {
                match conn.next_frame_timeout(Duration::from_secs(30)).await {
                    Ok(_) => {}
                    Err(e) => {
                        assert!(e.is_closed(), "the server closed it: {e}");
                        closed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        }));
    }
    let mut round_trips = 0;
    while closed.load(Ordering::Relaxed) < FLOODERS {
        tokio::time::timeout(Duration::from_secs(10), polite.ping()).await.expect("ping within 10 s").unwrap();
        tokio::time::timeout(Duration::from_secs(10), polite.send_message(chat.id, "still here"))
            .await
            .expect("send within 10 s")
            .unwrap();
        round_trips += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for end in ends {
        end.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let peak = peak.join().unwrap();
    let bound = FLOODERS * connection_memory_bound(QUEUE_BYTES) + SLACK;
    eprintln!(
        "baseline {} MiB, peak {} MiB (+{} MiB; allowed +{} MiB); {round_trips} polite round trips",
        baseline / MIB,
        peak / MIB,
        peak.saturating_sub(baseline) / MIB,
        bound / MIB
    );
    assert!(peak.saturating_sub(baseline) <= bound, "RSS grew by {} MiB", peak.saturating_sub(baseline) / MIB);
    assert!(round_trips > 0);
    banter.terminate();
}

/// The slow-consumer counter on the metrics listener.
async fn slow_consumer_disconnects(metrics_url: &str) -> f64 {
    let page = reqwest::get(metrics_url).await.unwrap().text().await.unwrap();
    page.lines()
        .find_map(|line| line.strip_prefix("banter_slow_consumer_disconnects_total "))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_consumer_receives_close_4008_and_the_memory_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let (banter, metrics) = start(&dir, Duration::from_secs(10));
    let api = ApiClient::new(&banter.url).unwrap();
    let alice = api.signup("alice", "correct horse battery").await.unwrap();
    let bob = api.signup("bob", "correct horse battery").await.unwrap();
    let chat = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let mut sender = alice.connect().await.unwrap();
    let big = "𝄞".repeat(100_000); // 400 KB
    sender.send_message(chat.id, &big).await.unwrap();
    let mut slow = bob.connect().await.unwrap();
    let baseline = rss(banter.pid());
    let stop = Arc::new(AtomicBool::new(false));
    let peak = watch_peak_rss(banter.pid(), stop.clone());

    // Bob reads nothing while Alice sends, until the server gives up on him.
    let mut sent = 0;
    while slow_consumer_disconnects(&metrics).await < 1.0 {
        assert!(sent < 300, "bob was never disconnected");
        sender.send_message(chat.id, &big).await.unwrap();
        sent += 1;
    }
    // Then he reads: whole messages, then the close frame with 4008.
    let end = loop {
        match slow.next_frame_timeout(Duration::from_secs(30)).await {
            Ok(ServerFrame::Message { message }) => assert_eq!(message.text, big, "a whole message"),
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert_eq!(end.close_code(), Some(close_code::SLOW_CONSUMER), "{end}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let peak = peak.join().unwrap();
    let after = rss(banter.pid());
    eprintln!(
        "{sent} × 400 KB sent; baseline {} MiB, peak {} MiB, after {} MiB",
        baseline / MIB,
        peak / MIB,
        after / MIB
    );
    assert!(peak.saturating_sub(baseline) <= connection_memory_bound(QUEUE_BYTES) + SLACK, "peak {} MiB", peak / MIB);
    assert!(after.saturating_sub(baseline) <= SLACK, "after {} MiB", after / MIB);
    banter.terminate();
}
