//! A spec's `tables:`: one [`TableSpec`] per entry, a bad table disabling that table
//! only. The request (path, method, headers, params, body), the pager, where the records
//! are in a page and which columns to keep, the key and the refresh strategy.

use super::super::yaml::{self, join, Map, Problems};
use super::params::{parse_params, parse_refresh};
use super::validate::{self, disabled, get, parse_rate_limit};
use super::{paging, Disabled, Method, Paging, Refresh, TableSpec};
use regex::Regex;
use serde_yaml::Value;

const TABLE_KEYS: &[&str] = &[
    "name",
    "description",
    "resource_path",
    "query_resource",
    "method",
    "supports_paging",
    "paging",
    "headers",
    "params",
    "post",
    "result_body_path",
    "result_meta_paths",
    "result_object_path",
    "select",
    "strip_prefixes",
    "copy_params_to_output",
    "key_column",
    "key_columns",
    "refresh",
    "columns",
    "rate_limit",
    "polling_interval_secs",
    "error_path",
    "ignore_status",
];

/// Every table of `tables` (the key's value): the usable ones, and the disabled ones
/// with their problems. A spec without a usable table takes every table's problems.
pub(super) fn parse_tables(
    file: &str,
    tables: Option<&Value>,
    spec_paging: Option<&Paging>,
    has_date_format: bool,
    p: &mut Problems,
) -> (Vec<TableSpec>, Vec<Disabled>) {
    let mut out = Vec::new();
    let mut disabled_tables = Vec::new();
    match tables {
        Some(Value::Sequence(items)) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("tables[{i}]");
                // A table's own problems disable that table only.
                let mut tp = Problems::new(file);
                let parsed = parse_table(item, &path, spec_paging, &mut tp);
                if let Some(t) = &parsed {
                    check_updates(t, has_date_format, &mut tp);
                }
                match parsed {
                    Some(t) if tp.is_empty() => out.push(t),
                    parsed => {
                        disabled_tables.push(disabled(parsed.map(|t| t.name), item, path, tp))
                    }
                }
            }
        }
        Some(other) => p.push(
            "tables",
            format!("expected a list of tables, found {}", yaml::kind(other)),
        ),
        None => p.push("tables", "missing: a spec needs at least one table"),
    }
    if out.is_empty() {
        // Nothing usable: the spec does not load, with every table's problems.
        for d in disabled_tables.drain(..) {
            p.list.extend(d.problems);
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, t) in out.iter().enumerate() {
        if !seen.insert(t.name.clone()) {
            p.push(
                &format!("tables[{i}].name"),
                format!("duplicate table name '{}'", t.name),
            );
        }
    }
    (out, disabled_tables)
}

/// Where the records of a page are: `result_body_path`, `result_meta_paths`,
/// `result_object_path`.
struct ResultPaths {
    body: Option<Vec<String>>,
    meta: Vec<Vec<String>>,
    object: Option<String>,
}

/// One table entry. `at` is its index path (`tables[3]`); once its name is known,
/// problems name the table (`tables.issues.params`). Strings are read at `at`, as
/// they always were.
fn parse_table(
    v: &Value,
    at: &str,
    spec_paging: Option<&Paging>,
    p: &mut Problems,
) -> Option<TableSpec> {
    let m = yaml::as_map(v, at, p)?;
    let before = p.list.len();
    let name = table_name(&m, at, p)?;
    let path = &format!("tables.{name}");
    let description = string(&m, at, "description", p);
    let post = get(&m, "post").map(yaml::to_json);
    let resource_path = resource_path(&m, at, path, p);
    let method = method(&m, at, path, post.is_some(), p);
    let paging = table_paging(&m, path, spec_paging, p);
    let headers = validate::headers(&m, path, p);
    let params = get(&m, "params")
        .map(|v| parse_params(v, &join(path, "params"), p))
        .unwrap_or_default();
    let result = result_paths(&m, at, path, p);
    let select = select(&m, at, path, p);
    let strip_prefixes = get(&m, "strip_prefixes")
        .map(|v| yaml::get_string_list(v, &join(path, "strip_prefixes"), p))
        .unwrap_or_default();
    let copy_params_to_output = get(&m, "copy_params_to_output")
        .map(|v| yaml::get_string_list(v, &join(path, "copy_params_to_output"), p))
        .unwrap_or_default();
    for c in &copy_params_to_output {
        if !params.iter().any(|prm| prm.names.contains(c)) {
            p.push(
                &join(path, "copy_params_to_output"),
                format!("'{c}' is not one of the table's params"),
            );
        }
    }
    let key_columns = key_columns(&m, path, p);
    let refresh = match get(&m, "refresh") {
        None | Some(Value::Null) => Refresh::Reload,
        Some(v) => parse_refresh(v, &join(path, "refresh"), &name, p),
    };
    let rate_limit =
        get(&m, "rate_limit").and_then(|v| parse_rate_limit(v, &join(path, "rate_limit"), p));
    let polling_interval_secs = get(&m, "polling_interval_secs")
        .and_then(|v| yaml::get_u64(v, &join(path, "polling_interval_secs"), p));
    let error_path = validate::error_path(&m, path, p);
    let ignore_status = ignore_status(&m, path, p);
    if p.list.len() > before {
        return None;
    }
    Some(TableSpec {
        name,
        description,
        method,
        path: resource_path.replace("{*", "{"),
        paging,
        headers,
        params,
        post,
        result_body_path: result.body,
        result_meta_paths: result.meta,
        result_object_path: result.object,
        select,
        strip_prefixes,
        copy_params_to_output,
        key_columns,
        refresh,
        rate_limit,
        polling_interval_secs,
        depends_on: Vec::new(),
        error_path,
        ignore_status,
    })
}

