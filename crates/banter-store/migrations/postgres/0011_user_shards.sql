-- The per-user conversation index (issue 18): which shards hold at least
-- one of a user's memberships, current or former, so that the per-user
-- questions (conversation list, sync, contacts, "shares a conversation
-- with", search, the export) ask only those shards. Used on the accounts
-- shard (shard 0) only, and only with more than one shard; a superset (a
-- row may outlive the memberships it stood for, never miss one). Filled
-- for existing data by the store at start (postgres/user_shards.rs): a
-- migration cannot read the other shards.
CREATE TABLE user_shards (
    user_id BIGINT   NOT NULL,
    shard   SMALLINT NOT NULL,
    PRIMARY KEY (user_id, shard)
);
