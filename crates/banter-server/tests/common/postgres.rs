//! The server suite on PostgreSQL (`BANTER_TEST_STORE=postgres`; every
//! `TestServer` then has a database of its own, see `banter-test-support`),
//! and what a test needs to put a proxy between a server and PostgreSQL.

pub use banter_test_support::postgres::server_addr;

/// Whether this run uses PostgreSQL instead of the embedded SQLite.
pub fn requested() -> bool {
    banter_test_support::server::postgres_requested()
}

/// `database_url` with its host and port replaced by `addr` (a proxy's).
pub fn via(database_url: &str, addr: std::net::SocketAddr) -> String {
    let mut url = url::Url::parse(database_url).expect("database URL");
    url.set_host(Some(&addr.ip().to_string())).expect("host");
    url.set_port(Some(addr.port())).expect("port");
    url.to_string()
}
