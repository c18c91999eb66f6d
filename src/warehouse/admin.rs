//! The shell's table administration: `clear`, `drop table`, `drop schema` and `rename`,
//! each keeping unify's bookkeeping (`unify.tables`, `unify.file_imports`) in step with
//! the relation it changes, in the same batch.

use super::ident::{qualified, quote_ident, quote_literal};
use duckdb::Connection;

/// What a relation in the warehouse is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    Table,
    View,
}

impl RelationKind {
    /// The keyword in `DROP …` and `ALTER …`.
    pub fn sql(self) -> &'static str {
        match self {
            RelationKind::Table => "TABLE",
            RelationKind::View => "VIEW",
        }
    }

    /// The word for messages.
    pub fn noun(self) -> &'static str {
        match self {
            RelationKind::Table => "table",
            RelationKind::View => "view",
        }
    }
}

/// Whether `schema.name` is a table or a view (an error when it is neither).
pub fn relation_kind(
    conn: &Connection,
    schema: &str,
    name: &str,
) -> Result<RelationKind, duckdb::Error> {
    let ty: String = conn.query_row(
        "select table_type from information_schema.tables where table_schema = ? and table_name = ?",
        duckdb::params![schema, name],
        |r| r.get(0),
    )?;
    Ok(if ty == "VIEW" {
        RelationKind::View
    } else {
        RelationKind::Table
    })
}

/// Delete every row of a table, keeping the table.
pub fn clear_table(conn: &Connection, schema: &str, name: &str) -> Result<(), duckdb::Error> {
    conn.execute_batch(&format!("DELETE FROM {}", qualified(schema, name)))
}

/// Drop a relation and forget where it came from.
pub fn drop_relation(
    conn: &Connection,
    schema: &str,
    name: &str,
    kind: RelationKind,
) -> Result<(), duckdb::Error> {
    let (s, n) = (quote_literal(schema), quote_literal(name));
    conn.execute_batch(&format!(
        "DROP {} {}; DELETE FROM unify.tables WHERE schema_name = {s} AND table_name = {n}; DELETE FROM unify.file_imports WHERE schema_name = {s} AND table_name = {n}",
        kind.sql(),
        qualified(schema, name),
    ))
}

/// `drop schema` as the user wrote it, then forget the schema's tables. A connection's
/// schema (`recreate`) comes back empty, ready for its next load.
pub fn drop_schema_as_asked(
    conn: &Connection,
    schema: &str,
    if_exists: bool,
    cascade: bool,
    recreate: bool,
) -> Result<(), duckdb::Error> {
    conn.execute_batch(&format!(
        "DROP SCHEMA {}{}{}",
        if if_exists { "IF EXISTS " } else { "" },
        quote_ident(schema),
        if cascade { " CASCADE" } else { "" }
    ))?;
    conn.execute(
        "DELETE FROM unify.tables WHERE schema_name = ?",
        duckdb::params![schema],
    )?;
    if recreate {
        conn.execute_batch(&format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_ident(schema)
        ))?;
    }
    Ok(())
}

/// Rename a relation within its schema, and its record with it.
pub fn rename_relation(
    conn: &Connection,
    schema: &str,
    name: &str,
    kind: RelationKind,
    new_name: &str,
) -> Result<(), duckdb::Error> {
    conn.execute_batch(&format!(
        "ALTER {} {} RENAME TO {}; UPDATE unify.tables SET table_name = {} WHERE schema_name = {} AND table_name = {}",
        kind.sql(),
        qualified(schema, name),
        quote_ident(new_name),
        quote_literal(new_name),
        quote_literal(schema),
        quote_literal(name),
    ))
}
