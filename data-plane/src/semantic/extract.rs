//! The text of a request that semantic matching reads: a configured JSON pointer first, then the
//! seed's `message`, the last user message of an OpenAI-style `messages` array, `prompt`, or `input`.

use openclaw_config::Semantic;
use serde_json::Value;

/// Why semantic matching did not read a request (it then falls to the default rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// The body is larger than `gateway.routing.semantic.maxBodySize`.
    BodyTooLarge,
    /// The body carries no text where clients put it.
    NoText,
}

// === impl Skip ===

impl Skip {
    /// Every reason, in metric order.
    pub const ALL: [Skip; 2] = [Skip::BodyTooLarge, Skip::NoText];

    /// The `reason` label of `gateway_semantic_skipped_total`.
    pub fn label(self) -> &'static str {
        match self {
            Self::BodyTooLarge => "body_too_large",
            Self::NoText => "no_text",
        }
    }

    /// What to tell a person.
    pub fn describe(self) -> &'static str {
        match self {
            Self::BodyTooLarge => "body over gateway.routing.semantic.maxBodySize",
            Self::NoText => "no text in the body",
        }
    }
}

/// The text semantic matching reads from `body` under `cfg`; `None` for a body that did not fit the
/// read limit.
pub fn semantic_text(cfg: &Semantic, body: Option<&[u8]>) -> Result<String, Skip> {
    let body = body
        .filter(|b| b.len() as u64 <= cfg.max_body_size.bytes())
        .ok_or(Skip::BodyTooLarge)?;
    request_text(body, cfg.text_pointer.as_deref()).ok_or(Skip::NoText)
}

/// The request text in `body`, if the body is JSON and carries one.
pub fn request_text(body: &[u8], pointer: Option<&str>) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if let Some(text) = pointer.and_then(|p| v.pointer(p)).and_then(text_of) {
        return Some(text);
    }
    if let Some(s) = v.get("message").and_then(text_of) {
        return Some(s);
    }
    if let Some(msgs) = v.get("messages").and_then(Value::as_array)
        && let Some(s) = msgs
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .and_then(|m| m.get("content"))
            .and_then(text_of)
    {
        return Some(s);
    }
    ["prompt", "input"]
        .iter()
        .find_map(|k| v.get(*k).and_then(text_of))
}

/// A string, or the text parts of an OpenAI content array (`[{"type": "text", "text": "…"}]`).
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|p| p.as_str().or_else(|| p.get("text").and_then(Value::as_str)))
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

/// At most `max_chars` characters of `text` (cut on a character boundary).
pub(super) fn truncate_chars(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_text_where_clients_put_it() {
        assert_eq!(
            request_text(br#"{"message": "hi"}"#, None).as_deref(),
            Some("hi")
        );
        let openai = br#"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": [{"type": "text", "text": "c"}]}]}"#;
        assert_eq!(request_text(openai, None).as_deref(), Some("c"));
        assert_eq!(
            request_text(br#"{"prompt": "p"}"#, None).as_deref(),
            Some("p")
        );
        assert_eq!(
            request_text(br#"{"input": ["x", "y"]}"#, None).as_deref(),
            Some("x\ny")
        );
        let nested = br#"{"data": {"q": "deep"}, "message": "shallow"}"#;
        assert_eq!(
            request_text(nested, Some("/data/q")).as_deref(),
            Some("deep")
        );
        assert_eq!(
            request_text(nested, Some("/nope")).as_deref(),
            Some("shallow")
        );
        assert_eq!(request_text(b"not json", None), None);
        assert_eq!(request_text(br#"{"other": 1}"#, None), None);
    }

    #[test]
    fn truncates_on_characters() {
        assert_eq!(truncate_chars("帮我写代码", 2), "帮我");
        assert_eq!(truncate_chars("ab", 5), "ab");
    }
}
