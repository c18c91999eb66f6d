//! What of a token endpoint's answer may be quoted in an error: known secrets replaced by
//! the crate's redactor, token-looking JSON fields masked, and a bounded excerpt.

/// At most this many characters of a token endpoint's error body are quoted in an error.
const BODY_EXCERPT_CHARS: usize = 300;

/// The crate's one redactor, also scrubbing `secrets` (see [`crate::secret`]).
pub(super) fn redact(text: &str, secrets: &[String]) -> String {
    crate::secret::redact_with(text, secrets)
}

/// A short, redacted excerpt of a token endpoint response body. Token-looking JSON fields
/// are masked even when their values are unknown to us.
pub(super) fn excerpt(body: &str, secrets: &[String]) -> String {
    let masked = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut map)) => {
            for key in ["access_token", "refresh_token", "id_token", "client_secret"] {
                if let Some(v) = map.get_mut(key) {
                    *v = serde_json::Value::String("***".into());
                }
            }
            serde_json::Value::Object(map).to_string()
        }
        _ => body.trim().to_string(),
    };
    let redacted = redact(&masked, secrets);
    let mut chars = redacted.chars();
    let mut out: String = chars.by_ref().take(BODY_EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    if out.is_empty() {
        out.push_str("(empty body)");
    }
    out
}

/// An error and its sources, joined with ": " (reqwest's Display omits the cause).
pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}
