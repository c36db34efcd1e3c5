//! HTTP/1.1 message body framing (RFC 9112 §6.3 and §7.1), for requests from clients and responses
//! from agents alike: a known length, chunked, or until the connection closes. Pure byte handling over
//! a connection's read buffer, so it is tested alone.

use bytes::{Bytes, BytesMut};

/// The longest chunk-size line (with extensions) or trailer line accepted.
const MAX_LINE: usize = 4 * 1024;
/// The most trailer bytes accepted after the last chunk.
const MAX_TRAILERS: usize = 16 * 1024;

/// Why a body's framing is broken.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    /// The connection closed before the body's end.
    #[error("the connection closed {0} bytes before the end of the body")]
    ClosedEarly(u64),
    /// The connection closed inside a chunked body.
    #[error("the connection closed inside a chunked body")]
    ClosedInChunked,
    /// A chunk-size line that is not hexadecimal.
    #[error("invalid chunk size line {0:?}")]
    ChunkSize(String),
    /// A chunk's data not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    ChunkEnd,
    /// A chunk-size or trailer line ended by LF without CR.
    #[error("chunk-size or trailer line not ended by CRLF")]
    BareLf,
    /// A line longer than the limit.
    #[error("chunk-size or trailer line longer than {MAX_LINE} bytes")]
    LineTooLong,
    /// Trailers longer than the limit.
    #[error("trailers longer than {MAX_TRAILERS} bytes")]
    TrailersTooLong,
}

/// What the buffered bytes give next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// Body bytes.
    Data(Bytes),
    /// The body ended.
    End,
    /// More bytes must be read first.
    NeedMore,
}

/// Where a body is in its framing.
#[derive(Debug)]
pub(crate) enum Decoder {
    /// This many bytes remain.
    Length(u64),
    /// Chunked transfer coding.
    Chunked(Chunk),
    /// Everything until the connection closes.
    Eof,
    /// The body has ended.
    Done,
}

/// Where a chunked body is.
#[derive(Debug)]
pub(crate) enum Chunk {
    /// Before a chunk-size line.
    Size,
    /// Inside a chunk's data, with this much left.
    Data(u64),
    /// After a chunk's data, before its CRLF.
    DataEnd,
    /// After the last chunk: trailer lines (this many bytes so far) until an empty line.
    Trailers(usize),
}

// === impl Decoder ===

impl Decoder {
    /// A body of `n` bytes (done at once for `n == 0`).
    pub(crate) fn length(n: u64) -> Self {
        if n == 0 { Self::Done } else { Self::Length(n) }
    }

    /// A chunked body.
    pub(crate) fn chunked() -> Self {
        Self::Chunked(Chunk::Size)
    }

    /// True once the body has ended.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self, Self::Done)
    }

    /// The bytes left when the length is known.
    pub(crate) fn remaining(&self) -> Option<u64> {
        match self {
            Self::Length(n) => Some(*n),
            Self::Done => Some(0),
            _ => None,
        }
    }

    /// Takes the next body bytes (or the end) out of `buf`.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, DecodeError> {
        match self {
            Self::Done => Ok(Decoded::End),
            Self::Eof => {
                if buf.is_empty() {
                    Ok(Decoded::NeedMore)
                } else {
                    Ok(Decoded::Data(buf.split().freeze()))
                }
            }
            Self::Length(left) => {
                if buf.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                *left -= n as u64;
                if *left == 0 {
                    *self = Self::Done;
                }
                Ok(Decoded::Data(buf.split_to(n).freeze()))
            }
            Self::Chunked(state) => {
                let out = chunked(state, buf, true)?;
                if out == Decoded::End {
                    *self = Self::Done;
                }
                Ok(out)
            }
        }
    }

    /// Consumes framing that follows data already taken (a chunk's CRLF, the last chunk, trailers) so
    /// the end is known without waiting for another read; stops before the next data.
    pub(crate) fn settle(&mut self, buf: &mut BytesMut) -> Result<(), DecodeError> {
        if let Self::Chunked(state) = self
            && chunked(state, buf, false)? == Decoded::End
        {
            *self = Self::Done;
        }
        Ok(())
    }

    /// The connection closed: the end of an `Eof` body, an error for the others.
    pub(crate) fn at_eof(&mut self) -> Result<(), DecodeError> {
        match self {
            Self::Eof | Self::Done => {
                *self = Self::Done;
                Ok(())
            }
            Self::Length(n) => Err(DecodeError::ClosedEarly(*n)),
            Self::Chunked(_) => Err(DecodeError::ClosedInChunked),
        }
    }
}

