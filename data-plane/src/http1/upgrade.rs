//! Protocol switches (RFC 9110 §7.8): WebSocket only (RFC 6455 §4). A request switches when its one
//! `Upgrade` field says exactly `websocket`, with one valid `Sec-WebSocket-Key` (base64 of 16 bytes)
//! and `Sec-WebSocket-Version: 13`, on a `GET`; an agent's 101 must carry the matching
//! `Sec-WebSocket-Accept`. Any other protocol (`h2c` included) never switches: its request is served
//! as a plain one, its `Upgrade` removed with the other hop-by-hop fields.

use http::{Method, Version};

/// The GUID RFC 6455 §1.3 appends to a key.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Whether a request (`Connection: upgrade` and an `Upgrade` field, its fields given as lower-case
/// name and value) switches to WebSocket: `Ok(false)` when it asks for another protocol, an error
/// naming the fault when it asks for WebSocket wrongly.
pub(crate) fn websocket_request<'a>(
    method: &Method,
    version: Version,
    fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> Result<bool, String> {
    let (mut upgrade, mut upgrades) = (None, 0);
    let (mut key, mut keys) = (None, 0);
    let (mut ws_version, mut versions) = (None, 0);
    for (name, value) in fields {
        match name {
            b"upgrade" => {
                upgrades += 1;
                upgrade = Some(value);
            }
            b"sec-websocket-key" => {
                keys += 1;
                key = Some(value);
            }
            b"sec-websocket-version" => {
                versions += 1;
                ws_version = Some(value);
            }
            _ => {}
        }
    }
    if upgrades != 1 || !upgrade.is_some_and(|v| v.eq_ignore_ascii_case(b"websocket")) {
        return Ok(false);
    }
    if *method != Method::GET || version != Version::HTTP_11 {
        return Err("a websocket upgrade must be an HTTP/1.1 GET".into());
    }
    if keys != 1 || !key.is_some_and(valid_key) {
        return Err("sec-websocket-key must be one base64 value of 16 bytes".into());
    }
    if versions != 1 || ws_version != Some(b"13") {
        return Err("sec-websocket-version must be 13".into());
    }
    Ok(true)
}

/// A `Sec-WebSocket-Key`: 16 bytes in base64, so 22 characters and `==`.
pub(crate) fn valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22].iter().all(|&b| sextet(b).is_some())
        // The last character carries 2 bits of data: its low 4 bits are zero.
        && sextet(key[21]).is_some_and(|s| s & 0x0f == 0)
}

/// The `Sec-WebSocket-Accept` an agent must answer `key` with: base64 of SHA-1 of the key and the
/// GUID.
pub(crate) fn accept(key: &[u8]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key);
    ctx.update(GUID);
    base64(ctx.finish().as_ref())
}

fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_value_is_rfc_6455s() {
        // RFC 6455 §1.3's example.
        assert_eq!(
            accept(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }

    #[test]
    fn keys_are_16_bytes_of_base64() {
        assert!(valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        for bad in [
            &b""[..],
            b"dGhlIHNhbXBsZSBub25jZQ=",
            b"dGhlIHNhbXBsZSBub25jZR==",
            b"dGhlIHNhbXBsZSBub25j*Q==",
            b"dGhlIHNhbXBsZSBub25jZQ==AAAA",
        ] {
            assert!(!valid_key(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn only_a_valid_websocket_request_switches() {
        let key = &b"dGhlIHNhbXBsZSBub25jZQ=="[..];
        let ok: [(&[u8], &[u8]); 3] = [
            (b"upgrade", b"websocket"),
            (b"sec-websocket-key", key),
            (b"sec-websocket-version", b"13"),
        ];
        let get = |f: &[(&'static [u8], &'static [u8])]| {
            websocket_request(&Method::GET, Version::HTTP_11, f.iter().copied())
        };
        assert_eq!(get(&ok), Ok(true));
        assert_eq!(get(&[(b"upgrade", b"h2c")]), Ok(false), "served plain");
        assert_eq!(get(&[(b"upgrade", b"websocket, h2c")]), Ok(false));
        assert!(get(&ok[..2]).is_err(), "no version");
        assert!(get(&[ok[0], (b"sec-websocket-key", b"short"), ok[2]]).is_err());
        assert!(get(&[ok[0], ok[1], (b"sec-websocket-version", b"8")]).is_err());
        assert!(get(&[ok[0], ok[1], ok[1], ok[2]]).is_err(), "two keys");
        let post = websocket_request(&Method::POST, Version::HTTP_11, ok.iter().copied());
        assert!(post.is_err());
    }
}
