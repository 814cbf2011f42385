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
use banter_protocol::{http::PushPayload, ErrorCode, ServerFrame};
use banter_sdk::Session;
use banter_server::push::{web_push::WebPush, PushError, PushProvider};
use banter_store::{PushSubscriptionRecord, PushTarget};
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
        Self::start_on("127.0.0.1").await
    }

    /// Also serves `/hang/{subscription}` (records the request, never
    /// answers) and `/redirect/{subscription}` (records it, answers 307 to
    /// `/push/followed-<subscription>`).
    async fn start_on(ip: &str) -> PushEndpoint {
        let (tx, received) = mpsc::unbounded_channel();
        let script: Script = Arc::default();
        let app = Router::new()
            .route("/push/{subscription}", post(receive))
            .route("/hang/{subscription}", post(hang))
            .route("/redirect/{subscription}", post(redirect))
            .with_state((tx, script.clone()));
        let listener = tokio::net::TcpListener::bind(format!("{ip}:0")).await.unwrap();
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

async fn hang(
    State((tx, _)): State<(mpsc::UnboundedSender<PushRequest>, Script)>,
    Path(subscription): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let _ = tx.send(PushRequest { subscription, headers, body });
    std::future::pending().await
}

async fn redirect(
    State((tx, _)): State<(mpsc::UnboundedSender<PushRequest>, Script)>,
    Path(subscription): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, String); 1]) {
    let location = format!("/push/followed-{subscription}");
    let _ = tx.send(PushRequest { subscription, headers, body });
    (StatusCode::TEMPORARY_REDIRECT, [("location", location)])
}

/// A browser's side of a subscription: its keys, to decrypt with.
struct Subscriber {
    keys: ece::EcKeyComponents,
    auth: [u8; 16],
}

impl Subscriber {
    /// Creates keys and registers the subscription for `session`'s device.
    async fn register(session: &Session, endpoint: &str) -> Subscriber {
        let (subscriber, public, auth) = Subscriber::new();
        session.api.subscribe_push(endpoint, &public, &auth).await.expect("subscribe");
        subscriber
    }

