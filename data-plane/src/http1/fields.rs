//! What a message head's fields say about its body's framing and its connection
//! (`Content-Length`, `Transfer-Encoding`, `Connection`, `Expect`, `TE`), gathered while the head is
//! parsed, so no header-map lookups are needed for it.

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
    /// `Transfer-Encoding` fields seen.
    pub(crate) te_fields: u8,
    /// The one `Transfer-Encoding` field's value is exactly `chunked` (ASCII case-insensitive).
    te_exact: bool,
    length: Option<u64>,
    /// More than one `Content-Length` value (in one list or several fields), equal or not.
    pub(crate) length_repeated: bool,
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
                self.te_fields = self.te_fields.saturating_add(1);
                self.te_exact = value.eq_ignore_ascii_case(b"chunked");
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
                    self.length_repeated |= self.has_length();
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

    /// Exactly one `Transfer-Encoding` field, whose value is exactly `chunked`: the only transfer
    /// coding a request may use here.
    pub(crate) fn plain_chunked(&self) -> bool {
        self.te_fields == 1 && self.te_exact
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
        assert!(!f.plain_chunked());
        assert_eq!(f.length().unwrap(), Some(5));
        assert!(
            f.length_repeated,
            "a repeated length is noticed even when equal"
        );
        f.add("Content-Length", b"6");
        assert!(f.length().is_err());
        let mut f = Fields::default();
        f.add("transfer-encoding", b"chunked");
        assert!(f.plain_chunked() && !f.length_repeated);
        f.add("content-length", b"3");
        assert!(!f.length_repeated);
        f.add("transfer-encoding", b"gzip");
        assert_eq!(f.transfer_encoding, Some(false), "the last coding counts");
        assert!(!f.plain_chunked(), "two fields");
        f.add("content-length", b"+1");
        assert!(f.length().is_err() && f.has_length());
        for odd in [&b"Chunked"[..], b"CHUNKED"] {
            let mut f = Fields::default();
            f.add("Transfer-Encoding", odd);
            assert!(f.plain_chunked(), "coding names are case-insensitive");
        }
        for bad in [
            &b"chunked, chunked"[..],
            b"chunked,",
            b", chunked",
            b"identity",
            b"chunked;q=1",
        ] {
            let mut f = Fields::default();
            f.add("Transfer-Encoding", bad);
            assert!(!f.plain_chunked(), "{:?}", String::from_utf8_lossy(bad));
        }
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
}
