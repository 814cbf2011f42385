//! What the store test suites share: the backends a check runs against
//! (SQLite in a temp dir; PostgreSQL with fresh databases, one per shard)
//! and unique names.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use banter_store::postgres::{PgConfig, PgStore};
use banter_store::sqlite::SqliteStore;
use banter_store::Store;

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

/// Fresh PostgreSQL databases (one per shard), dropped when the check ends.
pub struct PgBackend {
    admin_url: String,
    databases: Vec<String>,
}

impl PgBackend {
    pub async fn new(shards: usize) -> Self {
        use sqlx::Connection;
        let admin_url = std::env::var("BANTER_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to PostgreSQL (run scripts/services-up, or set BANTER_TEST_DATABASE_URL)");
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let mut databases = Vec::new();
        for shard in 0..shards {
            let name = format!("banter_test_{}_{}_{stamp}_{shard}", std::process::id(), unique());
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create database");
            databases.push(name);
        }
        PgBackend { admin_url, databases }
    }

    fn url_of(&self, database: &str) -> String {
        let (base, _) = self.admin_url.rsplit_once('/').expect("database URL ends with /<database>");
        format!("{base}/{database}")
    }
}

#[async_trait]
impl Backend for PgBackend {
    async fn open(&self) -> Arc<dyn Store> {
        let urls = self.databases.iter().map(|d| self.url_of(d)).collect();
        Arc::new(PgStore::connect(&PgConfig { urls, max_connections: 8 }).await.expect("open postgres store"))
    }
}

impl Drop for PgBackend {
    fn drop(&mut self) {
        // Drop runs inside the check's runtime, which cannot be blocked on:
        // a thread with its own runtime does the cleanup.
        let (admin_url, databases) = (self.admin_url.clone(), std::mem::take(&mut self.databases));
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                use sqlx::Connection;
                let mut admin = sqlx::PgConnection::connect(&admin_url).await.expect("connect for cleanup");
                for name in databases {
                    // FORCE: pooled connections of the dropped store may linger.
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}
