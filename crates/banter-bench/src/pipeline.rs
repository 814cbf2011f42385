//! Sending many messages over one connection without waiting for each ack:
//! up to `window` in flight, and no faster than the connection's rate limit
//! allows. Used to set scenarios up (offline traffic for `sync`, history
//! through the API); the timed load uses [`super::traffic`].

use std::time::Duration;

use banter_protocol::{ClientFrame, ConversationId, ServerFrame};
use banter_sdk::{Connection, SdkError};

/// Sends `count` messages of `size` bytes to `conversation_id`; returns how
/// many were acknowledged. Ids are `"<prefix>-<n>"`. Frames other than acks
/// are dropped; an error frame for one of ours is an error.
pub async fn send_all(
    conn: &mut Connection,
    conversation_id: ConversationId,
    prefix: &str,
    count: u64,
    size: usize,
    window: u64,
) -> Result<u64, SdkError> {
    // Stay under the server's per-connection frame rate (90% of it, burst
    // not relied on), so that no send is refused.
    let per_second = f64::from(conn.hello().limits.frames_per_second.max(1)) * 0.9;
    let interval = Duration::from_secs_f64(1.0 / per_second);
    let text = "x".repeat(size.max(1));
    let start = tokio::time::Instant::now();
    let (mut sent, mut acked) = (0u64, 0u64);
    while acked < count {
        if sent < count && sent - acked < window {
            let due = start + interval.mul_f64(sent as f64);
            tokio::time::sleep_until(due).await;
            conn.send_frame(ClientFrame::Send {
                client_msg_id: format!("{prefix}-{sent}"),
                conversation_id,
                text: text.clone(),
                reply_to: None,
            })
            .await?;
            sent += 1;
            continue;
        }
        match conn.next_frame_timeout(Duration::from_secs(60)).await? {
            ServerFrame::Ack { .. } => acked += 1,
            ServerFrame::Error { code, message, client_msg_id: Some(_), .. } => {
                return Err(SdkError::Api { status: code.http_status(), code, message })
            }
            _ => {}
        }
    }
    Ok(acked)
}
