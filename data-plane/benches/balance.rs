//! The cost of one pick for each of the sixteen balancing strategies, with pools of 3, 30 and 300
//! healthy endpoints (targets: under 100 ns for the simple ones, under 1 µs for all). The request
//! carries a client IP and, for the hashing strategies, a `x-session` header key. Run with
//! `cargo bench -p openclaw-data-plane --bench balance`.

#![allow(missing_docs)] // criterion_group! generates undocumented items.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use openclaw_config::{AgentEndpoint, HealthCheck, LoadBalancing, StaticAgent, Strategy};
use openclaw_data_plane::balance::{Balancer, BuildContext, KeyInput, Tables};
use openclaw_data_plane::proxy::ReqHeaders;
use openclaw_data_plane::upstream::Registry;

fn pool(
    n: usize,
) -> (
    Registry,
    Vec<std::sync::Arc<openclaw_data_plane::upstream::Endpoint>>,
) {
    let registry = Registry::new();
    let agents: Vec<StaticAgent> = (0..n)
        .map(|i| StaticAgent {
            id: format!("agent-{i}"),
            endpoints: vec![AgentEndpoint {
                url: format!("http://10.0.{}.{}:8080", i / 250, i % 250),
                // Mixed weights, and half the pool in the node's zone.
                weight: 50 + (i as u32 % 4) * 50,
                labels: BTreeMap::from([(
                    "zone".to_string(),
                    if i % 2 == 0 { "a" } else { "b" }.to_string(),
                )]),
            }],
            ..StaticAgent::default()
        })
        .collect();
    let hc = HealthCheck {
        enabled: false,
        ..HealthCheck::default()
    };
    let set = registry.sync(&agents, &hc).expect("sync");
    let eps = set.iter().cloned().collect();
    (registry, eps)
}

fn picks(c: &mut Criterion) {
    let mut headers = http::HeaderMap::new();
    headers.insert("x-session", "conv-1234567".parse().expect("value"));
    let headers = ReqHeaders::Map(headers);
    let node = BTreeMap::from([("zone".to_string(), "a".to_string())]);
    let tables = Tables::default();
    let mut group = c.benchmark_group("pick");
    for n in [3usize, 30, 300] {
        let (_registry, eps) = pool(n);
        for s in Strategy::ALL {
            let mut lb = LoadBalancing {
                strategy: s,
                ..LoadBalancing::default()
            };
            if s.hashes() {
                lb.hash_on = Some("header:x-session".into());
            }
            let b = Balancer::new(
                eps.clone(),
                &lb,
                BuildContext {
                    tables: &tables,
                    node_labels: &node,
                    runtime: None,
                },
            );
            let mut i = 0u32;
            group.bench_function(BenchmarkId::new(s.name(), n), |bench| {
                bench.iter(|| {
                    i = i.wrapping_add(1);
                    let req = KeyInput {
                        client_ip: std::net::Ipv4Addr::from(i).into(),
                        headers: &headers,
                        query: None,
                        body: None,
                    };
                    black_box(b.pick(black_box(&req)))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, picks);
criterion_main!(benches);
