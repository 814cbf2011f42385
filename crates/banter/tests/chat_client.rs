//! `banter chat`, the terminal client, driven through its stdin and stdout
//! against a real `banter serve`: people chat live, a message sent while the
//! recipient is away waits as unread, the session survives a restart of the
//! client, text cannot steer the terminal, and a server crash is ridden out
//! (what was typed meanwhile is sent once the server is back, exactly once).

#[path = "support/banter_process.rs"]
mod banter_process;

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use banter_process::BanterProcess;
use banter_protocol::http::HistoryQuery;
use banter_sdk::ApiClient;

use banter_test_support::PASSWORD;
const WAIT: Duration = Duration::from_secs(15);

/// One `banter chat` process: lines in, lines out.
struct Chat {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Chat {
    fn start(url: &str, session_file: &Path) -> Chat {
        let mut child = Command::new(env!("CARGO_BIN_EXE_banter"))
            .args(["chat", "--url", url, "--session-file"])
            .arg(session_file)
            .env("BANTER_PASSWORD", PASSWORD)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("banter chat starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Chat { child, stdin, lines, seen: Vec::new() }
    }

    fn type_line(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("type into banter chat");
        self.stdin.flush().expect("flush");
    }

    /// Waits for a printed line containing `needle`; returns it.
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no line containing {needle:?}; the client printed:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Everything printed so far plus whatever arrives within `settle`.
    fn drain(&mut self, settle: Duration) -> Vec<String> {
        while let Ok(line) = self.lines.recv_timeout(settle) {
            self.seen.push(line);
        }
        self.seen.clone()
    }

    fn quit(mut self) {
        self.type_line("/quit");
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "banter chat exits cleanly, got {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("banter chat did not quit");
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bearer-token API client from a session file the chat client wrote.
fn api_from_session_file(url: &str, path: &Path) -> ApiClient {
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).expect("session file")).expect("JSON");
    let token = saved["session"]["token"].as_str().expect("token saved");
    ApiClient::new(url).expect("api").with_token(token)
}

fn session_files(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("alice.json"), dir.join("bob.json"))
}

#[tokio::test(flavor = "multi_thread")]
async fn two_people_chat_live_and_a_message_sent_while_away_waits_as_unread() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = BanterProcess::start([std::ffi::OsStr::new("--data-dir"), data.path().join("db").as_os_str()]);
    let (alice_file, bob_file) = session_files(data.path());

    let mut bob = Chat::start(&server.url, &bob_file);
    bob.expect("not logged in");
    bob.type_line("/signup bob");
    bob.expect("logged in as bob");
    bob.expect("* connected");
    let mut alice = Chat::start(&server.url, &alice_file);
    alice.type_line("/signup alice");
    alice.expect("* connected");

    alice.type_line("/dm bob");
    let opened = alice.expect("* open: ");
    let chat = opened.split('#').nth(1).and_then(|rest| rest.split(' ').next()).expect("conversation number").to_owned();
    alice.type_line("hello bob");
    alice.expect(&format!("#{chat} alice: hello bob"));
    bob.expect(&format!("#{chat} alice: hello bob"));
    bob.type_line(&format!("/open {chat}"));
    bob.expect("* open: ");
    bob.type_line("hi alice\tand a tab");
    alice.expect(&format!("#{chat} bob: hi alice\tand a tab"));

    // Text cannot move the cursor or rewrite what is on the screen.
    alice.type_line("fake\rreal");
    let shown = bob.expect("fake");
    assert_eq!(shown, format!("#{chat} alice: fake\u{240d}real  [3]"), "a carriage return is shown, not obeyed");

    bob.quit();
    alice.type_line("while you were away");
    alice.expect("alice: while you were away");

    // Bob's session file logs him back in; the message is waiting as unread.
    let mut bob = Chat::start(&server.url, &bob_file);
    bob.expect("logged in as bob");
    bob.expect(&format!("* #{chat} @alice (1 unread)"));
    bob.type_line("/history 1");
    bob.expect("open a conversation first");
    bob.type_line(&format!("/open {chat}"));
    bob.expect(&format!("#{chat} alice: while you were away"));
    bob.type_line("/who");
    bob.expect("alice online");
    bob.type_line("/open 999999");
    bob.expect("! ");
    bob.type_line("/frobnicate");
    bob.expect("unknown command /frobnicate");

