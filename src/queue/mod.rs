//! The durable SQLite job queue (`$UNIFY_HOME/queue.db`, ARCHITECTURE §1–2): loader jobs,
//! their life-cycle (queued → running → done/failed/cancelled), worker leases, and the
//! scheduler's "last enqueued" bookkeeping.
//!
//! Called by the daemon (queue poller, loader workers, scheduler) and by clients, which
//! enqueue jobs and read job state directly from the file while the daemon is down. Several
//! processes may have the file open at once: it is in WAL mode, every read-modify-write runs
//! in one `BEGIN IMMEDIATE` transaction or one single write statement, and writers wait up to
//! [`BUSY_TIMEOUT`] for each other. The file must live on a local file system (WAL needs
//! shared memory). SQLite calls run on sqlx's own worker threads, never on the executor.
//!
//! Durability: `synchronous=FULL`, so a job is on disk (WAL fsynced) before any call that
//! created or changed it returns, even across a power loss. The write rate is tiny (enqueue,
//! claim, finish, progress at most once a second per worker), so the extra fsync is cheap.
//!
//! This module never runs, schedules or interprets jobs, never talks to the network and
//! never touches the warehouse: it only stores and hands out job records.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor, Sqlite, Transaction};

use crate::protocol::{Action, JobState, LoaderJob, LoaderStatus, Requester};

#[cfg(test)]
mod tests;

/// Priority of jobs requested by a user (claimed before scheduler jobs).
pub const PRIORITY_USER: i64 = 10;
/// Priority of jobs requested by the scheduler.
pub const PRIORITY_SCHEDULER: i64 = 0;
/// How long a writer waits for another process's write lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections per [`Queue`] (per process).
pub const POOL_SIZE: u32 = 4;

/// The schema version this code writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// Hex characters in a job id.
const ID_LEN: usize = 10;

/// Columns of `jobs`, in [`JobRow`] order.
macro_rules! job_cols {
    () => {
        "id, tenant, action, schema_name, table_name, requested_by, state, priority, attempts, \
         worker, lease_until_ms, row_count, page_count, error, cancel_requested, \
         enqueued_at_ms, started_at_ms, finished_at_ms"
    };
}

/// Everything that can go wrong talking to the queue file.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The directory that should hold the queue file could not be created.
    #[error("cannot create the directory for queue file {path}: {source}")]
    CreateDir {
        /// The queue file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The queue file could not be opened or switched to WAL mode.
    #[error("cannot open queue file {path} ({doing}): {source}")]
    Open {
        /// The queue file.
        path: PathBuf,
        /// The step that failed.
        doing: String,
        /// The SQLite error.
        source: sqlx::Error,
    },
    /// The file was written by a newer unify with a schema this code does not know.
    #[error(
        "queue file {path} has schema version {found}, newer than this unify understands \
         ({supported}); upgrade unify"
    )]
    TooNew {
        /// The queue file.
        path: PathBuf,
        /// `user_version` found in the file.
        found: i64,
        /// The newest version this code knows.
        supported: i64,
    },
    /// A statement failed.
    #[error("queue file {path}: {doing}: {source}")]
    Sql {
        /// The queue file.
        path: PathBuf,
        /// What was being done.
        doing: String,
        /// The SQLite error.
        source: sqlx::Error,
    },
    /// A stored value could not be read back.
    #[error("queue file {path}: job {id} has an unreadable {field} {value:?}")]
    Corrupt {
        /// The queue file.
        path: PathBuf,
        /// The job.
        id: String,
        /// The column.
        field: &'static str,
        /// The stored value.
        value: String,
    },
    /// Only load, refresh and reload are loader jobs; cancel goes through [`Queue::cancel`].
    #[error(
        "queue file {path}: cannot enqueue a {action} job for {schema}.{table}: \
         only load, refresh and reload are queued (use cancel for cancel)"
    )]
    NotEnqueueable {
        /// The queue file.
        path: PathBuf,
        /// The rejected action.
        action: &'static str,
        /// Schema of the table.
        schema: String,
        /// The table.
        table: String,
    },
    /// [`Queue::finish`] was given a state that is not final.
    #[error("queue file {path}: cannot finish job {id} as {state}: not a final state")]
    NotFinal {
        /// The queue file.
        path: PathBuf,
        /// The job.
        id: String,
        /// The rejected state.
        state: &'static str,
    },
}

