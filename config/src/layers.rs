//! Layered loading: defaults → control-plane snapshot → global file → user file → environment → flags,
//! merged key by key (arrays replace, `null` removes), remembering which layer set each key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path as FsPath, PathBuf};

use serde_json::{Map, Value};

use crate::env_keys::env_name_to_path;
use crate::patch::merge_patch;
use crate::{ConfigError, Document, Path};

/// Where a key's effective value came from, lowest precedence first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    /// Built-in defaults.
    Default,
    /// The control plane's current snapshot (managed data planes only).
    ControlPlane,
    /// `/etc/openclaw/gateway.json` (or `OPENCLAW_GLOBAL_CONFIG`).
    Global,
    /// `~/.openclaw/gateway.json` (or `OPENCLAW_USER_CONFIG`).
    User,
    /// `OPENCLAW_<SECTION>__<KEY>` environment variables.
    Env,
    /// `--config.key=value` command-line flags.
    Flag,
}

/// Everything a process merges, gathered before merging so tests can supply their own.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// The control plane's snapshot, for a managed data plane.
    pub snapshot: Option<Value>,
    /// The global file; a missing file is skipped.
    pub global_file: Option<PathBuf>,
    /// The user file; a missing file is skipped.
    pub user_file: Option<PathBuf>,
    /// Environment variables (all of them; only `OPENCLAW_*__*` names are config keys).
    pub env: Vec<(String, String)>,
    /// `--config.key=value` flags, already split into path and value.
    pub flags: Vec<(Path, Value)>,
    /// Files named explicitly, with the variable that named them: these must exist (a standard path
    /// that is absent is simply skipped).
    pub explicit: Vec<(String, PathBuf)>,
}

/// The merged document and the layer each leaf key came from.
#[derive(Clone, Debug)]
pub struct Layered {
    /// The effective document, `{"gateway": {...}}`, placeholders unresolved.
    pub effective: Value,
    /// For every leaf key (arrays count as leaves), the layer that set it.
    pub origins: BTreeMap<Path, Layer>,
}

// === impl Layer ===

impl Layer {
    /// A short name for display (`default`, `control-plane`, `global`, `user`, `env`, `flag`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::ControlPlane => "control-plane",
            Self::Global => "global",
            Self::User => "user",
            Self::Env => "env",
            Self::Flag => "flag",
        }
    }

    /// True for layers set on the node itself rather than centrally.
    pub fn is_local(self) -> bool {
        self > Self::ControlPlane
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// === impl Sources ===

impl Sources {
    /// This process's files (from `OPENCLAW_GLOBAL_CONFIG`/`OPENCLAW_USER_CONFIG` or the standard paths),
    /// its environment, and the given flags.
    ///
    /// A file named by a variable must exist; a variable set to the empty string means no file at all.
    pub fn from_process(flags: Vec<(Path, Value)>) -> Self {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::from_env(env, flags)
    }

    /// As [`from_process`](Self::from_process), with the given environment.
    pub fn from_env(env: Vec<(String, String)>, flags: Vec<(Path, Value)>) -> Self {
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let mut explicit = Vec::new();
        let mut named = |var: &str, default: Option<PathBuf>| match get(var) {
            Some(v) if v.is_empty() => None,
            Some(v) => {
                explicit.push((var.to_string(), PathBuf::from(&v)));
                Some(PathBuf::from(v))
            }
            None => default,
        };
        let global_file = named(
            "OPENCLAW_GLOBAL_CONFIG",
            Some(PathBuf::from("/etc/openclaw/gateway.json")),
        );
        let user_file = named(
            "OPENCLAW_USER_CONFIG",
            get("HOME").map(|h| PathBuf::from(h).join(".openclaw").join("gateway.json")),
        );
        Self {
            snapshot: None,
            global_file,
            user_file,
            env,
            flags,
            explicit,
        }
    }

    /// The local files that exist, for watching.
    pub fn files(&self) -> Vec<PathBuf> {
        [&self.global_file, &self.user_file]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }
}

// === impl Layered ===

impl Layered {
    /// Keys whose effective value comes from a node-local layer, while a snapshot also sets them or not.
    pub fn local_overrides(&self) -> Vec<String> {
        self.origins
            .iter()
            .filter(|(_, l)| l.is_local())
            .map(|(p, _)| p.to_string())
            .collect()
    }

    /// The layer that set the value at `path` (or, for an object, the highest layer below it).
    pub fn origin_of(&self, path: &Path) -> Option<Layer> {
        self.origins
            .range(path.clone()..)
            .take_while(|(p, _)| p.starts_with(path))
            .map(|(_, l)| *l)
            .max()
    }
}

/// The defaults layer as a document.
pub fn defaults() -> Value {
    serde_json::to_value(Document::default()).unwrap_or(Value::Null)
}

/// Merges every source over the defaults.
pub fn load(sources: &Sources) -> Result<Layered, ConfigError> {
    let mut layers: Vec<(Layer, Value)> = vec![(Layer::Default, defaults())];
    if let Some(s) = &sources.snapshot {
        layers.push((Layer::ControlPlane, s.clone()));
    }
    for (layer, file) in [
        (Layer::Global, &sources.global_file),
        (Layer::User, &sources.user_file),
    ] {
        let Some(f) = file else { continue };
        match read_file(f)? {
            Some(doc) => layers.push((layer, doc)),
            None => {
                if let Some((variable, _)) = sources.explicit.iter().find(|(_, p)| p == f) {
                    return Err(ConfigError::Missing {
                        file: f.display().to_string(),
                        variable: variable.clone(),
                    });
                }
            }
        }
    }
    layers.push((Layer::Env, env_layer(&sources.env)?));
    let mut flags = Value::Object(Map::new());
    for (path, value) in &sources.flags {
        set_path(&mut flags, path, value.clone());
    }
    layers.push((Layer::Flag, flags));
    Ok(merge_layers(layers))
}

/// Merges explicit layers in order (lowest first).
pub fn merge_layers(layers: Vec<(Layer, Value)>) -> Layered {
    let mut effective = Value::Object(Map::new());
    let mut origins = BTreeMap::new();
    for (layer, doc) in layers {
        record_origins(&doc, &Path::root(), layer, &mut origins);
        merge_patch(&mut effective, &doc);
    }
    Layered { effective, origins }
}

/// Reads a document file; `None` when the file does not exist.
pub fn read_file(file: &FsPath) -> Result<Option<Value>, ConfigError> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError::Read {
                file: file.display().to_string(),
                source: e,
            });
        }
    };
    let doc: Value = serde_json::from_str(&text).map_err(|e| ConfigError::Parse {
        origin: file.display().to_string(),
        message: e.to_string(),
    })?;
    if !doc.is_object() {
        return Err(ConfigError::Parse {
            origin: file.display().to_string(),
            message: "a config file is a JSON object {\"gateway\": {...}}".into(),
        });
    }
    Ok(Some(doc))
}

