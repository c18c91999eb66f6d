//! `unify spec check FILE [--live]`: the tool a person uses while writing a connector.
//! It validates a spec (every problem, with its key path) and, with `--live`, fetches
//! one page of each table and shows the columns unify would create — without touching
//! the warehouse.

use crate::adapters::catalog::Catalog;
use crate::adapters::connections::{self, Connection, ConnectionEntry};
use crate::adapters::rest::client::RestClient;
use crate::adapters::rest::params;
use crate::adapters::rest::{Fetch, FetchStats};
use crate::adapters::spec::{parse_spec, Parsed, Spec, TableSpec};
use crate::loading::flatten::{Flattener, Shape};
use crate::protocol::ResultTable;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The outcome of validating a spec file.
pub enum Checked {
    /// A valid spec.
    Spec(Box<Spec>),
    /// Problems, one line each.
    Problems(Vec<String>),
    /// Valid but not loadable by this version (disabled, unsupported class).
    Skipped(String),
}

/// Validate `text` (from `label`).
pub fn check(label: &str, text: &str) -> Checked {
    match parse_spec(label, text) {
        // A disabled table is a problem to whoever writes the spec.
        Ok(Parsed::Spec(s)) if !s.disabled.is_empty() => Checked::Problems(
            s.disabled
                .iter()
                .flat_map(|d| d.problems.iter().map(|p| p.to_string()))
                .collect(),
        ),
        Ok(Parsed::Spec(s)) => Checked::Spec(s),
        Ok(Parsed::Disabled { name }) => {
            Checked::Skipped(format!("spec '{name}' is disabled (enabled: false)"))
        }
        Ok(Parsed::Unsupported { name, reason }) => {
            Checked::Skipped(format!("spec '{name}': {reason}"))
        }
        Err(e) => Checked::Problems(e.problems.iter().map(|p| p.to_string()).collect()),
    }
}

/// A one-paragraph summary of a valid spec.
pub fn summary(spec: &Spec) -> String {
    let tables: Vec<String> = spec
        .tables
        .iter()
        .map(|t| {
            let mut s = t.name.clone();
            if !t.depends_on.is_empty() {
                s.push_str(&format!(" (after {})", t.depends_on.join(", ")));
            }
            s
        })
        .collect();
    format!(
        "ok: spec '{}' ({}): {} tables: {}; {} views",
        spec.name,
        spec.base_url,
        spec.tables.len(),
        tables.join(", "),
        spec.views.len()
    )
}

/// Fetch one page of each table and infer its columns. Returns a table of
/// (table, records, column, type) and the per-table problems.
pub async fn live(spec: Spec, options: Vec<(String, String)>) -> (ResultTable, Vec<String>) {
    let name = spec.name.clone();
    let spec = Arc::new(spec);
    let mut problems = Vec::new();
    let mut out = ResultTable {
        columns: ["table", "records", "column", "type"]
            .map(String::from)
            .to_vec(),
        types: ["VARCHAR", "BIGINT", "VARCHAR", "VARCHAR"]
            .map(String::from)
            .to_vec(),
        rows: Vec::new(),
    };
    let catalog = catalog_with(spec.clone());
    let entry = ConnectionEntry {
        schema: name.clone(),
        connector: name,
        options,
    };
    let env = |k: &str| std::env::var(k).ok();
    let conn = match connections::resolve(&entry, &catalog, &env) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            problems.push(e.to_string());
            return (out, problems);
        }
    };
    let client = RestClient::new(conn.clone());
    let scratch = match crate::warehouse::ScratchSql::new() {
        Ok(s) => s,
        Err(e) => {
            problems.push(e);
            return (out, problems);
        }
    };
    for table in &spec.tables {
        if !table.depends_on.is_empty() {
            eprintln!(
                "{}: not fetched: its params come from {} (load those first)",
                table.name,
                table.depends_on.join(", ")
            );
            continue;
        }
        match sample_table(&client, &conn, table, &scratch).await {
            Ok(rows) => out.rows.extend(rows),
            Err(e) => problems.push(format!("{}: {e}", table.name)),
        }
    }
    (out, problems)
}

/// The first page of one table, flattened: a row (table, records, column, type) per
/// column, or one row with no column when the page had none.
async fn sample_table(
    client: &RestClient,
    conn: &Connection,
    table: &TableSpec,
    scratch: &crate::warehouse::ScratchSql,
) -> Result<Vec<Vec<serde_json::Value>>, String> {
    let lookup = |k: &str| crate::adapters::rest::option_value(conn, k);
    let set = params::expand(&table.params, scratch, &lookup)
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .unwrap_or_default();
    let cancel = CancellationToken::new();
    let stats = FetchStats::default();
    let fetch = Fetch {
        client,
        table,
        cancel: &cancel,
        stats: &stats,
        table_limit: None,
    };
    let records = fetch.first_page(&set).await.map_err(|e| e.to_string())?;
    let n = records.len() as u64;
    let mut f = Flattener::new(Shape {
        select: table.select.clone(),
        strip_prefixes: table.strip_prefixes.clone(),
    });
    for r in records {
        f.row(r, table.result_object_path.is_none());
    }
    if f.columns().is_empty() {
        return Ok(vec![vec![
            table.name.clone().into(),
            n.into(),
            serde_json::Value::Null,
            serde_json::Value::Null,
        ]]);
    }
    Ok(f.columns()
        .iter()
        .map(|c| {
            vec![
                table.name.clone().into(),
                n.into(),
                c.name.clone().into(),
                c.ty.sql().into(),
            ]
        })
        .collect())
}

fn catalog_with(spec: Arc<Spec>) -> Catalog {
    let mut c = Catalog::default();
    c.insert(spec);
    c
}
