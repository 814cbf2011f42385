//! Tests of [`Connection`] against a scripted in-process WebSocket server:
//! handshake, answer matching with buffering, the sync loop, close codes.

use std::time::Duration;

use banter_protocol::frames::{close_code, ConnectionLimits, SyncCursor};
use banter_protocol::{ClientFrame, ErrorCode, Message, ServerFrame, User};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use crate::{Connection, SdkError};

type ServerWs = WebSocketStream<TcpStream>;

const TOKEN: &str = "tok-123";

fn hello() -> ServerFrame {
    ServerFrame::Hello {
        user: User {
            id: 1,
            username: "alice".into(),
            display_name: "Alice".into(),
            deleted: false,
        },
        device_id: 9,
        heartbeat_interval_ms: 20_000,
        idle_timeout_ms: 60_000,
        presence_grace_ms: 30_000,
        reconnect_spread_ms: 0,
        limits: ConnectionLimits {
            max_message_chars: 100_000,
            max_frame_bytes: 1 << 20,
            max_group_members: 100,
            frames_per_second: 20,
            burst: 40,
            ..ConnectionLimits::default()
        },
        presence: Vec::new(),
    }
}

fn msg(conversation_id: i64, seq: i64) -> Message {
    Message {
        conversation_id,
        seq,
        sender_id: 2,
        sender_device_id: 3,
        client_msg_id: format!("c{conversation_id}s{seq}"),
        text: format!("message {seq}"),
        server_ts: 1,
        ..Default::default()
    }
}

async fn send(ws: &mut ServerWs, frame: ServerFrame) {
    let text = serde_json::to_string(&frame).unwrap();
    ws.send(WsMessage::text(text)).await.unwrap();
}

async fn recv(ws: &mut ServerWs) -> ClientFrame {
    loop {
        match ws.next().await.unwrap().unwrap() {
            WsMessage::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            WsMessage::Close(_) => panic!("client closed"),
            _ => {}
        }
    }
}

/// Starts a one-connection server that checks the token, sends `hello` and
/// then runs `script`. Returns the base URL.
async fn serve<F, Fut>(script: F) -> String
where
    F: FnOnce(ServerWs) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        // The callback's signature is tungstenite's.
        #[allow(clippy::result_large_err)]
        let check = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
            let auth = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            if auth == Some(&format!("Bearer {TOKEN}")) {
                Ok(resp)
            } else {
                let mut err = ErrorResponse::new(Some(
                    r#"{"code":"unauthorized","message":"no token"}"#.into(),
                ));
                *err.status_mut() = tokio_tungstenite::tungstenite::http::StatusCode::UNAUTHORIZED;
                Err(err)
            }
        };
        let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
            return;
        };
        send(&mut ws, hello()).await;
        script(ws).await;
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn hello_is_kept_and_a_bad_token_is_an_api_error() {
    let base = serve(|_ws| async {}).await;
    let err = Connection::connect(&base, "wrong").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Unauthorized));
    assert_eq!(err.status(), Some(401));

    let base = serve(|mut ws| async move { while ws.next().await.is_some() {} }).await;
    let conn = Connection::connect(&base, TOKEN).await.unwrap();
    assert_eq!(conn.hello().device_id, 9);
    assert_eq!(conn.hello().user.username, "alice");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn send_message_waits_for_its_own_ack_and_keeps_other_frames_in_order() {
    let base = serve(|mut ws| async move {
        let ClientFrame::Send {
            client_msg_id,
            conversation_id,
            ..
        } = recv(&mut ws).await
        else {
            panic!()
        };
        send(&mut ws, ServerFrame::Message { message: msg(5, 1) }).await;
        let other = ServerFrame::Ack {
            client_msg_id: "other".into(),
            conversation_id,
            seq: 1,
            server_ts: 1,
            duplicate: false,
        };
        send(&mut ws, other).await;
        send(
            &mut ws,
            ServerFrame::Ack {
                client_msg_id,
                conversation_id,
                seq: 2,
                server_ts: 2,
                duplicate: false,
            },
        )
        .await;
        // A refused send.
        let ClientFrame::Send { client_msg_id, .. } = recv(&mut ws).await else {
            panic!()
        };
        let refusal = ServerFrame::Error {
            code: ErrorCode::MessageTooLong,
            message: "too long".into(),
            client_msg_id: Some(client_msg_id),
            retry_after_ms: None,
        };
        send(&mut ws, refusal).await;
        while ws.next().await.is_some() {}
    })
    .await;
    let mut conn = Connection::connect(&base, TOKEN).await.unwrap();
    let ack = conn.send_message(5, "hello").await.unwrap();
    assert_eq!(ack.seq, 2);
    assert_eq!(ack.client_msg_id.len(), 32);
    assert_eq!(conn.buffered_frames(), 2);

    let err = conn
        .send_message_with_id(5, "retry-1", "x".repeat(10))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::MessageTooLong));

    assert!(
        matches!(conn.next_frame().await.unwrap(), ServerFrame::Message { message } if message.seq == 1)
    );
    assert!(
        matches!(conn.next_frame().await.unwrap(), ServerFrame::Ack { client_msg_id, .. } if client_msg_id == "other")
    );
    assert!(matches!(
        conn.next_frame_timeout(Duration::from_millis(50)).await,
        Err(SdkError::Timeout)
    ));
}

