//! Prometheus metrics: what an operator watches to know the server is
//! healthy (connections, message rate and commit latency, refusals, slow
//! consumers, push outcomes, HTTP status classes).
//!
//! Code records through the `metrics` crate's macros with the names below;
//! the Prometheus recorder is installed once per process. `GET /metrics` is
//! served on its own listener (`metrics_listen`, off by default) so it never
//! faces the internet next to the public API: scrape it from the private
//! network.

use std::{net::SocketAddr, sync::{Arc, OnceLock}, time::{Duration, Instant}};

use axum::{
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Open WebSocket connections on this node (set at each scrape).
pub const CONNECTIONS: &str = "banter_websocket_connections";
/// Messages stored (first time; retries are counted apart).
pub const MESSAGES_STORED: &str = "banter_messages_stored_total";
/// Sends answered with the original ack (a retried `client_msg_id`).
pub const MESSAGES_DUPLICATE: &str = "banter_messages_duplicate_total";
/// Sends refused, by error code (`message_too_long`, `not_a_member`, `storage_unavailable`, …).
pub const SENDS_REFUSED: &str = "banter_sends_refused_total";
/// Seconds from a send reaching the store to its durable commit.
pub const MESSAGE_COMMIT_SECONDS: &str = "banter_message_commit_seconds";
/// Connections closed because their outbound queue was full.
pub const SLOW_CONSUMERS: &str = "banter_slow_consumer_disconnects_total";
/// Requests refused by a rate limit, by `limit` (`connection_frames`, `account_frames`, `login`, `signup`).
pub const RATE_LIMITED: &str = "banter_rate_limited_total";
/// Rate-limit checks counted on this node alone because the cluster-wide
/// buckets did not answer in time (or failed lately), by `limit`.
pub const RATE_LIMIT_FALLBACKS: &str = "banter_rate_limit_fallbacks_total";
/// Push notifications by `outcome` (`delivered`, `gone`, `rejected`, `failed`, `dropped`,
/// `disallowed`: the endpoint no longer passes the allow-list).
pub const PUSH: &str = "banter_push_notifications_total";
/// Cross-node events dropped because the NATS outbox was full.
pub const ROUTER_DROPPED: &str = "banter_router_dropped_total";
/// Syncs answered `storage_unavailable` after waiting `sync_queue_timeout` for a turn.
pub const SYNCS_TURNED_AWAY: &str = "banter_syncs_turned_away_total";
/// Cross-node events sent to every node because the directory could not answer.
pub const ROUTER_BROADCASTS: &str = "banter_router_broadcasts_total";
/// Users looked up in the routing directory (cache misses).
pub const DIRECTORY_LOOKUPS: &str = "banter_directory_lookups_total";
/// NATS messages this node received, by `stream` (`router`, `presence`).
pub const NATS_RECEIVED_MESSAGES: &str = "banter_nats_received_messages_total";
/// Bytes of the NATS messages this node received, by `stream`.
pub const NATS_RECEIVED_BYTES: &str = "banter_nats_received_bytes_total";
pub const ROUTER_STALE_DROPPED: &str = "banter_router_stale_dropped_total";
pub const RESYNCS_SENT: &str = "banter_resyncs_sent_total";
/// HTTP responses by `status` class (`2xx`, `4xx`, …).
pub const HTTP_RESPONSES: &str = "banter_http_responses_total";
/// Seconds to answer an HTTP request (WebSocket upgrades excluded).
pub const HTTP_SECONDS: &str = "banter_http_request_seconds";

/// The process's Prometheus recorder, installed on first use. `None` if
/// some other recorder was installed first (then nothing is exported).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => {
                describe();
                Some(handle)
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder not installed; /metrics will be empty");
                None
            }
        })
        .as_ref()
}