/// The string at `key`, read at the table's index path `at`.
fn string(m: &Map, at: &str, key: &str, p: &mut Problems) -> Option<String> {
    get(m, key).and_then(|v| yaml::get_string(v, &join(at, key), p))
}

/// The table's name (an identifier); also checks the table's keys.
fn table_name(m: &Map, at: &str, p: &mut Problems) -> Option<String> {
    let name = match string(m, at, "name", p) {
        Some(n) => n,
        None => {
            p.push(&join(at, "name"), "missing: every table needs a name");
            return None;
        }
    };
    // From here on, paths name the table for readability.
    let path = &format!("tables.{name}");
    for (k, _) in m {
        if !TABLE_KEYS.contains(&k.as_str()) {
            p.push(
                &join(path, k),
                format!(
                    "Invalid key '{k}' for Table definition (allowed: {})",
                    TABLE_KEYS.join(", ")
                ),
            );
        }
    }
    if !super::is_identifier(&name) {
        p.push(
            &join(path, "name"),
            format!("'{name}' is not a valid table name (letters, digits and _ only)"),
        );
    }
    Some(name)
}

/// `resource_path`, or the path of the original's `query_resource: GET /path`.
fn resource_path(m: &Map, at: &str, path: &str, p: &mut Problems) -> String {
    let resource_path = string(m, at, "resource_path", p);
    let query_resource = string(m, at, "query_resource", p);
    match (resource_path, query_resource) {
        (Some(rp), _) => rp,
        (None, Some(qr)) => {
            let mut parts = qr.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some(m), Some(path_part))
                    if matches!(
                        m.to_ascii_uppercase().as_str(),
                        "GET" | "POST" | "PATCH" | "PUT" | "DELETE"
                    ) =>
                {
                    path_part.to_string()
                }
                (Some(only), None) => only.to_string(),
                _ => {
                    p.push(
                        &join(path, "query_resource"),
                        format!("'{qr}' is not of the form 'GET /path'"),
                    );
                    String::new()
                }
            }
        }
        (None, None) => {
            p.push(
                &join(path, "resource_path"),
                "missing: a table needs resource_path",
            );
            String::new()
        }
    }
}

/// GET, or POST when the table has a `post` body or says `method: POST`.
fn method(m: &Map, at: &str, path: &str, has_post: bool, p: &mut Problems) -> Method {
    let mut method = if has_post { Method::Post } else { Method::Get };
    if let Some(m_text) = string(m, at, "method", p) {
        match m_text.to_ascii_uppercase().as_str() {
            "GET" if has_post => p.push(
                &join(path, "method"),
                "a table with a `post` body is requested with POST; remove `method: GET` or the body",
            ),
            "GET" => method = Method::Get,
            "POST" => method = Method::Post,
            other => p.push(
                &join(path, "method"),
                format!("unsupported method '{other}' (GET or POST)"),
            ),
        }
    }
    method
}

/// The table's pager: its own `paging`, else the spec's, when `supports_paging` is true.
fn table_paging(
    m: &Map,
    path: &str,
    spec_paging: Option<&Paging>,
    p: &mut Problems,
) -> Option<Paging> {
    let supports_paging = get(m, "supports_paging")
        .and_then(|v| yaml::get_bool(v, &join(path, "supports_paging"), p))
        .unwrap_or(false);
    let table_paging = match get(m, "paging") {
        Some(Value::Null) | None => None,
        Some(v) => paging::parse_paging(v, &join(path, "paging"), p),
    };
    let paging = if supports_paging {
        table_paging.or_else(|| spec_paging.cloned())
    } else {
        None
    };
    if supports_paging && paging.is_none() && get(m, "paging").is_none() {
        p.push(
            &join(path, "supports_paging"),
            "supports_paging is true but neither the table nor the spec defines paging",
        );
    }
    paging
}

