//! Client-side networking limits of a load generator on one machine.
//!
//! * File descriptors: every socket is one; the soft limit is raised to the
//!   hard limit at start ([`super::sys::raise_file_limit`]; the embedded
//!   server, a child process, inherits it).
//! * Ephemeral ports: one (source address, destination) pair has about 28k
//!   ports, so for a loopback server the connections are spread over the
//!   source addresses 127.0.0.2, 127.0.0.3, … (all of 127.0.0.0/8 is local).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use banter_sdk::{ConnectOptions, Connection, SdkError, TransportKind};

/// Chooses the source address of each client connection.
#[derive(Debug, Clone)]
pub struct SourceAddresses {
    addresses: Vec<IpAddr>,
    transport: TransportKind,
}

impl SourceAddresses {
    /// `count` loopback addresses when the server is on IPv4 loopback;
    /// none (the OS chooses) otherwise.
    pub fn for_server(base_url: &str, count: u8) -> SourceAddresses {
        let host = url::Url::parse(base_url).ok().and_then(|u| u.host_str().map(str::to_owned));
        let loopback = matches!(host.as_deref().map(str::parse::<Ipv4Addr>), Some(Ok(ip)) if ip.is_loopback())
            || host.as_deref() == Some("localhost");
        let addresses = if loopback {
            (0..count.min(250)).map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i))).collect()
        } else {
            Vec::new()
        };
        SourceAddresses { addresses, transport: TransportKind::WebSocket }
    }

    /// Connections over `transport` (the WebSocket by default).
    pub fn transport(mut self, transport: TransportKind) -> SourceAddresses {
        self.transport = transport;
        self
    }

    /// Connection options for the `index`-th connection: token, small read
    /// buffer, source address, and a connect timeout that allows for a busy
    /// accept queue.
    pub fn options(&self, index: usize, token: &str) -> ConnectOptions {
        let mut options = ConnectOptions::new()
            .token(token)
            .read_buffer_size(4 * 1024)
            .connect_timeout(Duration::from_secs(60))
            .request_timeout(Duration::from_secs(60))
            .transport(self.transport);
        if !self.addresses.is_empty() {
            options = options.local_addr(self.addresses[index % self.addresses.len()]);
        }
        options
    }

    /// Opens the `index`-th connection.
    pub async fn connect(&self, base_url: &str, index: usize, token: &str) -> Result<Connection, SdkError> {
        Connection::connect_with(base_url, self.options(index, token)).await
    }
}

/// Opens one connection per token, `concurrency` handshakes at a time, with
/// a progress bar; connection *i* goes to the cluster's node for client *i*
/// (round-robin). Returns the connections (in token order), the latency of
/// each handshake (TCP connect to `hello`) and the total time taken.
pub async fn connect_all(
    cluster: &super::cluster::Cluster,
    sources: &SourceAddresses,
    tokens: &[String],
    concurrency: usize,
    quiet: bool,
) -> anyhow::Result<(Vec<Connection>, super::report::Latency, Duration)> {
    use futures_util::{stream, StreamExt, TryStreamExt};

    let bar = super::progress::bar(tokens.len() as u64, "connect", quiet);
    let started = std::time::Instant::now();
    let results: Vec<(Connection, u64)> = stream::iter(tokens.iter().enumerate())
        .map(|(i, token)| {
            let bar = bar.clone();
            async move {
                let t0 = super::clock::now_us();
                let conn = sources
                    .connect(cluster.url_of_client(i), i, token)
                    .await
                    .map_err(|e| anyhow::anyhow!("connection {i}: {e}"))?;
                bar.inc(1);
                Ok::<_, anyhow::Error>((conn, super::clock::now_us() - t0))
            }
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let mut latency = super::report::Latency::new();
    let connections = results
        .into_iter()
        .map(|(conn, us)| {
            latency.record_us(us);
            conn
        })
        .collect();
    Ok((connections, latency, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_servers_get_spread_sources_and_others_none() {
        let s = SourceAddresses::for_server("http://127.0.0.1:8080", 3);
        assert_eq!(s.addresses.len(), 3);
        assert_eq!(s.options(4, "t").local_addr, Some("127.0.0.3".parse().unwrap()));
        assert!(SourceAddresses::for_server("http://192.0.2.1:80", 3).addresses.is_empty());
    }
}
