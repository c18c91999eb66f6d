//! `unify.tables`: which tables exist, their columns, and swapping a load's staging
//! table in (or merging a refresh) in one transaction with the table's record.

use super::jobs::{job_done_sql, JobRecord};
use super::staging::Staged;
use super::{qualified, quote_ident, quote_literal, Context, WarehouseError, EMPTY_MARKER};
use crate::loading::flatten::Column;
use crate::loading::types::ColType;
use duckdb::{params, Connection};

/// True when `schema.table` exists as a table or view.
pub fn relation_exists(
    conn: &Connection,
    schema: &str,
    table: &str,
) -> Result<bool, WarehouseError> {
    conn.query_row(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        params![schema, table],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
    .ctx(|| format!("checking {schema}.{table}"))
}

/// Columns of an existing table, in order.
pub fn table_columns(
    conn: &Connection,
    schema: &str,
    table: &str,
) -> Result<Vec<Column>, WarehouseError> {
    let mut stmt = conn
        .prepare(
            "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ? order by ordinal_position",
        )
        .ctx(|| format!("reading columns of {schema}.{table}"))?;
    let rows = stmt
        .query_map(params![schema, table], |r| {
            Ok(Column {
                name: r.get(0)?,
                ty: ColType::from_sql(&r.get::<_, String>(1)?),
            })
        })
        .ctx(|| format!("reading columns of {schema}.{table}"))?;
    Ok(rows.filter_map(Result::ok).collect())
}

/// What a completed load records about its table.
#[derive(Debug, Clone)]
pub struct TableRecord {
    /// Schema.
    pub schema: String,
    /// Table.
    pub table: String,
    /// `connector`, `file` or `view`.
    pub kind: String,
    /// Connector (spec) name, for connector tables.
    pub connector: Option<String>,
    /// Description from the spec.
    pub description: Option<String>,
    /// Where the data came from (URL path or file).
    pub source: Option<String>,
    /// When the scan started (µs since epoch).
    pub started_us: i64,
    /// When the scan ended (µs since epoch).
    pub ended_us: i64,
    /// True for a refresh (vs. a full load).
    pub is_refresh: bool,
}

/// Swap a staging table in place of `schema.table` in one transaction, recording the
/// table's state and the job's success with it. With no staged rows the table becomes
/// empty (keeping its previous columns when it had any).
pub fn swap_in(
    conn: &Connection,
    staged: &Staged,
    record: &TableRecord,
    job: &JobRecord,
) -> Result<u64, WarehouseError> {
    let target = qualified(&record.schema, &record.table);
    let exists = relation_exists(conn, &record.schema, &record.table)?;
    let mut sql = String::from("BEGIN TRANSACTION;\n");
    sql.push_str(&format!(
        "CREATE SCHEMA IF NOT EXISTS {};\n",
        quote_ident(&record.schema)
    ));
    match &staged.staging {
        Some(staging) => {
            sql.push_str(&format!("DROP TABLE IF EXISTS {target};\n"));
            sql.push_str(&format!(
                "ALTER TABLE {} RENAME TO {};\n",
                qualified(&record.schema, staging),
                quote_ident(&record.table)
            ));
        }
        None if exists => {
            sql.push_str(&format!("DELETE FROM {target};\n"));
        }
        None => {
            sql.push_str(&format!(
                "CREATE TABLE {target} ({EMPTY_MARKER} VARCHAR);\n"
            ));
        }
    }
    sql.push_str(&record_sql(record, staged.rows));
    sql.push_str(&job_done_sql(job, staged.rows));
    sql.push_str("COMMIT;");
    if let Err(e) = conn.execute_batch(&sql) {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(WarehouseError {
            context: format!("swapping in the new {}.{}", record.schema, record.table),
            source: e,
        });
    }
    Ok(staged.rows)
}

/// Merge a staging table into `schema.table` by `keys` in one transaction: new columns
/// are added, wider types applied, rows with a fetched key replaced (the last fetched
/// row per key wins), new rows inserted. Returns the rows merged.
pub fn merge_in(
    conn: &Connection,
    staged: &Staged,
    keys: &[String],
    record: &TableRecord,
    job: &JobRecord,
) -> Result<u64, WarehouseError> {
    let target = qualified(&record.schema, &record.table);
    let mut sql = String::from("BEGIN TRANSACTION;\n");
    if let Some(staging) = &staged.staging {
        let src = qualified(&record.schema, staging);
        check_keys(conn, staged, keys, &src, record)?;
        let existing = table_columns(conn, &record.schema, &record.table)?;
        sql.push_str(&align_columns_sql(&target, &existing, &staged.columns));
        let key_list = keys
            .iter()
            .map(|k| quote_ident(k))
            .collect::<Vec<_>>()
            .join(", ");
        sql.push_str(&format!(
            "DELETE FROM {target} WHERE ({key_list}) IN (SELECT ({key_list}) FROM {src});\n"
        ));
        sql.push_str(&format!(
            "INSERT INTO {target} BY NAME SELECT * EXCLUDE (_unify_rn) FROM (SELECT *, row_number() OVER (PARTITION BY {key_list} ORDER BY rowid DESC) AS _unify_rn FROM {src}) WHERE _unify_rn = 1;\n"
        ));
        sql.push_str(&format!("DROP TABLE {src};\n"));
    }
    let total_rows = format!("(SELECT count(*) FROM {target})");
    sql.push_str(&record_sql_expr(record, &total_rows));
    sql.push_str(&job_done_sql(job, staged.rows));
    sql.push_str("COMMIT;");
    if let Err(e) = conn.execute_batch(&sql) {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(WarehouseError {
            context: format!("merging the refresh of {}.{}", record.schema, record.table),
            source: e,
        });
    }
    Ok(staged.rows)
}

/// Every fetched row of a refresh must have a value in each key column, or the merge
/// could not match it and would add it again on every refresh. (The staging table
/// starts from the target's columns, so a key column always exists there.)
fn check_keys(
    conn: &Connection,
    staged: &Staged,
    keys: &[String],
    src: &str,
    record: &TableRecord,
) -> Result<(), WarehouseError> {
    for key in keys {
        let missing: i64 = if staged.columns.iter().any(|c| &c.name == key) {
            conn.query_row(
                &format!("SELECT count(*) - count({}) FROM {src}", quote_ident(key)),
                [],
                |r| r.get(0),
            )
            .ctx(|| format!("checking the key column '{key}'"))?
        } else {
            staged.rows as i64
        };
        if missing > 0 {
            let what = if missing as u64 == staged.rows {
                "is not in the fetched rows".to_string()
            } else {
                format!(
                    "has no value in {missing} of the {} fetched rows",
                    staged.rows
                )
            };
            return Err(WarehouseError {
                context: format!(
                    "refreshing {}.{}: the key column '{key}' {what}",
                    record.schema, record.table
                ),
                source: duckdb::Error::InvalidParameterName(key.clone()),
            });
        }
    }
    Ok(())
}

/// `ALTER TABLE` statements that give `target` every staged column, widened to hold
/// both the old and the new values.
fn align_columns_sql(target: &str, existing: &[Column], staged: &[Column]) -> String {
    let mut sql = String::new();
    for col in staged {
        match existing
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(&col.name))
        {
            None => sql.push_str(&format!(
                "ALTER TABLE {target} ADD COLUMN {} {};\n",
                quote_ident(&col.name),
                col.ty.sql()
            )),
            Some(old) => {
                let wide = old.ty.widen(col.ty);
                if wide.sql() != old.ty.sql() {
                    sql.push_str(&format!(
                        "ALTER TABLE {target} ALTER COLUMN {} TYPE {};\n",
                        quote_ident(&old.name),
                        wide.sql()
                    ));
                }
            }
        }
    }
    sql
}

