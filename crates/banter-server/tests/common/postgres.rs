//! The same integration suite on PostgreSQL: with `BANTER_TEST_STORE=postgres`
//! every [`super::TestServer`] gets a fresh database of its own on the
//! shared PostgreSQL server (`BANTER_TEST_DATABASE_URL`, default the local
//! one `scripts/services-up` starts), dropped when the server is.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Whether this run uses PostgreSQL instead of the embedded SQLite.
pub fn requested() -> bool {
    std::env::var("BANTER_TEST_STORE").is_ok_and(|v| v == "postgres")
}

fn admin_url() -> String {
    std::env::var("BANTER_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that exists as long as this value.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        use sqlx::Connection;
        static N: AtomicUsize = AtomicUsize::new(0);
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let name = format!("banter_it_{}_{}_{stamp}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let mut admin = sqlx::PgConnection::connect(&admin_url())
            .await
            .expect("connect to PostgreSQL (run scripts/services-up, or set BANTER_TEST_DATABASE_URL)");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create database");
        TestDatabase { name }
    }

    pub fn url(&self) -> String {
        let admin = admin_url();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base).to_owned();
        format!("{base}/{}", self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // A thread of its own: drop may run inside (or outside) a runtime.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
                }
            });
        })
        .join();
    }
}
