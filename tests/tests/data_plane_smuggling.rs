//! Request smuggling and parsing-policy regressions through a real data plane, in front of a
//! byte-recording agent: every reproducer of the HTTP/1.1 codec audit (issue 24), and the classic
//! families from public catalogues. Each case sends its bytes on a fresh connection and asserts the
//! statuses the client gets, whether the gateway ends the connection, and exactly which requests
//! reached the agent (and that nothing named `smuggled` did unless expected).
//!
//! Sources cited per case: PortSwigger's request-smuggling research ("PS"), defparam/smuggler's
//! Transfer-Encoding mutations ("smuggler"), narfindustries/http-garden ("garden"), MDA2AV/Http11Probe
//! ("probe"), RFC 9112/9110/6455 sections, and the audit's reproducers ("audit #n").

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use openclaw_e2e::{DataPlane, SAMPLE_ACCEPT, Seen, WireAgent, summary};
use serde_json::json;

/// How the gateway leaves the connection after the case's answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// Closed (a refused message ends its connection).
    Close,
    /// Still serving: a probe request on it is answered.
    Open,
}
use End::{Close, Open};

struct Case {
    name: &'static str,
    source: &'static str,
    send: Vec<u8>,
    statuses: &'static [u16],
    end: End,
    agent: &'static [&'static str],
    /// The body breaks after the request was passed on (a large body read in several reads): the
    /// agent may have seen its head, never a whole request.
    cut_ok: bool,
}

fn case(
    name: &'static str,
    source: &'static str,
    send: impl AsRef<[u8]>,
    statuses: &'static [u16],
    end: End,
    agent: &'static [&'static str],
) -> Case {
    Case {
        name,
        source,
        send: send.as_ref().to_vec(),
        statuses,
        end,
        agent,
        cut_ok: false,
    }
}

/// A case refused with 400, its connection closed, nothing passed on.
fn refused(name: &'static str, source: &'static str, send: impl AsRef<[u8]>) -> Case {
    case(name, source, send, &[400], Close, &[])
}

/// A chunked POST to `/` whose body is `body`, followed by a smuggled request.
fn chunked(body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n{body}GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    .into_bytes()
}

/// A chunked POST to `/` whose body is `body`, alone on its connection.
fn chunked_alone(body: &str) -> Vec<u8> {
    format!("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n{body}").into_bytes()
}

/// A CL.TE attack with `te` as the Transfer-Encoding line (defparam/smuggler's mutations).
fn cl_te(te: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n{te}\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    .into_bytes()
}

/// A request whose only Transfer-Encoding line is `te`, with a valid chunked body.
fn te_alone(te: &str) -> Vec<u8> {
    format!("POST / HTTP/1.1\r\nHost: h\r\n{te}\r\n\r\n5\r\nhello\r\n0\r\n\r\n").into_bytes()
}

/// A GET whose head carries `fields` (each ending in CRLF).
fn get_with(fields: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\n{fields}\r\n").into_bytes()
}

/// A POST with `fields` and the body `body`.
fn post_with(fields: &str, body: &str) -> Vec<u8> {
    format!("POST / HTTP/1.1\r\nHost: h\r\n{fields}\r\n{body}").into_bytes()
}

