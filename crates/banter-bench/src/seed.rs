//! Setting a scenario up fast: users, devices, conversations and history.
//!
//! For the servers the bench starts (the default) the data is written
//! **straight into their store** through the `Store` trait of
//! `banter-store` before any of them starts — the SQLite file of the
//! embedded server, or the run's PostgreSQL database in cluster mode:
//! one password hash shared by every bench user (hashing is deliberately
//! slow, ~20k signups through the API would take minutes), random device
//! tokens of which only the hash is stored, exactly as `signup` does, and
//! messages through `Store::append_message`, many in flight so the writer
//! commits them in large groups. Nothing is faked: the server later reads
//! these rows like any others, and the users can log in.
//!
//! Against `--url` everything goes through the HTTP API and the WebSocket.

use std::sync::Arc;

use anyhow::{anyhow, Context};
use banter_protocol::http::SignupRequest;
use banter_protocol::{Content, ConversationId, DeviceId, UserId};
use banter_sdk::{ApiClient, Session};
use banter_store::{ChangeRules, NewMessage, Store};
use futures_util::{stream, StreamExt, TryStreamExt};

use super::backend::Backend;
use super::cluster::Cluster;
use super::{pipeline, progress, CommonArgs};

/// Every bench user's password.
pub const PASSWORD: &str = "bench-password-not-secret";

/// One device of one user, ready to connect.
#[derive(Debug, Clone)]
pub struct BenchUser {
    pub user_id: UserId,
    pub username: String,
    pub device_id: DeviceId,
    pub token: String,
}

/// How a scenario is set up, then started.
pub struct Setup {
    seeder: Seeder,
    quiet: bool,
    /// A random prefix so that names never collide with an earlier run.
    run_id: String,
}

enum Seeder {
    /// Writes into the store of servers that have not started yet.
    Store { store: Arc<dyn Store>, password_hash: String, backend: Backend },
    /// Uses the API of running servers (node 0's).
    Api { api: ApiClient, cluster: Cluster },
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Concurrent store writes while seeding: enough to fill the writer's batches.
const STORE_CONCURRENCY: usize = 1024;
/// Concurrent signups through the API (each one is a password hash).
const API_CONCURRENCY: usize = 8;

impl Setup {
    pub async fn new(common: &CommonArgs) -> anyhow::Result<Setup> {
        let run_id: String = {
            use rand::Rng;
            let mut rng = rand::thread_rng();
            (0..6).map(|_| char::from(b'a' + rng.gen_range(0..26))).collect()
        };
        let seeder = if common.url.is_empty() {
            let backend = Backend::new(common, &run_id).await?;
            let store = backend.open_store().await?;
            let password_hash = banter_server::auth::PasswordHashing::new(1)
                .hash(PASSWORD.to_owned())
                .await
                .map_err(|e| anyhow!("hashing the bench password: {}", e.message))?;
            Seeder::Store { store, password_hash, backend }
        } else {
            for url in &common.url {
                ApiClient::new(url)?.health().await.with_context(|| format!("no server answers at {url}"))?;
            }
            let cluster = Cluster::external(common);
            Seeder::Api { api: ApiClient::new(cluster.first_url())?, cluster }
        };
        Ok(Setup { seeder, quiet: common.quiet, run_id })
    }

    /// Finishes seeding and returns the servers to load: starts the
    /// `--nodes` child servers on the seeded data, or hands back `--url`.
    pub async fn start(self, common: &CommonArgs) -> anyhow::Result<Cluster> {
        match self.seeder {
            Seeder::Store { store, backend, .. } => {
                store.close().await;
                drop(store);
                Cluster::start(common, backend).await
            }
            Seeder::Api { cluster, .. } => Ok(cluster),
        }
    }

