-- Replies, edits and deletes (issue 16); see the SQLite migration of the
-- same name for the design. An edit or delete is an entry with its own seq
-- (`kind`, `target_seq`); the message it names is updated in the same
-- transaction.
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text' CHECK (kind IN ('text', 'edit', 'delete'));
ALTER TABLE messages ADD COLUMN reply_to BIGINT;
ALTER TABLE messages ADD COLUMN target_seq BIGINT;
ALTER TABLE messages ADD COLUMN edited_at BIGINT;
ALTER TABLE messages ADD COLUMN edit_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT FALSE;

-- Changes are not unread: the unread count subtracts the changes after the
-- read marker, counted in this (small) index.
CREATE INDEX messages_changes ON messages (conversation_id, seq) WHERE kind <> 'text';
