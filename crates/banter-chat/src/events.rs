//! What the chat does with each event of the SDK's reconnecting client:
//! print it, and tell the server what this device has seen.

use std::collections::HashMap;

use banter_protocol::{frames::ConversationChange, ClientFrame, ConversationId, ErrorCode, Message, Seq, ServerFrame, UserId};
use banter_sdk::{Event, SdkError};

use crate::{display, say, Client};

impl Client {
    pub(crate) async fn handle_event(&mut self, event: Event) {
        match event {
            Event::Connected { missed, .. } => {
                say("* connected");
                self.show_all(&missed).await;
            }
            Event::Disconnected { error } => {
                let why = match error.close_code() {
                    Some(code) => format!("closed by the server ({code})"),
                    None => error.to_string(),
                };
                say(&format!("* disconnected: {why}; reconnecting"));
            }
            Event::Message(message) => self.show_all(std::slice::from_ref(&message)).await,
            Event::CaughtUp(messages) => self.show_all(&messages).await,
            Event::Sent { message, ack } => {
                let me = self.device.as_ref().map(|d| d.session.user.username.clone()).unwrap_or_default();
                let (kind, reply_to, target_seq) = (message.content.kind(), message.content.reply_to(), message.content.target_seq());
                let stored = Message {
                    conversation_id: ack.conversation_id,
                    seq: ack.seq,
                    text: message.content.into_text(),
                    server_ts: ack.server_ts,
                    kind,
                    reply_to,
                    target_seq,
                    ..Message::default()
                };
                say(&display::message_line(&stored, &me));
            }
            Event::NotSent { error, .. } => say(&format!("! not sent: {}", refusal(&error))),
            Event::Frame(frame) => self.handle_frame(frame).await,
            Event::SessionEnded { .. } => {
                say("* this device was logged out (session revoked): /login again");
                self.device = None;
                self.forget_session_file();
            }
        }
    }

    async fn handle_frame(&mut self, frame: ServerFrame) {
        match frame {
            // Answers a send of another run of this device, or was retried.
            ServerFrame::Error { code: ErrorCode::RateLimited, client_msg_id: Some(_), .. } => {}
            ServerFrame::Error { message, client_msg_id, .. } => match client_msg_id {
                Some(_) => say(&format!("! not sent: {message}")),
                None => say(&format!("! {message}")),
            },
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
        match change {
            // The SDK has started its cursor at the newest message already.
            ConversationChange::Joined => match self.api().conversation(conversation_id).await {
                Ok(detail) => {
                    for member in &detail.members {
                        self.names.insert(member.user.id, member.user.username.clone());
                    }
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

    /// Prints messages and tells the server this device has them.
    pub(crate) async fn show_all(&mut self, messages: &[Message]) {
        for message in messages {
            self.show(message).await;
        }
        self.mark_seen(messages);
    }

    /// Prints a message with its sender's username.
    async fn show(&mut self, message: &Message) {
        let sender = self.username(message.conversation_id, message.sender_id).await;
        say(&display::message_line(message, &sender));
    }

    async fn username(&mut self, conversation_id: ConversationId, user_id: UserId) -> String {
        if !self.names.contains_key(&user_id) && self.device.is_some() {
            if let Ok(detail) = self.api().conversation(conversation_id).await {
                for member in detail.members {
                    self.names.insert(member.user.id, member.user.username);
                }
            }
        }
        self.names.get(&user_id).cloned().unwrap_or_else(|| format!("user{user_id}"))
    }

    /// Tells the server what this device has: read in the open conversation,
    /// delivered elsewhere.
    fn mark_seen(&self, messages: &[Message]) {
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
            self.send_frame(frame);
        }
    }
}

/// What to print for a message the server refused: its own words when it
/// gave some.
fn refusal(error: &SdkError) -> String {
    match error {
        SdkError::Api { message, .. } => message.clone(),
        other => other.to_string(),
    }
}
