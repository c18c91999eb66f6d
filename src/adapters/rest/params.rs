//! Parameters: from a table's `params:` to concrete parameter sets, and from a parameter
//! set to a URL and body.
//!
//! * static values, `${option}` placeholders (connection options / auth defaults),
//!   multi-valued lists and `a,b` tuples expand as a Cartesian product in declaration
//!   order; `sql@(…)` params take their values from a query (one set per row);
//! * `{name}` placeholders in the resource path consume their param (it is not also sent
//!   as a query parameter — the original's bug 18);
//! * `${name}` in string leaves of a POST body consume their param too: a whole-string
//!   placeholder keeps the value's JSON type, a partial one is spliced as text, and a
//!   placeholder left unresolved becomes `null`.

use crate::adapters::spec::{Param, ParamValue};
use serde_json::Value;

/// One concrete assignment of values to param names, in declaration order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamSet {
    /// (name, value) pairs.
    pub values: Vec<(String, Value)>,
}

impl ParamSet {
    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Set or replace `name`.
    pub fn set(&mut self, name: &str, value: Value) {
        match self.values.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value,
            None => self.values.push((name.to_string(), value)),
        }
    }
}

/// The text form of a param value for a URL: strings unquoted, null empty.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Runs the `sql@(…)` queries of a table's params.
pub trait SqlSource {
    /// Rows of `sql`, each a list of column values.
    fn rows(&self, sql: &str) -> Result<Vec<Vec<Value>>, String>;
}

/// Why params could not be expanded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// A `sql@` query failed.
    #[error("parameter '{param}': query failed: {message}")]
    Sql {
        /// The param.
        param: String,
        /// The database's message.
        message: String,
    },
    /// A `sql@` query for a tuple param returned too few columns.
    #[error("parameter '{param}': the query returns {got} columns but {want} names are listed")]
    Arity {
        /// The param.
        param: String,
        /// Columns returned.
        got: usize,
        /// Names declared.
        want: usize,
    },
    /// A `{name}` in the resource path has no value.
    #[error("cannot request {path}: no value for '{{{name}}}' (add it to the table's params)")]
    MissingPathParam {
        /// The resource path.
        path: String,
        /// The missing name.
        name: String,
    },
}

/// Expand params into parameter sets. `lookup` resolves `${name}` placeholders in
/// scalar strings (connection options, auth defaults). Zero sets means "no request"
/// (a `sql@` param returned no rows).
pub fn expand(
    params: &[Param],
    sql: &dyn SqlSource,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<ParamSet>, ParamError> {
    let mut sets = vec![ParamSet::default()];
    for param in params {
        let label = param.names.join(",");
        let alternatives: Vec<Vec<Value>> = match &param.value {
            ParamValue::Scalar(v) => vec![vec![resolve_placeholders(v, lookup)]],
            ParamValue::List(rows) => rows
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|v| resolve_placeholders(v, lookup))
                        .collect()
                })
                .collect(),
            ParamValue::Sql(query) => {
                let rows = sql.rows(query).map_err(|message| ParamError::Sql {
                    param: label.clone(),
                    message,
                })?;
                if let Some(first) = rows.first() {
                    if first.len() < param.names.len() {
                        return Err(ParamError::Arity {
                            param: label,
                            got: first.len(),
                            want: param.names.len(),
                        });
                    }
                }
                rows
            }
        };
        let mut next = Vec::with_capacity(sets.len() * alternatives.len().max(1));
        for set in &sets {
            for alt in &alternatives {
                let mut s = set.clone();
                for (name, value) in param.names.iter().zip(alt) {
                    s.set(name, value.clone());
                }
                next.push(s);
            }
        }
        sets = next;
    }
    Ok(sets)
}

/// `${name}` in a scalar string param → the option value (whole value replaced when
/// the string is exactly one placeholder). Unknown names are left as they are: the
/// refresh strategy fills `${timestamp}` itself, and pager values fill POST bodies.
fn resolve_placeholders(v: &Value, lookup: &dyn Fn(&str) -> Option<String>) -> Value {
    match v {
        Value::String(s) if s.contains("${") => {
            let filled = crate::adapters::connections::fill(s, &|name| {
                lookup(name).or_else(|| Some(format!("${{{name}}}")))
            })
            .unwrap_or_else(|_| s.clone());
            Value::String(filled)
        }
        other => other.clone(),
    }
}