    /// Creates `count` users, each with one device.
    pub async fn users(&self, count: usize) -> anyhow::Result<Vec<BenchUser>> {
        let bar = progress::bar(count as u64, "users", self.quiet);
        let names: Vec<String> = (0..count).map(|i| format!("b{}u{i}", self.run_id)).collect();
        let users = match &self.seeder {
            Seeder::Store { store, password_hash, .. } => {
                stream::iter(names)
                    .map(|name| {
                        let (store, bar) = (store.clone(), bar.clone());
                        async move {
                            let user = store.create_user(&name, password_hash, &name, now_ms()).await?;
                            let device = add_device(&store, user.id, &name).await?;
                            bar.inc(1);
                            Ok::<_, anyhow::Error>(device)
                        }
                    })
                    .buffered(STORE_CONCURRENCY)
                    .try_collect()
                    .await?
            }
            Seeder::Api { api, .. } => {
                stream::iter(names)
                    .map(|name| {
                        let bar = bar.clone();
                        async move {
                            let session = api
                                .signup_with(SignupRequest {
                                    username: name.clone(),
                                    password: PASSWORD.into(),
                                    display_name: None,
                                    device_name: Some("bench".into()),
                                })
                                .await?;
                            bar.inc(1);
                            Ok::<_, anyhow::Error>(from_session(session))
                        }
                    })
                    .buffered(API_CONCURRENCY)
                    .try_collect()
                    .await?
            }
        };
        bar.finish_and_clear();
        Ok(users)
    }

    /// Another device (session) of an existing user.
    pub async fn extra_device(&self, user: &BenchUser) -> anyhow::Result<BenchUser> {
        match &self.seeder {
            Seeder::Store { store, .. } => add_device(store, user.user_id, &user.username).await,
            Seeder::Api { api, .. } => Ok(from_session(api.login(&user.username, PASSWORD, Some("bench-2")).await?)),
        }
    }

    /// The 1:1 conversation of each pair.
    pub async fn directs(&self, pairs: &[(BenchUser, BenchUser)]) -> anyhow::Result<Vec<ConversationId>> {
        let bar = progress::bar(pairs.len() as u64, "directs", self.quiet);
        let ids = stream::iter(pairs)
            .map(|(a, b)| {
                let bar = bar.clone();
                async move {
                    let id = match &self.seeder {
                        Seeder::Store { store, .. } => {
                            store.get_or_create_direct(a.user_id, b.user_id, now_ms()).await?.0
                        }
                        Seeder::Api { api, .. } => {
                            let api = api.clone().with_token(a.token.clone());
                            api.direct_conversation_with(b.user_id).await?.conversation.id
                        }
                    };
                    bar.inc(1);
                    Ok::<_, anyhow::Error>(id)
                }
            })
            .buffered(self.concurrency())
            .try_collect()
            .await?;
        bar.finish_and_clear();
        Ok(ids)
    }

    /// A group of `members` (the first is its creator and admin).
    pub async fn groups(&self, groups: &[Vec<BenchUser>]) -> anyhow::Result<Vec<ConversationId>> {
        let bar = progress::bar(groups.len() as u64, "groups", self.quiet);
        let ids = stream::iter(groups.iter().enumerate())
            .map(|(i, members)| {
                let bar = bar.clone();
                async move {
                    let creator = &members[0];
                    let others: Vec<UserId> = members[1..].iter().map(|m| m.user_id).collect();
                    let name = format!("bench group {i}");
                    let id = match &self.seeder {
                        Seeder::Store { store, .. } => {
                            store.create_group(creator.user_id, &name, &others, now_ms()).await?
                        }
                        Seeder::Api { api, .. } => {
                            let api = api.clone().with_token(creator.token.clone());
                            api.create_group(&name, &others).await?.conversation.id
                        }
                    };
                    bar.inc(1);
                    Ok::<_, anyhow::Error>(id)
                }
            })
            .buffered(self.concurrency())
            .try_collect()
            .await?;
        bar.finish_and_clear();
        Ok(ids)
    }

