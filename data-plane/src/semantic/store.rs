//! What outlives a config swap on the semantic side: loaded `model2vec` models (reloaded when their
//! file changes), `openai` clients with their embedding caches, and built scorers — utterance
//! vectors and calibrations — for the last few libraries, so re-applying a config does not
//! re-encode anything.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, SystemTime};

use openclaw_config::{EncoderKind, OpenAi, Semantic};

use super::SemanticError;
use super::calibration::Calibration;
use super::index::{Dense, Keyword, Scorer, Shape, mix, top_k_mean};
use super::keyword::Bm25;
use super::library::Library;
use super::remote::RemoteEncoder;
use super::static_model::StaticEncoder;
use super::vector::Matrix;

/// Built scorers kept for re-use.
const MEMO: usize = 4;

/// The curve used when a library is too small to fit one (raw 0.5 ↦ confidence 0.5).
const UNCALIBRATED: Calibration = Calibration { a: 10.0, b: -5.0 };

/// A model loaded from a directory, with the modification time of its table then.
type Loaded = (Option<SystemTime>, Arc<StaticEncoder>);

/// A built scorer with its `/health` status and warning.
type Built = (Arc<Scorer>, String, Option<String>);

/// Long-lived semantic state of a node (or of the CLI's `route.explain`).
#[derive(Default)]
pub struct ModelStore {
    dirs: Mutex<HashMap<PathBuf, Loaded>>,
    remotes: Mutex<HashMap<u64, Arc<RemoteEncoder>>>,
    memo: Mutex<Vec<(u64, Built)>>,
}

// === impl ModelStore ===

impl ModelStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The models loaded so far, without the scorers and remote encoders, which may be tied to the
    /// runtime that built them (an embedding task, a connection pool): for a node whose first
    /// config was checked on a boot-time runtime, so a model directory is not loaded twice.
    pub(crate) fn loaded_models_only(self) -> Self {
        Self {
            dirs: self.dirs,
            ..Self::default()
        }
    }

    /// The scorer for `cfg` over `library`, built or re-used.
    pub(crate) fn scorer(
        &self,
        cfg: &Semantic,
        library: &Library,
        shape: &Shape<'_>,
        rows: &[usize],
    ) -> Result<Built, SemanticError> {
        let model_stamp = match (&cfg.model2vec, cfg.encoder) {
            (Some(m), EncoderKind::Model2vec) => modified(Path::new(&m.path)),
            _ => None,
        };
        let key = memo_key(cfg, library, shape, model_stamp, rows);
        if let Ok(memo) = self.memo.lock()
            && let Some((_, built)) = memo.iter().find(|(k, _)| *k == key)
        {
            return Ok(built.clone());
        }
        let built = self.build(cfg, library, shape, rows)?;
        if let Some(w) = &built.2 {
            tracing::warn!(target: "openclaw::semantic", warning = %w, "SEMANTIC MATCHING IS DEGRADED");
        }
        if let Ok(mut memo) = self.memo.lock() {
            memo.retain(|(k, _)| *k != key);
            memo.push((key, built.clone()));
            if memo.len() > MEMO {
                memo.remove(0);
            }
        }
        Ok(built)
    }

    fn build(
        &self,
        cfg: &Semantic,
        library: &Library,
        shape: &Shape<'_>,
        rows: &[usize],
    ) -> Result<Built, SemanticError> {
        let keyword_instead = |why: String| -> Built {
            let warning = format!("{why}; matching with keyword instead");
            (
                Arc::new(Scorer::Keyword(keyword(library, shape, rows))),
                "keyword (fallback)".into(),
                Some(warning),
            )
        };
        Ok(match cfg.encoder {
            EncoderKind::Keyword => (
                Arc::new(Scorer::Keyword(keyword(library, shape, rows))),
                "keyword".into(),
                None,
            ),
            EncoderKind::Builtin => match StaticEncoder::builtin() {
                Ok(enc) => (
                    Arc::new(static_scorer(enc, library, shape, rows)),
                    "builtin".into(),
                    None,
                ),
                Err(e) => keyword_instead(e.to_string()),
            },
            EncoderKind::Hybrid => match StaticEncoder::builtin() {
                Ok(enc) => (
                    Arc::new(hybrid(enc, library, shape, rows, cfg.hybrid_weight as f32)),
                    format!("hybrid (keyword weight {})", cfg.hybrid_weight),
                    None,
                ),
                Err(e) => keyword_instead(e.to_string()),
            },
            EncoderKind::Model2vec => {
                let m = cfg.model2vec.clone().unwrap_or_default();
                match self.load_dir(Path::new(&m.path)) {
                    Ok(enc) => {
                        let status = enc.label().to_string();
                        (
                            Arc::new(static_scorer(enc, library, shape, rows)),
                            status,
                            None,
                        )
                    }
                    Err(e) if m.fallback_to_keyword => keyword_instead(e.to_string()),
                    Err(e) => return Err(e),
                }
            }
            EncoderKind::Openai => {
                let o = cfg.openai.clone().unwrap_or_default();
                let remote = self.remote(&o)?;
                let (fallback, fallback_status, warning) = match StaticEncoder::builtin() {
                    Ok(enc) => (static_scorer(enc, library, shape, rows), "builtin", None),
                    Err(e) => (
                        Scorer::Keyword(keyword(library, shape, rows)),
                        "keyword",
                        Some(format!("{e}; the openai fallback is keyword")),
                    ),
                };
                let space = Arc::new(OnceLock::new());
                embed_library_later(
                    remote.clone(),
                    Arc::downgrade(&space),
                    library,
                    shape,
                    rows,
                    &o,
                );
                let status = format!("{} (fallback {fallback_status})", remote.label());
                (
                    Arc::new(Scorer::Remote {
                        remote,
                        space,
                        fallback: Arc::new(fallback),
                    }),
                    status,
                    warning,
                )
            }
        })
    }

    fn load_dir(&self, dir: &Path) -> Result<Arc<StaticEncoder>, SemanticError> {
        let stamp = modified(dir);
        if let Ok(dirs) = self.dirs.lock()
            && let Some((s, enc)) = dirs.get(dir)
            && *s == stamp
        {
            return Ok(enc.clone());
        }
        let enc = Arc::new(StaticEncoder::from_dir(dir)?);
        if let Ok(mut dirs) = self.dirs.lock() {
            dirs.insert(dir.to_path_buf(), (stamp, enc.clone()));
        }
        Ok(enc)
    }

    fn remote(&self, cfg: &OpenAi) -> Result<Arc<RemoteEncoder>, SemanticError> {
        let key = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            hash_openai(cfg, &mut h);
            h.finish()
        };
        let mut remotes = self
            .remotes
            .lock()
            .map_err(|_| SemanticError::Remote("the client registry is poisoned".into()))?;
        if let Some(r) = remotes.get(&key) {
            return Ok(r.clone());
        }
        let r =
            Arc::new(RemoteEncoder::new(cfg).map_err(|e| SemanticError::Remote(e.to_string()))?);
        remotes.insert(key, r.clone());
        Ok(r)
    }
}

