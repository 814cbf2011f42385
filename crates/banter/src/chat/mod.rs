//! `banter chat`: a line-oriented terminal client, built on the SDK like
//! any native app would be.
//!
//! One task owns everything: lines from stdin (commands or messages for the
//! open conversation), frames from the WebSocket, the heartbeat and the
//! reconnect timer. What it does that every client must:
//!
//! - sends with a fresh `client_msg_id` and keeps the message in an outbox
//!   until its `ack`; after a reconnect the outbox is sent again with the
//!   same ids, so a message is never lost and never stored twice;
//! - shows each message once, by `(conversation, seq)` ([`SyncState`]), and
//!   catches up by cursor after every reconnect (or when a live frame
//!   reveals a hole);
//! - reconnects with exponential backoff and jitter;
//! - prints other people's text with control characters made visible
//!   ([`display::printable`]).
//!
//! The session (token) is kept in `~/.config/banter/session.json` (mode
//! 0600), so the next start is logged in already.

mod commands;
mod display;
mod session_file;

use std::{collections::HashMap, path::PathBuf, time::Duration};

use anyhow::Context;
use banter_protocol::{
    frames::ConversationChange, http::HistoryQuery, ClientFrame, ConversationId, ErrorCode, Message, Seq, ServerFrame, UserId,
};
use banter_sdk::{new_client_msg_id, ApiClient, Connection, SdkError, Session, SyncState};
use commands::Input;
use rand::Rng;
use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines, Stdin},
    time::Instant,
};

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
/// Reconnect backoff bounds.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

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
        session: None,
        link: Link::Idle,
        sync: SyncState::new(),
        current: None,
        names: HashMap::new(),
        outbox: Vec::new(),
        heartbeat: Duration::from_secs(10),
    };
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    client.resume().await;
    if client.session.is_none() {
        say("* not logged in: /signup <username> or /login <username> (/help for more)");
    }
    client.run(&mut stdin).await;
    if let Link::Up(connection) = std::mem::replace(&mut client.link, Link::Idle) {
        let _ = connection.close().await;
    }
    Ok(())
}

fn say(line: &str) {
    println!("{line}");
}

/// The WebSocket, as far as this client knows.
enum Link {
    /// Not logged in, or logged out.
    Idle,
    /// Waiting to (re)connect.
    Down { retry_at: Instant, backoff: Duration },
    Up(Connection),
}

/// A message typed here, until the server acknowledges it.
struct Outgoing {
    client_msg_id: String,
    conversation_id: ConversationId,
    text: String,
}

struct Client {
    api: ApiClient,
    url: String,
    session_file: Option<PathBuf>,
    device_name: String,
    session: Option<Session>,
    link: Link,
    sync: SyncState,
    current: Option<ConversationId>,
    names: HashMap<UserId, String>,
    outbox: Vec<Outgoing>,
    heartbeat: Duration,
}

enum Event {
    Line(Option<String>),
    Frame(Result<ServerFrame, SdkError>),
    Heartbeat,
    Reconnect,
    Interrupt,
}

/// The next frame, or never when there is no connection.
async fn next_frame(link: &mut Link) -> Result<ServerFrame, SdkError> {
    match link {
        Link::Up(connection) => connection.next_frame().await,
        _ => std::future::pending().await,
    }
}

