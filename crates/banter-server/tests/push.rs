//! Web Push end to end: a real HTTP push endpoint started by the test
//! receives what the server sends, decrypts it with the subscription's
//! private key (the `ece` crate, an independent RFC 8291 implementation)
//! and checks the VAPID JWT (RFC 8292) against the server's public key.

mod common;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::post,
    Router,
};
use banter_protocol::{http::PushPayload, ErrorCode};
use banter_sdk::Session;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use common::*;
use tokio::sync::mpsc;
use web_push_native::jwt_simple::{
    algorithms::{ECDSAP256PublicKeyLike, ES256PublicKey},
    claims::NoCustomClaims,
    common::VerificationOptions,
};

/// What the push endpoint received.
#[derive(Debug)]
struct PushRequest {
    subscription: String,
    headers: HeaderMap,
    body: Bytes,
}

/// How the endpoint answers one subscription: statuses in turn, then 201.
type Script = Arc<Mutex<HashMap<String, Vec<u16>>>>;

/// A push service on a random loopback port.
struct PushEndpoint {
    base: String,
    received: mpsc::UnboundedReceiver<PushRequest>,
    script: Script,
}

impl PushEndpoint {
    async fn start() -> PushEndpoint {
        let (tx, received) = mpsc::unbounded_channel();
        let script: Script = Arc::default();
        let app = Router::new()
            .route("/push/{subscription}", post(receive))
            .with_state((tx, script.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        PushEndpoint { base, received, script }
    }

    fn url(&self, subscription: &str) -> String {
        format!("{}/push/{subscription}", self.base)
    }

    /// Makes `subscription` answer these statuses to its next requests.
    fn answer(&self, subscription: &str, statuses: &[u16]) {
        self.script.lock().unwrap().insert(subscription.to_owned(), statuses.to_vec());
    }

    async fn next(&mut self) -> PushRequest {
        tokio::time::timeout(WAIT, self.received.recv()).await.expect("a push arrives").unwrap()
    }
}

async fn receive(
    State((tx, script)): State<(mpsc::UnboundedSender<PushRequest>, Script)>,
    Path(subscription): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let status = {
        let mut script = script.lock().unwrap();
        match script.get_mut(&subscription) {
            Some(list) if !list.is_empty() => list.remove(0),
            _ => 201,
        }
    };
    let _ = tx.send(PushRequest { subscription, headers, body });
    StatusCode::from_u16(status).unwrap()
}

/// A browser's side of a subscription: its keys, to decrypt with.
struct Subscriber {
    keys: ece::EcKeyComponents,
    auth: [u8; 16],
}

impl Subscriber {
    /// Creates keys and registers the subscription for `session`'s device.
    async fn register(session: &Session, endpoint: &str) -> Subscriber {
        let (pair, auth) = ece::generate_keypair_and_auth_secret().unwrap();
        let public = URL_SAFE_NO_PAD.encode(pair.pub_as_raw().unwrap());
        session.api.subscribe_push(endpoint, &public, &URL_SAFE_NO_PAD.encode(auth)).await.expect("subscribe");
        Subscriber { keys: pair.raw_components().unwrap(), auth }
    }

    fn decrypt(&self, request: &PushRequest) -> PushPayload {
        let plain = ece::decrypt(&self.keys, &self.auth, &request.body).expect("the payload decrypts with our key");
        serde_json::from_slice(&plain).expect("the payload is a PushPayload")
    }
}

async fn start() -> (TestServer, PushEndpoint) {
    let endpoint = PushEndpoint::start().await;
    let server = TestServer::start_with(|c| {
        c.push_endpoint_hosts = vec!["127.0.0.1".into()];
        c.push_retry_base = Duration::from_millis(50);
        c.push_contact = "mailto:ops@banter.test".into();
    })
    .await;
    (server, endpoint)
}

#[tokio::test]
async fn a_member_with_no_connected_device_gets_an_encrypted_push_signed_with_vapid() {
    let (server, mut endpoint) = start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let conv = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let bobs_phone = Subscriber::register(&bob, &endpoint.url("bob-phone")).await;

    let mut sender = alice.connect().await.unwrap();
    sender.send_message(conv.id, "  Lunch at noon? <b>bring</b> snacks  ").await.unwrap();

    let request = endpoint.next().await;
    assert_eq!(request.subscription, "bob-phone");
    assert_eq!(request.headers["content-encoding"], "aes128gcm");
    assert!(request.headers["ttl"].to_str().unwrap().parse::<u64>().unwrap() > 0);
    let payload = bobs_phone.decrypt(&request);
    assert_eq!(payload.kind, "message");
    assert_eq!((payload.conversation_id, payload.seq, payload.sender_id), (conv.id, 1, alice.user.id));
    assert_eq!(payload.sender_name, alice.user.display_name);
    assert_eq!(payload.conversation_name, None);
    assert_eq!(payload.preview, "Lunch at noon? <b>bring</b> snacks");

    // VAPID: "vapid t=<JWT>, k=<server public key>", the JWT signed by that key
    // for this push service's origin, naming our contact.
    let authorization = request.headers["authorization"].to_str().unwrap();
    let rest = authorization.strip_prefix("vapid ").expect("VAPID scheme");
    let parts: HashMap<&str, &str> = rest.split(", ").filter_map(|p| p.split_once('=')).collect();
    let server_key = server.api().vapid_public_key().await.unwrap();
    assert_eq!(parts["k"], server_key);
    let key = ES256PublicKey::from_bytes(&URL_SAFE_NO_PAD.decode(server_key).unwrap()).unwrap();
    let options = VerificationOptions {
        allowed_audiences: Some(HashSet::from([endpoint.base.clone()])),
        ..Default::default()
    };
    let claims = key.verify_token::<NoCustomClaims>(parts["t"], Some(options)).expect("the JWT verifies");
    assert_eq!(claims.subject.as_deref(), Some("mailto:ops@banter.test"));
    let expires = claims.expires_at.expect("exp is set").as_secs();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(expires > now && expires <= now + 24 * 3600, "RFC 8292: exp within 24 hours");

    // A tampered signature does not verify: the check above is real.
    let mut forged = parts["t"].to_owned();
    forged.pop();
    forged.push(if parts["t"].ends_with('A') { 'B' } else { 'A' });
    assert!(key.verify_token::<NoCustomClaims>(&forged, None).is_err());
}

#[tokio::test]
async fn no_push_while_a_device_is_connected() {
    let (server, mut endpoint) = start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let conv = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let subscriber = Subscriber::register(&bob, &endpoint.url("bob")).await;
    let mut sender = alice.connect().await.unwrap();

    let mut bob_live = bob.connect().await.unwrap();
    sender.send_message(conv.id, "while online").await.unwrap();
    assert_eq!(next_message(&mut bob_live).await.text, "while online");
    bob_live.close().await.unwrap();
    // Wait until the server has seen the close: a message then is pushed.
    while server.running().connection_count() > 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sender.send_message(conv.id, "after leaving").await.unwrap();

    let payload = subscriber.decrypt(&endpoint.next().await);
    assert_eq!((payload.seq, payload.preview.as_str()), (2, "after leaving"), "the first push is for seq 2, not 1");
}

#[tokio::test]
async fn a_muted_conversation_is_not_pushed_and_long_texts_are_previewed() {
    let (server, mut endpoint) = start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let direct = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let group = alice.api.create_group("climbing", &[bob.user.id]).await.unwrap().conversation;
    let subscriber = Subscriber::register(&bob, &endpoint.url("bob")).await;
    assert!(bob.api.set_muted(direct.id, true).await.unwrap().muted);
    assert!(bob.api.conversation(direct.id).await.unwrap().conversation.muted);

    let mut sender = alice.connect().await.unwrap();
    sender.send_message(direct.id, "muted, so silent").await.unwrap();
    sender.send_message(group.id, &"é".repeat(5_000)).await.unwrap();

    let payload = subscriber.decrypt(&endpoint.next().await);
    assert_eq!(payload.conversation_id, group.id, "the muted direct message was not pushed");
    assert_eq!(payload.conversation_name.as_deref(), Some("climbing"));
    assert_eq!(payload.preview.chars().count(), 200);

    bob.api.set_muted(direct.id, false).await.unwrap();
    sender.send_message(direct.id, "unmuted").await.unwrap();
    assert_eq!(subscriber.decrypt(&endpoint.next().await).preview, "unmuted");
}

#[tokio::test]
async fn a_gone_subscription_is_removed_and_temporary_failures_are_retried() {
    let (server, mut endpoint) = start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let conv = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let laptop = server.second_device(&bob).await;
    Subscriber::register(&bob, &endpoint.url("old-phone")).await;
    let healthy = Subscriber::register(&laptop, &endpoint.url("laptop")).await;
    endpoint.answer("old-phone", &[410, 410, 410, 410, 410]);
    endpoint.answer("laptop", &[503, 500]);
    let mut sender = alice.connect().await.unwrap();

    sender.send_message(conv.id, "first").await.unwrap();
    let mut old_phone_requests = 0;
    let mut laptop_attempts = Vec::new();
    while laptop_attempts.len() < 3 {
        let request = endpoint.next().await;
        match request.subscription.as_str() {
            "old-phone" => old_phone_requests += 1,
            _ => laptop_attempts.push(healthy.decrypt(&request).seq),
        }
    }
    assert_eq!(laptop_attempts, vec![1, 1, 1], "503 and 500 are retried until accepted");
    assert_eq!(old_phone_requests, 1, "410 is not retried");

    // The 410 removed the subscription: later messages reach only the laptop.
    for n in 2..=3 {
        sender.send_message(conv.id, &format!("message {n}")).await.unwrap();
        let request = endpoint.next().await;
        assert_eq!(request.subscription, "laptop", "the gone subscription got no more pushes");
        assert_eq!(healthy.decrypt(&request).seq, n);
    }
}

#[tokio::test]
async fn subscriptions_are_validated_and_the_vapid_key_survives_restarts() {
    let (mut server, endpoint) = start().await;
    let bob = server.user("bob").await;
    let (pair, auth) = ece::generate_keypair_and_auth_secret().unwrap();
    let key = URL_SAFE_NO_PAD.encode(pair.pub_as_raw().unwrap());
    let auth = URL_SAFE_NO_PAD.encode(auth);

    let refused = [
        ("https://169.254.169.254/latest", key.as_str(), auth.as_str()),
        ("http://localhost:1/push", key.as_str(), auth.as_str()),
        ("ftp://127.0.0.1/push", key.as_str(), auth.as_str()),
        (endpoint.url("x").as_str(), "bm90IGEga2V5", auth.as_str()),
        (endpoint.url("x").as_str(), key.as_str(), "c2hvcnQ"),
    ]
    .map(|(e, k, a)| (e.to_owned(), k.to_owned(), a.to_owned()));
    for (endpoint, key, auth) in refused {
        let error = bob.api.subscribe_push(&endpoint, &key, &auth).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::InvalidPushSubscription), "{endpoint} {key} {auth}");
        assert_eq!(error.status(), Some(400));
    }
    let long = format!("{}/{}", endpoint.url("x"), "a".repeat(3_000));
    assert_eq!(bob.api.subscribe_push(&long, &key, &auth).await.unwrap_err().code(), Some(ErrorCode::InvalidPushSubscription));
    bob.api.subscribe_push(&endpoint.url("ok"), &key, &auth).await.expect("a valid subscription");
    bob.api.unsubscribe_push().await.unwrap();
    let anonymous = server.api().subscribe_push(&endpoint.url("ok"), &key, &auth).await.unwrap_err();
    assert_eq!(anonymous.status(), Some(401));

    let before = server.api().vapid_public_key().await.unwrap();
    assert_eq!(URL_SAFE_NO_PAD.decode(&before).unwrap().len(), 65, "uncompressed P-256 point");
    server.restart().await;
    assert_eq!(server.api().vapid_public_key().await.unwrap(), before, "browsers' subscriptions stay valid");
}
