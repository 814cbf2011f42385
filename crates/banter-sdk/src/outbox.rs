//! Flushing an outbox: many messages over one connection, as fast as the
//! server's announced limits allow, each stored exactly once.
//!
//! [`Connection::send_all`] keeps several sends in flight (the server
//! processes one connection's frames in order, so a window hides the round
//! trip) and matches answers by `client_msg_id`. It paces itself with a
//! token bucket built from `hello.limits` — the lower of the connection's
//! and the account's rate, 90 % of it, with half the burst — so that the
//! server's own buckets keep slack for network jitter and it is normally
//! refused nothing. When it is refused anyway (another connection of the
//! account spent the shared budget), the server's `rate_limited` says how
//! long to wait (`retry_after_ms`): it sends nothing new until then, halves
//! its pace (winning it back as acks arrive), and resends the refused
//! messages with the same `client_msg_id`, which the server never stores
//! twice. The window is kept small next to the server's 4029 threshold, so
//! the frames already in flight when a refusal arrives can never add up to
//! a close.
//!
//! Frames that are not answers to these sends (live messages, receipts,
//! …) are kept for [`Connection::next_frame`], as with every waiting method.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use banter_protocol::frames::ConnectionLimits;
use banter_protocol::{ClientFrame, Content, ConversationId, ErrorCode, Seq, ServerFrame};
use tokio::time::Instant;

use crate::connection::{new_client_msg_id, Ack, Connection};
use crate::error::SdkError;

/// Most sends kept in flight, whatever the limits allow.
const MAX_IN_FLIGHT: usize = 32;
/// Share of the announced rate the pacer uses.
const PACE_SHARE: f64 = 0.9;
/// The slowest the pacer goes after repeated refusals, as a share of its rate.
const MIN_PACE_FACTOR: f64 = 1.0 / 16.0;
/// Growth of the pace factor per ack after a refusal halved it.
const PACE_RECOVERY_PER_ACK: f64 = 1.02;

/// One message for [`Connection::send_all`]: a text (maybe a reply), or an
/// edit or delete of one of the user's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Keep it with the message until it is acknowledged: a resend with the
    /// same id (on any connection of this device) is never stored twice.
    pub client_msg_id: String,
    /// Where it goes.
    pub conversation_id: ConversationId,
    /// What it adds to the conversation.
    pub content: Content,
}

impl OutgoingMessage {
    /// A message with a fresh random `client_msg_id`.
    pub fn new(conversation_id: ConversationId, text: impl Into<String>) -> Self {
        Self::with_content(conversation_id, Content::text(text))
    }

    /// A reply to (quote of) the message `seq` of the same conversation.
    pub fn reply(conversation_id: ConversationId, seq: Seq, text: impl Into<String>) -> Self {
        Self::with_content(conversation_id, Content::Text { text: text.into(), reply_to: Some(seq) })
    }

    /// An edit of the user's message `seq`: it then reads `text`.
    pub fn edit(conversation_id: ConversationId, seq: Seq, text: impl Into<String>) -> Self {
        Self::with_content(conversation_id, Content::Edit { target: seq, text: text.into() })
    }

    /// A delete, for everyone, of the user's message `seq`.
    pub fn delete(conversation_id: ConversationId, seq: Seq) -> Self {
        Self::with_content(conversation_id, Content::Delete { target: seq })
    }

    /// Any content, with a fresh random `client_msg_id`.
    pub fn with_content(conversation_id: ConversationId, content: Content) -> Self {
        OutgoingMessage { client_msg_id: new_client_msg_id(), conversation_id, content }
    }

    /// The `send`, `edit` or `delete` frame that carries it.
    pub fn frame(&self) -> ClientFrame {
        ClientFrame::from_content(self.client_msg_id.clone(), self.conversation_id, self.content.clone())
    }
}

/// What [`Connection::send_all`] did.
#[derive(Debug)]
pub struct Flushed {
    /// One result per message, in the order given: its ack, or the server's
    /// refusal of it for good (e.g. `message_too_long`, `not_a_member`).
    pub results: Vec<Result<Ack, SdkError>>,
    /// Sends the server refused with `rate_limited` and that were sent again.
    pub rate_limited: u64,
    /// Time spent waiting for the client-side pacer with a message ready and
    /// room in the window.
    pub paced: Duration,
}

impl Flushed {
    /// The acks, or the first refusal if any message was refused.
    pub fn into_acks(self) -> Result<Vec<Ack>, SdkError> {
        self.results.into_iter().collect()
    }
}

