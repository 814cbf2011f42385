//! What the store test suites share: the backends a check runs against
//! (SQLite in a temp dir; PostgreSQL with fresh databases, one per shard,
//! from the workspace's `banter-test-support`) and unique numbers.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use banter_store::postgres::{PgConfig, PgStore};
use banter_store::sqlite::SqliteStore;
use banter_store::Store;
use banter_test_support::postgres::TestDatabase;

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A number no other caller in this process got.
pub fn unique() -> u64 {
    UNIQUE.fetch_add(1, Ordering::Relaxed)
}

/// A database a check can open, close and open again.
#[async_trait]
pub trait Backend: Send + Sync {
    /// Opens a store on this backend's database: the same data on every
    /// call, so a check can close a store and reopen it to test durability.
    /// Only one store is open at a time.
    async fn open(&self) -> Arc<dyn Store>;
}

/// A fresh SQLite file in a temporary directory (removed afterwards).
pub struct SqliteBackend {
    dir: tempfile::TempDir,
}

impl SqliteBackend {
    pub fn new() -> Self {
        SqliteBackend { dir: tempfile::tempdir().expect("create temp dir") }
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn open(&self) -> Arc<dyn Store> {
        // A nested path also checks that `open` creates missing directories.
        let path = self.dir.path().join("data").join("banter.db");
        Arc::new(SqliteStore::open(&path).expect("open sqlite store"))
    }
}

/// Fresh PostgreSQL databases (one per shard), dropped when the check ends
/// (`banter-test-support`).
pub struct PgBackend {
    databases: Vec<TestDatabase>,
}

impl PgBackend {
    pub async fn new(shards: usize) -> Self {
        let mut databases = Vec::new();
        for _ in 0..shards {
            databases.push(TestDatabase::create("banter_test").await);
        }
        PgBackend { databases }
    }

    /// `ALTER DATABASE … SET <setting> = <value>` on every shard: the default
    /// a new session gets unless it asks for something else.
    pub async fn set_database_default(&self, setting: &str, value: &str) {
        for database in &self.databases {
            database.set_default(setting, value).await;
        }
    }

    /// The URL of shard `index`.
    pub fn url(&self, index: usize) -> String {
        self.databases[index].url()
    }
}

#[async_trait]
impl Backend for PgBackend {
    async fn open(&self) -> Arc<dyn Store> {
        let urls = self.databases.iter().map(TestDatabase::url).collect();
        Arc::new(PgStore::connect(&PgConfig { urls, max_connections: 8 }).await.expect("open postgres store"))
    }
}
