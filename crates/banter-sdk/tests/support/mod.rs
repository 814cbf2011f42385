//! Test harness: a real server that can be stopped and started again at the
//! same address (the workspace's `banter-test-support` on a fixed port), a
//! TCP proxy that can stall or cut connections, and waits on a
//! [`ReconnectingClient`]'s events.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use banter_sdk::{Event, ReconnectingClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub use banter_test_support::{server::TestServer, WAIT};

/// A server on a fixed local port with its own temp data dir: the port is
/// kept across `TestServer::restart` (the client reconnects to the
/// address it knows).
pub async fn start_server() -> TestServer {
    TestServer::start_with(|config| config.listen = banter_test_support::server::free_local_addr()).await
}

/// A TCP proxy in front of a server, for faults the server cannot be asked
/// for: replies that never arrive, connections cut, connections refused.
pub struct Proxy {
    addr: SocketAddr,
    state: Arc<Mutex<ProxyState>>,
    accept: JoinHandle<()>,
}

#[derive(Default)]
struct ProxyState {
    refuse: bool,
    /// WebSocket upgrades are answered 403, as some corporate proxies do.
    refuse_upgrades: bool,
    /// WebSocket upgrades pass, and the connection is cut this long after.
    cut_upgrades_after: Option<Duration>,
    links: Vec<Link>,
}

/// One proxied connection: its two pumps, and whether the server's bytes
/// are being thrown away.
struct Link {
    held: Arc<AtomicBool>,
    pumps: [JoinHandle<()>; 2],
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let accept = tokio::spawn(accept_loop(listener, upstream, state.clone()));
        Proxy {
            addr,
            state,
            accept,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on, what the server sends on the open connections is
    /// dropped (new connections are not affected).
    pub fn hold_replies(&self) {
        for link in &self.state.lock().unwrap().links {
            link.held.store(true, Ordering::SeqCst);
        }
    }

    /// Closes every open connection, both ways, without a WebSocket close.
    pub fn cut(&self) {
        for link in self.state.lock().unwrap().links.drain(..) {
            for pump in link.pumps {
                pump.abort();
            }
        }
    }

    /// New connections are accepted and closed at once.
    pub fn refuse_new_connections(&self, refuse: bool) {
        self.state.lock().unwrap().refuse = refuse;
    }

    /// New WebSocket upgrades are answered `403 Forbidden`; plain HTTP passes.
    pub fn refuse_upgrades(&self, refuse: bool) {
        self.state.lock().unwrap().refuse_upgrades = refuse;
    }

    /// New WebSocket upgrades pass, and each is cut `after` that long.
    pub fn cut_upgrades_after(&self, after: Option<Duration>) {
        self.state.lock().unwrap().cut_upgrades_after = after;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// Whether the request head waiting on `client` asks for a WebSocket
/// (looked at without taking it off the socket).
async fn is_upgrade(client: &TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    for _ in 0..100 {
        let Ok(n) = client.peek(&mut buf).await else { return false };
        let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
        if head.contains("\r\n\r\n") || n == buf.len() {
            return head.contains("upgrade: websocket");
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    false
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, state: Arc<Mutex<ProxyState>>) {
    while let Ok((client, _)) = listener.accept().await {
        if state.lock().unwrap().refuse {
            continue;
        }
        let (refuse_upgrades, cut_after) = {
            let state = state.lock().unwrap();
            (state.refuse_upgrades, state.cut_upgrades_after)
        };
        let upgrade = (refuse_upgrades || cut_after.is_some()) && is_upgrade(&client).await;
        let cut_after = cut_after.filter(|_| upgrade);
        if refuse_upgrades && upgrade {
            use tokio::io::AsyncWriteExt;
            let mut client = client;
            let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
            continue;
        }
        let Ok(server) = TcpStream::connect(upstream).await else {
            continue;
        };
        let held = Arc::new(AtomicBool::new(false));
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let up = tokio::spawn(pump(
            client_read,
            server_write,
            Arc::new(AtomicBool::new(false)),
        ));
        let down = tokio::spawn(pump(server_read, client_write, held.clone()));
        if let Some(after) = cut_after {
            let (up, down) = (up.abort_handle(), down.abort_handle());
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                up.abort();
                down.abort();
            });
        }
        state.lock().unwrap().links.push(Link {
            held,
            pumps: [up, down],
        });
    }
}

/// Copies bytes until either side ends; drops them while `held`.
async fn pump(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    held: Arc<AtomicBool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if held.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// The next event `pick` takes, skipping the others; panics after [`WAIT`].
pub async fn wait_for<T>(
    client: &mut ReconnectingClient,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut skipped = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, client.next_event()).await {
            Ok(Some(event)) => {
                let description = format!("{event:?}");
                if let Some(found) = pick(event) {
                    return found;
                }
                skipped.push(description);
            }
            Ok(None) => panic!("the client stopped; events seen: {skipped:#?}"),
            Err(_) => panic!("the awaited event did not come; events seen: {skipped:#?}"),
        }
    }
}

/// Every event that arrives within `window`.
pub async fn events_within(client: &mut ReconnectingClient, window: Duration) -> Vec<Event> {
    let deadline = tokio::time::Instant::now() + window;
    let mut events = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, client.next_event()).await {
        events.push(event);
    }
    events
}

/// Polls `check` until it holds; panics after [`WAIT`].
pub async fn eventually<F: Future<Output = bool>>(mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the condition never held"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