fn record_sql(record: &TableRecord, rows: u64) -> String {
    record_sql_expr(record, &rows.to_string())
}

fn record_sql_expr(record: &TableRecord, rows_expr: &str) -> String {
    let opt = |v: &Option<String>| {
        v.as_deref()
            .map(quote_literal)
            .unwrap_or_else(|| "NULL".into())
    };
    let (load_start, load_end, refresh_start, refresh_end) = if record.is_refresh {
        (
            "(SELECT last_load_start FROM prev)".to_string(),
            "(SELECT last_load_end FROM prev)".to_string(),
            format!("make_timestamp({})", record.started_us),
            format!("make_timestamp({})", record.ended_us),
        )
    } else {
        (
            format!("make_timestamp({})", record.started_us),
            format!("make_timestamp({})", record.ended_us),
            "NULL".to_string(),
            "NULL".to_string(),
        )
    };
    let s = quote_literal(&record.schema);
    let t = quote_literal(&record.table);
    format!(
        "CREATE OR REPLACE TEMP TABLE prev AS SELECT * FROM unify.tables WHERE schema_name = {s} AND table_name = {t};\n\
         DELETE FROM unify.tables WHERE schema_name = {s} AND table_name = {t};\n\
         INSERT INTO unify.tables VALUES ({s}, {t}, {kind}, {connector}, {desc}, {source}, {rows_expr}, {load_start}, {load_end}, {refresh_start}, {refresh_end});\n\
         DROP TABLE prev;\n",
        kind = quote_literal(&record.kind),
        connector = opt(&record.connector),
        desc = opt(&record.description),
        source = opt(&record.source),
    )
}

