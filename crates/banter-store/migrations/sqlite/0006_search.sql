-- Full-text search (issue 16).
--
-- `messages_fts` indexes the search form of every live `text` message
-- (`banter_search_form(text)`: case and accents folded, Chinese, Japanese,
-- Korean and Thai cut into characters; see banter-store's search/text.rs),
-- keyed by the message's rowid, plus a `conv` token ("c<conversation id>")
-- so that a search within a few conversations is answered by the index.
-- Contentless: the text is not stored twice; `contentless_delete` lets the
-- triggers remove an entry.
--
-- The triggers keep it in the transaction that writes the message: an
-- insert indexes a text message, an edit re-indexes it, a delete (which
-- empties the text and sets `deleted`) removes it. `banter_search_form` is
-- an SQL function the server registers on its writing connection, so
-- messages can only be written by the server (as before: the database is
-- not for other programs to write).
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body, conv, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0'
);

INSERT INTO messages_fts (rowid, body, conv)
    SELECT id, banter_search_form(text), 'c' || conversation_id FROM messages WHERE kind = 'text' AND deleted = 0;

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.kind = 'text' AND new.deleted = 0
BEGIN
    INSERT INTO messages_fts (rowid, body, conv) VALUES (new.id, banter_search_form(new.text), 'c' || new.conversation_id);
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, deleted ON messages WHEN old.kind = 'text'
BEGIN
    DELETE FROM messages_fts WHERE rowid = old.id;
    INSERT INTO messages_fts (rowid, body, conv)
        SELECT new.id, banter_search_form(new.text), 'c' || new.conversation_id WHERE new.deleted = 0;
END;
