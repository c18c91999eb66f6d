//! JSONPath expressions as specs write them. The original tool accepted paths without the
//! leading `$` (`paging.next.after`, `data[-1:].id`); we normalise those to RFC 9535 form.
//!
//! Keys that are not valid JSONPath member names are common in real APIs: OData and
//! Microsoft Graph put the next page under `@odata.nextLink`, a key with an `@` and a
//! dot. A path without a leading `$` that is not valid JSONPath, but is a plain key
//! (no brackets, quotes, parentheses, wildcards or spaces), selects that key of the
//! top-level object. A valid dotted path that selects nothing also falls back to the
//! key spelled exactly like the whole path (`odata.nextLink` finds `{"odata.nextLink": …}`
//! when there is no `{"odata": {"nextLink": …}}`). The RFC 9535 bracket form
//! `$['@odata.nextLink']` works too. Documented in docs/SPEC_REFERENCE.md §4.9.

use serde_json::Value;
use serde_json_path::JsonPath;
use std::fmt;

/// A compiled JSONPath, remembering the text the spec used.
#[derive(Clone)]
pub struct Path {
    text: String,
    /// The compiled RFC 9535 path; `None` when the text is only a key name.
    compiled: Option<JsonPath>,
    /// A top-level key spelled like the whole path, tried when the path selects nothing.
    key: Option<String>,
}

impl Path {
    /// Compile `text`, adding a leading `$` / `$.` when the spec left it out. A text
    /// that is not valid JSONPath but names a key (see the module header) selects that key.
    pub fn parse(text: &str) -> Result<Path, String> {
        let trimmed = text.trim();
        let explicit = trimmed.starts_with('$');
        let normalised = if explicit {
            trimmed.to_string()
        } else if trimmed.starts_with('[') {
            format!("${trimmed}")
        } else {
            format!("$.{trimmed}")
        };
        let key = (!explicit && is_plain_key(trimmed)).then(|| trimmed.to_string());
        match JsonPath::parse(&normalised) {
            Ok(compiled) => Ok(Path {
                text: trimmed.to_string(),
                compiled: Some(compiled),
                key,
            }),
            Err(_) if key.is_some() => Ok(Path {
                text: trimmed.to_string(),
                compiled: None,
                key,
            }),
            Err(e) => Err(format!(
                "invalid JSONPath '{trimmed}': {e} (a key with special characters can be written $['the.key'])"
            )),
        }
    }

    /// The first value the path selects that is not null, if any.
    pub fn first<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        let found = self.compiled.as_ref().and_then(|compiled| {
            compiled
                .query(value)
                .all()
                .into_iter()
                .find(|v| !v.is_null())
        });
        found.or_else(|| {
            let key = self.key.as_deref()?;
            value.get(key).filter(|v| !v.is_null())
        })
    }

    /// The first selected value as text (strings unquoted, numbers in decimal form).
    pub fn first_string(&self, value: &Value) -> Option<String> {
        match self.first(value)? {
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            Value::Bool(false) => None,
            other => Some(other.to_string()),
        }
    }

    /// The path as written in the spec.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// True for a text that can only be meant as one key name: not empty, and free of the
/// characters that make JSONPath syntax (brackets, quotes, parentheses, wildcards,
/// filters, `$`, backslashes) and of whitespace.
fn is_plain_key(text: &str) -> bool {
    !text.is_empty()
        && !text.chars().any(|c| {
            c.is_whitespace()
                || matches!(
                    c,
                    '[' | ']' | '(' | ')' | '\'' | '"' | '*' | '?' | '$' | '\\'
                )
        })
}

impl fmt::Debug for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Path({})", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_without_dollar_are_accepted() {
        let body =
            json!({"paging": {"next": {"after": "abc"}}, "data": [{"id": "a"}, {"id": "z"}]});
        assert_eq!(
            Path::parse("paging.next.after")
                .unwrap()
                .first_string(&body),
            Some("abc".into())
        );
        assert_eq!(
            Path::parse("data[-1:].id").unwrap().first_string(&body),
            Some("z".into())
        );
        assert_eq!(
            Path::parse("$.paging.next.after")
                .unwrap()
                .first_string(&body),
            Some("abc".into())
        );
        let nested = json!({"results": [{"subd": {"nextPage": "page2"}}]});
        assert_eq!(
            Path::parse("results[*].subd.nextPage")
                .unwrap()
                .first_string(&nested),
            Some("page2".into())
        );
        assert_eq!(Path::parse("missing.x").unwrap().first(&body), None);
        assert!(Path::parse("a[").is_err());
    }

    #[test]
    fn a_key_that_is_not_jsonpath_selects_that_key() {
        let body = json!({
            "value": [{"id": 1}],
            "@odata.nextLink": "https://graph.example/v1.0/users?$skiptoken=abc",
            "@odata.count": 40,
            "next-page": "p2",
        });
        let link = Path::parse("@odata.nextLink").expect("an OData key is accepted");
        assert_eq!(
            link.first_string(&body).as_deref(),
            Some("https://graph.example/v1.0/users?$skiptoken=abc")
        );
        assert_eq!(link.as_str(), "@odata.nextLink");
        assert_eq!(
            Path::parse("@odata.count").unwrap().first(&body),
            Some(&json!(40))
        );
        assert_eq!(
            Path::parse("next-page")
                .unwrap()
                .first_string(&body)
                .as_deref(),
            Some("p2")
        );
        // The RFC 9535 bracket form names the same key.
        assert_eq!(
            Path::parse("$['@odata.nextLink']")
                .unwrap()
                .first_string(&body),
            link.first_string(&body)
        );
        // The last page has no link: nothing selected.
        assert_eq!(link.first(&json!({"value": []})), None);
    }

    #[test]
    fn a_dotted_path_prefers_nesting_then_the_literal_key() {
        let nested = json!({"odata": {"nextLink": "nested"}, "odata.nextLink": "literal"});
        let flat = json!({"odata.nextLink": "literal"});
        let p = Path::parse("odata.nextLink").unwrap();
        assert_eq!(p.first_string(&nested).as_deref(), Some("nested"));
        assert_eq!(p.first_string(&flat).as_deref(), Some("literal"));
    }

    #[test]
    fn invalid_paths_that_are_not_plain_keys_are_still_errors() {
        for bad in ["a[", "$.@odata.nextLink", "data[?(@.x", "two words", ""] {
            let err = Path::parse(bad).expect_err(bad);
            assert!(err.contains("invalid JSONPath"), "{bad}: {err}");
        }
        assert!(Path::parse("$.@odata.nextLink")
            .unwrap_err()
            .contains("$['the.key']"));
    }
}