fn describe() {
    metrics::describe_gauge!(CONNECTIONS, "Open WebSocket connections on this node");
    metrics::describe_counter!(MESSAGES_STORED, "Messages stored");
    metrics::describe_counter!(MESSAGES_DUPLICATE, "Sends answered from an earlier store (retries)");
    metrics::describe_counter!(SENDS_REFUSED, "Sends refused, by error code");
    metrics::describe_histogram!(MESSAGE_COMMIT_SECONDS, metrics::Unit::Seconds, "Store append until durable commit");
    metrics::describe_counter!(SLOW_CONSUMERS, "Connections closed as slow consumers");
    metrics::describe_counter!(RATE_LIMITED, "Requests refused by a rate limit");
    metrics::describe_counter!(RATE_LIMIT_FALLBACKS, "Rate-limit checks counted on this node alone: the cluster-wide buckets did not answer");
    metrics::describe_counter!(PUSH, "Push notifications by outcome");
    metrics::describe_counter!(ROUTER_DROPPED, "Cross-node events dropped (NATS outbox full)");
    metrics::describe_counter!(SYNCS_TURNED_AWAY, "Syncs refused after waiting sync_queue_timeout for a turn (max_concurrent_syncs)");
    metrics::describe_counter!(ROUTER_BROADCASTS, "Cross-node events sent to every node (the directory could not answer)");
    metrics::describe_counter!(DIRECTORY_LOOKUPS, "Users looked up in the routing directory (cache misses)");
    metrics::describe_counter!(NATS_RECEIVED_MESSAGES, "NATS messages received, by stream (router, presence)");
    metrics::describe_counter!(NATS_RECEIVED_BYTES, "Bytes of NATS messages received, by stream (router, presence)");
    metrics::describe_counter!(ROUTER_STALE_DROPPED, "Cross-node frames dropped for arriving too late (their recipients resync)");
    metrics::describe_counter!(RESYNCS_SENT, "resync frames sent, by reason (per user; `bus_reconnected` counts once per node)");
    metrics::describe_counter!(HTTP_RESPONSES, "HTTP responses by status class");
    metrics::describe_histogram!(HTTP_SECONDS, metrics::Unit::Seconds, "HTTP request duration");
}

/// Counts one rate-limit refusal.
pub fn rate_limited(limit: &'static str) {
    metrics::counter!(RATE_LIMITED, "limit" => limit).increment(1);
}

/// Counts one rate-limit check made on this node alone (cluster-wide
/// buckets unavailable).
pub fn rate_limit_fallback(limit: &'static str) {
    metrics::counter!(RATE_LIMIT_FALLBACKS, "limit" => limit).increment(1);
}

/// Counts one push notification's outcome.
pub fn push(outcome: &'static str) {
    metrics::counter!(PUSH, "outcome" => outcome).increment(1);
}

/// Middleware: HTTP status classes and durations.
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    let class = match response.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::counter!(HTTP_RESPONSES, "status" => class).increment(1);
    if class != "1xx" {
        metrics::histogram!(HTTP_SECONDS).record(started.elapsed().as_secs_f64());
    }
    response
}

/// Serves `GET /metrics` on `addr` until `shutdown`; returns the bound
/// address. Histogram upkeep runs alongside.
pub async fn serve(addr: SocketAddr, state: Arc<AppState>, shutdown: CancellationToken) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new().route("/metrics", get(render)).with_state(state);
    let task = tokio::spawn(async move {
        let upkeep = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                let mut ticks = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        _ = ticks.tick() => if let Some(handle) = handle() { handle.run_upkeep() },
                    }
                }
            }
        });
        let stopping = shutdown.clone();
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(async move { stopping.cancelled().await }).await {
            tracing::warn!(error = %e, "metrics listener failed");
        }
        upkeep.abort();
    });
    tracing::info!(%bound, "metrics on /metrics");
    Ok((bound, task))
}

async fn render(State(state): State<Arc<AppState>>) -> Response {
    metrics::gauge!(CONNECTIONS).set(state.registry.connection_count() as f64);
    let body = handle().map(PrometheusHandle::render).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
