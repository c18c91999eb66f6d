//! The daemon's actors (actix, on a multi-thread tokio runtime).
//!
//! ```text
//!   ZeroMQ client ─┐
//!   pg client ─────┤ (src/pg: pgwire sessions; Host::request, Host::events)
//!   client request ┴─▶ Gateway ──(spawn_blocking)──▶ Interpreter ──▶ DuckDB (own connection)
//!                         │                              │ enqueue (JobControl)
//!                         ▼                              ▼
//!                    SQLite queue ◀──────────── QueueJobs ──Wake──▶ QueuePoller
//!                         ▲                                          │ RunJob (do_send)
//!   Scheduler ──enqueue───┘                                          ▼
//!   (refresh when due)                           LoaderWorker × N ──(tokio task)──▶ Engine::load
//!                                                      │   WorkerIdle (do_send) ──▶ QueuePoller
//!                                                      ▼
//!   AdapterRegistry ──Notice──▶ StatusPublisher ──▶ broadcast ──▶ PUB socket / in-process clients
//!   (watches specs and connections.yaml)
//! ```
//!
//! Every arrow between actors is either `do_send` (telemetry, wake-ups) or a `send`
//! whose handler never sends back to its caller, so there is no cycle of awaited sends.
//! Blocking work (DuckDB, file IO) runs in `spawn_blocking`; loads run as tokio tasks
//! so a panicking load fails its job, not the daemon. The actors all share [`Shared`].

pub mod adapter_registry;
pub mod gateway;
pub mod loader_worker;
pub mod queue_poller;
pub mod scheduler;
pub mod status_publisher;

use crate::engine::Engine;
use crate::protocol::JobState;
use crate::queue::{JobRecord, Queue, QueueError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long a claimed job's lease lasts before another daemon may re-run it; renewed
/// every third of it while the job runs.
pub const LEASE: Duration = Duration::from_secs(30);

/// A job interrupted this many times (daemon killed mid-load) is marked failed.
pub const MAX_ATTEMPTS: u32 = 5;

/// How a job ended, as written to both stores by [`Shared::finish_job`].
#[derive(Debug, Clone, PartialEq)]
pub struct JobEnd {
    /// `done`, `failed` or `cancelled`.
    pub state: JobState,
    /// Pages fetched.
    pub pages: u64,
    /// Rows written.
    pub rows: u64,
    /// Why it failed (secrets are redacted when written).
    pub error: Option<String>,
}

/// What became of a job whose run was cut short (see [`Shared::job_interrupted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// Back in the queue; the interrupted run counted as an attempt.
    Requeued,
    /// Failed: interrupted [`MAX_ATTEMPTS`] times.
    Failed,
    /// A cancel had been requested: cancelled.
    Cancelled,
    /// Nothing changed: the job was no longer held as seen (it moved on meanwhile).
    Moved,
}

/// State every actor of one host shares.
pub struct Shared {
    /// The engine (warehouse, config, REST clients).
    pub engine: Arc<Engine>,
    /// The durable job queue.
    pub queue: Queue,
    /// This host's instance id; worker ids start with it.
    pub instance: String,
    /// Tenant (the home directory) recorded on jobs.
    pub tenant: String,
    /// Cancellation tokens of running jobs, by job id.
    pub running: Mutex<HashMap<String, CancellationToken>>,
    /// Fires when the host shuts down.
    pub shutdown: CancellationToken,
    /// True in `unifyd`, false in `unify --no-daemon`.
    pub is_daemon: bool,
    /// When the host started.
    pub started: Instant,
    /// Loader workers in the pool.
    pub workers: usize,
    /// How often the scheduler looks for due tables.
    pub scheduler_tick: Duration,
}

