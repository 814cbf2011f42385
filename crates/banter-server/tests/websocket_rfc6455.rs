//! RFC 6455 conformance of `/api/v1/ws`, the cases of the Autobahn
//! testsuite that matter for a server (Autobahn itself needs Python 2 or
//! Docker, neither available here).
//!
//! Each test opens a real server, upgrades a raw TCP socket by hand and
//! writes frames **one byte at a time** (large ones in chunks), so the
//! server's frame parser sees every possible split. Expected behaviour:
//!
//! | the client sends | the server |
//! |---|---|
//! | a fragmented text message, pings between fragments | answers the pings, then handles one message |
//! | ping with payload *p* (≤ 125 bytes) | pong with payload *p* |
//! | close with a valid code | echoes the code, closes TCP |
//! | an unmasked frame, reserved bits, an unknown opcode, a control frame > 125 bytes or fragmented, a continuation with nothing to continue, a new message inside a fragmented one, a close frame with an invalid code or a 1-byte payload | closes with **1002** |
//! | invalid UTF-8 in a text message (whole or across fragments) or a close reason | closes with **1007** |
//! | a frame or message over 1 MiB | closes with **1009** |
//! | a binary message | answers an `error` frame `binary_frame`; the connection stays open |

mod common;

use banter_protocol::{frames::close_code, limits::MAX_WS_FRAME_BYTES};
use common::*;
use raw::{Frame, RawSocket, BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT};

const PING_FRAME: &[u8] = br#"{"type":"ping"}"#;

// ---------------------------------------------------------------------------
// Handshake and the normal cases
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_handshake_answers_101_with_the_rfc_accept_key() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    // The RFC's own example key and answer (§1.3).
    let mut socket = RawSocket::open(&server, &alice.token).await;
    assert!(socket.handshake_response.starts_with("HTTP/1.1 101"), "{}", socket.handshake_response);
    let head = socket.handshake_response.to_ascii_lowercase();
    assert!(head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{head}");
    socket.send_text(PING_FRAME).await;
    assert_eq!(socket.next_text().await["type"], "pong");
}

#[tokio::test]
async fn a_text_message_in_fragments_with_pings_between_them_is_one_message() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut socket = RawSocket::open(&server, &alice.token).await;
    socket.send(Frame::new(TEXT, br#"{"ty"#).more_to_come()).await;
    socket.send(Frame::new(PING, b"between fragments")).await;
    socket.send(Frame::new(CONTINUATION, br#"pe":"pi"#).more_to_come()).await;
    socket.send(Frame::new(CONTINUATION, b"").more_to_come()).await; // an empty fragment is allowed
    socket.send(Frame::new(CONTINUATION, br#"ng"}"#)).await;
    let pong = socket.next_frame().await;
    assert_eq!((pong.opcode, pong.payload.as_slice()), (PONG, &b"between fragments"[..]), "control frames may come between fragments");
    assert_eq!(socket.next_text().await["type"], "pong", "the three fragments were one ping frame");
}

#[tokio::test]
async fn a_ping_is_answered_with_a_pong_carrying_the_same_payload() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut socket = RawSocket::open(&server, &alice.token).await;
    let largest: Vec<u8> = (0..125u8).map(|b| b.wrapping_mul(37)).collect();
    for payload in [&b""[..], b"hello", &[0xff, 0x00, 0xfe][..], &largest] {
        socket.send(Frame::new(PING, payload)).await;
        let pong = socket.next_frame().await;
        assert_eq!((pong.opcode, pong.payload.as_slice()), (PONG, payload));
    }
}

#[tokio::test]
async fn an_unsolicited_pong_is_ignored() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut socket = RawSocket::open(&server, &alice.token).await;
    socket.send(Frame::new(PONG, b"unsolicited")).await;
    socket.send_text(PING_FRAME).await;
    assert_eq!(socket.next_text().await["type"], "pong", "the next frame is the answer to the ping");
}

#[tokio::test]
async fn a_close_is_echoed_with_its_code_and_the_server_closes_the_tcp_connection() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    for code in [close_code::NORMAL, 1001, 3000, 4999] {
        let mut socket = RawSocket::open(&server, &alice.token).await;
        socket.send(Frame::close(code, b"bye")).await;
        assert_eq!(socket.close_code().await, Some(code));
        socket.assert_tcp_closed().await;
    }
    let mut socket = RawSocket::open(&server, &alice.token).await;
    socket.send(Frame::new(CLOSE, b"")).await;
    assert_eq!(socket.close_code().await, None, "a close without a code is answered by a close without a code");
    socket.assert_tcp_closed().await;
}

#[tokio::test]
async fn a_character_split_across_fragments_is_accepted() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut socket = RawSocket::open(&server, &alice.token).await;
    let text = r#"{"type":"ping","note":"κόσμε 😀"}"#.as_bytes();
    let inside_the_emoji = text.len() - 4;
    socket.send(Frame::new(TEXT, &text[..inside_the_emoji]).more_to_come()).await;
    socket.send(Frame::new(CONTINUATION, &text[inside_the_emoji..])).await;
    assert_eq!(socket.next_text().await["type"], "pong");
}

#[tokio::test]
async fn a_message_of_exactly_the_size_limit_is_accepted() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut socket = RawSocket::open(&server, &alice.token).await;
    socket.send_large(Frame::new(TEXT, &ping_padded_to(MAX_WS_FRAME_BYTES))).await;
    assert_eq!(socket.next_text().await["type"], "pong");
}

