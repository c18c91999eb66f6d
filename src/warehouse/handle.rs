//! The warehouse from async code: each method runs its statements on a connection of
//! its own, on a blocking thread, so DuckDB never stalls the async executor.
//!
//! The engine calls these instead of wrapping DuckDB calls in `spawn_blocking`
//! closures of its own; the statements themselves live beside them in this module's
//! siblings.

use super::staging::Staged;
use super::{catalog, jobs, qualified, Context, JobRecord, TableRecord, Warehouse, WarehouseError};
use crate::loading::flatten::Column;
use duckdb::Connection;
use std::sync::Arc;

/// A view to (re)create over loaded tables.
#[derive(Debug, Clone)]
pub struct ViewDef {
    /// The view's name (in the connection's schema).
    pub name: String,
    /// Tables it reads: it is created only when all of them exist.
    pub from: Vec<String>,
    /// Its query, with the connection's tables already qualified.
    pub query: String,
}

/// How a finished staging table replaces its target.
#[derive(Debug, Clone)]
pub enum Commit {
    /// The staging table becomes the table (load, reload).
    Swap,
    /// The staging rows are merged into the table by these key columns (a refresh).
    Merge(Vec<String>),
}

impl Warehouse {
    /// Run `work` on a fresh connection on a blocking thread. A panic in `work` is
    /// resumed in the caller, as if it had run there.
    pub async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Connection) -> Result<T, WarehouseError> + Send + 'static,
    ) -> Result<T, WarehouseError> {
        let wh = self.clone();
        match tokio::task::spawn_blocking(move || work(&wh.connect()?)).await {
            Ok(result) => result,
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(_) => Err(WarehouseError {
                    context: "the process is shutting down".into(),
                    source: duckdb::Error::DuckDBFailure(
                        duckdb::ffi::Error::new(duckdb::ffi::DuckDBError),
                        Some("the warehouse task was cancelled".into()),
                    ),
                }),
            },
        }
    }

    /// True when `schema.table` exists (table or view).
    pub async fn exists(
        self: &Arc<Self>,
        schema: &str,
        table: &str,
    ) -> Result<bool, WarehouseError> {
        let (s, t) = (schema.to_string(), table.to_string());
        self.run(move |c| catalog::relation_exists(c, &s, &t)).await
    }

    /// When the last successful scan of an existing table started (µs); `None` when the
    /// table does not exist or was never scanned.
    pub async fn last_scan(
        self: &Arc<Self>,
        schema: &str,
        table: &str,
    ) -> Result<Option<i64>, WarehouseError> {
        let (s, t) = (schema.to_string(), table.to_string());
        self.run(move |c| {
            if !catalog::relation_exists(c, &s, &t)? {
                return Ok(None);
            }
            catalog::last_scan_start(c, &s, &t)
        })
        .await
    }

    /// The columns of `schema.table`, in order.
    pub async fn columns(
        self: &Arc<Self>,
        schema: &str,
        table: &str,
    ) -> Result<Vec<Column>, WarehouseError> {
        let (s, t) = (schema.to_string(), table.to_string());
        self.run(move |c| catalog::table_columns(c, &s, &t)).await
    }

    /// Record in `unify.loading_jobs` that a job started.
    pub async fn start_job(
        self: &Arc<Self>,
        job_id: &str,
        schema: &str,
        table: &str,
        action: &str,
    ) -> Result<(), WarehouseError> {
        let (j, s, t, a) = (
            job_id.to_string(),
            schema.to_string(),
            table.to_string(),
            action.to_string(),
        );
        self.run(move |c| jobs::job_started(c, &j, &s, &t, &a))
            .await
    }

    /// Append lines to a job's log (`unify.loading_log`); a failure to write is traced,
    /// never raised (a log line must not fail a load).
    pub async fn log(self: &Arc<Self>, job_id: &str, level: &str, lines: Vec<String>) {
        let (j, l) = (job_id.to_string(), level.to_string());
        let written = self
            .run(move |c| {
                for line in lines {
                    jobs::log_line(c, &j, &l, &line);
                }
                Ok(())
            })
            .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "could not write loading_log");
        }
    }

    /// Record a job's unsuccessful end (`failed`, `cancelled`) with its counts, and its
    /// error as a log line. Never raises: the load's own error is what matters.
    pub async fn fail_job(
        self: &Arc<Self>,
        job_id: &str,
        state: &str,
        counts: [u64; 3],
        error: &str,
    ) {
        let (j, s, e) = (
            job_id.to_string(),
            state.to_string(),
            crate::secret::redact(error),
        );
        let [rows, pages, requests] = counts;
        let written = self
            .run(move |c| {
                jobs::job_failed(c, &j, &s, rows, pages, requests, &e)?;
                jobs::log_line(c, &j, "error", &e);
                Ok(())
            })
            .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "could not record job failure");
        }
    }

    /// Put a finished staging table in place — swapped in or merged — with the table's
    /// record and the job's success, in one transaction. Returns the table's rows (for a
    /// merge: the rows merged).
    pub async fn commit(
        self: &Arc<Self>,
        staged: Staged,
        how: Commit,
        record: TableRecord,
        job: JobRecord,
    ) -> Result<u64, WarehouseError> {
        self.run(move |c| match how {
            Commit::Swap => catalog::swap_in(c, &staged, &record, &job),
            Commit::Merge(keys) => catalog::merge_in(c, &staged, &keys, &record, &job),
        })
        .await
    }

    /// Drop a table if it exists (a load's abandoned staging table).
    pub async fn drop_table(
        self: &Arc<Self>,
        schema: &str,
        table: &str,
    ) -> Result<(), WarehouseError> {
        let (s, t) = (schema.to_string(), table.to_string());
        self.run(move |c| {
            c.execute_batch(&format!("DROP TABLE IF EXISTS {}", qualified(&s, &t)))
                .ctx(|| format!("dropping staging table {s}.{t}"))
        })
        .await
    }

    /// (Re)create each view whose source tables all exist; views whose sources are
    /// missing are skipped. Stops at the first view DuckDB refuses.
    pub async fn create_views(
        self: &Arc<Self>,
        schema: &str,
        views: Vec<ViewDef>,
    ) -> Result<(), WarehouseError> {
        let schema = schema.to_string();
        self.run(move |c| {
            for view in views {
                let mut ready = true;
                for f in &view.from {
                    ready &= catalog::relation_exists(c, &schema, f)?;
                }
                if ready {
                    catalog::create_view(c, &schema, &view.name, &view.query)?;
                }
            }
            Ok(())
        })
        .await
    }

    /// After a load: give memory back if an earlier attempt to lower the limit failed.
    pub async fn settle(self: &Arc<Self>) {
        let wh = self.clone();
        let _ = tokio::task::spawn_blocking(move || wh.settle_memory()).await;
    }
}
