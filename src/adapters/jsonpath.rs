//! JSONPath expressions as specs write them. The original tool accepted paths without the
//! leading `$` (`paging.next.after`, `data[-1:].id`); we normalise those to RFC 9535 form.

use serde_json::Value;
use serde_json_path::JsonPath;
use std::fmt;

/// A compiled JSONPath, remembering the text the spec used.
#[derive(Clone)]
pub struct Path {
    text: String,
    compiled: JsonPath,
}

impl Path {
    /// Compile `text`, adding a leading `$` / `$.` when the spec left it out.
    pub fn parse(text: &str) -> Result<Path, String> {
        let trimmed = text.trim();
        let normalised = if trimmed.starts_with('$') {
            trimmed.to_string()
        } else if trimmed.starts_with('[') {
            format!("${trimmed}")
        } else {
            format!("$.{trimmed}")
        };
        JsonPath::parse(&normalised)
            .map(|compiled| Path {
                text: trimmed.to_string(),
                compiled,
            })
            .map_err(|e| format!("invalid JSONPath '{trimmed}': {e}"))
    }

    /// The first value the path selects that is not null, if any.
    pub fn first<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        self.compiled
            .query(value)
            .all()
            .into_iter()
            .find(|v| !v.is_null())
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
}
