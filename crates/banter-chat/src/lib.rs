//! `banter chat`: a line-oriented terminal client, built on the SDK like
//! any native app would be. The `banter` binary parses [`ChatArgs`] and
//! calls [`run`]; nothing else is public.
//!
//! One task reads lines from stdin (commands, or messages for the open
//! conversation) and events from the SDK's [`ReconnectingClient`], and
//! prints. Everything every client must do about the network is the
//! SDK's: reconnecting with backoff and jitter, the outbox resent with the
//! same `client_msg_id`s after a reconnect (so a message is never lost and
//! never stored twice, and a `rate_limited` one goes again after the
//! `retry_after_ms` it carries), catching up by cursor, and showing each
//! message once. What is left here:
//!
//! - the session: signup, login, logout, kept in
//!   `~/.config/banter/session.json` (mode 0600, [`session_file`]) so the
//!   next start is logged in already;
//! - the conversations: each starts at its newest message when logged in
//!   (old history is there for `/history`), and the open one is marked read,
//!   the others delivered;
//! - printing other people's text with control characters made visible
//!   ([`display::printable`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// The crate's docs are for whoever changes `banter` itself and link its
// private modules (read them with `cargo doc --document-private-items`).
#![allow(rustdoc::private_intra_doc_links)]

mod commands;
mod display;
mod events;
mod input;
mod session_file;

use std::{collections::HashMap, path::PathBuf};

use anyhow::Context;
use banter_protocol::{ClientFrame, ConversationId, UserId};
use banter_sdk::{ApiClient, Event, JoinedConversations, ReconnectOptions, ReconnectingClient, Session, SyncState};
use commands::Input;
use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};

/// `banter chat`.
#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    /// The server's base URL.
    #[arg(long, env = "BANTER_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Where this device's session is kept [default: ~/.config/banter/session.json].
    #[arg(long, env = "BANTER_SESSION_FILE")]
    session_file: Option<PathBuf>,
    /// The name this device shows in the account's device list.
    #[arg(long, default_value = "banter chat")]
    device_name: String,
}

/// Messages typed but not yet acknowledged, at most (typing more is refused
/// until the connection is back).
const OUTBOX_LIMIT: usize = 1000;

/// Runs until `/quit`, end of input or Ctrl-C.
pub async fn run(args: ChatArgs) -> anyhow::Result<()> {
    let url = args.url.trim_end_matches('/').to_owned();
    let api = ApiClient::new(&url).with_context(|| format!("invalid URL {url}"))?;
    let session_file = args.session_file.or_else(session_file::default_path);
    let mut client = Client {
        api,
        url,
        session_file,
        device_name: args.device_name,
        device: None,
        current: None,
        names: HashMap::new(),
    };
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    client.resume().await;
    if client.device.is_none() {
        say("* not logged in: /signup <username> or /login <username> (/help for more)");
    }
    client.run(&mut stdin).await;
    if let Some(device) = client.device.take() {
        device.connection.close().await;
    }
    Ok(())
}

fn say(line: &str) {
    println!("{line}");
}

/// The logged-in device: its session and its connection, which the SDK
/// keeps up.
struct Device {
    session: Session,
    connection: ReconnectingClient,
}

/// Everything the terminal client knows.
struct Client {
    /// Not logged in: for signup and login.
    api: ApiClient,
    url: String,
    session_file: Option<PathBuf>,
    device_name: String,
    device: Option<Device>,
    /// The open conversation: where typed text goes, what is marked read.
    current: Option<ConversationId>,
    /// Usernames seen so far, to print senders.
    names: HashMap<UserId, String>,
}

/// What woke the loop.
enum Next {
    Line(Option<String>),
    Event(Option<Event>),
    Interrupt,
}

/// The next event, or never when logged out.
async fn next_event(device: &mut Option<Device>) -> Option<Event> {
    match device {
        Some(device) => device.connection.next_event().await,
        None => std::future::pending().await,
    }
}

impl Client {
    async fn run(&mut self, stdin: &mut Lines<BufReader<Stdin>>) {
        loop {
            let next = tokio::select! {
                line = stdin.next_line() => Next::Line(line.unwrap_or(None)),
                event = next_event(&mut self.device) => Next::Event(event),
                _ = tokio::signal::ctrl_c() => Next::Interrupt,
            };
            match next {
                Next::Line(None) | Next::Interrupt => return,
                Next::Line(Some(line)) => match commands::parse(&line) {
                    Ok(Input::Quit) => return,
                    Ok(input) => self.handle_input(input, stdin).await,
                    Err(problem) => say(&format!("! {problem}")),
                },
                Next::Event(Some(event)) => self.handle_event(event).await,
                // The client stopped (after `SessionEnded`).
                Next::Event(None) => self.device = None,
            }
        }
    }

