//! Property tests of the document algebra: merge patch, canonical hashing, diff → JSON Patch.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use openclaw_config::diff::{diff, to_json_patch};
use openclaw_config::patch::{apply_json_patch, merge_patch};
use openclaw_config::{canonical_bytes, content_hash};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-z0-9 ]{0,8}".prop_map(Value::String),
    ]
}

/// Arbitrary JSON, with objects whose values are never null (merge patch reads null as delete).
fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                "[a-e]{1,2}",
                inner.prop_filter("non-null", |v| !v.is_null()),
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

fn objects() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        "[a-e]{1,2}",
        json().prop_filter("non-null", |v| !v.is_null()),
        0..6,
    )
    .prop_map(|m| serde_json::json!({"gateway": Value::Object(m.into_iter().collect())}))
}

fn reversed_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            let mut items: Vec<_> = m.iter().collect();
            items.reverse();
            for (k, x) in items {
                out.insert(k.clone(), reversed_keys(x));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(reversed_keys).collect()),
        other => other.clone(),
    }
}

proptest! {
    #[test]
    fn merge_patch_with_itself_is_identity(doc in objects()) {
        let mut merged = doc.clone();
        merge_patch(&mut merged, &doc);
        prop_assert_eq!(merged, doc);
    }

    #[test]
    fn canonical_hash_ignores_key_order(doc in objects()) {
        let other = reversed_keys(&doc);
        prop_assert_eq!(canonical_bytes(&doc), canonical_bytes(&other));
        prop_assert_eq!(content_hash(&doc), content_hash(&other));
    }

    #[test]
    fn canonical_bytes_parse_back_to_the_document(doc in objects()) {
        let back: Value = serde_json::from_slice(&canonical_bytes(&doc)).unwrap();
        prop_assert_eq!(back, doc);
    }

    #[test]
    fn applying_a_diffs_patch_reproduces_the_target(a in objects(), b in objects()) {
        let patch = to_json_patch(&diff(&a, &b));
        prop_assert_eq!(apply_json_patch(&a, &patch).unwrap(), b);
    }

    #[test]
    fn different_documents_hash_differently(a in objects(), b in objects()) {
        prop_assume!(a != b);
        prop_assert_ne!(content_hash(&a), content_hash(&b));
    }
}