/// A job as stored in the queue, with its life-cycle bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// The job itself (as sent to workers and clients).
    pub job: LoaderJob,
    /// Where it is in its life-cycle.
    pub state: JobState,
    /// Higher runs first ([`PRIORITY_USER`], [`PRIORITY_SCHEDULER`]).
    pub priority: i64,
    /// How many times a worker has claimed it.
    pub attempts: u32,
    /// The worker holding (or that last held) it.
    pub worker: Option<String>,
    /// When the current lease runs out (ms since epoch), while running.
    pub lease_until_ms: Option<i64>,
    /// Rows written so far (or in total, once finished).
    pub rows: u64,
    /// Pages fetched so far (or in total, once finished).
    pub pages: u64,
    /// Why it failed.
    pub error: Option<String>,
    /// A cancel was requested while it ran; the worker must stop.
    pub cancel_requested: bool,
    /// When the current (or last) run started (ms since epoch).
    pub started_at_ms: Option<i64>,
    /// When it reached a final state (ms since epoch).
    pub finished_at_ms: Option<i64>,
    /// When it was enqueued (ms since epoch).
    pub enqueued_at_ms: i64,
}

impl JobRecord {
    /// A job just queued: never claimed, no progress.
    fn queued(job: LoaderJob, priority: i64, enqueued_at_ms: i64) -> JobRecord {
        JobRecord {
            job,
            state: JobState::Queued,
            priority,
            attempts: 0,
            worker: None,
            lease_until_ms: None,
            rows: 0,
            pages: 0,
            error: None,
            cancel_requested: false,
            started_at_ms: None,
            finished_at_ms: None,
            enqueued_at_ms,
        }
    }

    /// The job's status as published to clients; elapsed runs from `started_at` (0 if never started).
    pub fn status(&self, now_ms: i64) -> LoaderStatus {
        let elapsed_ms = match (self.state, self.started_at_ms) {
            (JobState::Queued, _) | (_, None) => 0,
            (_, Some(started)) => {
                let end = self.finished_at_ms.unwrap_or(now_ms);
                u64::try_from(end.saturating_sub(started)).unwrap_or(0)
            }
        };
        LoaderStatus {
            job_id: self.job.id.clone(),
            schema: self.job.schema.clone(),
            table: self.job.table.clone(),
            state: self.state,
            pages: self.pages,
            rows: self.rows,
            elapsed_ms,
            error: self.error.clone(),
        }
    }
}

/// What [`Queue::enqueue`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Enqueued {
    /// A new job was queued.
    New(JobRecord),
    /// An equivalent job was already queued or running; this is it.
    Existing(JobRecord),
}

impl Enqueued {
    /// The job that will satisfy the request, new or existing.
    pub fn record(&self) -> &JobRecord {
        match self {
            Enqueued::New(r) | Enqueued::Existing(r) => r,
        }
    }

    /// The job that will satisfy the request, by value.
    pub fn into_record(self) -> JobRecord {
        match self {
            Enqueued::New(r) | Enqueued::Existing(r) => r,
        }
    }

    /// True if a new job was created.
    pub fn is_new(&self) -> bool {
        matches!(self, Enqueued::New(_))
    }
}

/// What [`Queue::cancel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The job was queued and is now cancelled.
    Cancelled,
    /// The job is running: the cancel flag is set and its worker must stop.
    Requested,
    /// The job had already finished in this state; nothing changed.
    AlreadyFinished(JobState),
    /// No job has this id.
    NotFound,
}

/// Handle on the queue file; cheap to clone (wraps a small connection pool).
#[derive(Debug, Clone)]
pub struct Queue {
    pool: SqlitePool,
    path: Arc<PathBuf>,
}

/// One `jobs` row as stored.
#[derive(sqlx::FromRow)]
struct JobRow {
    id: String,
    tenant: String,
    action: String,
    schema_name: String,
    table_name: String,
    requested_by: String,
    state: String,
    priority: i64,
    attempts: i64,
    worker: Option<String>,
    lease_until_ms: Option<i64>,
    row_count: i64,
    page_count: i64,
    error: Option<String>,
    cancel_requested: bool,
    enqueued_at_ms: i64,
    started_at_ms: Option<i64>,
    finished_at_ms: Option<i64>,
}

