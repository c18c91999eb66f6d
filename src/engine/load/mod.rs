//! Loading one object of a connection: a table (plan → fetch → stage → commit, then the
//! views over it) or a spec view (its tables, then the view). Tables that a table's
//! `sql@` params read are loaded first, recursively, when missing.

mod commit;
mod fetch;
mod plan;
mod stage;
pub mod views;

use super::config::error_names;
use super::{Engine, LoadError, LoadSummary, Progress};
use crate::adapters::connections::Connection;
use crate::adapters::spec::{TableSpec, ViewSpec};
use crate::protocol::Action;
use plan::LoadPlan;
use stage::Stage;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One job's identity and controls, handed down to the parents and view tables it loads.
#[derive(Clone)]
pub(super) struct Job {
    /// The job id (`<id>.<table>` for a table loaded on its behalf).
    pub id: String,
    /// Load, reload or refresh.
    pub action: Action,
    /// Where progress and log lines go.
    pub progress: Arc<dyn Progress>,
    /// Cancels the whole job.
    pub cancel: CancellationToken,
}

impl Job {
    /// The job of loading `table` on behalf of this one.
    fn child(&self, table: &str, action: Action) -> Job {
        Job {
            id: format!("{}.{table}", self.id),
            action,
            ..self.clone()
        }
    }
}

/// A load that failed after its job started: the error, and how far it got.
struct Failed {
    error: LoadError,
    rows: u64,
    pages: u64,
    requests: u64,
}

impl Failed {
    /// Failed before anything was fetched.
    fn early(error: impl Into<LoadError>) -> Failed {
        Failed {
            error: error.into(),
            rows: 0,
            pages: 0,
            requests: 0,
        }
    }
}

