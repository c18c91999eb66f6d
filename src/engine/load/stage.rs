//! Stage: pages from the fetch, written into a staging table by a [`StagingWriter`] on
//! a blocking thread. The staging table is kept only when the fetch completed; a
//! failed or cancelled fetch (or a failed write) drops it.

use super::plan::LoadPlan;
use super::Job;
use crate::adapters::rest::client::FetchError;
use crate::adapters::rest::FetchedPage;
use crate::engine::error::failure_cause;
use crate::engine::{LoadError, PAGE_BUFFER};
use crate::loading::flatten::{Column, Flattener, Shape};
use crate::warehouse::staging::{staging_name, Staged, StagingWriter};
use crate::warehouse::{self, Warehouse};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A staging table being written.
pub(super) struct Stage {
    writer: JoinHandle<Result<Staged, LoadError>>,
    /// Set once every page was sent: only then does the writer keep its table.
    fetch_complete: Arc<AtomicBool>,
    wh: Arc<Warehouse>,
    schema: String,
    /// The staging table's name, to drop it if the writer thread dies.
    staging: String,
    name: String,
}

impl Stage {
    /// Start the writer for `plan`; pages go into the returned sender (a bounded
    /// channel of [`PAGE_BUFFER`] pages: the memory bound of a load). `existing` are a
    /// merged table's columns, so the staging table lines up with it.
    pub fn spawn(
        wh: &Arc<Warehouse>,
        plan: &LoadPlan,
        job: &Job,
        existing: Vec<Column>,
    ) -> (mpsc::Sender<FetchedPage>, Stage) {
        let (tx, rx) = mpsc::channel::<FetchedPage>(PAGE_BUFFER);
        let fetch_complete = Arc::new(AtomicBool::new(false));
        let shape = Shape {
            select: plan.table.select.clone(),
            strip_prefixes: plan.table.strip_prefixes.clone(),
        };
        let writer = Writer {
            wh: wh.clone(),
            schema: plan.conn.schema.clone(),
            table: plan.table.name.clone(),
            job: job.clone(),
            flattener: Flattener::with_columns(shape, existing),
            fetch_complete: fetch_complete.clone(),
        };
        let stage = Stage {
            writer: tokio::task::spawn_blocking(move || writer.run(rx)),
            fetch_complete,
            wh: wh.clone(),
            schema: plan.conn.schema.clone(),
            staging: staging_name(&plan.table.name, &job.id),
            name: plan.name.clone(),
        };
        (tx, stage)
    }

    /// Close the page channel and wait for the writer. `fetched` is the fetch's
    /// outcome. Returns the staged table, or the load's error (with the rows that had
    /// been staged) after dropping whatever was staged.
    pub async fn finish(
        self,
        pages_in: mpsc::Sender<FetchedPage>,
        fetched: Result<(), FetchError>,
    ) -> Result<Staged, (LoadError, u64)> {
        self.fetch_complete.store(fetched.is_ok(), Ordering::SeqCst);
        drop(pages_in);
        let written = self
            .writer
            .await
            .map_err(|e| LoadError::Internal(format!("writer thread: {e}")));
        let (written, rows) = match written {
            Ok(Ok(staged)) if fetched.is_ok() => return Ok(staged),
            Ok(Ok(staged)) => {
                drop_staged(&self.wh, &staged).await;
                (Ok(()), staged.rows)
            }
            // The writer abandoned its own table.
            Ok(Err(e)) => (Err(e), 0),
            // The writer died: its staging table has a known name.
            Err(e) => {
                drop_quietly(&self.wh, &self.schema, &self.staging).await;
                (Err(e), 0)
            }
        };
        Err((failure_cause(&self.name, fetched, written), rows))
    }
}

/// Drop a staging table; the previous table stays as it was.
pub(super) async fn drop_staged(wh: &Arc<Warehouse>, staged: &Staged) {
    if let Some(staging) = &staged.staging {
        drop_quietly(wh, &staged.schema, staging).await;
    }
}

async fn drop_quietly(wh: &Arc<Warehouse>, schema: &str, table: &str) {
    if let Err(e) = wh.drop_table(schema, table).await {
        tracing::warn!(error = %e, "could not drop a staging table (dropped at the next start)");
    }
}

/// The writer thread's state.
struct Writer {
    wh: Arc<Warehouse>,
    schema: String,
    table: String,
    job: Job,
    flattener: Flattener,
    fetch_complete: Arc<AtomicBool>,
}

impl Writer {
    /// Write every page received; keep the table only if the fetch completed.
    fn run(self, mut pages: mpsc::Receiver<FetchedPage>) -> Result<Staged, LoadError> {
        let db = self.wh.connect()?;
        let (s, t, j) = (&self.schema, &self.table, &self.job.id);
        let mut w = StagingWriter::new(&db, s, t, j, self.flattener);
        let mut count = 0;
        while let Some(page) = pages.blocking_recv() {
            if let Err(e) = w.write_page(page) {
                w.abandon();
                return Err(e.into());
            }
            let warnings = w.take_warnings();
            if !warnings.is_empty() {
                // Not on `db`: its transaction is the staging table's.
                let log = self.wh.connect()?;
                for warning in warnings {
                    self.job.progress.log("warning", &warning);
                    warehouse::log_line(&log, j, "warning", &warning);
                }
            }
            count += 1;
            self.job.progress.update(s, t, count, w.rows());
        }
        if !self.fetch_complete.load(Ordering::SeqCst) {
            w.abandon();
            return Err(LoadError::Cancelled);
        }
        Ok(w.finish()?)
    }
}
