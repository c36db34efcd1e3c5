//! The admin verbs: each is one gRPC call to the control plane, printed as JSON on stdout.

use std::collections::HashMap;

use openclaw_proto::admin::admin_client::AdminClient;
use openclaw_proto::admin::{
    DiffRequest, GetRequest, HistoryRequest, NodeStatus, NodesRequest, PatchFormat, PatchRequest,
    PromoteRequest, PutRequest, RollbackRequest, ValidateRequest, VersionInfo, WatchRolloutRequest,
    WriteResponse,
};
use serde_json::{Value, json};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};

use crate::args::{Conn, Verb, WaitArgs};
use crate::local::read_document;
use crate::output::{Failure, print_json};

type Client = AdminClient<InterceptedService<Channel, Bearer>>;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// Runs one admin verb.
pub(crate) async fn run(conn: Conn, verb: Verb) -> Result<(), Failure> {
    let mut c = connect(&conn).await?;
    let max = conn.max_message_size;
    let author = author();
    match verb {
        Verb::ConfigGet(a) => {
            let key = a.key.or(a.key_pos).unwrap_or_default();
            let r = c
                .get(GetRequest {
                    version: a.version,
                    key: key.clone(),
                })
                .await
                .map_err(status)?
                .into_inner();
            let value = parse_json(&r.json)?;
            if a.as_patch {
                print_json(&as_patch(&key, value)?);
            } else {
                print_json(&value);
            }
        }
        Verb::ConfigPut(a) => {
            let doc = read_document(&a.file)?;
            no_redacted(&doc)?;
            let json = doc.to_string();
            fits(&json, max)?;
            let req = PutRequest {
                json,
                expect_version: a.expect_version,
                message: a.message,
                author,
            };
            let r = c.put(req).await.map_err(status)?.into_inner();
            finish_write(&mut c, r, &a.wait).await?;
        }
        Verb::ConfigPatch(a) => {
            let mut patch = read_document(&a.file)?;
            if a.json_patch {
                root_json_patch(&mut patch)?;
                resolve_names(&mut c, &mut patch).await?;
            }
            let format = if a.json_patch {
                PatchFormat::JsonPatch
            } else {
                PatchFormat::Merge
            };
            no_redacted(&patch)?;
            let patch_json = patch.to_string();
            fits(&patch_json, max)?;
            let req = PatchRequest {
                patch_json,
                format: format as i32,
                expect_version: a.expect_version,
                message: a.message,
                author,
                dry_run: a.dry_run,
                canary: a.canary.into_iter().collect::<HashMap<_, _>>(),
            };
            let r = c.patch(req).await.map_err(status)?.into_inner();
            if r.dry_run {
                let valid = r.problems.is_empty();
                print_json(
                    &json!({"dryRun": true, "valid": valid, "problems": r.problems, "diff": parse_json(&r.diff_json)?}),
                );
                eprintln!("{}", r.diff_text);
                return if valid {
                    Ok(())
                } else {
                    Err(Failure::op(r.problems.join("\n")))
                };
            }
            finish_write(&mut c, r, &a.wait).await?;
        }
        Verb::ConfigValidate(a) => {
            let doc = read_document(&a.file)?;
            let r = c
                .validate(ValidateRequest {
                    json: doc.to_string(),
                })
                .await
                .map_err(status)?
                .into_inner();
            print_json(&json!({"valid": r.valid, "problems": r.problems}));
            if !r.valid {
                return Err(Failure::op(r.problems.join("\n")));
            }
        }
        Verb::ConfigHistory(a) => {
            let r = c
                .history(HistoryRequest {
                    limit: a.limit,
                    before: None,
                })
                .await
                .map_err(status)?
                .into_inner();
            print_json(&Value::Array(r.versions.iter().map(version_json).collect()));
        }
        Verb::ConfigDiff(a) => {
            let r = c
                .diff(DiffRequest {
                    from: a.from,
                    to: a.to,
                })
                .await
                .map_err(status)?
                .into_inner();
            print_json(&parse_json(&r.diff_json)?);
            eprintln!("{}", r.diff_text);
        }
        Verb::ConfigRollback(a) => {
            let r = c
                .rollback(RollbackRequest {
                    to_version: a.to,
                    message: a.message,
                    author,
                })
                .await
                .map_err(status)?
                .into_inner();
            finish_write(&mut c, r, &a.wait).await?;
        }
        Verb::ConfigPromote(w) => {
            let r = c
                .promote(PromoteRequest { author })
                .await
                .map_err(status)?
                .into_inner();
            finish_write(&mut c, r, &w).await?;
        }
        Verb::Nodes => {
            let r = c.nodes(NodesRequest {}).await.map_err(status)?.into_inner();
            print_json(&Value::Array(r.nodes.iter().map(node_json).collect()));
        }
        Verb::RouteExplain(a) => {
            let r = c
                .get(GetRequest {
                    version: a.version,
                    key: String::new(),
                })
                .await
                .map_err(status)?
                .into_inner();
            let doc = parse_json(&r.json)?;
            print_json(&crate::explain::run(&a, &doc, r.version).await?);
        }
        Verb::Validate(_) | Verb::ConfigEffective(_) | Verb::ApikeyNew(_) => {
            return Err(Failure::usage("not an admin verb"));
        }
    }
    Ok(())
}

