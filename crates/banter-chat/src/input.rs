//! The commands typed at the prompt (parsed in [`crate::commands`]) and
//! the messages typed for the open conversation.

use banter_protocol::http::{HistoryQuery, SearchParams};
use banter_protocol::UserId;
use banter_sdk::{ApiClient, SdkError};
use tokio::io::{BufReader, Lines, Stdin};

use crate::commands::{self, Input};
use crate::{display, say, Client};

impl Client {
    pub(crate) async fn handle_input(&mut self, input: Input, stdin: &mut Lines<BufReader<Stdin>>) {
        if let Input::Signup { username } | Input::Login { username } = &input {
            let signup = matches!(input, Input::Signup { .. });
            return self.authenticate(&username.clone(), signup, stdin).await;
        }
        match input {
            Input::Nothing | Input::Quit | Input::Signup { .. } | Input::Login { .. } => {}
            Input::Help => say(commands::HELP),
            _ if self.device.is_none() => say("! log in first: /signup <username> or /login <username>"),
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
            Input::Reply { seq, text } => self.queue(|c, id| c.reply(id, seq, text)),
            Input::Edit { seq, text } => self.queue(|c, id| c.edit(id, seq, text)),
            Input::Delete { seq } => self.queue(|c, id| c.delete(id, seq)),
            Input::Search { query } => self.search(&query).await,
            Input::Block { username } => self.set_blocked(&username, true).await,
            Input::Unblock { username } => self.set_blocked(&username, false).await,
        }
    }

    pub(crate) fn api(&self) -> ApiClient {
        self.device.as_ref().map(|d| d.session.api().clone()).unwrap_or_else(|| self.api.clone())
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
            Ok(page) => self.show_all(&page.messages).await,
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

    /// One line per message found: `#conversation [seq] sender: snippet`,
    /// the matched words in `*stars*`.
    async fn search(&mut self, query: &str) {
        let params = SearchParams { q: query.to_owned(), ..SearchParams::default() };
        match self.api().search(&params).await {
            Ok(found) if found.results.is_empty() => say("* nothing found"),
            Ok(found) => {
                for result in &found.results {
                    say(&display::search_line(result));
                }
                if found.next_offset.is_some() {
                    say("* more found: add a word to narrow the search");
                }
            }
            Err(e) => say(&format!("! {}", e)),
        }
    }

    /// Blocks or unblocks a user named by username.
    async fn set_blocked(&mut self, username: &str, block: bool) {
        let api = self.api();
        let user = match api.user_by_username(username).await {
            Ok(user) => user,
            Err(e) => return say(&format!("! {username}: {e}")),
        };
        let changed = if block { api.block(user.id).await } else { api.unblock(user.id).await };
        match changed {
            Ok(()) if block => say(&format!("* blocked {username}: no messages either way until /unblock {username}")),
            Ok(()) => say(&format!("* unblocked {username}")),
            Err(e) => say(&format!("! {e}")),
        }
    }

    async fn say_text(&mut self, text: String) {
        self.queue(|c, id| c.send(id, text));
    }

    /// Queues a send, reply, edit or delete for the open conversation.
    fn queue(
        &self,
        make: impl FnOnce(&banter_sdk::ReconnectingClient, banter_protocol::ConversationId) -> Result<banter_sdk::OutgoingMessage, SdkError>,
    ) {
        let Some(conversation_id) = self.current else { return say("! open a conversation first (/dm, /open)") };
        let Some(device) = &self.device else { return };
        match make(&device.connection, conversation_id) {
            Ok(_) if !device.connection.is_connected() => say("* not connected: the message will be sent on reconnect"),
            Ok(_) => {}
            Err(SdkError::OutboxFull { .. }) => say("! too many messages waiting for the server; wait for the connection"),
            Err(e) => say(&format!("! not sent: {e}")),
        }
    }
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
