//! Which push endpoints the server agrees to call.
//!
//! A subscription's endpoint is a URL the *client* chooses and the server
//! then POSTs to: without a check, any user could make the server send
//! requests to internal hosts (SSRF). Endpoints must be `https` on a host in
//! `push_endpoint_hosts` (the browsers' push services by default); plain
//! `http` is accepted only for a loopback address listed there, for tests
//! and local development.

use url::{Host, Url};

/// Checks an endpoint against the allowed hosts; the error explains why not.
pub fn check(endpoint: &str, allowed_hosts: &[String]) -> Result<(), String> {
    let url = Url::parse(endpoint).map_err(|_| "endpoint is not a valid URL".to_owned())?;
    let host = url.host().ok_or_else(|| "endpoint has no host".to_owned())?;
    let host_name = match &host {
        Host::Domain(name) => name.to_ascii_lowercase(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => ip.to_string(),
    };
    if !allowed_hosts.iter().any(|pattern| host_matches(pattern, &host_name)) {
        return Err(format!("push endpoints on {host_name} are not allowed by this server"));
    }
    let loopback = match host {
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
        Host::Domain(_) => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("push endpoints must use https".to_owned()),
    }
}

fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host.len() > suffix.len() && host.ends_with(suffix) && host[..host.len() - suffix.len()].ends_with('.'),
        None => host == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        ["fcm.googleapis.com", "*.push.apple.com", "127.0.0.1"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn browser_push_services_are_accepted() {
        assert!(check("https://fcm.googleapis.com/fcm/send/abc", &allowed()).is_ok());
        assert!(check("https://web.push.apple.com/QGx", &allowed()).is_ok());
        assert!(check("http://127.0.0.1:9000/push/1", &allowed()).is_ok(), "loopback over http, when listed");
    }

    #[test]
    fn other_hosts_and_plain_http_are_refused() {
        assert!(check("https://169.254.169.254/latest/meta-data", &allowed()).is_err());
        assert!(check("https://evil.example/fcm.googleapis.com", &allowed()).is_err());
        assert!(check("https://push.apple.com.evil.example/", &allowed()).is_err());
        assert!(check("https://push.apple.com/", &allowed()).is_err(), "the wildcard needs a subdomain");
        assert!(check("http://fcm.googleapis.com/x", &allowed()).is_err(), "https only off loopback");
        assert!(check("http://127.0.0.2:9000/", &allowed()).is_err(), "only listed hosts");
        assert!(check("not a url", &allowed()).is_err());
        assert!(check("file:///etc/passwd", &allowed()).is_err());
    }
}
