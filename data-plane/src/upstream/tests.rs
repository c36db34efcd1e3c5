//! Tests of the upstream registry: health thresholds, reconciliation across syncs, checker
//! lifetimes, round robin, and health checks against real HTTP servers on 127.0.0.1:0.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::http::Uri;
use openclaw_config::{Duration as ConfigDuration, HealthCheck, StaticAgent};

use super::*;

// === helpers ===

fn agent(id: &str, endpoint: &str) -> StaticAgent {
    StaticAgent {
        id: id.into(),
        endpoint: endpoint.into(),
        ..StaticAgent::default()
    }
}

fn checks(interval_secs: u64, fail: u32, pass: u32) -> HealthCheck {
    HealthCheck {
        interval: ConfigDuration::secs(interval_secs),
        timeout: ConfigDuration::secs(1),
        fail_threshold: fail,
        pass_threshold: pass,
        ..HealthCheck::default()
    }
}

fn disabled() -> HealthCheck {
    HealthCheck {
        enabled: false,
        ..HealthCheck::default()
    }
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

async fn advance(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

/// An in-memory probe: answers per authority as scripted and counts the checks it was asked for.
#[derive(Default)]
struct Scripted {
    failing: Mutex<HashSet<String>>,
    calls: Mutex<HashMap<String, usize>>,
}

impl Scripted {
    fn fail(&self, authority: &str, failing: bool) {
        let mut set = self.failing.lock().unwrap();
        if failing {
            set.insert(authority.to_owned());
        } else {
            set.remove(authority);
        }
    }

    fn calls(&self, authority: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .get(authority)
            .copied()
            .unwrap_or(0)
    }
}

impl Probe for Scripted {
    fn probe(&self, uri: Uri) -> ProbeFuture {
        let authority = uri.authority().unwrap().to_string();
        *self
            .calls
            .lock()
            .unwrap()
            .entry(authority.clone())
            .or_default() += 1;
        let fail = self.failing.lock().unwrap().contains(&authority);
        Box::pin(async move {
            if fail {
                Err(CheckFailure::Status(500))
            } else {
                Ok(None)
            }
        })
    }
}

fn scripted() -> (Arc<Scripted>, Registry) {
    let probe = Arc::new(Scripted::default());
    let registry = Registry::with_probe(probe.clone());
    (probe, registry)
}

// === health thresholds (paused time) ===

#[tokio::test(start_paused = true)]
async fn unhealthy_after_fail_threshold_and_back_after_pass_threshold() {
    let (probe, registry) = scripted();
    probe.fail("a:1", true);
    let set = registry
        .sync(&[agent("a", "http://a:1")], &checks(10, 3, 2))
        .unwrap();
    let a = set.get("a").unwrap().clone();

    advance(1).await; // check at t=0
    assert!(a.is_healthy());
    assert_eq!(a.health().consecutive_failures, 1);
    advance(10).await; // t=10
    assert!(a.is_healthy());
    advance(10).await; // t=20: third failure in a row
    assert!(!a.is_healthy());
    let h = a.health();
    assert_eq!(h.consecutive_failures, 3);
    let last = h.last_check.unwrap();
    assert!(last.error.unwrap().contains("500"));

    probe.fail("a:1", false);
    advance(10).await; // t=30: one pass is not enough
    assert!(!a.is_healthy());
    assert_eq!(a.health().consecutive_passes, 1);
    assert_eq!(a.health().consecutive_failures, 0);
    advance(10).await; // t=40
    assert!(a.is_healthy());
    assert_eq!(a.health().last_check.unwrap().error, None);
    assert_eq!(probe.calls("a:1"), 5);
}

#[tokio::test(start_paused = true)]
async fn a_failure_streak_shorter_than_the_threshold_is_forgiven() {
    let (probe, registry) = scripted();
    let set = registry
        .sync(&[agent("a", "http://a:1")], &checks(10, 2, 1))
        .unwrap();
    let a = set.get("a").unwrap();
    advance(5).await; // off the check boundaries (t=0, 10, …)
    for _ in 0..3 {
        probe.fail("a:1", true);
        advance(10).await;
        probe.fail("a:1", false);
        advance(10).await;
        assert!(a.is_healthy());
    }
}

// === sync ===

#[tokio::test(start_paused = true)]
async fn sync_keeps_unchanged_endpoints_and_drops_removed_ones() {
    let (probe, registry) = scripted();
    probe.fail("b:1", true);
    let hc = checks(10, 1, 1);
    let first = registry
        .sync(
            &[
                agent("a", "http://a:1"),
                agent("b", "http://b:1"),
                agent("c", "http://c:1"),
                agent("d", "http://d:1"),
            ],
            &hc,
        )
        .unwrap();
    advance(1).await;
    let (a, b, d) = (
        first.get("a").unwrap().clone(),
        first.get("b").unwrap().clone(),
        first.get("d").unwrap().clone(),
    );
    assert!(!b.is_healthy());
    let guard = a.begin();
    a.mark_connect_failure();

    let mut a2 = agent("a", "http://a:1/");
    a2.weight = 5;
    a2.tags = vec!["gpu".into()];
    let second = registry
        .sync(
            &[
                a2,
                agent("b", "http://b:1"),
                agent("d", "http://d:2"),
                agent("e", "http://e:1"),
            ],
            &hc,
        )
        .unwrap();
    // Same endpoints, same state, new weight and tags.
    assert!(Arc::ptr_eq(second.get("a").unwrap(), &a));
    assert!(Arc::ptr_eq(second.get("b").unwrap(), &b));
    assert_eq!(a.in_flight(), 1);
    assert_eq!(a.health().connect_failures, 1);
    assert_eq!(a.weight(), 5);
    assert_eq!(&*a.tags(), ["gpu".to_owned()]);
    assert!(!b.is_healthy());
    // A moved agent gets a new, healthy endpoint; a removed one is gone.
    let d2 = second.get("d").unwrap();
    assert!(!Arc::ptr_eq(d2, &d));
    assert_eq!(d2.authority().as_str(), "d:2");
    assert!(second.get("c").is_none());
    assert_eq!(
        second.iter().map(|e| e.agent_id()).collect::<Vec<_>>(),
        ["a", "b", "d", "e"]
    );
    let listed: Vec<_> = registry.health().into_iter().map(|h| h.agent).collect();
    assert_eq!(listed, ["a", "b", "d", "e"]);
    // The old set still works for requests that loaded it.
    assert!(first.get("c").is_some());

    // Unchanged settings do not restart checkers: no extra check right after the sync.
    advance(0).await;
    tokio::task::yield_now().await;
    assert_eq!(probe.calls("a:1"), 1);
    assert_eq!(probe.calls("e:1"), 1);
    assert_eq!(probe.calls("d:2"), 1);

    advance(35).await; // a: t=10, 20, 30; e: t=11, 21, 31
    assert_eq!(probe.calls("a:1"), 4);
    assert_eq!(probe.calls("e:1"), 4);
    assert_eq!(probe.calls("c:1"), 1, "a removed endpoint is not checked");
    assert_eq!(
        probe.calls("d:1"),
        1,
        "a moved endpoint's old URL is not checked"
    );
    drop(guard);
    assert_eq!(a.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn changed_settings_restart_checkers_and_keep_state() {
    let (probe, registry) = scripted();
    probe.fail("a:1", true);
    let set = registry
        .sync(&[agent("a", "http://a:1")], &checks(10, 1, 1))
        .unwrap();
    let a = set.get("a").unwrap().clone();
    advance(1).await;
    assert!(!a.is_healthy());
    assert_eq!(probe.calls("a:1"), 1);

    probe.fail("a:1", false);
    let set = registry
        .sync(&[agent("a", "http://a:1")], &checks(2, 1, 2))
        .unwrap();
    assert!(Arc::ptr_eq(set.get("a").unwrap(), &a));
    advance(0).await;
    tokio::task::yield_now().await;
    // Restarted: an immediate check with the new pass threshold (2), so still unhealthy.
    assert_eq!(probe.calls("a:1"), 2);
    assert!(!a.is_healthy());
    advance(3).await; // new interval, 2s: t=3
    assert_eq!(probe.calls("a:1"), 3);
    assert!(a.is_healthy());
    advance(4).await; // t=5, 7
    assert_eq!(probe.calls("a:1"), 5);
}

#[tokio::test(start_paused = true)]
async fn disabling_checks_stops_them_and_revives_endpoints() {
    let (probe, registry) = scripted();
    probe.fail("a:1", true);
    let set = registry
        .sync(&[agent("a", "http://a:1")], &checks(10, 1, 1))
        .unwrap();
    let a = set.get("a").unwrap().clone();
    advance(1).await;
    assert!(!a.is_healthy());

    registry
        .sync(&[agent("a", "http://a:1")], &disabled())
        .unwrap();
    assert!(a.is_healthy(), "nothing would ever mark it healthy again");
    advance(60).await;
    assert_eq!(probe.calls("a:1"), 1);
    assert!(a.is_healthy());
}

#[tokio::test(start_paused = true)]
async fn shutdown_and_drop_stop_checkers() {
    let (probe, registry) = scripted();
    let set = registry
        .sync(&[agent("a", "http://a:1")], &checks(10, 1, 1))
        .unwrap();
    advance(11).await;
    assert_eq!(probe.calls("a:1"), 2);
    registry.shutdown();
    advance(60).await;
    assert_eq!(probe.calls("a:1"), 2);
    // Later syncs still reconcile, without checks.
    let again = registry
        .sync(&[agent("a", "http://a:1")], &checks(10, 1, 1))
        .unwrap();
    assert!(Arc::ptr_eq(again.get("a").unwrap(), set.get("a").unwrap()));
    advance(60).await;
    assert_eq!(probe.calls("a:1"), 2);

    let (probe, registry) = scripted();
    let set = registry
        .sync(&[agent("b", "http://b:1")], &checks(10, 1, 1))
        .unwrap();
    advance(1).await;
    drop(registry);
    advance(60).await;
    assert_eq!(probe.calls("b:1"), 1);
    // The aborted task released its reference: only the set holds the endpoint now.
    assert_eq!(Arc::strong_count(set.get("b").unwrap()), 1);
}

#[test]
fn sync_rejects_bad_snapshots_and_changes_nothing() {
    let registry = Registry::new();
    let set = registry
        .sync(&[agent("a", "http://a:1")], &disabled())
        .unwrap();
    for (agents, kind) in [
        (vec![agent("b", "ftp://b:1")], "invalid_endpoint"),
        // No TLS towards agents yet: refused (a NACK), not served as 502s.
        (vec![agent("b", "https://b:1")], "invalid_endpoint"),
        (vec![agent("b", "not a url")], "invalid_endpoint"),
        (vec![agent("b", "/just/a/path")], "invalid_endpoint"),
        (vec![agent("b", "http://b:1/?q=1")], "invalid_endpoint"),
        (
            vec![agent("b", "http://b:1"), agent("b", "http://b:2")],
            "duplicate_agent",
        ),
    ] {
        let err = registry.sync(&agents, &disabled()).unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
    }
    let bad_path = HealthCheck {
        path: "/he alth".into(),
        ..HealthCheck::default()
    };
    let err = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async { registry.sync(&[agent("a", "http://a:1")], &bad_path) })
        .unwrap_err();
    assert_eq!(err.kind(), "invalid_path");
    // Without a runtime, checks cannot start.
    let err = registry
        .sync(&[agent("a", "http://a:1")], &HealthCheck::default())
        .unwrap_err();
    assert_eq!(err, UpstreamError::NoRuntime);

    let listed: Vec<_> = registry.health().into_iter().map(|h| h.agent).collect();
    assert_eq!(listed, ["a"]);
    assert!(Arc::ptr_eq(
        &registry.get("a").unwrap(),
        set.get("a").unwrap()
    ));
}

#[test]
fn registry_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Registry>();
    check::<AgentSet>();
    check::<InFlight>();
}

// === endpoints ===

#[test]
fn uri_for_joins_the_base_path() {
    let registry = Registry::new();
    let set = registry
        .sync(
            &[
                agent("a", "http://a:8080"),
                agent("b", "http://b/api/"),
                agent("c", "http://c:8443/v1"),
            ],
            &disabled(),
        )
        .unwrap();
    let uri = |id: &str, p: &str| set.get(id).unwrap().uri_for(p).unwrap().to_string();
    assert_eq!(uri("a", "/health"), "http://a:8080/health");
    assert_eq!(uri("a", "/x?y=1"), "http://a:8080/x?y=1");
    assert_eq!(uri("b", "/health"), "http://b/api/health");
    assert_eq!(uri("c", "chat"), "http://c:8443/v1/chat");
    assert_eq!(set.get("a").unwrap().authority().as_str(), "a:8080");
    assert_eq!(set.get("c").unwrap().url().scheme_str(), Some("http"));
}

#[test]
fn in_flight_guards_and_proxy_hooks_are_counted() {
    let registry = Registry::new();
    let set = registry
        .sync(&[agent("a", "http://a:1")], &disabled())
        .unwrap();
    let a = set.get("a").unwrap();
    let g1 = a.begin();
    let g2 = a.begin();
    assert_eq!(a.in_flight(), 2);
    assert!(Arc::ptr_eq(g1.endpoint(), a));
    drop(g1);
    assert_eq!(a.in_flight(), 1);

    a.mark_connect_failure();
    a.mark_connect_failure();
    assert_eq!(a.health().connect_failures, 2);
    a.mark_success();
    let h = a.health();
    assert_eq!(
        (
            h.connect_failures,
            h.connect_failures_total,
            h.successes_total
        ),
        (0, 2, 1)
    );
    let json = h.to_json();
    assert_eq!(json["agent"], "a");
    assert_eq!(json["endpoint"], "http://a:1/");
    assert_eq!(json["healthy"], true);
    assert_eq!(json["inFlight"], 1);
    assert_eq!(json["weight"], 100);
    assert_eq!(json["connectFailuresTotal"], 2);
    assert!(json["lastCheck"].is_null());
    drop(g2);
    assert_eq!(a.in_flight(), 0);
}

// === round robin ===

fn any_request() -> crate::balance::KeyInput<'static> {
    static EMPTY: std::sync::OnceLock<crate::proxy::ReqHeaders> = std::sync::OnceLock::new();
    crate::balance::KeyInput {
        client_ip: std::net::Ipv4Addr::LOCALHOST.into(),
        headers: EMPTY.get_or_init(|| crate::proxy::ReqHeaders::Map(::http::HeaderMap::new())),
        query: None,
        body: None,
    }
}

fn mark_down(e: &Endpoint) {
    e.record_check(Err(&CheckFailure::Status(503)), &checks(1, 1, 1));
}

#[test]
fn round_robin_spreads_over_healthy_endpoints() {
    let registry = Registry::new();
    let agents = [
        agent("a", "http://a:1"),
        agent("b", "http://b:1"),
        agent("c", "http://c:1"),
    ];
    let set = registry.sync(&agents, &disabled()).unwrap();
    let target = crate::balance::Balancer::round_robin(set.pool(&ids(&["a", "b", "c"])));
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..300 {
        let e = target.pick(&any_request()).unwrap();
        *counts.entry(e.agent_id().to_owned()).or_default() += 1;
    }
    assert_eq!(counts.values().copied().collect::<Vec<_>>(), [100; 3]);

    mark_down(set.get("b").unwrap());
    let picks: Vec<_> = (0..6)
        .map(|_| target.pick(&any_request()).unwrap().agent_id().to_owned())
        .collect();
    assert!(!picks.iter().any(|p| p == "b"));
    assert_eq!(picks.iter().filter(|p| *p == "a").count(), 3);
    for pair in picks.windows(2) {
        assert_ne!(pair[0], pair[1], "alternates between a and c: {picks:?}");
    }

    // Unknown ids are skipped; a separate cursor is independent.
    let other = crate::balance::Balancer::round_robin(set.pool(&ids(&["nope", "c"])));
    assert_eq!(other.pick(&any_request()).unwrap().agent_id(), "c");
    mark_down(set.get("c").unwrap());
    assert!(
        other.pick(&any_request()).is_none(),
        "a single endpoint is picked only while healthy"
    );
}

#[test]
fn pick_is_none_when_nothing_is_healthy() {
    let registry = Registry::new();
    let set = registry
        .sync(
            &[agent("a", "http://a:1"), agent("b", "http://b:1")],
            &disabled(),
        )
        .unwrap();
    mark_down(set.get("a").unwrap());
    mark_down(set.get("b").unwrap());
    let rr = |set: &AgentSet, list: &[&str]| {
        crate::balance::Balancer::round_robin(set.pool(&ids(list))).pick(&any_request())
    };
    assert!(rr(&set, &["a", "b"]).is_none());
    assert!(rr(&set, &[]).is_none());
    assert!(rr(&set, &["ghost"]).is_none());
    assert!(rr(&AgentSet::default(), &["a"]).is_none());
}

mod real_server;
