//! WebSocket (HTTP/1.1 Upgrade) through the data plane: the 101 comes back from the agent and bytes
//! flow both ways over the joined connections until the client closes.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use openclaw_e2e::DataPlane;
use serde_json::json;

/// A raw upgrade agent: answers `GET /health` 200, switches protocols on an Upgrade request, then
/// echoes every byte back prefixed by nothing (a WebSocket echo at the byte level).
fn start_echo_agent() -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if s.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head).to_lowercase();
                if !text.contains("upgrade: websocket") {
                    let _ = s.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    );
                    return;
                }
                let _ = s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
                let mut buf = [0u8; 1024];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (url, handle)
}

#[test]
fn websocket_upgrade_passes_bytes_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (agent_url, _agent) = start_echo_agent();
    let config = json!({"gateway": {
        "agents": {"discovery": {"static": [{"id": "ws", "endpoint": agent_url}]}, "healthCheck": {"enabled": false}},
        "routing": {"rules": [{"name": "ws", "match": {"type": "prefix", "pattern": "/ws"}, "target": "ws"}]}
    }});
    let dp = DataPlane::standalone(dir.path(), config);
    let addr = dp.url().trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /ws/chat HTTP/1.1\r\nhost: gw\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).unwrap(),
            1,
            "connection closed in the handshake: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(
        head.contains(&"sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_lowercase()),
        "{head}"
    );
    for msg in [
        &b"hello through the gateway"[..],
        b"second frame",
        &[0x81, 0x05, b'h', b'e', b'l', b'l', b'o'],
    ] {
        s.write_all(msg).unwrap();
        let mut got = vec![0u8; msg.len()];
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, msg);
    }
}