#[tokio::test]
async fn sync_all_advances_the_cursors_until_complete() {
    let base = serve(|mut ws| async move {
        let ClientFrame::Sync { cursors, .. } = recv(&mut ws).await else {
            panic!()
        };
        assert_eq!(
            cursors,
            vec![SyncCursor {
                conversation_id: 3,
                seq: 5
            }]
        );
        send(&mut ws, ServerFrame::Message { message: msg(1, 3) }).await;
        let batch = vec![msg(1, 1), msg(1, 2), msg(2, 1)];
        send(
            &mut ws,
            ServerFrame::SyncBatch {
                messages: batch,
                complete: false,
            },
        )
        .await;

        let ClientFrame::Sync { cursors, .. } = recv(&mut ws).await else {
            panic!()
        };
        let expected = vec![
            SyncCursor {
                conversation_id: 1,
                seq: 2,
            },
            SyncCursor {
                conversation_id: 2,
                seq: 1,
            },
            SyncCursor {
                conversation_id: 3,
                seq: 5,
            },
        ];
        assert_eq!(cursors, expected);
        send(
            &mut ws,
            ServerFrame::SyncBatch {
                messages: vec![msg(1, 3), msg(3, 6)],
                complete: true,
            },
        )
        .await;
        while ws.next().await.is_some() {}
    })
    .await;
    let mut conn = Connection::connect(&base, TOKEN).await.unwrap();
    let mut state = crate::SyncState::from_cursors(&[SyncCursor {
        conversation_id: 3,
        seq: 5,
    }]);
    let got = conn.catch_up(&mut state).await.unwrap();
    let ids: Vec<(i64, i64)> = got.iter().map(|m| (m.conversation_id, m.seq)).collect();
    assert_eq!(ids, vec![(1, 1), (1, 2), (2, 1), (1, 3), (3, 6)]);
    // The live copy of (1, 3) read during the sync is still delivered, and is a duplicate.
    let ServerFrame::Message { message } = conn.next_frame().await.unwrap() else {
        panic!()
    };
    assert_eq!(state.accept(&message), crate::Accepted::Duplicate);
}

#[tokio::test]
async fn a_server_close_reports_its_code_after_the_frames_before_it() {
    let base = serve(|mut ws| async move {
        send(&mut ws, ServerFrame::Pong).await;
        let frame = CloseFrame {
            code: CloseCode::from(close_code::SESSION_REVOKED),
            reason: "revoked".into(),
        };
        ws.send(WsMessage::Close(Some(frame))).await.unwrap();
        while ws.next().await.is_some() {}
    })
    .await;
    let mut conn = Connection::connect(&base, TOKEN).await.unwrap();
    assert_eq!(conn.next_frame().await.unwrap(), ServerFrame::Pong);
    for _ in 0..2 {
        let err = conn.next_frame().await.unwrap_err();
        assert_eq!(err.close_code(), Some(close_code::SESSION_REVOKED));
        assert!(matches!(err, SdkError::Closed { ref reason, .. } if reason == "revoked"));
    }
    assert!(conn
        .send_frame(ClientFrame::Ping)
        .await
        .unwrap_err()
        .is_closed());
}

#[tokio::test]
async fn a_bad_frame_is_a_protocol_error_and_the_connection_goes_on() {
    let base = serve(|mut ws| async move {
        ws.send(WsMessage::text("{not json")).await.unwrap();
        let ClientFrame::Ping = recv(&mut ws).await else {
            panic!()
        };
        send(&mut ws, ServerFrame::Pong).await;
        while ws.next().await.is_some() {}
    })
    .await;
    let mut conn = Connection::connect(&base, TOKEN).await.unwrap();
    assert!(matches!(
        conn.next_frame().await,
        Err(SdkError::Protocol(_))
    ));
    conn.ping().await.unwrap();
}

