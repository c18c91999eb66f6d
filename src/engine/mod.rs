//! The engine: the library API the interpreter and the daemon's workers call.
//!
//! It holds the configuration (spec catalog + resolved connections, reloadable:
//! [`config`]), the warehouse, and one [`RestClient`] per connection (so one rate
//! limiter per connection is shared by every job). Connecting and disconnecting APIs is
//! [`admin`]. Its central operation is [`Engine::load`], in [`load`]:
//!
//! ```text
//! load(schema.table, action)
//!   ├─ parents first: tables read by sql@(…) params that are not loaded yet (recursive)
//!   ├─ plan    LoadPlan: full load or incremental merge, endpoint, params   (load/plan.rs)
//!   ├─ fetch   params → parameter sets → pages ──▶ bounded channel          (load/fetch.rs)
//!   ├─ stage   ──▶ StagingWriter on a blocking thread → staging table       (load/stage.rs)
//!   ├─ commit  swap in (load/reload) or merge by key (refresh), one transaction
//!   │          with the table's record and the job's success                (load/commit.rs)
//!   └─ (re)create the spec's views over this table                          (load/views.rs)
//! ```
//!
//! A failed or cancelled load drops its staging table and leaves the old data alone.

pub mod admin;
pub mod config;
mod error;
mod load;

pub use config::{is_secret_option, Config};
pub use error::{AdminError, LoadError, OpenError};

use crate::adapters::rest::client::{Limiter, RestClient};
use crate::adapters::spec::{TableSpec, ViewSpec};
use crate::home::Home;
use crate::protocol::Action;
use crate::warehouse::Warehouse;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use tokio_util::sync::CancellationToken;

/// Pages buffered between the fetcher and the writer: the memory bound of a load.
pub const PAGE_BUFFER: usize = 4;

/// Receives progress of a load: called at page boundaries, never per row.
pub trait Progress: Send + Sync {
    /// Pages and rows written so far for `schema.table`.
    fn update(&self, schema: &str, table: &str, pages: u64, rows: u64);
    /// A message worth recording in the job's log.
    fn log(&self, level: &str, message: &str) {
        let _ = (level, message);
    }
}

/// A progress sink that ignores everything.
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _: &str, _: &str, _: u64, _: u64) {}
}

/// Outcome of a successful load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadSummary {
    /// Rows written (for a merge: rows fetched and merged).
    pub rows: u64,
    /// Pages fetched.
    pub pages: u64,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Wall time in milliseconds.
    pub elapsed_ms: u64,
}

/// What a connector table reference resolves to.
#[derive(Debug, Clone)]
pub enum ConnectorObject {
    /// A table of the spec.
    Table(Box<TableSpec>),
    /// A view of the spec (loaded by loading its `from` tables).
    View(ViewSpec),
}

/// The engine shared by every session and worker of one process.
pub struct Engine {
    home: Home,
    warehouse: Arc<Warehouse>,
    config: RwLock<Arc<Config>>,
    clients: Mutex<HashMap<String, Arc<RestClient>>>,
    table_limiters: Mutex<HashMap<(String, String), Arc<Limiter>>>,
    table_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("home", &self.home).finish()
    }
}

impl Engine {
    /// Open the engine of `home`: create its directories, open the warehouse, read the
    /// configuration.
    pub fn open(home: Home) -> Result<Engine, OpenError> {
        home.ensure_dirs().map_err(|source| OpenError::Home {
            path: home.root().to_path_buf(),
            source,
        })?;
        let warehouse = Warehouse::open(&home.warehouse_file())?;
        let config = Config::load(&home);
        Ok(Self::with_parts(home, warehouse, config))
    }

    /// An engine from parts (tests use an in-memory warehouse and a given config).
    pub fn with_parts(home: Home, warehouse: Warehouse, config: Config) -> Engine {
        Engine {
            home,
            warehouse: Arc::new(warehouse),
            config: RwLock::new(Arc::new(config)),
            clients: Mutex::new(HashMap::new()),
            table_limiters: Mutex::new(HashMap::new()),
            table_locks: Mutex::new(HashMap::new()),
        }
    }

    /// The home directory.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// The warehouse.
    pub fn warehouse(&self) -> &Arc<Warehouse> {
        &self.warehouse
    }

    /// True when `schema.table` exists in the warehouse (table or view).
    pub async fn exists(&self, schema: &str, table: &str) -> Result<bool, LoadError> {
        Ok(self.warehouse.exists(schema, table).await?)
    }

    /// Load, reload or refresh `schema.table`, loading parent tables first. The engine
    /// records the job's end in `unify.loading_jobs` (a library load: there is no job
    /// queue to agree with).
    pub async fn load(
        &self,
        job_id: &str,
        schema: &str,
        table: &str,
        action: Action,
        progress: Arc<dyn Progress>,
        cancel: CancellationToken,
    ) -> Result<LoadSummary, LoadError> {
        let job = load::Job::new(job_id, action, progress, cancel, true);
        self.load_root(job, schema, table).await
    }

    /// [`Self::load`] for a job of the host's queue: the engine records what the run
    /// did (its row, counts, log lines, and the tables it loaded on the job's behalf),
    /// never the job's final state — the host's ledger writes that to the queue and to
    /// `unify.loading_jobs` in one place (`actors::Ledger::finish`).
    pub async fn load_queued(
        &self,
        job_id: &str,
        schema: &str,
        table: &str,
        action: Action,
        progress: Arc<dyn Progress>,
        cancel: CancellationToken,
    ) -> Result<LoadSummary, LoadError> {
        let job = load::Job::new(job_id, action, progress, cancel, false);
        self.load_root(job, schema, table).await
    }

    async fn load_root(
        &self,
        job: load::Job,
        schema: &str,
        table: &str,
    ) -> Result<LoadSummary, LoadError> {
        let result = self
            .load_object(job, schema.to_string(), table.to_string())
            .await;
        self.warehouse.settle().await;
        result
    }
}

/// Run blocking warehouse work off the async executor.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LoadError> + Send + 'static,
) -> Result<T, LoadError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LoadError::Internal(format!("blocking task: {e}")))?
}
