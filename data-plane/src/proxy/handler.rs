//! One request, start to end: head size → CORS → load shedding → body size → route → authenticate →
//! agent override → pick an endpoint → forward (falling back when the target is down) → access log
//! and metrics. The stages before routing live in their own files and are composed in [`admit`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Request, Response, Uri};
use hyper::body::Body;

use super::body::{BoxError, InHand, ProxyBody, full, hold, requested_agent};
use super::circuit;
use super::concurrency::InFlightGuard;
use super::cors::{self, CorsCheck};
use super::deadlines::IdleBounded;
use super::endpoints;
use super::error::ProxyError;
use super::headers;
use super::limits;
use super::pick;
use super::rate_limit::{self, Limited};
use super::req_body::{ReqBody, into_body, peek};
use super::retry;
use super::semantic_stage::{semantic_scores, trace_semantic};
use super::upgrade;
use crate::balance::KeyInput;
use crate::compiled::Compiled;
use crate::http1::client::AgentError;
use crate::http1::raw_fields::{Answer, RawFields};
use crate::http1::req_headers::{RawHead, ReqHeaders};
use crate::metrics::{CLIENT_CLOSED, NO_ROUTE};
use crate::routing::{CompiledRule, Decision, RequestInfo};
use crate::state::Shared;
use crate::upstream::{Endpoint, LoadReport};
use openclaw_config::RetryOn;

/// The response header that tells how many times the request was sent again.
const RETRIES: http::HeaderName = http::HeaderName::from_static("x-openclaw-retries");

/// The ORCA header in which agents report their load.
const LOAD_METRICS: &str = "endpoint-load-metrics";

/// The status logged for a request whose client went away first (nginx's "client closed request").
const CLIENT_CLOSED_STATUS: u16 = 499;

/// The client side of a connection.
#[derive(Clone, Debug)]
pub(crate) struct Conn {
    /// The client's address.
    pub(crate) peer: SocketAddr,
    /// The client's IP as an `X-Forwarded-For` value, made once per connection.
    pub(crate) peer_ip: HeaderValue,
    /// `http` or `https`.
    pub(crate) scheme: &'static str,
}

// === impl Conn ===

impl Conn {
    /// The connection from `peer` over `scheme`.
    pub(crate) fn new(peer: SocketAddr, scheme: &'static str) -> Self {
        Self {
            peer,
            peer_ip: headers::client_ip(peer),
            scheme,
        }
    }
}

/// The outcome of a proxied request, for the access log and metrics (borrowing the table).
struct Outcome<'t> {
    route: &'t str,
    agent: Option<Arc<Endpoint>>,
    result: Result<Response<ProxyBody>, ProxyError>,
    /// An HTTP/1.1 agent's header fields, beside its response.
    fields: Option<RawFields>,
}

