//! The chunked transfer coding's grammar (RFC 9112 §7.1), read strictly: a chunk-size line is hex
//! digits, optional SP/HTAB, then `;` extensions of `token[=token|quoted-string]`, ended by CRLF;
//! trailer lines are field lines (RFC 9112 §5). Bare CR, bare LF, signs, `0x` prefixes, leading
//! whitespace, obs-fold and over-long lines are refused. Runs over a slice, so the same grammar both
//! decodes a body and checks the bytes in hand before any of it is passed on.

use super::DecodeError;

/// The longest chunk-size line (with extensions) or trailer line accepted.
pub(crate) const MAX_LINE: usize = 4 * 1024;
/// The most trailer bytes accepted after the last chunk.
pub(crate) const MAX_TRAILERS: usize = 16 * 1024;
/// The most hex digits in a chunk size (leading zeros included): 16 fill a `u64`.
const MAX_DIGITS: usize = 16;

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// What follows the framing bytes one [`step`] consumed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// The next this many bytes are body data (the state already counts them as taken).
    Data(usize),
    /// The body ended.
    End,
    /// More bytes must be read first.
    NeedMore,
}

/// Runs the chunked framing over `input` from `state`: how many framing bytes it consumed, then what
/// follows them. With `data: false` it stops before any chunk data (giving `NeedMore` there).
pub(super) fn step(
    state: &mut Chunk,
    input: &[u8],
    data: bool,
) -> Result<(usize, Step), DecodeError> {
    let mut at = 0;
    loop {
        let rest = &input[at..];
        match state {
            Chunk::Size => {
                let Some((line, used)) = line(rest)? else {
                    return Ok((at, Step::NeedMore));
                };
                let size = size_line(line)?;
                at += used;
                *state = if size == 0 {
                    Chunk::Trailers(0)
                } else {
                    Chunk::Data(size)
                };
            }
            Chunk::Data(left) => {
                if rest.is_empty() || !data {
                    return Ok((at, Step::NeedMore));
                }
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(rest.len());
                *left -= n as u64;
                if *left == 0 {
                    *state = Chunk::DataEnd;
                }
                return Ok((at, Step::Data(n)));
            }
            Chunk::DataEnd => match rest {
                [b'\r', b'\n', ..] => {
                    at += 2;
                    *state = Chunk::Size;
                }
                [] | [b'\r'] => return Ok((at, Step::NeedMore)),
                _ => return Err(DecodeError::ChunkEnd),
            },
            Chunk::Trailers(seen) => {
                let Some((line, used)) = line(rest)? else {
                    if *seen + rest.len() > MAX_TRAILERS {
                        return Err(DecodeError::TrailersTooLong);
                    }
                    return Ok((at, Step::NeedMore));
                };
                *seen += used;
                if *seen > MAX_TRAILERS {
                    return Err(DecodeError::TrailersTooLong);
                }
                at += used;
                if line.is_empty() {
                    return Ok((at, Step::End));
                }
                // Trailer fields are checked, then dropped: an HTTP/1.1 client of the gateway rarely
                // asks for them, and gRPC (which needs them) goes over HTTP/2.
                field_line(line)?;
            }
        }
    }
}

/// The next line without its CRLF and the bytes it took, or `None` until a whole line is in.
fn line(input: &[u8]) -> Result<Option<(&[u8], usize)>, DecodeError> {
    let window = &input[..input.len().min(MAX_LINE + 2)];
    match memchr::memchr(b'\n', window) {
        Some(i) => {
            // CRLF only: a bare LF read differently by another hop is a request-smuggling vector.
            if i == 0 || input[i - 1] != b'\r' {
                return Err(DecodeError::BareLf);
            }
            if i - 1 > MAX_LINE {
                return Err(DecodeError::LineTooLong);
            }
            Ok(Some((&input[..i - 1], i + 1)))
        }
        None if input.len() > MAX_LINE + 1 => Err(DecodeError::LineTooLong),
        None => Ok(None),
    }
}

/// A chunk-size line: its size.
fn size_line(line: &[u8]) -> Result<u64, DecodeError> {
    let bad = || DecodeError::ChunkSize(String::from_utf8_lossy(line).into_owned());
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > MAX_DIGITS {
        return Err(bad());
    }
    let size = line[..digits].iter().try_fold(0u64, |n, &b| {
        let d = (b as char).to_digit(16)?;
        n.checked_mul(16)?.checked_add(u64::from(d))
    });
    let size = size.ok_or_else(bad)?;
    extensions(&line[digits..]).ok_or_else(bad)?;
    Ok(size)
}