/// Fill `{name}` placeholders of a resource path; returns the path and the names used.
pub fn fill_path(path: &str, set: &ParamSet) -> Result<(String, Vec<String>), ParamError> {
    let mut out = String::with_capacity(path.len());
    let mut used = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        if start > 0 && rest.as_bytes()[start - 1] == b'$' {
            // `${…}` is an option placeholder, filled separately: keep it literal.
            let end = rest[start..]
                .find('}')
                .map(|e| start + e + 1)
                .unwrap_or(rest.len());
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            continue;
        }
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let name = &after[..end];
        match set.get(name) {
            Some(v) => {
                out.push_str(&urlencoding::encode(&value_text(v)));
                used.push(name.to_string());
            }
            None => {
                return Err(ParamError::MissingPathParam {
                    path: path.to_string(),
                    name: name.to_string(),
                })
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok((out, used))
}

/// Interpolate `${name}` in the string leaves of a POST body from `set`; returns the
/// body and the names consumed.
pub fn fill_body(body: &Value, set: &ParamSet) -> (Value, Vec<String>) {
    let mut used = Vec::new();
    let filled = fill_value(body, set, &mut used);
    (filled, used)
}

fn fill_value(v: &Value, set: &ParamSet, used: &mut Vec<String>) -> Value {
    match v {
        Value::String(s) if s.contains("${") => {
            let trimmed = s.trim();
            if let Some(name) = trimmed
                .strip_prefix("${")
                .and_then(|r| r.strip_suffix('}'))
                .filter(|n| !n.contains('}') && !n.contains("${"))
            {
                return match set.get(name) {
                    Some(value) => {
                        used.push(name.to_string());
                        value.clone()
                    }
                    None => Value::Null,
                };
            }
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                let Some(end) = after.find('}') else {
                    out.push_str(&rest[start..]);
                    rest = "";
                    break;
                };
                let name = &after[..end];
                if let Some(value) = set.get(name) {
                    used.push(name.to_string());
                    out.push_str(&value_text(value));
                }
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| fill_value(i, set, used)).collect())
        }
        // A field whose whole value is an unresolved placeholder is left out (a first
        // page has no cursor yet; many APIs reject `"cursor": null`).
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !is_unresolved(v, set))
                .map(|(k, v)| (k.clone(), fill_value(v, set, used)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn is_unresolved(v: &Value, set: &ParamSet) -> bool {
    match v {
        Value::String(s) => s
            .trim()
            .strip_prefix("${")
            .and_then(|r| r.strip_suffix('}'))
            .is_some_and(|name| !name.contains('}') && set.get(name).is_none()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Rows(Vec<Vec<Value>>);
    impl SqlSource for Rows {
        fn rows(&self, _sql: &str) -> Result<Vec<Vec<Value>>, String> {
            Ok(self.0.clone())
        }
    }

    fn p(names: &[&str], value: ParamValue) -> Param {
        Param {
            names: names.iter().map(|s| s.to_string()).collect(),
            value,
        }
    }

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn cartesian_product_in_declaration_order() {
        let params = vec![
            p(
                &["ticker"],
                ParamValue::List(vec![vec![json!("A")], vec![json!("B")]]),
            ),
            p(
                &["lte"],
                ParamValue::List(vec![vec![json!(1)], vec![json!(2)], vec![json!(3)]]),
            ),
            p(&["static"], ParamValue::Scalar(json!("x"))),
        ];
        let sets = expand(&params, &Rows(vec![]), &none).unwrap();
        assert_eq!(sets.len(), 6);
        assert_eq!(
            sets[0].values,
            vec![
                ("ticker".into(), json!("A")),
                ("lte".into(), json!(1)),
                ("static".into(), json!("x"))
            ]
        );
        assert_eq!(sets[5].get("ticker"), Some(&json!("B")));
        assert_eq!(sets[5].get("lte"), Some(&json!(3)));
    }

    #[test]
    fn sql_tuple_params_one_set_per_row_and_zero_rows_means_no_requests() {
        let params = vec![p(
            &["owner", "repo"],
            ParamValue::Sql("select owner_login, name from repos".into()),
        )];
        let rows = Rows(vec![
            vec![json!("acme"), json!("one")],
            vec![json!("acme"), json!("two")],
        ]);
        let sets = expand(&params, &rows, &none).unwrap();
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[1].get("repo"), Some(&json!("two")));
        assert!(expand(&params, &Rows(vec![]), &none).unwrap().is_empty());
        let err = expand(&params, &Rows(vec![vec![json!("only")]]), &none).unwrap_err();
        assert!(matches!(
            err,
            ParamError::Arity {
                got: 1,
                want: 2,
                ..
            }
        ));
    }

    #[test]
    fn option_placeholders_fill_strings_only() {
        let params = vec![
            p(&["realm"], ParamValue::Scalar(json!("${realm_id}"))),
            p(&["num"], ParamValue::Scalar(json!(20))),
            p(&["later_than"], ParamValue::Scalar(json!("${timestamp}"))),
        ];
        let lookup = |k: &str| (k == "realm_id").then(|| "123".to_string());
        let sets = expand(&params, &Rows(vec![]), &lookup).unwrap();
        assert_eq!(sets[0].get("realm"), Some(&json!("123")));
        assert_eq!(sets[0].get("num"), Some(&json!(20)));
        assert_eq!(sets[0].get("later_than"), Some(&json!("${timestamp}")));
    }

    #[test]
    fn path_placeholders_consume_params_and_are_encoded() {
        let mut set = ParamSet::default();
        set.set("owner", json!("acme"));
        set.set("repo", json!("a b"));
        let (path, used) = fill_path("/repos/{owner}/{repo}/pulls", &set).unwrap();
        assert_eq!(path, "/repos/acme/a%20b/pulls");
        assert_eq!(used, ["owner", "repo"]);
        let err = fill_path("/orgs/{org}/members", &set).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot request /orgs/{org}/members: no value for '{org}' (add it to the table's params)"
        );
    }

    #[test]
    fn body_interpolation_keeps_types_splices_text_and_drops_unresolved_fields() {
        let mut set = ParamSet::default();
        set.set("start", json!("2024-01-01"));
        set.set("n", json!(5));
        let body = json!({
            "TimePeriod": {"Start": "${start}", "Label": "from ${start} on"},
            "Max": "${n}",
            "NextPageToken": "${NextPageToken}"
        });
        let (filled, used) = fill_body(&body, &set);
        assert_eq!(
            filled,
            json!({"TimePeriod": {"Start": "2024-01-01", "Label": "from 2024-01-01 on"}, "Max": 5})
        );
        assert!(used.contains(&"start".to_string()) && used.contains(&"n".to_string()));
    }
}