/// The modification time of a model directory's table.
fn modified(dir: &Path) -> Option<SystemTime> {
    std::fs::metadata(dir.join("model.safetensors"))
        .and_then(|m| m.modified())
        .ok()
}

/// Every setting of an openai encoder: equal hashes share one client and its cache.
fn hash_openai(o: &OpenAi, h: &mut impl Hasher) {
    (&o.base_url, &o.model, &o.api_key, o.timeout.get()).hash(h);
    (o.cache_size, o.failure_threshold, o.cooldown.get()).hash(h);
}

fn memo_key(
    cfg: &Semantic,
    library: &Library,
    shape: &Shape<'_>,
    stamp: Option<SystemTime>,
    rows: &[usize],
) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    rows.hash(&mut h);
    cfg.encoder.name().hash(&mut h);
    cfg.hybrid_weight.to_bits().hash(&mut h);
    shape.top_k.hash(&mut h);
    shape.max_tokens.hash(&mut h);
    stamp.hash(&mut h);
    if let Some(m) = &cfg.model2vec {
        m.path.hash(&mut h);
    }
    if let Some(o) = &cfg.openai {
        hash_openai(o, &mut h);
    }
    for c in &library.categories {
        c.name.hash(&mut h);
        c.utterances.hash(&mut h);
    }
    h.finish()
}

fn static_scorer(
    encoder: Arc<StaticEncoder>,
    library: &Library,
    shape: &Shape<'_>,
    rows: &[usize],
) -> Scorer {
    let texts = library.texts();
    let embed = |t: &&str| encoder.embed(t, shape.max_tokens);
    let matrix = Matrix::new(texts.iter().map(embed).collect(), encoder.dim());
    let calibration = calibrate(|i| matrix.row_cosines(i), texts.len(), shape);
    Scorer::Static {
        encoder,
        dense: Dense {
            matrix: matrix.subset(rows),
            calibration,
        },
    }
}

fn keyword(library: &Library, shape: &Shape<'_>, rows: &[usize]) -> Keyword {
    let texts = library.texts();
    let bm25 = Bm25::new(&texts);
    let calibration = calibrate(|i| bm25.similarities(texts[i]), texts.len(), shape);
    Keyword {
        bm25: bm25.subset(rows),
        calibration,
    }
}

