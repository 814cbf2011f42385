-- Initial schema of the PostgreSQL store (cluster mode).
--
-- Applied by `sqlx::migrate!` at start (under an advisory lock, so several
-- nodes starting at once apply it once); sqlx records applied files in
-- `_sqlx_migrations`. Never edit a released migration: add a new file.
--
-- Sharding by conversation: every database ("shard") gets this same schema.
-- Accounts (users, devices) are used on shard 0 only; conversations, members
-- and messages live on the shard their conversation id maps to (see
-- `shard_identity` and docs/SCALING.md). So no table of the conversation
-- group has a foreign key into the account tables, and nothing joins across
-- the two groups in SQL: the store joins them in code.

-- ---------------------------------------------------------------- accounts

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT   NOT NULL UNIQUE,
    password_hash TEXT   NOT NULL,
    display_name  TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);

-- Identity values come from a sequence and are never reused, as idempotency
-- keys (sender_device_id, client_msg_id) outlive the device row.
CREATE TABLE devices (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        BIGINT NOT NULL REFERENCES users(id),
    name           TEXT   NOT NULL,
    token_hash     BYTEA  NOT NULL UNIQUE,
    created_at     BIGINT NOT NULL,
    last_active_at BIGINT NOT NULL
);

CREATE INDEX devices_by_user ON devices(user_id);

-- ---------------------------------------------------------- conversations

-- With N shards, shard i allocates ids i+1, i+1+N, i+1+2N, … (set once by
-- the store when it first opens the shard), so a conversation id alone says
-- where the conversation lives: shard = (id - 1) mod N.
--
-- direct_key is '<smaller user id>:<larger user id>' for direct
-- conversations; the store creates a pair's conversation on the shard the
-- key hashes to, so this UNIQUE constraint still means one per pair.
CREATE TABLE conversations (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             TEXT    NOT NULL CHECK (kind IN ('direct', 'group')),
    name             TEXT,
    direct_key       TEXT    UNIQUE,
    creator_id       BIGINT,
    created_at       BIGINT  NOT NULL,
    -- The seq of the newest message. Appends lock this row (SELECT … FOR
    -- UPDATE, in id order) and raise it in the transaction that inserts the
    -- messages, which keeps seqs dense however many nodes write.
    last_seq         BIGINT  NOT NULL DEFAULT 0,
    last_activity_at BIGINT  NOT NULL,
    member_count     INTEGER NOT NULL,
    CHECK ((kind = 'direct') = (direct_key IS NOT NULL))
);

CREATE TABLE members (
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    user_id         BIGINT NOT NULL,
    role            TEXT   NOT NULL CHECK (role IN ('admin', 'member')),
    joined_at       BIGINT NOT NULL,
    read_seq        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
);

-- "My conversations" (list, sync), as an index-only scan.
CREATE INDEX members_by_user ON members(user_id, conversation_id);

-- Keyed by (conversation_id, seq): history and sync are range scans of the
-- primary key. sender_device_id has no foreign key: revoking a device
-- deletes its row while its messages stay (and devices live on shard 0).
CREATE TABLE messages (
    conversation_id  BIGINT NOT NULL REFERENCES conversations(id),
    seq              BIGINT NOT NULL,
    sender_id        BIGINT NOT NULL,
    sender_device_id BIGINT NOT NULL,
    client_msg_id    TEXT   NOT NULL,
    text             TEXT   NOT NULL,
    server_ts        BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, seq),
    UNIQUE (sender_device_id, client_msg_id)
);

-- ------------------------------------------------------------------ shards

-- Which shard this database is, written once when the store first opens it.
-- A store opened with a different shard list refuses to start rather than
-- mis-route conversations.
CREATE TABLE shard_identity (
    singleton   BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    shard_index INTEGER NOT NULL,
    shard_count INTEGER NOT NULL
);
