//! `unify.loading_jobs` and `unify.loading_log`: a job's history as DuckDB records it.

use super::{quote_literal, Context, WarehouseError};
use duckdb::{params, Connection};

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

pub(super) fn job_done_sql(job: &JobRecord, rows: u64) -> String {
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
