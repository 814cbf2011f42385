//! The address a request really comes from, for the per-address rate
//! limits (login, signup).
//!
//! Directly connected clients are their socket's peer address. Behind a load
//! balancer or reverse proxy every request would share the proxy's address,
//! so proxies listed in `trusted_proxies` are looked through: the client is
//! the right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
//! Entries left of that are written by the client and never believed; a
//! request from an untrusted peer has its `X-Forwarded-For` ignored entirely.

use std::{net::IpAddr, sync::Arc};

use axum::{extract::FromRequestParts, http::request::Parts};
use ipnet::IpNet;

use crate::{listener::peer_addr, state::AppState};

/// The header proxies append the address they received a request from to.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address, `None` when the request did not come through
/// [`crate::listener::serve`] (no peer address is known).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

/// Resolves the client address of a request that arrived from `peer` with
/// these `X-Forwarded-For` header values (in header order).
pub fn resolve<'a>(peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>, trusted_proxies: &[IpNet]) -> IpAddr {
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for.flat_map(|value| value.split(',')).map(str::trim).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // A malformed entry was written by someone untrusted: the last
        // trusted hop's view (the address it saw) is the best we know.
        let Ok(ip) = hop.parse::<IpAddr>() else { break };
        client = ip;
        if !trusted(&ip) {
            break;
        }
    }
    client
}

impl FromRequestParts<Arc<AppState>> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let Some(peer) = peer_addr(&parts.extensions) else { return Ok(ClientAddress(None)) };
        let forwarded_for = parts.headers.get_all(FORWARDED_FOR).iter().filter_map(|v| v.to_str().ok());
        Ok(ClientAddress(Some(resolve(peer.ip(), forwarded_for, &state.config.trusted_proxies))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies() -> Vec<IpNet> {
        vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1/32".parse().unwrap()]
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        assert_eq!(resolve(ip("203.0.113.7"), ["1.2.3.4"].into_iter(), &proxies()), ip("203.0.113.7"));
    }

    #[test]
    fn a_trusted_proxy_is_looked_through_to_the_first_untrusted_hop() {
        let header = ["6.6.6.6, 198.51.100.4, 10.1.2.3"];
        assert_eq!(resolve(ip("127.0.0.1"), header.into_iter(), &proxies()), ip("198.51.100.4"));
    }

    #[test]
    fn several_header_lines_are_one_list() {
        let headers = ["198.51.100.4", "10.1.2.3"];
        assert_eq!(resolve(ip("10.9.9.9"), headers.into_iter(), &proxies()), ip("198.51.100.4"));
    }

    #[test]
    fn a_malformed_entry_stops_at_the_last_trusted_hop() {
        let header = ["198.51.100.4, garbage, 10.1.2.3"];
        assert_eq!(resolve(ip("127.0.0.1"), header.into_iter(), &proxies()), ip("10.1.2.3"));
    }

    #[test]
    fn a_trusted_proxy_without_the_header_is_the_client() {
        assert_eq!(resolve(ip("127.0.0.1"), std::iter::empty(), &proxies()), ip("127.0.0.1"));
    }

    #[test]
    fn nothing_is_trusted_by_default() {
        assert_eq!(resolve(ip("127.0.0.1"), ["198.51.100.4"].into_iter(), &[]), ip("127.0.0.1"));
    }
}