impl Engine {
    /// Load `schema.name`, a table or a view of its connection (boxed: it recurses
    /// through parents and views).
    pub(super) fn load_object(
        &self,
        job: Job,
        schema: String,
        name: String,
    ) -> BoxFuture<'_, Result<LoadSummary, LoadError>> {
        Box::pin(async move {
            let conn = self.connection_for(&schema)?;
            if let Some(table) = conn.spec.table(&name) {
                let table = table.clone();
                self.load_parents(&job, &conn, &table).await?;
                return self.load_table_and_views(&job, &conn, &table).await;
            }
            if let Some(view) = conn.spec.view(&name) {
                return self.load_view(&job, &conn, view.clone()).await;
            }
            Err(LoadError::UnknownTable {
                schema,
                table: name,
                connector: conn.spec.name.clone(),
            })
        })
    }

    /// The usable connection named `schema`, or why there is none.
    fn connection_for(&self, schema: &str) -> Result<Arc<Connection>, LoadError> {
        let config = self.config();
        if let Some(conn) = config.connection(schema) {
            return Ok(conn.clone());
        }
        match config.errors.iter().find(|e| error_names(e, schema)) {
            Some(err) => Err(LoadError::Connection(err.to_string())),
            None => Err(LoadError::UnknownSchema(schema.to_string())),
        }
    }

    /// Load the tables `table`'s `sql@` params read, when they are missing.
    async fn load_parents(
        &self,
        job: &Job,
        conn: &Arc<Connection>,
        table: &TableSpec,
    ) -> Result<(), LoadError> {
        let schema = &conn.schema;
        for parent in &table.depends_on {
            if self.exists(schema, parent).await? {
                continue;
            }
            let needed_by = &table.name;
            job.progress.log(
                "info",
                &format!("loading {schema}.{parent} first (needed by {needed_by})"),
            );
            self.load_object(
                job.child(parent, Action::Load),
                schema.clone(),
                parent.clone(),
            )
            .await
            .map_err(|e| LoadError::Parent {
                table: format!("{schema}.{needed_by}"),
                parent: format!("{schema}.{parent}"),
                source: Box::new(e),
            })?;
        }
        Ok(())
    }

    /// Load a table (one load of it at a time), then (re)create the views over it.
    async fn load_table_and_views(
        &self,
        job: &Job,
        conn: &Arc<Connection>,
        table: &TableSpec,
    ) -> Result<LoadSummary, LoadError> {
        let lock = self.table_lock(&format!("{}.{}", conn.schema, table.name));
        let _guard = lock.lock().await;
        let summary = self.load_table(job, conn, table).await?;
        // The table is in; a view that cannot be created is reported, not a failure.
        if let Err(e) = self.create_views(conn, &table.name).await {
            let message = format!(
                "{}.{} loaded, but a view over it failed: {e}",
                conn.schema, table.name
            );
            job.progress.log("warning", &message);
            self.warehouse.log(&job.id, "warning", vec![message]).await;
        }
        Ok(summary)
    }

    /// Load a spec view: its tables (a `load` skips those present), then the view.
    async fn load_view(
        &self,
        job: &Job,
        conn: &Arc<Connection>,
        view: ViewSpec,
    ) -> Result<LoadSummary, LoadError> {
        let mut total = LoadSummary::default();
        for from in &view.from {
            if job.action == Action::Load && self.exists(&conn.schema, from).await? {
                continue;
            }
            let child = job.child(from, job.action);
            let s = self
                .load_object(child, conn.schema.clone(), from.clone())
                .await?;
            total.rows += s.rows;
            total.pages += s.pages;
            total.requests += s.requests;
            total.elapsed_ms += s.elapsed_ms;
        }
        self.create_views(conn, "").await?;
        Ok(total)
    }

    /// Load one table: plan → fetch → stage → commit. A failure after the job started
    /// is recorded once, with how far the load got; the old table stays as it was.
    async fn load_table(
        &self,
        job: &Job,
        conn: &Arc<Connection>,
        table: &TableSpec,
    ) -> Result<LoadSummary, LoadError> {
        let plan = LoadPlan::build(&self.warehouse, conn, table, job.action).await?;
        self.warehouse
            .start_job(&job.id, &conn.schema, &table.name, plan.action)
            .await?;
        match self.run_plan(&plan, job).await {
            Ok(summary) => Ok(summary),
            Err(failed) => {
                let cancelled = failed.error.is_cancelled() && job.cancel.is_cancelled();
                let state = if cancelled { "cancelled" } else { "failed" };
                let counts = [failed.rows, failed.pages, failed.requests];
                self.warehouse
                    .fail_job(&job.id, state, counts, &failed.error.to_string())
                    .await;
                Err(failed.error)
            }
        }
    }

    async fn run_plan(&self, plan: &LoadPlan, job: &Job) -> Result<LoadSummary, Failed> {
        let sets = fetch::param_sets(&self.warehouse, plan, job.progress.as_ref())
            .await
            .map_err(Failed::early)?;
        // A merge starts from the table's own columns, so fields get the names and (at
        // least) the types they already have: the staging table lines up name for name.
        let existing = match plan.merge {
            true => (self.warehouse)
                .columns(&plan.conn.schema, &plan.table.name)
                .await
                .map_err(Failed::early)?,
            false => Vec::new(),
        };
        let (pages_in, stage) = Stage::spawn(&self.warehouse, plan, job, existing);
        let (client, table_limit) = self.client(&plan.conn, &plan.table);
        let source = fetch::Source {
            client: &client,
            table_limit: table_limit.as_deref(),
        };
        let fetched = fetch::pages(&self.warehouse, source, plan, job, sets, &pages_in).await;
        let (pages, requests) = (fetched.pages, fetched.requests);
        let staged = stage
            .finish(pages_in, fetched.result)
            .await
            .map_err(|(error, rows)| Failed {
                error,
                rows,
                pages,
                requests,
            })?;
        let rows = commit::commit(&self.warehouse, plan, job, staged, [pages, requests]).await?;
        (job.progress).update(&plan.conn.schema, &plan.table.name, pages, rows);
        Ok(LoadSummary {
            rows,
            pages,
            requests,
            elapsed_ms: plan.started.elapsed().as_millis() as u64,
        })
    }
}