/// Builds the environment layer from every `OPENCLAW_*__*` variable.
pub fn env_layer(env: &[(String, String)]) -> Result<Value, ConfigError> {
    let mut doc = Value::Object(Map::new());
    for (name, raw) in env {
        if let Some(path) = env_name_to_path(name) {
            let path = path.map_err(|message| ConfigError::EnvKey {
                name: name.clone(),
                message,
            })?;
            set_path(&mut doc, &path, parse_scalar(raw));
        }
    }
    Ok(doc)
}

/// A value given on the command line or in the environment: JSON if it parses as JSON, else a string.
pub fn parse_scalar(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

/// Sets `value` at `path` (object keys only), creating objects on the way.
pub(crate) fn set_path(doc: &mut Value, path: &Path, value: Value) {
    let mut cur = doc;
    for seg in path.segments() {
        let crate::path::Segment::Key(k) = seg else {
            return;
        };
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(map) = cur else { return };
        cur = map.entry(k.clone()).or_insert(Value::Null);
    }
    *cur = value;
}

fn record_origins(v: &Value, at: &Path, layer: Layer, out: &mut BTreeMap<Path, Layer>) {
    match v {
        Value::Object(map) => {
            // An empty object merges as a no-op; a non-empty one is recorded leaf by leaf.
            if !map.is_empty() {
                out.remove(at);
            }
            for (k, child) in map {
                record_origins(child, &at.key(k.clone()), layer, out);
            }
        }
        Value::Null => {
            let below: Vec<Path> = out
                .range(at.clone()..)
                .take_while(|(p, _)| p.starts_with(at))
                .map(|(p, _)| p.clone())
                .collect();
            for p in below {
                out.remove(&p);
            }
        }
        _ => {
            let below: Vec<Path> = out
                .range(at.clone()..)
                .take_while(|(p, _)| p.starts_with(at))
                .map(|(p, _)| p.clone())
                .collect();
            for p in below {
                out.remove(&p);
            }
            out.insert(at.clone(), layer);
        }
    }
}

/// `--config.key=value` flags as path and value, in command-line order.
pub type ConfigFlags = Vec<(Path, Value)>;

/// Splits `--config.key=value` (or `--config.key value`) flags out of `args`; the rest is returned as is.
pub fn extract_config_flags(args: Vec<String>) -> Result<(Vec<String>, ConfigFlags), ConfigError> {
    let mut rest = Vec::new();
    let mut flags = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let Some(spec) = arg.strip_prefix("--config.") else {
            rest.push(arg);
            continue;
        };
        let (key, raw) = match spec.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => {
                let v = it.next().ok_or_else(|| ConfigError::Flag {
                    flag: arg.clone(),
                    message: "needs a value: --config.key=value".into(),
                })?;
                (spec.to_string(), v)
            }
        };
        let path = Path::parse_relative(&key).map_err(|message| ConfigError::Flag {
            flag: arg.clone(),
            message,
        })?;
        if path
            .segments()
            .iter()
            .any(|s| matches!(s, crate::path::Segment::Index(_)))
        {
            return Err(ConfigError::Flag {
                flag: arg,
                message: "array elements cannot be set one by one: arrays are replaced whole (give the array as JSON)".into(),
            });
        }
        if path.segments().len() < 2 {
            return Err(ConfigError::Flag {
                flag: arg,
                message: "name a key below gateway, e.g. --config.http.listen=0.0.0.0:9090".into(),
            });
        }
        flags.push((path, parse_scalar(&raw)));
    }
    Ok((rest, flags))
}

#[cfg(test)]
mod tests;
