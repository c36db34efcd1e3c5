//! Distribution and stability of every strategy over 10,000 picks, on endpoints of a real registry.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use openclaw_config::{
    Duration as ConfigDuration, HealthCheck, LoadBalancing, StaticAgent, Strategy,
};

use super::*;
use crate::proxy::ReqHeaders;
use crate::upstream::{Endpoint, Registry};

/// `n` healthy, unchecked endpoints `e0..`, weight 100 each.
pub(crate) fn endpoints(n: usize) -> Vec<Arc<Endpoint>> {
    weighted(&vec![100; n])
}

/// Healthy, unchecked endpoints `e0..` of these weights.
pub(crate) fn weighted(weights: &[u32]) -> Vec<Arc<Endpoint>> {
    let (_, eps) = registry(weights);
    eps
}

fn registry(weights: &[u32]) -> (Registry, Vec<Arc<Endpoint>>) {
    let r = Registry::new();
    let eps = sync(&r, weights);
    (r, eps)
}

fn sync(r: &Registry, weights: &[u32]) -> Vec<Arc<Endpoint>> {
    let agents: Vec<StaticAgent> = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| StaticAgent {
            id: format!("e{i}"),
            endpoint: format!("http://10.0.0.{i}:80"),
            weight: w,
            ..StaticAgent::default()
        })
        .collect();
    let hc = HealthCheck {
        enabled: false,
        ..HealthCheck::default()
    };
    r.sync(&agents, &hc).unwrap().iter().cloned().collect()
}

fn lb(strategy: Strategy) -> LoadBalancing {
    LoadBalancing {
        strategy,
        ..LoadBalancing::default()
    }
}

fn balancer(eps: &[Arc<Endpoint>], lb: &LoadBalancing, tables: &Tables) -> Balancer {
    let labels = BTreeMap::from([("zone".to_string(), "a".to_string())]);
    Balancer::new(
        eps.to_vec(),
        lb,
        BuildContext {
            tables,
            node_labels: &labels,
            runtime: None,
        },
    )
}

fn empty() -> ReqHeaders {
    ReqHeaders::Map(http::HeaderMap::new())
}

fn input<'a>(h: &'a ReqHeaders, ip: &str) -> KeyInput<'a> {
    KeyInput {
        client_ip: ip.parse().unwrap(),
        headers: h,
        query: None,
        body: None,
    }
}

/// Shares of 10,000 picks by endpoint index.
fn shares(b: &Balancer, eps: &[Arc<Endpoint>]) -> Vec<f64> {
    let h = empty();
    let mut counts = vec![0usize; eps.len()];
    for i in 0..10_000u32 {
        let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        let e = b.pick(&input(&h, &ip)).unwrap();
        let at = eps.iter().position(|x| Arc::ptr_eq(x, &e)).unwrap();
        counts[at] += 1;
    }
    counts.iter().map(|&c| c as f64 / 10_000.0).collect()
}

fn assert_shares(got: &[f64], want: &[f64], tolerance: f64, what: &str) {
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= tolerance,
            "{what}: got {got:?}, want {want:?}"
        );
    }
}

fn mark_down(e: &Endpoint) {
    crate::upstream::tests_support::mark_down(e);
}

#[test]
fn every_strategy_spreads_10000_picks_by_weight() {
    let tables = Tables::default();
    let eps = weighted(&[300, 100, 100]);
    let by_weight = [0.6, 0.2, 0.2];
    let even = [1.0 / 3.0; 3];
    for s in Strategy::ALL {
        let b = balancer(&eps, &lb(s), &tables);
        let got = shares(&b, &eps);
        let (want, tol): (&[f64], f64) = match s {
            Strategy::WeightedRoundRobin | Strategy::WeightedRandom | Strategy::Adaptive => {
                (&by_weight, 0.02)
            }
            Strategy::StickyCookie => (&by_weight, 0.02),
            // Consistent hashing is proportional over many keys (10,000 client IPs here).
            Strategy::RingHash | Strategy::Maglev | Strategy::RendezvousHash => (&by_weight, 0.02),
            Strategy::RoundRobin | Strategy::Random | Strategy::IpHash => (&even, 0.02),
            // Sequential picks see no request in flight: ties rotate (evenly), or the heaviest
            // wins (always when all are compared, in the two thirds of pairs holding it for P2C).
            Strategy::LeastConnections => (&even, 0.02),
            Strategy::PowerOfTwoChoices | Strategy::PeakEwma => {
                (&[2.0 / 3.0, 1.0 / 6.0, 1.0 / 6.0], 0.02)
            }
            Strategy::WeightedLeastConnections | Strategy::LeastResponseTime => {
                (&[1.0, 0.0, 0.0], 0.0)
            }
            // No endpoint has labels: nothing is local, so all are in the spill-over pool.
            Strategy::Locality => (&[1.0, 0.0, 0.0], 0.0),
        };
        assert_shares(&got, want, tol, s.name());
    }
}