async fn connect(conn: &Conn) -> Result<Client, Failure> {
    let mut ep = Endpoint::from_shared(conn.server.clone())
        .map_err(|e| Failure::usage(format!("--server {}: {e}", conn.server)))?
        .connect_timeout(conn.timeout)
        .timeout(conn.timeout);
    if conn.server.starts_with("https://") {
        let mut tls = ClientTlsConfig::new();
        if let Some(ca) = &conn.ca {
            let pem = std::fs::read(ca)
                .map_err(|e| Failure::op(format!("cannot read {}: {e}", ca.display())))?;
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        ep = ep
            .tls_config(tls)
            .map_err(|e| Failure::op(format!("TLS setup failed: {e}")))?;
    }
    // The TCP connect may succeed while nothing answers (a stopped process): bound the handshake too.
    let channel = match tokio::time::timeout(conn.timeout, ep.connect()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            return Err(Failure::op(format!(
                "cannot reach the control plane at {} ({}): is `openclaw up` or `openclaw-control-plane` running there? \
                 Point --server (or OPENCLAW_SERVER) at its gRPC address",
                conn.server,
                error_chain(&e)
            )));
        }
        Err(_) => return Err(not_answering(conn)),
    };
    let token =
        match admin_token(conn.token.as_deref()) {
            Some(t) => Some(format!("Bearer {t}").parse().map_err(|_| {
                Failure::usage("--token contains characters not allowed in a header")
            })?),
            None => None,
        };
    TIMEOUT_HINT.with(|h| *h.borrow_mut() = Some(conn.clone()));
    Ok(AdminClient::with_interceptor(channel, Bearer(token))
        .max_decoding_message_size(conn.max_message_size)
        .max_encoding_message_size(conn.max_message_size))
}

thread_local! {
    /// The connection settings, for error messages that name the address and the flags.
    static TIMEOUT_HINT: std::cell::RefCell<Option<Conn>> = const { std::cell::RefCell::new(None) };
}

fn not_answering(conn: &Conn) -> Failure {
    Failure::op(format!(
        "the control plane at {} did not answer within {:?}: is it overloaded or stopped? \
         (--timeout or OPENCLAW_TIMEOUT gives it longer)",
        conn.server, conn.timeout
    ))
}

