//! What the user typed: a `/command` or a message for the open conversation.

use banter_protocol::{ConversationId, Seq};

/// One line of input, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Signup { username: String },
    Login { username: String },
    Logout,
    /// The conversation list with unread counts.
    List,
    /// Opens (creating if needed) the direct conversation with a user.
    Direct { username: String },
    /// Creates a group with these members and opens it.
    Group { name: String, usernames: Vec<String> },
    Open { conversation_id: ConversationId },
    History { count: u32 },
    /// Who of the open conversation is online.
    Who,
    Help,
    Quit,
    /// Text for the open conversation.
    Say(String),
    /// A reply to the message `seq` of the open conversation.
    Reply { seq: Seq, text: String },
    /// An edit of my message `seq`.
    Edit { seq: Seq, text: String },
    /// A delete, for everyone, of my message `seq`.
    Delete { seq: Seq },
    /// Messages of all my conversations containing these words.
    Search { query: String },
    /// Blocks a user: neither of us can send into our direct conversation.
    Block { username: String },
    /// Lifts my block of a user.
    Unblock { username: String },
    Nothing,
}

/// The help text, one command per line.
pub const HELP: &str = "\
/signup <username>          create an account (password asked, or BANTER_PASSWORD)
/login <username>           log this device in
/logout                     revoke this device's session
/list                       conversations and unread counts
/dm <username>              open the direct chat with a user
/group <name> <user> [...]  create a group (name without spaces) and open it
/open <id>                  open a conversation by its number (#id)
/history [n]                the last n messages (default 20) of the open conversation
/who                        who of the open conversation is online
/reply <n> <text>           reply to message [n] of the open conversation
/edit <n> <text>            edit your message [n] for everyone
/delete <n>                 delete your message [n] for everyone
/search <words>             find messages in all your conversations
/block <username>           block a user: no messages either way in your direct chat
/unblock <username>         lift your block of a user
/quit                       leave (also Ctrl-D)
anything else               is sent to the open conversation";

/// Parses one input line; errors say what was wrong.
pub fn parse(line: &str) -> Result<Input, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    let Some(command) = line.strip_prefix('/') else {
        return Ok(if line.trim().is_empty() { Input::Nothing } else { Input::Say(line.to_owned()) });
    };
    // `//text` sends a message that starts with a slash.
    if command.starts_with('/') {
        return Ok(Input::Say(command.to_owned()));
    }
    let mut words = command.split_whitespace();
    let name = words.next().unwrap_or_default();
    let args: Vec<&str> = words.collect();
    let one = |what: &str| match args.as_slice() {
        [arg] => Ok(arg.to_string()),
        _ => Err(format!("usage: /{name} <{what}>")),
    };
    match name {
        "signup" => Ok(Input::Signup { username: one("username")? }),
        "login" => Ok(Input::Login { username: one("username")? }),
        "logout" => Ok(Input::Logout),
        "list" | "ls" => Ok(Input::List),
        "dm" => Ok(Input::Direct { username: one("username")? }),
        "group" => match args.as_slice() {
            [name, members @ ..] if !members.is_empty() => Ok(Input::Group {
                name: name.to_string(),
                usernames: members.iter().map(|m| m.to_string()).collect(),
            }),
            _ => Err("usage: /group <name> <user> [<user> ...]".into()),
        },
        "open" => {
            let id = one("id")?;
            let conversation_id = id.trim_start_matches('#').parse().map_err(|_| format!("not a conversation number: {id}"))?;
            Ok(Input::Open { conversation_id })
        }
        "history" => match args.as_slice() {
            [] => Ok(Input::History { count: 20 }),
            [n] => n.parse().map(|count| Input::History { count }).map_err(|_| format!("not a count: {n}")),
            _ => Err("usage: /history [n]".into()),
        },
        "who" => Ok(Input::Who),
        "reply" | "edit" => {
            let usage = || format!("usage: /{name} <n> <text>");
            let rest = command[name.len()..].trim_start();
            let (n, text) = rest.split_once(char::is_whitespace).ok_or_else(usage)?;
            let seq = parse_seq(n)?;
            let text = text.trim_start().to_owned();
            if text.trim().is_empty() {
                return Err(usage());
            }
            Ok(if name == "reply" { Input::Reply { seq, text } } else { Input::Edit { seq, text } })
        }
        "delete" => Ok(Input::Delete { seq: parse_seq(&one("n")?)? }),
        "search" | "find" => match command[name.len()..].trim() {
            "" => Err("usage: /search <words>".into()),
            query => Ok(Input::Search { query: query.to_owned() }),
        },
        "block" => Ok(Input::Block { username: one("username")?.trim_start_matches('@').to_owned() }),
        "unblock" => Ok(Input::Unblock { username: one("username")?.trim_start_matches('@').to_owned() }),
        "help" | "?" => Ok(Input::Help),
        "quit" | "exit" => Ok(Input::Quit),
        other => Err(format!("unknown command /{other} (try /help)")),
    }
}

