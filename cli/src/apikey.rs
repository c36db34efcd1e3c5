//! `openclaw gateway apikey.new --id ID`: a fresh random key, printed once, and the entry to configure.

use rand::RngCore;
use serde_json::json;

use crate::args::ApikeyNew;
use crate::output::{Failure, print_json};

/// Prints `{"key": "ocg_…", "entry": {"id": …, "keyHash": "sha256:…"}}`; only the hash is ever stored.
pub(crate) fn new_key(a: ApikeyNew) -> Result<(), Failure> {
    if a.id.trim().is_empty() {
        return Err(Failure::usage("--id must not be empty"));
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let key = format!("ocg_{}", hex::encode(bytes));
    let entry = json!({"id": a.id, "keyHash": openclaw_config::hash_api_key(&key)});
    print_json(&json!({"key": key, "entry": entry}));
    eprintln!("Store the key now: it is not shown again. Add `entry` to gateway.auth.apiKeys.");
    Ok(())
}
