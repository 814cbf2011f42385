-- The search index is written once per commit batch, not once per message
-- (issue 15).
--
-- The writer runs each job (one message) in its own SAVEPOINT, and FTS5
-- writes what it holds in memory to disk at every savepoint release: with
-- migration 0006's trigger, a new index segment per message, about 12 % of
-- all server CPU at 20,000 messages a second (perf). Now the trigger only
-- notes the new message's rowid here; at the end of each batch, outside the
-- savepoints and before COMMIT, the writer indexes the noted messages in one
-- statement and empties the table (`search::index_pending`, the writer's
-- closing step). So the index is still written in the transaction that
-- writes the message, and `search_pending` is empty whenever a reader
-- looks. A message edited or deleted within its own batch is indexed as
-- it then stands; one indexed earlier is re-indexed by the update trigger.
CREATE TABLE search_pending (
    id INTEGER PRIMARY KEY
) STRICT;

-- Messages of a batch interrupted before this migration: none can be
-- pending, as migrations run between batches.
DROP TRIGGER messages_fts_insert;
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.kind = 'text' AND new.deleted = 0
BEGIN
    INSERT INTO search_pending (id) VALUES (new.id);
END;

DROP TRIGGER messages_fts_update;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, deleted ON messages
    WHEN old.kind = 'text' AND NOT EXISTS (SELECT 1 FROM search_pending WHERE id = old.id)
BEGIN
    DELETE FROM messages_fts WHERE rowid = old.id;
    INSERT INTO messages_fts (rowid, body, conv)
        SELECT new.id, banter_search_form(new.text), 'c' || new.conversation_id WHERE new.deleted = 0;
END;
