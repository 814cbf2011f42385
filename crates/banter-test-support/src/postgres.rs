//! Fresh PostgreSQL databases on the shared server: each test (or each
//! store shard of a test) gets a database of its own, so tests run in
//! parallel, and the database is dropped when its [`TestDatabase`] is —
//! `WITH (FORCE)`, since pooled connections of a store or a server process
//! may outlive it by a moment.

/// The shared server's admin URL: `BANTER_TEST_DATABASE_URL`, or the local
/// one `scripts/services-up` starts.
pub fn admin_url() -> String {
    std::env::var("BANTER_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `host:port` of the shared PostgreSQL server.
pub fn server_addr() -> String {
    let admin = url::Url::parse(&admin_url()).expect("BANTER_TEST_DATABASE_URL is a URL");
    format!("{}:{}", admin.host_str().unwrap_or("127.0.0.1"), admin.port().unwrap_or(5432))
}

/// A database that exists as long as this value.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
}

impl TestDatabase {
    /// Creates a database named after `prefix` (a SQL identifier) and a
    /// unique suffix.
    pub async fn create(prefix: &str) -> TestDatabase {
        let name = crate::unique_name(prefix);
        let mut admin = connect_admin().await;
        execute(&mut admin, &format!("CREATE DATABASE {name}")).await.expect("create database");
        TestDatabase { name }
    }

    /// Its URL: the admin URL with this database's name.
    pub fn url(&self) -> String {
        let admin = admin_url();
        let (base, _) = admin.rsplit_once('/').expect("BANTER_TEST_DATABASE_URL ends with /<database>");
        format!("{base}/{}", self.name)
    }

    /// `ALTER DATABASE … SET <setting> = <value>`: the default a new
    /// session gets unless it asks for something else.
    pub async fn set_default(&self, setting: &str, value: &str) {
        let mut admin = connect_admin().await;
        execute(&mut admin, &format!("ALTER DATABASE {} SET {setting} = {value}", self.name)).await.expect("alter database");
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.name);
        // Drop may run inside a runtime, which cannot be blocked on: a
        // thread with a runtime of its own does the cleanup.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url()).await {
                    let _ = execute(&mut admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}

async fn connect_admin() -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(&admin_url())
        .await
        .expect("connect to PostgreSQL (run scripts/services-up, or set BANTER_TEST_DATABASE_URL)")
}

async fn execute(admin: &mut sqlx::PgConnection, statement: &str) -> Result<(), sqlx::Error> {
    sqlx::query(statement).execute(admin).await.map(|_| ())
}