/// Resolves path segments `key=value` (`/routing/rules/name=chat-api/target`) to the index of the
/// array element whose `key` is `value` in the stored head version, and guards each with a `test`
/// operation, so the patch fails cleanly if head changed in between.
async fn resolve_names(c: &mut Client, ops: &mut Value) -> Result<(), Failure> {
    let Value::Array(list) = ops else {
        return Ok(());
    };
    let named = |p: &str| p.split('/').any(|seg| seg.contains('='));
    if !list.iter().any(|op| {
        ["path", "from"]
            .iter()
            .any(|f| op.get(*f).and_then(Value::as_str).is_some_and(named))
    }) {
        return Ok(());
    }
    let head = c
        .get(GetRequest {
            version: None,
            key: String::new(),
        })
        .await
        .map_err(status)?
        .into_inner();
    let doc = parse_json(&head.json)?;
    let mut tests = Vec::new();
    for op in list.iter_mut() {
        for field in ["path", "from"] {
            let Some(Value::String(p)) = op.get_mut(field) else {
                continue;
            };
            if !named(p) {
                continue;
            }
            let mut resolved = String::new();
            let mut at = Some(&doc);
            for seg in p.split('/').skip(1) {
                let here = at;
                let seg = match (here, seg.split_once('=')) {
                    (Some(Value::Array(items)), Some((key, value))) => {
                        let i = items
                            .iter()
                            .position(|e| e.get(key).and_then(Value::as_str) == Some(value))
                            .ok_or_else(|| {
                                Failure::op(format!(
                                    "{p}: no element with {key} = {value} at {resolved} in version {}",
                                    head.version
                                ))
                            })?;
                        tests.push(json!({"op": "test", "path": format!("{resolved}/{i}/{key}"), "value": value}));
                        i.to_string()
                    }
                    _ => seg.to_string(),
                };
                at = match here {
                    Some(Value::Array(items)) => {
                        seg.parse::<usize>().ok().and_then(|i| items.get(i))
                    }
                    Some(Value::Object(m)) => m.get(&seg),
                    _ => None,
                };
                resolved.push('/');
                resolved.push_str(&seg);
            }
            *p = resolved;
        }
    }
    tests.append(list);
    *list = tests;
    Ok(())
}

/// Refuses a document or patch that would store `<redacted>` (copied from `config.get` output) as a
/// secret's value.
fn no_redacted(v: &Value) -> Result<(), Failure> {
    fn find(v: &Value, at: &str) -> Option<String> {
        match v {
            Value::String(s) if s == openclaw_config::secrets::REDACTED => Some(at.to_string()),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, x)| find(x, &format!("{at}/{i}"))),
            Value::Object(m) => m.iter().find_map(|(k, x)| find(x, &format!("{at}/{k}"))),
            _ => None,
        }
    }
    match find(v, "") {
        Some(at) => Err(Failure::op(format!(
            "{at}: is `<redacted>`, as `config.get` shows secrets; give the real value or a ${{VAR}} placeholder, \
             or leave the key out of the patch"
        ))),
        None => Ok(()),
    }
}

/// Refuses to send a document over the limit, naming its size and the flag.
fn fits(json: &str, max: usize) -> Result<(), Failure> {
    if json.len() + 1024 > max {
        return Err(Failure::op(format!(
            "the document is {} bytes, over this command's limit of {max} bytes; raise --max-message-size \
             (OPENCLAW_MAX_MESSAGE_SIZE, default 64MiB) here and on the control plane",
            json.len()
        )));
    }
    Ok(())
}

/// An error and its sources, `a: b: c`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// The value of `key` as a patch that `config.patch` takes back: a merge patch for object keys, a
/// JSON Patch `replace` when the key goes through an array element.
fn as_patch(key: &str, value: Value) -> Result<Value, Failure> {
    let path = if key.trim().is_empty() {
        openclaw_config::Path::root()
    } else {
        openclaw_config::Path::parse_relative(key).map_err(Failure::usage)?
    };
    if path.segments().is_empty() {
        return Ok(value);
    }
    if path
        .segments()
        .iter()
        .any(|s| matches!(s, openclaw_config::Segment::Index(_)))
    {
        return Ok(json!([{"op": "replace", "path": path.to_pointer(), "value": value}]));
    }
    let mut out = value;
    for seg in path.segments().iter().rev() {
        if let openclaw_config::Segment::Key(k) = seg {
            out = json!({ k.as_str(): out });
        }
    }
    Ok(out)
}

/// Lets JSON Patch paths leave out `/gateway` (`/routing/rules/-`): every document is rooted there.
fn root_json_patch(ops: &mut Value) -> Result<(), Failure> {
    let Value::Array(ops) = ops else {
        return Err(Failure::usage(
            "a JSON Patch is an array of operations: [{\"op\": \"add\", \"path\": \"/routing/rules/-\", \"value\": {…}}]",
        ));
    };
    for op in ops {
        for field in ["path", "from"] {
            if let Some(Value::String(p)) = op.get_mut(field)
                && p != "/gateway"
                && !p.starts_with("/gateway/")
            {
                *p = format!("/gateway{p}");
            }
        }
    }
    Ok(())
}