    // Bob's block refuses Alice's sends until he lifts it.
    bob.type_line("/block alice");
    bob.expect("* blocked alice");
    alice.type_line("are you there?");
    alice.expect("! not sent:");
    bob.type_line("/unblock alice");
    bob.expect("* unblocked alice");
    alice.type_line("back again");
    bob.expect(&format!("#{chat} alice: back again"));

    // Logging out revokes the device and forgets the session file.
    bob.type_line("/logout");
    bob.expect("* logged out");
    assert!(!bob_file.exists(), "the session file is removed");
    bob.quit();
    alice.quit();
}

#[tokio::test(flavor = "multi_thread")]
async fn what_is_typed_while_the_server_is_down_is_sent_once_it_is_back() {
    let data = tempfile::tempdir().expect("temp dir");
    let db = data.path().join("db");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let listen = format!("127.0.0.1:{port}");
    let start = || {
        BanterProcess::start_command(|c| {
            c.args(["--listen", &listen, "--data-dir"]).arg(&db);
        })
    };
    let server = start();
    let (alice_file, bob_file) = session_files(data.path());
    let mut alice = Chat::start(&server.url, &alice_file);
    alice.type_line("/signup alice");
    alice.expect("* connected");
    let mut bob = Chat::start(&server.url, &bob_file);
    bob.type_line("/signup bob");
    bob.expect("* connected");
    alice.type_line("/dm bob");
    alice.expect("* open: ");
    alice.type_line("before the crash");
    bob.expect("alice: before the crash");

    server.kill();
    alice.expect("* disconnected");
    bob.expect("* disconnected");
    alice.type_line("typed while the server was down");
    alice.expect("will be sent on reconnect");

    let server = start();
    alice.expect("* connected");
    alice.expect("alice: typed while the server was down");
    bob.expect("* connected");
    bob.expect("alice: typed while the server was down");

    let history = api_from_session_file(&server.url, &bob_file)
        .history(1, HistoryQuery { before: None, after: None, limit: Some(50) })
        .await
        .expect("history");
    let texts: Vec<&str> = history.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["before the crash", "typed while the server was down"], "stored once each, in order");
    let bob_lines = bob.drain(Duration::from_millis(300));
    let shown = bob_lines.iter().filter(|l| l.ends_with("alice: typed while the server was down  [2]")).count();
    assert_eq!(shown, 1, "shown once on the other side too");
    alice.quit();
    bob.quit();
}

#[tokio::test(flavor = "multi_thread")]
async fn replies_edits_and_deletes_by_message_number() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = BanterProcess::start([std::ffi::OsStr::new("--data-dir"), data.path().join("db").as_os_str()]);
    let (alice_file, bob_file) = session_files(data.path());
    let mut alice = Chat::start(&server.url, &alice_file);
    alice.type_line("/signup alice");
    alice.expect("* connected");
    let mut bob = Chat::start(&server.url, &bob_file);
    bob.type_line("/signup bob");
    bob.expect("* connected");
    alice.type_line("/dm bob");
    let opened = alice.expect("* open: ");
    let chat = opened.split('#').nth(1).and_then(|rest| rest.split(' ').next()).expect("conversation number").to_owned();
    alice.type_line("lunch at 12?");
    bob.expect(&format!("#{chat} alice: lunch at 12?  [1]"));
    bob.type_line(&format!("/open {chat}"));
    bob.expect("* open: ");

    bob.type_line("/reply 1 yes, where?");
    alice.expect(&format!("#{chat} bob: ↪[1] yes, where?  [2]"));
    alice.type_line("/edit 1 lunch at 1?");
    bob.expect(&format!("#{chat} alice edited [1]: lunch at 1?"));
    bob.type_line("/search WHERE");
    bob.expect(&format!("#{chat} [2] yes, *where*?"));
    bob.type_line("/edit 1 not mine");
    bob.expect("! not sent: ");
    alice.type_line("/delete 2");
    alice.expect("! not sent: ");
    alice.type_line("/delete 1");
    bob.expect(&format!("#{chat} alice deleted [1]"));
    bob.type_line("/history 5");
    bob.expect(&format!("#{chat} alice: (deleted)  [1]"));
    alice.quit();
    bob.quit();
}