fn hybrid(
    encoder: Arc<StaticEncoder>,
    library: &Library,
    shape: &Shape<'_>,
    rows: &[usize],
    weight: f32,
) -> Scorer {
    let texts = library.texts();
    let matrix = Matrix::new(
        texts
            .iter()
            .map(|t| encoder.embed(t, shape.max_tokens))
            .collect(),
        encoder.dim(),
    );
    let bm25 = Bm25::new(&texts);
    let calibration = calibrate(
        |i| mix(&matrix.row_cosines(i), &bm25.similarities(texts[i]), weight),
        texts.len(),
        shape,
    );
    Scorer::Hybrid {
        encoder,
        matrix: matrix.subset(rows),
        bm25: bm25.subset(rows),
        weight,
        calibration,
    }
}

/// Fits a calibration of `category score − off-topic score` on the library itself, each text scored
/// against all (`row_of(i)`) with itself left out: utterances against their own category are
/// in-domain, off-topic requests against their best category are out of domain.
fn calibrate(row_of: impl Fn(usize) -> Vec<f32>, n: usize, shape: &Shape<'_>) -> Calibration {
    let k = shape.top_k;
    let none = &shape.none;
    let mut positives = Vec::new();
    for span in shape.spans {
        if span.len() < 2 {
            continue;
        }
        for i in span.clone() {
            let row = row_of(i);
            let own = top_k_mean(&row[span.clone()], k, Some(i - span.start));
            positives.push(own - top_k_mean(&row[none.clone()], k, None));
        }
    }
    let negatives: Vec<f32> = none
        .clone()
        .filter(|j| *j < n)
        .map(|j| {
            let row = row_of(j);
            let best = shape
                .spans
                .iter()
                .map(|s| top_k_mean(&row[s.clone()], k, None))
                .fold(f32::MIN, f32::max);
            best - top_k_mean(&row[none.clone()], k, Some(j - none.start))
        })
        .collect();
    Calibration::fit(&positives, &negatives).unwrap_or(UNCALIBRATED)
}

/// Embeds the library with the remote encoder in the background, retrying with backoff while the
/// index that wants it is alive; the index answers with its fallback until then.
fn embed_library_later(
    remote: Arc<RemoteEncoder>,
    space: Weak<OnceLock<Dense>>,
    library: &Library,
    shape: &Shape<'_>,
    rows: &[usize],
    cfg: &OpenAi,
) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(target: "openclaw::semantic", "no runtime: the openai encoder serves its fallback");
        return;
    };
    let texts: Vec<String> = library.texts().into_iter().map(str::to_string).collect();
    let (spans, none, rows) = (shape.spans.to_vec(), shape.none.clone(), rows.to_vec());
    let (top_k, per_batch) = (
        shape.top_k,
        (cfg.timeout.get() * 20).max(Duration::from_secs(10)),
    );
    handle.spawn(async move {
        let mut backoff = Duration::from_secs(1);
        loop {
            if space.upgrade().is_none() {
                return;
            }
            let all: Vec<&str> = texts.iter().map(String::as_str).collect();
            match remote.embed_all(&all, per_batch).await {
                Ok(vectors) => {
                    let dim = vectors.first().map_or(0, Vec::len);
                    let matrix = Matrix::new(vectors, dim);
                    let shape = Shape {
                        spans: &spans,
                        none: none.clone(),
                        top_k,
                        max_tokens: 0,
                    };
                    let calibration = calibrate(|i| matrix.row_cosines(i), texts.len(), &shape);
                    if let Some(space) = space.upgrade() {
                        let _ = space.set(Dense {
                            matrix: matrix.subset(&rows),
                            calibration,
                        });
                        tracing::info!(target: "openclaw::semantic", encoder = %remote.label(), ?calibration, "semantic library embedded");
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(target: "openclaw::semantic", encoder = %remote.label(), error = %e, retry_in = ?backoff, "cannot embed the semantic library; serving the fallback");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_handed_on_keeps_the_models_it_loaded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("semantic/model");
        let store = ModelStore::new();
        let loaded = store.load_dir(&dir).unwrap();
        let kept = store.loaded_models_only();
        assert!(
            Arc::ptr_eq(&loaded, &kept.load_dir(&dir).unwrap()),
            "the model directory is not read a second time"
        );
        assert!(
            !Arc::ptr_eq(&loaded, &ModelStore::new().load_dir(&dir).unwrap()),
            "a new store loads its own"
        );
    }
}
