//! Standalone mode: the config comes from the local layers, and the two files are re-read when they
//! change. A broken edit is logged and the config in force keeps serving.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use openclaw_config::Sources;

use crate::node::{First, NodeError};
use crate::state::Shared;

/// How often the files are checked for changes.
const POLL: Duration = Duration::from_millis(500);

/// The local layers at start; an invalid config stops the node from starting.
pub(crate) fn first(sources: &Sources) -> Result<First, NodeError> {
    let layered =
        openclaw_config::layers::load(sources).map_err(|e| NodeError::Config(e.to_string()))?;
    openclaw_config::validate(&layered.effective)
        .map_err(|p| NodeError::Config(format!("invalid config:\n{p}")))?;
    Ok(First {
        layered,
        version: 1,
        held: None,
        models: crate::semantic::ModelStore::new(),
    })
}

/// Re-applies the local layers whenever a file changes, until `shutdown`.
pub(crate) async fn watch(
    sources: Sources,
    shared: Arc<Shared>,
    mut version: u64,
    shutdown: impl Future<Output = ()>,
) {
    let files = sources.files();
    let stamp = || {
        files
            .iter()
            .map(|f| {
                std::fs::metadata(f)
                    .ok()
                    .map(|m| (m.modified().ok(), m.len()))
            })
            .collect::<Vec<Option<(Option<SystemTime>, u64)>>>()
    };
    let mut last = stamp();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = &mut shutdown => return,
        }
        let now = stamp();
        if now == last {
            continue;
        }
        // A file that was read and is gone now is a refused change, not a switch to the layers below.
        let gone: Vec<String> = files
            .iter()
            .zip(last.iter().zip(&now))
            .filter(|(_, (before, after))| before.is_some() && after.is_none())
            .map(|(f, _)| f.display().to_string())
            .collect();
        last = now;
        if !gone.is_empty() {
            shared.reload_refused(&format!(
                "{} was removed; the config read from it stays in force (restart the node to run without it)",
                gone.join(", ")
            ));
            continue;
        }
        let layered = match openclaw_config::layers::load(&sources) {
            Ok(l) => l,
            Err(e) => {
                shared.reload_refused(&e.to_string());
                continue;
            }
        };
        match shared.apply(&layered, version + 1) {
            Ok(_) => version += 1,
            Err(e) => shared.reload_refused(&e.to_string()),
        }
    }
}
