//! Secrets: values that must never reach logs, errors or output.
//!
//! [`Secret`] prints as `***`; [`redact`] scrubs known secret values out of any text
//! (an error body that echoes a token, a URL with an API key in its query string).

use std::fmt;
use std::sync::{Arc, RwLock};

/// A secret string. `Debug` and `Display` print `***`; use [`Secret::expose`] to read it.
/// It serializes as its value: only for the daemon's private socket (`SetEnv`).
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret value, for building a request. Never log the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A process-wide registry of secret values; [`redact`] replaces each with `***`.
static REGISTRY: RwLock<Vec<Arc<str>>> = RwLock::new(Vec::new());

/// Remember `value` as a secret so [`redact`] scrubs it from any text. Short values
/// (under 4 characters) are not registered: scrubbing them would mangle ordinary text.
pub fn register(value: &str) {
    if value.len() < 4 {
        return;
    }
    let mut reg = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    if !reg.iter().any(|v| &**v == value) {
        reg.push(Arc::from(value));
        // Longest first, so a secret containing another is scrubbed whole.
        reg.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }
}

/// Replace every registered secret in `text` with `***`.
pub fn redact(text: &str) -> String {
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_string();
    for secret in reg.iter() {
        if out.contains(&**secret) {
            out = out.replace(&**secret, "***");
        }
        let encoded = urlencoding::encode(secret);
        if encoded != **secret && out.contains(&*encoded) {
            out = out.replace(&*encoded, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_and_display_are_masked() {
        let s = Secret::new("hunter2-token");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(s.expose(), "hunter2-token");
    }

    #[test]
    fn redact_scrubs_plain_and_url_encoded_values() {
        register("s3cr3t/value+x");
        let text = "GET /x?key=s3cr3t%2Fvalue%2Bx failed: token s3cr3t/value+x rejected";
        let out = redact(text);
        assert!(!out.contains("s3cr3t"), "{out}");
        assert_eq!(out.matches("***").count(), 2);
    }
}
