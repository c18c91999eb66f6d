//! Pages → a DuckDB staging table, through the Appender.
//!
//! The [`StagingWriter`] creates the staging table from the first page's columns, adds
//! columns that appear later (`ALTER TABLE … ADD COLUMN`), widens types in place
//! (`ALTER COLUMN … TYPE`), then appends each page in bulk. Only the current page is
//! held in memory. Swapping the staging table in (or merging it) is the warehouse's
//! job, in one transaction.

use super::quote_ident;
use crate::adapters::rest::{FetchedPage, Records};
use crate::loading::flatten::{Column, Flattener};
use crate::loading::types::{Cell, ColType};
use duckdb::Connection;

/// Prefix of staging tables; leftovers from a crash are dropped at start-up.
pub const STAGING_PREFIX: &str = "_unify_staging_";

/// The staging table of one load of `table` (`tag` = the job id).
pub fn staging_name(table: &str, tag: &str) -> String {
    let tag: String = tag
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(12)
        .collect();
    format!("{STAGING_PREFIX}{table}_{tag}")
}

/// Why a page could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing {table}: {message}")]
pub struct WriteError {
    /// The table being written.
    pub table: String,
    /// DuckDB's message.
    pub message: String,
}

/// The result of a completed staging write.
#[derive(Debug, Clone)]
pub struct Staged {
    /// Schema of the staging table.
    pub schema: String,
    /// Name of the staging table (`None` when no row arrived).
    pub staging: Option<String>,
    /// Columns, in table order.
    pub columns: Vec<Column>,
    /// Rows written.
    pub rows: u64,
}

/// Writes pages of one load into a staging table.
pub struct StagingWriter<'c> {
    conn: &'c Connection,
    schema: String,
    table: String,
    staging: String,
    flattener: Flattener,
    /// Column types as they exist in the database (index = column).
    db_types: Vec<ColType>,
    created: bool,
    rows: u64,
    /// One appender for the whole load; closed only around schema changes.
    appender: Option<duckdb::Appender<'c>>,
    /// Rows appended since the last flush (into the load's transaction).
    unflushed: u64,
}

/// Rows buffered in the appender before they go to the transaction's storage.
pub const FLUSH_ROWS: u64 = 2_048;

impl<'c> StagingWriter<'c> {
    /// A writer for `schema.table`; `tag` (the job id) makes the staging name unique.
    pub fn new(
        conn: &'c Connection,
        schema: &str,
        table: &str,
        tag: &str,
        flattener: Flattener,
    ) -> Self {
        StagingWriter {
            conn,
            schema: schema.to_string(),
            table: table.to_string(),
            staging: staging_name(table, tag),
            flattener,
            db_types: Vec::new(),
            created: false,
            rows: 0,
            appender: None,
            unflushed: 0,
        }
    }

    /// Flatten and append one page; returns the rows written.
    pub fn write_page(&mut self, page: FetchedPage) -> Result<u64, WriteError> {
        let mut rows = Vec::with_capacity(page.records.len());
        match page.records {
            Records::Values(records) => {
                for record in records {
                    rows.push(self.flattener.row(record, page.flatten));
                }
            }
            Records::Raw {
                body,
                ranges,
                extra,
            } => {
                for range in ranges {
                    let row = self
                        .flattener
                        .row_from_json(&body[range], &extra)
                        .map_err(|e| WriteError {
                            table: format!("{}.{}", self.schema, self.table),
                            message: format!("a record is not valid JSON: {e}"),
                        })?;
                    rows.push(row);
                }
            }
        }
        self.write_rows(rows)
    }

    /// Warnings the flattener raised since the last call (name collisions, fields
    /// stored as JSON, the column cap): the load records them in `unify.loading_log`.
    pub fn take_warnings(&mut self) -> Vec<String> {
        let table = format!("{}.{}", self.schema, self.table);
        self.flattener
            .take_warnings()
            .into_iter()
            .map(|w| format!("{table}: {w}"))
            .collect()
    }

