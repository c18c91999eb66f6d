//! Reading JSON Schemas of a description: the properties of an object (through `allOf`,
//! and the first object alternative of `oneOf`/`anyOf`), and whether a schema is a list,
//! an object or a scalar. Every `$ref` is followed through [`Doc::resolve`].

use super::load::{type_name, Doc};
use serde_json::Value;

/// How deep `allOf`/`oneOf` nesting is followed (cycles of composition end here).
const MAX_DEPTH: usize = 8;

/// What a schema describes.
pub enum Kind<'a> {
    /// A list of these items (`None`: items not described).
    Array(Option<&'a Value>),
    /// An object.
    Object,
    /// A string, number, boolean or something undescribed.
    Scalar,
}

/// The shape of `schema`.
pub fn kind<'a>(doc: &'a Doc, schema: &'a Value) -> Kind<'a> {
    kind_at(doc, schema, 0)
}

fn kind_at<'a>(doc: &'a Doc, schema: &'a Value, depth: usize) -> Kind<'a> {
    let s = doc.resolve(schema);
    if depth > MAX_DEPTH {
        return Kind::Scalar;
    }
    match type_name(s) {
        Some("array") => return Kind::Array(s.get("items").map(|i| doc.resolve(i))),
        Some("object") => return Kind::Object,
        Some(_) => return Kind::Scalar,
        None => {}
    }
    if let Some(items) = s.get("items") {
        return Kind::Array(Some(doc.resolve(items)));
    }
    if s.get("properties").is_some() {
        return Kind::Object;
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(list) = s.get(key).and_then(Value::as_array) {
            for member in list {
                match kind_at(doc, member, depth + 1) {
                    Kind::Scalar => continue,
                    k => return k,
                }
            }
        }
    }
    Kind::Scalar
}

/// The properties of an object schema, in order, merged through `allOf` (and the first
/// alternative with properties of `oneOf`/`anyOf`).
pub fn properties<'a>(doc: &'a Doc, schema: &'a Value) -> Vec<(&'a str, &'a Value)> {
    let mut out = Vec::new();
    collect(doc, schema, 0, &mut out);
    out
}

fn collect<'a>(doc: &'a Doc, schema: &'a Value, depth: usize, out: &mut Vec<(&'a str, &'a Value)>) {
    if depth > MAX_DEPTH {
        return;
    }
    let s = doc.resolve(schema);
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            if !out.iter().any(|(n, _)| *n == k.as_str()) {
                out.push((k.as_str(), doc.resolve(v)));
            }
        }
    }
    if let Some(list) = s.get("allOf").and_then(Value::as_array) {
        for member in list {
            collect(doc, member, depth + 1, out);
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(list) = s.get(key).and_then(Value::as_array) {
            for member in list {
                let before = out.len();
                collect(doc, member, depth + 1, out);
                if out.len() > before {
                    break;
                }
            }
        }
    }
}

/// The property `name` of an object schema.
pub fn property<'a>(doc: &'a Doc, schema: &'a Value, name: &str) -> Option<&'a Value> {
    properties(doc, schema)
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// True for a string or a scalar type.
pub fn is_scalar(doc: &Doc, schema: &Value) -> bool {
    matches!(kind(doc, schema), Kind::Scalar)
}

/// The schema's type name (first non-null of a 3.1 list), after `$ref`s.
pub fn type_of<'a>(doc: &'a Doc, schema: &'a Value) -> Option<&'a str> {
    type_name(doc.resolve(schema))
}

/// The names an object schema marks `required` (through `allOf`).
pub fn required<'a>(doc: &'a Doc, schema: &'a Value) -> Vec<&'a str> {
    let mut out = Vec::new();
    required_at(doc, schema, 0, &mut out);
    out
}

fn required_at<'a>(doc: &'a Doc, schema: &'a Value, depth: usize, out: &mut Vec<&'a str>) {
    if depth > MAX_DEPTH {
        return;
    }
    let s = doc.resolve(schema);
    if let Some(list) = s.get("required").and_then(Value::as_array) {
        out.extend(list.iter().filter_map(Value::as_str));
    }
    if let Some(list) = s.get("allOf").and_then(Value::as_array) {
        for member in list {
            required_at(doc, member, depth + 1, out);
        }
    }
}
