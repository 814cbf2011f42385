//! Waits on an SDK [`Connection`]'s frames, each within [`WAIT`]: the
//! server's tests and the cluster tests read frames the same way.

use banter_protocol::{ErrorCode, Message, ServerFrame};
use banter_sdk::{Connection, SdkError};

use crate::WAIT;

/// The next frame satisfying `pick`, skipping others.
pub async fn next_matching<T>(conn: &mut Connection, mut pick: impl FnMut(ServerFrame) -> Option<T>) -> T {
    loop {
        let frame = conn.next_frame_timeout(WAIT).await.expect("a frame arrives");
        if let Some(found) = pick(frame) {
            return found;
        }
    }
}

/// The next live message, skipping other frames.
pub async fn next_message(conn: &mut Connection) -> Message {
    next_matching(conn, |frame| match frame {
        ServerFrame::Message { message } => Some(message),
        _ => None,
    })
    .await
}

/// The next `error` frame's code and the `client_msg_id` it answers.
pub async fn next_error(conn: &mut Connection) -> (ErrorCode, Option<String>) {
    next_matching(conn, |frame| match frame {
        ServerFrame::Error { code, client_msg_id, .. } => Some((code, client_msg_id)),
        _ => None,
    })
    .await
}

/// Reads until the server ends the connection; the error carries the close
/// code.
pub async fn closed(conn: &mut Connection) -> SdkError {
    loop {
        if let Err(e) = conn.next_frame_timeout(WAIT).await {
            return e;
        }
    }
}
