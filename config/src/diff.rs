//! A structural diff between two documents: readable lines for people, JSON Patch for machines.

use std::fmt;

use serde_json::{Value, json};

use crate::Path;
use crate::problem::render;
use crate::secrets::{REDACTED, is_secret_path, redact};

/// One difference between two documents.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A key present only in the new document.
    Added {
        /// Where.
        path: Path,
        /// The new value.
        value: Value,
    },
    /// A key present only in the old document.
    Removed {
        /// Where.
        path: Path,
        /// The old value.
        value: Value,
    },
    /// A value that differs.
    Changed {
        /// Where.
        path: Path,
        /// The old value.
        from: Value,
        /// The new value.
        to: Value,
    },
}

/// Every difference from `old` to `new`, in key order. Arrays are compared element by element after
/// their common start and end, so adding, removing or editing one routing rule shows that rule
/// alone; the changes apply in order as a JSON Patch.
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk(old, new, &Path::root(), &mut out);
    out
}

fn walk(old: &Value, new: &Value, at: &Path, out: &mut Vec<Change>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = at.key(k.clone());
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => walk(x, y, &p, out),
                    (Some(x), None) => out.push(Change::Removed {
                        path: p,
                        value: x.clone(),
                    }),
                    (None, Some(y)) => out.push(Change::Added {
                        path: p,
                        value: y.clone(),
                    }),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => walk_array(a, b, at, out),
        _ if old == new => {}
        _ => out.push(Change::Changed {
            path: at.clone(),
            from: old.clone(),
            to: new.clone(),
        }),
    }
}

/// `old` = P + A + S and `new` = P + B + S: the elements of A and B are compared pairwise, and what is
/// left over is added (ascending) or removed (descending, so each index is still right when applied).
fn walk_array(a: &[Value], b: &[Value], at: &Path, out: &mut Vec<Change>) {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let max_suffix = a.len().min(b.len()) - prefix;
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max_suffix)
        .take_while(|(x, y)| x == y)
        .count();
    let (mid_a, mid_b) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let paired = mid_a.len().min(mid_b.len());
    for i in 0..paired {
        walk(&mid_a[i], &mid_b[i], &at.index(prefix + i), out);
    }
    for (i, v) in mid_b.iter().enumerate().skip(paired) {
        out.push(Change::Added {
            path: at.index(prefix + i),
            value: v.clone(),
        });
    }
    for i in (paired..mid_a.len()).rev() {
        out.push(Change::Removed {
            path: at.index(prefix + i),
            value: mid_a[i].clone(),
        });
    }
}

/// The RFC 6902 operations that turn the old document into the new one.
pub fn to_json_patch(changes: &[Change]) -> Value {
    let ops: Vec<Value> = changes
        .iter()
        .map(|c| match c {
            Change::Added { path, value } => {
                json!({"op": "add", "path": path.to_pointer(), "value": value})
            }
            Change::Removed { path, .. } => json!({"op": "remove", "path": path.to_pointer()}),
            Change::Changed { path, to, .. } => {
                json!({"op": "replace", "path": path.to_pointer(), "value": to})
            }
        })
        .collect();
    Value::Array(ops)
}

/// The changes as JSON objects (`{"op", "path", "from", "to"}`), secrets redacted.
pub fn to_json(changes: &[Change]) -> Value {
    Value::Array(
        changes
            .iter()
            .map(|c| match c {
                Change::Added { path, value } => json!({"op": "add", "path": path.to_string(), "to": shown(path, value)}),
                Change::Removed { path, value } => json!({"op": "remove", "path": path.to_string(), "from": shown(path, value)}),
                Change::Changed { path, from, to } => {
                    json!({"op": "replace", "path": path.to_string(), "from": shown(path, from), "to": shown(path, to)})
                }
            })
            .collect(),
    )
}

fn shown(path: &Path, v: &Value) -> Value {
    if is_secret_path(path)
        && v.is_string()
        && !v
            .as_str()
            .is_some_and(crate::secrets::is_single_placeholder)
    {
        return Value::String(REDACTED.into());
    }
    let mut wrapped = v.clone();
    // Redaction is keyed by path, so redact the value in place under its real location.
    for seg in path.segments().iter().rev() {
        wrapped = match seg {
            crate::path::Segment::Key(k) => json!({ k.clone(): wrapped }),
            crate::path::Segment::Index(_) => json!([wrapped]),
        };
    }
    let red = redact(&wrapped);
    let mut cur = &red;
    for seg in path.segments() {
        cur = match seg {
            crate::path::Segment::Key(k) => &cur[k.as_str()],
            crate::path::Segment::Index(_) => &cur[0],
        };
    }
    cur.clone()
}

/// Displays changes one per line: `+ path: value`, `- path: value`, `~ path: old -> new`.
pub struct Display<'a>(pub &'a [Change]);

impl fmt::Display for Display<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(no changes)");
        }
        for (n, c) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str("\n")?;
            }
            match c {
                Change::Added { path, value } => {
                    write!(f, "+ {path}: {}", render(&shown(path, value)))?
                }
                Change::Removed { path, value } => {
                    write!(f, "- {path}: {}", render(&shown(path, value)))?
                }
                Change::Changed { path, from, to } => write!(
                    f,
                    "~ {path}: {} -> {}",
                    render(&shown(path, from)),
                    render(&shown(path, to))
                )?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::apply_json_patch;

    #[test]
    fn one_rule_added_or_removed_shows_that_rule_alone() {
        let r = |n: &str| json!({"name": n, "match": {"type": "prefix", "pattern": "/"}, "target": "a"});
        let old = json!({"gateway": {"routing": {"rules": [r("a"), r("b"), r("c")]}}});
        let added = json!({"gateway": {"routing": {"rules": [r("a"), r("x"), r("b"), r("c")]}}});
        let changes = diff(&old, &added);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(
            matches!(&changes[0], Change::Added { path, .. } if path.to_string() == "gateway.routing.rules[1]")
        );
        assert_eq!(
            apply_json_patch(&old, &to_json_patch(&changes)).unwrap(),
            added
        );
        let removed = json!({"gateway": {"routing": {"rules": [r("a"), r("c")]}}});
        let changes = diff(&old, &removed);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(
            apply_json_patch(&old, &to_json_patch(&changes)).unwrap(),
            removed
        );
    }

    #[test]
    fn readable_and_applicable() {
        let a = json!({"gateway": {"http": {"listen": "a:1"}, "x": [1, 2], "cache": {"layers": [{"password": "p1"}]}}});
        let b = json!({"gateway": {"http": {"listen": "b:2"}, "x": [1], "y": true, "cache": {"layers": [{"password": "p2"}]}}});
        let changes = diff(&a, &b);
        let text = Display(&changes).to_string();
        assert!(
            text.contains("~ gateway.http.listen: \"a:1\" -> \"b:2\""),
            "{text}"
        );
        assert!(text.contains("+ gateway.y: true"), "{text}");
        assert!(!text.contains("p1") && !text.contains("p2"), "{text}");
        assert_eq!(apply_json_patch(&a, &to_json_patch(&changes)).unwrap(), b);
    }
}
