//! The engine host: the same actors whether they run in `unifyd` or inside
//! `unify --no-daemon`. [`Host::start`] opens the stores, takes the home's lock (one
//! host per home, so one process owns the DuckDB file), re-queues jobs orphaned by a
//! crash and starts the actors; [`Host::shutdown`] stops them, letting running loads
//! reach a page boundary and re-queueing what did not finish.

use crate::actors::adapter_registry::AdapterRegistry;
use crate::actors::gateway::{ClientRequest, CloseAll, Gateway, HostJobs};
use crate::actors::loader_worker::LoaderWorker;
use crate::actors::queue_poller::{QueuePoller, Quiesce};
use crate::actors::scheduler::Scheduler;
use crate::actors::status_publisher::{StatusPublisher, EVENT_BUFFER};
use crate::actors::Shared;
use crate::engine::Engine;
use crate::home::Home;
use crate::interpreter::Interpreter;
use crate::protocol::{Event, Request, Response};
use crate::queue::Queue;
use actix::prelude::*;
use anyhow::Context as _;
use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// How to run the host.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// True in `unifyd`.
    pub is_daemon: bool,
    /// Loader workers (env `UNIFY_WORKERS`, default 4).
    pub workers: usize,
    /// Run the refresh scheduler.
    pub scheduler: bool,
    /// Scheduler period (env `UNIFY_SCHEDULER_TICK_MS`, default 1 s).
    pub scheduler_tick: Duration,
}

impl HostOptions {
    /// Defaults, overridable from the environment.
    pub fn from_env(is_daemon: bool) -> Self {
        let num = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
        HostOptions {
            is_daemon,
            workers: num("UNIFY_WORKERS").unwrap_or(4).clamp(1, 64) as usize,
            scheduler: true,
            scheduler_tick: Duration::from_millis(
                num("UNIFY_SCHEDULER_TICK_MS").unwrap_or(1000).max(50),
            ),
        }
    }
}

