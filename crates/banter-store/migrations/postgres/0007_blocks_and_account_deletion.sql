-- Blocks and account deletion (issue 16); see the SQLite migration of the
-- same name for the design. `blocks` and the user columns are used on the
-- accounts shard (shard 0) only; `conversations.closed` and the messages
-- index on every shard.
CREATE TABLE blocks (
    blocker_id BIGINT NOT NULL REFERENCES users(id),
    blocked_id BIGINT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);

CREATE INDEX blocks_by_blocked ON blocks (blocked_id);

ALTER TABLE conversations ADD COLUMN closed BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE users ADD COLUMN reserved_username TEXT;
ALTER TABLE users ADD COLUMN deleted_at BIGINT;
CREATE UNIQUE INDEX users_name_or_reserved ON users ((coalesce(reserved_username, username)));

CREATE INDEX messages_by_sender ON messages (sender_id, conversation_id, seq) WHERE kind = 'text';