#[test]
fn smooth_weighted_round_robin_interleaves() {
    let s = weighted::Schedule::new(&[5, 1, 1]);
    assert_eq!(s.order(), [0, 0, 1, 0, 2, 0, 0]);
    let t = Tables::default();
    let eps = weighted(&[300, 100]);
    let b = balancer(&eps, &lb(Strategy::WeightedRoundRobin), &t);
    let h = empty();
    let picks: Vec<usize> = (0..8)
        .map(|_| {
            let e = b.pick(&input(&h, "10.0.0.1")).unwrap();
            eps.iter().position(|x| Arc::ptr_eq(x, &e)).unwrap()
        })
        .collect();
    assert_eq!(picks, [0, 0, 1, 0, 0, 0, 1, 0]);
}

#[test]
fn unhealthy_endpoints_are_never_picked_and_an_empty_or_dead_pool_gives_none() {
    let t = Tables::default();
    let eps = endpoints(3);
    mark_down(&eps[1]);
    for s in Strategy::ALL {
        let b = balancer(&eps, &lb(s), &t);
        let got = shares(&b, &eps);
        assert_eq!(got[1], 0.0, "{}", s.name());
        let none = balancer(&[], &lb(s), &t);
        assert!(none.pick(&input(&empty(), "10.0.0.1")).is_none());
    }
    mark_down(&eps[0]);
    mark_down(&eps[2]);
    for s in Strategy::ALL {
        let b = balancer(&eps, &lb(s), &t);
        assert!(
            b.pick(&input(&empty(), "10.0.0.1")).is_none(),
            "{}",
            s.name()
        );
    }
}

#[test]
fn hashing_strategies_are_stable_per_key_and_move_about_1_over_n_when_one_is_added() {
    let t = Tables::default();
    let (r, eps) = registry(&[100; 10]);
    let mut more_weights = vec![100; 11];
    more_weights[10] = 100;
    let more = sync(&r, &more_weights);
    let h = empty();
    for s in [
        Strategy::IpHash,
        Strategy::RingHash,
        Strategy::Maglev,
        Strategy::RendezvousHash,
    ] {
        let before = balancer(&eps, &lb(s), &t);
        let after = balancer(&more, &lb(s), &t);
        let mut moved = 0;
        for i in 0..10_000u32 {
            let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
            let a = before.pick(&input(&h, &ip)).unwrap();
            assert!(Arc::ptr_eq(&a, &before.pick(&input(&h, &ip)).unwrap()));
            let b = after.pick(&input(&h, &ip)).unwrap();
            if !Arc::ptr_eq(&a, &b) {
                moved += 1;
            }
        }
        let share = f64::from(moved) / 10_000.0;
        if s == Strategy::IpHash {
            // Modulo hashing is stable per key but not consistent: most keys move.
            assert!(share > 0.5, "ipHash moved {share}");
        } else {
            assert!(share < 1.0 / 11.0 + 0.03, "{} moved {share}", s.name());
        }
    }
}

#[test]
fn sticky_cookie_keeps_a_named_endpoint_and_hash_keys_come_from_the_request() {
    let t = Tables::default();
    let eps = endpoints(3);
    let b = balancer(&eps, &lb(Strategy::StickyCookie), &t);
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::COOKIE,
        format!("openclaw_affinity={:016x}", eps[2].sticky_id())
            .parse()
            .unwrap(),
    );
    let h = ReqHeaders::Map(h);
    for _ in 0..100 {
        assert!(Arc::ptr_eq(
            &b.pick(&input(&h, "10.0.0.1")).unwrap(),
            &eps[2]
        ));
    }
    // The named endpoint down: another one, and (in the proxy) a new cookie.
    mark_down(&eps[2]);
    assert!(!Arc::ptr_eq(
        &b.pick(&input(&h, "10.0.0.1")).unwrap(),
        &eps[2]
    ));

    let mut ring = lb(Strategy::RingHash);
    ring.hash_on = Some("header:x-session".into());
    let b = balancer(&eps[..2], &ring, &t);
    let mut m = http::HeaderMap::new();
    m.insert("x-session", "s-1".parse().unwrap());
    let with = ReqHeaders::Map(m);
    let first = b.pick(&input(&with, "10.0.0.1")).unwrap();
    for ip in ["10.0.0.2", "10.0.0.3", "10.9.9.9"] {
        assert!(Arc::ptr_eq(&b.pick(&input(&with, ip)).unwrap(), &first));
    }
    let explained = b.explain(&input(&empty(), "10.0.0.1"));
    assert_eq!(explained["hashOn"], "header:x-session");
    assert!(explained["keyMissing"].is_string(), "{explained}");
}

#[test]
fn unchanged_pools_reuse_their_tables() {
    let t = Tables::default();
    let (r, eps) = registry(&[100, 100, 100]);
    let _a = balancer(&eps, &lb(Strategy::Maglev), &t);
    let _b = balancer(&eps, &lb(Strategy::Maglev), &t);
    assert_eq!(t.built(), 1);
    // Changing one weight changes the table.
    let changed = sync(&r, &[100, 100, 50]);
    let _c = balancer(&changed, &lb(Strategy::Maglev), &t);
    assert_eq!(t.built(), 2);
}

