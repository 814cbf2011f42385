//! [`RateLimitStore`] on PostgreSQL ([`PgRateLimits`], handed out by
//! [`PgStore`](super::PgStore)'s `StoreLifecycle::rate_limits`): each bucket is one row of
//! `rate_limit_buckets` on the shard its key hashes to, and a take is one
//! upsert that applies the GCRA rule of [`crate::rate_limits`] to the row
//! under its row lock, so concurrent takes from any number of nodes are
//! serialised by the row and never grant more than the bucket holds. Known
//! login addresses are on the accounts shard. Both tables are UNLOGGED
//! (migration 0010): a take costs no WAL flush.

use std::net::IpAddr;

use async_trait::async_trait;
use sqlx::{PgPool, Row};

use super::rows::DbResult;
use super::shards::shard_of_bucket;
use crate::rate_limits::{Bucket, RateLimitStore, Taken, KNOWN_ADDRESSES_PER_ACCOUNT};
use crate::StoreResult;

/// The database's clock in microseconds since the epoch.
const CLOCK_US: &str = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint";

/// The shared buckets on a store's shards (pools shared with the store).
pub struct PgRateLimits {
    /// Every shard, in order; shard 0 holds the accounts.
    shards: Vec<PgPool>,
}

impl PgRateLimits {
    pub(super) fn new(shards: Vec<PgPool>) -> PgRateLimits {
        PgRateLimits { shards }
    }

    fn for_bucket(&self, key: &str) -> &PgPool {
        &self.shards[shard_of_bucket(key, self.shards.len())]
    }

    fn accounts(&self) -> &PgPool {
        &self.shards[0]
    }
}

#[async_trait]
impl RateLimitStore for PgRateLimits {
    async fn take_tokens(&self, key: &str, bucket: Bucket, want: u32) -> StoreResult<Taken> {
        let want = want.clamp(1, bucket.burst);
        // $2 interval, $3 burst, $4 want. A new row is a full bucket; an
        // existing one holds (now + burst·interval − max(tat, now)) / interval
        // tokens, of which the take gets at most `want` (`EXCLUDED.taken_at_us`
        // is now). SET sees the old row, so `granted` and `tat_us` agree.
        let sql = format!(
            "INSERT INTO rate_limit_buckets AS b (key, tat_us, taken_at_us, granted)
             SELECT $1, now_us + $4 * $2, now_us, $4 FROM (SELECT {CLOCK_US} AS now_us) AS clock
             ON CONFLICT (key) DO UPDATE SET
                 granted = LEAST($4, GREATEST(0, (EXCLUDED.taken_at_us + $3 * $2 - GREATEST(b.tat_us, EXCLUDED.taken_at_us)) / $2)),
                 tat_us = GREATEST(b.tat_us, EXCLUDED.taken_at_us)
                     + LEAST($4, GREATEST(0, (EXCLUDED.taken_at_us + $3 * $2 - GREATEST(b.tat_us, EXCLUDED.taken_at_us)) / $2)) * $2,
                 taken_at_us = EXCLUDED.taken_at_us
             RETURNING granted, tat_us, taken_at_us"
        );
        let row = sqlx::query(&sql)
            .bind(key)
            .bind(bucket.interval_us())
            .bind(i64::from(bucket.burst))
            .bind(i64::from(want))
            .fetch_one(self.for_bucket(key))
            .await
            .db()?;
        let (granted, tat_us, now_us): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        let granted = u32::try_from(granted).unwrap_or(0);
        let retry_after = if granted == 0 { bucket.wait_for_one(tat_us, now_us) } else { Default::default() };
        Ok(Taken { granted, retry_after })
    }

    async fn remember_login_address(&self, username: &str, address: IpAddr) -> StoreResult<()> {
        // The DELETE sees the table as it was before the upsert (one
        // snapshot), so it keeps the others' most recent `per_account − 1`.
        let sql = format!(
            "WITH remembered AS (
                 INSERT INTO login_known_addresses (username, address, last_us) VALUES ($1, $2, {CLOCK_US})
                 ON CONFLICT (username, address) DO UPDATE SET last_us = EXCLUDED.last_us
             )
             DELETE FROM login_known_addresses
             WHERE username = $1 AND address <> $2 AND address NOT IN (
                 SELECT address FROM login_known_addresses WHERE username = $1 AND address <> $2
                 ORDER BY last_us DESC LIMIT $3
             )"
        );
        sqlx::query(&sql)
            .bind(username)
            .bind(address.to_string())
            .bind(KNOWN_ADDRESSES_PER_ACCOUNT as i64 - 1)
            .execute(self.accounts())
            .await
            .db()?;
        Ok(())
    }

    async fn is_known_login_address(&self, username: &str, address: IpAddr) -> StoreResult<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM login_known_addresses WHERE username = $1 AND address = $2)")
            .bind(username)
            .bind(address.to_string())
            .fetch_one(self.accounts())
            .await
            .db()
    }

    async fn sweep_rate_limits(&self) -> StoreResult<u64> {
        let sql = format!("DELETE FROM rate_limit_buckets WHERE tat_us < {CLOCK_US}");
        let mut swept = 0;
        for pool in &self.shards {
            swept += sqlx::query(&sql).execute(pool).await.db()?.rows_affected();
        }
        Ok(swept)
    }
}
