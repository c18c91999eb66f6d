//! LoaderPool: the pool of loader workers, and the one owner of the jobs running in this
//! process — for each busy slot, the job's id and its cancellation token. Each claimed
//! job ([`RunJob`], from the poller) runs as a tokio task on the pool's
//! [`TaskTracker`], inside a `job` tracing span; a panic fails the job, not the daemon.
//! While a job runs, its keeper renews the lease, notices a cancel recorded in the queue
//! (by this host or another process) and records progress; throttled progress goes to
//! the StatusPublisher. A cancel reaches a run as a message ([`CancelJob`]); the host's
//! stop signal reaches every run through its token (a child of
//! [`HostContext::shutdown`]), and a run stopped that way leaves its job for the host to
//! re-queue. The job's final state is written by the [`Ledger`], never here.

use super::status_publisher::{Publish, StatusPublisher};
use super::{HostContext, JobEnd, Ledger, Stage, LEASE};
use crate::engine::{LoadError, LoadSummary, Progress};
use crate::protocol::{JobState, LoaderStatus};
use crate::queue::{now_ms, JobRecord, Queue};
use actix::prelude::*;
use futures::FutureExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// The pool: owns the running jobs and the tracker of their tasks.
pub struct LoaderPool {
    ctx: Arc<HostContext>,
    ledger: Ledger,
    publisher: Addr<StatusPublisher>,
    /// What runs in each busy slot.
    running: HashMap<usize, RunningJob>,
    loads: TaskTracker,
}

/// A job running in a slot of the pool.
struct RunningJob {
    id: String,
    token: CancellationToken,
}

impl LoaderPool {
    /// A pool recording job ends with `ledger` and publishing to `publisher`.
    pub fn new(ctx: Arc<HostContext>, ledger: Ledger, publisher: Addr<StatusPublisher>) -> Self {
        LoaderPool {
            ctx,
            ledger,
            publisher,
            running: HashMap::new(),
            loads: TaskTracker::new(),
        }
    }
}

impl Actor for LoaderPool {
    type Context = Context<Self>;
}

/// Run a claimed job in `slot`; `done` hears when the slot is idle again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RunJob {
    /// The job, claimed by this slot's worker id.
    pub job: JobRecord,
    /// The slot in the pool.
    pub slot: usize,
    /// Told when the job is over.
    pub done: Recipient<WorkerIdle>,
}

/// A slot of the pool finished its job (sent to `RunJob::done`, the queue poller).
#[derive(Message)]
#[rtype(result = "()")]
pub struct WorkerIdle(pub usize);

/// Stop job `id` at its next page boundary if it runs here; answers whether it did.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct CancelJob {
    /// The job.
    pub id: String,
}

/// How many jobs run here now.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountRunning;

/// The host is stopping (its stop signal has fired): run nothing more, and answer with
/// the tracker of the loads still running, closed, to wait on.
#[derive(Message)]
#[rtype(result = "TaskTracker")]
pub struct Drain;

impl Handler<RunJob> for LoaderPool {
    type Result = ();
    fn handle(&mut self, msg: RunJob, ctx: &mut Context<Self>) {
        let RunJob { job, slot, done } = msg;
        if self.ctx.shutdown.is_cancelled() {
            // Claimed as the host stopped: the host re-queues it with the other runs.
            return;
        }
        let id = job.job.id.clone();
        let token = self.ctx.shutdown.child_token();
        let span = tracing::info_span!(
            "job",
            job = %id,
            table = %format!("{}.{}", job.job.schema, job.job.table),
            action = job.job.action.as_str(),
        );
        let run = JobRun {
            worker: self.ctx.worker_id(slot),
            ctx: self.ctx.clone(),
            ledger: self.ledger.clone(),
            publisher: self.publisher.clone(),
            job,
            token: token.clone(),
        };
        let task = self.loads.spawn(run.run().instrument(span));
        self.running.insert(slot, RunningJob { id, token });
        ctx.spawn(task.into_actor(self).map(move |_, act, _| {
            act.running.remove(&slot);
            done.do_send(WorkerIdle(slot));
        }));
    }
}

impl Handler<CancelJob> for LoaderPool {
    type Result = bool;
    fn handle(&mut self, msg: CancelJob, _: &mut Context<Self>) -> bool {
        let mut found = false;
        for run in self.running.values().filter(|r| r.id == msg.id) {
            run.token.cancel();
            found = true;
        }
        found
    }
}

impl Handler<CountRunning> for LoaderPool {
    type Result = usize;
    fn handle(&mut self, _: CountRunning, _: &mut Context<Self>) -> usize {
        self.running.len()
    }
}

impl Handler<Drain> for LoaderPool {
    type Result = MessageResult<Drain>;
    fn handle(&mut self, _: Drain, _: &mut Context<Self>) -> Self::Result {
        // The stop signal fired before this message was sent, so every later `RunJob`
        // is refused: nothing joins the tracker after it closes.
        self.loads.close();
        MessageResult(self.loads.clone())
    }
}

