//! The engine host: the same actors whether they run in `unifyd` or inside
//! `unify --no-daemon`. [`Host::start`] opens the stores, takes the home's lock (one
//! host per home, so one process owns the DuckDB file), re-queues jobs orphaned by a
//! crash and starts the actors; [`Host::shutdown`] fires the host's one stop signal,
//! waits (with a deadline) on the tracker of running loads as they reach a page
//! boundary, and re-queues what did not finish.

use crate::actors::adapter_registry::AdapterRegistry;
use crate::actors::gateway::{ClientRequest, CloseAll, Gateway, HostJobs, JobActors};
use crate::actors::loader_worker::{Drain, LoaderPool};
use crate::actors::queue_poller::QueuePoller;
use crate::actors::scheduler::{Scheduler, SystemClock};
use crate::actors::status_publisher::{StatusPublisher, EVENT_BUFFER};
use crate::actors::{quiet, Activity, HostContext, Ledger};
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
use tokio::sync::{broadcast, watch};
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
    ctx: Arc<HostContext>,
    /// Where client requests go.
    pub gateway: Addr<Gateway>,
    /// Job status and notices.
    pub events: broadcast::Sender<Event>,
    /// Job control (also tells whether a restart was asked).
    pub jobs: Arc<HostJobs>,
    ledger: Ledger,
    pool: Addr<LoaderPool>,
    /// What the poller and the scheduler have in flight.
    background: Vec<watch::Receiver<Activity>>,
}

/// The actors of a host, started.
struct Actors {
    publisher: Addr<StatusPublisher>,
    pool: Addr<LoaderPool>,
    poller: Addr<QueuePoller>,
    registry: Addr<AdapterRegistry>,
    background: Vec<watch::Receiver<Activity>>,
}

