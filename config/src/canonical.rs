//! Canonical serialization and content hashes: equal documents give equal bytes whatever their key order.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The document as compact JSON with every object's keys sorted.
pub fn canonical_bytes(doc: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(doc, &mut out);
    out
}

/// The hex SHA-256 of the canonical bytes.
pub fn content_hash(doc: &Value) -> String {
    hex::encode(Sha256::digest(canonical_bytes(doc)))
}

fn write(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(Value::String(k.clone()).to_string().as_bytes());
                out.push(b':');
                if let Some(child) = map.get(k) {
                    write(child, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}
