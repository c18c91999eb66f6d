//! Running a statement: a user's, whole (`query`) or in bounded chunks
//! (`query_chunks`); a `sql@(…)` param's, against a connection's schema
//! ([`SchemaSql`]) or a scratch database ([`ScratchSql`]).

use super::{quote_ident, EMPTY_MARKER};
use crate::adapters::rest::params::SqlSource;
use duckdb::Connection;

/// Run one statement; `None` when it returns no columns (DDL).
pub fn query(
    conn: &duckdb::Connection,
    sql: &str,
) -> Result<Option<crate::protocol::ResultTable>, duckdb::Error> {
    let mut table: Option<crate::protocol::ResultTable> = None;
    query_chunks(conn, sql, usize::MAX, |chunk| {
        let t = table.get_or_insert_with(|| crate::protocol::ResultTable {
            columns: chunk.columns.to_vec(),
            types: chunk.types.to_vec(),
            rows: Vec::new(),
        });
        t.rows.extend(chunk.rows);
        true
    })?;
    Ok(table)
}

/// A piece of a statement's result.
pub struct Chunk<'a> {
    /// Column names.
    pub columns: &'a [String],
    /// Their types.
    pub types: &'a [String],
    /// The next rows (at most the chunk size).
    pub rows: Vec<Vec<serde_json::Value>>,
    /// No rows follow.
    pub last: bool,
}

/// Bytes of (estimated) JSON after which a chunk is cut, however few rows it has: rows
/// of wide text or JSON cells must not make a chunk of gigabytes.
pub const CHUNK_BYTES: usize = 8 << 20;

