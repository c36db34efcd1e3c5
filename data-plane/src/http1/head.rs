//! Header fields of HTTP/1.1 heads, shared by the server (requests in, responses out) and the agent
//! client (requests out, responses in): where parsed fields lie in the received bytes, and fields
//! written as lines.

use bytes::{BufMut, BytesMut};
use http::{HeaderMap, HeaderName};

use super::fields::Fields;

/// Where a parsed field lies in its head: name start and end, value start and end.
pub(crate) type Span = [usize; 4];

/// Appends to `out` where each field httparse found in `head` (which starts at `base`) lies, and
/// returns what the fields say about framing.
pub(crate) fn spans(base: usize, parsed: &[httparse::Header<'_>], out: &mut Vec<Span>) -> Fields {
    let mut fields = Fields::default();
    for h in parsed {
        fields.add(h.name, h.value);
        let name = h.name.as_ptr() as usize - base;
        let value = h.value.as_ptr() as usize - base;
        out.push([name, name + h.name.len(), value, value + h.value.len()]);
    }
    fields
}

/// Writes every field of `headers` but those `skip` names, as `name: value` lines.
pub(crate) fn write(dst: &mut BytesMut, headers: &HeaderMap, skip: impl Fn(&HeaderName) -> bool) {
    for (name, value) in headers {
        if !skip(name) {
            put_field(dst, name.as_str().as_bytes(), &[value.as_bytes()]);
        }
    }
}

/// Writes one `name: value` line, the value given in parts (a joined `Via`, say).
///
/// Inlined: the gateway's own names and values are constants at most call sites, and then copy as a
/// few stores instead of a call to `memcpy` each.
#[inline(always)]
pub(crate) fn put_field(dst: &mut BytesMut, name: &[u8], value: &[&[u8]]) {
    dst.put_slice(name);
    dst.put_slice(b": ");
    for part in value {
        dst.put_slice(part);
    }
    dst.put_slice(b"\r\n");
}

/// True when `HeaderValue::to_str` would accept `v` (visible ASCII, space and tab): a value the
/// gateway reads as text.
pub(crate) fn visible(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
}

/// Writes `n` in decimal (lengths in heads; no formatting machinery per request).
pub(crate) fn put_decimal(dst: &mut BytesMut, n: u64) {
    put_digits(dst, n, 10);
}

/// Writes `n` in lower-case hexadecimal (chunk sizes).
pub(crate) fn put_hex(dst: &mut BytesMut, n: u64) {
    put_digits(dst, n, 16);
}

fn put_digits(dst: &mut BytesMut, mut n: u64, base: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        // The remainder is below 16.
        buf[i] = DIGITS[(n % base) as usize];
        n /= base;
        if n == 0 {
            break;
        }
    }
    dst.put_slice(&buf[i..]);
}

/// Where the head at the start of `buf` ends (just past its blank line, CRLF or bare LF), searching
/// from `from` (a resumed search passes where the last one stopped).
pub(crate) fn end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(2).min(buf.len());
    // A head has a handful of line ends: visiting each (memchr) beats sliding a window over every
    // byte.
    for i in memchr::memchr_iter(b'\n', &buf[start..]) {
        let next = start + i + 1;
        match buf.get(next..) {
            Some([b'\n', ..]) => return Some(next + 1),
            Some([b'\r', b'\n', ..]) => return Some(next + 2),
            _ => {}
        }
    }
    None
}

/// The lines of a head's fields, names lower-cased and sorted (order across names carries no
/// meaning), for tests comparing two ways of writing them.
#[cfg(test)]
pub(crate) fn sorted_lines(head: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8_lossy(head)
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(": ") {
            Some((n, v)) => format!("{}: {v}", n.to_ascii_lowercase()),
            None => l.to_string(),
        })
        .collect();
    lines.sort();
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_in_decimal_and_hex() {
        for n in [0, 9, 10, 255, 4096, u64::MAX] {
            let mut d = BytesMut::new();
            put_decimal(&mut d, n);
            assert_eq!(&d[..], n.to_string().as_bytes());
            let mut h = BytesMut::new();
            put_hex(&mut h, n);
            assert_eq!(&h[..], format!("{n:x}").as_bytes());
        }
    }

    #[test]
    fn a_head_ends_at_its_first_blank_line() {
        assert_eq!(end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody", 0), Some(24));
        assert_eq!(end(b"GET / HTTP/1.1\nA: b\n\nbody", 0), Some(21));
        assert_eq!(end(b"GET / HTTP/1.1\r\nA: b\n\r\n\r\n", 0), Some(23));
        assert_eq!(end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
        assert_eq!(end(b"GET / HTTP/1.1\r\nA: b\r\n\r", 0), None);
        // Resumed where the last search stopped, with the blank line split across reads.
        let whole = b"GET / HTTP/1.1\r\nA: b\r\n\r\n";
        assert_eq!(end(whole, whole.len() - 1), Some(whole.len()));
        assert_eq!(end(whole, whole.len() - 2), Some(whole.len()));
    }
}
