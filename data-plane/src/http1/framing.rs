//! HTTP/1.1 message body framing (RFC 9112 §6.3 and §7.1), for requests from clients and responses
//! from agents alike: a known length, chunked, or until the connection closes. Pure byte handling over
//! a connection's read buffer, so it is tested alone.
//!
//! Any framing error is final: the decoder stays failed, so nothing after a broken body is ever
//! read as the start of another message (RFC 9112 §6.3: invalid framing is unrecoverable).

mod chunked;

use bytes::{Buf, Bytes, BytesMut};

use self::chunked::Step;
pub(crate) use self::chunked::{Chunk, MAX_LINE, MAX_TRAILERS};

/// Why a body's framing is broken.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    /// The connection closed before the body's end.
    #[error("the connection closed {0} bytes before the end of the body")]
    ClosedEarly(u64),
    /// The connection closed inside a chunked body.
    #[error("the connection closed inside a chunked body")]
    ClosedInChunked,
    /// A chunk-size line that is not hexadecimal digits, optional SP/HTAB and `;` extensions.
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
    /// A trailer line that is not a field line.
    #[error("invalid trailer line {0:?}")]
    Trailer(String),
    /// The body's framing broke earlier: nothing more is read from it.
    #[error("the body's framing broke earlier")]
    Failed,
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
#[derive(Debug, Clone)]
pub(crate) enum Decoder {
    /// This many bytes remain.
    Length(u64),
    /// Chunked transfer coding.
    Chunked(Chunk),
    /// Everything until the connection closes.
    Eof,
    /// The body has ended.
    Done,
    /// The framing broke: every later call fails.
    Failed,
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

    /// Takes the next body bytes (or the end) out of `buf`. An error leaves the decoder failed.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, DecodeError> {
        match self {
            Self::Done => Ok(Decoded::End),
            Self::Failed => Err(DecodeError::Failed),
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
            Self::Chunked(state) => match chunked::step(state, buf, true) {
                Ok((framing, step)) => {
                    buf.advance(framing);
                    Ok(match step {
                        Step::Data(n) => Decoded::Data(buf.split_to(n).freeze()),
                        Step::End => {
                            *self = Self::Done;
                            Decoded::End
                        }
                        Step::NeedMore => Decoded::NeedMore,
                    })
                }
                Err(e) => {
                    *self = Self::Failed;
                    Err(e)
                }
            },
        }
    }

    /// Consumes framing that follows data already taken (a chunk's CRLF, the last chunk, trailers) so
    /// the end is known without waiting for another read; stops before the next data. An error
    /// leaves the decoder failed.
    pub(crate) fn settle(&mut self, buf: &mut BytesMut) -> Result<(), DecodeError> {
        match self {
            Self::Failed => Err(DecodeError::Failed),
            Self::Chunked(state) => match chunked::step(state, buf, false) {
                Ok((framing, step)) => {
                    buf.advance(framing);
                    if step == Step::End {
                        *self = Self::Done;
                    }
                    Ok(())
                }
                Err(e) => {
                    *self = Self::Failed;
                    Err(e)
                }
            },
            _ => Ok(()),
        }
    }

    /// Checks the framing of the bytes in hand without taking any: an error here is one the body
    /// would meet when decoded, found before any of it is passed on.
    pub(crate) fn check(&self, buf: &[u8]) -> Result<(), DecodeError> {
        let Self::Chunked(state) = self else {
            return if matches!(self, Self::Failed) {
                Err(DecodeError::Failed)
            } else {
                Ok(())
            };
        };
        let mut state = *state;
        let mut at = 0;
        loop {
            let (framing, step) = chunked::step(&mut state, &buf[at..], true)?;
            at += framing;
            match step {
                Step::Data(n) => at += n,
                Step::End | Step::NeedMore => return Ok(()),
            }
        }
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
            Self::Failed => Err(DecodeError::Failed),
        }
    }
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
        let long = vec![b'1'; MAX_LINE + 3];
        assert!(matches!(
            run(Decoder::chunked(), &long, 10),
            Err(DecodeError::LineTooLong | DecodeError::ChunkSize(_))
        ));
    }

    #[test]
    fn a_framing_error_is_final() {
        // The audit's reproducer: the bad size line must not be dropped and the next bytes read on.
        let mut d = Decoder::chunked();
        let mut buf = BytesMut::from(&b"ZZ\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n"[..]);
        assert!(d.decode(&mut buf).is_err());
        assert!(matches!(d, Decoder::Failed));
        assert!(matches!(d.decode(&mut buf), Err(DecodeError::Failed)));
        assert!(d.settle(&mut buf).is_err() && d.at_eof().is_err());
        assert!(!d.is_done());
        for bad in [
            &b"5\r\nhello\r\nZZ\r\n0\r\n\r\n"[..],
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\r\n\r\n0\r\n\r\n",
            b"5\r\r\nhello\r\n0\r\n\r\n",
            b"5\rX\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"0\r\nx\x0cy: 1\r\n\r\n",
        ] {
            assert!(
                Decoder::chunked().check(bad).is_err(),
                "checked: {:?}",
                String::from_utf8_lossy(bad)
            );
            assert!(
                run(Decoder::chunked(), bad, 3).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // The dry check reads what is in hand only, and takes nothing.
        assert!(Decoder::chunked().check(b"5\r\nhel").is_ok());
        assert!(Decoder::length(3).check(b"anything").is_ok());
    }

    #[test]
    fn eof_bodies_end_with_the_connection() {
        let (body, _) = run(Decoder::Eof, b"all of it", 4).unwrap();
        assert_eq!(body, b"all of it");
    }
}