/// A message number as shown (`[7]` or `7`).
fn parse_seq(text: &str) -> Result<Seq, String> {
    text.trim_start_matches('[').trim_end_matches(']').parse().map_err(|_| format!("not a message number: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_edits_and_deletes_name_a_message_number() {
        assert_eq!(parse("/reply 3 sure,  see you"), Ok(Input::Reply { seq: 3, text: "sure,  see you".into() }));
        assert_eq!(parse("/edit [4] fixed"), Ok(Input::Edit { seq: 4, text: "fixed".into() }));
        assert_eq!(parse("/delete 4"), Ok(Input::Delete { seq: 4 }));
        assert_eq!(parse("/reply 3"), Err("usage: /reply <n> <text>".into()));
        assert!(parse("/edit x y").unwrap_err().contains("not a message number"));
        assert_eq!(parse("/delete"), Err("usage: /delete <n>".into()));
    }

    #[test]
    fn a_search_takes_the_rest_of_the_line() {
        assert_eq!(parse("/search  lunch  on friday"), Ok(Input::Search { query: "lunch  on friday".into() }));
        assert_eq!(parse("/find 東京"), Ok(Input::Search { query: "東京".into() }));
        assert_eq!(parse("/search   "), Err("usage: /search <words>".into()));
    }

    #[test]
    fn block_and_unblock_name_one_user() {
        assert_eq!(parse("/block bob"), Ok(Input::Block { username: "bob".into() }));
        assert_eq!(parse("/unblock @bob"), Ok(Input::Unblock { username: "bob".into() }));
        assert_eq!(parse("/block"), Err("usage: /block <username>".into()));
        assert_eq!(parse("/unblock bob carol"), Err("usage: /unblock <username>".into()));
        assert!(HELP.contains("/block <username>") && HELP.contains("/unblock <username>"));
    }

    #[test]
    fn plain_lines_are_messages_and_blank_lines_nothing() {
        assert_eq!(parse("hello there\n"), Ok(Input::Say("hello there".into())));
        assert_eq!(parse("   "), Ok(Input::Nothing));
        assert_eq!(parse("//etc/passwd is a path"), Ok(Input::Say("/etc/passwd is a path".into())));
    }

    #[test]
    fn commands_take_their_arguments() {
        assert_eq!(parse("/dm bob"), Ok(Input::Direct { username: "bob".into() }));
        assert_eq!(parse("/open #12"), Ok(Input::Open { conversation_id: 12 }));
        assert_eq!(parse("/history"), Ok(Input::History { count: 20 }));
        assert_eq!(parse("/history 5"), Ok(Input::History { count: 5 }));
        assert_eq!(
            parse("/group team bob carol"),
            Ok(Input::Group { name: "team".into(), usernames: vec!["bob".into(), "carol".into()] })
        );
    }

    #[test]
    fn mistakes_are_explained() {
        assert_eq!(parse("/dm"), Err("usage: /dm <username>".into()));
        assert_eq!(parse("/group team"), Err("usage: /group <name> <user> [<user> ...]".into()));
        assert!(parse("/open x").unwrap_err().contains("not a conversation number"));
        assert!(parse("/frobnicate").unwrap_err().contains("unknown command"));
    }
}
