//! Helpers for the actors' tests: a queue and an engine in a temp dir, a host context,
//! and paused time that moves only when a test says so.

use super::{Activity, HostContext};
use crate::engine::{Config, Engine};
use crate::home::Home;
use crate::queue::Queue;
use crate::warehouse::Warehouse;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A fresh queue file in `dir`.
pub(crate) async fn open_queue(dir: &Path) -> Queue {
    Queue::open(&dir.join("queue.db"))
        .await
        .expect("open queue")
}

/// An engine over the home `dir` (whatever specs and connections it holds) with an
/// in-memory warehouse.
pub(crate) fn engine_in_memory(dir: &Path) -> Arc<Engine> {
    let home = Home::new(dir);
    home.ensure_dirs().expect("home dirs");
    let config = Config::load(&home);
    Arc::new(Engine::with_parts(
        home,
        Warehouse::open_in_memory().expect("in-memory warehouse"),
        config,
    ))
}

/// The state `unify.loading_jobs` records for job `id`, if it has a row.
pub(crate) fn loading_job_state(engine: &Engine, id: &str) -> Option<String> {
    let conn = engine.warehouse().connect().expect("connect");
    conn.query_row(
        "SELECT state FROM unify.loading_jobs WHERE job_id = ?",
        [id],
        |r| r.get(0),
    )
    .ok()
}

/// A host context over `engine` and `queue`, instance `test`.
pub(crate) fn context(
    engine: Arc<Engine>,
    queue: Queue,
    workers: usize,
    scheduler_tick: Duration,
) -> Arc<HostContext> {
    Arc::new(HostContext {
        engine,
        queue,
        instance: "test".into(),
        tenant: "test".into(),
        shutdown: CancellationToken::new(),
        is_daemon: false,
        started: Instant::now(),
        workers,
        scheduler_tick,
    })
}

/// An actix system on a current-thread runtime whose clock starts paused.
pub(crate) fn paused_system() -> actix::SystemRunner {
    actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("building a paused runtime")
    })
}

/// Keeps the paused clock from auto-advancing while it lives (a blocking task inhibits
/// auto-advance, as tokio documents): real IO — SQLite on sqlx's threads — takes what it
/// takes, and virtual time moves only by `tokio::time::advance`. Create it inside the
/// runtime; drop it before the runtime ends.
pub(crate) struct HoldClock(#[allow(dead_code)] std::sync::mpsc::Sender<()>);

impl HoldClock {
    /// Hold the clock of the current runtime.
    pub(crate) fn new() -> HoldClock {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        tokio::task::spawn_blocking(move || {
            let _ = rx.recv();
        });
        HoldClock(tx)
    }
}

/// Wait (in real time, up to a minute) until an actor handled `ticks` ticks and has
/// nothing in flight.
pub(crate) async fn settle(activity: &mut watch::Receiver<Activity>, ticks: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = *activity.borrow_and_update();
        if now.ticks >= ticks && now.busy == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the actor did not go quiet after {ticks} ticks: {now:?}"
        );
        tokio::select! {
            _ = activity.changed() => {}
            // Paused timers never fire here: a real pause bounds the wait.
            _ = tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(20))) => {}
        }
    }
}

/// Advance paused time by `step` and wait for the actor to handle the tick it brings.
pub(crate) async fn step(activity: &mut watch::Receiver<Activity>, step: Duration) {
    let ticks = activity.borrow().ticks + 1;
    tokio::time::advance(step).await;
    settle(activity, ticks).await;
}