/// Serves one request.
///
/// Functions returning `async move` blocks rather than `async fn`s here, whose arguments would be
/// kept twice in the request's future (which lives in its connection's future).
#[allow(clippy::manual_async_fn)] // On purpose: see above.
pub(crate) fn handle<B>(
    shared: Arc<Shared>,
    conn: Conn,
    mut req: Request<B>,
    // The header fields as our HTTP/1.1 server read them (else they are in `req`'s map).
    raw: Option<RawHead>,
) -> impl Future<Output = Answer>
where
    B: Body<Data = Bytes> + InHand + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    async move {
        let started = Instant::now();
        let table = shared.current.load_full();
        if let Some(resp) = endpoints::answer(&shared, table.as_deref(), &req) {
            return Answer::from_response(resp);
        }
        let fields = match raw {
            Some(raw) => ReqHeaders::Raw(raw),
            None => {
                let mut map = std::mem::take(req.headers_mut());
                let keep = table
                    .as_deref()
                    .is_some_and(|t| t.gateway.http.underscores_in_headers);
                headers::policy(&mut map, &req, keep);
                ReqHeaders::Map(map)
            }
        };
        let mut record = Record {
            shared: &shared,
            peer: conn.peer,
            started,
            request_id: headers::request_id(&fields),
            method: req.method().clone(),
            // A clone shares the request's bytes: no copy for the access log's path.
            uri: req.uri().clone(),
            route: NO_ROUTE,
            attempts: 0,
            said: false,
            limit: Limited::default(),
        };
        let mut allow_origin = None;
        // Written so that nothing is kept across the wait but the proxy's future: a value matched
        // on or partly moved would keep its room in the request's future.
        let outcome = 'outcome: {
            let Some(t) = &table else {
                break 'outcome fail(NO_ROUTE, None, ProxyError::NotReady);
            };
            if req.method() == http::Method::CONNECT {
                // Only HTTP/2 gets here (our HTTP/1.1 server refuses CONNECT itself).
                let refused = ProxyError::MethodNotAllowed(req.method().clone());
                break 'outcome fail(NO_ROUTE, None, refused);
            }
            let admitted = match admit(t, req, fields, &record, &mut allow_origin) {
                Ok(a) => a,
                Err(refused) => break 'outcome refused,
            };
            proxy(t, &conn, admitted, &mut record).await
        };
        let rid = &record.request_id;
        let mut resp = match outcome.result {
            Ok(r) => r,
            Err(e) => {
                shared.metrics.error(e.kind());
                if matches!(
                    e,
                    ProxyError::Connect(_) | ProxyError::Upstream(..) | ProxyError::Timeout(..)
                ) {
                    tracing::warn!(
                        error = %e,
                        request_id = rid.to_str().unwrap_or(""),
                        "upstream failure",
                    );
                }
                e.into_response(rid)
            }
        };
        record.limit.annotate(resp.headers_mut());
        let mut fields = outcome.fields;
        // Errors too: a browser reads the gateway's JSON error only with the allow-origin header.
        if let Some(v) = allow_origin {
            match &mut fields {
                Some(f) => f.allow_origin = Some(v),
                None => cors::mark(resp.headers_mut(), v),
            }
        }
        record.route = outcome.route;
        record.say(
            resp.status().as_u16(),
            outcome.agent.as_ref().map_or("", |e| e.agent_id()),
        );
        Answer { resp, fields }
    }
}

/// The access log line and metrics of a request, said once it is answered; or, when its client goes
/// away first and the connection drops the request's future, said on drop with nginx's 499 ("client
/// closed request") and counted as a `client_closed` error.
struct Record<'a> {
    shared: &'a Shared,
    peer: SocketAddr,
    started: Instant,
    request_id: HeaderValue,
    method: http::Method,
    uri: Uri,
    /// The matched rule's name, once routed.
    route: &'a str,
    /// Tries made towards agents (retries are the ones past the first).
    attempts: u32,
    said: bool,
    /// What the rate limits said.
    limit: Limited,
}

// === impl Record ===

impl Record<'_> {
    fn say(&mut self, status: u16, agent: &str) {
        self.said = true;
        let elapsed = self.started.elapsed();
        let route = self.route;
        self.shared.metrics.observe(route, status, elapsed);
        tracing::info!(
            target: "access",
            method = %self.method,
            path = %self.uri.path(),
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            route = %route,
            agent,
            attempts = self.attempts,
            request_id = self.request_id.to_str().unwrap_or(""),
            client = %self.peer,
            rate_limit = self.limit.said,
        );
    }
}

impl Drop for Record<'_> {
    fn drop(&mut self) {
        if !self.said {
            self.shared.metrics.error(CLIENT_CLOSED);
            self.say(CLIENT_CLOSED_STATUS, "");
        }
    }
}

/// A request past the stages before routing, with its place in the in-flight count.
struct Admitted {
    parts: http::request::Parts,
    headers: ReqHeaders,
    body: ProxyBody,
    in_flight: Option<InFlightGuard>,
}

