-- The data export without an index by sender (issue 15); see the SQLite
-- migration of the same name. On every shard, beside the conversations.
CREATE TABLE former_members (
    user_id         BIGINT NOT NULL,
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    PRIMARY KEY (user_id, conversation_id)
);

INSERT INTO former_members (user_id, conversation_id)
    SELECT sender_id, conversation_id FROM messages WHERE kind = 'text'
    EXCEPT SELECT user_id, conversation_id FROM members
ON CONFLICT DO NOTHING;

DROP INDEX messages_by_sender;
