//! `${NAME}` placeholders and redaction: secrets are stored as written, resolved where used, never shown.

use serde_json::Value;

use crate::Path;
use crate::problem::{Problem, render};

/// What replaces a secret in anything shown to a person.
pub const REDACTED: &str = "<redacted>";

/// Keys whose values are secrets wherever they appear.
const SECRET_KEYS: &[&str] = &["password", "token", "secret", "apiKey", "keyHash"];

/// True when `s` contains a `${` placeholder opening.
pub fn contains_placeholder(s: &str) -> bool {
    s.contains("${")
}

/// True when `s` is exactly one placeholder, `${NAME}`.
pub fn is_single_placeholder(s: &str) -> bool {
    s.strip_prefix("${")
        .and_then(|r| r.strip_suffix('}'))
        .is_some_and(is_var_name)
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits `s` into literal text and placeholder names; the error says what is malformed.
fn parse(s: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        if start > 0 {
            pieces.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "a `${` placeholder is not closed with `}`".to_string())?;
        let name = &after[..end];
        if !is_var_name(name) {
            return Err(format!(
                "`${{{name}}}` is not a valid placeholder: names use letters, digits and _, and do not start with a digit"
            ));
        }
        pieces.push(Piece::Var(name));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// Checks the syntax of every placeholder in the document (what the control plane does before storing).
pub fn check_placeholders(doc: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    walk_strings(doc, &Path::root(), &mut |path, s| {
        if contains_placeholder(s)
            && let Err(e) = parse(s)
        {
            out.push(Problem::new(
                path.clone(),
                e,
                Some(render(&redact_string(path, s))),
            ));
        }
    });
    out
}

/// Replaces every `${NAME}` with `lookup(NAME)`; a missing variable is an error naming key and variable.
pub fn resolve(
    doc: &Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, Vec<Problem>> {
    let mut problems = Vec::new();
    let resolved = map_strings(doc, &Path::root(), &mut |path, s| {
        if !contains_placeholder(s) {
            return s.to_string();
        }
        match parse(s) {
            Err(e) => {
                problems.push(Problem::new(path.clone(), e, None));
                s.to_string()
            }
            Ok(pieces) => {
                let mut out = String::new();
                for piece in pieces {
                    match piece {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Var(name) => match lookup(name) {
                            Some(v) => out.push_str(&v),
                            None => problems.push(Problem::new(
                                path.clone(),
                                format!("environment variable {name} is not set"),
                                Some(render(s)),
                            )),
                        },
                    }
                }
                out
            }
        }
    });
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(problems)
    }
}

/// A copy of `doc` in which every secret value is replaced by [`REDACTED`].
///
/// A value that is only a placeholder (`${REDIS_PASSWORD}`) is kept: it names a variable, not a secret.
pub fn redact(doc: &Value) -> Value {
    map_strings(doc, &Path::root(), &mut |path, s| redact_string(path, s))
}

/// The displayable form of one string found at `path`.
pub fn redact_string(path: &Path, s: &str) -> String {
    if is_secret_path(path) && !is_single_placeholder(s) && !s.is_empty() {
        REDACTED.to_string()
    } else {
        redact_url(s)
    }
}

/// True when the value at `path` is a secret (a password, token, or API key).
pub fn is_secret_path(path: &Path) -> bool {
    use crate::path::Segment;
    let segs = path.segments();
    match segs.last() {
        Some(Segment::Key(k)) if SECRET_KEYS.contains(&k.as_str()) => true,
        Some(Segment::Key(k)) if k == "key" => segs
            .iter()
            .any(|s| matches!(s, Segment::Key(p) if p == "apiKeys")),
        _ => false,
    }
}

/// Hides the password of a `scheme://user:password@host` URL.
pub fn redact_url(s: &str) -> String {
    let Some((scheme, rest)) = s.split_once("://") else {
        return s.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return s.to_string();
    };
    match userinfo.split_once(':') {
        Some((_, pw)) if !pw.is_empty() && !is_single_placeholder(pw) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!(
                "{scheme}://{user}:{REDACTED}@{host}{}",
                &rest[authority_end..]
            )
        }
        _ => s.to_string(),
    }
}

fn walk_strings(v: &Value, path: &Path, f: &mut dyn FnMut(&Path, &str)) {
    match v {
        Value::String(s) => f(path, s),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| walk_strings(x, &path.index(i), f)),
        Value::Object(o) => o
            .iter()
            .for_each(|(k, x)| walk_strings(x, &path.key(k.clone()), f)),
        _ => {}
    }
}

fn map_strings(v: &Value, path: &Path, f: &mut dyn FnMut(&Path, &str) -> String) -> Value {
    match v {
        Value::String(s) => Value::String(f(path, s)),
        Value::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, x)| map_strings(x, &path.index(i), f))
                .collect(),
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), map_strings(x, &path.key(k.clone()), f)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn resolves_and_names_missing_variables() {
        let doc = json!({"gateway": {"cache": {"layers": [{"password": "${REDIS_PASSWORD}"}]}}});
        let ok = resolve(&doc, &|n| {
            (n == "REDIS_PASSWORD").then(|| "s3cret".to_string())
        })
        .unwrap();
        assert_eq!(ok["gateway"]["cache"]["layers"][0]["password"], "s3cret");
        let err = resolve(&doc, &|_| None).unwrap_err();
        assert_eq!(
            err[0].to_string(),
            "gateway.cache.layers[0].password: environment variable REDIS_PASSWORD is not set, got \"${REDIS_PASSWORD}\""
        );
    }

    #[test]
    fn checks_syntax() {
        let doc = json!({"gateway": {"x": "${OPEN", "y": "${1BAD}", "z": "a ${OK} b"}});
        let p = check_placeholders(&doc);
        assert_eq!(p.len(), 2);
        assert!(
            p[0].to_string()
                .starts_with("gateway.x: a `${` placeholder is not closed")
        );
    }

    #[test]
    fn redacts_secrets_but_not_placeholders() {
        let doc = json!({"gateway": {
            "cache": {"layers": [{"password": "hunter2", "endpoint": "redis://:pw@h:6379"}, {"password": "${P}"}]},
            "auth": {"apiKeys": [{"id": "a", "key": "sk-123"}]},
            "http": {"tls": {"key": "/etc/key.pem"}},
            "controlPlane": {"token": "abc"}
        }});
        let r = redact(&doc);
        let text = r.to_string();
        for secret in ["hunter2", ":pw@", "sk-123", "abc"] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
        assert_eq!(r["gateway"]["cache"]["layers"][1]["password"], "${P}");
        assert_eq!(r["gateway"]["http"]["tls"]["key"], "/etc/key.pem");
    }
}
