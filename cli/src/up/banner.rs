//! What `openclaw up` prints once everything is ready: what runs where, which stored version is in
//! force (the demo config just stored, or a store resumed from an earlier run), and commands to try
//! that are right for that version and runnable as shown.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use openclaw_proto::admin::GetRequest;
use openclaw_proto::admin::admin_client::AdminClient;
use serde_json::Value;

use super::demo_agents::DemoAgent;
use super::{EXAMPLE_KEY, NODE_ID, UpArgs, loopback};

/// Prints the banner on stdout.
pub(super) async fn print(args: &UpArgs, agents: &[SocketAddr]) {
    let head = head(loopback(args.control_plane_listen)).await;
    println!(
        "{}",
        lines(args, agents, head.as_ref().ok(), &openclaw()).join("\n")
    );
    if let Err(e) = head {
        eprintln!("openclaw up: cannot read the stored config for the banner: {e}");
    }
}

/// The head version and its document, from the embedded control plane.
async fn head(cp: SocketAddr) -> Result<(u64, Value), String> {
    let ask = async {
        let mut c = AdminClient::connect(format!("http://{cp}"))
            .await
            .map_err(|e| e.to_string())?
            .max_decoding_message_size(openclaw_control_plane::server::DEFAULT_MAX_MESSAGE);
        let r = c
            .get(GetRequest {
                version: None,
                key: String::new(),
            })
            .await
            .map_err(|e| e.message().to_string())?
            .into_inner();
        let doc: Value = serde_json::from_str(&r.json).map_err(|e| e.to_string())?;
        Ok((r.version, doc))
    };
    tokio::time::timeout(Duration::from_secs(10), ask)
        .await
        .map_err(|_| "the control plane did not answer".to_string())?
}

/// How to run this very `openclaw`: its name when `openclaw` on PATH is this binary, else its path.
fn openclaw() -> String {
    let me = std::env::current_exe().ok();
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("openclaw"))
            .find(|f| f.is_file())
    });
    match (me, on_path) {
        (Some(me), Some(found)) if same_file(&me, &found) => "openclaw".into(),
        (Some(me), _) => me.display().to_string(),
        (None, _) => "openclaw".into(),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn lines(
    args: &UpArgs,
    agents: &[SocketAddr],
    head: Option<&(u64, Value)>,
    openclaw: &str,
) -> Vec<String> {
    let gw = loopback(args.listen);
    let base = format!("http://{gw}");
    let server = if args.control_plane_listen.to_string() == "127.0.0.1:18000" {
        String::new()
    } else {
        format!(" --server http://{}", loopback(args.control_plane_listen))
    };
    let cli = format!("{openclaw} gateway{server}");
    let mut lines = vec![
        "OpenClaw Gateway is up (local only: loopback, no admin or node tokens; do not expose it)."
            .to_string(),
        String::new(),
        format!(
            "  control plane  grpc://{}  (store: {}, metrics: http://{}/metrics)",
            args.control_plane_listen,
            args.store_dir().display(),
            args.control_plane_metrics_listen
        ),
        format!("  data plane     {base}  (node id `{NODE_ID}`, managed by the control plane)"),
    ];
    for (agent, addr) in DemoAgent::all().iter().zip(agents) {
        lines.push(format!("  demo agent     {:<15} http://{addr}", agent.id));
    }
    let version = head.map(|(v, _)| *v);
    lines.push(String::new());
    lines.push(match version {
        Some(1) => "  config         version 1: the demo config (stored just now, or never changed)".to_string(),
        Some(v) => format!(
            "  config         version {v}, resumed from {} (`openclaw up --fresh` starts over from the demo config)",
            args.store_dir().display()
        ),
        None => "  config         (the stored version could not be read)".to_string(),
    });
    lines.extend([
        String::new(),
        "Try:".to_string(),
        format!("  curl -s {base}/health"),
        "  # the seed's Python client (GatewayClient.chat):".to_string(),
        format!(
            "  python3 -c 'import requests,json; r=requests.post(\"{base}/api/v1/chat\", headers={{\"Authorization\": \"Bearer {EXAMPLE_KEY}\"}}, json={{\"message\": \"请帮我优化这段代码的性能\", \"agent\": \"agent-chat-001\", \"stream\": False}}); print(json.dumps(r.json(), indent=2, ensure_ascii=False))'"
        ),
        "  # streaming (server-sent events):".to_string(),
        format!(
            "  curl -N -s -X POST {base}/api/v1/chat/stream -H 'Content-Type: application/json' -d '{{\"message\": \"讲一个关于 AI 的笑话\", \"agent\": \"agent-chat-001\", \"stream\": true}}'"
        ),
        "  # semantic routing (no path rule matches, the text says code):".to_string(),
        format!(
            "  curl -s -X POST {base}/ask -H 'Content-Type: application/json' -d '{{\"message\": \"帮我写一个 Python 函数\"}}'"
        ),
        "  # why it went there: the rule, the agent, each category's similarity and confidence:".to_string(),
        format!(
            "  {cli} route.explain --path /ask --body '{{\"message\": \"帮我写一个 Python 函数\"}}'"
        ),
        "  # a rule with requiresAuth: 401 without the key, 200 with it:".to_string(),
        format!("  curl -s -i {base}/api/v1/admin/stats | head -1"),
        format!("  curl -s {base}/api/v1/admin/stats -H 'Authorization: Bearer {EXAMPLE_KEY}'"),
        "  # the stored routing rules:".to_string(),
        format!("  {cli} config.get --key routing.rules"),
    ]);
    let chat_rule = head.and_then(|(_, doc)| {
        doc.pointer("/gateway/routing/rules")?
            .as_array()?
            .iter()
            .position(|r| r["name"] == "chat-api")
    });
    match (chat_rule, version) {
        (Some(i), Some(v)) => lines.extend([
            "  # change routing live: send /api/v1/chat to the code agent, then ask again:".to_string(),
            format!(
                "  echo '[{{\"op\": \"test\", \"path\": \"/routing/rules/{i}/name\", \"value\": \"chat-api\"}}, {{\"op\": \"replace\", \"path\": \"/routing/rules/{i}/target\", \"value\": \"agent-code-001\"}}]' | {cli} config.patch --json-patch --file - --message 'chat → code' --wait"
            ),
            format!(
                "  curl -s -X POST {base}/api/v1/chat -H 'Content-Type: application/json' -d '{{\"message\": \"hello\"}}'    # \"agent\": \"agent-code-001\""
            ),
            format!("  {cli} config.history"),
            format!("  {cli} config.rollback --to {v} --wait    # back to the version in force now"),
        ]),
        _ => lines.push(
            "  # (the stored rules have no `chat-api` rule: see config.get for what to patch)".to_string(),
        ),
    }
    lines.extend([String::new(), "Ctrl-C stops everything.".to_string()]);
    lines
}
