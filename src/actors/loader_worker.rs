//! LoaderWorker: runs one claimed job at a time. The load itself runs as a tokio task
//! (a panic fails the job, not the daemon); while it runs the worker renews the job's
//! lease, notices cancellation (from this host or recorded in the queue by another
//! process) and publishes throttled progress. When the host shuts down mid-load, the
//! job is left for re-queueing instead of being marked cancelled.

use super::queue_poller::WorkerIdle;
use super::status_publisher::{Publish, StatusPublisher};
use super::{JobEnd, Shared, LEASE};
use crate::engine::Progress;
use crate::protocol::{JobState, LoaderStatus};
use crate::queue::{now_ms, JobRecord};
use actix::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// One worker of the pool.
pub struct LoaderWorker {
    shared: Arc<Shared>,
    publisher: Addr<StatusPublisher>,
}

impl LoaderWorker {
    /// A worker publishing to `publisher`.
    pub fn new(shared: Arc<Shared>, publisher: Addr<StatusPublisher>) -> Self {
        LoaderWorker { shared, publisher }
    }
}

impl Actor for LoaderWorker {
    type Context = Context<Self>;
}

/// Run a claimed job; `done` hears when the worker is idle again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RunJob {
    /// The job, claimed by this worker's slot.
    pub job: JobRecord,
    /// The worker's slot in the pool.
    pub slot: usize,
    /// Told when the job is over.
    pub done: Recipient<WorkerIdle>,
}

impl Handler<RunJob> for LoaderWorker {
    type Result = ();
    fn handle(&mut self, msg: RunJob, ctx: &mut Context<Self>) {
        let shared = self.shared.clone();
        let publisher = self.publisher.clone();
        let job = msg.job;
        let job_id = job.job.id.clone();
        let worker_id = format!("{}-w{}", shared.instance, msg.slot);
        let handle = tokio::spawn(run_job(
            shared.clone(),
            publisher.clone(),
            job.clone(),
            worker_id.clone(),
        ));
        let slot = msg.slot;
        let done = msg.done;
        ctx.spawn(
            async move {
                if let Err(e) = handle.await {
                    // The load panicked: fail the job, keep the daemon.
                    let message = if e.is_panic() {
                        format!(
                            "internal error: the load panicked: {}",
                            panic_text(e.into_panic())
                        )
                    } else {
                        "internal error: the load task was aborted".to_string()
                    };
                    tracing::error!(job = %job_id, error = %message);
                    let end = JobEnd {
                        state: JobState::Failed,
                        pages: 0,
                        rows: 0,
                        error: Some(message.clone()),
                    };
                    if let Err(e) = shared.finish_job(&job, &worker_id, &end).await {
                        tracing::error!(job = %job_id, error = %e, "recording the job's end failed");
                    }
                    shared
                        .running
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&job_id);
                    let mut status = job.status(now_ms());
                    status.state = JobState::Failed;
                    status.error = Some(message);
                    publisher.do_send(Publish(status));
                }
            }
            .into_actor(self)
            .map(move |_, _, _| done.do_send(WorkerIdle(slot))),
        );
    }
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Progress of a running job: counters, throttled publishing.
struct JobProgress {
    base: LoaderStatus,
    started: Instant,
    pages: AtomicU64,
    rows: AtomicU64,
    last_publish: Mutex<Instant>,
    publisher: Addr<StatusPublisher>,
}

impl JobProgress {
    fn status(&self, state: JobState) -> LoaderStatus {
        LoaderStatus {
            state,
            pages: self.pages.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
            elapsed_ms: self.started.elapsed().as_millis() as u64,
            ..self.base.clone()
        }
    }
}

impl Progress for JobProgress {
    fn update(&self, _schema: &str, _table: &str, pages: u64, rows: u64) {
        self.pages.store(pages, Ordering::Relaxed);
        self.rows.store(rows, Ordering::Relaxed);
        let mut last = self.last_publish.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed() >= Duration::from_millis(100) {
            *last = Instant::now();
            self.publisher
                .do_send(Publish(self.status(JobState::Running)));
        }
    }

    fn log(&self, level: &str, message: &str) {
        match level {
            "error" => tracing::error!(job = %self.base.job_id, "{message}"),
            "warning" => tracing::warn!(job = %self.base.job_id, "{message}"),
            _ => tracing::info!(job = %self.base.job_id, "{message}"),
        }
    }
}

async fn run_job(
    shared: Arc<Shared>,
    publisher: Addr<StatusPublisher>,
    job: JobRecord,
    worker: String,
) {
    let id = job.job.id.clone();
    let token = CancellationToken::new();
    shared
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.clone(), token.clone());
    let progress = Arc::new(JobProgress {
        base: LoaderStatus {
            job_id: id.clone(),
            schema: job.job.schema.clone(),
            table: job.job.table.clone(),
            state: JobState::Running,
            pages: 0,
            rows: 0,
            elapsed_ms: 0,
            error: None,
        },
        started: Instant::now(),
        pages: AtomicU64::new(0),
        rows: AtomicU64::new(0),
        last_publish: Mutex::new(Instant::now()),
        publisher: publisher.clone(),
    });
    publisher.do_send(Publish(progress.status(JobState::Running)));

    // Lease renewal, cancellation requested through the queue, host shutdown.
    let keeper = {
        let (shared, token, id, worker, progress) = (
            shared.clone(),
            token.clone(),
            id.clone(),
            worker.clone(),
            progress.clone(),
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut n = 0u64;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = token.cancelled() => return,
                    _ = shared.shutdown.cancelled() => { token.cancel(); return; }
                }
                n += 1;
                if shared.queue.cancel_requested(&id).await.unwrap_or(false) {
                    token.cancel();
                    return;
                }
                let pages = progress.pages.load(Ordering::Relaxed);
                let rows = progress.rows.load(Ordering::Relaxed);
                let _ = shared.queue.progress(&id, &worker, pages, rows).await;
                if n.is_multiple_of((LEASE.as_secs() / 3).max(1)) {
                    match shared.queue.renew(&id, &worker, LEASE).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(job = %id, "lease lost; stopping this run");
                            token.cancel();
                            return;
                        }
                        Err(e) => tracing::warn!(job = %id, error = %e, "lease renewal failed"),
                    }
                }
            }
        })
    };

    let result = shared
        .engine
        .load(
            &id,
            &job.job.schema,
            &job.job.table,
            job.job.action,
            progress.clone(),
            token.clone(),
        )
        .await;
    keeper.abort();
    shared
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);

    let (state, error) = match &result {
        Ok(summary) => {
            progress.rows.store(summary.rows, Ordering::Relaxed);
            progress.pages.store(summary.pages, Ordering::Relaxed);
            (JobState::Done, None)
        }
        Err(e) if e.is_cancelled() && shared.shutdown.is_cancelled() => {
            // Stopping: leave the job to be re-queued by the shutdown sequence.
            tracing::info!(job = %id, "interrupted by shutdown; it will run again");
            return;
        }
        Err(e) if e.is_cancelled() => (JobState::Cancelled, None),
        Err(e) => (
            JobState::Failed,
            Some(crate::secret::redact(&e.to_string())),
        ),
    };
    let mut status = progress.status(state);
    status.error = error.clone();
    let end = JobEnd {
        state,
        pages: status.pages,
        rows: status.rows,
        error,
    };
    match shared.finish_job(&job, &worker, &end).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(job = %id, "finished a job this worker no longer held"),
        Err(e) => tracing::error!(job = %id, error = %e, "recording the job's end failed"),
    }
    publisher.do_send(Publish(status));
}
