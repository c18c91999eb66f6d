//! Files in and out of the warehouse: an import (a table from a DuckDB file reader, with
//! its `unify.file_imports` and `unify.tables` records, in one transaction), where an
//! imported table came from, and an export (`COPY … TO`).

use super::{qualified, quote_ident, quote_literal};
use duckdb::Connection;

/// One file import, described.
#[derive(Debug, Clone)]
pub struct FileImport<'a> {
    /// Target schema (created when missing).
    pub schema: &'a str,
    /// Target table.
    pub table: &'a str,
    /// The DuckDB reader expression (`read_csv(…)`, `read_parquet(…)`…).
    pub reader: &'a str,
    /// Add the rows to the existing table (by column name) instead of replacing it.
    pub append: bool,
    /// The source as stored (a URL without its query string or credentials).
    pub source: &'a str,
    /// The format's name.
    pub format: &'a str,
    /// Reader options as JSON (what `reload` needs to read it again).
    pub options_json: &'a str,
    /// When the import started (µs since the epoch).
    pub started_us: i64,
}

/// Import a file in one transaction (rolled back on error). Returns the table's rows
/// and columns.
pub fn import(conn: &Connection, import: &FileImport<'_>) -> Result<(i64, i64), duckdb::Error> {
    let target = qualified(import.schema, import.table);
    let write = match import.append {
        true => format!(
            "INSERT INTO {target} BY NAME SELECT * FROM {};",
            import.reader
        ),
        false => format!(
            "CREATE OR REPLACE TABLE {target} AS SELECT * FROM {};",
            import.reader
        ),
    };
    let sql = format!(
        "BEGIN; CREATE SCHEMA IF NOT EXISTS {sch}; {write}
         DELETE FROM unify.file_imports WHERE schema_name = {ls} AND table_name = {lt};
         INSERT INTO unify.file_imports VALUES ({ls}, {lt}, {src}, {fmt}, {opts});
         DELETE FROM unify.tables WHERE schema_name = {ls} AND table_name = {lt};
         INSERT INTO unify.tables VALUES ({ls}, {lt}, 'file', NULL, NULL, {src}, (SELECT count(*) FROM {target}), make_timestamp({started}), now()::TIMESTAMP, NULL, NULL);
         COMMIT;",
        sch = quote_ident(import.schema),
        ls = quote_literal(import.schema),
        lt = quote_literal(import.table),
        src = quote_literal(import.source),
        fmt = quote_literal(import.format),
        opts = quote_literal(import.options_json),
        started = import.started_us,
    );
    if let Err(e) = conn.execute_batch(&sql) {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e);
    }
    conn.query_row(
        &format!(
            "select (select count(*) from {target}), (select count(*) from information_schema.columns where table_schema = {} and table_name = {})",
            quote_literal(import.schema),
            quote_literal(import.table)
        ),
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Where `files.<table>` was imported from: (source, format, options JSON).
pub fn imported_from(conn: &Connection, table: &str) -> Option<(String, String, String)> {
    conn.query_row(
        "select source, format, options from unify.file_imports where schema_name = 'files' and table_name = ?",
        [table],
        |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, Option<String>>(2)?.unwrap_or_default())),
    )
    .ok()
}

/// `COPY (query) TO path options`; returns the rows written.
pub fn copy_to(
    conn: &Connection,
    query: &str,
    path: &str,
    options: &str,
) -> Result<usize, duckdb::Error> {
    conn.execute(
        &format!("COPY ({query}) TO {} {options}", quote_literal(path)),
        [],
    )
}