impl Shared {
    /// The one writer of a job's final state: the SQLite queue (only while `worker`
    /// still holds the job), then `unify.loading_jobs`. Every path that ends a job —
    /// a finished load, a panic, a daemon death counted against the attempt limit, a
    /// lease that stopped beating — goes through here, so the two stores agree.
    /// Returns false (and writes nothing) when the worker no longer held the job.
    pub async fn finish_job(
        &self,
        job: &JobRecord,
        worker: &str,
        end: &JobEnd,
    ) -> Result<bool, QueueError> {
        let error = end.error.as_deref().map(crate::secret::redact);
        let held = self
            .queue
            .finish(
                &job.job.id,
                worker,
                end.state,
                end.pages,
                end.rows,
                error.as_deref(),
            )
            .await?;
        if !held {
            return Ok(false);
        }
        let (wh, id, schema, table, action, state) = (
            self.engine.warehouse().clone(),
            job.job.id.clone(),
            job.job.schema.clone(),
            job.job.table.clone(),
            job.job.action.as_str().to_string(),
            end.state.as_str().to_string(),
        );
        let (rows, pages) = (end.rows, end.pages);
        let started_us = job.started_at_ms.map(|ms| ms.saturating_mul(1000));
        let written = crate::engine::blocking(move || {
            let conn = wh.connect()?;
            crate::warehouse::job_final(
                &conn,
                &crate::warehouse::JobFinal {
                    job_id: &id,
                    schema: &schema,
                    table: &table,
                    action: &action,
                    state: &state,
                    rows,
                    pages,
                    started_us,
                    error: error.as_deref(),
                },
            )?;
            Ok(())
        })
        .await;
        if let Err(e) = written {
            tracing::error!(job = %job.job.id, error = %e, "recording the job's end in unify.loading_jobs failed");
        }
        Ok(true)
    }

    /// A run of `job` (held by its `worker`) was cut short — the process died, or its
    /// heartbeat stopped (`why`). The run counts as an attempt: the job goes back to the
    /// queue, or, after [`MAX_ATTEMPTS`] interrupted runs, fails saying so (or is
    /// cancelled, when a cancel was requested). With `heartbeat`, nothing happens if
    /// the lease was renewed meanwhile.
    pub async fn job_interrupted(
        &self,
        job: &JobRecord,
        why: &str,
        heartbeat: Option<i64>,
    ) -> Result<Interrupted, QueueError> {
        let worker = job.worker.clone().unwrap_or_default();
        let end = if job.cancel_requested {
            Some((
                Interrupted::Cancelled,
                JobEnd {
                    state: JobState::Cancelled,
                    pages: job.pages,
                    rows: job.rows,
                    error: None,
                },
            ))
        } else if job.attempts >= MAX_ATTEMPTS {
            Some((
                Interrupted::Failed,
                JobEnd {
                    state: JobState::Failed,
                    pages: job.pages,
                    rows: job.rows,
                    error: Some(format!(
                        "job interrupted {} times ({why}); not retried again after {MAX_ATTEMPTS} attempts: run the load again once the cause is fixed",
                        job.attempts
                    )),
                },
            ))
        } else {
            None
        };
        let outcome = match end {
            Some((outcome, end)) => {
                if self.finish_job(job, &worker, &end).await? {
                    if let Some(e) = &end.error {
                        tracing::error!(job = %job.job.id, "{e}");
                    }
                    outcome
                } else {
                    Interrupted::Moved
                }
            }
            None => {
                if self.queue.requeue(&job.job.id, &worker, heartbeat).await? {
                    tracing::warn!(job = %job.job.id, attempts = job.attempts, "job interrupted ({why}); re-queued");
                    Interrupted::Requeued
                } else {
                    Interrupted::Moved
                }
            }
        };
        if outcome != Interrupted::Moved {
            // If the run is still going in this process, it stops at its next page.
            self.cancel_running(&job.job.id);
        }
        Ok(outcome)
    }

    /// Cancel a running job's token (at its next page boundary). True if it was running here.
    pub fn cancel_running(&self, job_id: &str) -> bool {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        match running.get(job_id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }
}
