-- Initial schema of the embedded SQLite store.
--
-- Applied once by `schema::migrate` inside a transaction; `PRAGMA user_version`
-- records how many migration files have run. Never edit a released migration:
-- add a new numbered file instead.
--
-- Tables are STRICT so a value of the wrong type is an error instead of being
-- silently stored with a different affinity.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    display_name  TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

-- AUTOINCREMENT: a device id is never reused, because idempotency keys
-- (sender_device_id, client_msg_id) outlive the device row.
CREATE TABLE devices (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL REFERENCES users(id),
    name           TEXT    NOT NULL,
    token_hash     BLOB    NOT NULL UNIQUE,
    created_at     INTEGER NOT NULL,
    last_active_at INTEGER NOT NULL
) STRICT;

CREATE INDEX devices_by_user ON devices(user_id);

-- direct_key is "<smaller user id>:<larger user id>" for direct conversations
-- and NULL for groups; its UNIQUE constraint guarantees one direct
-- conversation per pair however the request races.
CREATE TABLE conversations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT    NOT NULL CHECK (kind IN ('direct', 'group')),
    name             TEXT,
    direct_key       TEXT    UNIQUE,
    creator_id       INTEGER REFERENCES users(id),
    created_at       INTEGER NOT NULL,
    last_seq         INTEGER NOT NULL DEFAULT 0,
    last_activity_at INTEGER NOT NULL,
    member_count     INTEGER NOT NULL,
    CHECK ((kind = 'direct') = (direct_key IS NOT NULL))
) STRICT;

CREATE TABLE members (
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    user_id         INTEGER NOT NULL REFERENCES users(id),
    role            TEXT    NOT NULL CHECK (role IN ('admin', 'member')),
    joined_at       INTEGER NOT NULL,
    read_seq        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID, STRICT;

-- "My conversations". The primary key columns ride along in the index, so it
-- also covers conversation_id.
CREATE INDEX members_by_user ON members(user_id);

-- A rowid table rather than WITHOUT ROWID: texts can be 400 KB, and WITHOUT
-- ROWID tables are meant for small rows. sender_device_id has no foreign key
-- because revoking a device deletes its row while its messages stay.
CREATE TABLE messages (
    id               INTEGER PRIMARY KEY,
    conversation_id  INTEGER NOT NULL REFERENCES conversations(id),
    seq              INTEGER NOT NULL,
    sender_id        INTEGER NOT NULL REFERENCES users(id),
    sender_device_id INTEGER NOT NULL,
    client_msg_id    TEXT    NOT NULL,
    text             TEXT    NOT NULL,
    server_ts        INTEGER NOT NULL,
    UNIQUE (conversation_id, seq),
    UNIQUE (sender_device_id, client_msg_id)
) STRICT;