impl Queue {
    /// Open (creating if missing) the queue file at `path`, in WAL mode, migrating its schema.
    pub async fn open(path: &Path) -> Result<Queue, QueueError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| QueueError::CreateDir {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true);

        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .min_connections(0)
            .acquire_timeout(BUSY_TIMEOUT * 3)
            .connect_with(options)
            .await
            .map_err(|e| open_error(path, "connecting", e))?;
        // Switching to WAL takes an exclusive lock that busy_timeout does not wait for, so it
        // is done here once (with retries) rather than as a per-connection pragma; WAL then
        // sticks to the file for every later connection, in any process.
        enable_wal(&pool)
            .await
            .map_err(|e| open_error(path, "enabling WAL", e))?;
        migrate(&pool, path).await?;
        tracing::debug!(path = %path.display(), "queue opened");
        Ok(Queue {
            pool,
            path: Arc::new(path.to_path_buf()),
        })
    }

    /// The queue file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Close every connection (checkpointing the WAL when this is the last user of the file).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Queue a job, durable when this returns; an equivalent queued or running job is returned instead.
    ///
    /// Equivalent means the same (schema, table) and the same action, except that a load is
    /// also satisfied by a reload (a reload is not satisfied by a load). A queued duplicate's
    /// priority is raised to the new request's if that is higher.
    pub async fn enqueue(
        &self,
        tenant: &str,
        schema: &str,
        table: &str,
        action: Action,
        by: Requester,
    ) -> Result<Enqueued, QueueError> {
        let (same, alternative) = match action {
            Action::Load => (Action::Load, Action::Reload),
            Action::Refresh | Action::Reload => (action, action),
            Action::Cancel => {
                return Err(QueueError::NotEnqueueable {
                    path: self.path_buf(),
                    action: action.as_str(),
                    schema: schema.to_string(),
                    table: table.to_string(),
                })
            }
        };
        let priority = match by {
            Requester::User => PRIORITY_USER,
            Requester::Scheduler => PRIORITY_SCHEDULER,
        };
        let doing = || format!("enqueueing {} of {schema}.{table}", action.as_str());
        let mut tx = self.begin_write().await.map_err(|e| self.sql(e, doing()))?;

        let existing = self
            .equivalent(&mut tx, schema, table, action, [same, alternative])
            .await
            .map_err(|e| self.sql(e, doing()))?;

        if let Some(row) = existing {
            let mut record = self.record(row)?;
            if record.state == JobState::Queued && record.priority < priority {
                sqlx::query("UPDATE jobs SET priority = ? WHERE id = ?")
                    .bind(priority)
                    .bind(&record.job.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.sql(e, doing()))?;
                record.priority = priority;
            }
            tx.commit().await.map_err(|e| self.sql(e, doing()))?;
            return Ok(Enqueued::Existing(record));
        }

        let now = now_ms();
        let job = LoaderJob {
            id: self.unused_id(&mut tx, &doing()).await?,
            tenant: tenant.to_string(),
            action,
            schema: schema.to_string(),
            table: table.to_string(),
            requested_by: by,
            enqueued_at: rfc3339(now),
        };
        sqlx::query(
            "INSERT INTO jobs (id, tenant, action, schema_name, table_name, requested_by, state, \
             priority, enqueued_at_ms) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
        )
        .bind(&job.id)
        .bind(tenant)
        .bind(action.as_str())
        .bind(schema)
        .bind(table)
        .bind(requester_str(by))
        .bind(priority)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.sql(e, doing()))?;
        tx.commit().await.map_err(|e| self.sql(e, doing()))?;

        tracing::debug!(job = %job.id, action = action.as_str(), %schema, %table, "job queued");
        Ok(Enqueued::New(JobRecord::queued(job, priority, now)))
    }

    /// The queued or running job of `schema.table` doing one of `actions`: a running one
    /// first, then one doing `action` itself, then the most urgent.
    async fn equivalent(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        schema: &str,
        table: &str,
        action: Action,
        actions: [Action; 2],
    ) -> Result<Option<JobRow>, sqlx::Error> {
        sqlx::query_as(concat!(
            "SELECT ",
            job_cols!(),
            " FROM jobs WHERE schema_name = ? AND table_name = ? \
             AND state IN ('queued', 'running') AND action IN (?, ?) \
             ORDER BY state = 'running' DESC, action = ? DESC, priority DESC, enqueued_at_ms, seq \
             LIMIT 1"
        ))
        .bind(schema)
        .bind(table)
        .bind(actions[0].as_str())
        .bind(actions[1].as_str())
        .bind(action.as_str())
        .fetch_optional(&mut **tx)
        .await
    }

    /// Only a final state may end a job.
    fn require_final(&self, id: &str, state: JobState) -> Result<(), QueueError> {
        if state.is_final() {
            return Ok(());
        }
        Err(QueueError::NotFinal {
            path: self.path_buf(),
            id: id.to_string(),
            state: state.as_str(),
        })
    }

    /// A job id no job in the queue has.
    async fn unused_id(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        doing: &str,
    ) -> Result<String, QueueError> {
        loop {
            let candidate = new_job_id();
            let taken: Option<i64> = sqlx::query_scalar("SELECT 1 FROM jobs WHERE id = ?")
                .bind(&candidate)
                .fetch_optional(&mut **tx)
                .await
                .map_err(|e| self.sql(e, doing.to_string()))?;
            if taken.is_none() {
                return Ok(candidate);
            }
        }
    }

    /// Atomically claim the next runnable job (highest priority, then oldest; never a table that already has a running job).
    pub async fn claim(
        &self,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<JobRecord>, QueueError> {
        self.claim_at(worker, lease, now_ms()).await
    }

    async fn claim_at(
        &self,
        worker: &str,
        lease: Duration,
        now: i64,
    ) -> Result<Option<JobRecord>, QueueError> {
        // One write statement: SQLite takes the write lock before evaluating the sub-select,
        // so two claimers (in any process) can never pick the same job or the same table.
        let row: Option<JobRow> = sqlx::query_as(concat!(
            "UPDATE jobs SET state = 'running', worker = ?, lease_until_ms = ?, \
             attempts = attempts + 1, started_at_ms = ?, finished_at_ms = NULL, \
             row_count = 0, page_count = 0, error = NULL \
             WHERE id = (SELECT q.id FROM jobs q WHERE q.state = 'queued' AND NOT EXISTS \
               (SELECT 1 FROM jobs r WHERE r.state = 'running' \
                AND r.schema_name = q.schema_name AND r.table_name = q.table_name) \
             ORDER BY q.priority DESC, q.enqueued_at_ms, q.seq LIMIT 1) \
             RETURNING ",
            job_cols!()
        ))
        .bind(worker)
        .bind(now.saturating_add(duration_ms(lease)))
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.sql(e, format!("claiming a job for worker {worker}")))?;
        let record = row.map(|r| self.record(r)).transpose()?;
        if let Some(r) = &record {
            tracing::debug!(job = %r.job.id, %worker, attempt = r.attempts, "job claimed");
        }
        Ok(record)
    }

    /// Extend the lease to now + `lease`; false if `worker` no longer runs the job.
    ///
    /// The stored value always grows, even when the wall clock went back: it is the
    /// job's heartbeat, and watchers ([`Queue::running_jobs`]) only look at whether it
    /// changed, timed by their own monotonic clock.
    pub async fn renew(&self, id: &str, worker: &str, lease: Duration) -> Result<bool, QueueError> {
        let until = now_ms().saturating_add(duration_ms(lease));
        let done = sqlx::query(
            "UPDATE jobs SET lease_until_ms = MAX(?, COALESCE(lease_until_ms, 0) + 1) \
             WHERE id = ? AND worker = ? AND state = 'running'",
        )
        .bind(until)
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await
        .map_err(|e| self.sql(e, format!("renewing the lease of job {id} for {worker}")))?;
        Ok(done.rows_affected() == 1)
    }

    /// Record progress of a running job held by `worker` (ignored if it no longer holds it).
    pub async fn progress(
        &self,
        id: &str,
        worker: &str,
        pages: u64,
        rows: u64,
    ) -> Result<(), QueueError> {
        let done = sqlx::query(
            "UPDATE jobs SET page_count = ?, row_count = ? \
             WHERE id = ? AND worker = ? AND state = 'running'",
        )
        .bind(to_i64(pages))
        .bind(to_i64(rows))
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await
        .map_err(|e| self.sql(e, format!("recording progress of job {id}")))?;
        if done.rows_affected() == 0 {
            tracing::debug!(job = %id, %worker, "progress ignored: worker no longer holds the job");
        }
        Ok(())
    }

    /// Finish a job held by `worker` as done, failed or cancelled; false (and nothing changed) if it no longer holds it.
    pub async fn finish(
        &self,
        id: &str,
        worker: &str,
        state: JobState,
        pages: u64,
        rows: u64,
        error: Option<&str>,
    ) -> Result<bool, QueueError> {
        self.require_final(id, state)?;
        let done = sqlx::query(
            "UPDATE jobs SET state = ?, page_count = ?, row_count = ?, error = ?, \
             finished_at_ms = ?, lease_until_ms = NULL \
             WHERE id = ? AND worker = ? AND state = 'running'",
        )
        .bind(state.as_str())
        .bind(to_i64(pages))
        .bind(to_i64(rows))
        .bind(error)
        .bind(now_ms())
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await
        .map_err(|e| self.sql(e, format!("finishing job {id} as {}", state.as_str())))?;
        let held = done.rows_affected() == 1;
        if !held {
            tracing::warn!(job = %id, %worker, state = state.as_str(),
                "finish ignored: worker no longer holds the job");
        }
        Ok(held)
    }

    /// Running jobs whose lease expired go back to queued (attempts kept), or to failed after
    /// `max_attempts` attempts (or to cancelled if a cancel was requested); returns their ids.
    pub async fn requeue_expired(&self, max_attempts: u32) -> Result<Vec<String>, QueueError> {
        self.requeue_expired_at(max_attempts, now_ms()).await
    }

    async fn requeue_expired_at(
        &self,
        max_attempts: u32,
        now: i64,
    ) -> Result<Vec<String>, QueueError> {
        let doing = || "re-queueing jobs with expired leases".to_string();
        let mut tx = self.begin_write().await.map_err(|e| self.sql(e, doing()))?;
        let expired: Vec<(String, i64, bool, Option<String>)> = sqlx::query_as(
            "SELECT id, attempts, cancel_requested, worker FROM jobs \
             WHERE state = 'running' AND lease_until_ms < ? ORDER BY seq",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.sql(e, doing()))?;

        let max = i64::from(max_attempts.max(1));
        let mut ids = Vec::with_capacity(expired.len());
        for (id, attempts, cancel_requested, worker) in expired {
            let worker = worker.unwrap_or_default();
            let query = if cancel_requested {
                tracing::info!(job = %id, %worker, "lease expired on a cancelled job: cancelled");
                sqlx::query(
                    "UPDATE jobs SET state = 'cancelled', lease_until_ms = NULL, \
                     finished_at_ms = ? WHERE id = ?",
                )
                .bind(now)
            } else if attempts >= max {
                let error = format!(
                    "job interrupted {attempts} times (its worker stopped renewing the lease: \
                     daemon killed or hung); giving up after {max} attempts"
                );
                tracing::warn!(job = %id, %worker, "{error}");
                sqlx::query(
                    "UPDATE jobs SET state = 'failed', lease_until_ms = NULL, error = ?, \
                     finished_at_ms = ? WHERE id = ?",
                )
                .bind(error)
                .bind(now)
            } else {
                tracing::warn!(job = %id, %worker, attempts, "lease expired: job re-queued");
                sqlx::query(
                    "UPDATE jobs SET state = 'queued', worker = NULL, lease_until_ms = NULL, \
                     started_at_ms = NULL, row_count = 0, page_count = 0 WHERE id = ?",
                )
            };
            query
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.sql(e, doing()))?;
            ids.push(id);
        }
        tx.commit().await.map_err(|e| self.sql(e, doing()))?;
        Ok(ids)
    }

    /// Every running job (for a host that holds the home's lock, the orphans of a dead
    /// process at start-up; later, the jobs whose heartbeats it watches).
    pub async fn running_jobs(&self) -> Result<Vec<JobRecord>, QueueError> {
        self.fetch_jobs(
            concat!(
                "SELECT ",
                job_cols!(),
                " FROM jobs WHERE state = 'running' ORDER BY seq"
            ),
            None,
            "listing running jobs",
        )
        .await
    }

    /// Put a running job held by `worker` back in the queue, its attempts kept (the
    /// interrupted run counts); with `heartbeat`, only if the lease still has that value
    /// (no renewal happened meanwhile). False when nothing changed.
    pub async fn requeue(
        &self,
        id: &str,
        worker: &str,
        heartbeat: Option<i64>,
    ) -> Result<bool, QueueError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', worker = NULL, lease_until_ms = NULL, \
             started_at_ms = NULL, row_count = 0, page_count = 0 \
             WHERE id = ? AND worker = ? AND state = 'running' \
             AND (? IS NULL OR lease_until_ms IS ?)",
        )
        .bind(id)
        .bind(worker)
        .bind(heartbeat)
        .bind(heartbeat)
        .execute(&self.pool)
        .await
        .map_err(|e| self.sql(e, format!("re-queueing interrupted job {id}")))?;
        Ok(done.rows_affected() == 1)
    }

    /// Graceful shutdown: running jobs of workers whose id starts with `worker_prefix` go back
    /// to queued with the lease cleared and this attempt not counted (or to cancelled if a
    /// cancel was requested); returns how many. An empty prefix matches every worker.
    pub async fn release_worker(&self, worker_prefix: &str) -> Result<u64, QueueError> {
        let done = sqlx::query(
            "UPDATE jobs SET \
               state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END, \
               worker = CASE WHEN cancel_requested THEN worker ELSE NULL END, \
               attempts = CASE WHEN cancel_requested THEN attempts ELSE MAX(attempts - 1, 0) END, \
               started_at_ms = CASE WHEN cancel_requested THEN started_at_ms ELSE NULL END, \
               finished_at_ms = CASE WHEN cancel_requested THEN ? ELSE NULL END, \
               row_count = CASE WHEN cancel_requested THEN row_count ELSE 0 END, \
               page_count = CASE WHEN cancel_requested THEN page_count ELSE 0 END, \
               lease_until_ms = NULL \
             WHERE state = 'running' AND substr(worker, 1, length(?)) = ?",
        )
        .bind(now_ms())
        .bind(worker_prefix)
        .bind(worker_prefix)
        .execute(&self.pool)
        .await
        .map_err(|e| self.sql(e, format!("releasing the jobs of workers {worker_prefix}*")))?;
        Ok(done.rows_affected())
    }

    /// The job with this id, if any.
    pub async fn get(&self, id: &str) -> Result<Option<JobRecord>, QueueError> {
        let row: Option<JobRow> =
            sqlx::query_as(concat!("SELECT ", job_cols!(), " FROM jobs WHERE id = ?"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.sql(e, format!("reading job {id}")))?;
        row.map(|r| self.record(r)).transpose()
    }

    /// The jobs with these ids, in the order given; unknown ids are skipped.
    pub async fn get_many(&self, ids: &[String]) -> Result<Vec<JobRecord>, QueueError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = serde_json::to_string(ids).expect("a list of strings always serializes");
        let rows: Vec<JobRow> = sqlx::query_as(concat!(
            "SELECT ",
            job_cols!(),
            " FROM jobs WHERE id IN (SELECT value FROM json_each(?))"
        ))
        .bind(list)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.sql(e, format!("reading {} jobs", ids.len())))?;
        let mut by_id = HashMap::with_capacity(rows.len());
        for row in rows {
            let record = self.record(row)?;
            by_id.insert(record.job.id.clone(), record);
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// Queued and running jobs: running first, then by priority (highest first) and age (oldest first).
    pub async fn active(&self) -> Result<Vec<JobRecord>, QueueError> {
        self.fetch_jobs(
            concat!(
                "SELECT ",
                job_cols!(),
                " FROM jobs WHERE state IN ('queued', 'running') \
                 ORDER BY state = 'running' DESC, priority DESC, enqueued_at_ms, seq"
            ),
            None,
            "listing active jobs",
        )
        .await
    }

    /// The `limit` most recently finished failed jobs, newest first.
    pub async fn recent_failures(&self, limit: u32) -> Result<Vec<JobRecord>, QueueError> {
        self.fetch_jobs(
            concat!(
                "SELECT ",
                job_cols!(),
                " FROM jobs WHERE state = 'failed' \
                 ORDER BY finished_at_ms DESC, seq DESC LIMIT ?"
            ),
            Some(i64::from(limit)),
            "listing recent failures",
        )
        .await
    }

    /// Cancel a job: queued → cancelled at once; running → cancel requested (its worker must stop).
    pub async fn cancel(&self, id: &str) -> Result<CancelOutcome, QueueError> {
        let doing = || format!("cancelling job {id}");
        let mut tx = self.begin_write().await.map_err(|e| self.sql(e, doing()))?;
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM jobs WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| self.sql(e, doing()))?;
        let Some(state) = state else {
            return Ok(CancelOutcome::NotFound);
        };
        let (query, outcome) = match self.parse_state(id, &state)? {
            JobState::Queued => (
                sqlx::query("UPDATE jobs SET state = 'cancelled', finished_at_ms = ? WHERE id = ?")
                    .bind(now_ms()),
                CancelOutcome::Cancelled,
            ),
            JobState::Running => (
                sqlx::query("UPDATE jobs SET cancel_requested = 1 WHERE id = ?"),
                CancelOutcome::Requested,
            ),
            finished => return Ok(CancelOutcome::AlreadyFinished(finished)),
        };
        query
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.sql(e, doing()))?;
        tx.commit().await.map_err(|e| self.sql(e, doing()))?;
        Ok(outcome)
    }

    /// Cancel every queued job and request cancellation of every running one; returns their ids.
    pub async fn cancel_all(&self) -> Result<Vec<String>, QueueError> {
        let doing = || "cancelling all jobs".to_string();
        let mut tx = self.begin_write().await.map_err(|e| self.sql(e, doing()))?;
        let mut ids: Vec<String> = sqlx::query_scalar(
            "UPDATE jobs SET state = 'cancelled', finished_at_ms = ? \
             WHERE state = 'queued' RETURNING id",
        )
        .bind(now_ms())
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.sql(e, doing()))?;
        let running: Vec<String> = sqlx::query_scalar(
            "UPDATE jobs SET cancel_requested = 1 WHERE state = 'running' RETURNING id",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.sql(e, doing()))?;
        tx.commit().await.map_err(|e| self.sql(e, doing()))?;
        ids.extend(running);
        Ok(ids)
    }

    /// End a job that is still queued (a cancel); false (and nothing changed) if it is not
    /// queued any more (claimed or finished meanwhile).
    pub async fn finish_queued(
        &self,
        id: &str,
        state: JobState,
        error: Option<&str>,
    ) -> Result<bool, QueueError> {
        self.require_final(id, state)?;
        let done = sqlx::query(
            "UPDATE jobs SET state = ?, error = ?, finished_at_ms = ? \
             WHERE id = ? AND state = 'queued'",
        )
        .bind(state.as_str())
        .bind(error)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            self.sql(
                e,
                format!("finishing queued job {id} as {}", state.as_str()),
            )
        })?;
        Ok(done.rows_affected() == 1)
    }

    /// Ask the worker running job `id` to stop (its cancel flag); false (and nothing
    /// changed) if the job is not running.
    pub async fn request_cancel(&self, id: &str) -> Result<bool, QueueError> {
        let done =
            sqlx::query("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = 'running'")
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(|e| self.sql(e, format!("requesting the cancellation of job {id}")))?;
        Ok(done.rows_affected() == 1)
    }

    /// True if the job should stop: a cancel was requested, or it is already cancelled.
    pub async fn cancel_requested(&self, id: &str) -> Result<bool, QueueError> {
        let flag: Option<bool> = sqlx::query_scalar(
            "SELECT cancel_requested OR state = 'cancelled' FROM jobs WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.sql(e, format!("reading the cancel flag of job {id}")))?;
        Ok(flag.unwrap_or(false))
    }

    /// Delete finished jobs that finished more than `keep` ago; returns how many.
    pub async fn prune(&self, keep: Duration) -> Result<u64, QueueError> {
        self.prune_at(keep, now_ms()).await
    }

    async fn prune_at(&self, keep: Duration, now: i64) -> Result<u64, QueueError> {
        let cutoff = now.saturating_sub(duration_ms(keep));
        let done = sqlx::query(
            "DELETE FROM jobs WHERE state IN ('done', 'failed', 'cancelled') \
             AND COALESCE(finished_at_ms, enqueued_at_ms) < ?",
        )
        .bind(cutoff)
        .execute(&self.pool)
        .await
        .map_err(|e| self.sql(e, "pruning finished jobs".to_string()))?;
        Ok(done.rows_affected())
    }

    /// How many jobs are in each state (every state listed, zeros included).
    pub async fn counts(&self) -> Result<Vec<(JobState, u64)>, QueueError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.sql(e, "counting jobs".to_string()))?;
        let mut counts: Vec<(JobState, u64)> = [
            JobState::Queued,
            JobState::Running,
            JobState::Done,
            JobState::Failed,
            JobState::Cancelled,
        ]
        .into_iter()
        .map(|s| (s, 0))
        .collect();
        for (state, n) in rows {
            let state = self.parse_state("(count)", &state)?;
            if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == state) {
                slot.1 = u64::try_from(n).unwrap_or(0);
            }
        }
        Ok(counts)
    }

    /// When the scheduler last enqueued a refresh of `schema.table` (ms since epoch), if ever.
    pub async fn last_scheduled(
        &self,
        schema: &str,
        table: &str,
    ) -> Result<Option<i64>, QueueError> {
        sqlx::query_scalar(
            "SELECT last_scheduled_ms FROM schedule WHERE schema_name = ? AND table_name = ?",
        )
        .bind(schema)
        .bind(table)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.sql(e, format!("reading the schedule of {schema}.{table}")))
    }

    /// Remember that the scheduler enqueued a refresh of `schema.table` at `at_ms`.
    pub async fn set_last_scheduled(
        &self,
        schema: &str,
        table: &str,
        at_ms: i64,
    ) -> Result<(), QueueError> {
        sqlx::query(
            "INSERT INTO schedule (schema_name, table_name, last_scheduled_ms) VALUES (?, ?, ?) \
             ON CONFLICT (schema_name, table_name) \
             DO UPDATE SET last_scheduled_ms = excluded.last_scheduled_ms",
        )
        .bind(schema)
        .bind(table)
        .bind(at_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| self.sql(e, format!("recording the schedule of {schema}.{table}")))?;
        Ok(())
    }

    // ---- helpers ----

    /// Start a write transaction that holds the write lock from the start (no upgrade races).
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    async fn fetch_jobs(
        &self,
        sql: &'static str,
        limit: Option<i64>,
        doing: &str,
    ) -> Result<Vec<JobRecord>, QueueError> {
        let mut query = sqlx::query_as::<_, JobRow>(sql);
        if let Some(limit) = limit {
            query = query.bind(limit);
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.sql(e, doing.to_string()))?;
        rows.into_iter().map(|r| self.record(r)).collect()
    }

    fn path_buf(&self) -> PathBuf {
        self.path.as_ref().clone()
    }

    fn sql(&self, source: sqlx::Error, doing: String) -> QueueError {
        QueueError::Sql {
            path: self.path_buf(),
            doing,
            source,
        }
    }

    fn corrupt(&self, id: &str, field: &'static str, value: &str) -> QueueError {
        QueueError::Corrupt {
            path: self.path_buf(),
            id: id.to_string(),
            field,
            value: value.to_string(),
        }
    }

    fn parse_state(&self, id: &str, state: &str) -> Result<JobState, QueueError> {
        JobState::parse(state).ok_or_else(|| self.corrupt(id, "state", state))
    }

    fn record(&self, row: JobRow) -> Result<JobRecord, QueueError> {
        let action = Action::parse(&row.action)
            .ok_or_else(|| self.corrupt(&row.id, "action", &row.action))?;
        let requested_by = parse_requester(&row.requested_by)
            .ok_or_else(|| self.corrupt(&row.id, "requested_by", &row.requested_by))?;
        let state = self.parse_state(&row.id, &row.state)?;
        Ok(JobRecord {
            job: LoaderJob {
                id: row.id,
                tenant: row.tenant,
                action,
                schema: row.schema_name,
                table: row.table_name,
                requested_by,
                enqueued_at: rfc3339(row.enqueued_at_ms),
            },
            state,
            priority: row.priority,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            worker: row.worker,
            lease_until_ms: row.lease_until_ms,
            rows: u64::try_from(row.row_count).unwrap_or(0),
            pages: u64::try_from(row.page_count).unwrap_or(0),
            error: row.error,
            cancel_requested: row.cancel_requested,
            started_at_ms: row.started_at_ms,
            finished_at_ms: row.finished_at_ms,
            enqueued_at_ms: row.enqueued_at_ms,
        })
    }
}