#[tokio::test]
async fn a_binary_frame_is_answered_with_a_binary_frame_error_and_the_connection_stays_open() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut socket = RawSocket::open(&server, &alice.token).await;
    socket.send(Frame::new(BINARY, PING_FRAME)).await;
    let error = socket.next_text().await;
    assert_eq!((error["type"].as_str(), error["code"].as_str()), (Some("error"), Some("binary_frame")));
    socket.send_text(PING_FRAME).await;
    assert_eq!(socket.next_text().await["type"], "pong");
}

// ---------------------------------------------------------------------------
// Protocol violations: 1002
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_unmasked_client_frame_fails_the_connection_with_1002() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut socket = RawSocket::open(&server, &alice.token).await;
    socket.send(Frame::new(TEXT, PING_FRAME).unmasked()).await;
    socket.assert_failed_with(close_code::PROTOCOL_ERROR).await;
}

#[tokio::test]
async fn reserved_bits_fail_the_connection_with_1002() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    for rsv in [0b100, 0b010, 0b001, 0b111] {
        let mut socket = RawSocket::open(&server, &alice.token).await;
        socket.send(Frame::new(TEXT, PING_FRAME).reserved_bits(rsv)).await;
        socket.assert_failed_with(close_code::PROTOCOL_ERROR).await;
    }
    let mut socket = RawSocket::open(&server, &alice.token).await;
    socket.send(Frame::new(PING, b"").reserved_bits(0b100)).await;
    socket.assert_failed_with(close_code::PROTOCOL_ERROR).await;
}

#[tokio::test]
async fn unknown_opcodes_fail_the_connection_with_1002() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    for opcode in [0x3, 0x7, 0xB, 0xF] {
        let mut socket = RawSocket::open(&server, &alice.token).await;
        socket.send(Frame::new(opcode, b"x")).await;
        socket.assert_failed_with(close_code::PROTOCOL_ERROR).await;
    }
}

#[tokio::test]
async fn a_control_frame_over_125_bytes_fails_the_connection_with_1002() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut socket = RawSocket::open(&server, &alice.token).await;
    socket.send(Frame::new(PING, &[b'p'; 126])).await;
    socket.assert_failed_with(close_code::PROTOCOL_ERROR).await;
}

#[tokio::test]
async fn a_fragmented_control_frame_fails_the_connection_with_1002() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut socket = RawSocket::open(&server, &alice.token).await;
    socket.send(Frame::new(PING, b"part one").more_to_come()).await;
    socket.assert_failed_with(close_code::PROTOCOL_ERROR).await;
}

