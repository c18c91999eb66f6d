//! The job ledger: the one writer of a queued job's final state (done, failed,
//! cancelled) to both stores — `unify.loading_jobs` and the SQLite queue, and only while
//! the queue still holds the job as the caller saw it — so the two never disagree.
//! Every path that ends a job goes through [`Ledger::finish`]: a finished, failed or
//! cancelled load, a panic, a run cut short by a crash or a stopped heartbeat, a queued
//! job cancelled, a cancelled job released at shutdown. The engine's load records what
//! a run did (its row, counts, log lines) but never a queued job's final state
//! ([`crate::engine::Engine::load_queued`]). It is a small cloneable service (queue and
//! engine handles), not an actor: it holds no state of its own. It never cancels a
//! running load; whoever calls it tells the `LoaderPool`
//! ([`super::loader_worker::CancelJob`]).

use super::{ControlError, MAX_ATTEMPTS};
use crate::engine::Engine;
use crate::protocol::JobState;
use crate::queue::{CancelOutcome, JobRecord, Queue, QueueError};
use std::sync::Arc;

/// How a job ended, as [`Ledger::finish`] writes it to both stores.
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

impl JobEnd {
    /// Cancelled, with the counters the queue holds for `job`.
    pub fn cancelled(job: &JobRecord) -> JobEnd {
        JobEnd {
            state: JobState::Cancelled,
            pages: job.pages,
            rows: job.rows,
            error: None,
        }
    }
}

/// Where a job is when it ends, which decides how the queue is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage<'a> {
    /// Running, held by this worker; nothing is written if the worker no longer holds it.
    Running {
        /// The worker's id in the queue.
        worker: &'a str,
    },
    /// Still queued (a cancel); nothing is written if a worker claimed it meanwhile.
    Queued,
}

/// What became of a job whose run was cut short (see [`Ledger::interrupted`]).
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

/// How many times a cancel looks again at a job that changed state under it.
const CANCEL_TRIES: usize = 5;

/// The one writer of final job states; cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    queue: Queue,
    engine: Arc<Engine>,
}

impl Ledger {
    /// A ledger over the queue and the engine's warehouse.
    pub fn new(queue: Queue, engine: Arc<Engine>) -> Ledger {
        Ledger { queue, engine }
    }

    /// Write `job`'s end to both stores, only while the queue still holds it at
    /// `stage`: `unify.loading_jobs` first, then the queue (whose final state is what
    /// clients wait on, so once they see it, DuckDB says the same). Returns false when
    /// the job had moved on (then nothing is written, or — if it moved between the look
    /// and the queue's write — the queue is left to whoever moved it, whose end is
    /// written here too). A failure of the warehouse half is logged: the queue is the
    /// record the daemon acts on.
    pub async fn finish(
        &self,
        job: &JobRecord,
        stage: Stage<'_>,
        end: &JobEnd,
    ) -> Result<bool, QueueError> {
        let id = &job.job.id;
        let held = self.queue.get(id).await?.is_some_and(|now| match stage {
            Stage::Running { worker } => {
                now.state == JobState::Running && now.worker.as_deref() == Some(worker)
            }
            Stage::Queued => now.state == JobState::Queued,
        });
        if !held {
            return Ok(false);
        }
        let error = end.error.as_deref().map(crate::secret::redact);
        self.record_in_warehouse(job, end, error.clone()).await;
        let changed = match stage {
            Stage::Running { worker } => {
                self.queue
                    .finish(id, worker, end.state, end.pages, end.rows, error.as_deref())
                    .await?
            }
            Stage::Queued => {
                self.queue
                    .finish_queued(id, end.state, error.as_deref())
                    .await?
            }
        };
        if !changed {
            tracing::warn!(job = %id, "the job moved on while its end was recorded");
        }
        Ok(changed)
    }

    /// The warehouse half of [`Self::finish`].
    async fn record_in_warehouse(&self, job: &JobRecord, end: &JobEnd, error: Option<String>) {
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
    }