/// Runs the chunked framing over `buf`; with `data: false` it stops before any chunk data (returning
/// `NeedMore` there).
fn chunked(state: &mut Chunk, buf: &mut BytesMut, data: bool) -> Result<Decoded, DecodeError> {
    loop {
        match state {
            Chunk::Size => {
                let Some(line) = take_line(buf)? else {
                    return Ok(Decoded::NeedMore);
                };
                let size = parse_size(&line)?;
                *state = if size == 0 {
                    Chunk::Trailers(0)
                } else {
                    Chunk::Data(size)
                };
            }
            Chunk::Data(left) => {
                if buf.is_empty() || !data {
                    return Ok(Decoded::NeedMore);
                }
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                *left -= n as u64;
                if *left == 0 {
                    *state = Chunk::DataEnd;
                }
                return Ok(Decoded::Data(buf.split_to(n).freeze()));
            }
            Chunk::DataEnd => {
                if buf.len() < 2 {
                    return Ok(Decoded::NeedMore);
                }
                if &buf[..2] != b"\r\n" {
                    return Err(DecodeError::ChunkEnd);
                }
                let _ = buf.split_to(2);
                *state = Chunk::Size;
            }
            Chunk::Trailers(seen) => {
                // Trailer fields of an HTTP/1.1 agent are read past and dropped: an HTTP/1.1 client of
                // the gateway rarely asks for them, and gRPC (which needs them) goes over HTTP/2.
                let before = buf.len();
                let Some(line) = take_line(buf)? else {
                    return Ok(Decoded::NeedMore);
                };
                *seen += before - buf.len();
                if *seen > MAX_TRAILERS {
                    return Err(DecodeError::TrailersTooLong);
                }
                if line.is_empty() {
                    return Ok(Decoded::End);
                }
            }
        }
    }
}

/// The next line without its CRLF (or bare LF), or `None` until a whole line is buffered.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, DecodeError> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(i) if i < MAX_LINE => {
            // CRLF only: a bare LF read differently by another hop is a request-smuggling vector.
            if i == 0 || buf[i - 1] != b'\r' {
                return Err(DecodeError::BareLf);
            }
            let mut line = buf.split_to(i + 1);
            line.truncate(i - 1);
            Ok(Some(line))
        }
        Some(_) => Err(DecodeError::LineTooLong),
        None if buf.len() >= MAX_LINE => Err(DecodeError::LineTooLong),
        None => Ok(None),
    }
}

/// A chunk-size line: hexadecimal digits, then optional whitespace and `;extensions` (ignored).
fn parse_size(line: &[u8]) -> Result<u64, DecodeError> {
    let bad = || DecodeError::ChunkSize(String::from_utf8_lossy(line).into_owned());
    let digits = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    if digits == 0 || digits > 15 {
        return Err(bad());
    }
    let rest = &line[digits..];
    let rest = rest.trim_ascii_start();
    if !rest.is_empty() && rest[0] != b';' {
        return Err(bad());
    }
    let text = std::str::from_utf8(&line[..digits]).map_err(|_| bad())?;
    u64::from_str_radix(text, 16).map_err(|_| bad())
}