fn open_error(path: &Path, doing: &str, source: sqlx::Error) -> QueueError {
    QueueError::Open {
        path: path.to_path_buf(),
        doing: doing.to_string(),
        source,
    }
}

/// Put the file in WAL mode, retrying while another process holds a lock (the switch cannot
/// use the busy handler).
async fn enable_wal(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match sqlx::query_scalar::<_, String>("PRAGMA journal_mode = WAL")
            .fetch_one(pool)
            .await
        {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(sqlx::Error::Protocol(format!(
                    "SQLite refused WAL mode (journal mode is {mode})"
                )))
            }
            Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// True for SQLITE_BUSY / SQLITE_LOCKED and their extended codes.
fn is_busy(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i64>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

/// Version 1 of the schema: jobs and the scheduler's bookkeeping.
const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    action TEXT NOT NULL,
    schema_name TEXT NOT NULL,
    table_name TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    lease_until_ms INTEGER,
    row_count INTEGER NOT NULL DEFAULT 0,
    page_count INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    enqueued_at_ms INTEGER NOT NULL,
    started_at_ms INTEGER,
    finished_at_ms INTEGER
);
-- At most one queued-or-running job per (table, action): the dedup invariant, enforced.
CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_active_per_action
    ON jobs (schema_name, table_name, action) WHERE state IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, priority DESC, enqueued_at_ms, seq);
