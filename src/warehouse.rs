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

use crate::loading::flatten::Column;
use crate::loading::types::ColType;
use crate::loading::writer::{Staged, STAGING_PREFIX};
use duckdb::{params, Connection};
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

trait Context<T> {
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

/// DuckDB's memory limit while no statement runs (loads only), unless
/// `UNIFY_MEMORY_LIMIT` says otherwise. Loads stream: more buys them nothing.
pub const DEFAULT_MEMORY_LIMIT: &str = "64MB";

/// DuckDB's memory limits: small while only loads run, large while a user's statement
/// runs (an import, a join, an aggregate may need it). The limit is global to the
/// database, so it is raised when the first statement starts and lowered when the last
/// one ends; lowering makes DuckDB drop cached blocks, so an idle daemon stays small.
struct MemoryLimits {
    idle: String,
    /// `None` until [`Warehouse::open`] reads DuckDB's own default (80 % of the memory
    /// it may use, container limits included).
    busy: Option<String>,
    state: Mutex<MemoryState>,
}

struct MemoryState {
    /// Statements running.
    statements: usize,
    /// Lowering failed (a load held more than the idle limit): try again later.
    lower_pending: bool,
    /// Its own connection, so changing the limit never waits on the root's lock.
    conn: Connection,
}

impl MemoryLimits {
    /// From `UNIFY_MEMORY_LIMIT` and `UNIFY_QUERY_MEMORY_LIMIT`.
    fn from_env(conn: Connection) -> MemoryLimits {
        MemoryLimits {
            idle: std::env::var("UNIFY_MEMORY_LIMIT")
                .unwrap_or_else(|_| DEFAULT_MEMORY_LIMIT.into()),
            busy: std::env::var("UNIFY_QUERY_MEMORY_LIMIT").ok(),
            state: Mutex::new(MemoryState {
                statements: 0,
                lower_pending: false,
                conn,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn raise(&self, state: &mut MemoryState) {
        let sql = match &self.busy {
            Some(limit) => format!("SET memory_limit = {}", quote_literal(limit)),
            None => "RESET memory_limit".to_string(),
        };
        if let Err(e) = state.conn.execute_batch(&sql) {
            tracing::warn!(error = %e, "could not raise DuckDB's memory limit");
        }
        state.lower_pending = false;
    }

    fn lower(&self, state: &mut MemoryState) {
        let sql = format!("SET memory_limit = {}", quote_literal(&self.idle));
        // Lowering fails while a load holds more than the idle limit: retried when a
        // load ends or the next statement ends.
        state.lower_pending = match state.conn.execute_batch(&sql) {
            Ok(()) => false,
            Err(e) => {
                tracing::debug!(error = %e, "memory_limit not lowered yet");
                true
            }
        };
    }
}

/// Holds DuckDB's memory limit at the statement level while it lives
/// ([`Warehouse::statement_memory`]).
pub struct StatementMemory<'w> {
    warehouse: &'w Warehouse,
}

impl Drop for StatementMemory<'_> {
    fn drop(&mut self) {
        if let Some(limits) = &self.warehouse.memory {
            let mut state = limits.lock();
            state.statements = state.statements.saturating_sub(1);
            if state.statements == 0 {
                limits.lower(&mut state);
            }
        }
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

    /// Raise DuckDB's memory limit for a user's statement until the guard drops.
    pub fn statement_memory(&self) -> StatementMemory<'_> {
        if let Some(limits) = &self.memory {
            let mut state = limits.lock();
            state.statements += 1;
            if state.statements == 1 {
                limits.raise(&mut state);
            }
        }
        StatementMemory { warehouse: self }
    }

    /// A load ended: if lowering the limit failed earlier and no statement runs, try
    /// again (so an idle daemon does not keep the statements' limit).
    pub fn settle_memory(&self) {
        if let Some(limits) = &self.memory {
            let mut state = limits.lock();
            if state.statements == 0 && state.lower_pending {
                limits.lower(&mut state);
            }
        }
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

/// Quote an identifier for DuckDB: `"a""b"`.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quote a string literal: `'it''s'`.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `schema.table`, each part quoted.
pub fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(table))
}

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

/// A finished job to record in `unify.loading_jobs` with the data.
#[derive(Debug, Clone)]
pub struct JobRecord {
    /// Job id.
    pub job_id: String,
    /// Pages fetched.
    pub pages: u64,
    /// HTTP requests made.
    pub requests: u64,
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
        let existing = table_columns(conn, &record.schema, &record.table)?;
        let src = qualified(&record.schema, staging);
        for key in keys {
            // The staging table starts from the target's columns, so a key column always
            // exists there; every fetched row must also have a value in it, or the merge
            // could not match it and would add it again on every refresh.
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
        for col in &staged.columns {
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

fn job_done_sql(job: &JobRecord, rows: u64) -> String {
    format!(
        "UPDATE unify.loading_jobs SET state = 'done', rows = {rows}, pages = {}, requests = {}, finished_at = now()::TIMESTAMP WHERE job_id = {};\n",
        job.pages,
        job.requests,
        quote_literal(&job.job_id)
    )
}

/// Record that a job started.
pub fn job_started(
    conn: &Connection,
    job_id: &str,
    schema: &str,
    table: &str,
    action: &str,
) -> Result<(), WarehouseError> {
    // A re-run of the same job (at-least-once delivery) replaces its earlier record.
    conn.execute("DELETE FROM unify.loading_jobs WHERE job_id = ?", [job_id])
        .ctx(|| "recording job start".into())?;
    conn.execute(
        "INSERT INTO unify.loading_jobs (job_id, schema_name, table_name, action, state, rows, pages, requests, started_at) VALUES (?, ?, ?, ?, 'running', 0, 0, 0, now()::TIMESTAMP)",
        params![job_id, schema, table, action],
    )
    .map(|_| ())
    .ctx(|| "recording job start".into())
}

/// Record that a job failed or was cancelled (its data was left untouched).
pub fn job_failed(
    conn: &Connection,
    job_id: &str,
    state: &str,
    rows: u64,
    pages: u64,
    requests: u64,
    error: &str,
) -> Result<(), WarehouseError> {
    conn.execute(
        "UPDATE unify.loading_jobs SET state = ?, rows = ?, pages = ?, requests = ?, finished_at = now()::TIMESTAMP, error = ? WHERE job_id = ?",
        params![state, rows as i64, pages as i64, requests as i64, error, job_id],
    )
    .map(|_| ())
    .ctx(|| "recording job failure".into())
}

/// A job's final state as `unify.loading_jobs` keeps it (see [`job_final`]).
#[derive(Debug, Clone)]
pub struct JobFinal<'a> {
    /// Job id.
    pub job_id: &'a str,
    /// Schema of the table.
    pub schema: &'a str,
    /// The table.
    pub table: &'a str,
    /// load, refresh or reload.
    pub action: &'a str,
    /// done, failed or cancelled.
    pub state: &'a str,
    /// Rows, pages (used only when the job has no row yet).
    pub rows: u64,
    /// Pages fetched.
    pub pages: u64,
    /// When the run started (µs since epoch), if it did.
    pub started_us: Option<i64>,
    /// Why it failed.
    pub error: Option<&'a str>,
}

/// Record a job's final state in `unify.loading_jobs`, the warehouse half of the one
/// writer of final states (`actors::Shared::finish_job`). A row the load already
/// finished in that state (with its data, or with its failure) is left as it is; a row
/// in another state (`running`, `interrupted`) takes the new state and error; a job
/// that never got a row (it failed before loading, or every run was interrupted before
/// it started) gets one.
pub fn job_final(conn: &Connection, job: &JobFinal<'_>) -> Result<(), WarehouseError> {
    let error = job.error.map(crate::secret::redact);
    let updated = conn
        .execute(
            "UPDATE unify.loading_jobs SET state = ?, error = coalesce(?, error), \
             finished_at = now()::TIMESTAMP WHERE job_id = ? AND state IS DISTINCT FROM ?",
            params![job.state, error, job.job_id, job.state],
        )
        .ctx(|| format!("recording the end of job {}", job.job_id))?;
    if updated > 0 {
        if let Some(e) = &error {
            log_line(conn, job.job_id, "error", e);
        }
        return Ok(());
    }
    let exists: i64 = conn
        .query_row(
            "SELECT count(*) FROM unify.loading_jobs WHERE job_id = ?",
            [job.job_id],
            |r| r.get(0),
        )
        .ctx(|| format!("recording the end of job {}", job.job_id))?;
    if exists == 0 {
        conn.execute(
            "INSERT INTO unify.loading_jobs (job_id, schema_name, table_name, action, state, rows, pages, requests, started_at, finished_at, error) \
             VALUES (?, ?, ?, ?, ?, ?, ?, 0, make_timestamp(?::BIGINT), now()::TIMESTAMP, ?)",
            params![
                job.job_id,
                job.schema,
                job.table,
                job.action,
                job.state,
                job.rows as i64,
                job.pages as i64,
                job.started_us,
                error
            ],
        )
        .ctx(|| format!("recording the end of job {}", job.job_id))?;
        if let Some(e) = &error {
            log_line(conn, job.job_id, "error", e);
        }
    }
    Ok(())
}

/// Append a line to `unify.loading_log`.
pub fn log_line(conn: &Connection, job_id: &str, level: &str, message: &str) {
    let message = crate::secret::redact(message);
    if let Err(e) = conn.execute(
        "INSERT INTO unify.loading_log VALUES (?, now()::TIMESTAMP, ?, ?)",
        params![job_id, level, message],
    ) {
        tracing::warn!(error = %e, "could not write loading_log");
    }
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
    let (columns, types, nulls) = match rows.as_ref() {
        Some(s) => {
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
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
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
            let mut cells = Vec::with_capacity(columns.len());
            for (i, is_null) in nulls.iter().enumerate() {
                if *is_null {
                    cells.push(serde_json::Value::Null);
                    continue;
                }
                let v: duckdb::types::Value = row.get(i)?;
                cells.push(crate::values::to_json(v));
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::rest::{FetchedPage, Records};
    use crate::loading::flatten::{Flattener, Shape};
    use crate::loading::writer::StagingWriter;
    use serde_json::json;

    fn stage(conn: &Connection, tag: &str, records: Vec<serde_json::Value>) -> Staged {
        let mut w = StagingWriter::new(conn, "s", "t", tag, Flattener::new(Shape::default()));
        w.write_page(FetchedPage {
            records: Records::Values(records),
            flatten: true,
        })
        .unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn a_schema_created_by_two_connections_at_once_is_not_an_error() {
        let wh = Warehouse::open_in_memory().unwrap();
        let first = wh.connect().unwrap();
        let second = wh.connect().unwrap();
        first
            .execute_batch("BEGIN TRANSACTION; CREATE SCHEMA racing")
            .unwrap();
        // The plain statement conflicts while the first transaction is open.
        let plain = second.execute_batch("CREATE SCHEMA IF NOT EXISTS racing");
        assert!(
            plain.is_err_and(|e| e.to_string().contains("write-write conflict")),
            "DuckDB no longer reports the conflict: this helper may be unneeded"
        );
        let waiter = std::thread::spawn(move || ensure_schema(&second, "racing"));
        std::thread::sleep(std::time::Duration::from_millis(50));
        first.execute_batch("COMMIT").unwrap();
        waiter.join().unwrap().unwrap();
    }

    #[test]
    fn statements_raise_the_memory_limit_and_the_last_one_lowers_it() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
        let conn = wh.connect().unwrap();
        let limit = || -> String {
            conn.query_row("select current_setting('memory_limit')", [], |r| r.get(0))
                .unwrap()
        };
        let idle = limit();
        let first = wh.statement_memory();
        let busy = limit();
        assert_ne!(idle, busy, "a statement runs with the larger limit");
        let second = wh.statement_memory();
        drop(first);
        assert_eq!(limit(), busy, "still one statement running");
        drop(second);
        assert_eq!(limit(), idle, "back to the loads' limit");
    }

    #[test]
    fn a_rerun_replaces_the_job_record_and_reopening_marks_running_jobs_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.duckdb");
        let jobs = |conn: &Connection| -> Vec<(String, String)> {
            let mut stmt = conn
                .prepare("select job_id, state from unify.loading_jobs order by job_id")
                .unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        {
            let wh = Warehouse::open(&path).unwrap();
            let conn = wh.connect().unwrap();
            job_started(&conn, "j1", "s", "t", "load").unwrap();
            job_started(&conn, "j2", "s", "u", "load").unwrap();
            job_failed(&conn, "j2", "failed", 0, 1, 1, "HTTP 500").unwrap();
            job_started(&conn, "j1", "s", "t", "load").unwrap();
            assert_eq!(
                jobs(&conn),
                [
                    ("j1".into(), "running".into()),
                    ("j2".into(), "failed".into())
                ]
            );
        }
        // The process died with j1 running.
        let wh = Warehouse::open(&path).unwrap();
        let conn = wh.connect().unwrap();
        assert_eq!(
            jobs(&conn),
            [
                ("j1".into(), "interrupted".into()),
                ("j2".into(), "failed".into())
            ]
        );
        job_started(&conn, "j1", "s", "t", "load").unwrap();
        assert_eq!(jobs(&conn)[0], ("j1".into(), "running".into()));
    }

    fn record(is_refresh: bool) -> TableRecord {
        TableRecord {
            schema: "s".into(),
            table: "t".into(),
            kind: "connector".into(),
            connector: Some("c".into()),
            description: None,
            source: None,
            started_us: 1_000_000,
            ended_us: 2_000_000,
            is_refresh,
        }
    }

    fn job(id: &str) -> JobRecord {
        JobRecord {
            job_id: id.into(),
            pages: 1,
            requests: 1,
        }
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn swap_then_merge_by_key() {
        let wh = Warehouse::open_in_memory().unwrap();
        let conn = wh.connect().unwrap();
        let staged = stage(
            &conn,
            "j1",
            vec![json!({"id": 1, "v": "a"}), json!({"id": 2, "v": "b"})],
        );
        swap_in(&conn, &staged, &record(false), &job("j1")).unwrap();
        assert_eq!(count(&conn, "select count(*) from s.t"), 2);
        assert_eq!(last_scan_start(&conn, "s", "t").unwrap(), Some(1_000_000));
        let staged = stage(
            &conn,
            "j2",
            vec![
                json!({"id": 2, "v": "B", "new": 1.5}),
                json!({"id": 3, "v": "c"}),
                json!({"id": 3, "v": "c2"}),
            ],
        );
        let mut rec = record(true);
        rec.started_us = 5_000_000;
        merge_in(&conn, &staged, &["id".to_string()], &rec, &job("j2")).unwrap();
        assert_eq!(count(&conn, "select count(*) from s.t"), 3);
        let v: String = conn
            .query_row("select v from s.t where id = 3", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, "c2");
        let v: String = conn
            .query_row("select v from s.t where id = 2", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, "B");
        assert_eq!(last_scan_start(&conn, "s", "t").unwrap(), Some(5_000_000));
        assert_eq!(
            count(
                &conn,
                "select rows from unify.tables where table_name = 't'"
            ),
            3
        );
        assert_eq!(
            count(&conn, "select count(*) from information_schema.tables where table_name like '_unify_staging%'"),
            0
        );

        // A refresh staged as the engine does it: seeded with the table's columns.
        let refresh = |tag: &str, records: Vec<serde_json::Value>| -> String {
            let seeded =
                Flattener::with_columns(Shape::default(), table_columns(&conn, "s", "t").unwrap());
            let mut w = StagingWriter::new(&conn, "s", "t", tag, seeded);
            w.write_page(FetchedPage {
                records: Records::Values(records),
                flatten: true,
            })
            .unwrap();
            let staged = w.finish().unwrap();
            merge_in(&conn, &staged, &["id".to_string()], &rec, &job(tag))
                .unwrap_err()
                .to_string()
        };
        // Rows without the key (the staging table still has the column) are refused…
        let err = refresh("j3", vec![json!({"v": "lost"})]);
        assert!(
            err.contains("the key column 'id' is not in the fetched rows"),
            "{err}"
        );
        // …and so are some rows without it (they would be added on every refresh).
        let err = refresh("j4", vec![json!({"id": 9, "v": "x"}), json!({"v": "lost"})]);
        assert!(
            err.contains("the key column 'id' has no value in 1 of the 2 fetched rows"),
            "{err}"
        );
        assert_eq!(count(&conn, "select count(*) from s.t"), 3);
    }
}