#[tokio::test]
async fn a_continuation_with_nothing_to_continue_fails_the_connection_with_1002() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut socket = RawSocket::open(&server, &alice.token).await;
    socket.send(Frame::new(CONTINUATION, PING_FRAME)).await;
    socket.assert_failed_with(close_code::PROTOCOL_ERROR).await;
}

#[tokio::test]
async fn a_new_message_inside_a_fragmented_one_fails_the_connection_with_1002() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut socket = RawSocket::open(&server, &alice.token).await;
    socket.send(Frame::new(TEXT, br#"{"type":"#).more_to_come()).await;
    socket.send(Frame::new(TEXT, PING_FRAME)).await;
    socket.assert_failed_with(close_code::PROTOCOL_ERROR).await;
}

#[tokio::test]
async fn a_close_with_an_invalid_code_is_answered_with_1002() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        let mut socket = RawSocket::open(&server, &alice.token).await;
        socket.send(Frame::close(code, b"")).await;
        assert_eq!(socket.close_code().await, Some(close_code::PROTOCOL_ERROR), "close code {code} is not allowed on the wire");
        socket.assert_tcp_closed().await;
    }
}

#[tokio::test]
async fn a_close_with_a_one_byte_payload_fails_the_connection_with_1002() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut socket = RawSocket::open(&server, &alice.token).await;
    socket.send(Frame::new(CLOSE, &[0x03])).await;
    socket.assert_failed_with(close_code::PROTOCOL_ERROR).await;
}

// ---------------------------------------------------------------------------
// Invalid UTF-8: 1007
// ---------------------------------------------------------------------------

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_fails_the_connection_with_1007() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    // A lone continuation byte, an overlong encoding, a UTF-16 surrogate,
    // and a code point above U+10FFFF.
    for bad in [&[0x80][..], &[0xc0, 0xaf], &[0xed, 0xa0, 0x80], &[0xf4, 0x90, 0x80, 0x80]] {
        let mut socket = RawSocket::open(&server, &alice.token).await;
        let text = [&br#"{"type":"ping","note":""#[..], bad, br#""}"#].concat();
        socket.send(Frame::new(TEXT, &text)).await;
        socket.assert_failed_with(close_code::INVALID_PAYLOAD).await;
    }
}

#[tokio::test]
async fn invalid_utf8_split_across_fragments_fails_the_connection_with_1007() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut socket = RawSocket::open(&server, &alice.token).await;
    // 0xf4 0x90 would start a code point above U+10FFFF: invalid already in
    // the first fragment, whatever follows.
    socket.send(Frame::new(TEXT, &[b'{', b'"', 0xce, 0xba, 0xf4]).more_to_come()).await;
    socket.send(Frame::new(CONTINUATION, &[0x90, 0x80, 0x80, b'"', b'}'])).await;
    socket.assert_failed_with(close_code::INVALID_PAYLOAD).await;
    // A message that ends in the middle of a character.
    let mut socket = RawSocket::open(&server, &alice.token).await;
    socket.send(Frame::new(TEXT, &[b'"', 0xf0, 0x9f]).more_to_come()).await;
    socket.send(Frame::new(CONTINUATION, &[0x98])).await;
    socket.assert_failed_with(close_code::INVALID_PAYLOAD).await;
}

#[tokio::test]
async fn a_close_reason_that_is_not_utf8_fails_the_connection_with_1007() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut socket = RawSocket::open(&server, &alice.token).await;
    socket.send(Frame::close(close_code::NORMAL, &[0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80])).await;
    socket.assert_failed_with(close_code::INVALID_PAYLOAD).await;
}

// ---------------------------------------------------------------------------
// Size limits: 1009
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_frame_over_the_size_limit_fails_the_connection_with_1009() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut socket = RawSocket::open(&server, &alice.token).await;
    // The header alone announces the size: the server need not read the payload.
    socket.send_header_only(TEXT, MAX_WS_FRAME_BYTES as u64 + 1).await;
    socket.assert_failed_with(close_code::MESSAGE_TOO_BIG).await;
}

