//! Column values both schemas spell the same way, decoded once for both
//! backends.
//!
//! Decoding never panics: a value the schema should have ruled out (an
//! unknown `kind` or `role`, say, written by a newer release or by hand)
//! comes back as [`StoreError::Unavailable`] so one bad row fails one
//! request, not the process.

use banter_protocol::{ConversationKind, MemberRole, MessageKind, User, UserId};

use crate::{StoreError, StoreResult};

/// Parses the `conversations.kind` column.
pub(crate) fn parse_kind(value: &str) -> StoreResult<ConversationKind> {
    match value {
        "direct" => Ok(ConversationKind::Direct),
        "group" => Ok(ConversationKind::Group),
        other => Err(StoreError::Unavailable(format!("corrupt row: unknown conversation kind {other:?}"))),
    }
}

/// Parses the `members.role` column.
pub(crate) fn parse_role(value: &str) -> StoreResult<MemberRole> {
    match value {
        "admin" => Ok(MemberRole::Admin),
        "member" => Ok(MemberRole::Member),
        other => Err(StoreError::Unavailable(format!("corrupt row: unknown member role {other:?}"))),
    }
}

/// Parses the `messages.kind` column.
pub(crate) fn parse_message_kind(value: &str) -> StoreResult<MessageKind> {
    match value {
        "text" => Ok(MessageKind::Text),
        "edit" => Ok(MessageKind::Edit),
        "delete" => Ok(MessageKind::Delete),
        other => Err(StoreError::Unavailable(format!("corrupt row: unknown message kind {other:?}"))),
    }
}

/// A profile from the `users` columns. A deleted account's row holds
/// [`deleted_username`] and an erased display name: it comes back with
/// both empty and `deleted` set, whichever query read it.
pub(crate) fn stored_user(id: UserId, username: String, display_name: String) -> User {
    if username.starts_with(DELETED_USERNAME_PREFIX) {
        User { id, username: String::new(), display_name: String::new(), deleted: true }
    } else {
        User { id, username, display_name, deleted: false }
    }
}

/// What a deleted account's `username` starts with: no valid username does.
const DELETED_USERNAME_PREFIX: &str = "#";

/// The `username` a deleted account's row holds from then on: unique (the
/// id) and never a valid username, so nobody can log in to it or find it.
pub(crate) fn deleted_username(id: UserId) -> String {
    format!("{DELETED_USERNAME_PREFIX}{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_are_errors_not_panics() {
        assert!(matches!(parse_kind("channel"), Err(StoreError::Unavailable(m)) if m.contains("corrupt row")));
        assert!(matches!(parse_role("owner"), Err(StoreError::Unavailable(m)) if m.contains("corrupt row")));
        assert!(matches!(parse_message_kind("poll"), Err(StoreError::Unavailable(m)) if m.contains("corrupt row")));
        assert_eq!(parse_message_kind("edit").unwrap(), MessageKind::Edit);
        assert_eq!(parse_kind("group").unwrap(), ConversationKind::Group);
        assert_eq!(parse_role("admin").unwrap(), MemberRole::Admin);
    }
}