/// The client-side token bucket.
#[derive(Debug)]
struct Pacer {
    /// Frames per second at full pace; `None`: the server announced no rate.
    rate: Option<f64>,
    /// Multiplies `rate`; halved on a refusal, recovered by acks.
    factor: f64,
    capacity: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl Pacer {
    fn new(limits: &ConnectionLimits, now: Instant) -> Pacer {
        let rate = lower_announced(limits.frames_per_second, limits.account_frames_per_second);
        let burst = lower_announced(limits.burst, limits.account_burst).unwrap_or(0);
        let capacity = f64::from((burst / 2).max(1));
        Pacer {
            rate: rate.map(|r| f64::from(r) * PACE_SHARE),
            factor: 1.0,
            capacity,
            tokens: capacity,
            refilled_at: now,
        }
    }

    /// Takes a token, or says when one will be there.
    fn take(&mut self, now: Instant) -> Result<(), Instant> {
        let Some(rate) = self.rate.map(|r| r * self.factor) else {
            return Ok(());
        };
        let elapsed = now.saturating_duration_since(self.refilled_at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(self.capacity);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        Err(now + Duration::from_secs_f64((1.0 - self.tokens) / rate))
    }

    fn slow_down(&mut self) {
        self.factor = (self.factor / 2.0).max(MIN_PACE_FACTOR);
        self.tokens = self.tokens.min(0.0);
    }

    fn recover(&mut self) {
        self.factor = (self.factor * PACE_RECOVERY_PER_ACK).min(1.0);
    }
}

/// The lower of two announced values, 0 meaning "not announced".
fn lower_announced(a: u32, b: u32) -> Option<u32> {
    match (a, b) {
        (0, 0) => None,
        (0, x) | (x, 0) => Some(x),
        (a, b) => Some(a.min(b)),
    }
}

/// How many sends may be unanswered at once under `limits`: at most half
/// the burst (the pacer's own burst is the other half, so the two never
/// exceed the server's bucket), and a quarter of the refusals that close
/// the connection, so one round of in-flight refusals can never close it.
fn window(limits: &ConnectionLimits) -> usize {
    let burst = lower_announced(limits.burst, limits.account_burst).unwrap_or(MAX_IN_FLIGHT as u32 * 2);
    let mut window = (burst / 2).max(1) as usize;
    if limits.close_after_refusals > 0 {
        window = window.min((limits.close_after_refusals / 4).max(1) as usize);
    }
    window.min(MAX_IN_FLIGHT)
}

impl Connection {
    /// Sends every message of `outgoing` and waits for all their answers,
    /// paced by the limits the server announced in `hello` and retrying
    /// what it refuses with `rate_limited` after its `retry_after_ms`. See
    /// the [module docs](crate::outbox).
    ///
    /// A message the server refuses for another reason is not retried: its
    /// result is the error. Messages go out in the order given; one the
    /// server refused and that is sent again may be stored after messages
    /// sent behind it.
    ///
    /// Each `client_msg_id` may appear once ([`SdkError::Config`] otherwise).
    /// On a connection error (closed, timed out: no answer for the request
    /// timeout) nothing tells which messages were stored: send all of them
    /// again on a new connection, with the same ids — stored ones are
    /// answered `duplicate: true` and not stored again.
    pub async fn send_all(&mut self, outgoing: Vec<OutgoingMessage>) -> Result<Flushed, SdkError> {
        let mut ids = std::collections::HashSet::new();
        if let Some(twice) = outgoing.iter().find(|o| !ids.insert(o.client_msg_id.as_str())) {
            return Err(SdkError::Config(format!(
                "client_msg_id {:?} appears twice in the outbox",
                twice.client_msg_id
            )));
        }
        let limits = self.hello().limits.clone();
        let window = window(&limits);
        let mut pacer = Pacer::new(&limits, Instant::now());
        let mut results: Vec<Option<Result<Ack, SdkError>>> = outgoing.iter().map(|_| None).collect();
        let mut unsent: BTreeSet<usize> = (0..outgoing.len()).collect();
        let mut in_flight: HashMap<String, usize> = HashMap::new();
        let mut answered = 0;
        let (mut rate_limited, mut paced) = (0u64, Duration::ZERO);
        // After a refusal, nothing new goes out before this.
        let mut paused_until = Instant::now();
        let mut pacing_since: Option<Instant> = None;
        let mut answer_deadline = Instant::now() + self.request_timeout;

        while answered < outgoing.len() {
            // Send what the window, the pause and the pacer allow.
            let mut wake = None;
            while in_flight.len() < window {
                let Some(&next) = unsent.first() else { break };
                let now = Instant::now();
                if now < paused_until {
                    wake = Some(paused_until);
                    break;
                }
                if let Err(ready) = pacer.take(now) {
                    pacing_since.get_or_insert(now);
                    wake = Some(ready);
                    break;
                }
                if let Some(since) = pacing_since.take() {
                    paced += now - since;
                }
                unsent.remove(&next);
                let message = &outgoing[next];
                self.send_frame(message.frame()).await?;
                if in_flight.is_empty() {
                    answer_deadline = Instant::now() + self.request_timeout;
                }
                in_flight.insert(message.client_msg_id.clone(), next);
            }

            // Wait for an answer, or until more may be sent.
            let frame = if in_flight.is_empty() {
                match wake {
                    Some(at) => {
                        tokio::time::sleep_until(at).await;
                        continue;
                    }
                    None => {
                        return Err(SdkError::Protocol(
                            "outbox flush stalled with nothing in flight".into(),
                        ))
                    }
                }
            } else {
                let sleep = tokio::time::sleep_until(wake.unwrap_or(answer_deadline).min(answer_deadline));
                tokio::select! {
                    frame = self.read_frame() => frame?,
                    () = sleep => {
                        if Instant::now() >= answer_deadline {
                            return Err(SdkError::Timeout);
                        }
                        continue;
                    }
                }
            };

            match frame {
                ServerFrame::Ack {
                    ref client_msg_id, ..
                } if in_flight.contains_key(client_msg_id) => {
                    let index = in_flight.remove(client_msg_id).unwrap_or_default();
                    // An `ack` (the pattern above): the conversion gives it.
                    if let Ok(ack) = Ack::try_from(frame) {
                        results[index] = Some(Ok(ack));
                    }
                    answered += 1;
                    pacer.recover();
                    answer_deadline = Instant::now() + self.request_timeout;
                }
                ServerFrame::Error {
                    code,
                    message,
                    client_msg_id: Some(id),
                    retry_after_ms,
                } if in_flight.contains_key(&id) => {
                    let index = in_flight.remove(&id).unwrap_or_default();
                    answer_deadline = Instant::now() + self.request_timeout;
                    if code == ErrorCode::RateLimited {
                        rate_limited += 1;
                        let now = Instant::now();
                        // Slow down once per refusal episode, not once per
                        // frame that was already in flight.
                        if now >= paused_until {
                            pacer.slow_down();
                        }
                        let wait = Duration::from_millis(retry_after_ms.unwrap_or(1000));
                        paused_until = paused_until.max(now + wait);
                        unsent.insert(index);
                    } else {
                        results[index] = Some(Err(SdkError::from_frame(code, message)));
                        answered += 1;
                    }
                }
                other => self.buffered.push_back(other),
            }
        }
        Ok(Flushed {
            results: results
                .into_iter()
                .map(|r| r.unwrap_or_else(|| Err(SdkError::Protocol("no answer".into()))))
                .collect(),
            rate_limited,
            paced,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(fps: u32, burst: u32, account_fps: u32, account_burst: u32) -> ConnectionLimits {
        ConnectionLimits {
            frames_per_second: fps,
            burst,
            account_frames_per_second: account_fps,
            account_burst,
            close_after_refusals: 100,
            ..ConnectionLimits::default()
        }
    }

    #[test]
    fn the_pacer_follows_the_lower_of_the_connection_and_account_limits() {
        let start = Instant::now();
        let mut pacer = Pacer::new(&limits(1000, 400, 100, 40), start);
        for _ in 0..20 {
            assert_eq!(pacer.take(start), Ok(()), "half the account's burst of 40");
        }
        let ready = pacer.take(start).expect_err("burst spent");
        let wait = ready - start;
        assert!(wait > Duration::from_millis(10) && wait < Duration::from_millis(12), "90% of 100/s: {wait:?}");
        pacer.slow_down();
        let ready = pacer.take(start).expect_err("still spent");
        assert!(ready - start > Duration::from_millis(20), "half the pace after a refusal");
    }

    #[test]
    fn the_window_leaves_room_below_the_burst_and_the_close_threshold() {
        assert_eq!(window(&limits(200, 400, 400, 800)), 25, "a quarter of 100 refusals");
        assert_eq!(window(&limits(200, 10, 400, 800)), 5);
        assert_eq!(window(&limits(0, 0, 0, 0)), MAX_IN_FLIGHT.min(25));
        let older = ConnectionLimits { frames_per_second: 200, burst: 400, ..ConnectionLimits::default() };
        assert_eq!(window(&older), MAX_IN_FLIGHT, "a server that announces no close threshold");
    }
}
