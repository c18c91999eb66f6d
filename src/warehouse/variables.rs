//! Stored `$variables`: global (ALL-CAPS) ones persist in `unify.variables`, a query
//! result as table `unify."var_<NAME>"`; a session's query results live in temp tables
//! `temp."var_<name>"` that end with its connection.

use super::ident::{quote_ident, quote_literal};
use duckdb::Connection;
use serde_json::Value;

/// What a variable holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    /// A single value.
    Scalar(Value),
    /// A query result, in the table of this (qualified, quoted) name.
    Table(String),
}

/// The table holding a global variable's query result.
pub fn global_table(name: &str) -> String {
    format!("unify.{}", quote_ident(&format!("var_{name}")))
}

/// The temp table holding a session variable's query result.
pub fn session_table(name: &str) -> String {
    format!("temp.{}", quote_ident(&format!("var_{name}")))
}

/// A stored scalar is JSON text; text that is not JSON (older homes) is a string.
fn scalar(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// A global variable, if it is set.
pub fn global(conn: &Connection, name: &str) -> Result<Option<Stored>, duckdb::Error> {
    let mut stmt = conn.prepare("SELECT value, is_table FROM unify.variables WHERE name = ?")?;
    let mut rows = stmt.query([name])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let is_table: bool = row.get(1)?;
    Ok(Some(if is_table {
        Stored::Table(global_table(name))
    } else {
        Stored::Scalar(scalar(row.get(0)?))
    }))
}

/// Every global variable, by name.
pub fn globals(conn: &Connection) -> Result<Vec<(String, Stored)>, duckdb::Error> {
    let mut stmt =
        conn.prepare("SELECT name, value, is_table FROM unify.variables ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, bool>(2)?,
        ))
    })?;
    rows.map(|row| {
        let (name, value, is_table) = row?;
        let stored = if is_table {
            Stored::Table(global_table(&name))
        } else {
            Stored::Scalar(scalar(value.unwrap_or_default()))
        };
        Ok((name, stored))
    })
    .collect()
}

/// Set a global variable to a value (replacing a query result it held).
pub fn set_global_scalar(
    conn: &Connection,
    name: &str,
    value: &Value,
) -> Result<(), duckdb::Error> {
    in_transaction(conn, &format!(
        "BEGIN; DELETE FROM unify.variables WHERE name = {n}; INSERT INTO unify.variables VALUES ({n}, {v}, false); DROP TABLE IF EXISTS {t}; COMMIT;",
        n = quote_literal(name),
        v = quote_literal(&value.to_string()),
        t = global_table(name),
    ))
}

/// Run a `BEGIN; …; COMMIT;` batch; when it fails, roll back so the connection is not
/// left inside an aborted transaction.
fn in_transaction(conn: &Connection, batch: &str) -> Result<(), duckdb::Error> {
    conn.execute_batch(batch).inspect_err(|_| {
        let _ = conn.execute_batch("ROLLBACK");
    })
}

/// Store `query`'s result as the variable's table (global: persisted; otherwise a temp
/// table of this connection); returns the table's name. On failure nothing changes.
pub fn set_table(
    conn: &Connection,
    name: &str,
    query: &str,
    global: bool,
) -> Result<String, duckdb::Error> {
    let (table, create) = if global {
        let table = global_table(name);
        let create = format!(
            "BEGIN; CREATE OR REPLACE TABLE {table} AS {query}; DELETE FROM unify.variables WHERE name = {n}; INSERT INTO unify.variables VALUES ({n}, NULL, true); COMMIT;",
            n = quote_literal(name)
        );
        (table, create)
    } else {
        let create = format!(
            "CREATE OR REPLACE TEMP TABLE {} AS {query}",
            quote_ident(&format!("var_{name}"))
        );
        (session_table(name), create)
    };
    if global {
        in_transaction(conn, &create)?;
    } else {
        conn.execute_batch(&create)?;
    }
    Ok(table)
}

/// Drop a session variable's temp table (if it had one).
pub fn drop_session_table(conn: &Connection, name: &str) -> Result<(), duckdb::Error> {
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS {}",
        quote_ident(&format!("var_{name}"))
    ))
}

/// Forget a global variable and its table.
pub fn unset_global(conn: &Connection, name: &str) -> Result<(), duckdb::Error> {
    conn.execute_batch(&format!(
        "DELETE FROM unify.variables WHERE name = {}; DROP TABLE IF EXISTS {};",
        quote_literal(name),
        global_table(name)
    ))
}