/// The stages before routing, each answering the request itself when it must: the head size (431),
/// CORS (preflights; `allow_origin` learns the value for the response), load shedding (503) and a
/// declared body size (413).
///
/// Not async: the request's future then keeps no room of its own for these stages (nor a second
/// copy of the request).
#[allow(clippy::result_large_err)] // A refusal is the request's answer, no larger than `Admitted`.
fn admit<'t, B>(
    t: &'t Compiled,
    req: Request<B>,
    headers: ReqHeaders,
    record: &Record<'t>,
    allow_origin: &mut Option<HeaderValue>,
) -> Result<Admitted, Outcome<'t>>
where
    B: Body<Data = Bytes> + InHand + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let (shared, rid) = (record.shared, &record.request_id);
    let size = &t.gateway.http.limits;
    limits::check_head(&req, &headers, size.max_header_size.bytes())
        .map_err(|e| fail(NO_ROUTE, None, e))?;
    if let Some(policy) = &t.cors {
        match policy.check(req.method(), &headers, rid) {
            CorsCheck::Preflight(result) => {
                return Err(Outcome {
                    route: NO_ROUTE,
                    agent: None,
                    result,
                    fields: None,
                });
            }
            CorsCheck::Actual(v) => *allow_origin = v,
        }
    }
    let Some(in_flight) = shared
        .in_flight
        .try_acquire(t.gateway.performance.max_concurrent_requests)
    else {
        shared.metrics.shed();
        return Err(fail(NO_ROUTE, None, ProxyError::Overloaded));
    };
    let (parts, body) = req.into_parts();
    // A gRPC stream may rightly be quiet from the client's side while the server streams: its body
    // reads are not timed.
    let grpc = headers
        .get(&http::header::CONTENT_TYPE)
        .is_some_and(|v| v.starts_with(b"application/grpc"));
    let read_timeout = (!grpc).then(|| t.gateway.http.timeouts.read.get());
    let body = limits::limit_body(body, size.max_body_size.bytes(), read_timeout)
        .map_err(|e| fail(NO_ROUTE, None, e))?;
    Ok(Admitted {
        parts,
        headers,
        body,
        in_flight: Some(in_flight),
    })
}

