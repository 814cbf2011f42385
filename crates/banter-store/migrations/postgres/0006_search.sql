-- Full-text search (issue 16).
--
-- `search` holds the tsvector of the search form of a live `text` message
-- (to_tsvector('simple', form), where the form is made by the server: case
-- and accents folded, Chinese, Japanese, Korean and Thai cut into
-- characters; see banter-store's search/text.rs). NULL for edit and delete
-- entries and for deleted messages. The appender writes it with the
-- message, an edit rewrites it and a delete clears it, each in the
-- transaction that changes the message.
ALTER TABLE messages ADD COLUMN search tsvector;
CREATE INDEX messages_search ON messages USING gin (search);

-- Messages stored before this migration are indexed by the server at its
-- next start (the form is made in Rust, not SQL), in batches; `done` says
-- when that is over.
CREATE TABLE search_backfill (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    done      BOOLEAN NOT NULL
);
INSERT INTO search_backfill (done) VALUES (NOT EXISTS (SELECT 1 FROM messages WHERE kind = 'text' AND NOT deleted));