    /// Append rows already flattened by this writer's flattener.
    fn write_rows(&mut self, rows: Vec<Vec<Cell>>) -> Result<u64, WriteError> {
        if rows.is_empty() {
            return Ok(0);
        }
        if self.schema_changes() {
            // Rows buffered for the old shape go in before the table changes.
            self.flush()?;
            self.appender = None;
            self.sync_schema()?;
        }
        let types: Vec<ColType> = self.flattener.columns().iter().map(|c| c.ty).collect();
        let width = types.len();
        if self.appender.is_none() {
            let appender = self
                .conn
                .appender_to_db(&self.staging, &self.schema)
                .map_err(|e| self.err(e))?;
            self.appender = Some(appender);
        }
        let qualified = format!("{}.{}", self.schema, self.table);
        let appender = self.appender.as_mut().expect("opened above");
        let n = rows.len() as u64;
        let mut buf: Vec<Cell> = Vec::with_capacity(width);
        for row in rows {
            buf.clear();
            for (i, cell) in row.into_iter().enumerate() {
                buf.push(cell.coerce(types[i]));
            }
            buf.resize(width, Cell::Null);
            appender
                .append_row(duckdb::appender_params_from_iter(buf.iter()))
                .map_err(|e| WriteError {
                    table: qualified.clone(),
                    message: e.to_string(),
                })?;
        }
        self.rows += n;
        self.unflushed += n;
        if self.unflushed >= FLUSH_ROWS {
            self.flush()?;
        }
        Ok(n)
    }

    /// Commit the rows buffered in the appender.
    fn flush(&mut self) -> Result<(), WriteError> {
        if let Some(appender) = self.appender.as_mut() {
            if self.unflushed > 0 {
                appender.flush().map_err(|e| WriteError {
                    table: format!("{}.{}", self.schema, self.table),
                    message: e.to_string(),
                })?;
            }
        }
        self.unflushed = 0;
        Ok(())
    }

    /// True when the table must be created or altered for the columns seen so far.
    fn schema_changes(&self) -> bool {
        let columns = self.flattener.columns();
        !self.created
            || columns.len() != self.db_types.len()
            || columns
                .iter()
                .zip(&self.db_types)
                .any(|(c, t)| c.ty.sql() != t.sql())
    }

    /// Create the staging table, or bring it up to date with new columns and widened
    /// types.
    fn sync_schema(&mut self) -> Result<(), WriteError> {
        let columns = self.flattener.columns().to_vec();
        let staging = format!(
            "{}.{}",
            quote_ident(&self.schema),
            quote_ident(&self.staging)
        );
        if !self.created {
            let defs: Vec<String> = columns
                .iter()
                .map(|c| format!("{} {}", quote_ident(&c.name), c.ty.sql()))
                .collect();
            // The whole load is one transaction: DuckDB writes full row groups straight
            // to the database file instead of through the write-ahead log, memory stays
            // bounded, and a failed or killed load leaves nothing behind.
            crate::warehouse::ensure_schema(self.conn, &self.schema).map_err(|e| WriteError {
                table: format!("{}.{}", self.schema, self.table),
                message: e.to_string(),
            })?;
            let sql = format!(
                "BEGIN TRANSACTION; DROP TABLE IF EXISTS {staging}; CREATE TABLE {staging} ({})",
                defs.join(", ")
            );
            if let Err(e) = self.conn.execute_batch(&sql) {
                let _ = self.conn.execute_batch("ROLLBACK");
                return Err(self.err(e));
            }
            self.db_types = columns.iter().map(|c| c.ty).collect();
            self.created = true;
            return Ok(());
        }
        let mut ddl = String::new();
        for (i, c) in columns.iter().enumerate() {
            match self.db_types.get(i) {
                None => {
                    ddl.push_str(&format!(
                        "ALTER TABLE {staging} ADD COLUMN {} {};",
                        quote_ident(&c.name),
                        c.ty.sql()
                    ));
                    self.db_types.push(c.ty);
                }
                Some(&old) if old.sql() != c.ty.sql() => {
                    tracing::info!(table = %self.table, column = %c.name, from = old.sql(), to = c.ty.sql(), "widening column");
                    ddl.push_str(&format!(
                        "ALTER TABLE {staging} ALTER COLUMN {} TYPE {};",
                        quote_ident(&c.name),
                        c.ty.sql()
                    ));
                    self.db_types[i] = c.ty;
                }
                Some(_) => {
                    self.db_types[i] = c.ty;
                }
            }
        }
        if !ddl.is_empty() {
            self.conn.execute_batch(&ddl).map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Columns registered so far.
    pub fn columns(&self) -> &[Column] {
        self.flattener.columns()
    }

    /// Finish: commit what is buffered; the staging table's name, columns and rows.
    pub fn finish(mut self) -> Result<Staged, WriteError> {
        if let Err(e) = self.flush() {
            self.abandon();
            return Err(e);
        }
        self.appender = None;
        if self.created {
            self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))?;
        }
        Ok(Staged {
            schema: self.schema.clone(),
            staging: self.created.then(|| self.staging.clone()),
            columns: self.flattener.columns().to_vec(),
            rows: self.rows,
        })
    }

    /// Drop the staging table (a failed or cancelled load).
    pub fn abandon(mut self) {
        self.appender = None;
        if self.created {
            // The staging table was created in the load's transaction: it goes with it.
            if let Err(e) = self.conn.execute_batch("ROLLBACK") {
                tracing::warn!(error = %e, "could not roll back the staging table");
            }
        }
    }

