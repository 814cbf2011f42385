-- Presence, delivery receipts, mute and Web Push (issue 3).
--
-- Sharding: users, push_subscriptions and server_settings are account data
-- (shard 0); members columns live with their conversation.

-- The last time any device of the user showed a sign of life, written when
-- the user goes offline (and at shutdown). NULL: never connected.
ALTER TABLE users ADD COLUMN last_seen_at BIGINT;

-- Highest seq delivered to any of the member's devices; kept >= read_seq by
-- the code that moves either.
ALTER TABLE members ADD COLUMN delivered_seq BIGINT NOT NULL DEFAULT 0;

-- The member muted the conversation: no push notifications for it.
ALTER TABLE members ADD COLUMN muted BOOLEAN NOT NULL DEFAULT FALSE;

-- Web Push subscriptions (RFC 8030), one per browser/device registration.
-- device_id has no foreign key, like messages.sender_device_id; revoking a
-- device deletes its subscriptions in the same transaction.
CREATE TABLE push_subscriptions (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id),
    device_id  BIGINT NOT NULL,
    endpoint   TEXT   NOT NULL UNIQUE,
    p256dh     TEXT   NOT NULL,
    auth       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX push_subscriptions_by_user ON push_subscriptions(user_id);
CREATE INDEX push_subscriptions_by_device ON push_subscriptions(device_id);

-- Server-wide settings created once and shared by every node (e.g. the
-- VAPID key pair generated on first start).
CREATE TABLE server_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
