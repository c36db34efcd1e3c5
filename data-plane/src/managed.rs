//! Managed mode: the first snapshot before the runtime exists (or the saved one when the control plane
//! is away), then following the discovery stream for the node's whole life, applying each snapshot over
//! the node-local layers and saving it to the state directory.

mod saved;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use openclaw_config::{Layered, Sources};
use serde_json::Value;

use crate::compiled::Compiled;
use crate::discovery::{Applied, ClientConfig, DiscoveryClient, Held, Snapshot};
use crate::node::{First, ManagedOptions, NodeError};
use crate::semantic::ModelStore;
use crate::state::{Mode, Shared};
use crate::upstream::Registry;

/// How long a booting node waits for the control plane before it starts from its saved snapshot.
const SAVED_AFTER: Duration = Duration::from_secs(3);

/// Fetches (and ACKs) the first snapshot the node can apply; blocks until there is one.
pub(crate) fn first_snapshot(
    m: &ManagedOptions,
    sources: &Sources,
    early: Option<(&std::net::TcpListener, String)>,
) -> Result<First, NodeError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(NodeError::Runtime)?;
    // What the node can fall back on, said in every "still waiting" line.
    let (saved, saved_note) = match m.state_dir.as_deref().map(saved::load) {
        None => (None, "none (no --state-dir)".to_string()),
        Some(Ok(None)) => (None, "none yet".to_string()),
        Some(Ok(Some(s))) => {
            let note = format!("version {}", s.version);
            (Some((s.version, s.doc)), note)
        }
        Some(Err(e)) => {
            tracing::error!(error = %e, "the saved snapshot is unusable: waiting for the control plane");
            (None, format!("unusable: {e}"))
        }
    };
    rt.block_on(async {
        if let Some((listener, health_path)) = early {
            crate::boot::serve_not_ready(listener, health_path).map_err(NodeError::Runtime)?;
        }
        let client = DiscoveryClient::new(client_config(m)).map_err(|e| NodeError::ControlPlane(e.to_string()))?;
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(100);
        // The models the check loads are kept for the node, not loaded a second time.
        let models = ModelStore::new();
        loop {
            match tokio::time::timeout(SAVED_AFTER, fetch(&client, sources, &models)).await {
                Ok(Ok((snapshot, held))) => {
                    // `fetch` checked the document before ACKing it.
                    let doc = snapshot.document().map_err(|e| NodeError::ControlPlane(e.to_string()))?;
                    saved::save(m.state_dir.as_deref(), snapshot.version, &snapshot.hash, doc);
                    return Ok(First {
                        layered: layered(sources, doc)?,
                        version: snapshot.version,
                        held: Some(held),
                        models: models.loaded_models_only(),
                    });
                }
                Ok(Err(e)) => tracing::warn!(control_plane = %m.address, error = %e, saved_snapshot = %saved_note, "no first snapshot yet"),
                Err(_) => tracing::warn!(control_plane = %m.address, saved_snapshot = %saved_note, "control plane did not answer in time"),
            }
            if let Some((version, doc)) = &saved
                && started.elapsed() >= SAVED_AFTER
            {
                tracing::warn!(version, "starting from the saved snapshot while the control plane is away");
                return Ok(First {
                    layered: layered(sources, doc)?,
                    version: *version,
                    held: Some(Held::from_snapshot(*version, doc)),
                    models: models.loaded_models_only(),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    })
}

/// One session: snapshots until one applies (NACKing the others), ACKed.
async fn fetch(
    client: &DiscoveryClient,
    sources: &Sources,
    models: &ModelStore,
) -> Result<(Snapshot, Held), String> {
    let mut session = client
        .connect(Held::new())
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let snapshot = session.next_snapshot().await.map_err(|e| e.to_string())?;
        match check(sources, &snapshot, models) {
            Ok(()) => {
                session
                    .ack(&Applied::default())
                    .await
                    .map_err(|e| e.to_string())?;
                return Ok((snapshot, session.into_held()));
            }
            Err(e) => {
                tracing::error!(version = snapshot.version, error = %e, "first snapshot rejected");
                session.nack(e).await.map_err(|e| e.to_string())?;
            }
        }
    }
}

/// Reassembles a snapshot (checking its hash) and compiles it against a scratch registry, to know it
/// applies before ACKing it; the semantic models it loads stay in `models`.
fn check(sources: &Sources, snapshot: &Snapshot, models: &ModelStore) -> Result<(), String> {
    let doc = snapshot.document().map_err(|e| e.to_string())?;
    let layered = layered(sources, doc).map_err(|e| e.to_string())?;
    let env = |n: &str| std::env::var(n).ok();
    let scratch = Registry::new();
    let built = Compiled::build(&layered.effective, snapshot.version, &scratch, &env, models);
    scratch.shutdown();
    built.map(|_| ()).map_err(|e| e.to_string())
}

/// Follows the control plane until `shutdown`.
pub(crate) async fn follow(
    m: ManagedOptions,
    sources: Sources,
    shared: Arc<Shared>,
    held: Held,
    shutdown: impl Future<Output = ()> + Send,
) {
    let client = match DiscoveryClient::new(client_config_with(&m, &shared)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot create the discovery client");
            return;
        }
    };
    if let Ok(mut mode) = shared.mode.lock() {
        *mode = Mode::Managed {
            address: m.address.clone(),
            status: client.status(),
        };
    }
    let state_dir = m.state_dir.clone();
    let apply = move |snapshot: Snapshot| -> Result<Applied, String> {
        // Reassembling checks the snapshot's hash: a mismatch is NACKed with the error.
        let doc = snapshot.document().map_err(|e| e.to_string())?;
        let layered = layered(&sources, doc).map_err(|e| e.to_string())?;
        match shared
            .apply(&layered, snapshot.version)
            .map_err(|e| e.to_string())
        {
            Ok(restart_required) => {
                saved::save(state_dir.as_deref(), snapshot.version, &snapshot.hash, doc);
                Ok(Applied { restart_required })
            }
            Err(e) => {
                shared.reload_refused(&format!("version {}: {e}", snapshot.version));
                Err(e)
            }
        }
    };
    client.run(held, apply, shutdown).await;
}

fn client_config(m: &ManagedOptions) -> ClientConfig {
    let mut c = ClientConfig::new(m.address.clone(), m.node_id.clone());
    c.labels = m.labels.clone();
    c.token = m.token.clone();
    c.tls = m.tls.clone();
    c.max_message_size = m.max_message_size;
    c
}

fn client_config_with(m: &ManagedOptions, shared: &Shared) -> ClientConfig {
    let mut c = client_config(m);
    c.local_overrides = shared.report().local_overrides;
    c
}

fn layered(sources: &Sources, snapshot: &Value) -> Result<Layered, NodeError> {
    openclaw_config::layers::load(&Sources {
        snapshot: Some(snapshot.clone()),
        ..sources.clone()
    })
    .map_err(|e| NodeError::Config(e.to_string()))
}