    fn err(&self, e: duckdb::Error) -> WriteError {
        WriteError {
            table: format!("{}.{}", self.schema, self.table),
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loading::flatten::Shape;
    use serde_json::json;

    fn page(records: Vec<serde_json::Value>) -> FetchedPage {
        FetchedPage {
            records: Records::Values(records),
            flatten: true,
        }
    }

    fn file_db(dir: &tempfile::TempDir) -> Connection {
        Connection::open(dir.path().join("w.duckdb")).unwrap()
    }

    fn exists(conn: &Connection, table: &str) -> bool {
        conn.query_row(
            "select count(*) from information_schema.tables where table_name = ?",
            [table],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
            > 0
    }

    #[test]
    fn the_staging_table_is_invisible_until_finish_and_rolled_back_by_abandon() {
        let dir = tempfile::tempdir().unwrap();
        let conn = file_db(&dir);
        let other = conn.try_clone().unwrap();
        let staging = staging_name("t", "job1");
        let mut w = StagingWriter::new(&conn, "s", "t", "job1", Flattener::new(Shape::default()));
        w.write_page(page(vec![json!({"id": 1})])).unwrap();
        assert!(
            !exists(&other, &staging),
            "another connection sees nothing yet"
        );
        w.abandon();
        assert!(!exists(&conn, &staging), "rolled back");
        // No transaction is left open on the connection.
        conn.execute_batch("BEGIN TRANSACTION; COMMIT").unwrap();

        let mut w = StagingWriter::new(&conn, "s", "t", "job2", Flattener::new(Shape::default()));
        w.write_page(page(vec![json!({"id": 1})])).unwrap();
        let staged = w.finish().unwrap();
        assert!(exists(&other, staged.staging.as_deref().unwrap()));
    }

    #[test]
    fn columns_added_and_widened_after_a_full_row_group_keep_every_row() {
        // DuckDB writes a transaction's full row groups (122,880 rows) to the file before
        // commit; the schema changes after that must still carry those rows.
        let dir = tempfile::tempdir().unwrap();
        let conn = file_db(&dir);
        let mut w = StagingWriter::new(&conn, "s", "t", "job1", Flattener::new(Shape::default()));
        let n: i64 = 130_000;
        for start in (0..n).step_by(1000) {
            w.write_page(page(
                (start..start + 1000)
                    .map(|i| json!({"id": i, "name": format!("n{i}")}))
                    .collect(),
            ))
            .unwrap();
        }
        w.write_page(page(vec![json!({"id": "last", "extra": 1.5})]))
            .unwrap();
        let staged = w.finish().unwrap();
        let table = format!("s.{}", staged.staging.unwrap());
        let (rows, ids, extras, name_5): (i64, i64, i64, String) = conn
            .query_row(
                &format!("select count(*), count(id), count(extra), max(name) filter (where id = '5') from {table}"),
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!((rows, ids, extras), (n + 1, n + 1, 1));
        assert_eq!(name_5, "n5");
        let id_type: String = conn
            .query_row(
                "select data_type from information_schema.columns where column_name = 'id'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(id_type, "VARCHAR");
    }

    #[test]
    fn drift_across_pages_keeps_every_row_and_widens() {
        let conn = Connection::open_in_memory().unwrap();
        let mut w = StagingWriter::new(&conn, "s", "t", "job1", Flattener::new(Shape::default()));
        w.write_page(page(vec![
            json!({"id": 1, "n": 1}),
            json!({"id": 2, "n": 2}),
        ]))
        .unwrap();
        w.write_page(page(vec![json!({"id": 3, "n": 3, "extra": "new"})]))
            .unwrap();
        w.write_page(page(vec![
            json!({"id": 4, "n": "four", "when": "2024-05-01T10:00:00Z"}),
        ]))
        .unwrap();
        let staged = w.finish().unwrap();
        assert_eq!(staged.rows, 4);
        let table = format!("s.{}", staged.staging.unwrap());
        let types: Vec<(String, String)> = conn
            .prepare(&format!("select column_name, data_type from information_schema.columns where table_schema = 's' and table_name = '{}' order by ordinal_position", table.trim_start_matches("s.")))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            types,
            [
                ("id".into(), "BIGINT".into()),
                ("n".into(), "VARCHAR".into()),
                ("extra".into(), "VARCHAR".into()),
                ("when".into(), "TIMESTAMP".into())
            ]
        );
        let ns: Vec<Option<String>> = conn
            .prepare(&format!("select n from {table} order by id"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            ns,
            [
                Some("1".into()),
                Some("2".into()),
                Some("3".into()),
                Some("four".into())
            ]
        );
    }
}