CREATE INDEX IF NOT EXISTS jobs_by_table ON jobs (schema_name, table_name, state);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (state, finished_at_ms);
CREATE TABLE IF NOT EXISTS schedule (
    schema_name TEXT NOT NULL,
    table_name TEXT NOT NULL,
    last_scheduled_ms INTEGER NOT NULL,
    PRIMARY KEY (schema_name, table_name)
);
";

/// Bring the schema up to [`SCHEMA_VERSION`] (idempotent; safe when several processes open at once).
async fn migrate(pool: &SqlitePool, path: &Path) -> Result<(), QueueError> {
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(pool)
        .await
        .map_err(|e| open_error(path, "reading the schema version", e))?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    if version > SCHEMA_VERSION {
        return Err(QueueError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| open_error(path, "locking the file to migrate its schema", e))?;
    // Re-read under the write lock: another process may have migrated meanwhile.
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| open_error(path, "reading the schema version", e))?;
    if version > SCHEMA_VERSION {
        return Err(QueueError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 1 {
        tx.execute(SCHEMA_V1)
            .await
            .map_err(|e| open_error(path, "creating the schema (version 1)", e))?;
    }
    // Future migrations: `if version < 2 { ... }`, each idempotent, then bump SCHEMA_VERSION.
    let set_version = format!("PRAGMA user_version = {SCHEMA_VERSION}");
    tx.execute(set_version.as_str())
        .await
        .map_err(|e| open_error(path, "recording the schema version", e))?;
    tx.commit()
        .await
        .map_err(|e| open_error(path, "committing the schema migration", e))?;
    tracing::info!(path = %path.display(), from = version, to = SCHEMA_VERSION, "queue schema migrated");
    Ok(())
}

/// A short, readable, random job id (lowercase hex from a v4 uuid).
fn new_job_id() -> String {
    let mut id = uuid::Uuid::new_v4().simple().to_string();
    id.truncate(ID_LEN);
    id
}

/// Milliseconds since the epoch: the queue's clock, used by the actors too.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn requester_str(by: Requester) -> &'static str {
    match by {
        Requester::User => "user",
        Requester::Scheduler => "scheduler",
    }
}

fn parse_requester(s: &str) -> Option<Requester> {
    match s {
        "user" => Some(Requester::User),
        "scheduler" => Some(Requester::Scheduler),
        _ => None,
    }
}
