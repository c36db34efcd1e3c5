//! The HTTP/1.1 codec: the protocol alone, knowing nothing of routes, agents or config (settings
//! come in as plain values, see [`request::Policy`]). The gateway's stages live in `proxy`.
//!
//! # Files
//!
//! - Parsing: [`head`] (field lines, spans), [`fields`] (names and values as a recipient reads
//!   them), [`request`] (request heads under the policy below), [`response`] (agents' response
//!   heads), [`framing`] (chunked and length-framed bodies), [`upgrade`] (WebSocket checks),
//!   [`fuzz`] (the invariants the fuzz targets and the corpus replay check).
//! - Bodies: [`body`] (the one body type sent both ways, and a body whole in hand).
//! - Header views: [`req_headers`] (a request's fields read in place, and the outgoing head
//!   written from them), [`raw_fields`] (an agent's response fields read in place, and the
//!   client's head written from them).
//! - Server: [`server`] (the client connection loop: reads requests, answers, pipelining, idle and
//!   read timeouts, hand-over to hyper for h2c and WebSocket), with `server/body.rs` (request
//!   bodies) and `server/response.rs` (writing answers).
//! - Client: [`client`] (requests to agents over pooled connections): `client/pool.rs`,
//!   `client/exchange.rs` (one request/response), `client/head.rs` (request encoding, response
//!   head), `client/body.rs` (response bodies), `client/error.rs`.
//! - I/O helpers: [`wire`] (buffer reads, two-buffer writes), [`timed_io`] (write deadlines), [`client_io`] (a
//!   client's socket, plain or TLS), [`prefixed`] (a stream with bytes already read put back),
//!   [`coarse_clock`] (a per-second clock for `Date` and pool ages).
//!
//! # Parsing policy
//!
//! One policy for every request a client sends (RFC 9112, RFC 9110); a refused request is answered
//! with the status below, a JSON error and `connection: close`, and nothing more is read from its
//! connection:
//!
//! - **Request line**: `method SP target SP HTTP/1.x`, as httparse reads it (single spaces, a token
//!   method, `HTTP/1.0` or `HTTP/1.1`): else 400. `CONNECT`: 405.
//! - **Target**: origin-form (`/path?query`) or absolute-form (`http://` or `https://` with a
//!   valid authority, no user info); `*` only for `OPTIONS` (answered by the gateway itself). Else
//!   400. The path routed is the path forwarded.
//! - **Host**: HTTP/1.1 needs exactly one `Host`, a valid `host[:port]` (no comma, whitespace, user
//!   info or empty value); a second one or a bad one is 400 (HTTP/1.0 may omit it). For
//!   absolute-form the target's authority wins, and is what the agent sees as the host.
//! - **Fields**: httparse's grammar (no whitespace before the colon, no obs-fold, no control
//!   characters); line ends CRLF, or bare LF in the head only (RFC 9112 §2.2). Names with `_` are
//!   dropped unless kept (`gateway.http.underscoresInHeaders`). More than 256 fields: 431.
//! - **Framing**: `Transfer-Encoding` only as one field whose value is exactly `chunked` (ASCII case
//!   ignored, as coding names are case-insensitive; no list, no parameters, no trailing
//!   whitespace), only in HTTP/1.1, never beside `Content-Length`; else 400. `Content-Length` once,
//!   decimal digits only (a repeated one, even equal, is 400).
//! - **Chunked bodies** ([`framing`]): a chunk-size line is hex digits (at most 16), optional
//!   SP/HTAB, then `;name[=token|"quoted"]` extensions, ended by CRLF, at most 4 KiB; chunk data
//!   ends with CRLF; trailers are field lines, 16 KiB at most, and are dropped. Any violation is 400
//!   (a client's fault: never 502, never counted against the agent) and ends the connection; when
//!   the violation is in the bytes already read with the head, the request never reaches an agent.
//! - **Upgrade** ([`upgrade`]): only WebSocket switches protocols, when allowed
//!   (`gateway.http.upgrades`), with a valid `Sec-WebSocket-Key` and version 13 (else 400); the
//!   agent's 101 must carry the matching `Sec-WebSocket-Accept` (else 502). Any other `Upgrade`
//!   (`h2c`…) is removed and the request served as a plain one; `HTTP2-Settings` is never forwarded.

pub(crate) mod body;
pub(crate) mod client;
pub(crate) mod client_io;
pub(crate) mod coarse_clock;
pub(crate) mod fields;
pub(crate) mod framing;
#[doc(hidden)]
pub mod fuzz;
pub(crate) mod head;
pub(crate) mod prefixed;
pub(crate) mod raw_fields;
pub(crate) mod req_headers;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod server;
pub(crate) mod timed_io;
pub(crate) mod upgrade;
pub(crate) mod wire;