#[allow(clippy::manual_async_fn)] // As `handle`.
fn proxy<'t>(
    t: &'t Compiled,
    conn: &Conn,
    // Its place in the in-flight count is held until the response body ends.
    mut admitted: Admitted,
    // Learns the matched rule, for the log line of a request whose client goes away.
    record: &mut Record<'t>,
) -> impl Future<Output = Outcome<'t>> {
    async move {
        // Used in place: fields moved out into locals would be kept twice in this future.
        let (parts, headers, in_flight) = (
            &mut admitted.parts,
            &mut admitted.headers,
            &mut admitted.in_flight,
        );
        let (shared, rid) = (record.shared, &record.request_id);
        let mut body = ReqBody::Untouched(admitted.body);
        if let Err(e) = rate_limit::gateway(t, conn, headers, &mut body, &mut record.limit).await {
            return fail(NO_ROUTE, None, e);
        }
        let info = RequestInfo {
            method: &parts.method,
            path: parts.uri.path(),
            headers,
        };
        let mut decision = t.routes.route(&info, None);
        if matches!(decision, Decision::NeedsText) {
            let scores = match semantic_scores(shared, t, headers, &mut body).await {
                Ok(s) => s,
                Err(e) => return fail(NO_ROUTE, None, e),
            };
            decision = t.routes.route(&info, Some(&scores));
            trace_semantic(t, &info, &scores, rid);
        }
        let rule = match decision {
            Decision::Matched { rule, .. } => rule,
            Decision::NeedsText | Decision::NoRoute => {
                return fail(
                    NO_ROUTE,
                    None,
                    ProxyError::NoRoute(parts.uri.path().to_string()),
                );
            }
        };
        record.route = &rule.name;
        if rule.requires_auth && !authorized(t, headers) {
            return fail(&rule.name, None, ProxyError::Unauthorized);
        }
        if let Err(e) = rate_limit::rule(t, rule, conn, headers, &mut body, &mut record.limit).await
        {
            return fail(&rule.name, None, e);
        }
        let chosen = match choose(t, rule, conn, parts, headers, &mut body).await {
            Ok(c) => c,
            Err(e) => return fail(&rule.name, None, circuit::explain_refusal(t, rule, e)),
        };
        // `stickyCookie`: a client without a valid affinity cookie for its endpoint gets one.
        let set_cookie = sticky_cookie(t, rule, conn, parts, headers, &chosen);
        let retry = retry::Policy::new(t, rule, &parts.method);
        // A rule with a fallback or a retry policy keeps small bodies, so a refused connection can
        // be retried elsewhere; a body streamed past what is held in hand is never replayed.
        let replay = if rule.fallback.is_some() || retry.is_some() {
            // An error here must end the request: `peek` has already taken the body.
            match peek(&mut body).await {
                Ok(b) => b,
                Err(e) => return fail(&rule.name, None, e),
            }
        } else {
            None
        };
        let path_and_query = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        // A WebSocket request (the only allowed upgrade) keeps its upgrade headers towards the
        // agent.
        let websocket = t
            .gateway
            .http
            .upgrades
            .contains(&openclaw_config::UpgradeProtocol::Websocket);
        let upgrade = upgrade::requested(headers, websocket);
        let mut client_upgrade = upgrade
            .as_ref()
            .and_then(|_| parts.extensions.remove::<hyper::upgrade::OnUpgrade>());
        let mut ep = chosen;
        let mut body = Some(into_body(body));
        if let Some(p) = &retry {
            p.deposit(&ep);
        }
        let attempts = retry
            .as_ref()
            .map_or(1, retry::Policy::attempts)
            .max(if rule.fallback.is_some() { 2 } else { 1 });
        // The endpoint for another try after `why`, when the rule's policy, the body in hand and
        // the agent's budget allow one.
        macro_rules! retry_after {
            ($why:expr, $attempt:expr) => {
                match (&retry, &replay) {
                    (Some(p), Some(b))
                        if $attempt + 1 < attempts && p.allows($why) && p.withdraw(&ep) =>
                    {
                        retry::next_endpoint(
                            t,
                            rule,
                            &ep,
                            &KeyInput {
                                client_ip: conn.peer.ip(),
                                headers,
                                query: parts.uri.query(),
                                body: Some(b),
                            },
                        )
                    }
                    _ => None,
                }
            };
        }
        for attempt in 0..attempts {
            record.attempts = attempt + 1;
            if attempt > 0
                && let Some(p) = &retry
            {
                p.backoff(attempt).await;
            }
            let upstream_body = match (attempt, body.take(), &replay) {
                (0, Some(b), _) => b,
                (_, _, Some(bytes)) => full(bytes.clone()),
                _ => break,
            };
            if let Err(e) = circuit::claim(t, &ep) {
                return fail(&rule.name, Some(ep), e);
            }
            let uri = match ep.uri_for_parsed(&path_and_query) {
                Ok(u) => u,
                Err(e) => return upstream_failure(&rule.name, ep, &e),
            };
            // Only a retry needs the headers again; otherwise they move instead of being copied.
            let fields = if replay.is_some() {
                headers.clone()
            } else {
                std::mem::replace(headers, ReqHeaders::Map(HeaderMap::new()))
            };
            // In a block, so the request's slot is not kept in this future while the agent answers.
            let sent = {
                let (mut upstream_req, raw) = build_request(parts, fields, uri, upstream_body);
                if let Some(switch) = &upgrade {
                    upgrade::restore(upstream_req.headers_mut(), &switch.protocol);
                }
                let forward = headers::Forwarding {
                    request_id: rid.clone(),
                    client_ip: conn.peer_ip.clone(),
                    https: conn.scheme == "https",
                    upstream_host: ep.host_header().cloned(),
                };
                shared.client.load().request(upstream_req, raw, forward)
            };
            let guard = ep.begin();
            // Timed only when a strategy reads latencies: the default path reads no clock here.
            let sent_at = t.measure_latency.then(Instant::now);
            let bounds = t.deadlines.bounds(rule.index, ep.agent_id());
            let Ok(answered) = tokio::time::timeout(bounds.first_byte, sent).await else {
                circuit::record(t, &ep, true);
                drop(guard);
                if let Some(next) = retry_after!(RetryOn::Timeout, attempt) {
                    ep = next;
                    continue;
                }
                let agent = ep.agent_id().to_string();
                let why = format!("no response within {:?}", bounds.first_byte);
                return fail(&rule.name, Some(ep), ProxyError::Timeout(agent, why));
            };
            match answered {
                Ok(resp) => {
                    circuit::record(t, &ep, resp.status().is_server_error());
                    // An answer worth retrying is dropped before any of it reaches the client.
                    if let Some(why) = retry::Policy::status_reason(resp.status())
                        && let Some(next) = retry_after!(why, attempt)
                    {
                        drop((resp, guard));
                        ep = next;
                        continue;
                    }
                    ep.mark_success();
                    if let Some(at) = sent_at {
                        ep.load().observe_latency(at.elapsed());
                    }
                    let (mut rparts, mut rbody) = resp.into_parts();
                    // An HTTP/1.1 agent's fields stay as received, with the gateway's beside them.
                    let fields = rbody.take_fields().map(|mut f| {
                        f.request_id = Some(rid.clone());
                        f.route.clone_from(&rule.route_header);
                        f
                    });
                    if rparts.status == http::StatusCode::SWITCHING_PROTOCOLS {
                        let Some(switch) = &upgrade else {
                            return upstream_failure(&rule.name, ep, &"a 101 nobody asked for");
                        };
                        match fields {
                            Some(f) => f.into_map(&mut rparts.headers),
                            None => headers::to_client(
                                &mut rparts.headers,
                                Some(rid),
                                rule.route_header.as_ref(),
                            ),
                        }
                        if !switch.accepted_by(&rparts.headers) {
                            return upstream_failure(
                                &rule.name,
                                ep,
                                &"a 101 without the matching sec-websocket-accept",
                            );
                        }
                        let upstream = rbody.into_upgraded();
                        upgrade::restore(&mut rparts.headers, &switch.protocol);
                        // The tunnel holds the endpoint's and the node's in-flight counts until it
                        // closes.
                        upgrade::splice(client_upgrade.take(), upstream, (guard, in_flight.take()));
                        let resp = Response::from_parts(rparts, full(bytes::Bytes::new()));
                        return Outcome {
                            route: &rule.name,
                            agent: Some(ep),
                            result: Ok(resp),
                            fields: None,
                        };
                    }
                    let mut fields = fields;
                    let mut mapped = false;
                    if t.read_load_reports || set_cookie.is_some() {
                        // The raw fields are read (and added to) through a map: only for rules
                        // whose strategy needs it.
                        if let Some(f) = fields.take() {
                            f.into_map(&mut rparts.headers);
                            mapped = true;
                        }
                        if t.read_load_reports
                            && let Some(report) = rparts
                                .headers
                                .get(LOAD_METRICS)
                                .and_then(|v| LoadReport::from_orca(v.as_bytes()))
                        {
                            ep.load().report(report);
                        }
                        if let Some(c) = &set_cookie {
                            rparts.headers.append(http::header::SET_COOKIE, c.clone());
                        }
                    }
                    if fields.is_none() && !mapped {
                        headers::to_client(
                            &mut rparts.headers,
                            Some(rid),
                            rule.route_header.as_ref(),
                        );
                    }
                    if attempt > 0 {
                        // A retried answer is rare: its raw fields go through a map.
                        if let Some(f) = fields.take() {
                            f.into_map(&mut rparts.headers);
                        }
                        rparts.headers.insert(RETRIES, HeaderValue::from(attempt));
                    }
                    let rbody = IdleBounded::new(rbody, bounds.idle);
                    let resp = Response::from_parts(
                        rparts,
                        hold(
                            rbody,
                            (guard, in_flight.take(), record.limit.take_permits()),
                        ),
                    );
                    return Outcome {
                        route: &rule.name,
                        agent: Some(ep),
                        result: Ok(resp),
                        fields,
                    };
                }
                // The body went past the size limit or the client stopped sending it: the agent
                // never saw its end, and the client is answered for its own fault.
                Err(e) if limits::client_fault(&e).is_some() => {
                    let fault =
                        limits::client_fault(&e).unwrap_or(ProxyError::BadBody(e.to_string()));
                    return fail(&rule.name, Some(ep), fault);
                }
                Err(e) if e.is_connect() => {
                    circuit::record(t, &ep, true);
                    ep.mark_connect_failure();
                    drop(guard);
                    if let Some(next) = retry_after!(RetryOn::ConnectFailure, attempt) {
                        ep = next;
                        continue;
                    }
                    let agent = ep.agent_id().to_string();
                    tracing::warn!(
                        agent = %agent,
                        endpoint = %ep.url(),
                        error = %e,
                        "connection to agent failed",
                    );
                    let next = match &replay {
                        // The headers were kept for the retry, so the key is still at hand.
                        Some(b) => pick::fallback(
                            t,
                            rule,
                            &ep,
                            &KeyInput {
                                client_ip: conn.peer.ip(),
                                headers,
                                query: parts.uri.query(),
                                body: Some(b),
                            },
                        ),
                        None => None,
                    };
                    match next {
                        Some(f) if attempt == 0 => ep = f,
                        _ if matches!(e, AgentError::ConnectTimeout(_)) => {
                            let why = format!(
                                "no connection within {:?}",
                                t.gateway.agents.timeouts.connect
                            );
                            return fail(&rule.name, Some(ep), ProxyError::Timeout(agent, why));
                        }
                        _ => return fail(&rule.name, Some(ep), ProxyError::Connect(agent)),
                    }
                }
                Err(e) => {
                    circuit::record(t, &ep, true);
                    drop(guard);
                    if let Some(next) = retry_after!(RetryOn::Reset, attempt) {
                        ep = next;
                        continue;
                    }
                    return upstream_failure(&rule.name, ep, &e);
                }
            }
        }
        fail(
            &rule.name,
            None,
            ProxyError::Connect(rule.target.name.clone()),
        )
    }
}

