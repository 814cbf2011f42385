//! Raw HTTP requests the SDK does not make: what a client behind a proxy
//! sends, to test the limits keyed by client address.

/// A login to the server at `base_url`, as the client at `address` behind
/// the trusted proxy (127.0.0.1) would send it: status, JSON body and
/// `Retry-After` (seconds).
pub async fn login_from(base_url: &str, address: &str, username: &str, password: &str) -> (u16, serde_json::Value, Option<u64>) {
    let response = reqwest::Client::new()
        .post(format!("{base_url}/api/v1/auth/login"))
        .header("X-Forwarded-For", address)
        .json(&serde_json::json!({ "username": username, "password": password }))
        .send()
        .await
        .expect("login request");
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    (response.status().as_u16(), response.json().await.expect("JSON body"), retry_after)
}
