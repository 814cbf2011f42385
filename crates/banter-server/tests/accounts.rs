//! Accounts, logins, devices and tokens, through the real HTTP API.

mod common;

use banter_protocol::{http::SignupRequest, ErrorCode};
use common::{TestServer, PASSWORD};

#[tokio::test]
async fn signup_returns_a_working_session_and_login_opens_another_device() {
    let server = TestServer::start().await;
    let alice = server.api().signup("alice", PASSWORD).await.unwrap();
    assert_eq!(alice.user.username, "alice");
    assert_eq!(alice.api().me().await.unwrap().id, alice.user.id);

    let laptop = server.api().login("alice", PASSWORD, Some("laptop")).await.unwrap();
    assert_eq!(laptop.user.id, alice.user.id);
    assert_ne!(laptop.device_id, alice.device_id);
    assert_ne!(laptop.token, alice.token);

    let devices = laptop.api().devices().await.unwrap();
    assert_eq!(devices.len(), 2);
    assert!(devices.iter().any(|d| d.id == laptop.device_id && d.current && d.name == "laptop"));
    assert!(devices.iter().any(|d| d.id == alice.device_id && !d.current));
}

#[tokio::test]
async fn usernames_are_validated_and_unique_case_insensitively() {
    let server = TestServer::start().await;
    server.api().signup("bob", PASSWORD).await.unwrap();
    let taken = server.api().signup("BOB", PASSWORD).await.unwrap_err();
    assert_eq!(taken.code(), Some(ErrorCode::UsernameTaken));
    assert_eq!(taken.status(), Some(409));

    for bad in ["ab", "has space", "semi;colon", "'; DROP TABLE users; --", &"x".repeat(10_000)] {
        let err = server.api().signup(bad, PASSWORD).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::InvalidUsername), "username {bad:?}");
    }
    let short = server.api().signup("carol", "short").await.unwrap_err();
    assert_eq!(short.code(), Some(ErrorCode::InvalidPassword));
}

#[tokio::test]
async fn display_names_default_to_the_username_and_can_be_changed() {
    let server = TestServer::start().await;
    let dave = server.api().signup("dave", PASSWORD).await.unwrap();
    assert_eq!(dave.user.display_name, "dave");
    let updated = dave.api().update_profile("Dave <b>D</b>").await.unwrap();
    assert_eq!(updated.display_name, "Dave <b>D</b>");
    let seen = dave.api().user_by_username("dave").await.unwrap();
    assert_eq!(seen.display_name, "Dave <b>D</b>");
    let blank = dave.api().update_profile("   ").await.unwrap_err();
    assert_eq!(blank.code(), Some(ErrorCode::InvalidName));
    for spoof in ["\u{200B}\u{200B}", "admin\u{202E}nimda"] {
        let refused = dave.api().update_profile(spoof).await.unwrap_err();
        assert_eq!(refused.code(), Some(ErrorCode::InvalidName), "{spoof:?}: invisible or bidi-reordered names");
    }
    assert_eq!(dave.api().me().await.unwrap().display_name, "Dave <b>D</b>", "a refused name changes nothing");

    let erin = server
        .api()
        .signup_with(SignupRequest { username: "erin".into(), password: PASSWORD.into(), display_name: Some("Erin E.".into()), device_name: None })
        .await
        .unwrap();
    assert_eq!(erin.user.display_name, "Erin E.");
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_get_the_same_error() {
    let server = TestServer::start().await;
    server.api().signup("frank", PASSWORD).await.unwrap();
    let wrong = server.api().login("frank", "not the password", None).await.unwrap_err();
    let unknown = server.api().login("nobody", PASSWORD, None).await.unwrap_err();
    assert_eq!(wrong.code(), Some(ErrorCode::InvalidCredentials));
    assert_eq!(unknown.code(), Some(ErrorCode::InvalidCredentials));
    assert_eq!(wrong.status(), Some(401));
}

#[tokio::test]
async fn missing_forged_and_revoked_tokens_are_refused() {
    let server = TestServer::start().await;
    let grace = server.api().signup("grace", PASSWORD).await.unwrap();
    let no_token = server.api().me().await.unwrap_err();
    assert_eq!(no_token.code(), Some(ErrorCode::Unauthorized));
    let forged = server.api().with_token("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").me().await.unwrap_err();
    assert_eq!(forged.code(), Some(ErrorCode::Unauthorized));
    let huge = server.api().with_token("x".repeat(100_000)).me().await.unwrap_err();
    assert_eq!(huge.status(), Some(401));

    let phone = server.second_device(&grace).await;
    grace.api().revoke_device(phone.device_id).await.unwrap();
    assert_eq!(phone.api().me().await.unwrap_err().code(), Some(ErrorCode::Unauthorized));
    assert!(phone.connect().await.is_err(), "a revoked token cannot open a WebSocket");
    // The revoking device is unaffected.
    assert_eq!(grace.api().me().await.unwrap().id, grace.user.id);

    grace.api().logout().await.unwrap();
    assert_eq!(grace.api().me().await.unwrap_err().code(), Some(ErrorCode::Unauthorized));
}

#[tokio::test]
async fn a_user_cannot_revoke_another_users_device() {
    let server = TestServer::start().await;
    let heidi = server.user("heidi").await;
    let ivan = server.user("ivan").await;
    let err = heidi.api().revoke_device(ivan.device_id).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::DeviceNotFound));
    assert!(ivan.api().me().await.is_ok());
}

#[tokio::test]
async fn revoking_a_device_closes_its_open_websocket() {
    let server = TestServer::start().await;
    let judy = server.user("judy").await;
    let tablet = server.second_device(&judy).await;
    let mut conn = tablet.connect().await.unwrap();
    judy.api().revoke_device(tablet.device_id).await.unwrap();
    let closed = common::closed(&mut conn).await;
    assert_eq!(closed.close_code(), Some(banter_protocol::frames::close_code::SESSION_REVOKED));
}
