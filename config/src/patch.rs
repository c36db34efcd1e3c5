//! Edits of a stored document: RFC 7396 merge patch and RFC 6902 JSON Patch, both rooted at `{"gateway": …}`.

use serde_json::Value;

use crate::ConfigError;

/// Applies an RFC 7396 merge patch in place: objects merge key by key, `null` removes, all else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = target {
        for (k, v) in patch_map {
            if v.is_null() {
                map.remove(k);
            } else {
                merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Applies an RFC 6902 JSON Patch (a JSON array of operations) to a copy of `doc`; all or nothing.
pub fn apply_json_patch(doc: &Value, ops: &Value) -> Result<Value, ConfigError> {
    let patch: json_patch::Patch = serde_json::from_value(ops.clone())
        .map_err(|e| ConfigError::Patch(format!("not a JSON Patch document: {e}")))?;
    let mut out = doc.clone();
    json_patch::patch(&mut out, &patch).map_err(|e| ConfigError::Patch(e.to_string()))?;
    Ok(out)
}

/// Applies a merge patch to a copy of `doc`; the patch must itself be a `{"gateway": …}` object.
pub fn apply_merge_patch(doc: &Value, patch: &Value) -> Result<Value, ConfigError> {
    let Value::Object(map) = patch else {
        return Err(ConfigError::Patch(
            "a merge patch is a JSON object rooted at {\"gateway\": …}".into(),
        ));
    };
    if let Some(bad) = map.keys().find(|k| k.as_str() != "gateway") {
        return Err(ConfigError::Patch(format!(
            "a merge patch is rooted at {{\"gateway\": …}}; unexpected top-level key `{bad}`"
        )));
    }
    let mut out = doc.clone();
    merge_patch(&mut out, patch);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_follows_rfc7396() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}, "arr": [1, 2]});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}, "arr": [3]}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}, "arr": [3]}));
    }

    #[test]
    fn json_patch_is_all_or_nothing() {
        let doc = json!({"gateway": {"http": {"listen": "0.0.0.0:80"}}});
        let ok = apply_json_patch(
            &doc,
            &json!([{"op": "replace", "path": "/gateway/http/listen", "value": "1.2.3.4:9"}]),
        )
        .unwrap();
        assert_eq!(ok["gateway"]["http"]["listen"], "1.2.3.4:9");
        let err = apply_json_patch(
            &doc,
            &json!([{"op": "add", "path": "/gateway/x", "value": 1}, {"op": "remove", "path": "/gateway/nope"}]),
        );
        assert!(err.is_err());
        assert!(apply_merge_patch(&doc, &json!({"http": {}})).is_err());
    }
}
