//! Propagation benchmark: one real control plane process, N discovery clients (the data plane's own
//! client library) in this process, a config of 1,000 routing rules and 200 agents. For each of P
//! patches it measures the time from the patch being acknowledged until the control plane has every
//! node's ACK (its rollout watch reports done), and the control plane's CPU time and resident memory.
//!
//! `cargo run --release -p openclaw-e2e --bin propagation-bench -- [--nodes 10,100,1000] [--patches 20]`

#![allow(clippy::unwrap_used)] // A benchmark driver: any failure aborts the run with its message.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use openclaw_data_plane::discovery::{Applied, ClientConfig, DiscoveryClient, Held};
use openclaw_e2e::{ADMIN_TOKEN, ControlPlane, CpOptions, NODE_TOKEN};
use openclaw_proto::admin::admin_client::AdminClient;
use openclaw_proto::admin::{PatchFormat, PatchRequest, WatchRolloutRequest};
use serde_json::{Value, json};
use tonic::transport::Channel;

/// Clients per shared HTTP/2 connection.
const CLIENTS_PER_CHANNEL: usize = 250;

fn big_config(agents: usize, rules: usize) -> Value {
    let agents: Vec<Value> = (0..agents)
        .map(|i| json!({"id": format!("agent-{i:03}"), "endpoint": format!("http://127.0.0.1:{}", 20000 + i), "weight": 100, "tags": [format!("pool-{}", i % 10)]}))
        .collect();
    let rules: Vec<Value> = (0..rules)
        .map(|i| match i % 3 {
            0 => json!({"name": format!("exact-{i}"), "match": {"type": "exact", "pattern": format!("/api/v1/r{i}")}, "target": format!("agent-{:03}", i % 200)}),
            1 => json!({"name": format!("prefix-{i}"), "match": {"type": "prefix", "pattern": format!("/svc/{i}/*")}, "target": format!("tag:pool-{}", i % 10)}),
            _ => json!({"name": format!("regex-{i}"), "match": {"type": "regex", "pattern": format!("^/agents/{i}/[^/]+$")}, "target": format!("agent-{:03}", (i * 7) % 200)}),
        })
        .collect();
    json!({"gateway": {"agents": {"discovery": {"static": agents}}, "routing": {"rules": rules}}})
}

fn proc_cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn proc_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn auth<T>(mut r: tonic::Request<T>) -> tonic::Request<T> {
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {ADMIN_TOKEN}").parse().unwrap(),
    );
    r
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let node_counts: Vec<usize> = arg("--nodes")
        .unwrap_or_else(|| "10,100,1000".into())
        .split(',')
        .map(|n| n.parse().unwrap())
        .collect();
    let patches: usize = arg("--patches").map_or(20, |p| p.parse().unwrap());

    println!("propagation benchmark: 1000 rules, 200 agents, {patches} patches per run");
    println!(
        "{:>6} {:>9} {:>9} {:>9} {:>12} {:>14} {:>12}",
        "nodes", "p50 ms", "p99 ms", "max ms", "cp cpu ms/patch", "rss/node KiB", "cp rss MiB"
    );
    for &n in &node_counts {
        run(n, patches).await;
    }
}

async fn run(nodes: usize, patches: usize) {
    let dir = tempfile::tempdir().unwrap();
    let cp = ControlPlane::start(
        dir.path(),
        CpOptions {
            bootstrap: Some(big_config(200, 1000)),
            ..CpOptions::default()
        },
    );
    let pid = cp.pid();
    let url = cp.url();
    let mut admin = AdminClient::new(
        Channel::from_shared(url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = proc_rss_kib(pid);

    // Start the clients, a few hundred per shared connection.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut statuses = Vec::new();
    let mut tasks = Vec::new();
    let mut channel = None;
    for i in 0..nodes {
        let mut cfg = ClientConfig::new(url.clone(), format!("bench-node-{i:04}"));
        cfg.token = Some(NODE_TOKEN.into());
        cfg.labels = BTreeMap::from([("zone".to_string(), format!("z{}", i % 3))]);
        if i % CLIENTS_PER_CHANNEL == 0 {
            channel = Some(cfg.channel().unwrap());
        }
        let client = DiscoveryClient::with_channel(cfg, channel.clone().unwrap());
        statuses.push(client.status());
        let mut stop = stop_rx.clone();
        tasks.push(tokio::spawn(client.run(
            Held::new(),
            |_snapshot| Ok(Applied::default()),
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        )));
    }
    // Every client holds version 1 before measuring.
    for s in &mut statuses {
        s.wait_for(|st| st.applied_version >= 1).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_connected = proc_rss_kib(pid);
    let cpu_before = proc_cpu_secs(pid);

    let mut times = Vec::new();
    for p in 0..patches {
        let agent = format!("agent-{:03}", (p * 13) % 200);
        let ops = json!([{"op": "replace", "path": format!("/gateway/agents/discovery/static/{}/weight", (p * 13) % 200), "value": 101 + p}]);
        let req = PatchRequest {
            patch_json: ops.to_string(),
            format: PatchFormat::JsonPatch as i32,
            message: format!("bench: weight of {agent}"),
            author: "bench".into(),
            ..PatchRequest::default()
        };
        let written = admin
            .patch(auth(tonic::Request::new(req)))
            .await
            .unwrap()
            .into_inner();
        let acked_at = Instant::now();
        let version = written.version.unwrap().version;
        let mut watch = admin
            .watch_rollout(auth(tonic::Request::new(WatchRolloutRequest { version })))
            .await
            .unwrap()
            .into_inner();
        loop {
            let ev = watch
                .message()
                .await
                .unwrap()
                .expect("rollout stream ended early");
            assert!(!ev.nacked, "node {} NACKed: {}", ev.node_id, ev.error);
            if ev.done {
                assert_eq!(ev.applied as usize, nodes, "every node applied");
                break;
            }
        }
        times.push(acked_at.elapsed());
    }
    let cpu = proc_cpu_secs(pid) - cpu_before;
    times.sort();
    let per_node = (rss_connected.saturating_sub(rss_before)) as f64 / nodes as f64;
    println!(
        "{:>6} {:>9.1} {:>9.1} {:>9.1} {:>12.1} {:>14.1} {:>12.1}",
        nodes,
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(*times.last().unwrap()),
        cpu * 1000.0 / patches as f64,
        per_node,
        rss_connected as f64 / 1024.0
    );
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
}