    // ----- session -----

    /// Logs in from the session file, if it holds a session for this server.
    async fn resume(&mut self) {
        let Some(saved) = self.session_file.as_deref().and_then(|path| session_file::load(path, &self.url)) else {
            return;
        };
        let session = Session::from_response(&self.api, saved);
        match session.api().me().await {
            Ok(user) => {
                say(&format!("* logged in as {}", user.username));
                self.start(session).await;
            }
            Err(e) if e.status() == Some(401) => {
                say("* the saved session was revoked: log in again");
                self.forget_session_file();
            }
            // The server may just be down: keep the session and retry.
            Err(e) => {
                say(&format!("* server not reachable ({e}); will keep trying"));
                self.connect(session, SyncState::new()).await;
            }
        }
    }

    /// Begins a logged-in session: conversation list, cursors, connection.
    async fn start(&mut self, session: Session) {
        self.names.insert(session.user.id, session.user.username.clone());
        let sync = self.load_conversations(&session).await;
        self.connect(session, sync).await;
    }

    /// Hands the device to the SDK's reconnecting client.
    async fn connect(&mut self, session: Session, sync: SyncState) {
        if let Some(previous) = self.device.take() {
            previous.connection.close().await;
        }
        let options = ReconnectOptions {
            outbox_limit: OUTBOX_LIMIT,
            joined_conversations: JoinedConversations::FromNewest,
            ..ReconnectOptions::default()
        };
        let connection = ReconnectingClient::start(session.clone(), sync, options);
        self.device = Some(Device { session, connection });
    }

    /// Refreshes names and starts every conversation's cursor at its newest
    /// message: old history is there for `/history`, not printed at start.
    /// Prints the conversations with unread messages.
    async fn load_conversations(&mut self, session: &Session) -> SyncState {
        let mut sync = SyncState::new();
        match session.api().conversations().await {
            Ok(conversations) => {
                for conversation in &conversations {
                    if let Some(peer) = &conversation.peer {
                        self.names.insert(peer.id, peer.username.clone());
                    }
                    sync.set_cursor(conversation.id, conversation.last_seq);
                    if conversation.unread_count > 0 {
                        say(&format!("* {}", display::list_line(conversation)));
                    }
                }
            }
            Err(e) => say(&format!("! could not load conversations: {e}")),
        }
        sync
    }

    async fn authenticate(&mut self, username: &str, signup: bool, stdin: &mut Lines<BufReader<Stdin>>) {
        let Some(password) = read_password(stdin).await else {
            say("! no password given");
            return;
        };
        let result = if signup {
            self.api
                .signup_with(banter_protocol::http::SignupRequest {
                    username: username.to_owned(),
                    password,
                    display_name: None,
                    device_name: Some(self.device_name.clone()),
                })
                .await
        } else {
            self.api.login(username, &password, Some(&self.device_name)).await
        };
        match result {
            Ok(session) => {
                if let Some(path) = &self.session_file {
                    let response = banter_protocol::http::SessionResponse {
                        user: session.user.clone(),
                        device_id: session.device_id,
                        token: session.token.clone(),
                    };
                    if let Err(e) = session_file::save(path, &self.url, &response) {
                        say(&format!("! session not saved: {e:#}"));
                    }
                }
                say(&format!("* logged in as {}", session.user.username));
                self.start(session).await;
            }
            Err(e) => say(&format!("! {}", e)),
        }
    }

    async fn logout(&mut self) {
        let Some(device) = self.device.take() else {
            say("! not logged in");
            return;
        };
        device.connection.close().await;
        if let Err(e) = device.session.api().logout().await {
            say(&format!("! logout failed: {e}"));
        }
        self.forget_session_file();
        self.current = None;
        say("* logged out");
    }

    fn forget_session_file(&self) {
        if let Some(path) = &self.session_file {
            session_file::forget(path);
        }
    }

    /// Sends a frame that needs no delivery guarantee, if connected.
    fn send_frame(&self, frame: ClientFrame) {
        if let Some(device) = &self.device {
            let _ = device.connection.send_frame(frame);
        }
    }
}

/// `BANTER_PASSWORD`, else asked without echo on a terminal, else the next
/// input line (scripts).
async fn read_password(stdin: &mut Lines<BufReader<Stdin>>) -> Option<String> {
    if let Ok(password) = std::env::var("BANTER_PASSWORD") {
        return Some(password);
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return tokio::task::spawn_blocking(|| rpassword::prompt_password("password: ").ok()).await.ok().flatten();
    }
    stdin.next_line().await.ok().flatten()
}