    /// A run of `job` (held by its worker) was cut short — the process died, or its
    /// heartbeat stopped (`why`). The run counts as an attempt: the job goes back to the
    /// queue, or, after [`MAX_ATTEMPTS`] interrupted runs, fails saying so (or is
    /// cancelled, when a cancel was requested). With `heartbeat`, nothing happens if
    /// the lease was renewed meanwhile. The caller stops the run if it is still going
    /// here (any outcome but [`Interrupted::Moved`]).
    pub async fn interrupted(
        &self,
        job: &JobRecord,
        why: &str,
        heartbeat: Option<i64>,
    ) -> Result<Interrupted, QueueError> {
        let worker = job.worker.clone().unwrap_or_default();
        let end = if job.cancel_requested {
            Some((Interrupted::Cancelled, JobEnd::cancelled(job)))
        } else if job.attempts >= MAX_ATTEMPTS {
            let error = format!(
                "job interrupted {} times ({why}); not retried again after {MAX_ATTEMPTS} attempts: run the load again once the cause is fixed",
                job.attempts
            );
            let end = JobEnd {
                state: JobState::Failed,
                error: Some(error),
                ..JobEnd::cancelled(job)
            };
            Some((Interrupted::Failed, end))
        } else {
            None
        };
        let Some((outcome, end)) = end else {
            if !self.queue.requeue(&job.job.id, &worker, heartbeat).await? {
                return Ok(Interrupted::Moved);
            }
            tracing::warn!(job = %job.job.id, attempts = job.attempts, "job interrupted ({why}); re-queued");
            return Ok(Interrupted::Requeued);
        };
        if !self
            .finish(job, Stage::Running { worker: &worker }, &end)
            .await?
        {
            return Ok(Interrupted::Moved);
        }
        if let Some(e) = &end.error {
            tracing::error!(job = %job.job.id, "{e}");
        }
        Ok(outcome)
    }

    /// Cancel job `id`: a queued job is cancelled at once (both stores); a running one
    /// gets its cancel flag, which its worker — here or in another process — obeys at
    /// the next page (the caller also tells this host's pool).
    pub async fn cancel(&self, id: &str) -> Result<CancelOutcome, ControlError> {
        // The job can move on while we look (claimed, finished, re-queued): each try
        // sees a newer state, and each write only applies to the state it saw.
        for _ in 0..CANCEL_TRIES {
            let Some(job) = self.queue.get(id).await? else {
                return Ok(CancelOutcome::NotFound);
            };
            match job.state {
                JobState::Queued => {
                    if self
                        .finish(&job, Stage::Queued, &JobEnd::cancelled(&job))
                        .await?
                    {
                        return Ok(CancelOutcome::Cancelled);
                    }
                }
                JobState::Running => {
                    if self.queue.request_cancel(id).await? {
                        return Ok(CancelOutcome::Requested);
                    }
                }
                finished => return Ok(CancelOutcome::AlreadyFinished(finished)),
            }
        }
        Err(ControlError::Contended(id.to_string()))
    }

    /// Cancel every queued job and request the cancellation of every running one (as
    /// [`Self::cancel`]); returns the jobs affected, queued ones first.
    pub async fn cancel_all(&self) -> Result<Vec<(String, CancelOutcome)>, ControlError> {
        let mut active = self.queue.active().await?;
        active.sort_by_key(|j| j.state != JobState::Queued);
        let mut affected = Vec::new();
        for job in active {
            let outcome = self.cancel(&job.job.id).await?;
            if matches!(outcome, CancelOutcome::Cancelled | CancelOutcome::Requested) {
                affected.push((job.job.id, outcome));
            }
        }
        Ok(affected)
    }

