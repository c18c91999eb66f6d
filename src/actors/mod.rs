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
use crate::queue::Queue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long a claimed job's lease lasts before another daemon may re-run it; renewed
/// every third of it while the job runs.
pub const LEASE: Duration = Duration::from_secs(30);

/// A job interrupted this many times (daemon killed mid-load) is marked failed.
pub const MAX_ATTEMPTS: u32 = 5;

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
