//! A small helper for walking untyped YAML while collecting every problem with its key path.
//! Used by specs and connections so one broken file reports all its mistakes at once.

use serde_yaml::Value;
use std::fmt;

/// One problem found in a YAML file: which file, which key, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// File name (or a label such as `<bundled>/github_spec.yaml`).
    pub file: String,
    /// Key path inside the file, e.g. `tables[2].paging.page_param`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.path, self.message)
        }
    }
}

/// Collects problems for one file.
#[derive(Debug)]
pub struct Problems {
    file: String,
    /// Everything found so far.
    pub list: Vec<Problem>,
}

impl Problems {
    /// Start collecting for `file`.
    pub fn new(file: impl Into<String>) -> Self {
        Problems {
            file: file.into(),
            list: Vec::new(),
        }
    }
    /// Record a problem at `path`.
    pub fn push(&mut self, path: &str, message: impl Into<String>) {
        self.list.push(Problem {
            file: self.file.clone(),
            path: path.to_string(),
            message: message.into(),
        });
    }
    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// Join a key path: `join("tables[0]", "name")` → `tables[0].name`.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A YAML mapping with string keys, in file order.
pub type Map = Vec<(String, Value)>;

/// Read `value` as a mapping with string keys; records a problem otherwise.
pub fn as_map(value: &Value, path: &str, p: &mut Problems) -> Option<Map> {
    match value {
        Value::Mapping(m) => {
            let mut out = Vec::with_capacity(m.len());
            for (k, v) in m {
                match scalar_string(k) {
                    Some(k) => out.push((k, v.clone())),
                    None => p.push(path, format!("keys must be strings, found {}", kind(k))),
                }
            }
            Some(out)
        }
        Value::Null => Some(Vec::new()),
        other => {
            p.push(path, format!("expected a mapping, found {}", kind(other)));
            None
        }
    }
}

/// The text form of a scalar (string, number, bool); `None` for null, lists and maps.
pub fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A short description of a YAML value's kind, for error messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Read a string (numbers and bools are accepted in their text form).
pub fn get_string(value: &Value, path: &str, p: &mut Problems) -> Option<String> {
    match scalar_string(value) {
        Some(s) => Some(s),
        None => {
            p.push(path, format!("expected a string, found {}", kind(value)));
            None
        }
    }
}

/// Read a boolean (also accepts the strings `true`/`false`/`yes`/`no`, any case).
pub fn get_bool(value: &Value, path: &str, p: &mut Problems) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Some(true),
            "false" | "no" | "off" => Some(false),
            _ => {
                p.push(path, format!("expected true or false, found '{s}'"));
                None
            }
        },
        other => {
            p.push(
                path,
                format!("expected true or false, found {}", kind(other)),
            );
            None
        }
    }
}

/// Read a non-negative number.
pub fn get_f64(value: &Value, path: &str, p: &mut Problems) -> Option<f64> {
    let n = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n >= 0.0 && n.is_finite() => Some(n),
        _ => {
            p.push(
                path,
                format!("expected a non-negative number, found {}", show(value)),
            );
            None
        }
    }
}

/// Read a non-negative integer.
pub fn get_u64(value: &Value, path: &str, p: &mut Problems) -> Option<u64> {
    let n = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    if n.is_none() {
        p.push(
            path,
            format!(
                "expected a non-negative whole number, found {}",
                show(value)
            ),
        );
    }
    n
}

/// A string or a list of strings (`strip_prefixes: fields_` or `[a_, b_]`).
pub fn get_string_list(value: &Value, path: &str, p: &mut Problems) -> Vec<String> {
    match value {
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| get_string(v, &format!("{path}[{i}]"), p))
            .collect(),
        Value::Null => Vec::new(),
        other => get_string(other, path, p).into_iter().collect(),
    }
}

/// Render a value compactly for an error message.
pub fn show(value: &Value) -> String {
    match scalar_string(value) {
        Some(s) => format!("'{s}'"),
        None => kind(value).to_string(),
    }
}

/// Convert YAML to JSON (for POST bodies and param values). Non-string keys are stringified.
pub fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                serde_json::Value::from(i)
            } else if let Some(u) = n.as_u64() {
                serde_json::Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null)
            }
        }
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Sequence(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Mapping(m) => {
            let mut obj = serde_json::Map::new();
            for (k, v) in m {
                let key = scalar_string(k).unwrap_or_default();
                obj.insert(key, to_json(v));
            }
            serde_json::Value::Object(obj)
        }
        Value::Tagged(t) => to_json(&t.value),
    }
}
