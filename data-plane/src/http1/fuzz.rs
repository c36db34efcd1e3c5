//! The codec's invariants, checked on arbitrary input: shared by the fuzz targets
//! (`data-plane/fuzz/`) and by the replay of their corpus under `cargo test`, so both run one
//! implementation. Each function panics when an invariant breaks (that is what a fuzzer reports).
//!
//! - never a panic, whatever the bytes;
//! - never two framings for one message: the same bytes read whole or in any split give the same
//!   answer, and an accepted request is framed one way only (chunked alone, or one length);
//! - a refused message ends the connection: an error stays an error whatever follows it, and a
//!   failed body decoder refuses everything after.

use bytes::BytesMut;

use super::framing::{Decoded, Decoder};
use super::request::{self, HeadError, Policy};
use super::response;

/// What reading a body gave: its bytes and how it ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The body ended; the bytes after it stay buffered.
    Ended { body: Vec<u8>, left: usize },
    /// More bytes are needed.
    Open { body: Vec<u8> },
    /// The framing broke.
    Failed,
}

/// Decodes `input` as a chunked body fed in pieces of `step` bytes.
fn decode(input: &[u8], step: usize) -> Outcome {
    let mut d = Decoder::chunked();
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut failed = false;
    let mut fed = 0;
    'feed: for piece in input.chunks(step.max(1)) {
        buf.extend_from_slice(piece);
        fed += piece.len();
        loop {
            let before = buf.len();
            match d.decode(&mut buf) {
                Ok(Decoded::Data(b)) => {
                    assert!(!b.is_empty(), "data is never empty");
                    body.extend_from_slice(&b);
                    if d.settle(&mut buf).is_err() {
                        failed = true;
                        break 'feed;
                    }
                }
                Ok(Decoded::End) => {
                    assert!(d.is_done());
                    // What follows the body: buffered, or not yet fed.
                    return Outcome::Ended {
                        body,
                        left: buf.len() + input.len() - fed,
                    };
                }
                Ok(Decoded::NeedMore) => {
                    assert!(buf.len() <= before, "NeedMore takes, never adds");
                    break;
                }
                Err(_) => {
                    failed = true;
                    break 'feed;
                }
            }
        }
    }
    if failed {
        // Refused for good: nothing more is decoded after an error.
        let mut more = BytesMut::from(&b"0\r\n\r\n"[..]);
        assert!(
            d.decode(&mut more).is_err(),
            "a failed decoder stays failed"
        );
        assert!(d.settle(&mut more).is_err());
        assert!(d.at_eof().is_err());
        return Outcome::Failed;
    }
    Outcome::Open { body }
}

/// Chunked decoding: the same answer whole, byte by byte and in a split the input chooses; the dry
/// check over the bytes in hand agrees with decoding them; a failure stays one.
pub fn chunked(input: &[u8]) {
    let whole = decode(input, input.len());
    let split = 1 + usize::from(input.first().copied().unwrap_or(0) % 7);
    for step in [1, split] {
        let other = decode(input, step);
        match (&whole, &other) {
            // An open body may have taken less of a trailing partial line: compare what is known.
            (Outcome::Open { body: a }, Outcome::Open { body: b }) => assert_eq!(a, b),
            _ => assert_eq!(whole, other, "split {step}"),
        }
    }
    let checked = Decoder::chunked().check(input);
    assert_eq!(
        checked.is_err(),
        whole == Outcome::Failed,
        "check and decode disagree"
    );
    if let Outcome::Ended { body, left } = &whole {
        // Nothing after the end is taken as body, and what follows it is untouched.
        assert!(body.len() + *left <= input.len());
        let mut after = BytesMut::from(input);
        let mut d = Decoder::chunked();
        while !matches!(d.decode(&mut after), Ok(Decoded::End)) {}
        assert_eq!(after.len(), *left);
    }
}