    /// Shutdown: running jobs of this host's workers (ids starting with `instance`) go
    /// back to the queue without counting the attempt — except those whose cancel was
    /// requested, which end cancelled (through [`Self::finish`]); a re-queued job's row
    /// in `unify.loading_jobs` says `interrupted` until it runs again. Returns how many
    /// were re-queued.
    pub async fn release(&self, instance: &str) -> Result<u64, QueueError> {
        let prefix = format!("{instance}-w");
        let mut requeued = Vec::new();
        for job in self.queue.running_jobs().await? {
            let Some(worker) = job.worker.as_deref().filter(|w| w.starts_with(&prefix)) else {
                continue;
            };
            if job.cancel_requested {
                self.finish(&job, Stage::Running { worker }, &JobEnd::cancelled(&job))
                    .await?;
            } else {
                requeued.push(job.job.id);
            }
        }
        let n = self.queue.release_worker(&prefix).await?;
        for id in requeued {
            let written = (self.engine.warehouse())
                .run(move |c| crate::warehouse::job_requeued(c, &id))
                .await;
            if let Err(e) = written {
                tracing::error!(error = %e, "recording a re-queued job in unify.loading_jobs failed");
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::testing::{engine_in_memory, loading_job_state, open_queue};
    use crate::protocol::{Action, Requester};
    use std::time::Duration;

    async fn enqueue(queue: &Queue, table: &str) -> JobRecord {
        queue
            .enqueue("t", "s", table, Action::Load, Requester::User)
            .await
            .unwrap()
            .into_record()
    }

    #[tokio::test]
    async fn cancelling_a_queued_job_writes_both_stores() {
        let dir = tempfile::tempdir().unwrap();
        let queue = open_queue(dir.path()).await;
        let engine = engine_in_memory(dir.path());
        let ledger = Ledger::new(queue.clone(), engine.clone());
        let job = enqueue(&queue, "a").await;
        let outcome = ledger.cancel(&job.job.id).await.unwrap();
        assert_eq!(outcome, CancelOutcome::Cancelled);
        let stored = queue.get(&job.job.id).await.unwrap().unwrap();
        assert_eq!(stored.state, JobState::Cancelled);
        assert!(stored.finished_at_ms.is_some());
        assert_eq!(
            loading_job_state(&engine, &job.job.id).as_deref(),
            Some("cancelled"),
            "one writer: unify.loading_jobs says what the queue says"
        );
        // Again: already finished, nothing written.
        assert_eq!(
            ledger.cancel(&job.job.id).await.unwrap(),
            CancelOutcome::AlreadyFinished(JobState::Cancelled)
        );
        assert_eq!(
            ledger.cancel("nope").await.unwrap(),
            CancelOutcome::NotFound
        );
        queue.close().await;
    }

    #[tokio::test]
    async fn cancelling_a_running_job_sets_its_flag_and_writes_no_final_state() {
        let dir = tempfile::tempdir().unwrap();
        let queue = open_queue(dir.path()).await;
        let engine = engine_in_memory(dir.path());
        let ledger = Ledger::new(queue.clone(), engine.clone());
        let job = enqueue(&queue, "a").await;
        let queued = enqueue(&queue, "b").await;
        let claimed = queue
            .claim("h-w0", Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(claimed.job.id, job.job.id);
        let affected = ledger.cancel_all().await.unwrap();
        assert_eq!(
            affected,
            vec![
                (queued.job.id.clone(), CancelOutcome::Cancelled),
                (job.job.id.clone(), CancelOutcome::Requested)
            ]
        );
        let running = queue.get(&job.job.id).await.unwrap().unwrap();
        assert_eq!(running.state, JobState::Running);
        assert!(running.cancel_requested);
        assert_eq!(loading_job_state(&engine, &job.job.id), None);
        assert_eq!(
            loading_job_state(&engine, &queued.job.id).as_deref(),
            Some("cancelled")
        );
        // Its worker stops and records the end: both stores.
        let end = JobEnd::cancelled(&running);
        let stage = Stage::Running { worker: "h-w0" };
        assert!(ledger.finish(&running, stage, &end).await.unwrap());
        assert_eq!(
            loading_job_state(&engine, &job.job.id).as_deref(),
            Some("cancelled")
        );
        // A worker that no longer holds the job writes nothing.
        assert!(!ledger.finish(&running, stage, &end).await.unwrap());
        queue.close().await;
    }

    #[tokio::test]
    async fn an_interrupted_run_counts_and_the_last_allowed_one_fails_in_both_stores() {
        let dir = tempfile::tempdir().unwrap();
        let queue = open_queue(dir.path()).await;
        let engine = engine_in_memory(dir.path());
        let ledger = Ledger::new(queue.clone(), engine.clone());
        let job = enqueue(&queue, "a").await;
        for attempt in 1..=MAX_ATTEMPTS {
            let run = queue
                .claim("dead-w0", Duration::from_secs(30))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(run.attempts, attempt);
            let outcome = ledger.interrupted(&run, "killed", None).await.unwrap();
            if attempt < MAX_ATTEMPTS {
                assert_eq!(outcome, Interrupted::Requeued);
                let stored = queue.get(&job.job.id).await.unwrap().unwrap();
                assert_eq!(stored.state, JobState::Queued);
                assert_eq!(stored.attempts, attempt, "the interrupted run counted");
            } else {
                assert_eq!(outcome, Interrupted::Failed);
            }
        }
        let stored = queue.get(&job.job.id).await.unwrap().unwrap();
        assert_eq!(stored.state, JobState::Failed);
        let error = stored.error.unwrap();
        assert!(
            error.contains(&format!("job interrupted {MAX_ATTEMPTS} times (killed)")),
            "{error}"
        );
        assert_eq!(
            loading_job_state(&engine, &job.job.id).as_deref(),
            Some("failed")
        );
        queue.close().await;
    }

    #[tokio::test]
    async fn a_heartbeat_renewed_meanwhile_keeps_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let queue = open_queue(dir.path()).await;
        let engine = engine_in_memory(dir.path());
        let ledger = Ledger::new(queue.clone(), engine);
        enqueue(&queue, "a").await;
        let run = queue
            .claim("h-w0", Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap();
        assert!(queue
            .renew(&run.job.id, "h-w0", Duration::from_secs(30))
            .await
            .unwrap());
        let outcome = ledger
            .interrupted(&run, "hung", run.lease_until_ms)
            .await
            .unwrap();
        assert_eq!(outcome, Interrupted::Moved);
        let stored = queue.get(&run.job.id).await.unwrap().unwrap();
        assert_eq!(stored.state, JobState::Running);
        queue.close().await;
    }

    #[tokio::test]
    async fn release_requeues_this_hosts_runs_uncounted_and_ends_cancelled_ones_in_both_stores() {
        let dir = tempfile::tempdir().unwrap();
        let queue = open_queue(dir.path()).await;
        let engine = engine_in_memory(dir.path());
        let ledger = Ledger::new(queue.clone(), engine.clone());
        let lease = Duration::from_secs(30);
        let (a, b, c) = (
            enqueue(&queue, "a").await,
            enqueue(&queue, "b").await,
            enqueue(&queue, "c").await,
        );
        queue.claim("me-w0", lease).await.unwrap().unwrap();
        queue.claim("me-w1", lease).await.unwrap().unwrap();
        queue.claim("other-w0", lease).await.unwrap().unwrap();
        assert!(queue.request_cancel(&b.job.id).await.unwrap());
        assert_eq!(ledger.release("me").await.unwrap(), 1);
        let a = queue.get(&a.job.id).await.unwrap().unwrap();
        assert_eq!((a.state, a.attempts), (JobState::Queued, 0), "not counted");
        let b = queue.get(&b.job.id).await.unwrap().unwrap();
        assert_eq!(b.state, JobState::Cancelled);
        assert_eq!(
            loading_job_state(&engine, &b.job.id).as_deref(),
            Some("cancelled")
        );
        let c = queue.get(&c.job.id).await.unwrap().unwrap();
        assert_eq!(
            c.state,
            JobState::Running,
            "another host's run is left alone"
        );
        queue.close().await;
    }
}