    /// Fresh keys, and their public half and auth secret as a browser sends them.
    fn new() -> (Subscriber, String, String) {
        let (pair, auth) = ece::generate_keypair_and_auth_secret().unwrap();
        let public = URL_SAFE_NO_PAD.encode(pair.pub_as_raw().unwrap());
        (Subscriber { keys: pair.raw_components().unwrap(), auth }, public, URL_SAFE_NO_PAD.encode(auth))
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
async fn edits_and_deletes_are_not_pushed() {
    let (server, mut endpoint) = start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let conv = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let subscriber = Subscriber::register(&bob, &endpoint.url("bob")).await;
    let mut sender = alice.connect().await.unwrap();
    sender.send_message(conv.id, "first").await.unwrap();
    assert_eq!(subscriber.decrypt(&endpoint.next().await).seq, 1);
    sender.edit_message(conv.id, 1, "first, edited").await.unwrap();
    sender.delete_message(conv.id, 1).await.unwrap();
    sender.send_message(conv.id, "second").await.unwrap();
    let payload = subscriber.decrypt(&endpoint.next().await);
    assert_eq!((payload.seq, payload.preview.as_str()), (4, "second"), "seqs 2 and 3, the changes, were not pushed");
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

#[tokio::test]
async fn push_subscriptions_are_capped_per_device_and_per_account() {
    let endpoint = PushEndpoint::start().await;
    let server = TestServer::start_with(|c| {
        c.push_endpoint_hosts = vec!["127.0.0.1".into()];
        c.push_subscriptions_per_device = 2;
        c.push_subscriptions_per_user = 3;
    })
    .await;
    let bob = server.user("bob").await;
    let laptop = server.second_device(&bob).await;
    let (_, key, auth) = Subscriber::new();
    for n in 0..2 {
        bob.api.subscribe_push(&endpoint.url(&format!("phone{n}")), &key, &auth).await.expect("under the caps");
    }
    let device_cap = bob.api.subscribe_push(&endpoint.url("phone2"), &key, &auth).await.unwrap_err();
    assert_eq!((device_cap.status(), device_cap.code()), (Some(409), Some(ErrorCode::TooManyPushSubscriptions)));
    bob.api.subscribe_push(&endpoint.url("phone1"), &key, &auth).await.expect("re-registering a held endpoint is no new one");

    laptop.api.subscribe_push(&endpoint.url("laptop0"), &key, &auth).await.expect("the account's third");
    let account_cap = laptop.api.subscribe_push(&endpoint.url("laptop1"), &key, &auth).await.unwrap_err();
    assert_eq!((account_cap.status(), account_cap.code()), (Some(409), Some(ErrorCode::TooManyPushSubscriptions)));

    bob.api.unsubscribe_push().await.unwrap();
    laptop.api.subscribe_push(&endpoint.url("laptop1"), &key, &auth).await.expect("room again after unsubscribing");
}

#[tokio::test]
async fn an_endpoint_held_by_another_device_cannot_be_taken_over() {
    let (server, mut endpoint) = start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mallory = server.user("mallory").await;
    let bobs_laptop = server.second_device(&bob).await;
    let conv = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let bobs_phone = Subscriber::register(&bob, &endpoint.url("bob-phone")).await;

    let (_, key, auth) = Subscriber::new();
    for thief in [&mallory, &bobs_laptop] {
        let taken = thief.api.subscribe_push(&endpoint.url("bob-phone"), &key, &auth).await.unwrap_err();
        assert_eq!((taken.status(), taken.code()), (Some(409), Some(ErrorCode::PushEndpointTaken)));
    }

    // Bob's subscription, keys and all, is untouched: his push still decrypts.
    let mut sender = alice.connect().await.unwrap();
    sender.send_message(conv.id, "still yours").await.unwrap();
    let request = endpoint.next().await;
    assert_eq!(request.subscription, "bob-phone");
    assert_eq!(bobs_phone.decrypt(&request).preview, "still yours");

    // Once the holder lets go, the endpoint is free.
    bob.api.unsubscribe_push().await.unwrap();
    bobs_laptop.api.subscribe_push(&endpoint.url("bob-phone"), &key, &auth).await.expect("free after unsubscribing");
}

/// One account's 70 subscriptions all hang until the request timeout (10 s).
/// The old dispatcher waited for a free slot of its 64 before even looking
/// at the next job; now another user's push goes out at once.
#[tokio::test]
async fn a_user_with_many_hanging_endpoints_does_not_delay_anyone_elses_push() {
    let mut endpoint = PushEndpoint::start().await;
    let server = TestServer::start_with(|c| {
        c.push_endpoint_hosts = vec!["127.0.0.1".into()];
        c.push_subscriptions_per_device = 100;
        c.push_subscriptions_per_user = 100;
    })
    .await;
    let carol = server.user("carol").await;
    let slow = server.user("slow").await;
    let bob = server.user("bob").await;
    let to_slow = carol.api.direct_conversation_with(slow.user.id).await.unwrap().conversation;
    let to_bob = carol.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let (_, key, auth) = Subscriber::new();
    for n in 0..70 {
        let url = format!("{}/hang/slow{n}", endpoint.base);
        slow.api.subscribe_push(&url, &key, &auth).await.unwrap();
    }
    let bobs_phone = Subscriber::register(&bob, &endpoint.url("bob")).await;

    let mut sender = carol.connect().await.unwrap();
    sender.send_message(to_slow.id, "into the void").await.unwrap();
    // Wait until the slow user's requests are hanging.
    let mut hanging = 0;
    while hanging < 4 {
        let request = endpoint.next().await;
        assert!(request.subscription.starts_with("slow"));
        hanging += 1;
    }
    sender.send_message(to_bob.id, "hello bob").await.unwrap();

    let bound = Duration::from_secs(5);
    let reached_bob = tokio::time::timeout(bound, async {
        loop {
            let request = endpoint.next().await;
            if request.subscription == "bob" {
                return request;
            }
        }
    })
    .await
    .expect("bob's push is not held up by another user's hanging endpoints");
    assert_eq!(bobs_phone.decrypt(&reached_bob).preview, "hello bob");
}

#[tokio::test]
async fn a_redirect_from_a_push_service_is_not_followed() {
    let mut endpoint = PushEndpoint::start().await;
    let vapid = web_push_native::jwt_simple::algorithms::ES256KeyPair::generate();
    let provider = WebPush::new(vapid, "mailto:ops@banter.test".into()).expect("client");
    let (_, key, auth) = Subscriber::new();
    let subscription = PushSubscriptionRecord {
        id: 1,
        user_id: 1,
        device_id: 1,
        target: PushTarget::Web { endpoint: format!("{}/redirect/elsewhere", endpoint.base), p256dh: key, auth },
    };
    let payload = banter_protocol::http::PushPayload {
        kind: "message".into(),
        conversation_id: 1,
        seq: 1,
        sender_id: 2,
        sender_name: "Alice".into(),
        conversation_name: None,
        preview: "hi".into(),
        server_ts: 1,
    };
    let sent = provider.send(&subscription, &payload).await;
    assert!(matches!(sent, Err(PushError::Rejected(_))), "{sent:?}");
    // `send` has returned, so a followed redirect would already have arrived.
    assert_eq!(endpoint.next().await.subscription, "elsewhere");
    assert!(endpoint.received.try_recv().is_err(), "the redirect target was never contacted");
}

/// A subscription accepted under a wider `push_endpoint_hosts` is not
/// contacted once the server restarts with a narrower one, and is removed.
#[tokio::test]
async fn a_subscription_the_allow_list_no_longer_covers_is_not_contacted() {
    let mut allowed = PushEndpoint::start_on("127.0.0.1").await;
    let mut dropped = PushEndpoint::start_on("127.0.0.2").await;
    let mut server = TestServer::start_with(|c| {
        c.push_endpoint_hosts = vec!["127.0.0.1".into(), "127.0.0.2".into()];
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let laptop = server.second_device(&bob).await;
    let conv = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let phone_keys = Subscriber::register(&bob, &allowed.url("phone")).await;
    Subscriber::register(&laptop, &dropped.url("laptop")).await;

    server.config.push_endpoint_hosts = vec!["127.0.0.1".into()];
    server.restart().await;
    let metrics_url = format!("http://{}/metrics", server.running().metrics_addr().expect("metrics"));
    let mut sender = server.api().with_token(alice.token.clone()).connect().await.unwrap();
    for n in 1..=2 {
        sender.send_message(conv.id, &format!("message {n}")).await.unwrap();
        assert_eq!(phone_keys.decrypt(&allowed.next().await).seq, n);
    }
    let disallowed = r#"banter_push_notifications_total{outcome="disallowed"}"#;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let page = reqwest::get(&metrics_url).await.unwrap().text().await.unwrap();
        if metric(&page, disallowed) == Some(1.0) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the laptop's subscription was skipped: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(dropped.received.try_recv().is_err(), "the endpoint off the allow-list got nothing");
}

/// The value of the sample `series` in a Prometheus text page.
fn metric(page: &str, series: &str) -> Option<f64> {
    page.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

/// Cluster mode (two in-process nodes on one PostgreSQL database and NATS):
/// where a member's devices are is the routing directory's knowledge, and
/// the publishing node's answer may be a second old — so the node the
/// member just left decides.
#[tokio::test]
async fn in_a_cluster_a_member_on_another_node_is_not_pushed_and_one_who_just_left_it_is() {
    let mut endpoint = PushEndpoint::start().await;
    let database = banter_test_support::postgres::TestDatabase::create("banter_push_cluster").await;
    let prefix = banter_test_support::unique_name("push");
    let node = || {
        TestServer::start_with(|c| {
            c.push_endpoint_hosts = vec!["127.0.0.1".into()];
            c.push_retry_base = Duration::from_millis(50);
            c.push_contact = "mailto:ops@banter.test".into();
            c.database_urls = vec![database.url()];
            c.database_pool_size = 4;
            c.nats_url = Some(banter_test_support::nats_url());
            c.nats_subject_prefix = prefix.clone();
        })
    };
    let node_a = node().await;
    let node_b = node().await;
    let alice = node_a.user("alice").await;
    let bob = node_a.user("bob").await;
    let conv = alice.api.direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let subscriber = Subscriber::register(&bob, &endpoint.url("bob")).await;
    let mut sender = alice.connect().await.unwrap();
    let mut bob_on_b = bob.with_base_url(&node_b.url()).unwrap().connect().await.unwrap();

    // Until node A's directory answers include node B, probes may be
    // pushed; wait for one to arrive live, then drop what was pushed.
    let mut live = false;
    for i in 0..50 {
        sender.send_message(conv.id, format!("probe {i}")).await.unwrap();
        if let Ok(ServerFrame::Message { .. }) = bob_on_b.next_frame_timeout(Duration::from_millis(300)).await {
            live = true;
            break;
        }
    }
    assert!(live, "bob on node B gets alice's messages live");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    while tokio::time::timeout(Duration::from_millis(200), endpoint.received.recv()).await.is_ok() {}
    while bob_on_b.next_frame_timeout(Duration::from_millis(200)).await.is_ok() {}

    // Connected on node B: reached live, not pushed.
    sender.send_message(conv.id, "while on node B").await.unwrap();
    assert_eq!(next_message(&mut bob_on_b).await.text, "while on node B");
    // Bob leaves node B and a message follows at once, while node A still
    // believes him there: node B, which no longer holds him, has him pushed.
    bob_on_b.close().await.unwrap();
    while node_b.running().connection_count() > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ack = sender.send_message(conv.id, "just after leaving").await.unwrap();
    let payload = subscriber.decrypt(&endpoint.next().await);
    assert_eq!((payload.seq, payload.preview.as_str()), (ack.seq, "just after leaving"), "the first push since bob was live");
}
