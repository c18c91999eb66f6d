//! The engine's actors (actix, on a multi-thread tokio runtime), started by
//! [`crate::host::Host`] for `unifyd` and for `unify --no-daemon` alike.
//!
//! ```text
//!  (a client: the ZeroMQ socket, a pg session of src/pg, or in-process; each through
//!   Host::request, and Host::events for job status)
//!  client ──▶ Gateway ──(blocking thread)──▶ Interpreter ──JobControl──▶ HostJobs
//!               │  │                                                      │ │ │
//!               │  └─────────Reload──────────▶ AdapterRegistry ◀──Reload──┘ │ │
//!               │                              (watches specs and           │ │
//!               │                               connections.yaml)           │ │
//!               │ CountRunning                                    CancelJob │ │ Wake
//!               ▼                                                           ▼ ▼
//!           LoaderPool ◀──────────────────RunJob, CancelJob─────────── QueuePoller ◀──Wake── Scheduler
//!  (owns the running jobs: slot → id + token;    ─────WorkerIdle─────▶ (idle slots,     (refresh when
//!   a TaskTracker of their tasks)                                       claims, leases)   a table is due)
//!               │ a tokio task per job, in a `job` span: Engine::load_queued + lease keeper
//!               │
//!   Ledger::finish — from a job's task (its end), HostJobs (a queued job cancelled), the
//!               │    poller (a stale lease), the host (a crash's orphans; shutdown)
//!               └──▶ unify.loading_jobs, then the SQLite queue: a job's final state
//!               ▼
//!   Publish / Notice (do_send, from the pool, HostJobs, the scheduler and the registry)
//!               ──▶ StatusPublisher ──▶ broadcast ──▶ PUB socket / in-process clients
//! ```
//!
//! Who awaits whom (`send`): the host awaits the gateway (`ClientRequest`) and the pool
//! (`Drain`); the gateway awaits the pool (`CountRunning`) and the registry (`Reload`);
//! HostJobs, called by the interpreter on a blocking thread, awaits the pool
//! (`CancelJob`) and the registry (`Reload`). The pool and the registry await nobody;
//! every other arrow is a `do_send` (`RunJob`, `WorkerIdle`, `Wake`, a stale run's
//! `CancelJob`, telemetry). So there is no cycle of awaited sends.
//!
//! Each actor owns its state outright: the pool the running jobs, the poller the idle
//! slots and heartbeats, the scheduler its pass, the gateway the client sessions. What
//! they all read — the engine and queue handles, the instance id, the options and the
//! one stop signal — is a [`HostContext`] that never changes. A job's final state has
//! one writer, [`Ledger::finish`] (the ledger is a small service, not an actor): it
//! writes `unify.loading_jobs`, then the SQLite queue, while the queue still holds the
//! job as its caller saw it — for a finished, failed, cancelled or panicked load, a
//! stale heartbeat, a crash's orphan, a queued job cancelled. The load itself
//! ([`crate::engine::Engine::load_queued`]) records what its run did (row, counts, log
//! lines), never the job's final state; only a library load, with no queue, records its
//! own end ([`crate::engine::Engine::load`]).
//!
//! Cancelling a job is a message ([`loader_worker::CancelJob`]) after the ledger set its
//! flag in the queue. Stopping the host is one signal ([`HostContext::shutdown`]) that
//! fans out: every running job's token is its child, and the poller and the scheduler
//! start nothing after it. The host then waits, with a deadline, on the pool's tracker
//! of loads and on the poller and scheduler going quiet ([`Activity`]), and re-queues
//! what did not finish (its row in `unify.loading_jobs` says `interrupted`). Blocking work (DuckDB, file IO) runs in `spawn_blocking`.

pub mod adapter_registry;
pub mod gateway;
pub mod ledger;
pub mod loader_worker;
pub mod queue_poller;
pub mod scheduler;
pub mod status_publisher;

pub use ledger::{Interrupted, JobEnd, Ledger, Stage};

use crate::engine::Engine;
use crate::queue::{Queue, QueueError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long a claimed job's lease lasts before another daemon may re-run it; renewed
/// every third of it while the job runs.
pub const LEASE: Duration = Duration::from_secs(30);

/// A job interrupted this many times (daemon killed mid-load) is marked failed.
pub const MAX_ATTEMPTS: u32 = 5;

/// What every actor of one host reads and nobody changes: handles, ids and options fixed
/// at start. Nothing in it is locked; the state of jobs lives in the actors that own it.
pub struct HostContext {
    /// The engine (warehouse, config, REST clients).
    pub engine: Arc<Engine>,
    /// The durable job queue.
    pub queue: Queue,
    /// This host's instance id; worker ids start with it.
    pub instance: String,
    /// Tenant (the home directory) recorded on jobs.
    pub tenant: String,
    /// The host's one stop signal: fired once (by `Host::shutdown` or `system stop
    /// daemon`). Every running job's token is a child of it; the poller and the
    /// scheduler stop starting work when it fires.
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

impl HostContext {
    /// The queue's name for the worker in `slot` of this host's pool.
    pub fn worker_id(&self, slot: usize) -> String {
        format!("{}-w{slot}", self.instance)
    }
}

/// Why a job-control request (enqueue, a `system …` command) failed: the error of
/// [`crate::interpreter::JobControl`], shown to the user as one line.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The queue could not be read or written.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// No job has this id.
    #[error("no job with id '{0}' (see `system status`)")]
    NoSuchJob(String),
    /// A daemon command in `--no-daemon` mode.
    #[error("there is no daemon: this session runs the engine in-process (--no-daemon)")]
    NoDaemon,
    /// An actor is gone: the host is stopping.
    #[error("the {actor} is not running (the engine is stopping): {source}")]
    Stopped {
        /// Which actor.
        actor: &'static str,
        /// What actix said.
        source: actix::MailboxError,
    },
    /// The job kept moving between states while it was being cancelled.
    #[error("job {0} kept changing state while being cancelled: run `system cancel {0}` again")]
    Contended(String),
}

/// What an actor has in flight and how many ticks it has handled. The host waits for
/// `busy == 0` before it closes the queue; tests that step paused time wait for a tick's
/// work to end the same way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    /// Ticks of the actor's timer handled so far.
    pub ticks: u64,
    /// Pieces of work started and not yet finished.
    pub busy: usize,
}

/// The owning side of an actor's [`Activity`]; receivers come from [`Self::watch`].
#[derive(Debug)]
pub(crate) struct ActivityCounter(watch::Sender<Activity>);

impl Default for ActivityCounter {
    fn default() -> Self {
        ActivityCounter(watch::Sender::new(Activity::default()))
    }
}

impl ActivityCounter {
    /// A piece of work starts (call before deciding whether to do it: see `Host::shutdown`).
    pub(crate) fn begin(&self) {
        self.0.send_modify(|a| a.busy += 1);
    }

    /// A piece of work ended.
    pub(crate) fn end(&self) {
        self.0.send_modify(|a| a.busy = a.busy.saturating_sub(1));
    }

    /// The actor's timer fired.
    pub(crate) fn tick(&self) {
        self.0.send_modify(|a| a.ticks += 1);
    }

    /// Watch the activity.
    pub(crate) fn watch(&self) -> watch::Receiver<Activity> {
        self.0.subscribe()
    }
}

/// Wait until an actor has nothing in flight (or its counter is gone).
pub async fn quiet(mut activity: watch::Receiver<Activity>) {
    let _ = activity.wait_for(|a| a.busy == 0).await;
}

#[cfg(test)]
pub(crate) mod testing;
