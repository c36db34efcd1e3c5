//! Splitting a document into named resources for the discovery stream, and putting it back together.
//!
//! The control plane sends a data plane only the resources that changed, so a document is cut where
//! patches usually land: one `agent/<id>` per entry of `gateway.agents.discovery.static`, one
//! `rule/<name>` per routing rule, and one `section/<key>` for every top-level key of `gateway`.
//! `section/agents` keeps the ordered list of agent ids in place of `discovery.static`, and
//! `section/routing` the ordered list of rule names in place of `rules`, so order survives and a patch
//! touching one agent changes only its `agent/<id>`.
//!
//! Entries that cannot be named (no string id or name, an empty one, or one already taken) stay inline
//! in their section as `{"inline": <entry>}`, so every document round-trips: [`assemble`] is the exact
//! inverse of [`split`]. A value that is not a `{"gateway": {…}}` object at all travels whole as the
//! single resource [`DOCUMENT`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

mod digest;

pub use digest::SetDigest;

/// Prefix of the resource holding one entry of `gateway.agents.discovery.static`.
pub const AGENT_PREFIX: &str = "agent/";
/// Prefix of the resource holding one entry of `gateway.routing.rules`.
pub const RULE_PREFIX: &str = "rule/";
/// Prefix of the resource holding one top-level key of `gateway`.
pub const SECTION_PREFIX: &str = "section/";
/// The single resource carrying a value that is not shaped `{"gateway": {…}}`.
pub const DOCUMENT: &str = "document";

/// The key wrapping a list entry kept inline in its section.
const INLINE: &str = "inline";

/// Why a set of resources does not assemble into a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    /// A section names a resource that is not in the set.
    #[error("{referenced_by} references {name}, which is missing")]
    Missing {
        /// The missing resource.
        name: String,
        /// The section naming it.
        referenced_by: String,
    },
    /// A resource that no section references, or that cannot sit beside the others.
    #[error("resource {name} is not referenced by any section")]
    Unreferenced {
        /// The stray resource.
        name: String,
    },
    /// A resource whose name or content is not of a known form.
    #[error("resource {name} is malformed: {reason}")]
    Malformed {
        /// The resource.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

impl ResourceError {
    /// A short stable label of the error, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Missing { .. } => "missing",
            Self::Unreferenced { .. } => "unreferenced",
            Self::Malformed { .. } => "malformed",
        }
    }
}

/// Where a section keeps a list whose entries become their own resources.
struct ListSpec {
    /// The top-level key of `gateway` (the section).
    section: &'static str,
    /// The path from the section to the list.
    path: &'static [&'static str],
    /// The field naming each entry.
    key: &'static str,
    /// The prefix of each entry's resource.
    prefix: &'static str,
}

const LISTS: [ListSpec; 2] = [
    ListSpec {
        section: "agents",
        path: &["discovery", "static"],
        key: "id",
        prefix: AGENT_PREFIX,
    },
    ListSpec {
        section: "routing",
        path: &["rules"],
        key: "name",
        prefix: RULE_PREFIX,
    },
];

/// Splits `doc` into named resources (see the module docs for the names).
pub fn split(doc: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let Some(gateway) = gateway_of(doc) else {
        out.insert(DOCUMENT.to_owned(), doc.clone());
        return out;
    };
    for (key, value) in gateway {
        let mut section = value.clone();
        if let Some(spec) = LISTS.iter().find(|s| s.section == key)
            && let Some(Value::Array(items)) = walk_mut(&mut section, spec.path)
        {
            let mut taken = BTreeSet::new();
            for item in items.iter_mut() {
                let name = item
                    .get(spec.key)
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty() && !taken.contains(*n))
                    .map(str::to_owned);
                let entry = std::mem::take(item);
                *item = match name {
                    Some(name) => {
                        out.insert(format!("{}{name}", spec.prefix), entry);
                        taken.insert(name.clone());
                        Value::String(name)
                    }
                    None => inline(entry),
                };
            }
        }
        out.insert(format!("{SECTION_PREFIX}{key}"), section);
    }
    out
}

/// Puts resources made by [`split`] back into the document; fails naming a missing or stray resource.
pub fn assemble(resources: &BTreeMap<String, Value>) -> Result<Value, ResourceError> {
    if let Some(doc) = resources.get(DOCUMENT) {
        if let Some(name) = resources.keys().find(|n| *n != DOCUMENT) {
            return Err(ResourceError::Unreferenced { name: name.clone() });
        }
        return Ok(doc.clone());
    }
    let mut used = BTreeSet::new();
    let mut gateway = Map::new();
    for (name, value) in resources {
        let Some(key) = name.strip_prefix(SECTION_PREFIX) else {
            continue;
        };
        let mut section = value.clone();
        if let Some(spec) = LISTS.iter().find(|s| s.section == key)
            && let Some(Value::Array(items)) = walk_mut(&mut section, spec.path)
        {
            for item in items.iter_mut() {
                *item = match std::mem::take(item) {
                    Value::String(id) => {
                        let target = format!("{}{id}", spec.prefix);
                        let Some(entry) = resources.get(&target) else {
                            return Err(ResourceError::Missing {
                                name: target,
                                referenced_by: name.clone(),
                            });
                        };
                        used.insert(target);
                        entry.clone()
                    }
                    other => uninline(other).ok_or_else(|| ResourceError::Malformed {
                        name: name.clone(),
                        reason: format!(
                            "each entry of {} is a name or {{\"{INLINE}\": …}}",
                            spec.path.join(".")
                        ),
                    })?,
                };
            }
        }
        gateway.insert(key.to_owned(), section);
    }
    for name in resources.keys() {
        let known = [AGENT_PREFIX, RULE_PREFIX, SECTION_PREFIX]
            .iter()
            .any(|p| name.starts_with(p));
        if !known {
            return Err(ResourceError::Malformed {
                name: name.clone(),
                reason: "unknown kind of resource".into(),
            });
        }
        if !name.starts_with(SECTION_PREFIX) && !used.contains(name) {
            return Err(ResourceError::Unreferenced { name: name.clone() });
        }
    }
    let mut doc = Map::new();
    doc.insert("gateway".into(), Value::Object(gateway));
    Ok(Value::Object(doc))
}

/// The `gateway` object of a document shaped exactly `{"gateway": {…}}`.
fn gateway_of(doc: &Value) -> Option<&Map<String, Value>> {
    match doc {
        Value::Object(map) if map.len() == 1 => map.get("gateway")?.as_object(),
        _ => None,
    }
}

/// The value at `path` below `v`, through objects only.
fn walk_mut<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |cur, key| cur.get_mut(*key))
}

fn inline(entry: Value) -> Value {
    let mut wrapper = Map::new();
    wrapper.insert(INLINE.into(), entry);
    Value::Object(wrapper)
}

fn uninline(v: Value) -> Option<Value> {
    match v {
        Value::Object(mut map) if map.len() == 1 => map.remove(INLINE),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
