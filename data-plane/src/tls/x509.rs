//! Just enough DER to read a certificate's `notAfter` for `/health`, without an X.509 parser.

/// The `notAfter` of the DER certificate `der`, as RFC 3339 (`2030-01-02T00:00:00Z`); `None` when the
/// certificate does not have the expected shape.
pub(super) fn not_after(der: &[u8]) -> Option<String> {
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
    //   signature, issuer, validity SEQUENCE { notBefore, notAfter }, ... }, ... }
    let (_, cert, _) = read(der).filter(|(tag, ..)| *tag == SEQUENCE)?;
    let (_, tbs, _) = read(cert).filter(|(tag, ..)| *tag == SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = read(rest)?.2;
    }
    for _ in 0..3 {
        rest = read(rest)?.2; // serialNumber, signature, issuer
    }
    let (_, validity, _) = read(rest).filter(|(tag, ..)| *tag == SEQUENCE)?;
    let (_, _, after_before) = read(validity)?;
    let (tag, time, _) = read(after_before)?;
    let time = std::str::from_utf8(time).ok()?;
    let digits = time.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let full = match (tag, digits.len()) {
        // RFC 5280 §4.1.2.5.1: two-digit years 50..99 are 19xx.
        (UTC_TIME, 12) if digits < "50" => format!("20{digits}"),
        (UTC_TIME, 12) => format!("19{digits}"),
        (GENERALIZED_TIME, 14) => digits.to_string(),
        _ => return None,
    };
    let f = |r: std::ops::Range<usize>| full.get(r);
    Some(format!(
        "{}-{}-{}T{}:{}:{}Z",
        f(0..4)?,
        f(4..6)?,
        f(6..8)?,
        f(8..10)?,
        f(10..12)?,
        f(12..14)?
    ))
}

const SEQUENCE: u8 = 0x30;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// One DER element at the start of `input`: `(tag, value, rest)`.
fn read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, mut input) = input.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, tail) = input.split_at_checked(n)?;
        input = tail;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    let (value, rest) = input.split_at_checked(len)?;
    Some((tag, value, rest))
}