/// What a message head says about its body's framing and its connection, gathered from the raw
/// fields while they are parsed, so no header-map lookups are needed for it.
#[derive(Default)]
pub(crate) struct Fields {
    /// `Connection: close`.
    pub(crate) close: bool,
    /// `Connection: keep-alive`.
    pub(crate) keep_alive: bool,
    /// `Connection: upgrade` and an `Upgrade` field.
    upgrade_token: bool,
    has_upgrade: bool,
    /// `Expect: 100-continue`.
    pub(crate) expect_continue: bool,
    /// `TE: trailers`.
    pub(crate) te_trailers: bool,
    /// A `Transfer-Encoding` field, and whether its last coding is chunked.
    pub(crate) transfer_encoding: Option<bool>,
    /// A transfer coding other than chunked was named (a gateway cannot pass those on unannounced).
    pub(crate) other_coding: bool,
    length: Option<u64>,
    bad_length: Option<String>,
}

/// A `Content-Length` value: decimal digits only, no sign, no overflow. Read digit by digit: a
/// length is in nearly every head, and a string parse cost more than the rest of the field's work.
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

// === impl Fields ===

impl Fields {
    /// Takes one header field into account.
    pub(crate) fn add(&mut self, name: &str, value: &[u8]) {
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        match name.len() {
            10 if is("connection") => {
                for t in tokens(value) {
                    self.close |= t.eq_ignore_ascii_case(b"close");
                    self.keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
                    self.upgrade_token |= t.eq_ignore_ascii_case(b"upgrade");
                }
            }
            7 if is("upgrade") => self.has_upgrade = true,
            6 if is("expect") => {
                self.expect_continue |=
                    tokens(value).any(|t| t.eq_ignore_ascii_case(b"100-continue"));
            }
            2 if is("te") => {
                self.te_trailers |= tokens(value).any(|t| t.eq_ignore_ascii_case(b"trailers"));
            }
            17 if is("transfer-encoding") => {
                // Across several fields the last coding of the last one counts.
                self.other_coding |= tokens(value).any(|t| !t.eq_ignore_ascii_case(b"chunked"));
                let last = tokens(value).last();
                if let Some(t) = last {
                    self.transfer_encoding = Some(t.eq_ignore_ascii_case(b"chunked"));
                } else if self.transfer_encoding.is_none() {
                    self.transfer_encoding = Some(false);
                }
            }
            14 if is("content-length") => {
                for part in value.split(|&b| b == b',') {
                    match decimal(part.trim_ascii()) {
                        Some(n) if self.length.is_none_or(|l| l == n) => self.length = Some(n),
                        Some(_) => {
                            self.bad_length = Some("conflicting content-length values".into());
                        }
                        None => {
                            self.bad_length = Some(format!(
                                "content-length {:?}",
                                String::from_utf8_lossy(value)
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The declared `Content-Length`, or why it is unusable.
    pub(crate) fn length(&self) -> Result<Option<u64>, String> {
        match &self.bad_length {
            Some(why) => Err(why.clone()),
            None => Ok(self.length),
        }
    }

    /// True when a `Content-Length` field was present.
    pub(crate) fn has_length(&self) -> bool {
        self.length.is_some() || self.bad_length.is_some()
    }

    /// `Connection: upgrade` with an `Upgrade` field: a protocol switch.
    pub(crate) fn upgrade(&self) -> bool {
        self.upgrade_token && self.has_upgrade
    }
}

/// The comma-separated tokens of a field value, trimmed, empty ones skipped.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes and collects the body.
    fn run(mut d: Decoder, input: &[u8], step: usize) -> Result<(Vec<u8>, usize), DecodeError> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            buf.extend_from_slice(piece);
            loop {
                match d.decode(&mut buf)? {
                    Decoded::Data(b) => {
                        out.extend_from_slice(&b);
                        d.settle(&mut buf)?;
                    }
                    Decoded::End => return Ok((out, buf.len())),
                    Decoded::NeedMore => break,
                }
            }
        }
        d.at_eof()?;
        Ok((out, buf.len()))
    }

    #[test]
    fn length_bodies_stop_at_their_length() {
        for step in [1, 3, 100] {
            let (body, left) = run(Decoder::length(5), b"hello, extra", step).unwrap();
            assert_eq!(body, b"hello");
            if step == 100 {
                assert_eq!(left, 7, "the bytes after the body stay buffered");
            }
        }
        assert!(Decoder::length(0).is_done());
        assert!(matches!(
            run(Decoder::length(9), b"short", 2),
            Err(DecodeError::ClosedEarly(4))
        ));
    }

    #[test]
    fn chunked_bodies_in_any_split() {
        let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        for step in 1..wire.len() {
            let (body, left) = run(Decoder::chunked(), wire, step).unwrap();
            assert_eq!(body, b"hello, world", "step {step}");
            // Only the bytes after the body stay buffered.
            assert!(left <= 4, "step {step}");
        }
    }

    #[test]
    fn settle_finds_the_end_right_after_the_last_data() {
        let mut d = Decoder::chunked();
        let mut buf = BytesMut::from(&b"3\r\nabc\r\n0\r\n\r\n"[..]);
        assert_eq!(
            d.decode(&mut buf).unwrap(),
            Decoded::Data(Bytes::from_static(b"abc"))
        );
        d.settle(&mut buf).unwrap();
        assert!(d.is_done());
        assert!(buf.is_empty());
    }

    #[test]
    fn broken_chunked_framing_is_refused() {
        assert!(matches!(
            run(Decoder::chunked(), b"zz\r\n", 10),
            Err(DecodeError::ChunkSize(_))
        ));
        assert!(matches!(
            run(Decoder::chunked(), b"3\r\nabcX\r\n", 10),
            Err(DecodeError::ChunkEnd)
        ));
        assert!(matches!(
            run(Decoder::chunked(), b"3\r\nab", 10),
            Err(DecodeError::ClosedInChunked)
        ));
        assert!(matches!(
            run(Decoder::chunked(), b"3\nabc\r\n0\r\n\r\n", 100),
            Err(DecodeError::BareLf)
        ));
        let long = vec![b'1'; MAX_LINE + 1];
        assert!(matches!(
            run(Decoder::chunked(), &long, 10),
            Err(DecodeError::LineTooLong | DecodeError::ChunkSize(_))
        ));
    }

    #[test]
    fn fields_are_read_case_insensitively_and_by_token() {
        let mut f = Fields::default();
        f.add("Connection", b"keep-alive, Upgrade");
        f.add("UPGRADE", b"websocket");
        f.add("te", b"trailers");
        f.add("Transfer-Encoding", b"gzip, chunked");
        f.add("content-length", b"5, 5");
        assert!(f.keep_alive && !f.close && f.upgrade() && f.te_trailers);
        assert_eq!(f.transfer_encoding, Some(true));
        assert_eq!(f.length().unwrap(), Some(5));
        f.add("Content-Length", b"6");
        assert!(f.length().is_err());
        let mut f = Fields::default();
        f.add("transfer-encoding", b"chunked");
        f.add("transfer-encoding", b"gzip");
        assert_eq!(f.transfer_encoding, Some(false), "the last coding counts");
        f.add("content-length", b"+1");
        assert!(f.length().is_err() && f.has_length());
    }

    #[test]
    fn content_lengths_are_plain_decimal_numbers() {
        for (value, expected) in [
            (&b"0"[..], Some(0)),
            (b"0042", Some(42)),
            (b"18446744073709551615", Some(u64::MAX)),
            (b"18446744073709551616", None),
            (b"", None),
            (b"+1", None),
            (b"-1", None),
            (b"1 2", None),
            (b"0x10", None),
            (b"\xd9\xa3", None),
        ] {
            assert_eq!(
                decimal(value),
                expected,
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
        let mut f = Fields::default();
        f.add("Content-Length", b" 7 ");
        assert_eq!(f.length().unwrap(), Some(7));
    }

    #[test]
    fn eof_bodies_end_with_the_connection() {
        let (body, _) = run(Decoder::Eof, b"all of it", 4).unwrap();
        assert_eq!(body, b"all of it");
    }
}
