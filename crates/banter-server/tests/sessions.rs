//! Session lifetimes and revocation: an ended session (revoked, too old or
//! idle too long) works nowhere, and keeps no open socket, whatever the
//! order of events. Lifetimes are configured short so the tests run in
//! seconds; the rules are the same at 90 and 30 days.

mod common;

use std::time::{Duration, Instant};

use banter_protocol::{frames::close_code, ErrorCode};
use banter_sdk::{SdkError, Session};
use common::*;

/// Polls `check` until it holds, failing after [`WAIT`].
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The close code and reason a connection ended with.
async fn close_of(conn: &mut banter_sdk::Connection) -> (Option<u16>, String) {
    match closed(conn).await {
        SdkError::Closed { code, reason } => (code, reason),
        other => panic!("expected a close, got {other:?}"),
    }
}

/// Deletes a device row straight in the database, as another node's
/// revocation does when its event to this node is lost.
async fn revoke_behind_the_servers_back(server: &TestServer, device_id: i64) {
    match server.config.database_urls.first() {
        Some(url) => {
            use sqlx::Connection;
            let mut db = sqlx::PgConnection::connect(url).await.expect("connect to the test database");
            sqlx::query("DELETE FROM devices WHERE id = $1").bind(device_id).execute(&mut db).await.expect("delete");
        }
        None => {
            let db = rusqlite::Connection::open(server.config.database_path()).expect("open the database");
            db.busy_timeout(WAIT).expect("busy timeout");
            db.execute("DELETE FROM devices WHERE id = ?1", [device_id]).expect("delete");
        }
    }
}

#[tokio::test]
async fn a_token_past_its_absolute_lifetime_is_refused_with_session_expired() {
    // No periodic sweep during the test: the request itself finds the expiry.
    let server = TestServer::start_with(|c| {
        c.session_max_age = Duration::from_millis(1_500);
        c.session_check_interval = Duration::from_secs(3_600);
    })
    .await;
    let alice = server.user("alice").await;
    let laptop = server.second_device(&alice).await;
    assert!(alice.api.me().await.is_ok());
    let devices = alice.api.devices().await.unwrap();
    assert!(devices.iter().all(|d| d.expires_at == d.created_at + 1_500), "{devices:?}");

    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let expired = alice.api.me().await.unwrap_err();
    assert_eq!((expired.status(), expired.code()), (Some(401), Some(ErrorCode::SessionExpired)));
    let handshake = laptop.connect().await.unwrap_err();
    assert_eq!((handshake.status(), handshake.code()), (Some(401), Some(ErrorCode::SessionExpired)), "at the handshake too");
    // An expired session is removed when found: its token is now unknown.
    assert_eq!(alice.api.me().await.unwrap_err().code(), Some(ErrorCode::Unauthorized));

    let again = server.api().login(&alice.user.username, PASSWORD, Some("new login")).await.unwrap();
    let devices = again.api().devices().await.unwrap();
    assert_eq!(devices.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), vec!["new login"], "the expired ones are gone");
}

#[tokio::test]
async fn an_open_websocket_is_closed_when_its_session_expires() {
    let server = TestServer::start_with(|c| {
        c.session_max_age = Duration::from_millis(1_500);
        c.session_check_interval = Duration::from_millis(100);
    })
    .await;
    let alice = server.user("alice").await;
    let mut conn = alice.connect().await.unwrap();
    let started = Instant::now();
    conn.ping().await.unwrap();

    let (code, reason) = close_of(&mut conn).await;
    assert_eq!((code, reason.as_str()), (Some(close_code::SESSION_REVOKED), "session expired"));
    assert!(started.elapsed() >= Duration::from_millis(1_000), "not before the session ended");
    assert!(alice.api.me().await.is_err());
}

