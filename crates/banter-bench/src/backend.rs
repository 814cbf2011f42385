//! Where the servers the bench starts keep their data: the embedded
//! default (one node, SQLite in a data dir) or cluster mode (`--nodes N`
//! on a fresh PostgreSQL database, routing over NATS).
//!
//! The same [`Store`] the nodes will use is what the seeder writes into,
//! through the `Store` trait, before any node starts: SQLite or PostgreSQL,
//! the rows are the ones the server itself would write.

use std::ffi::OsString;
use std::sync::Arc;

use anyhow::Context;
use banter_store::postgres::{PgConfig, PgStore};
use banter_store::sqlite::SqliteStore;
use banter_store::Store;

use super::database::BenchDatabase;
use super::target::DataDir;
use super::CommonArgs;

/// The storage (and routing) of the nodes of one run.
pub enum Backend {
    /// One node on SQLite: `banter serve --data-dir`.
    Sqlite(DataDir),
    /// Nodes sharing one PostgreSQL database, and NATS between them.
    Postgres {
        database: BenchDatabase,
        database_url: String,
        /// Absent only for a single node, which needs no routing.
        nats_url: Option<String>,
        /// NATS subjects of this run only (`bench_<run id>`), so that runs
        /// and tests sharing a NATS server never see each other's traffic.
        subject_prefix: String,
        pool_size: u32,
    },
}

impl Backend {
    /// SQLite unless `--database-url` is given; then a fresh database.
    pub async fn new(common: &CommonArgs, run_id: &str) -> anyhow::Result<Backend> {
        let Some(admin_url) = &common.database_url else {
            return Ok(Backend::Sqlite(DataDir::new(common)?));
        };
        let database = BenchDatabase::create(admin_url, run_id).await?;
        let database_url = database.url()?;
        Ok(Backend::Postgres {
            database,
            database_url,
            nats_url: common.nats_url.clone(),
            subject_prefix: format!("bench_{run_id}"),
            pool_size: common.database_pool_size,
        })
    }

    /// Opens the store for seeding (applying migrations). Close it before
    /// the nodes start.
    pub async fn open_store(&self) -> anyhow::Result<Arc<dyn Store>> {
        Ok(match self {
            Backend::Sqlite(data) => {
                Arc::new(SqliteStore::open(&data.database_path()).context("opening the bench database")?)
            }
            Backend::Postgres { database_url, pool_size, .. } => {
                let config = PgConfig { urls: vec![database_url.clone()], max_connections: *pool_size };
                Arc::new(PgStore::connect(&config).await.context("opening the bench PostgreSQL database")?)
            }
        })
    }

    /// The `banter serve` arguments that put a node on this storage.
    pub fn serve_args(&self) -> Vec<OsString> {
        match self {
            Backend::Sqlite(data) => vec!["--data-dir".into(), data.path().into()],
            Backend::Postgres { database_url, nats_url, subject_prefix, pool_size, .. } => {
                let mut args: Vec<OsString> = vec![
                    "--database-url".into(),
                    database_url.into(),
                    "--database-pool-size".into(),
                    pool_size.to_string().into(),
                ];
                if let Some(nats) = nats_url {
                    args.extend([
                        "--nats-url".into(),
                        nats.into(),
                        "--nats-subject-prefix".into(),
                        subject_prefix.into(),
                    ]);
                }
                args
            }
        }
    }

    /// `sqlite` or `postgresql`, for the report.
    pub fn storage(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres { .. } => "postgresql",
        }
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        match self {
            Backend::Sqlite(_) => "SQLite".to_owned(),
            Backend::Postgres { database, nats_url: Some(nats), .. } => {
                format!("PostgreSQL database {} + NATS {nats}", database.name())
            }
            Backend::Postgres { database, nats_url: None, .. } => {
                format!("PostgreSQL database {}, no NATS", database.name())
            }
        }
    }

    /// The run's PostgreSQL database, if any.
    pub fn database(&self) -> Option<&BenchDatabase> {
        match self {
            Backend::Postgres { database, .. } => Some(database),
            Backend::Sqlite(_) => None,
        }
    }
}
