//! The PostgreSQL database of one cluster run: created fresh under a unique
//! name on the server given by `--database-url`, and dropped (with whatever
//! connections are left) when the run ends, so no run ever sees another
//! run's data.
//!
//! It also reads how much CPU the database's own backends used: on one
//! machine the PostgreSQL processes serving the run are part of what a
//! message costs, and `pg_stat_activity` names them.

use std::collections::HashMap;

use anyhow::Context;
use sqlx::Connection;

use super::target::cpu_seconds;

/// A database that exists for the duration of one run.
pub struct BenchDatabase {
    /// URL of a database on the same server to administer from
    /// (`--database-url`, e.g. `postgres://postgres@127.0.0.1:5432/postgres`).
    admin_url: String,
    name: String,
}

impl BenchDatabase {
    /// Creates `banter_bench_<run id>_<pid>` on the server of `admin_url`.
    pub async fn create(admin_url: &str, run_id: &str) -> anyhow::Result<BenchDatabase> {
        let name = format!("banter_bench_{run_id}_{}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .with_context(|| format!("connecting to PostgreSQL at {admin_url}"))?;
        // The name is ours (letters, digits, underscores): nothing to quote.
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .with_context(|| format!("creating database {name}"))?;
        // Seeding only: its commits need not wait for the WAL flush. The
        // nodes connect after [`BenchDatabase::make_durable`].
        sqlx::query(&format!("ALTER DATABASE {name} SET synchronous_commit = off")).execute(&mut admin).await?;
        let _ = admin.close().await;
        Ok(BenchDatabase { admin_url: admin_url.to_owned(), name })
    }

    /// Back to the server's own `synchronous_commit` for every connection
    /// opened from now on: call once seeding is done, before the nodes
    /// start, so that what is measured is durable commits.
    pub async fn make_durable(&self) -> anyhow::Result<()> {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await?;
        sqlx::query(&format!("ALTER DATABASE {} RESET synchronous_commit", self.name)).execute(&mut admin).await?;
        let _ = admin.close().await;
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL the nodes (and the seeder) use.
    pub fn url(&self) -> anyhow::Result<String> {
        let mut url = url::Url::parse(&self.admin_url).context("--database-url is not a URL")?;
        url.set_path(&format!("/{}", self.name));
        Ok(url.to_string())
    }

    /// CPU seconds used so far by each backend process connected to this
    /// database (PostgreSQL runs one process per connection). Empty when
    /// the server is not on this machine.
    pub async fn backend_cpu(&self) -> HashMap<u32, f64> {
        let pids: Vec<i32> = match sqlx::PgConnection::connect(&self.admin_url).await {
            Ok(mut admin) => {
                let pids = sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = $1")
                    .bind(&self.name)
                    .fetch_all(&mut admin)
                    .await
                    .unwrap_or_default();
                let _ = admin.close().await;
                pids
            }
            Err(_) => Vec::new(),
        };
        pids.into_iter().filter_map(|pid| Some((pid as u32, cpu_seconds(pid as u32)?))).collect()
    }
}

/// CPU used by the backends between two [`BenchDatabase::backend_cpu`]
/// readings; a backend that appeared in between counts from zero.
pub fn backend_cpu_between(before: &HashMap<u32, f64>, after: &HashMap<u32, f64>) -> f64 {
    after.iter().map(|(pid, end)| end - before.get(pid).copied().unwrap_or(0.0)).filter(|d| *d > 0.0).sum()
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        // Drop runs inside the bench's runtime, which cannot be blocked on:
        // a thread of its own with a small runtime does the DROP.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async move {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await?;
                let _ = admin.close().await;
                Ok::<_, anyhow::Error>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            tracing::warn!(database = %self.name, "could not drop the bench database; drop it by hand");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_that_appeared_during_the_run_count_from_zero() {
        let before = HashMap::from([(1, 2.0), (2, 5.0)]);
        let after = HashMap::from([(1, 2.5), (3, 1.0)]);
        assert!((backend_cpu_between(&before, &after) - 1.5).abs() < 1e-9);
    }
}