/// One run of a job: everything its task needs.
struct JobRun {
    ctx: Arc<HostContext>,
    ledger: Ledger,
    publisher: Addr<StatusPublisher>,
    job: JobRecord,
    worker: String,
    token: CancellationToken,
}

/// How a run ended, for the record.
enum RunEnd {
    /// Written to both stores as this.
    Final(JobEnd),
    /// Stopped by the host's stop signal: left for the host to re-queue.
    Stopped,
}

impl JobRun {
    /// Run the load and record how it ended; a panic fails the job (recorded once).
    async fn run(self) {
        let outcome = std::panic::AssertUnwindSafe(self.load())
            .catch_unwind()
            .await;
        if let Err(panic) = outcome {
            self.record_panic(panic).await;
        }
    }

    async fn load(&self) {
        let progress = Arc::new(JobProgress::new(&self.job, self.publisher.clone()));
        self.publisher
            .do_send(Publish(progress.status(JobState::Running)));
        let id = &self.job.job.id;
        let load = self.ctx.engine.load_queued(
            id,
            &self.job.job.schema,
            &self.job.job.table,
            self.job.job.action,
            progress.clone(),
            self.token.clone(),
        );
        tokio::pin!(load);
        let keeper = keep(&self.ctx.queue, id, &self.worker, &progress, &self.token);
        let result = tokio::select! {
            result = &mut load => result,
            // The keeper stopped the run: it ends at its next page boundary.
            () = keeper => load.await,
        };
        match self.classify(&result, &progress) {
            RunEnd::Stopped => tracing::info!("interrupted by shutdown; it will run again"),
            RunEnd::Final(end) => {
                let mut status = progress.status(end.state);
                status.error = end.error.clone();
                self.finish(&end).await;
                self.publisher.do_send(Publish(status));
            }
        }
    }

    fn classify(&self, result: &Result<LoadSummary, LoadError>, progress: &JobProgress) -> RunEnd {
        let (state, error) = match result {
            Ok(summary) => {
                progress.rows.store(summary.rows, Ordering::Relaxed);
                progress.pages.store(summary.pages, Ordering::Relaxed);
                (JobState::Done, None)
            }
            Err(e) if e.is_cancelled() && self.ctx.shutdown.is_cancelled() => {
                return RunEnd::Stopped
            }
            Err(e) if e.is_cancelled() => (JobState::Cancelled, None),
            Err(e) => (
                JobState::Failed,
                Some(crate::secret::redact(&e.to_string())),
            ),
        };
        RunEnd::Final(JobEnd {
            state,
            pages: progress.pages.load(Ordering::Relaxed),
            rows: progress.rows.load(Ordering::Relaxed),
            error,
        })
    }

    async fn finish(&self, end: &JobEnd) {
        let stage = Stage::Running {
            worker: &self.worker,
        };
        match self.ledger.finish(&self.job, stage, end).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!("finished a job this worker no longer held"),
            Err(e) => tracing::error!(error = %e, "recording the job's end failed"),
        }
    }

    async fn record_panic(&self, panic: Box<dyn std::any::Any + Send>) {
        let message = format!(
            "internal error: the load panicked: {}",
            panic_text(panic.as_ref())
        );
        tracing::error!(error = %message);
        let end = JobEnd {
            state: JobState::Failed,
            pages: 0,
            rows: 0,
            error: Some(message.clone()),
        };
        self.finish(&end).await;
        let mut status = self.job.status(now_ms());
        status.state = JobState::Failed;
        status.error = Some(message);
        self.publisher.do_send(Publish(status));
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// How often a running job's keeper looks at the queue.
const KEEPER_TICK: Duration = Duration::from_secs(1);

/// While a load runs: every [`KEEPER_TICK`], stop it if a cancel was recorded in the
/// queue and record its progress; every third of the [`LEASE`], renew the lease (stop
/// it if the lease was lost). Returns once the run's token is cancelled (by itself, a
/// [`CancelJob`] or the host's stop signal).
async fn keep(
    queue: &Queue,
    id: &str,
    worker: &str,
    progress: &JobProgress,
    token: &CancellationToken,
) {
    let mut tick = tokio::time::interval(KEEPER_TICK);
    let renew_every = (LEASE.as_secs() / 3).max(1);
    let mut n = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = token.cancelled() => return,
        }
        n += 1;
        if queue.cancel_requested(id).await.unwrap_or(false) {
            return token.cancel();
        }
        let pages = progress.pages.load(Ordering::Relaxed);
        let rows = progress.rows.load(Ordering::Relaxed);
        let _ = queue.progress(id, worker, pages, rows).await;
        if n.is_multiple_of(renew_every) {
            match queue.renew(id, worker, LEASE).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("lease lost; stopping this run");
                    return token.cancel();
                }
                Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
            }
        }
    }
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
    fn new(job: &JobRecord, publisher: Addr<StatusPublisher>) -> JobProgress {
        JobProgress {
            base: LoaderStatus {
                job_id: job.job.id.clone(),
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
            publisher,
        }
    }

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
