//! What the shell shows about the warehouse: schemas, relations, columns, table
//! statistics. Read-only statements, each on the caller's connection (a session's), so
//! they see its transaction. Errors are DuckDB's own: the shell words them.

use super::staging::STAGING_PREFIX;
use super::{qualified, query, quote_ident, quote_literal};
use crate::protocol::ResultTable;
use duckdb::Connection;

/// Every schema of the warehouse, by name.
pub fn schemas(conn: &Connection) -> Result<Option<ResultTable>, duckdb::Error> {
    query(
        conn,
        "select schema_name from information_schema.schemata where catalog_name = current_database() and schema_name not in ('pg_catalog') order by schema_name",
    )
}

/// True when a schema of that name exists.
pub fn schema_exists(conn: &Connection, schema: &str) -> Result<bool, duckdb::Error> {
    conn.query_row(
        "select count(*) from information_schema.schemata where schema_name = ?",
        [schema],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// The user's relations (of one schema, or all): (schema, name, is a view), staging
/// tables and unify's own schemas left out.
pub fn relations(
    conn: &Connection,
    schema: Option<&str>,
) -> Result<Vec<(String, String, bool)>, duckdb::Error> {
    let mut stmt = conn.prepare(
        "select table_schema, table_name, table_type = 'VIEW' from information_schema.tables where table_catalog = current_database() and table_schema not in ('unify', 'information_schema', 'pg_catalog') and (? is null or table_schema = ?) order by table_schema, table_name",
    )?;
    let rows = stmt.query_map(duckdb::params![schema, schema], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(rows
        .filter_map(Result::ok)
        .filter(|(_, t, _): &(String, String, bool)| !t.starts_with(STAGING_PREFIX))
        .collect())
}

/// A loaded table as `unify.tables` records it.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// Schema.
    pub schema: String,
    /// Table.
    pub table: String,
    /// Rows at the last load or refresh.
    pub rows: Option<i64>,
    /// When it last finished loading or refreshing (`YYYY-MM-DD HH:MM:SS`).
    pub last_loaded: Option<String>,
}

/// Every table `unify.tables` records.
pub fn table_info(conn: &Connection) -> Result<Vec<TableInfo>, duckdb::Error> {
    let mut stmt = conn.prepare("select schema_name, table_name, rows, strftime(coalesce(last_refresh_end, last_load_end), '%Y-%m-%d %H:%M:%S') from unify.tables")?;
    let rows = stmt.query_map([], |r| {
        Ok(TableInfo {
            schema: r.get(0)?,
            table: r.get(1)?,
            rows: r.get(2)?,
            last_loaded: r.get(3)?,
        })
    })?;
    Ok(rows.filter_map(Result::ok).collect())
}

/// `describe schema.table`: one row per column.
pub fn describe(
    conn: &Connection,
    schema: &str,
    table: &str,
) -> Result<ResultTable, duckdb::Error> {
    Ok(query(conn, &format!("describe {}", qualified(schema, table)))?.unwrap_or_default())
}

/// Every column of the user's tables (schema, table, column, type), optionally only
/// those whose name matches a `*` wildcard pattern (case-insensitive).
pub fn all_columns(
    conn: &Connection,
    pattern: Option<&str>,
) -> Result<Option<ResultTable>, duckdb::Error> {
    let sql = format!(
        "select table_schema, table_name, column_name, data_type from information_schema.columns where table_catalog = current_database() and table_schema not in ('unify', 'information_schema', 'pg_catalog') and table_name not like '{}%' {} order by table_schema, table_name, ordinal_position",
        STAGING_PREFIX.replace('_', "\\_"),
        pattern
            .map(|p| format!("and column_name ilike {}", quote_literal(&p.replace('*', "%"))))
            .unwrap_or_default()
    );
    query(conn, &sql)
}

/// Statistics of one column over a sample of its table's first 200 rows.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSample {
    /// Average width as text.
    pub width: f64,
    /// Largest width as text.
    pub max_width: i64,
    /// Distinct values.
    pub distinct: i64,
    /// Rows sampled.
    pub total: i64,
    /// Values that look like URLs.
    pub urls: i64,
}

/// Sample `column` of `schema.table` (for `peek`).
pub fn sample_column(
    conn: &Connection,
    schema: &str,
    table: &str,
    column: &str,
) -> Result<ColumnSample, duckdb::Error> {
    let (col, target) = (quote_ident(column), qualified(schema, table));
    conn.query_row(
        &format!(
            "select coalesce(avg(length(cast({col} as varchar))), 0), coalesce(max(length(cast({col} as varchar))), 0), count(distinct {col}), count(*), count(*) filter (where cast({col} as varchar) like 'http%://%') from (select {col} from {target} limit 200)"
        ),
        [],
        |r| {
            Ok(ColumnSample {
                width: r.get(0)?,
                max_width: r.get(1)?,
                distinct: r.get(2)?,
                total: r.get(3)?,
                urls: r.get(4)?,
            })
        },
    )
}

/// The first `n` rows of `schema.table`, as the given select expressions.
pub fn head(
    conn: &Connection,
    schema: &str,
    table: &str,
    exprs: &[String],
    n: u64,
) -> Result<Option<ResultTable>, duckdb::Error> {
    let target = qualified(schema, table);
    query(
        conn,
        &format!("select {} from {target} limit {n}", exprs.join(", ")),
    )
}