/// `*( BWS ";" BWS name [ BWS "=" BWS value ] )` then BWS, where a name is a token and a value a
/// token or a quoted string.
fn extensions(mut rest: &[u8]) -> Option<()> {
    loop {
        rest = ws(rest);
        match rest.split_first() {
            None => return Some(()),
            Some((b';', after)) => rest = ws(after),
            Some(_) => return None,
        }
        let name = token_len(rest);
        if name == 0 {
            return None;
        }
        rest = &rest[name..];
        let after = ws(rest);
        if let Some((b'=', value)) = after.split_first() {
            let value = ws(value);
            let n = match value.first() {
                Some(b'"') => quoted_len(value)?,
                _ => token_len(value),
            };
            if n == 0 {
                return None;
            }
            rest = &value[n..];
        }
    }
}

/// A trailer line: `name ":" OWS value OWS`, the name a token, the value visible characters, SP
/// and HTAB (no obs-fold, no control characters).
fn field_line(line: &[u8]) -> Result<(), DecodeError> {
    let name = token_len(line);
    let ok = name > 0
        && line.get(name) == Some(&b':')
        && line[name + 1..]
            .iter()
            .all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80);
    if ok {
        Ok(())
    } else {
        Err(DecodeError::Trailer(
            String::from_utf8_lossy(line).into_owned(),
        ))
    }
}

/// `s` past its leading SP and HTAB.
fn ws(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &s[n..]
}

/// The length of the token `s` starts with.
fn token_len(s: &[u8]) -> usize {
    s.iter().take_while(|&&b| is_tchar(b)).count()
}

/// A token character (RFC 9110 §5.6.2).
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The length of the quoted string `s` starts with (its quotes included), or `None` when it is
/// not one.
fn quoted_len(s: &[u8]) -> Option<usize> {
    let mut i = 1;
    loop {
        match *s.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => {
                let escaped = *s.get(i + 1)?;
                if !(escaped == b'\t'
                    || escaped == b' '
                    || (0x21..=0x7e).contains(&escaped)
                    || escaped >= 0x80)
                {
                    return None;
                }
                i += 2;
            }
            b if b == b'\t'
                || b == b' '
                || b == 0x21
                || (0x23..=0x7e).contains(&b)
                || b >= 0x80 =>
            {
                i += 1;
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_lines_are_read_strictly() {
        for (line, size) in [
            (&b"5"[..], 5),
            (b"A", 10),
            (b"00000000000000ff", 255),
            (b"5 ", 5),
            (b"5\t", 5),
            (b"5;a", 5),
            (b"5 ; a = b", 5),
            (b"5;a=\"q \\\" d\";b", 5),
            (b"5;a;b=c", 5),
            (b"ffffffffffffffff", u64::MAX),
        ] {
            assert_eq!(
                size_line(line).ok(),
                Some(size),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
        for bad in [
            &b""[..],
            b" 5",
            b"+5",
            b"-1",
            b"0x5",
            b"1_0",
            b"5\r",
            b"5\x0c",
            b"5;",
            b"5;=a",
            b"5;a=",
            b"5;a=\"open",
            b"5;a\rb",
            b"5 x",
            b"10000000000000000",
            b"000000000000000005",
            b"5;a=b c",
        ] {
            assert!(
                size_line(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn trailer_lines_are_field_lines() {
        for good in [&b"x-a: 1"[..], b"x-a:", b"x-a:\tv w "] {
            assert!(
                field_line(good).is_ok(),
                "{:?}",
                String::from_utf8_lossy(good)
            );
        }
        for bad in [
            &b" x-a: 1"[..],
            b"x-a 1",
            b": 1",
            b"x a: 1",
            b"x-a: \r1",
            b"x-a: \x0c",
        ] {
            assert!(
                field_line(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn lines_end_with_crlf_within_the_limit() {
        assert!(matches!(line(b"5\n"), Err(DecodeError::BareLf)));
        assert!(matches!(line(b"\n"), Err(DecodeError::BareLf)));
        assert_eq!(line(b"5\r\nrest").unwrap(), Some((&b"5"[..], 3)));
        assert_eq!(line(b"5\r").unwrap(), None);
        let long = vec![b'a'; MAX_LINE + 2];
        assert!(matches!(line(&long), Err(DecodeError::LineTooLong)));
        let mut just = vec![b'a'; MAX_LINE];
        just.extend_from_slice(b"\r\n");
        assert_eq!(line(&just).unwrap().map(|(_, n)| n), Some(MAX_LINE + 2));
    }
}
