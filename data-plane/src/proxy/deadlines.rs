//! Time bounds on the exchange with an agent, applied where the handler calls the client: the time
//! to the response head (`firstByte`) and the longest pause between bytes of the response body
//! (`idle`), from `gateway.agents.timeouts`, an agent's own `timeouts`, then the rule's. The connect
//! timeout is the client's own (one pool serves every agent).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use fxhash::FxHashMap;
use hyper::body::{Body, Frame, SizeHint};
use openclaw_config::{Gateway, TimeoutOverride};
use tokio::time::{Instant, Sleep};

use super::body::BoxError;

/// The time bounds of every (rule, agent) pair of a config.
#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    default: Bounds,
    /// Agents with their own `timeouts` (usually none: then no lookup is made).
    agents: FxHashMap<String, TimeoutOverride>,
    /// By rule index.
    rules: Vec<Option<TimeoutOverride>>,
}

/// The bounds of one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// Time from sending the request to the response head.
    pub(crate) first_byte: Duration,
    /// Longest pause between two frames of the response body.
    pub(crate) idle: Duration,
}

/// The error a response body ends with when the agent sent nothing for `idle`.
#[derive(Debug, thiserror::Error)]
#[error("the agent sent nothing for {0:?}")]
pub(crate) struct IdleTimedOut(pub(crate) Duration);

/// A response body that ends with [`IdleTimedOut`] when a wait for the agent's next frame lasts
/// `idle` (time the client spends not reading does not count: the clock runs only while polled).
pub(crate) struct IdleBounded<B> {
    inner: B,
    idle: Duration,
    /// Made at the first wait and reset at later ones, so a response costs one timer at most.
    sleep: Option<Pin<Box<Sleep>>>,
    /// True while a wait is being timed (the sleep's deadline is current).
    armed: bool,
}

// === impl Deadlines ===

impl Deadlines {
    /// The bounds of `g`'s rules and agents.
    pub(crate) fn new(g: &Gateway) -> Self {
        let t = &g.agents.timeouts;
        Self {
            default: Bounds {
                first_byte: t.first_byte.get(),
                idle: t.idle.get(),
            },
            agents: g
                .agents
                .discovery
                .static_agents
                .iter()
                .filter_map(|a| Some((a.id.clone(), a.timeouts.clone()?)))
                .collect(),
            rules: g.routing.rules.iter().map(|r| r.timeouts.clone()).collect(),
        }
    }

    /// The bounds of a request of rule `rule` (its index) to `agent`: the rule's keys over the
    /// agent's over the defaults.
    pub(crate) fn bounds(&self, rule: usize, agent: &str) -> Bounds {
        let mut b = self.default;
        if !self.agents.is_empty()
            && let Some(o) = self.agents.get(agent)
        {
            b.apply(o);
        }
        if let Some(Some(o)) = self.rules.get(rule) {
            b.apply(o);
        }
        b
    }
}

// === impl Bounds ===

impl Bounds {
    fn apply(&mut self, o: &TimeoutOverride) {
        if let Some(d) = o.first_byte {
            self.first_byte = d.get();
        }
        if let Some(d) = o.idle {
            self.idle = d.get();
        }
    }
}

// === impl IdleBounded ===

impl<B> IdleBounded<B> {
    /// `inner`, failing after a pause of `idle`.
    pub(crate) fn new(inner: B, idle: Duration) -> Self {
        Self {
            inner,
            idle,
            sleep: None,
            armed: false,
        }
    }
}

impl<B> Body for IdleBounded<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                this.armed = false;
                Poll::Ready(r.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                let idle = this.idle;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                if !this.armed {
                    sleep.as_mut().reset(Instant::now() + idle);
                    this.armed = true;
                }
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                Poll::Ready(Some(Err(Box::new(IdleTimedOut(idle)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use http_body_util::{BodyExt, StreamBody};
    use openclaw_config::Duration as D;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_pause_longer_than_idle_ends_the_body_and_shorter_ones_do_not() {
        let frames = futures_util::stream::iter([
            (0u64, "a"),
            (900, "b"),  // Just under the bound.
            (1500, "c"), // Past it.
        ])
        .then(|(wait, s)| async move {
            tokio::time::sleep(Duration::from_millis(wait)).await;
            Ok::<_, BoxError>(Frame::data(Bytes::from_static(s.as_bytes())))
        });
        let mut body = IdleBounded::new(StreamBody::new(Box::pin(frames)), Duration::from_secs(1));
        let start = Instant::now();
        let a = body.frame().await.unwrap().unwrap();
        assert_eq!(a.into_data().unwrap(), "a");
        let b = body.frame().await.unwrap().unwrap();
        assert_eq!(b.into_data().unwrap(), "b");
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(err.downcast_ref::<IdleTimedOut>().is_some(), "{err}");
        assert_eq!(start.elapsed(), Duration::from_millis(1900));
    }

    #[test]
    fn a_rule_overrides_its_agent_which_overrides_the_defaults() {
        let mut g = Gateway::default();
        g.agents.timeouts.first_byte = D::secs(30);
        g.agents.timeouts.idle = D::secs(40);
        g.agents.discovery.static_agents = vec![openclaw_config::StaticAgent {
            id: "slow".into(),
            timeouts: Some(TimeoutOverride {
                first_byte: Some(D::secs(600)),
                idle: None,
            }),
            ..Default::default()
        }];
        g.routing.rules = vec![
            openclaw_config::Rule::default(),
            openclaw_config::Rule {
                timeouts: Some(TimeoutOverride {
                    first_byte: None,
                    idle: Some(D::secs(5)),
                }),
                ..Default::default()
            },
        ];
        let d = Deadlines::new(&g);
        let s = Duration::from_secs;
        assert_eq!(d.bounds(0, "other").first_byte, s(30));
        assert_eq!(d.bounds(0, "other").idle, s(40));
        assert_eq!(d.bounds(0, "slow").first_byte, s(600));
        assert_eq!(d.bounds(1, "slow").first_byte, s(600));
        assert_eq!(d.bounds(1, "slow").idle, s(5));
        assert_eq!(d.bounds(1, "other").first_byte, s(30));
    }
}