/// The start of the last successful scan (load or refresh) of a table, in µs.
pub fn last_scan_start(
    conn: &Connection,
    schema: &str,
    table: &str,
) -> Result<Option<i64>, WarehouseError> {
    let mut stmt = conn
        .prepare(
            "SELECT epoch_us(greatest(coalesce(last_refresh_start, last_load_start), last_load_start)) FROM unify.tables WHERE schema_name = ? AND table_name = ?",
        )
        .ctx(|| "reading load state".into())?;
    let mut rows = stmt
        .query(params![schema, table])
        .ctx(|| "reading load state".into())?;
    match rows.next().ctx(|| "reading load state".into())? {
        Some(row) => Ok(row
            .get::<_, Option<i64>>(0)
            .ctx(|| "reading load state".into())?),
        None => Ok(None),
    }
}

/// Forget a table's bookkeeping row (after `drop table`).
pub fn forget_table(conn: &Connection, schema: &str, table: &str) -> Result<(), WarehouseError> {
    conn.execute(
        "DELETE FROM unify.tables WHERE schema_name = ? AND table_name = ?",
        params![schema, table],
    )
    .map(|_| ())
    .ctx(|| format!("forgetting {schema}.{table}"))
}

/// `CREATE OR REPLACE VIEW schema.name AS query` (a trailing `;` is dropped).
pub fn create_view(
    conn: &Connection,
    schema: &str,
    name: &str,
    query: &str,
) -> Result<(), WarehouseError> {
    conn.execute_batch(&format!(
        "CREATE OR REPLACE VIEW {} AS {}",
        qualified(schema, name),
        query.trim().trim_end_matches(';')
    ))
    .ctx(|| format!("creating view {schema}.{name}"))
}

/// Drop a connection's schema with all its tables, and their records.
pub fn drop_schema(conn: &Connection, schema: &str) -> Result<(), WarehouseError> {
    conn.execute_batch(&format!(
        "DROP SCHEMA IF EXISTS {} CASCADE; DELETE FROM unify.tables WHERE schema_name = {};",
        quote_ident(schema),
        quote_literal(schema)
    ))
    .ctx(|| format!("dropping schema {schema}"))
}