    /// `count` messages of `size` bytes from `sender`, written into the
    /// store. Returns false (and does nothing) when seeding goes through the
    /// API: then call [`seed_messages_over_api`] once the server is started.
    pub async fn messages(
        &self,
        conversation_id: ConversationId,
        sender: &BenchUser,
        count: u64,
        size: usize,
    ) -> anyhow::Result<bool> {
        let text = "x".repeat(size.max(1));
        self.messages_by(count, |_| (conversation_id, sender, text.clone())).await
    }

    /// `count` messages written into the store: message `i` is
    /// `message(i)` = (conversation, sender, text). Returns false (and does
    /// nothing) when seeding goes through the API.
    pub async fn messages_by<'a>(
        &self,
        count: u64,
        message: impl Fn(u64) -> (ConversationId, &'a BenchUser, String),
    ) -> anyhow::Result<bool> {
        let Seeder::Store { store, .. } = &self.seeder else {
            return Ok(false);
        };
        let bar = progress::bar(count, "messages", self.quiet);
        stream::iter(0..count)
            .map(|i| {
                let (conversation_id, sender, text) = message(i);
                let (store, bar) = (store.clone(), bar.clone());
                let (sender_id, sender_device_id) = (sender.user_id, sender.device_id);
                async move {
                    store
                        .append_message(NewMessage {
                            conversation_id,
                            sender_id,
                            sender_device_id,
                            client_msg_id: format!("seed-{i}"),
                            content: Content::text(text),
                            server_ts: now_ms(),
                            rules: ChangeRules::default(),
                        })
                        .await?;
                    bar.inc(1);
                    Ok::<_, anyhow::Error>(())
                }
            })
            .buffer_unordered(STORE_CONCURRENCY)
            .try_collect::<()>()
            .await?;
        bar.finish_and_clear();
        Ok(true)
    }

    fn concurrency(&self) -> usize {
        match self.seeder {
            Seeder::Store { .. } => STORE_CONCURRENCY,
            Seeder::Api { .. } => API_CONCURRENCY * 4,
        }
    }
}

/// Seeds history through the running server: one WebSocket per member of
/// the conversation, each sending its share pipelined at the rate limit.
///
/// Only one connection per member: every message is pushed live to all of
/// the members' *other* connections, so n connections of the same people
/// would each have to read the messages of all the others, and fall behind
/// (and be disconnected as slow consumers) long before the server does.
/// A 1:1 conversation is therefore seeded at about 2 × 180 messages/s under
/// the default rate limit: use a modest `--messages` with `--url`.
pub async fn seed_messages_over_api(
    base_url: &str,
    conversation_id: ConversationId,
    members: &[BenchUser],
    count: u64,
    size: usize,
    quiet: bool,
) -> anyhow::Result<()> {
    let connections = members.len().max(1) as u64;
    let bar = progress::bar(count, "messages", quiet);
    let tasks: Vec<_> = members
        .iter()
        .enumerate()
        .map(|(c, member)| {
            let c = c as u64;
            let share = count / connections + u64::from(c < count % connections);
            let (base_url, token, bar) = (base_url.to_owned(), member.token.clone(), bar.clone());
            tokio::spawn(async move {
                let mut conn = banter_sdk::Connection::connect(&base_url, &token).await?;
                let acked =
                    pipeline::send_all(&mut conn, conversation_id, &format!("seed{c}"), share, size, 64).await?;
                bar.inc(acked);
                Ok::<_, anyhow::Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    bar.finish_and_clear();
    Ok(())
}

async fn add_device(store: &Arc<dyn Store>, user_id: UserId, username: &str) -> anyhow::Result<BenchUser> {
    let token = banter_server::auth::new_token();
    let device = store.create_device(user_id, "bench", &banter_server::auth::token_hash(&token), now_ms()).await?;
    Ok(BenchUser { user_id, username: username.to_owned(), device_id: device.id, token })
}

fn from_session(session: Session) -> BenchUser {
    BenchUser {
        user_id: session.user.id,
        username: session.user.username,
        device_id: session.device_id,
        token: session.token,
    }
}
