-- Cluster-wide rate limits (src/rate_limits.rs): token buckets every node
-- shares, and the addresses each account logged in from.
--
-- UNLOGGED: neither table is worth a WAL flush. A take writes only here, and
-- a transaction that changed only unlogged tables commits without waiting
-- for the WAL flush, whatever synchronous_commit says; a database crash or
-- a failover to a standby empties both,
-- which refills every bucket once and makes owners wait for the shared
-- login budget as from a new address: the same as restarting every node
-- used to be.

-- One GCRA bucket per key (a limit's name and its key, e.g.
-- 'login.address 198.51.100.7'), on the shard its key hashes to.
CREATE UNLOGGED TABLE rate_limit_buckets (
    key TEXT PRIMARY KEY,
    -- Theoretical arrival time, microseconds since the epoch on this
    -- database's clock: the bucket is full again from then on, so a row
    -- whose time has passed is worth nothing and is swept.
    tat_us BIGINT NOT NULL,
    -- When the last take ran (database clock) and what it granted: what
    -- the take statement returns.
    taken_at_us BIGINT NOT NULL,
    granted BIGINT NOT NULL
) WITH (fillfactor = 70); -- room for HOT updates: a take rewrites its row

-- The most recent addresses (at most 4) each username logged in from, on
-- the accounts shard: the per-username login budget never refuses them.
CREATE UNLOGGED TABLE login_known_addresses (
    username TEXT NOT NULL,
    address TEXT NOT NULL,
    last_us BIGINT NOT NULL,
    PRIMARY KEY (username, address)
);