const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn cases() -> Vec<Case> {
    let mut v = vec![
        // --- The audit's reproducers (issue 24) ---
        refused(
            "invalid chunk size, then a request",
            "audit #1; RFC 9112 §6.3, §7.1",
            chunked("ZZ\r\n0\r\n\r\n"),
        ),
        refused(
            "invalid size after a valid chunk",
            "audit #1",
            chunked("5\r\nhello\r\nZZ\r\n0\r\n\r\n"),
        ),
        refused(
            "0x-prefixed chunk size",
            "audit #1; garden",
            chunked("0x5\r\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "extra empty line before the last chunk",
            "audit #1; probe",
            chunked("5\r\nhello\r\n\r\n0\r\n\r\n"),
        ),
        refused(
            "bare CR in the size line",
            "audit #1, #6; RFC 9112 §2.2",
            chunked("5\rX\r\nhello\r\n0\r\n\r\n"),
        ),
        case(
            "h2c upgrade is served as a plain request",
            "audit #2; RFC 9113 §3.1 (h2c removed)",
            "GET /h2c HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
            &[200],
            Open,
            &["GET /h2c"],
        ),
        refused(
            "TE with CL",
            "audit #3; PS CL.TE",
            cl_te("Transfer-Encoding: chunked"),
        ),
        refused(
            "TE on HTTP/1.0",
            "audit #3; RFC 9112 §6.1",
            "POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        refused(
            "chunked, chunked",
            "audit #3; smuggler",
            te_alone("Transfer-Encoding: chunked, chunked"),
        ),
        refused(
            "empty list element",
            "audit #3; smuggler",
            te_alone("Transfer-Encoding: , chunked"),
        ),
        refused(
            "two TE fields",
            "audit #3; smuggler",
            te_alone("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"),
        ),
        refused(
            "TE value with a trailing TAB",
            "audit #3; smuggler",
            te_alone("Transfer-Encoding: chunked\t"),
        ),
        refused(
            "bare word target",
            "audit #4; RFC 9112 §3.2",
            "GET ! HTTP/1.1\r\nHost: h\r\n\r\n",
        ),
        refused(
            "authority-form target on GET",
            "audit #4; RFC 9112 §3.2.3",
            "GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n",
        ),
        refused(
            "asterisk target on GET",
            "audit #4; RFC 9112 §3.2.4",
            "GET * HTTP/1.1\r\nHost: h\r\n\r\n",
        ),
        case(
            "OPTIONS * is answered by the gateway",
            "audit #4; RFC 9112 §3.2.4",
            "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
            &[200],
            Open,
            &[],
        ),
        case(
            "auth rule on / still applies by path",
            "audit #4",
            "GET /admin HTTP/1.1\r\nHost: h\r\n\r\n",
            &[401],
            Open,
            &[],
        ),
        case(
            "absolute-form routes by its path",
            "audit #4; RFC 9112 §3.2.2",
            "GET http://h/admin HTTP/1.1\r\nHost: h\r\n\r\n",
            &[401],
            Open,
            &[],
        ),
        refused(
            "chunk size with +",
            "audit #5",
            chunked("+5\r\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "chunk size -1",
            "audit #5",
            chunked("-1\r\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "chunk size with leading space",
            "audit #5; garden",
            chunked(" 5\r\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "chunk size 1_0",
            "audit #5",
            chunked("1_0\r\n0123456789abcdef\r\n0\r\n\r\n"),
        ),
        refused(
            "chunk size overflow",
            "audit #5; garden",
            chunked("10000000000000005\r\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "empty chunk size",
            "audit #5",
            chunked("\r\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "bare LF after the chunk size",
            "audit #5; PS chunk-line",
            chunked("5\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "chunk data not followed by CRLF",
            "audit #5; garden",
            chunked("5\r\nhelloXX0\r\n\r\n"),
        ),
        refused(
            "form feed in the size line",
            "audit #6",
            chunked("5\x0c\r\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "bare CR in an extension",
            "audit #6",
            chunked("5;a\rb\r\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "form feed in a trailer",
            "audit #6",
            chunked("0\r\nx-t: a\x0cb\r\n\r\n"),
        ),
        refused(
            "bare CR in a trailer",
            "audit #6",
            chunked("0\r\nx-t: a\rb\r\n\r\n"),
        ),
        refused(
            "no Host",
            "audit #7; RFC 9112 §3.2",
            "GET / HTTP/1.1\r\n\r\n",
        ),
        refused(
            "two Host fields",
            "audit #7; RFC 9112 §3.2",
            "GET / HTTP/1.1\r\nHost: h\r\nHost: evil\r\n\r\n",
        ),
        refused(
            "comma-listed Host",
            "audit #7",
            "GET / HTTP/1.1\r\nHost: h, evil\r\n\r\n",
        ),
        refused(
            "Host with user info",
            "audit #7; RFC 9110 §4.2.4",
            "GET / HTTP/1.1\r\nHost: u@evil\r\n\r\n",
        ),
        case(
            "absolute-form authority wins over Host",
            "audit #7; RFC 9112 §3.2.2",
            "GET http://other.example/p HTTP/1.1\r\nHost: h\r\n\r\n",
            &[200],
            Open,
            &["GET /p x-forwarded-host=other.example"],
        ),
        case(
            "CONNECT is 405",
            "audit #8; RFC 9110 §9.3.6",
            "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
            &[405],
            Close,
            &[],
        ),
        case(
            "underscore names are dropped",
            "audit #9; nginx underscores_in_headers",
            get_with("Host: h\r\nX_Forwarded_For: 6.6.6.6\r\nX-Smuggled: no\r\n"),
            &[200],
            Open,
            &["GET / x-smuggled=no"],
        ),
        // --- CL.TE and TE.CL (PortSwigger) ---
        refused(
            "CL.TE classic",
            "PS CL.TE",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED",
        ),
        refused(
            "TE.CL classic",
            "PS TE.CL",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
        ),
        refused(
            "CL after TE",
            "PS TE.CL",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n",
        ),
        refused(
            "CL 0 with TE",
            "PS CL.0",
            cl_te("Transfer-Encoding: chunked\r\nContent-Length: 0"),
        ),
        // --- TE.TE obfuscations (defparam/smuggler) ---
        refused(
            "space before the colon",
            "smuggler; RFC 9112 §5.1",
            cl_te("Transfer-Encoding : chunked"),
        ),
        refused(
            "two spaces before the value",
            "smuggler",
            cl_te("Transfer-Encoding:  chunked"),
        ),
        refused(
            "TAB before the value",
            "smuggler",
            cl_te("Transfer-Encoding:\tchunked"),
        ),
        refused(
            "no space before the value",
            "smuggler",
            cl_te("Transfer-Encoding:chunked"),
        ),
        refused("xchunked", "smuggler", cl_te("Transfer-Encoding: xchunked")),
        refused(
            "chunked-false",
            "smuggler",
            cl_te("Transfer-Encoding: chunked-false"),
        ),
        refused(
            "quoted chunked",
            "smuggler",
            cl_te("Transfer-Encoding: \"chunked\""),
        ),
        refused(
            "mixed case value",
            "smuggler",
            cl_te("Transfer-Encoding: cHuNkEd"),
        ),
        refused(
            "mixed case name",
            "smuggler",
            cl_te("TrAnSfEr-EnCoDiNg: chunked"),
        ),
        refused(
            "identity, chunked",
            "smuggler",
            cl_te("Transfer-Encoding: identity, chunked"),
        ),
        refused(
            "chunked, identity",
            "smuggler",
            cl_te("Transfer-Encoding: chunked, identity"),
        ),
        refused(
            "second TE field x",
            "smuggler",
            cl_te("Transfer-Encoding: chunked\r\nTransfer-encoding: x"),
        ),
        refused(
            "obs-fold before the value",
            "smuggler; RFC 9112 §5.2",
            cl_te("Transfer-Encoding:\r\n chunked"),
        ),
        refused(
            "leading space on the line (fold)",
            "smuggler",
            cl_te("X: y\r\n Transfer-Encoding: chunked"),
        ),
        refused(
            "vertical tab before the value",
            "smuggler",
            cl_te("Transfer-Encoding: \x0bchunked"),
        ),
        refused(
            "form feed before the value",
            "smuggler",
            cl_te("Transfer-Encoding: \x0cchunked"),
        ),
        refused(
            "NUL after the value",
            "smuggler",
            cl_te("Transfer-Encoding: chunked\x00"),
        ),
        refused(
            "NUL in the name",
            "smuggler",
            cl_te("Transfer-Encoding\x00: chunked"),
        ),
        refused(
            "bare LF before the TE line",
            "smuggler; RFC 9112 §2.2",
            cl_te("X: y\nTransfer-Encoding: chunked"),
        ),
        refused(
            "chunk (truncated)",
            "smuggler",
            te_alone("Transfer-Encoding: chunk"),
        ),
        refused(
            "chunked;q=1",
            "smuggler",
            te_alone("Transfer-Encoding: chunked;q=1"),
        ),
        refused(
            "gzip, chunked",
            "RFC 9112 §6.1",
            te_alone("Transfer-Encoding: gzip, chunked"),
        ),
        refused(
            "gzip alone",
            "RFC 9112 §6.1",
            te_alone("Transfer-Encoding: gzip"),
        ),
        refused("empty TE", "smuggler", te_alone("Transfer-Encoding: ")),
        refused(
            "trailing space after chunked",
            "smuggler",
            te_alone("Transfer-Encoding: chunked "),
        ),
        refused(
            "chunked, (trailing comma)",
            "smuggler",
            te_alone("Transfer-Encoding: chunked,"),
        ),
        case(
            "TE with underscore is not TE",
            "smuggler; nginx underscores_in_headers",
            post_with(
                "Content-Length: 5\r\nTransfer_Encoding: chunked\r\n",
                "0\r\n\r\n",
            ),
            &[200],
            Open,
            &["POST / body=0\r\n\r\n"],
        ),
        case(
            "TAB before chunked alone is chunked",
            "RFC 9112 §5.1 (OWS)",
            te_alone("Transfer-Encoding:\tchunked"),
            &[200],
            Open,
            &["POST / body=hello"],
        ),
        case(
            "upper-case CHUNKED alone is chunked",
            "RFC 9112 §7 (case-insensitive codings)",
            te_alone("Transfer-Encoding: CHUNKED"),
            &[200],
            Open,
            &["POST / body=hello"],
        ),
        // --- Content-Length: duplicates and non-numbers (PortSwigger, Http11Probe) ---
        refused(
            "two equal lengths",
            "probe; RFC 9112 §6.3",
            post_with("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"),
        ),
        refused(
            "two different lengths",
            "PS; RFC 9112 §6.3",
            post_with("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
        ),
        refused(
            "listed equal lengths",
            "probe",
            post_with("Content-Length: 5, 5\r\n", "hello"),
        ),
        refused(
            "listed different lengths",
            "probe",
            post_with("Content-Length: 5, 6\r\n", "hello!"),
        ),
        refused(
            "length with +",
            "probe",
            post_with("Content-Length: +5\r\n", "hello"),
        ),
        refused(
            "negative length",
            "probe",
            post_with("Content-Length: -5\r\n", "hello"),
        ),
        refused(
            "hex length",
            "probe",
            post_with("Content-Length: 0x5\r\n", "hello"),
        ),
        refused(
            "decimal point",
            "probe",
            post_with("Content-Length: 5.0\r\n", "hello"),
        ),
        refused(
            "exponent",
            "probe",
            post_with("Content-Length: 5e0\r\n", "hello"),
        ),
        refused(
            "two numbers",
            "probe",
            post_with("Content-Length: 5 5\r\n", "hello"),
        ),
        refused(
            "empty length",
            "probe",
            post_with("Content-Length: \r\n", ""),
        ),
        refused(
            "overflowing length",
            "garden",
            post_with("Content-Length: 99999999999999999999\r\n", "hello"),
        ),
        refused(
            "non-ASCII digit",
            "garden",
            post_with("Content-Length: \u{0663}\r\n", "hello"),
        ),
        refused(
            "space before the colon (CL)",
            "probe; RFC 9112 §5.1",
            post_with("Content-Length : 5\r\n", "hello"),
        ),
        case(
            "leading zeros are a length",
            "RFC 9110 §8.6",
            post_with("Content-Length: 005\r\n", "hello"),
            &[200],
            Open,
            &["POST / body=hello"],
        ),
        case(
            "zero length then a pipelined request",
            "PS CL.0; RFC 9112 §9.3",
            post_with(
                "Content-Length: 0\r\n",
                "GET /second HTTP/1.1\r\nHost: h\r\n\r\n",
            ),
            &[200, 200],
            Open,
            &["POST /", "GET /second"],
        ),
        case(
            "GET with a body",
            "garden; RFC 9110 §9.3.1",
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
            &[200],
            Open,
            &["GET / body=hello"],
        ),
        // --- Chunk-size and chunk-line anomalies (http-garden, Http11Probe) ---
        case(
            "valid chunked body",
            "RFC 9112 §7.1",
            chunked_alone("5\r\nhello\r\n0\r\n\r\n"),
            &[200],
            Open,
            &["POST / body=hello"],
        ),
        case(
            "upper-case hex size",
            "RFC 9112 §7.1",
            chunked_alone("A\r\n0123456789\r\n0\r\n\r\n"),
            &[200],
            Open,
            &["POST / body=0123456789"],
        ),
        case(
            "leading zeros in the size",
            "RFC 9112 §7.1",
            chunked_alone("0005\r\nhello\r\n000\r\n\r\n"),
            &[200],
            Open,
            &["POST / body=hello"],
        ),
        case(
            "extension with a token value",
            "RFC 9112 §7.1.1",
            chunked_alone("5;a=b\r\nhello\r\n0\r\n\r\n"),
            &[200],
            Open,
            &["POST / body=hello"],
        ),
        case(
            "extension with a quoted value",
            "RFC 9112 §7.1.1",
            chunked_alone("5;a=\"b c\"\r\nhello\r\n0\r\n\r\n"),
            &[200],
            Open,
            &["POST / body=hello"],
        ),
        case(
            "extension without a value",
            "RFC 9112 §7.1.1",
            chunked_alone("5;a\r\nhello\r\n0;b\r\n\r\n"),
            &[200],
            Open,
            &["POST / body=hello"],
        ),
        case(
            "whitespace before an extension",
            "RFC 9112 §7.1.1 (BWS)",
            chunked_alone("5 ;a\r\nhello\r\n0\r\n\r\n"),
            &[200],
            Open,
            &["POST / body=hello"],
        ),
        case(
            "trailing whitespace after the size",
            "RFC 9112 §7.1.1 (BWS)",
            chunked_alone("5\t\r\nhello\r\n0\r\n\r\n"),
            &[200],
            Open,
            &["POST / body=hello"],
        ),
        case(
            "a trailer field",
            "RFC 9112 §7.1.2",
            chunked_alone("5\r\nhello\r\n0\r\nx-t: 1\r\n\r\n"),
            &[200],
            Open,
            &["POST / body=hello"],
        ),
        case(
            "several chunks",
            "RFC 9112 §7.1",
            chunked_alone("2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n"),
            &[200],
            Open,
            &["POST / body=hello"],
        ),
        refused(
            "empty extension name",
            "garden",
            chunked("5;\r\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "extension with an empty value",
            "garden",
            chunked("5;a=\r\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "unterminated quoted extension",
            "garden",
            chunked("5;a=\"b\r\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "text after the size",
            "garden",
            chunked("5 x\r\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "NUL after the size",
            "garden",
            chunked("5\x00\r\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "TAB before the size",
            "garden",
            chunked("\t5\r\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "data shorter than its size",
            "PS TE.CL",
            chunked("5\r\nhell\r\n0\r\n\r\n"),
        ),
        refused(
            "data longer than its size",
            "PS TE.CL",
            chunked("3\r\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "bare LF after the data",
            "garden; RFC 9112 §7.1",
            chunked("5\r\nhello\n0\r\n\r\n"),
        ),
        refused(
            "bare LF after the last chunk",
            "garden",
            chunked("5\r\nhello\r\n0\n\r\n"),
        ),
        refused(
            "bare LF ending the trailers",
            "garden",
            chunked("5\r\nhello\r\n0\r\n\n"),
        ),
        refused(
            "missing final CRLF: next request read as a trailer",
            "garden",
            chunked("5\r\nhello\r\n0\r\n"),
        ),
        refused(
            "trailer folded",
            "garden; RFC 9112 §5.2",
            chunked("0\r\nx-t: 1\r\n 2\r\n\r\n"),
        ),
        refused(
            "trailer without a colon",
            "garden",
            chunked("0\r\nx-t 1\r\n\r\n"),
        ),
        refused(
            "trailer with a space before the colon",
            "garden",
            chunked("0\r\nx-t : 1\r\n\r\n"),
        ),
        refused(
            "17 hex digits",
            "garden",
            chunked("00000000000000005\r\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "semicolon-only size",
            "garden",
            chunked(";\r\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "CR CR LF after the size",
            "probe",
            chunked("5\r\r\nhello\r\n0\r\n\r\n"),
        ),
        refused(
            "unicode digit in the size",
            "garden",
            chunked("\u{0665}\r\nhello\r\n0\r\n\r\n"),
        ),
        // --- Request-line anomalies (Http11Probe, RFC 9112 §3) ---
        case(
            "leading empty line is ignored",
            "RFC 9112 §2.2",
            "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
            &[200],
            Open,
            &["GET /"],
        ),
        case(
            "bare LF line ends in the head",
            "RFC 9112 §2.2 (MAY)",
            "GET / HTTP/1.1\nHost: h\n\n",
            &[200],
            Open,
            &["GET /"],
        ),
        refused(
            "two spaces after the method",
            "probe; RFC 9112 §3",
            "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
        ),
        refused(
            "TAB as separator",
            "probe",
            "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n",
        ),
        refused(
            "HTTP/1.2",
            "probe; RFC 9112 §2.3",
            "GET / HTTP/1.2\r\nHost: h\r\n\r\n",
        ),
        refused(
            "HTTP/2.0 in a request line",
            "probe",
            "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
        ),
        refused(
            "lower-case version",
            "probe",
            "GET / http/1.1\r\nHost: h\r\n\r\n",
        ),
        refused("no version (HTTP/0.9)", "probe", "GET /\r\nHost: h\r\n\r\n"),
        refused(
            "text after the version",
            "probe",
            "GET / HTTP/1.1 x\r\nHost: h\r\n\r\n",
        ),
        refused(
            "space in the target",
            "probe",
            "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n",
        ),
        refused(
            "NUL in the target",
            "probe",
            "GET /\x00 HTTP/1.1\r\nHost: h\r\n\r\n",
        ),
        refused(
            "ftp absolute-form",
            "RFC 9112 §3.2.2",
            "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n",
        ),
        refused(
            "absolute-form without authority",
            "RFC 9112 §3.2.2",
            "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n",
        ),
        refused(
            "absolute-form with user info",
            "RFC 9110 §4.2.4",
            "GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n",
        ),
        refused(
            "absolute-form with a comma authority",
            "garden",
            "GET http://h,evil/ HTTP/1.1\r\nHost: h\r\n\r\n",
        ),
        refused(
            "asterisk on POST",
            "RFC 9112 §3.2.4",
            "POST * HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
        ),
        case(
            "h2 preface mid-connection",
            "probe",
            "GET /first HTTP/1.1\r\nHost: h\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            &[200, 400],
            Close,
            &["GET /first"],
        ),
        // --- Host anomalies (Http11Probe, RFC 9112 §3.2) ---
        refused(
            "Host with a space",
            "probe",
            "GET / HTTP/1.1\r\nHost: h evil\r\n\r\n",
        ),
        refused(
            "Host with a path",
            "probe",
            "GET / HTTP/1.1\r\nHost: h/evil\r\n\r\n",
        ),
        refused(
            "Host with a bad port",
            "probe",
            "GET / HTTP/1.1\r\nHost: h:abc\r\n\r\n",
        ),
        refused(
            "Host with a six-digit port",
            "probe",
            "GET / HTTP/1.1\r\nHost: h:123456\r\n\r\n",
        ),
        refused("empty Host", "probe", "GET / HTTP/1.1\r\nHost: \r\n\r\n"),
        refused(
            "two Host fields, same value",
            "probe",
            "GET / HTTP/1.1\r\nHost: h\r\nhost: h\r\n\r\n",
        ),
        refused(
            "Host with a bad IP literal",
            "probe",
            "GET / HTTP/1.1\r\nHost: [zz]\r\n\r\n",
        ),
        refused(
            "Host with a NUL",
            "probe",
            "GET / HTTP/1.1\r\nHost: h\x00\r\n\r\n",
        ),
        case(
            "Host with an IPv6 literal",
            "RFC 3986 §3.2.2",
            "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
            &[200],
            Open,
            &["GET / x-forwarded-host=[::1]:80"],
        ),
        case(
            "Host with a port",
            "RFC 9110 §7.2",
            "GET / HTTP/1.1\r\nHost: h.example:8080\r\n\r\n",
            &[200],
            Open,
            &["GET / x-forwarded-host=h.example:8080"],
        ),
        case(
            "HTTP/1.0 without Host",
            "RFC 9112 §3.2",
            "GET / HTTP/1.0\r\n\r\n",
            &[200],
            Close,
            &["GET /"],
        ),
        // --- Upgrade smuggling (RFC 9110 §7.8, RFC 6455 §4) ---
        case(
            "Upgrade without Connection: upgrade is plain",
            "RFC 9110 §7.8",
            "GET /u HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",
            &[200],
            Open,
            &["GET /u"],
        ),
        case(
            "Upgrade to another protocol is plain",
            "RFC 9110 §7.8",
            "GET /u HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: foo/1\r\n\r\n",
            &[200],
            Open,
            &["GET /u"],
        ),
        case(
            "websocket, h2c is not a websocket switch",
            "RFC 6455 §4.1",
            format!(
                "GET /u HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket, h2c\r\nSec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ),
            &[200],
            Open,
            &["GET /u sec-websocket-key=dGhlIHNhbXBsZSBub25jZQ=="],
        ),
        case(
            "h2c with a body is plain",
            "RFC 9113 §3.1",
            "POST /u HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 5\r\n\r\nhello",
            &[200],
            Open,
            &["POST /u body=hello"],
        ),
        case(
            "HTTP2-Settings alone is never forwarded",
            "RFC 9113 §3.1",
            "GET /u HTTP/1.1\r\nHost: h\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
            &[200],
            Open,
            &["GET /u"],
        ),
        refused(
            "websocket with a short key",
            "RFC 6455 §4.1",
            "GET /u HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
        ),
        refused(
            "websocket without a key",
            "RFC 6455 §4.1",
            "GET /u HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n",
        ),
        refused(
            "websocket version 8",
            "RFC 6455 §4.4",
            format!(
                "GET /u HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 8\r\n\r\n"
            ),
        ),
        refused(
            "websocket on POST with a body",
            "RFC 6455 §4.1",
            format!(
                "POST /u HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\nContent-Length: 5\r\n\r\nhello"
            ),
        ),
        refused(
            "websocket with two keys",
            "RFC 6455 §4.1",
            format!(
                "GET /u HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ),
        ),
        // --- Other field anomalies (Http11Probe, RFC 9112 §5) ---
        refused(
            "obs-fold",
            "probe; RFC 9112 §5.2",
            get_with("Host: h\r\nX-A: 1\r\n 2\r\n"),
        ),
        refused(
            "space before the colon (Host)",
            "probe",
            "GET / HTTP/1.1\r\nHost : h\r\n\r\n",
        ),
        refused(
            "NUL in a value",
            "probe",
            get_with("Host: h\r\nX-A: 1\x002\r\n"),
        ),
        refused(
            "bare CR in a value",
            "probe",
            get_with("Host: h\r\nX-A: 1\r2\r\n"),
        ),
        refused(
            "non-token name",
            "probe",
            get_with("Host: h\r\nX(A): 1\r\n"),
        ),
        refused("empty name", "probe", get_with("Host: h\r\n: 1\r\n")),
        case(
            "too many fields",
            "garden",
            get_with(&format!("Host: h\r\n{}", "X-A: 1\r\n".repeat(300))),
            &[431],
            Close,
            &[],
        ),
        case(
            "Expect: 100-continue",
            "RFC 9110 §10.1.1",
            post_with("Expect: 100-continue\r\nContent-Length: 5\r\n", "hello"),
            &[200],
            Open,
            &["POST / body=hello"],
        ),
    ];
    // Bodies broken past the first read: the 400 comes from the body's stream, after the request
    // was passed on (the agent sees at most a cut request, never a whole one).
    let long_ext = format!("5;{}\r\nhello\r\n0\r\n\r\n", "a".repeat(64 * 1024));
    let long_trailers = format!(
        "5\r\nhello\r\n0\r\n{}\r\n",
        "x-t: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(400)
    );
    for (name, body) in [
        ("a 64 KiB extension (audit #5)", long_ext),
        ("20 KiB of trailers (audit #5)", long_trailers),
    ] {
        v.push(Case {
            cut_ok: true,
            ..refused(name, "audit #5; garden", chunked_alone(&body))
        });
    }
    v
}

fn config(agent: &WireAgent) -> serde_json::Value {
    json!({"gateway": {
        "agents": {"discovery": {"static": [{"id": "wire", "endpoint": agent.url()}]}, "healthCheck": {"enabled": false}},
        "auth": {"apiKeys": [{"id": "k", "keyHash": openclaw_config::hash_api_key("secret-key")}]},
        "routing": {"rules": [
            {"name": "admin", "match": {"type": "exact", "pattern": "/admin"}, "target": "wire", "requiresAuth": true},
            {"name": "all", "match": {"type": "default"}, "target": "wire"}
        ]}
    }})
}

/// A response's status, read whole (its body by its length or chunks); `None` when the connection
/// closed first.
fn read_response(r: &mut BufReader<TcpStream>) -> Option<u16> {
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let status: u16 = line.split(' ').nth(1)?.parse().ok()?;
        let mut length = 0usize;
        let mut chunked = false;
        loop {
            let mut h = String::new();
            r.read_line(&mut h).ok()?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (n, v) = h.split_once(':')?;
            match n.to_ascii_lowercase().as_str() {
                "content-length" => length = v.trim().parse().ok()?,
                "transfer-encoding" => chunked = true,
                _ => {}
            }
        }
        if status == 100 {
            continue;
        }
        if status == 101 {
            return Some(status);
        }
        if chunked {
            loop {
                let mut size = String::new();
                r.read_line(&mut size).ok()?;
                let n = usize::from_str_radix(size.trim(), 16).ok()?;
                let mut skip = vec![0; n + 2];
                r.read_exact(&mut skip).ok()?;
                if n == 0 {
                    break;
                }
            }
        } else {
            let mut body = vec![0; length];
            r.read_exact(&mut body).ok()?;
        }
        return Some(status);
    }
}

/// True when the gateway ends the connection (end of stream or reset) within a few seconds.
fn closes(r: &mut BufReader<TcpStream>) -> bool {
    r.get_ref()
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    match r.fill_buf() {
        Ok(b) => b.is_empty(),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

fn connect(dp: &DataPlane) -> BufReader<TcpStream> {
    let s = TcpStream::connect(dp.url().trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.set_nodelay(true);
    BufReader::new(s)
}

/// Runs one case; the failures found, for one report of all of them.
fn run(dp: &DataPlane, agent: &WireAgent, c: &Case) -> Option<String> {
    agent.take();
    let mut r = connect(dp);
    r.get_mut().write_all(&c.send).unwrap();
    let mut statuses = Vec::new();
    for _ in c.statuses {
        match read_response(&mut r) {
            Some(s) => statuses.push(s),
            None => break,
        }
    }
    let mut faults = Vec::new();
    if statuses != c.statuses {
        faults.push(format!("statuses {statuses:?}, expected {:?}", c.statuses));
    }
    let mut expected: Vec<String> = c.agent.iter().map(ToString::to_string).collect();
    match c.end {
        Close => {
            if !closes(&mut r) {
                faults.push("the connection stayed open".into());
            }
        }
        Open => {
            let probe = b"GET /probe HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
            let answered =
                r.get_mut().write_all(probe).is_ok() && read_response(&mut r) == Some(200);
            if !answered {
                faults.push("the connection did not serve a probe after the case".into());
            }
            expected.push("GET /probe".into());
        }
    }
    let raw = agent.raw();
    let seen: Vec<String> = agent
        .take()
        .iter()
        .filter(|s| !(c.cut_ok && matches!(s, Seen::Incomplete(_))))
        .map(summary)
        .collect();
    if seen != expected {
        faults.push(format!("agent saw {seen:?}, expected {expected:?}"));
    }
    let smuggled_expected = expected.iter().any(|e| e.contains("smuggled"));
    if !smuggled_expected
        && String::from_utf8_lossy(&raw)
            .to_ascii_lowercase()
            .contains("smuggled")
    {
        faults.push("the agent received bytes naming `smuggled`".into());
    }
    (!faults.is_empty()).then(|| format!("{} [{}]: {}", c.name, c.source, faults.join("; ")))
}

/// One data plane for everything (starting one is most of the suite's time).
#[test]
fn smuggling_regressions() {
    let agent = WireAgent::start();
    let dir = tempfile::tempdir().unwrap();
    let dp = DataPlane::standalone(dir.path(), config(&agent));
    the_smuggling_catalogue_is_refused_or_framed_one_way(&dp, &agent);
    a_body_broken_after_it_was_passed_on_is_a_400_and_ends_the_connection(&dp, &agent);
    // No case so far is the agent's fault: none is logged or counted as one.
    let logs = dp.logs();
    assert!(
        !logs.contains("upstream failure"),
        "a client's framing error is never logged as an agent failure: {logs}"
    );
    let metrics = dp.metrics();
    let agent_errors = metrics
        .lines()
        .filter(|l| l.contains("upstream_error") && !l.starts_with('#'))
        .any(|l| !l.ends_with(" 0"));
    assert!(!agent_errors, "{metrics}");
    a_websocket_switch_needs_the_agents_matching_accept(&dp, &agent);
}

fn the_smuggling_catalogue_is_refused_or_framed_one_way(dp: &DataPlane, agent: &WireAgent) {
    let cases = cases();
    assert!(cases.len() >= 100, "{} cases", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|c| run(dp, agent, c)).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn a_body_broken_after_it_was_passed_on_is_a_400_and_ends_the_connection(
    dp: &DataPlane,
    agent: &WireAgent,
) {
    // The first chunk goes to the agent; the broken one arrives later (audit #1, #5).
    agent.take();
    let mut r = connect(dp);
    r.get_mut()
        .write_all(
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        )
        .unwrap();
    openclaw_e2e::wait_until(
        "the first chunk reaches the agent",
        Duration::from_secs(5),
        || String::from_utf8_lossy(&agent.raw()).contains("hello"),
    );
    r.get_mut()
        .write_all(b"ZZ\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r), Some(400));
    assert!(closes(&mut r), "the connection ends");
    openclaw_e2e::wait_until(
        "the agent sees its connection cut",
        Duration::from_secs(5),
        || !agent.seen().is_empty(),
    );
    let seen: Vec<String> = agent.take().iter().map(summary).collect();
    assert_eq!(
        seen,
        ["INCOMPLETE POST / HTTP/1.1"],
        "the agent never got a whole request"
    );
}

fn a_websocket_switch_needs_the_agents_matching_accept(dp: &DataPlane, agent: &WireAgent) {
    // A valid handshake: the tunnel carries bytes to the agent that accepted, and nowhere else.
    agent.take();
    let mut r = connect(dp);
    let hello = format!(
        "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    r.get_mut().write_all(hello.as_bytes()).unwrap();
    assert_eq!(read_response(&mut r), Some(101));
    r.get_mut().write_all(b"frame").unwrap();
    let mut echo = [0u8; 5];
    r.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"frame");
    let seen: Vec<String> = agent.take().iter().map(summary).collect();
    assert_eq!(
        seen,
        [
            format!("GET /ws upgrade=websocket sec-websocket-key={WS_KEY}"),
            "TUNNEL frame".into()
        ]
    );
    let _ = SAMPLE_ACCEPT;
    // An agent whose 101 carries the wrong accept gets no tunnel: the client gets 502.
    let mut r = connect(dp);
    let bad = hello.replace("/ws", "/ws/bad-accept");
    r.get_mut().write_all(bad.as_bytes()).unwrap();
    assert_eq!(read_response(&mut r), Some(502));
}