#[tokio::test]
async fn an_idle_session_expires_while_one_in_use_lives_on_with_its_last_use_recorded() {
    let idle_timeout = Duration::from_millis(3_000);
    let server = TestServer::start_with(|c| {
        c.session_idle_timeout = idle_timeout;
        c.session_check_interval = Duration::from_millis(200);
    })
    .await;
    let busy = server.user("busy").await;
    let idle = server.second_device(&busy).await;
    let created = busy.api.devices().await.unwrap();

    // The busy device keeps using its token for twice the idle timeout.
    let until = Instant::now() + idle_timeout * 2;
    while Instant::now() < until {
        busy.api.me().await.expect("a session in use does not expire");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let refused = idle.api.me().await.unwrap_err();
    assert_eq!(refused.status(), Some(401));
    assert!(
        matches!(refused.code(), Some(ErrorCode::SessionExpired | ErrorCode::Unauthorized)),
        "expired (or already swept): {refused:?}"
    );

    let devices = busy.api.devices().await.unwrap();
    assert_eq!(devices.iter().map(|d| d.id).collect::<Vec<_>>(), vec![busy.device_id], "the idle one was removed");
    let (before, now) = (&created[0], &devices[0]);
    assert!(now.last_active_at >= before.created_at + idle_timeout.as_millis() as i64, "last use recorded: {now:?}");
    assert_eq!(now.expires_at, now.last_active_at + idle_timeout.as_millis() as i64);
}

#[tokio::test]
async fn a_device_revoked_where_this_node_did_not_hear_of_it_loses_its_socket_at_the_next_check() {
    let server = TestServer::start_with(|c| c.session_check_interval = Duration::from_millis(200)).await;
    let alice = server.user("alice").await;
    let phone = server.second_device(&alice).await;
    let mut phone_conn = phone.connect().await.unwrap();
    let mut alice_conn = alice.connect().await.unwrap();
    phone_conn.ping().await.unwrap();

    revoke_behind_the_servers_back(&server, phone.device_id).await;
    let (code, reason) = close_of(&mut phone_conn).await;
    assert_eq!((code, reason.as_str()), (Some(close_code::SESSION_REVOKED), "session revoked"));
    alice_conn.ping().await.expect("the other device keeps its connection");
}

/// The handshake checks the token, then registers the connection; a
/// revocation can land in between. Whatever the interleaving, the socket
/// must end up closed. The periodic check is off, so only the kick and the
/// re-check after registering can close it.
#[tokio::test]
async fn a_handshake_racing_a_revocation_never_keeps_its_socket() {
    let server = TestServer::start_with(|c| {
        c.session_check_interval = Duration::from_secs(3_600);
        c.login_attempts_per_minute_per_user = 10_000;
        c.login_attempts_per_minute_per_user_and_address = 10_000;
        c.login_attempts_per_minute_per_address = 10_000;
    })
    .await;
    let owner = server.user("owner").await;
    let mut opened = 0;
    for round in 0..30u64 {
        let device: Session = server.second_device(&owner).await;
        let revoke = {
            let api = owner.api.clone();
            let device_id = device.device_id;
            tokio::spawn(async move {
                // Spread the revocations over the handshake's phases.
                tokio::time::sleep(Duration::from_micros(round * 150)).await;
                api.revoke_device(device_id).await
            })
        };
        let connected = device.connect().await;
        revoke.await.unwrap().expect("revoked");
        match connected {
            Ok(mut conn) => {
                opened += 1;
                let (code, _) = close_of(&mut conn).await;
                assert_eq!(code, Some(close_code::SESSION_REVOKED), "round {round}");
            }
            // Refused at the handshake, or closed before `hello` was read.
            Err(e) => assert!(
                e.code() == Some(ErrorCode::Unauthorized) || e.close_code() == Some(close_code::SESSION_REVOKED),
                "round {round}: {e:?}"
            ),
        }
    }
    eventually("no socket of a revoked device is left", async || server.running().connection_count() == 0).await;
    eprintln!("{opened} of 30 handshakes got through before the revocation");
}
