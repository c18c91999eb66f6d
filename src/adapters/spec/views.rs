//! A spec's `views:`: DuckDB queries over the spec's tables, (re)created after a table
//! they read loads. A bad view disables that view only.

use super::super::yaml::{self, join, Problems};
use super::validate::{check_keys, disabled, get};
use super::{Disabled, ViewSpec};
use serde_yaml::Value;

/// Every view of `views` (the key's value); bad ones go to `disabled`.
pub(super) fn parse_views(
    file: &str,
    views: Option<&Value>,
    table_names: &[String],
    disabled_views: &mut Vec<Disabled>,
    p: &mut Problems,
) -> Vec<ViewSpec> {
    let mut out = Vec::new();
    match views {
        Some(Value::Sequence(items)) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("views[{i}]");
                let mut vp = Problems::new(file);
                match parse_view(item, &path, table_names, &mut vp) {
                    Some(view) if vp.is_empty() => out.push(view),
                    parsed => disabled_views.push(disabled(parsed.map(|v| v.name), item, path, vp)),
                }
            }
        }
        Some(Value::Null) | None => {}
        Some(other) => p.push(
            "views",
            format!("expected a list of views, found {}", yaml::kind(other)),
        ),
    }
    for view in &out {
        if table_names.contains(&view.name) {
            p.push(
                "views",
                format!("view '{}' has the same name as a table", view.name),
            );
        }
    }
    out
}

fn parse_view(v: &Value, path: &str, tables: &[String], p: &mut Problems) -> Option<ViewSpec> {
    let m = yaml::as_map(v, path, p)?;
    check_keys(
        &m,
        &["name", "from", "query", "help", "description"],
        path,
        "a view",
        p,
    );
    let name = get(&m, "name").and_then(|v| yaml::get_string(v, &join(path, "name"), p));
    let from = get(&m, "from").map(|v| yaml::get_string_list(v, &join(path, "from"), p));
    let query = match get(&m, "query") {
        Some(Value::Mapping(variants)) => {
            let q = variants
                .iter()
                .find(|(k, _)| yaml::scalar_string(k).as_deref() == Some("duckdb"))
                .and_then(|(_, v)| yaml::get_string(v, &join(path, "query.duckdb"), p));
            if q.is_none() {
                p.push(&join(path, "query"), "no 'duckdb' variant of the query");
            }
            q
        }
        Some(v) => yaml::get_string(v, &join(path, "query"), p),
        None => None,
    };
    let (Some(name), Some(from), Some(query)) = (name, from, query) else {
        p.push(path, "a view needs name, from and query");
        return None;
    };
    for f in &from {
        if !tables.contains(f) {
            p.push(
                &join(path, "from"),
                format!("'{f}' is not a table of this spec"),
            );
        }
    }
    let help = get(&m, "help")
        .or_else(|| get(&m, "description"))
        .and_then(|v| yaml::get_string(v, &join(path, "help"), p));
    Some(ViewSpec {
        name,
        from,
        query,
        help,
    })
}