#[test]
fn locality_prefers_local_endpoints_and_spills_over_when_they_are_down_or_busy() {
    let t = Tables::default();
    let r = Registry::new();
    let mk = |id: &str, zone: &str| StaticAgent {
        id: id.into(),
        endpoints: vec![openclaw_config::AgentEndpoint {
            url: format!("http://{id}:80"),
            weight: 100,
            labels: BTreeMap::from([("zone".into(), zone.into())]),
        }],
        ..StaticAgent::default()
    };
    let hc = HealthCheck {
        enabled: false,
        ..HealthCheck::default()
    };
    let set = r
        .sync(&[mk("near", "a"), mk("far1", "b"), mk("far2", "b")], &hc)
        .unwrap();
    let eps: Vec<_> = set.iter().cloned().collect();
    let b = balancer(&eps, &lb(Strategy::Locality), &t);
    let got = shares(&b, &eps);
    assert_eq!(got, [1.0, 0.0, 0.0]);
    // Busy beyond the spillover: 2 × mean(4/3) + 1 < 4 in flight.
    let guards: Vec<_> = (0..4).map(|_| eps[0].begin()).collect();
    let far = b.pick(&input(&empty(), "10.0.0.1")).unwrap();
    assert_ne!(far.agent_id(), "near");
    drop(guards);
    mark_down(&eps[0]);
    assert_eq!(shares(&b, &eps)[0], 0.0);
}

#[tokio::test(start_paused = true)]
async fn slow_start_ramps_a_new_endpoint_in_weighted_strategies() {
    let t = Tables::default();
    let (r, _) = registry(&[100, 100]);
    // The second sync adds e2: it ramps from 10% over 30s.
    let eps = sync(&r, &[100, 100, 100]);
    let mut cfg = lb(Strategy::WeightedRandom);
    cfg.slow_start.enabled = true;
    cfg.slow_start.duration = ConfigDuration::secs(30);
    cfg.slow_start.initial_weight = 10;
    let b = balancer(&eps, &cfg, &t);
    let start = shares(&b, &eps)[2];
    // 10 / (100 + 100 + 10)
    assert!((start - 10.0 / 210.0).abs() < 0.02, "{start}");
    tokio::time::advance(Duration::from_secs(15)).await;
    let mid = shares(&b, &eps)[2];
    assert!((mid - 55.0 / 255.0).abs() < 0.02, "{mid}");
    tokio::time::advance(Duration::from_secs(16)).await;
    let done = shares(&b, &eps)[2];
    assert!((done - 1.0 / 3.0).abs() < 0.02, "{done}");
    // Disabled, nothing ramps.
    let r2 = Registry::new();
    let _ = sync(&r2, &[100]);
    let later = sync(&r2, &[100, 100]);
    let plain = balancer(&later, &lb(Strategy::WeightedRandom), &t);
    assert!((shares(&plain, &later)[1] - 0.5).abs() < 0.02);
}

#[test]
fn weighted_least_connections_and_p2c_avoid_busy_endpoints() {
    let t = Tables::default();
    let eps = endpoints(3);
    let busy: Vec<_> = (0..5).map(|_| eps[0].begin()).collect();
    for s in [
        Strategy::LeastConnections,
        Strategy::WeightedLeastConnections,
        Strategy::PowerOfTwoChoices,
        Strategy::PeakEwma,
        Strategy::LeastResponseTime,
    ] {
        let b = balancer(&eps, &lb(s), &t);
        assert_eq!(shares(&b, &eps)[0], 0.0, "{}", s.name());
    }
    drop(busy);
    // A slow endpoint loses traffic to peakEwma and leastResponseTime.
    eps[0].load().observe_latency(Duration::from_millis(50));
    eps[1].load().observe_latency(Duration::from_millis(1));
    eps[2].load().observe_latency(Duration::from_millis(1));
    for s in [Strategy::PeakEwma, Strategy::LeastResponseTime] {
        let b = balancer(&eps, &lb(s), &t);
        assert_eq!(shares(&b, &eps)[0], 0.0, "{}", s.name());
    }
    let _ = HashMap::<u8, u8>::new();
}

#[test]
fn state_survives_swaps_and_a_weight_change_resets_nobody_elses() {
    let (r, eps) = registry(&[100, 100]);
    let guard = eps[0].begin();
    eps[0].load().observe_latency(Duration::from_millis(5));
    let again = sync(&r, &[100, 300, 100]);
    assert!(Arc::ptr_eq(&again[0], &eps[0]) && Arc::ptr_eq(&again[1], &eps[1]));
    assert_eq!((again[0].in_flight(), again[1].weight()), (1, 300));
    assert!(again[0].load().has_latency());
    assert!(!again[0].load().ramping() && !again[1].load().ramping());
    assert!(again[2].load().ramping(), "an endpoint added later ramps");
    drop(guard);
}