/// Run one statement and hand its result to `sink` `size` rows (or [`CHUNK_BYTES`]) at a
/// time, reading the next rows only when `sink` returns true: DuckDB streams the result,
/// so memory stays bounded by one chunk whatever the result's size. A statement without
/// columns (DDL run as a batch) calls `sink` never; otherwise it is called at least once.
pub fn query_chunks(
    conn: &duckdb::Connection,
    sql: &str,
    size: usize,
    mut sink: impl FnMut(Chunk<'_>) -> bool,
) -> Result<(), duckdb::Error> {
    let mut stmt = match conn.prepare(sql) {
        Ok(stmt) => stmt,
        Err(e)
            if e.to_string().contains("multiple statements")
                || e.to_string().contains("more than one statement") =>
        {
            conn.execute_batch(sql)?;
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    // Execute as a streaming result, then read it row by row: chunks are fetched from
    // DuckDB as the rows are read, never all at once.
    drop(stmt.stream_arrow([])?);
    let mut rows = stmt.raw_query();
    let (columns, types, nulls) = rows.as_ref().map(result_shape).unwrap_or_default();
    if columns.is_empty() {
        return Ok(());
    }
    loop {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut done = false;
        while out.len() < size && bytes < CHUNK_BYTES {
            let Some(row) = rows.next()? else {
                done = true;
                break;
            };
            let cells = read_row(row, &nulls)?;
            bytes += cells.iter().map(approx_json_len).sum::<usize>();
            out.push(cells);
        }
        let chunk = Chunk {
            columns: &columns,
            types: &types,
            rows: out,
            last: done,
        };
        if !sink(chunk) || done {
            return Ok(());
        }
    }
}

/// A result's column names, type names, and which columns are of type NULL.
fn result_shape(s: &duckdb::Statement<'_>) -> (Vec<String>, Vec<String>, Vec<bool>) {
    let n = s.column_count();
    let names: Vec<String> = s
        .column_names()
        .into_iter()
        .map(|c| {
            if c == "count_star()" {
                "count".to_string()
            } else {
                c
            }
        })
        .collect();
    let arrow: Vec<_> = (0..n).map(|i| s.column_type(i)).collect();
    let types: Vec<String> = arrow.iter().map(type_name).collect();
    // duckdb-rs cannot read a column of type NULL (`select NULL`).
    let nulls: Vec<bool> = arrow
        .iter()
        .map(|t| matches!(t, duckdb::arrow::datatypes::DataType::Null))
        .collect();
    (names, types, nulls)
}

/// One row's cells as JSON values.
fn read_row(
    row: &duckdb::Row<'_>,
    nulls: &[bool],
) -> Result<Vec<serde_json::Value>, duckdb::Error> {
    let mut cells = Vec::with_capacity(nulls.len());
    for (i, is_null) in nulls.iter().enumerate() {
        if *is_null {
            cells.push(serde_json::Value::Null);
            continue;
        }
        let v: duckdb::types::Value = row.get(i)?;
        cells.push(crate::values::to_json(v));
    }
    Ok(cells)
}

/// About how many bytes `v` takes as JSON (cheap: no serialization).
fn approx_json_len(v: &serde_json::Value) -> usize {
    use serde_json::Value as V;
    match v {
        V::Null | V::Bool(_) => 5,
        V::Number(_) => 12,
        V::String(s) => s.len() + 2,
        V::Array(items) => 2 + items.iter().map(approx_json_len).sum::<usize>(),
        V::Object(map) => {
            2 + map
                .iter()
                .map(|(k, v)| k.len() + 4 + approx_json_len(v))
                .sum::<usize>()
        }
    }
}

fn type_name(t: &duckdb::arrow::datatypes::DataType) -> String {
    use duckdb::arrow::datatypes::DataType as D;
    match t {
        D::Boolean => "BOOLEAN",
        D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64 => {
            "BIGINT"
        }
        D::Float16 | D::Float32 | D::Float64 => "DOUBLE",
        D::Decimal128(..) | D::Decimal256(..) => "DECIMAL",
        D::Date32 | D::Date64 => "DATE",
        D::Timestamp(..) => "TIMESTAMP",
        _ => "VARCHAR",
    }
    .to_string()
}

/// Runs `sql@(…)` queries that read no table (computed values such as dates) in a
/// scratch in-memory database: for testing a connection and `spec check --live`,
/// where no warehouse is involved.
pub struct ScratchSql {
    conn: duckdb::Connection,
}

impl ScratchSql {
    /// A fresh in-memory database.
    pub fn new() -> Result<ScratchSql, String> {
        duckdb::Connection::open_in_memory()
            .map(|conn| ScratchSql { conn })
            .map_err(|e| e.to_string())
    }
}

impl SqlSource for ScratchSql {
    fn rows(&self, sql: &str) -> Result<Vec<Vec<serde_json::Value>>, String> {
        query(&self.conn, sql)
            .map(|t| t.map(|t| t.rows).unwrap_or_default())
            .map_err(|e| e.to_string())
    }
}

/// Runs `sql@(…)` queries with the connection's schema first on the search path.
pub struct SchemaSql<'a> {
    conn: &'a Connection,
    schema: &'a str,
    parents: &'a [String],
}

impl<'a> SchemaSql<'a> {
    /// Queries on `conn` (which this source then owns: it sets its search path) for a
    /// load of `schema` whose `sql@` params read the tables `parents`.
    pub fn new(conn: &'a Connection, schema: &'a str, parents: &'a [String]) -> SchemaSql<'a> {
        SchemaSql {
            conn,
            schema,
            parents,
        }
    }

    /// True for a table that loaded no rows (created with only `_unify_empty`).
    fn is_placeholder(&self, table: &str) -> bool {
        super::table_columns(self.conn, self.schema, table)
            .map(|cols| cols.len() == 1 && cols[0].name == EMPTY_MARKER)
            .unwrap_or(false)
    }
}

impl SqlSource for SchemaSql<'_> {
    fn rows(&self, sql: &str) -> Result<Vec<Vec<serde_json::Value>>, String> {
        // This connection serves only this load's params, so the search path is set
        // and left as is (RESET would point it at the in-memory default catalog). The
        // schema may not exist yet when the first table of a connection loads.
        self.conn
            .execute_batch(&format!(
                "CREATE SCHEMA IF NOT EXISTS {}; SET search_path = {}",
                quote_ident(self.schema),
                super::quote_literal(&format!("{},main", self.schema))
            ))
            .map_err(|e| e.to_string())?;
        match query(self.conn, sql) {
            Ok(t) => Ok(t.map(|t| t.rows).unwrap_or_default()),
            // A parent that loaded no rows has no real columns (only `_unify_empty`):
            // the query cannot bind, and its children get no parameter values.
            Err(e)
                if e.to_string().contains("Binder Error")
                    && self.parents.iter().any(|p| self.is_placeholder(p)) =>
            {
                tracing::info!(error = %e, "sql@ over an empty parent table: no values");
                Ok(Vec::new())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}
