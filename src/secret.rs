//! Secrets: values that must never reach logs, errors or output.
//!
//! [`Secret`] prints as `***`; [`redact`] scrubs known secret values out of any text
//! (an error body that echoes a token, a URL with an API key in its query string). It is
//! the one redactor of the crate: [`redact_with`] does the same with a few extra values
//! (the auth module's token-endpoint errors), so both always agree on what a secret
//! looks like. Each secret is scrubbed in every form it can take in a URL, a form body
//! or JSON: raw, percent-encoded (all reserved characters, or only those a path or a
//! query must encode), form-encoded (`+` for a space) and JSON-escaped.
//!
//! OAuth access tokens and rotated refresh tokens come and go: [`unregister`] drops a
//! token that was replaced, so a long-running daemon does not scrub (and keep in memory)
//! every token it ever used.

use std::fmt;
use std::sync::RwLock;

/// A secret string. `Debug` and `Display` print `***`; use [`Secret::expose`] to read it.
/// It never serializes (the wire carries environment values as
/// [`crate::protocol::EnvValue`]).
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
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

/// Values shorter than this are never scrubbed: replacing `ab` everywhere would mangle
/// ordinary text, and no real credential is that short.
pub const MIN_SECRET_LEN: usize = 4;

/// One registered secret and the forms it is scrubbed in.
struct Entry {
    value: String,
    forms: Vec<String>,
}

/// The process-wide registry; [`redact`] replaces each form of each value with `***`.
static REGISTRY: RwLock<Vec<Entry>> = RwLock::new(Vec::new());

/// Every form `value` can take in text we print: raw, percent-encoded (everything but
/// unreserved characters; or only what a URL path segment or query must encode),
/// form-encoded and JSON-escaped. Longest first, without duplicates.
fn forms(value: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![value.to_string()];
    let mut add = |form: String| {
        if !form.is_empty() && !out.contains(&form) {
            out.push(form);
        }
    };
    add(urlencoding::encode(value).into_owned());
    add(url::form_urlencoded::byte_serialize(value.as_bytes()).collect());
    if let Ok(mut url) = url::Url::parse("http://x/") {
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.clear().push(value);
        }
        add(url.path().trim_start_matches('/').to_string());
        url.set_query(Some(value));
        add(url.query().unwrap_or_default().to_string());
    }
    if let Ok(json) = serde_json::to_string(value) {
        add(json[1..json.len() - 1].to_string());
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.len()));
    out
}

/// Remember `value` as a secret so [`redact`] scrubs it (in all its forms) from any
/// text. Values under [`MIN_SECRET_LEN`] characters are not registered.
pub fn register(value: &str) {
    if value.len() < MIN_SECRET_LEN {
        return;
    }
    let mut reg = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    if !reg.iter().any(|e| e.value == value) {
        reg.push(Entry {
            value: value.to_string(),
            forms: forms(value),
        });
        // Longest first, so a secret containing another is scrubbed whole.
        reg.sort_by_key(|e| std::cmp::Reverse(e.value.len()));
    }
}

/// Forget `value` (a token that was replaced by a newer one).
pub fn unregister(value: &str) {
    let mut reg = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    reg.retain(|e| e.value != value);
}

/// True when `value` is registered (tests and diagnostics).
pub fn is_registered(value: &str) -> bool {
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    reg.iter().any(|e| e.value == value)
}

/// Replace every registered secret in `text` with `***`.
pub fn redact(text: &str) -> String {
    redact_with(text, &[] as &[&str])
}

/// [`redact`], also scrubbing `extra` values (in the same forms, under the same rules).
pub fn redact_with<S: AsRef<str>>(text: &str, extra: &[S]) -> String {
    let mut out = text.to_string();
    let extra: Vec<Entry> = extra
        .iter()
        .map(AsRef::as_ref)
        .filter(|v| v.len() >= MIN_SECRET_LEN)
        .map(|v| Entry {
            value: v.to_string(),
            forms: forms(v),
        })
        .collect();
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    let mut all: Vec<&str> = reg
        .iter()
        .chain(&extra)
        .flat_map(|e| e.forms.iter().map(String::as_str))
        .collect();
    all.sort_by_key(|f| std::cmp::Reverse(f.len()));
    for form in all {
        if out.contains(form) {
            out = out.replace(form, "***");
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

    #[test]
    fn every_encoded_form_of_a_secret_is_scrubbed() {
        let secret = "p@ss w0rd/\"q\"&x=1+é";
        register(secret);
        let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let mut url = url::Url::parse("https://api.example/v1/").unwrap();
        url.path_segments_mut().unwrap().push(secret);
        url.query_pairs_mut().append_pair("key", secret);
        let mut raw_query = url::Url::parse("https://api.example/").unwrap();
        raw_query.set_query(Some(secret));
        let texts = [
            secret.to_string(),
            urlencoding::encode(secret).into_owned(),
            format!("grant_type=x&client_secret={form}"),
            url.to_string(),
            raw_query.to_string(),
            serde_json::json!({ "echo": secret }).to_string(),
        ];
        for text in texts {
            let out = redact(&format!("before {text} after"));
            assert!(!out.contains("w0rd"), "{text} → {out}");
            assert!(out.contains("***"), "{out}");
        }
    }

    #[test]
    fn extra_values_follow_the_same_rules() {
        let out = redact_with("a=zz9+tok%2Fen b=abc", &["zz9 tok/en", "abc"]);
        assert_eq!(out, "a=*** b=abc", "short values are left alone");
    }

    #[test]
    fn an_unregistered_token_is_no_longer_scrubbed() {
        register("rotated-away-token");
        assert_eq!(redact("x rotated-away-token"), "x ***");
        unregister("rotated-away-token");
        assert!(!is_registered("rotated-away-token"));
        assert_eq!(redact("x rotated-away-token"), "x rotated-away-token");
    }
}
