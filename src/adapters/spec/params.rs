//! A table's `params:` (static values, lists, tuples and `sql@(…)` queries), its
//! `refresh:` block, and the order `sql@` parameters impose: a table whose parameters
//! read another table of the spec loads after it, and a cycle is a problem.

use super::super::yaml::{self, join, Problems};
use super::validate::{check_keys, get};
use super::{Param, ParamValue, Refresh, TableSpec};
use serde_yaml::Value;

/// Fill every table's `depends_on` from its `sql@` parameters (refresh ones included);
/// a dependency cycle is a problem.
pub(super) fn resolve_dependencies(tables: &mut [TableSpec], p: &mut Problems) {
    let table_names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
    for t in tables.iter_mut() {
        t.depends_on = sql_dependencies(&t.params, &table_names, &t.name);
        if let Refresh::Updates { params, .. } = &t.refresh {
            for dep in sql_dependencies(params, &table_names, &t.name) {
                if !t.depends_on.contains(&dep) {
                    t.depends_on.push(dep);
                }
            }
        }
    }
    for (i, t) in tables.iter().enumerate() {
        if let Some(cycle) = dependency_cycle(tables, &t.name) {
            p.push(
                &format!("tables[{i}].params"),
                format!("sql@ parameters form a cycle: {}", cycle.join(" → ")),
            );
            break;
        }
    }
}

/// The `params:` mapping at `path`.
pub(super) fn parse_params(v: &Value, path: &str, p: &mut Problems) -> Vec<Param> {
    let Some(m) = yaml::as_map(v, path, p) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in m {
        let names: Vec<String> = key.split(',').map(|s| s.trim().to_string()).collect();
        let kpath = join(path, &key);
        if names.iter().any(|n| n.is_empty()) {
            p.push(&kpath, "empty parameter name");
            continue;
        }
        let pv = match &value {
            Value::String(s) if s.trim_start().starts_with("sql@") => match parse_sql_param(s) {
                Some(sql) => ParamValue::Sql(sql),
                None => {
                    p.push(&kpath, format!("'{s}' is not of the form sql@(select …)"));
                    continue;
                }
            },
            Value::Sequence(items) => {
                let mut rows = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let ipath = format!("{kpath}[{i}]");
                    if names.len() == 1 {
                        match item {
                            Value::Sequence(_) | Value::Mapping(_) => {
                                p.push(&ipath, "expected a single value");
                            }
                            other => rows.push(vec![yaml::to_json(other)]),
                        }
                    } else {
                        match item {
                            Value::Sequence(tuple) if tuple.len() == names.len() => {
                                rows.push(tuple.iter().map(yaml::to_json).collect());
                            }
                            _ => p.push(
                                &ipath,
                                format!("expected a list of {} values for '{}'", names.len(), key),
                            ),
                        }
                    }
                }
                ParamValue::List(rows)
            }
            Value::Mapping(_) => {
                p.push(&kpath, "a parameter value cannot be a mapping");
                continue;
            }
            other => {
                if names.len() > 1 {
                    p.push(
                        &kpath,
                        "a multi-name parameter needs a list of tuples or sql@(…)",
                    );
                    continue;
                }
                ParamValue::Scalar(yaml::to_json(other))
            }
        };
        out.push(Param { names, value: pv });
    }
    out
}

/// `sql@(select …)` → `select …`.
fn parse_sql_param(s: &str) -> Option<String> {
    let rest = s.trim().strip_prefix("sql@")?.trim();
    let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
    let inner = inner.trim();
    (!inner.is_empty()).then(|| inner.to_string())
}

/// The `refresh:` block of table `table`.
pub(super) fn parse_refresh(v: &Value, path: &str, table: &str, p: &mut Problems) -> Refresh {
    let Some(m) = yaml::as_map(v, path, p) else {
        return Refresh::Reload;
    };
    check_keys(
        &m,
        &["strategy", "params", "resource_path", "post"],
        path,
        "refresh",
        p,
    );
    let resource_path =
        get(&m, "resource_path").and_then(|v| yaml::get_string(v, &join(path, "resource_path"), p));
    let post = get(&m, "post").map(yaml::to_json);
    let strategy = get(&m, "strategy")
        .and_then(|v| yaml::get_string(v, &join(path, "strategy"), p))
        .unwrap_or_else(|| "reload".to_string());
    match strategy.as_str() {
        "reload" => Refresh::Reload,
        "updates" => match get(&m, "params") {
            Some(pv) => Refresh::Updates {
                params: parse_params(pv, &join(path, "params"), p),
                resource_path,
                post,
            },
            None => {
                p.push(
                    &join(path, "params"),
                    format!("table {table} is missing 'params' for 'updates' refresh strategy"),
                );
                Refresh::Reload
            }
        },
        other => {
            p.push(
                &join(path, "strategy"),
                format!("Invalid refresh strategy '{other}' for table {table} (reload or updates)"),
            );
            Refresh::Reload
        }
    }
}

/// Tables of this spec that appear as words (outside strings and comments) in the
/// `sql@` queries of `params`.
fn sql_dependencies(params: &[Param], tables: &[String], own: &str) -> Vec<String> {
    let mut deps = Vec::new();
    for param in params {
        if let ParamValue::Sql(sql) = &param.value {
            for word in crate::sqltext::words(sql) {
                if word != own && tables.contains(&word) && !deps.contains(&word) {
                    deps.push(word);
                }
            }
        }
    }
    deps
}

/// The first cycle of `depends_on` links reachable from `start`, as a path of names.
fn dependency_cycle(tables: &[TableSpec], start: &str) -> Option<Vec<String>> {
    fn visit(tables: &[TableSpec], name: &str, stack: &mut Vec<String>) -> Option<Vec<String>> {
        if let Some(pos) = stack.iter().position(|n| n == name) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(name.to_string());
            return Some(cycle);
        }
        let t = tables.iter().find(|t| t.name == name)?;
        stack.push(name.to_string());
        for dep in &t.depends_on {
            if let Some(c) = visit(tables, dep, stack) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    visit(tables, start, &mut Vec::new())
}