/// `result_body_path`, `result_meta_paths` and `result_object_path` (not with a body path).
fn result_paths(m: &Map, at: &str, path: &str, p: &mut Problems) -> ResultPaths {
    let body = match get(m, "result_body_path") {
        Some(Value::Sequence(items)) => Some(
            items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    yaml::get_string(v, &format!("{path}.result_body_path[{i}]"), p)
                })
                .collect(),
        ),
        Some(v) => yaml::get_string(v, &join(path, "result_body_path"), p).map(|s| key_path(&s)),
        None => None,
    };
    let meta = match get(m, "result_meta_paths") {
        Some(Value::Sequence(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match v {
                Value::Sequence(_) => Some(yaml::get_string_list(
                    v,
                    &format!("{path}.result_meta_paths[{i}]"),
                    p,
                )),
                other => yaml::get_string(other, &format!("{path}.result_meta_paths[{i}]"), p)
                    .map(|s| key_path(&s)),
            })
            .collect(),
        Some(v) => yaml::get_string(v, &join(path, "result_meta_paths"), p)
            .map(|s| vec![key_path(&s)])
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let object = string(m, at, "result_object_path", p);
    if object.is_some() && body.is_some() {
        p.push(
            &join(path, "result_object_path"),
            "result_object_path and result_body_path cannot be used together",
        );
    }
    ResultPaths { body, meta, object }
}

/// `select`: comma-separated column patterns, each matched at the start of a name.
fn select(m: &Map, at: &str, path: &str, p: &mut Problems) -> Option<Vec<Regex>> {
    string(m, at, "select", p).map(|text| {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .filter_map(|item| match Regex::new(&format!("^(?:{item})")) {
                Ok(re) => Some(re),
                Err(e) => {
                    p.push(
                        &join(path, "select"),
                        format!("'{item}' is not a valid pattern: {e}"),
                    );
                    None
                }
            })
            .collect()
    })
}

/// `key_column` and `key_columns` (lists, or comma-separated), without repeats.
fn key_columns(m: &Map, path: &str, p: &mut Problems) -> Vec<String> {
    let mut key_columns = Vec::new();
    if let Some(v) = get(m, "key_column") {
        key_columns.extend(yaml::get_string_list(v, &join(path, "key_column"), p));
    }
    if let Some(v) = get(m, "key_columns") {
        for k in yaml::get_string_list(v, &join(path, "key_columns"), p) {
            for part in k.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if !key_columns.iter().any(|c| c == part) {
                    key_columns.push(part.to_string());
                }
            }
        }
    }
    key_columns
}

/// `ignore_status`: HTTP error statuses that mean "no rows".
fn ignore_status(m: &Map, path: &str, p: &mut Problems) -> Vec<u16> {
    match get(m, "ignore_status") {
        Some(v) => yaml::get_string_list(v, &join(path, "ignore_status"), p)
            .into_iter()
            .filter_map(|code| match code.trim().parse::<u16>() {
                Ok(n) if (400..600).contains(&n) => Some(n),
                _ => {
                    p.push(
                        &join(path, "ignore_status"),
                        format!("'{code}' is not an HTTP error status (400–599)"),
                    );
                    None
                }
            })
            .collect(),
        None => Vec::new(),
    }
}

/// The `updates` refresh strategy needs a key and a spec-level `queryDateFormat`.
fn check_updates(t: &TableSpec, has_date_format: bool, p: &mut Problems) {
    if matches!(t.refresh, Refresh::Updates { .. }) {
        if t.key_columns.is_empty() {
            p.push(
                &format!("tables.{}.refresh", t.name),
                format!(
                    "Table '{}' needs to define a key to use 'updates' refresh strategy",
                    t.name
                ),
            );
        }
        if !has_date_format {
            p.push(
                &format!("tables.{}.refresh", t.name),
                "the 'updates' strategy needs a spec-level queryDateFormat",
            );
        }
    }
}

/// The keys of a `result_body_path` / `result_meta_paths` string: dot-separated names,
/// where a segment may be written `['key.with.dots']` (or with double quotes) and a
/// leading `$` / `$.` is ignored, so `$['@odata.count']` names the one key
/// `@odata.count` and `data.items` names `data` then `items`.
pub fn key_path(text: &str) -> Vec<String> {
    let mut rest = text.trim();
    if let Some(r) = rest.strip_prefix('$') {
        rest = r.strip_prefix('.').unwrap_or(r);
    }
    let mut keys = Vec::new();
    let mut current = String::new();
    // True right after a bracketed key: the '.' that may follow separates nothing new.
    let mut closed = false;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' if closed => closed = false,
            '.' => keys.push(std::mem::take(&mut current)),
            '[' if matches!(chars.peek(), Some('\'' | '"')) => {
                if !current.is_empty() {
                    keys.push(std::mem::take(&mut current));
                }
                let quote = chars.next().unwrap_or('\'');
                let mut key = String::new();
                while let Some(k) = chars.next() {
                    match k {
                        '\\' => key.extend(chars.next()),
                        k if k == quote => break,
                        k => key.push(k),
                    }
                }
                if chars.peek() == Some(&']') {
                    chars.next();
                }
                keys.push(key);
                closed = true;
            }
            c => {
                closed = false;
                current.push(c);
            }
        }
    }
    if !closed || !current.is_empty() {
        keys.push(current);
    }
    keys
}
