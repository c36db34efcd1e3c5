//! JSON paths such as `gateway.routing.rules[0].match.threshold`: how every error names its value.

use std::fmt;

/// One step of a [`Path`]: an object key or an array index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// A key of a JSON object.
    Key(String),
    /// An index into a JSON array.
    Index(usize),
}

/// A location inside a config document, rooted at the document (so it usually starts with `gateway`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path(Vec<Segment>);

// === impl Path ===

impl Path {
    /// The document root.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// The `gateway` object, where every config path starts.
    pub fn gateway() -> Self {
        Self::root().key("gateway")
    }

    /// This path extended by an object key.
    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut segs = self.0.clone();
        segs.push(Segment::Key(key.into()));
        Self(segs)
    }

    /// This path extended by an array index.
    pub fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Segment::Index(index));
        Self(segs)
    }

    /// Appends a segment in place.
    pub fn push(&mut self, seg: Segment) {
        self.0.push(seg);
    }

    /// The segments from the root down.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// The path without its last segment (the root stays the root).
    pub fn parent(&self) -> Self {
        let mut segs = self.0.clone();
        segs.pop();
        Self(segs)
    }

    /// The last segment, unless this is the root.
    pub fn last(&self) -> Option<&Segment> {
        self.0.last()
    }

    /// True when `self` equals `other` or lies below it.
    pub fn starts_with(&self, other: &Path) -> bool {
        self.0.starts_with(&other.0)
    }

    /// Parses a dotted key relative to `gateway` (`routing.rules[0].target`, `routing.rules.0`).
    ///
    /// A leading `gateway.` is accepted and ignored, so both spellings name the same key.
    pub fn parse_relative(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let text = text.strip_prefix("gateway.").unwrap_or(text);
        let mut path = Self::gateway();
        if text.is_empty() || text == "gateway" {
            return Ok(path);
        }
        for part in text.split('.') {
            let (name, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if name.is_empty() && rest.is_empty() {
                return Err(format!("empty segment in key `{text}`"));
            }
            if !name.is_empty() {
                match name.parse::<usize>() {
                    Ok(i) if !path.0.is_empty() => path.push(Segment::Index(i)),
                    _ => path.push(Segment::Key(name.to_string())),
                }
            }
            while !rest.is_empty() {
                let close = rest
                    .find(']')
                    .ok_or_else(|| format!("unclosed `[` in key `{text}`"))?;
                let index = rest[1..close].parse::<usize>().map_err(|_| {
                    format!(
                        "`{}` is not an array index in key `{text}`",
                        &rest[1..close]
                    )
                })?;
                path.push(Segment::Index(index));
                rest = &rest[close + 1..];
                if !rest.is_empty() && !rest.starts_with('[') {
                    return Err(format!("unexpected `{rest}` in key `{text}`"));
                }
            }
        }
        Ok(path)
    }

    /// The RFC 6901 JSON pointer for this path (`/gateway/http/listen`).
    pub fn to_pointer(&self) -> String {
        let mut out = String::new();
        for seg in &self.0 {
            out.push('/');
            match seg {
                Segment::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
                Segment::Index(i) => out.push_str(&i.to_string()),
            }
        }
        out
    }

    /// The value at this path inside `doc`, if there is one.
    pub fn lookup<'a>(&self, doc: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
        let mut cur = doc;
        for seg in &self.0 {
            cur = match seg {
                Segment::Key(k) => cur.as_object()?.get(k)?,
                Segment::Index(i) => cur.as_array()?.get(*i)?,
            };
        }
        Some(cur)
    }

    /// Removes and returns the value at this path inside `doc`.
    pub fn remove(&self, doc: &mut serde_json::Value) -> Option<serde_json::Value> {
        let (last, parents) = self.0.split_last()?;
        let mut cur = doc;
        for seg in parents {
            cur = match seg {
                Segment::Key(k) => cur.as_object_mut()?.get_mut(k)?,
                Segment::Index(i) => cur.as_array_mut()?.get_mut(*i)?,
            };
        }
        match last {
            Segment::Key(k) => cur.as_object_mut()?.remove(k),
            Segment::Index(i) => {
                let arr = cur.as_array_mut()?;
                (*i < arr.len()).then(|| arr.remove(*i))
            }
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (n, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(k) if is_plain_key(k) => {
                    if n > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Segment::Key(k) => write!(f, "[{}]", serde_json::Value::String(k.clone()))?,
                Segment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

fn is_plain_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_the_docs() {
        let p = Path::gateway()
            .key("routing")
            .key("rules")
            .index(1)
            .key("match")
            .key("threshold");
        assert_eq!(p.to_string(), "gateway.routing.rules[1].match.threshold");
        let l = Path::gateway()
            .key("controlPlane")
            .key("labels")
            .key("app.kubernetes.io/name");
        assert_eq!(
            l.to_string(),
            "gateway.controlPlane.labels[\"app.kubernetes.io/name\"]"
        );
    }

    #[test]
    fn parses_relative_keys() {
        let want = Path::gateway()
            .key("routing")
            .key("rules")
            .index(0)
            .key("target");
        assert_eq!(
            Path::parse_relative("routing.rules[0].target").unwrap(),
            want
        );
        assert_eq!(
            Path::parse_relative("routing.rules.0.target").unwrap(),
            want
        );
        assert_eq!(
            Path::parse_relative("gateway.routing.rules[0].target").unwrap(),
            want
        );
        assert_eq!(Path::parse_relative("").unwrap(), Path::gateway());
        assert!(Path::parse_relative("routing.rules[x]").is_err());
        assert_eq!(want.to_pointer(), "/gateway/routing/rules/0/target");
    }
}
