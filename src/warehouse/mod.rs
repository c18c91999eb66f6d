//! The warehouse: the one owner of the DuckDB database.
//!
//! It opens the file once; every user (the interpreter's sessions, each load) gets its
//! own connection through [`Warehouse::connect`] (`try_clone`), so a query never waits on
//! an unrelated load. It also owns unify's bookkeeping tables in schema `unify`:
//!
//! * `unify.tables` — one row per loaded table: where it came from, rows, last
//!   load/refresh times. Written in the same transaction as the data it describes.
//! * `unify.loading_jobs` / `unify.loading_log` — load history.
//! * `unify.variables` — persisted global (`$ALL_CAPS`) variables.
//! * `unify.file_imports` — where imported tables came from (so `reload` re-reads).
//!
//! Swapping a staging table in and merging an `updates` refresh each happen in one
//! transaction: readers see the old table or the new one, never a partial one.

pub mod admin;
mod catalog;
pub mod files;
mod handle;
mod ident;
pub mod introspect;
mod jobs;
mod memory;
mod run;
pub mod staging;
#[cfg(test)]
mod tests;

pub use catalog::{
    create_view, drop_schema, forget_table, last_scan_start, merge_in, relation_exists, swap_in,
    table_columns, TableRecord,
};
pub use handle::{Commit, ViewDef};
pub use ident::{qualified, quote_ident, quote_literal};
pub use jobs::{job_failed, job_final, job_started, log_line, JobFinal, JobRecord};
pub use memory::{StatementMemory, DEFAULT_MEMORY_LIMIT};
pub use run::{query, query_chunks, Chunk, SchemaSql, ScratchSql, CHUNK_BYTES};

use duckdb::Connection;
use memory::MemoryLimits;
use staging::STAGING_PREFIX;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Errors from the warehouse, with the statement's context.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct WarehouseError {
    /// What was being done.
    pub context: String,
    /// DuckDB's error.
    #[source]
    pub source: duckdb::Error,
}

pub(crate) trait Context<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, WarehouseError>;
}

impl<T> Context<T> for duckdb::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, WarehouseError> {
        self.map_err(|source| WarehouseError {
            context: context(),
            source,
        })
    }
}

/// The only column of a connector table whose load returned no rows.
pub const EMPTY_MARKER: &str = "_unify_empty";

/// The catalog name the warehouse file is attached under.
pub const CATALOG: &str = "warehouse";

/// The DuckDB database of one unify home.
pub struct Warehouse {
    root: Mutex<Connection>,
    path: Option<PathBuf>,
    /// `None` for an in-memory warehouse (DuckDB's own default applies).
    memory: Option<MemoryLimits>,
}

impl std::fmt::Debug for Warehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warehouse")
            .field("path", &self.path)
            .finish()
    }
}

const BOOKKEEPING: &str = "
CREATE SCHEMA IF NOT EXISTS unify;
CREATE SCHEMA IF NOT EXISTS files;
CREATE TABLE IF NOT EXISTS unify.tables (
    schema_name VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    connector VARCHAR,
    description VARCHAR,
    source VARCHAR,
    rows BIGINT,
    last_load_start TIMESTAMP,
    last_load_end TIMESTAMP,
    last_refresh_start TIMESTAMP,
    last_refresh_end TIMESTAMP
);
CREATE TABLE IF NOT EXISTS unify.loading_jobs (
    job_id VARCHAR NOT NULL,
    schema_name VARCHAR,
    table_name VARCHAR,
    action VARCHAR,
    state VARCHAR,
    rows BIGINT,
    pages BIGINT,
    requests BIGINT,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    error VARCHAR
);
CREATE TABLE IF NOT EXISTS unify.loading_log (
    job_id VARCHAR,
    ts TIMESTAMP,
    level VARCHAR,
    message VARCHAR
);
CREATE TABLE IF NOT EXISTS unify.variables (
    name VARCHAR NOT NULL,
    value VARCHAR,
    is_table BOOLEAN
);
CREATE TABLE IF NOT EXISTS unify.file_imports (
    schema_name VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    format VARCHAR NOT NULL,
    options VARCHAR
);
";