/// The endpoint for this request: an allowed override (header, else a JSON body's `agent`), else
/// the target, else the fallback. The body is read first only when a name or a hash key is in it.
async fn choose(
    t: &Compiled,
    rule: &CompiledRule,
    conn: &Conn,
    parts: &http::request::Parts,
    h: &ReqHeaders,
    body: &mut ReqBody,
) -> Result<Arc<Endpoint>, ProxyError> {
    let mut named = None;
    if rule.allow_agent_override {
        named = pick::header_agent(h);
        if named.is_none() && pick::body_may_name_agent(h) {
            named = peek(body).await?.and_then(|b| requested_agent(&b));
        }
    }
    let keyed_body =
        if t.choices[rule.index].target.key_source().needs_body() && pick::body_may_name_agent(h) {
            peek(body).await?
        } else {
            None
        };
    let req = KeyInput {
        client_ip: conn.peer.ip(),
        headers: h,
        query: parts.uri.query(),
        body: keyed_body.as_deref(),
    };
    pick::pick(t, rule, named.as_deref(), &req).map(|(ep, _)| ep)
}

/// The `Set-Cookie` value that pins a `stickyCookie` client to `chosen`, unless its cookie already
/// names it.
fn sticky_cookie(
    t: &Compiled,
    rule: &CompiledRule,
    conn: &Conn,
    parts: &http::request::Parts,
    h: &ReqHeaders,
    chosen: &Endpoint,
) -> Option<HeaderValue> {
    let target = &t.choices[rule.index].target;
    let cookie = target.sticky_cookie()?;
    let req = KeyInput {
        client_ip: conn.peer.ip(),
        headers: h,
        query: parts.uri.query(),
        body: None,
    };
    if target.key_source().key(&req) == Some(chosen.sticky_id()) {
        return None;
    }
    HeaderValue::from_str(&format!(
        "{}={:016x}; Path=/; Max-Age={}; HttpOnly",
        cookie.name,
        chosen.sticky_id(),
        cookie.ttl.get().as_secs().max(1)
    ))
    .ok()
}