impl Host {
    /// Start the actors. Must run inside an actix `System` on a multi-thread runtime;
    /// the caller holds the home's [`HomeLock`].
    pub async fn start(home: Home, options: HostOptions) -> anyhow::Result<Host> {
        let ctx = Arc::new(open(home, &options).await?);
        let ledger = Ledger::new(ctx.queue.clone(), ctx.engine.clone());
        recover_orphans(&ctx, &ledger).await?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let actors = start_actors(&ctx, &ledger, &options, events.clone());
        let jobs = Arc::new(HostJobs::new(
            ctx.clone(),
            ledger.clone(),
            JobActors {
                pool: actors.pool.clone(),
                poller: actors.poller.clone(),
                publisher: actors.publisher.clone(),
                registry: actors.registry.clone(),
            },
        ));
        let interpreter = Arc::new(Interpreter::new(
            ctx.engine.clone(),
            jobs.clone(),
            tokio::runtime::Handle::current(),
        ));
        let gateway = Gateway::new(
            ctx.clone(),
            interpreter,
            actors.registry.clone(),
            actors.pool.clone(),
        )
        .start();
        for w in &ctx.engine.config().catalog.warnings {
            tracing::warn!("{w}");
        }
        for e in &ctx.engine.config().errors {
            tracing::warn!("{e}");
        }
        Ok(Host {
            ctx,
            gateway,
            events,
            jobs,
            ledger,
            pool: actors.pool,
            background: actors.background,
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

    /// The home this host serves.
    pub fn home(&self) -> &Home {
        self.ctx.engine.home()
    }

    /// Resolves once the host was asked to stop (`system stop daemon`, or
    /// [`Host::shutdown`]).
    pub async fn stopping(&self) {
        self.ctx.shutdown.cancelled().await
    }

    /// True when `system restart daemon` asked for a successor.
    pub fn restart_requested(&self) -> bool {
        self.jobs.restart.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stop: one signal stops every running load at its next page boundary and every
    /// actor from starting new work; the host waits (up to `deadline`) for the loads,
    /// re-queues what did not finish (the attempt not counted), waits for the queue work
    /// in flight and closes the queue.
    pub async fn shutdown(&self, deadline: Duration) {
        // Results clients are still reading, and statements still running, end now: a
        // blocking thread waiting on a client must not hold the daemon up.
        let _ = self.gateway.send(CloseAll).await;
        self.ctx.shutdown.cancel();
        let until = tokio::time::Instant::now() + deadline;
        // Claims in flight end first: a job claimed now reaches the pool before `Drain`,
        // which refuses it, and is re-queued below with the runs that stop.
        self.background_quiet(until).await;
        if let Ok(loads) = self.pool.send(Drain).await {
            if tokio::time::timeout_at(until, loads.wait()).await.is_err() {
                tracing::warn!(
                    loads = loads.len(),
                    "loads still running at the shutdown deadline"
                );
            }
        }
        match self.ledger.release(&self.ctx.instance).await {
            Ok(n) if n > 0 => tracing::info!(jobs = n, "re-queued unfinished jobs"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "re-queueing unfinished jobs failed"),
        }
        // No query may be in flight when the pool closes: a query future dropped later,
        // outside the runtime, would make sqlx panic.
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        self.background_quiet(until).await;
        self.ctx.queue.close().await;
    }

    /// Wait (until `until`) for the poller and the scheduler to have nothing in flight.
    async fn background_quiet(&self, until: tokio::time::Instant) {
        let all = futures::future::join_all(self.background.iter().cloned().map(quiet));
        if tokio::time::timeout_at(until, all).await.is_err() {
            tracing::warn!("queue work still in flight at the shutdown deadline");
        }
    }
}

/// Open the home's stores: the engine (warehouse) and the queue.
async fn open(home: Home, options: &HostOptions) -> anyhow::Result<HostContext> {
    // Everything the engine writes in the home (warehouse, journals, queue, spill
    // and export files, logs) is private to the user, whatever umask they run with.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    home.ensure_dirs()
        .with_context(|| format!("creating {}", home.root().display()))?;
    let engine_home = home.clone();
    let engine = tokio::task::spawn_blocking(move || Engine::open(engine_home))
        .await
        .context("opening the engine")??;
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
    Ok(HostContext {
        engine: Arc::new(engine),
        queue,
        instance,
        tenant: home.root().display().to_string(),
        shutdown: CancellationToken::new(),
        is_daemon: options.is_daemon,
        started: Instant::now(),
        workers: options.workers,
        scheduler_tick: options.scheduler_tick,
    })
}

/// We hold the home's lock: whatever is marked running belongs to a dead process (a
/// graceful stop re-queues its jobs). Each such run counts as an attempt, so a job whose
/// load kills the process is not retried forever.
async fn recover_orphans(ctx: &HostContext, ledger: &Ledger) -> anyhow::Result<()> {
    for orphan in ctx.queue.running_jobs().await? {
        let why = "the process running it stopped during the load: killed or crashed";
        let outcome = ledger.interrupted(&orphan, why, None).await?;
        tracing::warn!(job = %orphan.job.id, attempts = orphan.attempts, ?outcome, "job interrupted by a previous crash");
    }
    Ok(())
}

fn start_actors(
    ctx: &Arc<HostContext>,
    ledger: &Ledger,
    options: &HostOptions,
    events: broadcast::Sender<Event>,
) -> Actors {
    let publisher = StatusPublisher::new(events).start();
    let pool = LoaderPool::new(ctx.clone(), ledger.clone(), publisher.clone()).start();
    let poller = QueuePoller::new(
        ctx.clone(),
        ledger.clone(),
        pool.clone().recipient(),
        pool.clone().recipient(),
    );
    let mut background = vec![poller.activity()];
    let poller = poller.start();
    let registry = AdapterRegistry::new(ctx.engine.clone(), publisher.clone()).start();
    if options.scheduler {
        let wake = poller.clone().recipient();
        let scheduler = Scheduler::new(ctx.clone(), wake, publisher.clone(), Arc::new(SystemClock));
        background.push(scheduler.activity());
        scheduler.start();
    }
    Actors {
        publisher,
        pool,
        poller,
        registry,
        background,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Action, JobState, Requester};
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// A home whose table `slow.t` has 1000 pages of 2 rows, each answered after 200 ms.
    async fn slow_home(dir: &std::path::Path) -> (Home, MockServer) {
        let server = MockServer::start().await;
        Mock::given(path("/t"))
            .respond_with(|r: &wiremock::Request| {
                let page: u64 = r
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "page")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let rows = serde_json::json!([{"id": page * 2}, {"id": page * 2 + 1}]);
                ResponseTemplate::new(200)
                    .set_body_json(rows)
                    .set_delay(Duration::from_millis(200))
            })
            .mount(&server)
            .await;
        let home = Home::new(dir);
        home.ensure_dirs().unwrap();
        let spec = format!(
            "name: slow\nbase_url: {}\npolling_interval_secs: 0\ntables:\n  - name: t\n    resource_path: /t\n    supports_paging: true\n    paging: {{strategy: pageAndCount, page_param: page, count_param: n, page_size: 2, max_pages: 1000}}\n",
            server.uri()
        );
        std::fs::write(home.specs_dir().join("slow_spec.yaml"), spec).unwrap();
        std::fs::write(home.connections_file(), "- slow:\n    connector: slow\n").unwrap();
        (home, server)
    }

    fn system() -> actix::SystemRunner {
        actix::System::with_tokio_rt(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
        })
    }

    fn one_worker() -> HostOptions {
        HostOptions {
            is_daemon: false,
            workers: 1,
            scheduler: false,
            scheduler_tick: Duration::from_secs(1),
        }
    }

    /// Wait (up to a minute) for `what` to hold.
    async fn until<F: std::future::Future<Output = bool>>(
        what: &str,
        mut check: impl FnMut() -> F,
    ) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !check().await {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn running(host: &Host) -> usize {
        match host.request(Request::Ping).await {
            Response::Pong { running, .. } => running,
            other => panic!("{other:?}"),
        }
    }

    /// A job's state as `unify.loading_jobs` records it.
    fn loading_job_state(host: &Host, id: &str) -> String {
        let conn = host.ctx.engine.warehouse().connect().unwrap();
        conn.query_row(
            "SELECT state FROM unify.loading_jobs WHERE job_id = ?",
            [id],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn a_cancel_reaches_the_running_load_as_a_message_and_both_stores_record_it() {
        system().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let (home, server) = slow_home(dir.path()).await;
            let host = Host::start(home.clone(), one_worker()).await.unwrap();
            use crate::interpreter::JobControl;
            let job = host
                .jobs
                .enqueue("slow", "t", Action::Load, Requester::User)
                .await
                .unwrap();
            let server = &server;
            until("the load runs", || async move {
                server.received_requests().await.unwrap().len() >= 3
            })
            .await;
            assert_eq!(running(&host).await, 1);
            let cancel = crate::parser::SystemCommand::Cancel(crate::parser::CancelTarget::Job(
                job.id.clone(),
            ));
            let out = host.jobs.system(&cancel).await.unwrap();
            assert!(
                format!("{out:?}").contains("it stops at the next page"),
                "{out:?}"
            );
            let (queue, id, host_ref) = (&host.ctx.queue, &job.id, &host);
            until("the job is cancelled", || async move {
                let stored = queue.get(id).await.unwrap().unwrap();
                stored.state == JobState::Cancelled
            })
            .await;
            until("the pool is idle", || async move {
                running(host_ref).await == 0
            })
            .await;
            let state = loading_job_state(&host, &job.id);
            assert_eq!(state, "cancelled");
            let err = host
                .jobs
                .system(&crate::parser::SystemCommand::StopDaemon)
                .await;
            assert!(matches!(err, Err(crate::actors::ControlError::NoDaemon)));
            host.shutdown(Duration::from_secs(60)).await;
        });
    }

    #[test]
    fn shutdown_waits_for_the_running_load_then_requeues_its_job_without_counting_the_attempt() {
        system().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let (home, server) = slow_home(dir.path()).await;
            let host = Host::start(home.clone(), one_worker()).await.unwrap();
            assert!(host.ctx.engine.config().errors.is_empty());
            use crate::interpreter::JobControl;
            let job = host
                .jobs
                .enqueue("slow", "t", Action::Load, Requester::User)
                .await
                .unwrap();
            let server = &server;
            until("the load runs", || async move {
                server.received_requests().await.unwrap().len() >= 3
            })
            .await;
            host.shutdown(Duration::from_secs(60)).await;
            // The load ended before shutdown returned, and both stores say it will run
            // again.
            let state = loading_job_state(&host, &job.id);
            assert_eq!(state, "interrupted");
            let queue = Queue::open(&home.queue_file()).await.unwrap();
            let stored = queue.get(&job.id).await.unwrap().unwrap();
            assert_eq!(stored.state, JobState::Queued, "back in the queue");
            assert_eq!(
                stored.attempts, 0,
                "a clean stop does not count the attempt"
            );
            assert_eq!(stored.worker, None);
            queue.close().await;
        });
    }
}
