use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;

fn doc() -> Value {
    json!({"gateway": {
        "http": {"listen": "0.0.0.0:8080"},
        "agents": {
            "discovery": {"method": "static", "static": [
                {"id": "b", "endpoint": "http://b:1"},
                {"id": "a", "endpoint": "http://a:1"}
            ]},
            "healthCheck": {"enabled": true}
        },
        "routing": {"rules": [
            {"name": "r2", "match": {"type": "default"}, "target": "a"},
            {"name": "r1", "match": {"type": "prefix", "pattern": "/x"}, "target": "b"}
        ]}
    }})
}

#[test]
fn splits_into_named_resources_keeping_order() {
    let res = split(&doc());
    let names: Vec<&str> = res.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "agent/a",
            "agent/b",
            "rule/r1",
            "rule/r2",
            "section/agents",
            "section/http",
            "section/routing"
        ]
    );
    assert_eq!(
        res["section/agents"]["discovery"]["static"],
        json!(["b", "a"])
    );
    assert_eq!(res["section/routing"]["rules"], json!(["r2", "r1"]));
    assert_eq!(res["agent/a"], json!({"id": "a", "endpoint": "http://a:1"}));
    assert_eq!(assemble(&res), Ok(doc()));
}

#[test]
fn a_change_to_one_agent_changes_only_its_resource() {
    let before = split(&doc());
    let mut changed = doc();
    changed["gateway"]["agents"]["discovery"]["static"][1]["endpoint"] = json!("http://a:2");
    let after = split(&changed);
    let differing: Vec<&String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(differing, ["agent/a"]);
}

#[test]
fn unnamed_and_duplicate_entries_stay_inline() {
    let d = json!({"gateway": {"agents": {"discovery": {"static": [
        {"id": "a", "endpoint": "1"}, {"id": "a", "endpoint": "2"}, {"endpoint": "3"},
        {"id": ""}, {"id": 7}, "a", {"inline": "x"}
    ]}}}});
    let res = split(&d);
    assert_eq!(res.len(), 2);
    assert_eq!(res["section/agents"]["discovery"]["static"][0], json!("a"));
    assert_eq!(
        res["section/agents"]["discovery"]["static"][1],
        json!({"inline": {"id": "a", "endpoint": "2"}})
    );
    assert_eq!(assemble(&res), Ok(d));
}

#[test]
fn odd_shapes_round_trip() {
    for d in [
        json!({"gateway": {}}),
        json!({"gateway": {"agents": 5, "routing": {"rules": {"a": 1}}}}),
        json!({"gateway": {"agents": {"discovery": {"static": []}}}}),
        json!({"gateway": 3}),
        json!({"gateway": {}, "other": 1}),
        json!([1, 2]),
        Value::Null,
    ] {
        assert_eq!(assemble(&split(&d)), Ok(d));
    }
}

#[test]
fn missing_stray_and_malformed_resources_are_errors() {
    let mut res = split(&doc());
    res.remove("rule/r1");
    assert_eq!(
        assemble(&res),
        Err(ResourceError::Missing {
            name: "rule/r1".into(),
            referenced_by: "section/routing".into()
        })
    );

    let mut res = split(&doc());
    res.insert("agent/zz".into(), json!({"id": "zz"}));
    let err = assemble(&res).err();
    assert_eq!(err.as_ref().map(ResourceError::kind), Some("unreferenced"));
    assert!(
        err.map(|e| e.to_string())
            .unwrap_or_default()
            .contains("agent/zz")
    );

    let mut res = split(&doc());
    res.insert("whatever".into(), json!(1));
    assert_eq!(assemble(&res).err().map(|e| e.kind()), Some("malformed"));

    let mut res = split(&doc());
    res.insert("section/routing".into(), json!({"rules": [1]}));
    assert_eq!(assemble(&res).err().map(|e| e.kind()), Some("malformed"));
}

// === property: assemble(split(d)) == d ===

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-c]{0,3}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-d]{1,2}|inline|id|name", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A list entry: usually named (from a small pool, so duplicates and empty names happen), sometimes not.
fn entry(key: &'static str) -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => ("[a-d]{0,2}", prop::collection::btree_map("[e-h]{1,2}", json_value(), 0..3))
            .prop_map(move |(id, rest)| {
                let mut m: Map<String, Value> = rest.into_iter().collect();
                m.insert(key.into(), Value::String(id));
                Value::Object(m)
            }),
        1 => json_value(),
    ]
}

fn list_or_other(key: &'static str) -> impl Strategy<Value = Value> {
    prop_oneof![
        5 => prop::collection::vec(entry(key), 0..6).prop_map(Value::Array),
        1 => json_value(),
    ]
}

fn gateway_doc() -> impl Strategy<Value = Value> {
    (
        list_or_other("id"),
        prop::collection::btree_map("[a-c]", json_value(), 0..3),
        list_or_other("name"),
        prop::collection::btree_map("[a-e]{1,8}", json_value(), 0..4),
        any::<(bool, bool)>(),
    )
        .prop_map(
            |(agents, extra, rules, sections, (has_agents, has_routing))| {
                let mut gateway: Map<String, Value> = sections.into_iter().collect();
                if has_agents {
                    let mut agents_obj: Map<String, Value> = extra.into_iter().collect();
                    agents_obj.insert(
                        "discovery".into(),
                        json!({"method": "static", "static": agents}),
                    );
                    gateway.insert("agents".into(), Value::Object(agents_obj));
                }
                if has_routing {
                    gateway.insert("routing".into(), json!({ "rules": rules }));
                }
                json!({ "gateway": gateway })
            },
        )
}

proptest! {
    #[test]
    fn assemble_inverts_split(d in gateway_doc()) {
        let res = split(&d);
        prop_assert_eq!(assemble(&res), Ok(d));
    }

    #[test]
    fn assemble_inverts_split_on_any_value(d in json_value()) {
        prop_assert_eq!(assemble(&split(&d)), Ok(d));
    }

    #[test]
    fn every_entry_resource_is_needed(d in gateway_doc()) {
        let res: BTreeMap<String, Value> = split(&d);
        for name in res.keys().filter(|n| !n.starts_with(SECTION_PREFIX)) {
            let mut less = res.clone();
            less.remove(name);
            let missing = matches!(assemble(&less), Err(ResourceError::Missing { name: ref m, .. }) if m == name);
            prop_assert!(missing, "{} removed but assemble did not miss it", name);
        }
    }
}