fn authorized(t: &Compiled, h: &ReqHeaders) -> bool {
    h.get_str(&http::header::AUTHORIZATION)
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| t.authenticate(key.trim()).is_some())
}

/// The request towards the agent, hop-by-hop headers removed (the client adds the forwarding ones);
/// fields as our HTTP/1.1 server read them travel beside it, and lose theirs as they are written.
fn build_request(
    parts: &http::request::Parts,
    fields: ReqHeaders,
    uri: Uri,
    body: ProxyBody,
) -> (Request<ProxyBody>, Option<RawHead>) {
    let mut req = Request::new(body);
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = uri;
    let raw = match fields {
        ReqHeaders::Map(mut h) => {
            headers::strip_hop_by_hop(&mut h);
            *req.headers_mut() = h;
            None
        }
        ReqHeaders::Raw(raw) => Some(raw),
    };
    (req, raw)
}

/// The agent at `ep` could not be asked or did not answer properly (502).
fn upstream_failure<'t>(
    route: &'t str,
    ep: Arc<Endpoint>,
    e: &dyn std::fmt::Display,
) -> Outcome<'t> {
    let agent = ep.agent_id().to_string();
    fail(route, Some(ep), ProxyError::Upstream(agent, e.to_string()))
}

fn fail(route: &str, agent: Option<Arc<Endpoint>>, e: ProxyError) -> Outcome<'_> {
    Outcome {
        route,
        agent,
        result: Err(e),
        fields: None,
    }
}