impl Client {
    async fn run(&mut self, stdin: &mut Lines<BufReader<Stdin>>) {
        let mut heartbeat = tokio::time::interval(self.heartbeat);
        loop {
            let retry_at = match self.link {
                Link::Down { retry_at, .. } => Some(retry_at),
                _ => None,
            };
            let event = tokio::select! {
                line = stdin.next_line() => Event::Line(line.unwrap_or(None)),
                frame = next_frame(&mut self.link) => Event::Frame(frame),
                _ = heartbeat.tick() => Event::Heartbeat,
                () = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now)), if retry_at.is_some() => Event::Reconnect,
                _ = tokio::signal::ctrl_c() => Event::Interrupt,
            };
            match event {
                Event::Line(None) | Event::Interrupt => return,
                Event::Line(Some(line)) => match commands::parse(&line) {
                    Ok(Input::Quit) => return,
                    Ok(input) => self.handle_input(input, stdin).await,
                    Err(problem) => say(&format!("! {problem}")),
                },
                Event::Frame(Ok(frame)) => self.handle_frame(frame).await,
                Event::Frame(Err(e)) => self.lost(&e),
                Event::Heartbeat => self.send(ClientFrame::Ping).await,
                Event::Reconnect => {
                    if self.connect().await {
                        heartbeat = tokio::time::interval(self.heartbeat);
                    }
                }
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
                if let Some(path) = &self.session_file {
                    session_file::forget(path);
                }
            }
            // The server may just be down: keep the session and retry.
            Err(e) => {
                say(&format!("* server not reachable ({e}); will keep trying"));
                self.session = Some(session);
                self.link = Link::Down { retry_at: Instant::now() + BACKOFF_MIN, backoff: BACKOFF_MIN };
            }
        }
    }

    /// Begins a logged-in session: conversation list, cursors, connection.
    async fn start(&mut self, session: Session) {
        self.names.insert(session.user.id, session.user.username.clone());
        self.session = Some(session);
        self.sync = SyncState::new();
        self.load_conversations(true).await;
        self.link = Link::Down { retry_at: Instant::now(), backoff: BACKOFF_MIN };
    }

    /// Refreshes names and (when `set_cursors`) starts every conversation's
    /// cursor at its newest message: old history is there for `/history`,
    /// not printed at start. Prints the conversations with unread messages.
    async fn load_conversations(&mut self, set_cursors: bool) {
        let Some(session) = &self.session else { return };
        match session.api().conversations().await {
            Ok(conversations) => {
                for conversation in &conversations {
                    if let Some(peer) = &conversation.peer {
                        self.names.insert(peer.id, peer.username.clone());
                    }
                    if set_cursors {
                        self.sync.set_cursor(conversation.id, conversation.last_seq);
                        if conversation.unread_count > 0 {
                            say(&format!("* {}", display::list_line(conversation)));
                        }
                    }
                }
            }
            Err(e) => say(&format!("! could not load conversations: {e}")),
        }
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
        let Some(session) = self.session.take() else {
            say("! not logged in");
            return;
        };
        if let Err(e) = session.api().logout().await {
            say(&format!("! logout failed: {e}"));
        }
        if let Some(path) = &self.session_file {
            session_file::forget(path);
        }
        self.link = Link::Idle;
        self.outbox.clear();
        self.current = None;
        say("* logged out");
    }

    // ----- connection -----

    /// Connects, catches up and resends the outbox. False if it failed (a
    /// retry is scheduled).
    async fn connect(&mut self) -> bool {
        let Some(session) = &self.session else {
            self.link = Link::Idle;
            return false;
        };
        let backoff = match self.link {
            Link::Down { backoff, .. } => backoff,
            _ => BACKOFF_MIN,
        };
        let mut connection = match session.connect().await {
            Ok(connection) => connection,
            Err(e) if e.status() == Some(401) => {
                say("* this device was logged out (session revoked): /login again");
                self.session = None;
                self.link = Link::Idle;
                if let Some(path) = &self.session_file {
                    session_file::forget(path);
                }
                return false;
            }
            Err(e) => {
                tracing::debug!(error = %e, "connect failed");
                self.retry_later(backoff);
                return false;
            }
        };
        self.heartbeat = Duration::from_millis(connection.hello().heartbeat_interval_ms.clamp(1000, 60_000) / 2);
        let missed = match connection.catch_up(&mut self.sync).await {
            Ok(missed) => missed,
            Err(e) => {
                tracing::debug!(error = %e, "catch-up failed");
                self.retry_later(backoff);
                return false;
            }
        };
        say("* connected");
        self.link = Link::Up(connection);
        for message in &missed {
            self.show(message).await;
        }
        self.mark_seen(&missed).await;
        let resend: Vec<ClientFrame> = self
            .outbox
            .iter()
            .map(|o| ClientFrame::Send {
                client_msg_id: o.client_msg_id.clone(),
                conversation_id: o.conversation_id,
                text: o.text.clone(),
            })
            .collect();
        for frame in resend {
            self.send(frame).await;
        }
        true
    }

    fn retry_later(&mut self, backoff: Duration) {
        let jitter = rand::thread_rng().gen_range(0.5..1.5);
        let next = (backoff * 2).min(BACKOFF_MAX);
        self.link = Link::Down { retry_at: Instant::now() + backoff.mul_f64(jitter), backoff: next };
    }

    /// The connection ended: say so once and schedule the reconnect.
    fn lost(&mut self, error: &SdkError) {
        if matches!(self.link, Link::Up(_)) {
            let why = match error.close_code() {
                Some(code) => format!("closed by the server ({code})"),
                None => error.to_string(),
            };
            say(&format!("* disconnected: {why}; reconnecting"));
        }
        self.retry_later(BACKOFF_MIN);
    }

    /// Sends a frame if connected; a failure means the connection is gone.
    async fn send(&mut self, frame: ClientFrame) {
        let Link::Up(connection) = &mut self.link else { return };
        if let Err(e) = connection.send_frame(frame).await {
            self.lost(&e);
        }
    }

    // ----- frames -----

    async fn handle_frame(&mut self, frame: ServerFrame) {
        match frame {
            ServerFrame::Ack { client_msg_id, conversation_id, seq, .. } => {
                let Some(index) = self.outbox.iter().position(|o| o.client_msg_id == client_msg_id) else { return };
                let sent = self.outbox.remove(index);
                self.sync.accept_seq(conversation_id, seq);
                let me = self.session.as_ref().map(|s| s.user.username.clone()).unwrap_or_default();
                say(&format!("#{conversation_id} {me}: {}", display::printable(&sent.text)));
            }
            ServerFrame::Message { message } => {
                let accepted = self.sync.accept(&message);
                if !accepted.is_new() {
                    return;
                }
                self.show(&message).await;
                self.mark_seen(std::slice::from_ref(&message)).await;
                if let banter_sdk::Accepted::Gap { .. } = accepted {
                    self.fill_gap().await;
                }
            }
            ServerFrame::Error { code, message, client_msg_id } => {
                if let Some(id) = client_msg_id {
                    self.outbox.retain(|o| o.client_msg_id != id);
                    if code == ErrorCode::RateLimited {
                        say(&format!("! not sent (slow down): {message}"));
                        return;
                    }
                    say(&format!("! not sent: {message}"));
                } else {
                    say(&format!("! {message}"));
                }
            }
            ServerFrame::Presence { user_id, online, .. } => {
                if let Some(name) = self.names.get(&user_id) {
                    say(&format!("* {name} is {}", if online { "online" } else { "offline" }));
                }
            }
            ServerFrame::ConversationUpdated { conversation_id, change } => self.conversation_changed(conversation_id, change).await,
            _ => {}
        }
    }

    async fn conversation_changed(&mut self, conversation_id: ConversationId, change: ConversationChange) {
        let Some(session) = &self.session else { return };
        match change {
            ConversationChange::Joined => match session.api().conversation(conversation_id).await {
                Ok(detail) => {
                    for member in &detail.members {
                        self.names.insert(member.user.id, member.user.username.clone());
                    }
                    self.sync.set_cursor(conversation_id, detail.conversation.last_seq);
                    if self.current != Some(conversation_id) {
                        say(&format!("* you are in {}", display::list_line(&detail.conversation)));
                    }
                }
                Err(e) => say(&format!("! could not load #{conversation_id}: {e}")),
            },
            ConversationChange::Left => {
                if self.current == Some(conversation_id) {
                    self.current = None;
                }
                say(&format!("* you are no longer in #{conversation_id}"));
            }
            _ => {}
        }
    }

    /// A live frame skipped seqs: sync from the cursors to fill the hole.
    async fn fill_gap(&mut self) {
        let Link::Up(connection) = &mut self.link else { return };
        match connection.catch_up(&mut self.sync).await {
            Ok(missed) => {
                for message in &missed {
                    self.show(message).await;
                }
            }
            Err(e) => self.lost(&e),
        }
    }

    /// Prints a message with its sender's username.
    async fn show(&mut self, message: &Message) {
        let sender = self.username(message.conversation_id, message.sender_id).await;
        say(&display::message_line(message, &sender));
    }

    async fn username(&mut self, conversation_id: ConversationId, user_id: UserId) -> String {
        if !self.names.contains_key(&user_id) {
            if let Some(session) = &self.session {
                if let Ok(detail) = session.api().conversation(conversation_id).await {
                    for member in detail.members {
                        self.names.insert(member.user.id, member.user.username);
                    }
                }
            }
        }
        self.names.get(&user_id).cloned().unwrap_or_else(|| format!("user{user_id}"))
    }

    /// Tells the server what this device has: read in the open conversation,
    /// delivered elsewhere.
    async fn mark_seen(&mut self, messages: &[Message]) {
        let mut newest: HashMap<ConversationId, Seq> = HashMap::new();
        for message in messages {
            let seq = newest.entry(message.conversation_id).or_default();
            *seq = (*seq).max(message.seq);
        }
        for (conversation_id, seq) in newest {
            let frame = if self.current == Some(conversation_id) {
                ClientFrame::Read { conversation_id, seq }
            } else {
                ClientFrame::Delivered { conversation_id, seq }
            };
            self.send(frame).await;
        }
    }

    // ----- commands -----

    async fn handle_input(&mut self, input: Input, stdin: &mut Lines<BufReader<Stdin>>) {
        if let Input::Signup { username } | Input::Login { username } = &input {
            let signup = matches!(input, Input::Signup { .. });
            return self.authenticate(&username.clone(), signup, stdin).await;
        }
        match input {
            Input::Nothing | Input::Quit | Input::Signup { .. } | Input::Login { .. } => {}
            Input::Help => say(commands::HELP),
            _ if self.session.is_none() => say("! log in first: /signup <username> or /login <username>"),
            Input::Logout => self.logout().await,
            Input::List => self.list().await,
            Input::Direct { username } => {
                let opened = self.api().direct_conversation_with_username(&username).await;
                self.open_result(opened).await;
            }
            Input::Group { name, usernames } => self.create_group(&name, &usernames).await,
            Input::Open { conversation_id } => {
                let opened = self.api().conversation(conversation_id).await;
                self.open_result(opened).await;
            }
            Input::History { count } => self.history(count).await,
            Input::Who => self.who().await,
            Input::Say(text) => self.say_text(text).await,
        }
    }

    fn api(&self) -> ApiClient {
        self.session.as_ref().map(|s| s.api().clone()).unwrap_or_else(|| self.api.clone())
    }

    async fn list(&mut self) {
        match self.api().conversations().await {
            Ok(conversations) if conversations.is_empty() => say("* no conversations yet: /dm <username> or /group"),
            Ok(conversations) => {
                for conversation in &conversations {
                    say(&display::list_line(conversation));
                }
            }
            Err(e) => say(&format!("! {}", e)),
        }
    }

    async fn create_group(&mut self, name: &str, usernames: &[String]) {
        let mut member_ids = Vec::with_capacity(usernames.len());
        for username in usernames {
            match self.api().user_by_username(username).await {
                Ok(user) => member_ids.push(user.id),
                Err(e) => return say(&format!("! {username}: {}", e)),
            }
        }
        let created = self.api().create_group(name, &member_ids).await;
        self.open_result(created).await;
    }

    /// Makes a conversation the open one and shows its last messages.
    async fn open_result(&mut self, result: Result<banter_protocol::ConversationDetail, SdkError>) {
        match result {
            Ok(detail) => {
                for member in &detail.members {
                    self.names.insert(member.user.id, member.user.username.clone());
                }
                self.current = Some(detail.conversation.id);
                say(&format!("* open: {} ({} members)", display::list_line(&detail.conversation), detail.members.len()));
                self.history(10).await;
            }
            Err(e) => say(&format!("! {}", e)),
        }
    }

    async fn history(&mut self, count: u32) {
        let Some(conversation_id) = self.current else { return say("! open a conversation first (/dm, /open)") };
        let query = HistoryQuery { before: None, after: None, limit: Some(count.clamp(1, 200)) };
        match self.api().history(conversation_id, query).await {
            Ok(page) => {
                for message in &page.messages {
                    self.show(message).await;
                }
                self.mark_seen(&page.messages).await;
            }
            Err(e) => say(&format!("! {}", e)),
        }
    }

    async fn who(&mut self) {
        let Some(conversation_id) = self.current else { return say("! open a conversation first (/dm, /open)") };
        let api = self.api();
        let members = match api.conversation(conversation_id).await {
            Ok(detail) => detail.members,
            Err(e) => return say(&format!("! {}", e)),
        };
        let ids: Vec<UserId> = members.iter().map(|m| m.user.id).collect();
        match api.presence(&ids).await {
            Ok(presence) => {
                for (member, state) in members.iter().zip(presence) {
                    let status = match (state.online, state.last_seen_at) {
                        (true, _) => "online".to_owned(),
                        (false, Some(at)) => format!("offline, last seen {}", ago(at)),
                        (false, None) => "never seen".to_owned(),
                    };
                    say(&format!("{} {status}", member.user.username));
                }
            }
            Err(e) => say(&format!("! {}", e)),
        }
    }

    async fn say_text(&mut self, text: String) {
        let Some(conversation_id) = self.current else { return say("! open a conversation first (/dm, /open)") };
        if self.outbox.len() >= OUTBOX_LIMIT {
            return say("! too many messages waiting for the server; wait for the connection");
        }
        let outgoing = Outgoing { client_msg_id: new_client_msg_id(), conversation_id, text };
        let frame = ClientFrame::Send {
            client_msg_id: outgoing.client_msg_id.clone(),
            conversation_id,
            text: outgoing.text.clone(),
        };
        self.outbox.push(outgoing);
        match self.link {
            Link::Up(_) => self.send(frame).await,
            _ => say("* not connected: the message will be sent on reconnect"),
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

/// "5 min ago" for a timestamp in ms.
fn ago(at_ms: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let secs = ((now - at_ms) / 1000).max(0);
    match secs {
        0..=59 => "just now".to_owned(),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}
