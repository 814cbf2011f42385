//! A TCP proxy in front of PostgreSQL that a test can cut and restore:
//! the outage the server sees is real (its connections end, new ones are
//! refused — what a stopped PostgreSQL does), while the shared PostgreSQL
//! behind it keeps serving every other test.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

pub struct CuttableProxy {
    addr: SocketAddr,
    upstream: String,
    /// Cancelled to cut: the accept loop and every open pipe end.
    running: Mutex<CancellationToken>,
}

impl CuttableProxy {
    /// Listens on a free local port and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Arc<CuttableProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let proxy = Arc::new(CuttableProxy { addr, upstream, running: Mutex::new(CancellationToken::new()) });
        proxy.serve(listener);
        proxy
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every proxied connection and refuses new ones.
    pub fn cut(&self) {
        self.running.lock().unwrap().cancel();
    }

    /// Accepts again, on the same port.
    pub fn restore(&self) {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("reuseaddr");
        socket.bind(self.addr).expect("rebind the proxy's port");
        let listener = socket.listen(1024).expect("listen");
        *self.running.lock().unwrap() = CancellationToken::new();
        self.serve(listener);
    }

    fn serve(&self, listener: TcpListener) {
        let running = self.running.lock().unwrap().clone();
        let upstream = self.upstream.clone();
        tokio::spawn(async move {
            loop {
                let client = tokio::select! {
                    () = running.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((client, _)) => client,
                        Err(_) => continue,
                    },
                };
                tokio::spawn(pipe(client, upstream.clone(), running.clone()));
            }
        });
    }
}

async fn pipe(mut client: TcpStream, upstream: String, running: CancellationToken) {
    let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        () = running.cancelled() => {}
    }
}