#[tokio::test]
async fn a_fragmented_message_over_the_size_limit_fails_the_connection_with_1009() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut socket = RawSocket::open(&server, &alice.token).await;
    let text = ping_padded_to(MAX_WS_FRAME_BYTES + 1);
    let half = text.len() / 2;
    socket.send_large(Frame::new(TEXT, &text[..half]).more_to_come()).await;
    socket.send_large(Frame::new(CONTINUATION, &text[half..])).await;
    socket.assert_failed_with(close_code::MESSAGE_TOO_BIG).await;
}

/// A valid `ping` frame of exactly `size` bytes (unknown fields are ignored).
fn ping_padded_to(size: usize) -> Vec<u8> {
    let empty = br#"{"type":"ping","pad":""}"#;
    let mut text = br#"{"type":"ping","pad":""#.to_vec();
    text.resize(size - 2, b'x');
    text.extend_from_slice(br#""}"#);
    assert!(text.len() == size && size > empty.len());
    text
}

/// A client that speaks WebSocket frame by frame over a plain TCP socket.
mod raw {
    use super::*;
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpStream,
    };

    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// One frame to send; masked, final and without reserved bits unless
    /// told otherwise.
    pub struct Frame {
        fin: bool,
        rsv: u8,
        opcode: u8,
        masked: bool,
        payload: Vec<u8>,
    }

    impl Frame {
        pub fn new(opcode: u8, payload: &[u8]) -> Frame {
            Frame { fin: true, rsv: 0, opcode, masked: true, payload: payload.to_vec() }
        }

        pub fn close(code: u16, reason: &[u8]) -> Frame {
            Frame::new(CLOSE, &[&code.to_be_bytes()[..], reason].concat())
        }

        pub fn more_to_come(mut self) -> Frame {
            self.fin = false;
            self
        }

        pub fn unmasked(mut self) -> Frame {
            self.masked = false;
            self
        }

        /// RSV1, RSV2, RSV3 as the three low bits.
        pub fn reserved_bits(mut self, rsv: u8) -> Frame {
            self.rsv = rsv & 0b111;
            self
        }

        fn encode(&self) -> Vec<u8> {
            let mut bytes = vec![(u8::from(self.fin) << 7) | (self.rsv << 4) | (self.opcode & 0x0f)];
            bytes.extend(length_field(self.payload.len() as u64, self.masked));
            if self.masked {
                bytes.extend_from_slice(&MASK);
                bytes.extend(self.payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
            } else {
                bytes.extend_from_slice(&self.payload);
            }
            bytes
        }
    }

    fn length_field(len: u64, masked: bool) -> Vec<u8> {
        let mask_bit = if masked { 0x80 } else { 0 };
        match len {
            0..=125 => vec![mask_bit | len as u8],
            126..=0xffff => [&[mask_bit | 126][..], &(len as u16).to_be_bytes()].concat(),
            _ => [&[mask_bit | 127][..], &len.to_be_bytes()].concat(),
        }
    }

    /// A frame the server sent.
    pub struct Received {
        pub opcode: u8,
        pub payload: Vec<u8>,
    }

    pub struct RawSocket {
        stream: TcpStream,
        pub handshake_response: String,
    }

    impl RawSocket {
        /// Upgrades with a token and the server's own Origin (as a browser
        /// on the server's page would), then reads the `hello` frame.
        pub async fn open(server: &TestServer, token: &str) -> RawSocket {
            let addr = server.running().addr();
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let request = format!(
                "GET /api/v1/ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
                 Origin: http://{addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await.expect("handshake request");
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8];
                let read = tokio::time::timeout(WAIT, stream.read(&mut byte)).await.expect("handshake answer in time");
                assert_eq!(read.expect("read handshake"), 1, "connection closed during the handshake");
                head.push(byte[0]);
            }
            let mut socket = RawSocket { stream, handshake_response: String::from_utf8_lossy(&head).into_owned() };
            assert!(socket.handshake_response.starts_with("HTTP/1.1 101"), "{}", socket.handshake_response);
            assert_eq!(socket.next_text().await["type"], "hello");
            socket
        }

        /// Writes a frame one byte at a time.
        pub async fn send(&mut self, frame: Frame) -> Option<()> {
            for byte in frame.encode() {
                // The server may close (correctly) before the last byte.
                if self.stream.write_all(&[byte]).await.is_err() {
                    return None;
                }
            }
            Some(())
        }

        /// Writes a large frame in one go; the server may stop reading.
        pub async fn send_large(&mut self, frame: Frame) {
            let _ = self.stream.write_all(&frame.encode()).await;
        }

        pub async fn send_text(&mut self, text: &[u8]) {
            self.send(Frame::new(TEXT, text)).await.expect("frame written");
        }

        /// A frame header announcing `len` bytes, and no payload.
        pub async fn send_header_only(&mut self, opcode: u8, len: u64) {
            let mut bytes = vec![0x80 | opcode];
            bytes.extend(length_field(len, true));
            bytes.extend_from_slice(&MASK);
            for byte in bytes {
                let _ = self.stream.write_all(&[byte]).await;
            }
        }

        pub async fn next_frame(&mut self) -> Received {
            tokio::time::timeout(WAIT, self.read_frame()).await.expect("a frame in time").expect("a frame, not the end")
        }

        /// The next text frame as JSON, skipping control frames.
        pub async fn next_text(&mut self) -> serde_json::Value {
            loop {
                let frame = self.next_frame().await;
                match frame.opcode {
                    TEXT => return serde_json::from_slice(&frame.payload).expect("text frames are JSON"),
                    PING | PONG => continue,
                    other => panic!("expected a text frame, got opcode {other:#x}"),
                }
            }
        }

        /// Reads until the server's close frame; its code (`None` when it
        /// carries no payload). Text frames before it are skipped.
        pub async fn close_code(&mut self) -> Option<u16> {
            loop {
                let frame = self.next_frame().await;
                if frame.opcode == CLOSE {
                    assert_ne!(frame.payload.len(), 1, "a close payload is empty or has a code");
                    return frame.payload.get(..2).map(|code| u16::from_be_bytes([code[0], code[1]]));
                }
                assert_eq!(frame.opcode, TEXT, "only text frames may come before the close");
            }
        }

        /// The server sends a close frame with `code`, then closes TCP.
        pub async fn assert_failed_with(&mut self, code: u16) {
            assert_eq!(self.close_code().await, Some(code));
            self.assert_tcp_closed().await;
        }

        /// The server closes the TCP connection (nothing more arrives).
        pub async fn assert_tcp_closed(&mut self) {
            let mut rest = Vec::new();
            let read = tokio::time::timeout(WAIT, self.stream.read_to_end(&mut rest)).await.expect("the server closes TCP");
            if read.is_ok() {
                assert!(rest.is_empty(), "{} bytes after the close frame", rest.len());
            }
        }

        /// `None` at end of stream.
        async fn read_frame(&mut self) -> Option<Received> {
            let mut head = [0u8; 2];
            self.stream.read_exact(&mut head).await.ok()?;
            assert_eq!(head[0] & 0x70, 0, "the server sets no reserved bits");
            assert!(head[0] & 0x80 != 0, "the server does not fragment");
            assert_eq!(head[1] & 0x80, 0, "server frames are not masked (RFC 6455 §5.1)");
            let len = match head[1] & 0x7f {
                126 => u64::from(self.stream.read_u16().await.ok()?),
                127 => self.stream.read_u64().await.ok()?,
                n => u64::from(n),
            };
            let mut payload = vec![0u8; usize::try_from(len).expect("length fits")];
            self.stream.read_exact(&mut payload).await.ok()?;
            Some(Received { opcode: head[0] & 0x0f, payload })
        }
    }
}
