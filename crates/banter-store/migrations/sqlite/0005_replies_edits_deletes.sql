-- Replies, edits and deletes (issue 16).
--
-- An edit or a delete is an entry of the conversation's log with a seq of
-- its own (`kind` 'edit' / 'delete', `target_seq` naming the message), so
-- devices learn of it by catching up from their cursors. The message itself
-- is updated in the same transaction: `text` and `edited_at` (and
-- `edit_count`, for the limit) on an edit; on a delete its text is emptied
-- and `deleted` set, as are the edit entries that held its later texts.
-- `reply_to` is the seq of the message a text quotes.
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text' CHECK (kind IN ('text', 'edit', 'delete'));
ALTER TABLE messages ADD COLUMN reply_to INTEGER;
ALTER TABLE messages ADD COLUMN target_seq INTEGER;
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN edit_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1));

-- Changes are not unread: the unread count subtracts the changes after the
-- read marker, counted in this (small) index.
CREATE INDEX messages_changes ON messages(conversation_id, seq) WHERE kind <> 'text';
