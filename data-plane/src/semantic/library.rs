//! The category library: built-in categories with Chinese and English example utterances (shipped in
//! `data-plane/semantic/categories.json`), extended or added to by `gateway.routing.semantic.categories`,
//! and the off-topic requests used only to calibrate confidences.

use std::sync::OnceLock;

use openclaw_config::Semantic;
use serde_json::Value;

use super::SemanticError;

const BUILTIN_JSON: &str = include_str!("../../semantic/categories.json");

/// One category ready to index.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CategoryDef {
    /// Its name.
    pub name: String,
    /// Its example requests.
    pub utterances: Vec<String>,
}

/// Every category a config knows, and the off-topic requests (calibration negatives and the contrast
/// every category score is measured against).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Library {
    /// Categories, in name order.
    pub categories: Vec<CategoryDef>,
    /// Requests none of the categories should take.
    pub offtopic: Vec<String>,
}

struct Builtin {
    categories: Vec<CategoryDef>,
    offtopic: Vec<String>,
}

// === impl Library ===

impl Library {
    /// Every category — built in or defined by the config, built-in utterances first — checking that
    /// each name in `used` is one of them.
    pub(crate) fn for_config(cfg: &Semantic, used: &[String]) -> Result<Self, SemanticError> {
        let builtin = builtin()?;
        let mut names: Vec<&str> = builtin
            .categories
            .iter()
            .map(|c| c.name.as_str())
            .chain(cfg.categories.keys().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        let mut categories = Vec::with_capacity(names.len());
        for name in names {
            let mut utterances: Vec<String> = builtin
                .categories
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.utterances.clone())
                .unwrap_or_default();
            if let Some(own) = cfg.categories.get(name) {
                utterances.extend(own.utterances.iter().cloned());
            }
            if !utterances.is_empty() {
                categories.push(CategoryDef {
                    name: name.to_string(),
                    utterances,
                });
            }
        }
        if let Some(unknown) = used
            .iter()
            .find(|u| !categories.iter().any(|c| &c.name == *u))
        {
            return Err(SemanticError::UnknownCategory(unknown.clone()));
        }
        Ok(Self {
            categories,
            offtopic: builtin.offtopic.clone(),
        })
    }

    /// Every text to encode: the utterances category after category, then the off-topic requests.
    pub(crate) fn texts(&self) -> Vec<&str> {
        self.categories
            .iter()
            .flat_map(|c| c.utterances.iter())
            .chain(&self.offtopic)
            .map(String::as_str)
            .collect()
    }
}

fn builtin() -> Result<&'static Builtin, SemanticError> {
    static PARSED: OnceLock<Result<Builtin, String>> = OnceLock::new();
    PARSED
        .get_or_init(|| parse(BUILTIN_JSON))
        .as_ref()
        .map_err(|e| SemanticError::Library(e.clone()))
}

fn parse(json: &str) -> Result<Builtin, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let obj = v.as_object().ok_or("the library is not a JSON object")?;
    let strings = |v: &Value| -> Vec<String> {
        let list = v.get("utterances").unwrap_or(v);
        list.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut categories = Vec::new();
    let mut offtopic = Vec::new();
    for (name, body) in obj {
        if name == "_offtopic" {
            offtopic = strings(body);
        } else {
            categories.push(CategoryDef {
                name: name.clone(),
                utterances: strings(body),
            });
        }
    }
    categories.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Builtin {
        categories,
        offtopic,
    })
}

#[cfg(test)]
mod tests {
    use openclaw_config::BUILTIN_CATEGORIES;

    use super::*;

    #[test]
    fn shipped_library_matches_the_schema_and_is_multilingual() {
        let mut names: Vec<String> = builtin()
            .unwrap()
            .categories
            .iter()
            .map(|c| c.name.clone())
            .collect();
        names.sort();
        let mut want: Vec<String> = BUILTIN_CATEGORIES.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(names, want);
        let b = builtin().unwrap();
        for c in &b.categories {
            let zh = c
                .utterances
                .iter()
                .filter(|u| u.chars().any(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch)))
                .count();
            let en = c.utterances.iter().filter(|u| u.is_ascii()).count();
            assert!(zh >= 8 && en >= 8, "{}: {zh} zh, {en} en", c.name);
        }
        assert!(b.offtopic.len() >= 20);
    }

    #[test]
    fn config_extends_and_adds_categories() {
        let cfg: Semantic = serde_json::from_value(serde_json::json!({
            "categories": {"code": {"utterances": ["写个 Rust 宏"]}, "billing": {"utterances": ["我的发票在哪里"]}}
        }))
        .unwrap();
        let lib =
            Library::for_config(&cfg, &["code".into(), "billing".into(), "code".into()]).unwrap();
        assert_eq!(lib.categories.len(), BUILTIN_CATEGORIES.len() + 1);
        let find = |n: &str| lib.categories.iter().find(|c| c.name == n).unwrap();
        assert_eq!(find("billing").utterances, ["我的发票在哪里"]);
        assert_eq!(find("code").utterances.last().unwrap(), "写个 Rust 宏");
        assert!(find("code").utterances.len() > 10);
        let err = Library::for_config(&cfg, &["nothing".into()]).unwrap_err();
        assert!(err.to_string().contains("nothing"), "{err}");
    }
}
