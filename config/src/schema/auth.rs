//! `gateway.auth`: API keys that `requiresAuth` rules accept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Path;
use crate::problem::Check;
use crate::secrets::is_single_placeholder;

/// Client authentication.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Auth {
    /// Keys accepted as `Authorization: Bearer <key>`.
    pub api_keys: Vec<ApiKey>,
}

/// One API key, stored as a hash or as an environment placeholder, never as plain text.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiKey {
    /// Who the key belongs to, shown in logs and metrics (required, unique).
    pub id: String,
    /// `sha256:<64 hex digits>` of the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_hash: Option<String>,
    /// `${ENV_VAR}` holding the key on the data plane.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

// === impl Auth ===

impl Auth {
    pub(crate) fn validate(&self, at: &Path, c: &mut Check) {
        let mut ids = BTreeMap::new();
        for (i, k) in self.api_keys.iter().enumerate() {
            let p = at.key("apiKeys").index(i);
            if c.require(&p.key("id"), &k.id)
                && let Some(first) = ids.insert(k.id.clone(), i)
            {
                c.fail(
                    &p.key("id"),
                    format!("duplicate key id (also at apiKeys[{first}])"),
                    &k.id,
                );
            }
            match (&k.key_hash, &k.key) {
                (None, None) => c.missing(&p.key("keyHash"), "one of keyHash or key is required"),
                (Some(_), Some(_)) => {
                    c.missing(&p.key("key"), "give either keyHash or key, not both")
                }
                (Some(h), None) => {
                    let ok = h.strip_prefix("sha256:").is_some_and(|hex| {
                        hex.len() == 64 && hex.chars().all(|ch| ch.is_ascii_hexdigit())
                    });
                    if !ok {
                        c.fail(
                            &p.key("keyHash"),
                            "must be sha256:<64 hex digits> (see `openclaw gateway apikey.new`)",
                            h,
                        );
                    }
                }
                (None, Some(key)) => {
                    if !is_single_placeholder(key) {
                        // Never echo the value: it may be a real key typed in by mistake.
                        c.missing(&p.key("key"), "must be an environment placeholder such as \"${MY_API_KEY}\"; store plain keys as keyHash");
                    }
                }
            }
        }
    }
}
