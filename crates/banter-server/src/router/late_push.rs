//! The push decision for users who left a node a moment ago.
//!
//! The publishing node decides "no device connected anywhere" from a
//! directory answer up to a second old ([`super::directory`]). A user whose
//! last device disconnected from node B within that second still looks
//! reachable on B, so the publisher sends B the frame — and B, which no
//! longer holds the user, is the one that can tell. So a frame for a new
//! message carries, for its recipients that had no connection on the
//! publishing node, the push job (base64 JSON in a header, its preview at
//! most 200 characters); the receiving node checks which of them it does
//! not hold, asks the directory whether another node does, and pushes to
//! the rest. Only that rare case costs a directory question; the common
//! one (the user is there) costs a registry lookup.
//!
//! Bounded: jobs wait in a queue of [`QUEUE_JOBS`] (full → dropped and
//! counted like any push queue overflow), each directory question has a
//! deadline, and an unanswered one pushes (a notification too many beats a
//! message nobody is told about). Two nodes that both just lost the user
//! may both push; the client replaces a repeated notification (they are
//! tagged per conversation).

use std::sync::Arc;

use banter_protocol::UserId;
use banter_store::{NodeDirectory, NodeId};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use tokio::sync::mpsc;

use crate::push::{PushDispatcher, PushJob};

/// Jobs waiting for a directory answer. A job holds a preview of at most
/// 200 characters and at most [`MAX_RECIPIENTS_PER_MESSAGE`] recipients:
/// the queue holds at most ~5 MiB.
///
/// [`MAX_RECIPIENTS_PER_MESSAGE`]: super::nats::MAX_RECIPIENTS_PER_MESSAGE
const QUEUE_JOBS: usize = 1024;

/// The job as a header value (ASCII: base64 of its JSON, recipients left
/// out — the header of candidates names them per node).
pub(super) fn encode_job(job: &PushJob) -> Option<String> {
    let bare = PushJob { recipients: Vec::new(), ..job.clone() };
    serde_json::to_vec(&bare).ok().map(|json| URL_SAFE_NO_PAD.encode(json))
}

/// The job back from its header value, for `recipients`.
pub(super) fn decode_job(header: &str, recipients: Vec<UserId>) -> Option<PushJob> {
    let json = URL_SAFE_NO_PAD.decode(header).ok()?;
    let job: PushJob = serde_json::from_slice(&json).ok()?;
    Some(PushJob { recipients, ..job })
}

/// Hands jobs to the task that asks the directory.
#[derive(Clone)]
pub(super) struct LatePush {
    queue: mpsc::Sender<PushJob>,
}

impl LatePush {
    pub(super) fn start(directory: Arc<dyn NodeDirectory>, node: NodeId, push: PushDispatcher) -> LatePush {
        let (queue, jobs) = mpsc::channel(QUEUE_JOBS);
        tokio::spawn(run(directory, node, push, jobs));
        LatePush { queue }
    }

    /// Queues `job` (its recipients: users named to this node who have no
    /// connection here) without waiting.
    pub(super) fn check(&self, job: PushJob) {
        if self.queue.try_send(job).is_err() {
            tracing::warn!("late push queue full; notification dropped");
            crate::metrics::push("dropped");
        }
    }
}

async fn run(directory: Arc<dyn NodeDirectory>, node: NodeId, push: PushDispatcher, mut jobs: mpsc::Receiver<PushJob>) {
    while let Some(mut job) = jobs.recv().await {
        // Unanswered: pushed (see the module doc).
        if let Some(held) = super::directory::held_elsewhere(&*directory, node, &job.recipients).await {
            job.recipients.retain(|user| !held.contains(user));
        }
        if !job.recipients.is_empty() {
            push.enqueue(job);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_survives_its_header_and_the_header_is_ascii() {
        let job = PushJob {
            conversation_id: 3,
            seq: 9,
            sender_id: 1,
            server_ts: 1_700_000_000_000,
            preview: "naïve café\nline two ✓".into(),
            recipients: vec![5, 6],
        };
        let header = encode_job(&job).expect("encodes");
        assert!(header.is_ascii() && !header.contains('\n'));
        assert_eq!(decode_job(&header, vec![5, 6]), Some(job));
        assert_eq!(decode_job("not base64!", vec![5]), None);
    }
}
