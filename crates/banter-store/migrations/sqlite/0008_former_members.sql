-- The data export without an index by sender (issue 15).
--
-- Migration 0007's `messages_by_sender` let the export find a user's
-- messages directly, but every send paid for it: an index keyed by sender
-- is written at a random place, so a group commit dirtied more pages (13 µs
-- of server CPU per message, measured). The export now walks the user's
-- conversations instead and reads each by (conversation, seq); for the
-- conversations a user has left it needs this table, written when a
-- membership ends (leaving, removal, deleting the account).
CREATE TABLE former_members (
    user_id         INTEGER NOT NULL REFERENCES users(id),
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    PRIMARY KEY (user_id, conversation_id)
) WITHOUT ROWID, STRICT;

-- Those who wrote in a conversation they are no longer in (read through
-- the index about to go).
INSERT OR IGNORE INTO former_members (user_id, conversation_id)
    SELECT sender_id, conversation_id FROM messages WHERE kind = 'text'
    EXCEPT SELECT user_id, conversation_id FROM members;

DROP INDEX messages_by_sender;
