-- Blocks and account deletion (issue 16). Number 0006 is another change's.
--
-- `blocks` is the truth of who blocked whom (capped per blocker by the
-- server's `max_blocked_users`). A direct conversation is `closed` while a
-- block stands between its two users, either way, or one of them deleted
-- the account: nothing new (but a delete) enters it then. The flag sits on
-- the conversation row the append already reads, so the send path pays no
-- extra query, and every block, unblock and deletion recomputes it.
CREATE TABLE blocks (
    blocker_id INTEGER NOT NULL REFERENCES users(id),
    blocked_id INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
) WITHOUT ROWID, STRICT;

-- "Who blocked me", for the checks in the other direction.
CREATE INDEX blocks_by_blocked ON blocks(blocked_id);

ALTER TABLE conversations ADD COLUMN closed INTEGER NOT NULL DEFAULT 0 CHECK (closed IN (0, 1));

-- A deleted account keeps its row (its messages name it) with the profile
-- erased: `username` becomes '#<id>' (no valid username starts with '#')
-- and the old name moves to `reserved_username`, where this index keeps
-- it from being taken again (live rows index their username, deleted rows
-- their reserved one).
ALTER TABLE users ADD COLUMN reserved_username TEXT;
ALTER TABLE users ADD COLUMN deleted_at INTEGER;
CREATE UNIQUE INDEX users_name_or_reserved ON users(coalesce(reserved_username, username));

-- The export (`GET /me/export`) reads a user's sent messages by
-- (conversation, seq) in pages.
CREATE INDEX messages_by_sender ON messages(sender_id, conversation_id, seq) WHERE kind = 'text';