/// The exclusive lock of a home: held by the one process that owns its warehouse.
pub struct HomeLock {
    _file: File,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("another unify process (pid {pid}) is using {home}: stop it (`unifyd stop`) or run without --no-daemon")]
    Held {
        /// The holder's pid, from `run/unifyd.pid` (0 when unknown).
        pid: u32,
        /// The home.
        home: String,
    },
    /// The lock file could not be opened.
    #[error("cannot open the lock file {path}: {source}")]
    Io {
        /// Lock file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

impl HomeLock {
    /// Take the lock without waiting.
    pub fn acquire(home: &Home) -> Result<HomeLock, LockError> {
        let path = home.run_dir().join("unifyd.lock");
        if !home.run_dir().exists() {
            // A home that does not exist yet (or predates `run/`): the lock can be taken
            // all the same. Private, like the rest of the home (`Home::ensure_dirs`).
            use std::os::unix::fs::DirBuilderExt;
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(home.run_dir());
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| LockError::Io {
                path: path.display().to_string(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(HomeLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                let pid = std::fs::read_to_string(home.pid_file())
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0);
                Err(LockError::Held {
                    pid,
                    home: home.root().display().to_string(),
                })
            }
            Err(std::fs::TryLockError::Error(source)) => Err(LockError::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Take the lock, waiting up to `timeout` for the holder to exit.
    pub fn acquire_wait(home: &Home, timeout: Duration) -> Result<HomeLock, LockError> {
        let start = Instant::now();
        loop {
            match HomeLock::acquire(home) {
                Err(LockError::Held { .. }) if start.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                other => return other,
            }
        }
    }
}

/// A running host.
pub struct Host {
    /// State shared by the actors.
    pub shared: Arc<Shared>,
    /// Where client requests go.
    pub gateway: Addr<Gateway>,
    /// Job status and notices.
    pub events: broadcast::Sender<Event>,
    /// Job control (also tells whether a restart was asked).
    pub jobs: Arc<HostJobs>,
    poller: Addr<QueuePoller>,
}

impl Host {
    /// Start the actors. Must run inside an actix `System` on a multi-thread runtime;
    /// the caller holds the home's [`HomeLock`].
    pub async fn start(home: Home, options: HostOptions) -> anyhow::Result<Host> {
        // Everything the engine writes in the home (warehouse, journals, queue, spill
        // and export files, logs) is private to the user, whatever umask they run with.
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
        home.ensure_dirs()
            .with_context(|| format!("creating {}", home.root().display()))?;
        let engine_home = home.clone();
        let engine = tokio::task::spawn_blocking(move || Engine::open(engine_home))
            .await
            .context("opening the engine")??;
        let engine = Arc::new(engine);
        let queue = Queue::open(&home.queue_file())
            .await
            .with_context(|| format!("opening the job queue {}", home.queue_file().display()))?;
        // Files the engine just created (journals, a new queue) join the private set.
        home.secure_files();
        let instance = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        );
        let shared = Arc::new(Shared {
            engine: engine.clone(),
            queue,
            instance,
            tenant: home.root().display().to_string(),
            running: Default::default(),
            shutdown: CancellationToken::new(),
            is_daemon: options.is_daemon,
            started: Instant::now(),
            workers: options.workers,
            scheduler_tick: options.scheduler_tick,
        });
        // We hold the home's lock: whatever is marked running belongs to a dead process
        // (a graceful stop re-queues its jobs). Each such run counts as an attempt, so a
        // job whose load kills the process is not retried forever.
        for orphan in shared.queue.running_jobs().await? {
            let outcome = shared
                .job_interrupted(
                    &orphan,
                    "the process running it stopped during the load: killed or crashed",
                    None,
                )
                .await?;
            tracing::warn!(job = %orphan.job.id, attempts = orphan.attempts, ?outcome, "job interrupted by a previous crash");
        }
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let publisher = StatusPublisher::new(events.clone()).start();
        let workers: Vec<Addr<LoaderWorker>> = (0..options.workers)
            .map(|_| LoaderWorker::new(shared.clone(), publisher.clone()).start())
            .collect();
        let poller = QueuePoller::new(shared.clone(), workers).start();
        let registry = AdapterRegistry::new(shared.clone(), publisher.clone()).start();
        if options.scheduler {
            Scheduler::new(shared.clone(), poller.clone(), publisher.clone()).start();
        }
        let jobs = Arc::new(HostJobs::new(
            shared.clone(),
            poller.clone(),
            publisher,
            registry.clone(),
        ));
        let interpreter = Arc::new(Interpreter::new(
            engine,
            jobs.clone(),
            tokio::runtime::Handle::current(),
        ));
        let gateway = Gateway::new(shared.clone(), interpreter, registry).start();
        for w in &shared.engine.config().catalog.warnings {
            tracing::warn!("{w}");
        }
        for e in &shared.engine.config().errors {
            tracing::warn!("{e}");
        }
        Ok(Host {
            shared,
            gateway,
            events,
            jobs,
            poller,
        })
    }

    /// Handle one client request.
    pub async fn request(&self, request: Request) -> Response {
        match self.gateway.send(ClientRequest(request)).await {
            Ok(r) => r,
            Err(e) => Response::Error {
                message: format!("the engine is not running: {e}"),
            },
        }
    }

    /// Stop: running loads stop at their next page boundary (up to `deadline`), and
    /// their jobs go back to the queue to run again next time.
    pub async fn shutdown(&self, deadline: Duration) {
        // Results clients are still reading, and statements still running, end now: a
        // blocking thread waiting on a client must not hold the daemon up.
        let _ = self.gateway.send(CloseAll).await;
        self.shared.shutdown.cancel();
        let start = Instant::now();
        while start.elapsed() < deadline {
            let busy = !self
                .shared
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty();
            if !busy {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        match self
            .shared
            .queue
            .release_worker(&self.shared.instance)
            .await
        {
            Ok(n) if n > 0 => tracing::info!(jobs = n, "re-queued unfinished jobs"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "re-queueing unfinished jobs failed"),
        }
        // No claim may be in flight when the pool closes: a query future dropped later,
        // outside the runtime, would make sqlx panic.
        let until = Instant::now() + Duration::from_secs(5);
        while matches!(self.poller.send(Quiesce).await, Ok(true)) && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.shared.queue.close().await;
    }
}