/// Request heads: parsing never panics; whole and split reads agree; an accepted head is framed one
/// way (no `Transfer-Encoding` beside a length, chunked only alone); a refusal stays a refusal
/// whatever bytes follow.
pub fn request_head(input: &[u8]) {
    for policy in [
        Policy::default(),
        Policy {
            keep_underscores: true,
            websocket: true,
        },
    ] {
        let mut buf = BytesMut::from(input);
        let first = request::parse(&mut buf, policy);
        // Fed a byte at a time, the head is seen complete at the same place.
        let mut grow = BytesMut::new();
        let mut split = None;
        for &b in input {
            grow.extend_from_slice(&[b]);
            match request::parse(&mut grow, policy) {
                Ok(None) => {}
                other => {
                    split = Some(other);
                    break;
                }
            }
        }
        match (&first, &split) {
            (Ok(None), None) => {}
            (Ok(Some(a)), Some(Ok(Some(b)))) => {
                assert_eq!(a.raw, b.raw, "one head, one length");
                assert_eq!(a.method, b.method);
                assert_eq!(a.uri, b.uri);
            }
            (Err(_), Some(Err(_))) => {}
            (a, b) => panic!(
                "whole and split reads disagree: {:?} vs {:?}",
                a.as_ref().map(|h| h.is_some()).map_err(ToString::to_string),
                b.as_ref()
                    .map(|r| r.as_ref().map(|h| h.is_some()).map_err(ToString::to_string))
            ),
        }
        match first {
            Ok(Some(head)) => {
                let names: Vec<&[u8]> = head.spans.iter().map(|s| &head.raw[s[0]..s[1]]).collect();
                let te = names.iter().filter(|n| **n == b"transfer-encoding").count();
                let cl = names.iter().filter(|n| **n == b"content-length").count();
                assert!(te + cl <= 1, "framed two ways: {te} te, {cl} cl");
                assert_eq!(te == 1, matches!(head.body, Decoder::Chunked(_)));
                let hosts = names.iter().filter(|n| **n == b"host").count();
                assert!(hosts <= 1, "one host");
                if !policy.keep_underscores {
                    assert!(!names.iter().any(|n| n.contains(&b'_')));
                }
                assert!(head.uri.path().starts_with('/') || head.asterisk);
                assert!(head.method != http::Method::CONNECT);
                assert_eq!(
                    buf.len(),
                    input.len() - head.raw.len(),
                    "the head is taken whole"
                );
            }
            Ok(None) => {}
            Err(
                HeadError::TooManyHeaders
                | HeadError::Malformed(_)
                | HeadError::MethodNotAllowed(_),
            ) => {
                // More bytes never turn a refusal into a request.
                let mut more = BytesMut::from(input);
                more.extend_from_slice(b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
                assert!(
                    request::parse(&mut more, policy).is_err(),
                    "a refusal stays one"
                );
            }
        }
    }
}

/// Response heads: parsing never panics; whole and split reads agree; a response with both a
/// length and chunked coding is read as chunked and its connection not reused.
pub fn response_head(input: &[u8]) {
    for head_request in [false, true] {
        let mut buf = BytesMut::from(input);
        let first = response::parse_response(&mut buf, head_request);
        let mut grow = BytesMut::new();
        let mut split = None;
        for &b in input {
            grow.extend_from_slice(&[b]);
            match response::parse_response(&mut grow, head_request) {
                Ok(None) => {}
                other => {
                    split = Some(other.map(|p| p.map(|p| p.fields.len())).map_err(|e| e.0));
                    break;
                }
            }
        }
        match (&first, split) {
            (Ok(None), None) | (Err(_), Some(Err(_))) => {}
            (Ok(Some(p)), Some(Ok(Some(n)))) => assert_eq!(p.fields.len(), n),
            (a, b) => panic!(
                "whole and split reads disagree: {:?} vs {:?}",
                a.as_ref().map(|p| p.is_some()).map_err(ToString::to_string),
                b
            ),
        }
        if let Ok(Some(p)) = first {
            // Field names as a recipient reads them (a name merely containing another is not it).
            let names: Vec<&[u8]> = p
                .fields
                .split(|&b| b == b'\n')
                .filter_map(|l| l.iter().position(|&b| b == b':').map(|i| &l[..i]))
                .collect();
            let has = |n: &[u8]| names.iter().any(|m| m.eq_ignore_ascii_case(n));
            let te = has(b"transfer-encoding");
            let cl = has(b"content-length");
            if te && cl && matches!(p.decoder, Decoder::Chunked(_)) {
                assert!(
                    !p.keep_alive,
                    "a response framed two ways ends its connection"
                );
            }
            if head_request {
                assert!(p.decoder.is_done(), "a HEAD response has no body");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays the kept corpus of each fuzz target (`data-plane/fuzz/seeds/<target>/`) through the
    /// same checks, on the stable compiler.
    #[test]
    fn the_fuzz_corpus_replays_cleanly() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        type Check = fn(&[u8]);
        let targets: [(&str, Check); 3] = [
            ("request_head", request_head),
            ("chunked", chunked),
            ("response_head", response_head),
        ];
        for (name, check) in targets {
            let dir = root.join(name);
            let mut n = 0;
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let input = std::fs::read(&path).unwrap();
                let run = std::panic::catch_unwind(|| check(&input));
                assert!(
                    run.is_ok(),
                    "{name}: {} breaks an invariant",
                    path.display()
                );
                n += 1;
            }
            assert!(n >= 5, "{name}: only {n} corpus files in {}", dir.display());
        }
    }
}