/// A one-connection server that reports the client's address, then answers
/// the handshake with `hello` and holds the connection until it closes.
async fn serve_reporting_peer() -> (String, tokio::sync::oneshot::Receiver<std::net::SocketAddr>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (peer_tx, peer_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (stream, peer) = listener.accept().await.unwrap();
        let _ = peer_tx.send(peer);
        let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        send(&mut ws, hello()).await;
        while ws.next().await.is_some() {}
    });
    (format!("http://{addr}"), peer_rx)
}

#[tokio::test]
async fn a_connection_can_come_from_a_chosen_local_address() {
    let (base, peer) = serve_reporting_peer().await;
    let source: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let options = crate::ConnectOptions::new()
        .token(TOKEN)
        .local_addr(source)
        .read_buffer_size(4096);
    let conn = Connection::connect_with(&base, options).await.unwrap();
    assert_eq!(conn.hello().device_id, 9);
    assert_eq!(peer.await.unwrap().ip(), source);
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_connection_can_run_over_a_stream_the_caller_opened() {
    let (base, peer) = serve_reporting_peer().await;
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let stream = TcpStream::connect(addr).await.unwrap();
    let local = stream.local_addr().unwrap();
    let options = crate::ConnectOptions::new().token(TOKEN);
    let conn = Connection::connect_over(stream, &base, options)
        .await
        .unwrap();
    assert_eq!(conn.hello().user.username, "alice");
    assert_eq!(peer.await.unwrap(), local);
    conn.close().await.unwrap();
}

/// `send_all` against a server that refuses the first send with
/// `rate_limited`: the refused message is sent again with the same id, not
/// before `retry_after_ms`, every message ends acknowledged once, and a live
/// frame that arrived meanwhile is kept for `next_frame`.
#[tokio::test]
async fn send_all_resends_a_rate_limited_message_after_the_wait_with_the_same_id() {
    const RETRY_AFTER: Duration = Duration::from_millis(200);
    let base = serve(|mut ws| async move {
        let mut refused: Option<(String, tokio::time::Instant)> = None;
        let mut seq = 0;
        let mut acked = Vec::new();
        while acked.len() < 3 {
            let ClientFrame::Send { client_msg_id, .. } = recv(&mut ws).await else {
                panic!("only sends expected")
            };
            match &refused {
                None => {
                    send(
                        &mut ws,
                        ServerFrame::Error {
                            code: ErrorCode::RateLimited,
                            message: "slow down".into(),
                            client_msg_id: Some(client_msg_id.clone()),
                            retry_after_ms: Some(RETRY_AFTER.as_millis() as u64),
                        },
                    )
                    .await;
                    send(&mut ws, ServerFrame::Message { message: msg(5, 1) }).await;
                    refused = Some((client_msg_id, tokio::time::Instant::now()));
                    continue;
                }
                Some((id, at)) if *id == client_msg_id => {
                    assert!(at.elapsed() >= RETRY_AFTER, "resent after {:?}", at.elapsed());
                }
                Some(_) => {}
            }
            assert!(!acked.contains(&client_msg_id), "each id acknowledged once");
            seq += 1;
            send(
                &mut ws,
                ServerFrame::Ack {
                    client_msg_id: client_msg_id.clone(),
                    conversation_id: 5,
                    seq,
                    server_ts: seq,
                    duplicate: false,
                },
            )
            .await;
            acked.push(client_msg_id);
        }
        while ws.next().await.is_some() {}
    })
    .await;
    let mut conn = Connection::connect(&base, TOKEN).await.unwrap();
    let outgoing: Vec<_> = (0..3)
        .map(|n| crate::OutgoingMessage::new(5, format!("m{n}")))
        .collect();
    let flushed = conn.send_all(outgoing.clone()).await.unwrap();
    assert_eq!(flushed.rate_limited, 1);
    let acks = flushed.into_acks().unwrap();
    let ids: Vec<_> = acks.iter().map(|a| a.client_msg_id.clone()).collect();
    let sent: Vec<_> = outgoing.into_iter().map(|o| o.client_msg_id).collect();
    assert_eq!(ids, sent, "acks in the order given");
    assert!(matches!(
        conn.next_frame_timeout(Duration::from_secs(5)).await.unwrap(),
        ServerFrame::Message { .. }
    ));
}
