-- The routing directory of cluster mode (issue 18): which nodes hold
-- connections of which users, so a node publishes one NATS message per node
-- that holds recipients, and nothing for users nobody holds. Partitioned
-- by user id: a user's entries are on shard user_id mod n, and every shard
-- keeps its own copy of the node leases (postgres/directory.rs).
--
-- Soft state: every node re-asserts its entries when it finds its own row
-- missing, so the tables are UNLOGGED (no WAL for the connect/disconnect
-- churn; a crash of PostgreSQL empties them and the nodes fill them again
-- within one lease renewal). A node's entries count only while its lease
-- (database clock) runs; any node sweeps expired nodes with their entries.
CREATE UNLOGGED TABLE cluster_nodes (
    node_id     BIGINT PRIMARY KEY,
    lease_until TIMESTAMPTZ NOT NULL
);

CREATE UNLOGGED TABLE user_nodes (
    user_id BIGINT NOT NULL,
    node_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, node_id)
);

CREATE INDEX user_nodes_by_node ON user_nodes (node_id);