async fn finish_write(c: &mut Client, r: WriteResponse, wait: &WaitArgs) -> Result<(), Failure> {
    let v = r.version.unwrap_or_default();
    let mut out = version_json(&v);
    out["changed"] = json!(r.changed);
    out["diff"] = parse_json(&r.diff_json)?;
    if !r.canary.is_empty() {
        out["canary"] = json!(r.canary);
    }
    print_json(&out);
    if !r.diff_text.is_empty() {
        eprintln!("{}", r.diff_text);
    }
    if wait.wait {
        wait_rollout(c, v.version, wait).await?;
    }
    Ok(())
}

/// Follows the rollout of `version` on stderr until every node applied it, one NACKed, or time ran out.
async fn wait_rollout(c: &mut Client, version: u64, wait: &WaitArgs) -> Result<(), Failure> {
    let follow = async {
        let mut stream = c
            .watch_rollout(WatchRolloutRequest { version })
            .await
            .map_err(status)?
            .into_inner();
        while let Some(ev) = stream.message().await.map_err(status)? {
            if ev.nacked {
                return Err(Failure::op(format!(
                    "node {} rejected version {version}: {}",
                    ev.node_id, ev.error
                )));
            }
            if !ev.node_id.is_empty() {
                eprintln!(
                    "rollout v{version}: {}/{} nodes applied (node {} at v{})",
                    ev.applied, ev.total, ev.node_id, ev.applied_version
                );
            }
            if ev.done {
                eprintln!(
                    "rollout v{version}: done, {}/{} nodes applied",
                    ev.applied, ev.total
                );
                return Ok(());
            }
        }
        Err(Failure::op(
            "the rollout stream ended before every node applied the version",
        ))
    };
    match tokio::time::timeout(wait.wait_timeout, follow).await {
        Ok(r) => r,
        Err(_) => Err(Failure::op(format!(
            "timed out after {:?} waiting for nodes to apply version {version} (--wait-timeout gives them longer)",
            wait.wait_timeout
        ))),
    }
}

fn version_json(v: &VersionInfo) -> Value {
    json!({"version": v.version, "parent": v.parent, "author": v.author, "time": v.time, "message": v.message, "hash": v.hash})
}

fn node_json(n: &NodeStatus) -> Value {
    let opt = |s: &str| if s.is_empty() { Value::Null } else { json!(s) };
    json!({
        "nodeId": n.node_id,
        "labels": n.labels,
        "address": n.address,
        "connected": n.connected,
        "appliedVersion": n.applied_version,
        "desiredVersion": n.desired_version,
        "canary": n.canary,
        "lastAck": opt(&n.last_ack),
        "lastNack": opt(&n.last_nack),
        "nackError": opt(&n.nack_error),
        "softwareVersion": n.software_version,
        "localOverrides": n.local_overrides,
        "restartRequired": n.restart_required,
    })
}

fn parse_json(s: &str) -> Result<Value, Failure> {
    if s.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(s).map_err(|e| Failure::op(format!("the server sent invalid JSON: {e}")))
}

fn status(s: Status) -> Failure {
    if s.message().contains("message length too large") {
        return Failure::op(format!(
            "{}: the document is over the size limit; raise --max-message-size (OPENCLAW_MAX_MESSAGE_SIZE, default 64MiB) \
             on the control plane and on this command",
            s.message()
        ));
    }
    if s.code() == Code::Cancelled
        && s.message().contains("Timeout expired")
        && let Some(conn) = TIMEOUT_HINT.with(|h| h.borrow().clone())
    {
        return not_answering(&conn);
    }
    match s.code() {
        Code::InvalidArgument => Failure::op(s.message().to_string()),
        Code::Unauthenticated => Failure::op(format!("unauthenticated: {}", s.message())),
        Code::Unavailable => Failure::op(format!("control plane unavailable: {}", s.message())),
        _ => Failure::op(format!("error: {}", s.message())),
    }
}

fn author() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "openclaw-cli".into())
}

/// The admin token: `--token`, else a non-empty `OPENCLAW_TOKEN`.
fn admin_token(flag: Option<&str>) -> Option<String> {
    flag.map(str::to_string).or_else(|| {
        std::env::var("OPENCLAW_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
    })
}