impl Warehouse {
    /// Open (or create) the warehouse file and its bookkeeping tables; drop staging
    /// tables left by a crashed load. DuckDB's spill files go to `tmp/` next to the
    /// file (the home's `tmp/`, ARCHITECTURE §2), never the working directory.
    pub fn open(path: &Path) -> Result<Warehouse, WarehouseError> {
        let tmp = spill_dir(path);
        // The file is attached under a fixed catalog name: opened directly, a file
        // named unify.duckdb would be catalog "unify", clashing with schema "unify".
        // An in-memory database would spill to `.tmp` in the working directory, so
        // the temp directory is set before DuckDB starts.
        let config = duckdb::Config::default()
            .with("temp_directory", tmp.display().to_string())
            .ctx(|| format!("setting DuckDB's temp_directory to {}", tmp.display()))?;
        let conn = Connection::open_in_memory_with_flags(config).ctx(|| "opening DuckDB".into())?;
        conn.execute_batch(&format!(
            "ATTACH {} AS {CATALOG} (ROW_GROUP_SIZE 32768); USE {CATALOG};",
            quote_literal(&path.display().to_string())
        ))
        .ctx(|| format!("opening {}", path.display()))?;
        // DuckDB would cache up to 80 % of RAM; a loader daemon should stay small, and
        // DuckDB spills to disk beyond its limit.
        let mut limits = MemoryLimits::from_env(
            conn.try_clone()
                .ctx(|| "opening a connection for memory settings".into())?,
        );
        match &limits.busy {
            Some(busy) => conn
                .execute_batch(&format!("SET memory_limit = {}", quote_literal(busy)))
                .ctx(|| format!("setting memory_limit to {busy} (UNIFY_QUERY_MEMORY_LIMIT)"))?,
            // DuckDB's default, computed once: `RESET` reads the system's (and the
            // container's) memory every time, which a one-row query would pay for.
            None => {
                let default: String = conn
                    .execute_batch("RESET memory_limit")
                    .and_then(|()| {
                        conn.query_row("SELECT current_setting('memory_limit')", [], |r| r.get(0))
                    })
                    .ctx(|| "reading DuckDB's default memory_limit".into())?;
                limits.busy = Some(default);
            }
        }
        conn.execute_batch(&format!(
            "SET memory_limit = {}",
            quote_literal(&limits.idle)
        ))
        .ctx(|| {
            format!(
                "setting memory_limit to {} (UNIFY_MEMORY_LIMIT)",
                limits.idle
            )
        })?;
        let mut warehouse = Self::init(conn, Some(path.to_path_buf()))?;
        warehouse.memory = Some(limits);
        Ok(warehouse)
    }

    /// An in-memory warehouse (tests).
    pub fn open_in_memory() -> Result<Warehouse, WarehouseError> {
        let conn = Connection::open_in_memory().ctx(|| "opening in-memory database".into())?;
        Self::init(conn, None)
    }

    fn init(conn: Connection, path: Option<PathBuf>) -> Result<Warehouse, WarehouseError> {
        conn.execute_batch(BOOKKEEPING)
            .ctx(|| "creating bookkeeping tables".into())?;
        let leftovers: Vec<(String, String)> = {
            let mut stmt = conn
                .prepare(
                    "select table_schema, table_name from information_schema.tables where table_name like ? escape '\\'",
                )
                .ctx(|| "listing staging tables".into())?;
            let rows = stmt
                .query_map([format!("{}%", STAGING_PREFIX.replace('_', "\\_"))], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .ctx(|| "listing staging tables".into())?;
            rows.filter_map(Result::ok).collect()
        };
        for (schema, table) in leftovers {
            tracing::info!(%schema, %table, "dropping staging table left by an interrupted load");
            conn.execute_batch(&format!(
                "DROP TABLE IF EXISTS {}.{}",
                quote_ident(&schema),
                quote_ident(&table)
            ))
            .ctx(|| format!("dropping {schema}.{table}"))?;
        }
        // Only one process opens the warehouse: a job still marked running was cut short
        // by a crash or kill (the queue runs it again under the same job id).
        conn.execute_batch(
            "UPDATE unify.loading_jobs SET state = 'interrupted', finished_at = now()::TIMESTAMP, \
             error = 'interrupted: the process stopped during the load' WHERE state = 'running'",
        )
        .ctx(|| "marking interrupted loads".into())?;
        Ok(Warehouse {
            root: Mutex::new(conn),
            path,
            memory: None,
        })
    }

    /// A new connection to the same database.
    pub fn connect(&self) -> Result<Connection, WarehouseError> {
        let root = self.root.lock().unwrap_or_else(|e| e.into_inner());
        let conn = root.try_clone().ctx(|| "opening a connection".into())?;
        if self.path.is_some() {
            conn.execute_batch(&format!("USE {CATALOG}"))
                .ctx(|| "opening a connection".into())?;
        }
        Ok(conn)
    }

    /// The database file, if not in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

/// Where DuckDB spills for the warehouse file `path`: `tmp/` beside it (created
/// private, 0700, when missing).
pub fn spill_dir(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
        .join("tmp");
    if !dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        if let Err(e) = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot create DuckDB's temp directory");
        }
    }
    dir
}

/// `CREATE SCHEMA IF NOT EXISTS`, safe against another connection creating the same
/// schema at the same moment (DuckDB reports a write-write conflict to the second one;
/// once the first commits, the schema exists and that is all we need).
pub fn ensure_schema(conn: &Connection, schema: &str) -> Result<(), WarehouseError> {
    let sql = format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema));
    let mut attempt = 0;
    loop {
        match conn.execute_batch(&sql) {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 20 && e.to_string().contains("write-write conflict") => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => {
                return Err(WarehouseError {
                    context: format!("creating schema {schema}"),
                    source: e,
                })
            }
        }
    }
}
