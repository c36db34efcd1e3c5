//! Parsing and validating a whole document, collecting every problem (not just the first) with its path.
//!
//! Structural problems (unknown keys, wrong types, unknown names) come from serde: each one is recorded,
//! the offending value is taken out, and parsing runs again until the rest parses. The typed result then
//! gets the semantic checks (ranges, references, regexes). Array elements taken out shift the indices
//! after them, so every path is mapped back to the document as written.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::path::Segment;
use crate::problem::{Check, Problem, Problems, render};
use crate::secrets::{REDACTED, check_placeholders, is_secret_path};
use crate::{Document, Path};

/// Stop after this many structural problems: a document this broken is not worth more detail.
const MAX_STRUCTURAL: usize = 200;

/// Parses `doc` and runs every check; the typed document, or every problem found.
///
/// `doc` may be sparse (missing keys take their defaults) or already merged with the defaults layer.
pub fn validate(doc: &Value) -> Result<Document, Problems> {
    if !doc.is_object() {
        return Err(not_an_object(doc));
    }
    let (typed, mut problems, removed) = parse_collecting(doc);
    if let Some(typed) = &typed {
        let mut c = Check::default();
        typed.gateway.validate(&mut c);
        // A value taken out for a structural problem falls back to its default: say nothing more about it.
        let reported: Vec<Path> = problems.iter().map(|p| p.path.clone()).collect();
        let semantic = c.into_problems().into_iter().map(|mut p| {
            p.path = removed.to_original(&p.path);
            p
        });
        problems.extend(semantic.filter(|p| !reported.iter().any(|r| p.path.starts_with(r))));
    }
    let mut all = check_placeholders(doc);
    all.extend(problems);
    match typed {
        Some(t) if all.is_empty() => Ok(t),
        _ => Err(Problems(all)),
    }
}

/// Parses without semantic checks, for callers that only need the types of an already validated document.
pub fn parse(doc: &Value) -> Result<Document, Problems> {
    if !doc.is_object() {
        return Err(not_an_object(doc));
    }
    match parse_collecting(doc) {
        (Some(t), p, _) if p.is_empty() => Ok(t),
        (_, p, _) => Err(Problems(p)),
    }
}

fn not_an_object(doc: &Value) -> Problems {
    Problems(vec![Problem::new(
        Path::root(),
        "must be a JSON object {\"gateway\": {...}}",
        Some(render(doc)),
    )])
}

/// Original indices taken out of each array, keyed by the array's original path.
#[derive(Default)]
struct Removed(BTreeMap<Path, Vec<usize>>);

fn parse_collecting(doc: &Value) -> (Option<Document>, Vec<Problem>, Removed) {
    let mut current = doc.clone();
    let mut problems = Vec::new();
    let mut removed = Removed::default();
    loop {
        let err = match serde_path_to_error::deserialize::<_, Document>(&current) {
            Ok(t) => return (Some(t), problems, removed),
            Err(e) => e,
        };
        let here = to_path(err.path());
        let original = removed.to_original(&here);
        let message = err.inner().to_string();
        let got = here.lookup(&current).map(|v| {
            if is_secret_path(&original) {
                format!("\"{REDACTED}\"")
            } else {
                render(v)
            }
        });
        problems.push(Problem::new(original.clone(), explain(&message), got));
        if problems.len() >= MAX_STRUCTURAL
            || here.segments().is_empty()
            || here.remove(&mut current).is_none()
        {
            return (None, problems, removed);
        }
        if let Some(Segment::Index(i)) = original.last() {
            let list = removed.0.entry(original.parent()).or_default();
            let at = list.partition_point(|x| x < i);
            list.insert(at, *i);
        }
    }
}

fn to_path(p: &serde_path_to_error::Path) -> Path {
    use serde_path_to_error::Segment as S;
    let mut out = Path::root();
    for seg in p.iter() {
        match seg {
            S::Seq { index } => out.push(Segment::Index(*index)),
            S::Map { key } => out.push(Segment::Key(key.clone())),
            S::Enum { .. } | S::Unknown => {}
        }
    }
    out
}

/// Rewrites serde's wording into ours: what is expected, without repeating the value.
fn explain(message: &str) -> String {
    let strip_ticks = |s: &str| s.replace('`', "").replace(" or ", ", ");
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let known = rest.split_once(", expected ").map(|(_, k)| k).unwrap_or("");
        let known = known.strip_prefix("one of ").unwrap_or(known);
        return if known.is_empty() {
            "unknown key (this object takes no keys)".to_string()
        } else {
            format!("unknown key (known keys here: {})", strip_ticks(known))
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let known = rest.split_once(", expected ").map(|(_, k)| k).unwrap_or("");
        let known = known.strip_prefix("one of ").unwrap_or(known);
        return format!("must be one of {}", strip_ticks(known));
    }
    if message.starts_with("invalid type: ") {
        let expected = message
            .rsplit_once(", expected ")
            .map(|(_, e)| e)
            .unwrap_or("another type");
        return format!("wrong type, expected {expected}");
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let expected = rest
            .rsplit_once(", expected ")
            .map(|(_, e)| e)
            .unwrap_or(rest);
        return format!("invalid value, expected {expected}");
    }
    message.to_string()
}

// === impl Removed ===

impl Removed {
    /// Maps a path in the reduced document back to the document as written.
    fn to_original(&self, current: &Path) -> Path {
        let mut out = Path::root();
        for seg in current.segments() {
            match seg {
                Segment::Key(k) => out.push(Segment::Key(k.clone())),
                Segment::Index(i) => {
                    let mut idx = *i;
                    if let Some(gone) = self.0.get(&out) {
                        for g in gone {
                            if *g <= idx {
                                idx += 1;
                            } else {
                                break;
                            }
                        }
                    }
                    out.push(Segment::Index(idx));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
