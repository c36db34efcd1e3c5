//! Local config tools: `validate --file F` and `config.effective`, which never contact a server.

use std::path::Path as FsPath;

use openclaw_config::layers::{self, Layer};
use openclaw_config::{Path, Sources, secrets};
use serde_json::{Map, Value, json};

use crate::args::{Effective, ValidateLocal};
use crate::output::{Failure, print_json};

/// Checks a file over the built-in defaults (not this machine's files or environment keys).
pub(crate) fn validate(a: ValidateLocal) -> Result<(), Failure> {
    let file = a
        .file
        .or(a.file_pos)
        .ok_or_else(|| Failure::usage("validate needs a file: validate FILE"))?;
    let doc = read_document(&file)?;
    let merged = layers::merge_layers(vec![
        (Layer::Default, layers::defaults()),
        (Layer::User, doc),
    ])
    .effective;
    let result = if a.no_env {
        openclaw_config::validate(&merged)
    } else {
        openclaw_config::validate_with_env(&merged, &|name| std::env::var(name).ok())
    };
    match result {
        Ok(d) => {
            let g = &d.gateway;
            println!(
                "{}: valid ({} agents, {} routing rules, hash {})",
                file.display(),
                g.agents.discovery.static_agents.len(),
                g.routing.rules.len(),
                &openclaw_config::content_hash(&merged)[..12]
            );
            Ok(())
        }
        Err(problems) => Err(Failure::op(problems.to_string())),
    }
}

/// Prints the merged local config, a key of it, or each key's layer; secrets redacted.
pub(crate) fn effective(a: Effective, flags: Vec<(Path, Value)>) -> Result<(), Failure> {
    let layered =
        layers::load(&Sources::from_process(flags)).map_err(|e| Failure::op(e.to_string()))?;
    let redacted = secrets::redact(&layered.effective);
    let path = match &a.key {
        Some(k) => Path::parse_relative(k).map_err(Failure::usage)?,
        None => Path::root(),
    };
    let value = path
        .lookup(&redacted)
        .ok_or_else(|| Failure::op(format!("{path}: no such key in the effective config")))?;
    if !a.origin {
        print_json(value);
        return Ok(());
    }
    let mut out = Map::new();
    for (p, layer) in layered.origins.iter().filter(|(p, _)| p.starts_with(&path)) {
        let v = p.lookup(&redacted).cloned().unwrap_or(Value::Null);
        out.insert(p.to_string(), json!({"value": v, "origin": layer.name()}));
    }
    print_json(&Value::Object(out));
    Ok(())
}

/// Reads a JSON document from a file, or standard input for `-`.
pub(crate) fn read_document(file: &FsPath) -> Result<Value, Failure> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| Failure::op(format!("cannot read standard input: {e}")))?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| Failure::op(format!("cannot read {}: {e}", file.display())))?
    };
    serde_json::from_str(&text).map_err(|e| {
        Failure::op(format!(
            "{}: not a valid JSON document: {e}",
            file.display()
        ))
    })
}
