//! The engine: the library API the interpreter and the daemon's workers call.
//!
//! It holds the configuration (spec catalog + resolved connections, reloadable), the
//! warehouse, and one [`RestClient`] per connection (so one rate limiter per connection
//! is shared by every job). Its central operation is [`Engine::load`]:
//!
//! ```text
//! load(schema.table, action)
//!   ├─ parents first: tables read by sql@(…) params that are not loaded yet (recursive)
//!   ├─ params → parameter sets (sql@ runs against the connection's own schema)
//!   ├─ Fetch (async, concurrent within the limiter) ──pages──▶ bounded channel
//!   │                                               ──▶ StagingWriter (blocking thread)
//!   ├─ swap in (reload/load) or merge by key (updates) — one transaction, with state
//!   └─ (re)create the spec's views over this table
//! ```
//!
//! A failed or cancelled load drops its staging table and leaves the old data alone.

use crate::adapters::catalog::Catalog;
use crate::adapters::connections::{self, Connection, ConnectionError};
use crate::adapters::rest::client::{FetchError, Limiter, RestClient};
use crate::adapters::rest::params::{self, ParamError, ParamSet, SqlSource};
use crate::adapters::rest::{Fetch, FetchStats, FetchedPage};
use crate::adapters::spec::{Method, Param, ParamValue, Refresh, Spec, TableSpec, ViewSpec};
use crate::home::Home;
use crate::loading::flatten::{Flattener, Shape};
use crate::loading::writer::{staging_name, StagingWriter, WriteError};
use crate::protocol::Action;
use crate::warehouse::{
    self, quote_ident, JobRecord, TableRecord, Warehouse, WarehouseError, EMPTY_MARKER,
};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Pages buffered between the fetcher and the writer: the memory bound of a load.
pub const PAGE_BUFFER: usize = 4;

/// Specs and connections, as read from disk at one moment.
#[derive(Debug, Default)]
pub struct Config {
    /// All usable specs.
    pub catalog: Catalog,
    /// Usable connections.
    pub connections: Vec<Arc<Connection>>,
    /// Connections that could not be used, each with its reason.
    pub errors: Vec<ConnectionError>,
}

impl Config {
    /// Read specs from `home/rest_specs` (over the bundled ones) and `connections.yaml`.
    pub fn load(home: &Home) -> Config {
        let catalog = Catalog::load(&home.specs_dir());
        Self::with_catalog(home, catalog)
    }

    /// Read `connections.yaml` against a given catalog.
    pub fn with_catalog(home: &Home, catalog: Catalog) -> Config {
        let env = |k: &str| connections::env_var(k);
        match connections::read_entries(&home.connections_file()) {
            Ok(read) => {
                let (connections, mut errors) =
                    connections::resolve_all(&read.entries, &catalog, &env);
                errors.extend(read.errors);
                Config {
                    catalog,
                    connections,
                    errors,
                }
            }
            Err(e) => Config {
                catalog,
                connections: Vec::new(),
                errors: vec![e],
            },
        }
    }

    /// The connection named `schema`.
    pub fn connection(&self, schema: &str) -> Option<&Arc<Connection>> {
        self.connections.iter().find(|c| c.schema == schema)
    }

    /// Why the connection named `schema` is configured but unusable, if it is.
    pub fn connection_error(&self, schema: &str) -> Option<&ConnectionError> {
        if self.connection(schema).is_some() {
            return None;
        }
        self.errors.iter().find(|e| e.schema() == Some(schema))
    }
}

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
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Why a load failed. Messages name the table and never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No connection (schema) of that name.
    #[error("unknown schema '{0}': it is not a connection (see `show connections`)")]
    UnknownSchema(String),
    /// The connection exists but has no such table.
    #[error("Table {schema}.{table} does not exist: connector '{connector}' has no table or view named '{table}'")]
    UnknownTable {
        /// Schema.
        schema: String,
        /// Table.
        table: String,
        /// Connector.
        connector: String,
    },
    /// The connection is configured but unusable.
    #[error("{0}")]
    Connection(String),
    /// Fetching failed.
    #[error("loading {table}: {source}")]
    Fetch {
        /// `schema.table`.
        table: String,
        /// What went wrong.
        #[source]
        source: Box<FetchError>,
    },
    /// Params could not be expanded.
    #[error("loading {table}: {source}")]
    Params {
        /// `schema.table`.
        table: String,
        /// What went wrong.
        #[source]
        source: ParamError,
    },
    /// Writing failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    /// A parent table failed.
    #[error("loading {table} needs {parent} first, which failed: {source}")]
    Parent {
        /// `schema.table`.
        table: String,
        /// The parent.
        parent: String,
        /// Its failure.
        source: Box<LoadError>,
    },
    /// The job was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// A worker thread died.
    #[error("internal error: {0}")]
    Internal(String),
}

impl LoadError {
    /// True when the job was cancelled (its state is `cancelled`, not `failed`).
    pub fn is_cancelled(&self) -> bool {
        match self {
            LoadError::Cancelled => true,
            LoadError::Fetch { source, .. } => matches!(**source, FetchError::Cancelled),
            LoadError::Parent { source, .. } => source.is_cancelled(),
            _ => false,
        }
    }
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

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Engine {
    /// Open the engine of `home`: create its directories, open the warehouse, read the
    /// configuration.
    pub fn open(home: Home) -> Result<Engine, anyhow::Error> {
        home.ensure_dirs()?;
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

    /// The current configuration.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-read specs and connections from disk. Clients of changed connections are
    /// rebuilt on next use; unchanged ones keep their limiter and auth state (a cached
    /// or rotated OAuth token). Returns the new configuration.
    pub fn reload_config(&self) -> Arc<Config> {
        let fresh = Arc::new(Config::load(&self.home));
        self.install(fresh.clone());
        fresh
    }

    /// Replace the configuration (tests, `connect`).
    pub fn set_config(&self, config: Config) {
        self.install(Arc::new(config));
    }

    fn install(&self, fresh: Arc<Config>) {
        let old = std::mem::replace(
            &mut *self.config.write().unwrap_or_else(|e| e.into_inner()),
            fresh.clone(),
        );
        let unchanged = |schema: &str| match (old.connection(schema), fresh.connection(schema)) {
            (Some(a), Some(b)) => same_connection(a, b),
            _ => false,
        };
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|schema, _| unchanged(schema));
        self.table_limiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(schema, _), _| unchanged(schema));
    }

    /// What `schema.name` is in its connector, if anything.
    pub fn connector_object(&self, schema: &str, name: &str) -> Option<ConnectorObject> {
        let config = self.config();
        let conn = config.connection(schema)?;
        if let Some(t) = conn.spec.table(name) {
            return Some(ConnectorObject::Table(Box::new(t.clone())));
        }
        conn.spec
            .view(name)
            .map(|v| ConnectorObject::View(v.clone()))
    }

    /// The client of a connection (one per connection: its rate limit is shared by
    /// every job), and the table's own limiter when the table sets a `rate_limit`.
    fn client(
        &self,
        conn: &Arc<Connection>,
        table: &TableSpec,
    ) -> (Arc<RestClient>, Option<Arc<Limiter>>) {
        let client = self
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(conn.schema.clone())
            .or_insert_with(|| Arc::new(RestClient::new(conn.clone())))
            .clone();
        let table_limit = table.rate_limit.map(|rl| {
            self.table_limiters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry((conn.schema.clone(), table.name.clone()))
                .or_insert_with(|| Arc::new(Limiter::new(Some(rl), None)))
                .clone()
        });
        (client, table_limit)
    }

    fn table_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.table_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// The connectors `connect` offers, with the options each asks for.
    pub fn connector_infos(&self) -> Vec<crate::protocol::ConnectorInfo> {
        let config = self.config();
        config
            .catalog
            .specs()
            .map(|spec| {
                let mut options: Vec<(String, String, bool)> = spec
                    .auth
                    .params
                    .iter()
                    .map(|(k, d)| (k.clone(), d.clone(), is_secret_option(k)))
                    .collect();
                for name in placeholders(&spec.base_url) {
                    if !options.iter().any(|(k, _, _)| *k == name)
                        && !spec.auth.defaults.contains_key(&name)
                    {
                        options.push((name.clone(), format!("{name} in {}", spec.base_url), false));
                    }
                }
                crate::protocol::ConnectorInfo {
                    name: spec.name.clone(),
                    summary: spec
                        .help
                        .as_deref()
                        .and_then(|h| h.lines().map(str::trim).find(|l| !l.is_empty()))
                        .unwrap_or("")
                        .to_string(),
                    options,
                }
            })
            .collect()
    }

    /// Try a would-be connection: resolve it and fetch one page of its first table that
    /// needs no parent table. Returns a one-line summary.
    pub async fn test_connection(
        &self,
        entry: &crate::protocol::NewConnection,
    ) -> Result<String, String> {
        let config = self.config();
        let raw = connections::ConnectionEntry {
            schema: entry.schema.clone(),
            connector: entry.connector.clone(),
            options: entry.options.clone(),
        };
        let env = |k: &str| connections::env_var(k);
        let conn =
            Arc::new(connections::resolve(&raw, &config.catalog, &env).map_err(|e| e.to_string())?);
        let table = conn
            .spec
            .tables
            .iter()
            .find(|t| t.depends_on.is_empty() && !t.path.contains('{'))
            .or_else(|| conn.spec.tables.iter().find(|t| t.depends_on.is_empty()))
            .cloned()
            .ok_or_else(|| {
                format!(
                    "connector {} has no table that can be fetched on its own",
                    conn.spec.name
                )
            })?;
        // Expanding params may run DuckDB (a scratch database): off the async threads.
        let set = {
            let (conn, params) = (conn.clone(), table.params.clone());
            tokio::task::spawn_blocking(move || {
                let lookup = |k: &str| crate::adapters::rest::option_value(&conn, k);
                params::expand(&params, &ScratchSql::new()?, &lookup).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())??
            .into_iter()
            .next()
            .unwrap_or_default()
        };
        let client = RestClient::new(conn.clone());
        let stats = FetchStats::default();
        let cancel = CancellationToken::new();
        let fetch = Fetch {
            client: &client,
            table: &table,
            cancel: &cancel,
            stats: &stats,
            table_limit: None,
        };
        let records = fetch.first_page(&set).await.map_err(|e| e.to_string())?;
        Ok(format!(
            "{}.{} answered with {} records",
            entry.schema,
            table.name,
            records.len()
        ))
    }

    /// Save a new connection (after checking it resolves) and start using it.
    pub fn add_connection(&self, entry: &crate::protocol::NewConnection) -> Result<String, String> {
        let config = self.config();
        if config.connection(&entry.schema).is_some()
            || config.errors.iter().any(|e| {
                error_names(e, &entry.schema) && !matches!(e, ConnectionError::File { .. })
            })
        {
            return Err(format!(
                "Schema name must be unique: '{}' is already a connection",
                entry.schema
            ));
        }
        let raw = connections::ConnectionEntry {
            schema: entry.schema.clone(),
            connector: entry.connector.clone(),
            options: entry.options.clone(),
        };
        let env = |k: &str| connections::env_var(k);
        connections::resolve(&raw, &config.catalog, &env).map_err(|e| e.to_string())?;
        connections::append_entry(&self.home.connections_file(), &raw)
            .map_err(|e| format!("writing {}: {e}", self.home.connections_file().display()))?;
        let fresh = self.reload_config();
        let conn = self.warehouse.connect().map_err(|e| e.to_string())?;
        conn.execute_batch(&format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_ident(&entry.schema)
        ))
        .map_err(|e| e.to_string())?;
        let tables = fresh
            .connection(&entry.schema)
            .map(|c| c.spec.tables.len())
            .unwrap_or(0);
        Ok(format!(
            "New {} connection created in schema {} ({tables} tables)",
            entry.connector, entry.schema
        ))
    }

    /// Remove a connection from the file and drop its schema with all its tables.
    pub fn remove_connection(&self, schema: &str) -> Result<String, String> {
        let removed = connections::remove_entry(&self.home.connections_file(), schema)
            .map_err(|e| format!("editing {}: {e}", self.home.connections_file().display()))?;
        if !removed {
            return Err(format!(
                "no connection named '{schema}' in {}",
                self.home.connections_file().display()
            ));
        }
        let conn = self.warehouse.connect().map_err(|e| e.to_string())?;
        conn.execute_batch(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE; DELETE FROM unify.tables WHERE schema_name = {};",
            quote_ident(schema),
            warehouse::quote_literal(schema)
        ))
        .map_err(|e| e.to_string())?;
        self.reload_config();
        Ok(format!("Removed connection '{schema}' and its tables"))
    }

    /// True when `schema.table` exists in the warehouse (table or view).
    pub async fn exists(&self, schema: &str, table: &str) -> Result<bool, LoadError> {
        let wh = self.warehouse.clone();
        let (s, t) = (schema.to_string(), table.to_string());
        blocking(move || {
            let conn = wh.connect()?;
            Ok(warehouse::relation_exists(&conn, &s, &t)?)
        })
        .await
    }

    /// Load, reload or refresh `schema.table`, loading parent tables first.
    pub async fn load(
        &self,
        job_id: &str,
        schema: &str,
        table: &str,
        action: Action,
        progress: Arc<dyn Progress>,
        cancel: CancellationToken,
    ) -> Result<LoadSummary, LoadError> {
        let result = self
            .load_inner(
                job_id.to_string(),
                schema.to_string(),
                table.to_string(),
                action,
                progress,
                cancel,
                0,
            )
            .await;
        let wh = self.warehouse.clone();
        let _ = tokio::task::spawn_blocking(move || wh.settle_memory()).await;
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn load_inner(
        &self,
        job_id: String,
        schema: String,
        table: String,
        action: Action,
        progress: Arc<dyn Progress>,
        cancel: CancellationToken,
        depth: usize,
    ) -> BoxFuture<'_, Result<LoadSummary, LoadError>> {
        Box::pin(async move {
            let config = self.config();
            let Some(conn) = config.connection(&schema).cloned() else {
                if let Some(err) = config.errors.iter().find(|e| error_names(e, &schema)) {
                    return Err(LoadError::Connection(err.to_string()));
                }
                return Err(LoadError::UnknownSchema(schema));
            };
            let spec = conn.spec.clone();
            let table_spec = match spec.table(&table) {
                Some(t) => t.clone(),
                None => {
                    if let Some(view) = spec.view(&table) {
                        return self
                            .load_view(job_id, &conn, view.clone(), action, progress, cancel, depth)
                            .await;
                    }
                    return Err(LoadError::UnknownTable {
                        schema,
                        table,
                        connector: spec.name.clone(),
                    });
                }
            };
            // Parents read by sql@ params load first (recursively), unless present.
            for parent in &table_spec.depends_on {
                if !self.exists(&schema, parent).await? {
                    progress.log(
                        "info",
                        &format!("loading {schema}.{parent} first (needed by {table})"),
                    );
                    let parent_job = format!("{job_id}.{parent}");
                    self.load_inner(
                        parent_job,
                        schema.clone(),
                        parent.clone(),
                        Action::Load,
                        progress.clone(),
                        cancel.clone(),
                        depth + 1,
                    )
                    .await
                    .map_err(|e| LoadError::Parent {
                        table: format!("{schema}.{table}"),
                        parent: format!("{schema}.{parent}"),
                        source: Box::new(e),
                    })?;
                }
            }
            let lock = self.table_lock(&format!("{schema}.{table}"));
            let _guard = lock.lock().await;
            let summary = self
                .load_table(
                    &job_id,
                    &conn,
                    &spec,
                    &table_spec,
                    action,
                    progress.clone(),
                    cancel,
                )
                .await?;
            // The table is in; a view that cannot be created is reported, not a failure.
            if let Err(e) = self.create_views(&conn, &spec, &table_spec.name).await {
                let message = format!("{schema}.{table} loaded, but a view over it failed: {e}");
                progress.log("warning", &message);
                let (wh, j) = (self.warehouse.clone(), job_id.clone());
                let _ = blocking(move || {
                    let c = wh.connect()?;
                    warehouse::log_line(&c, &j, "warning", &message);
                    Ok(())
                })
                .await;
            }
            Ok(summary)
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn load_view(
        &self,
        job_id: String,
        conn: &Arc<Connection>,
        view: ViewSpec,
        action: Action,
        progress: Arc<dyn Progress>,
        cancel: CancellationToken,
        depth: usize,
    ) -> Result<LoadSummary, LoadError> {
        let mut total = LoadSummary {
            rows: 0,
            pages: 0,
            requests: 0,
            elapsed_ms: 0,
        };
        for from in &view.from {
            if action == Action::Load && self.exists(&conn.schema, from).await? {
                continue;
            }
            let s = self
                .load_inner(
                    format!("{job_id}.{from}"),
                    conn.schema.clone(),
                    from.clone(),
                    action,
                    progress.clone(),
                    cancel.clone(),
                    depth + 1,
                )
                .await?;
            total.rows += s.rows;
            total.pages += s.pages;
            total.requests += s.requests;
            total.elapsed_ms += s.elapsed_ms;
        }
        self.create_views(conn, &conn.spec, "").await?;
        Ok(total)
    }

    #[allow(clippy::too_many_arguments)]
    async fn load_table(
        &self,
        job_id: &str,
        conn: &Arc<Connection>,
        spec: &Arc<Spec>,
        table: &TableSpec,
        action: Action,
        progress: Arc<dyn Progress>,
        cancel: CancellationToken,
    ) -> Result<LoadSummary, LoadError> {
        let started = Instant::now();
        let started_us = chrono::Utc::now().timestamp_micros();
        let schema = conn.schema.clone();
        let name = format!("{schema}.{}", table.name);
        let wh = self.warehouse.clone();

        // Decide full load or incremental merge.
        let last_scan = {
            let (wh, s, t) = (wh.clone(), schema.clone(), table.name.clone());
            blocking(move || {
                let c = wh.connect()?;
                if !warehouse::relation_exists(&c, &s, &t)? {
                    return Ok(None);
                }
                Ok(warehouse::last_scan_start(&c, &s, &t)?)
            })
            .await?
        };
        let incremental = match (&table.refresh, action, last_scan) {
            (Refresh::Updates { params, .. }, Action::Refresh, Some(since_us)) => {
                Some((params.clone(), since_us))
            }
            _ => None,
        };
        // `${timestamp}` = start of the last scan − 24 h, in the spec's format.
        let stamps = incremental.as_ref().map(|(_, since_us)| {
            let since = chrono::DateTime::from_timestamp_micros(*since_us - 24 * 3_600_000_000)
                .unwrap_or_default();
            let fmt = spec
                .query_date_format
                .as_deref()
                .unwrap_or("%Y-%m-%dT%H:%M:%S");
            (
                since.format(fmt).to_string(),
                since.format("%Y-%m-%d").to_string(),
            )
        });
        // A refresh may use its own endpoint and body.
        let effective: TableSpec = match (&table.refresh, &stamps) {
            (
                Refresh::Updates {
                    resource_path,
                    post,
                    ..
                },
                Some((stamp, day)),
            ) => {
                let mut t = table.clone();
                if let Some(path) = resource_path {
                    t.path = path.clone();
                }
                if let Some(body) = post {
                    t.post = Some(fill_timestamp_json(body, stamp, day));
                    t.method = crate::adapters::spec::Method::Post;
                }
                t
            }
            _ => table.clone(),
        };
        let table = &effective;
        let action_name = if incremental.is_some() {
            "refresh"
        } else {
            action.as_str()
        };
        {
            let (wh, j, s, t, a) = (
                wh.clone(),
                job_id.to_string(),
                schema.clone(),
                table.name.clone(),
                action_name.to_string(),
            );
            blocking(move || {
                let c = wh.connect()?;
                warehouse::job_started(&c, &j, &s, &t, &a)?;
                Ok(())
            })
            .await?;
        }

        let params_used: Vec<Param> = match (&incremental, &stamps) {
            (Some((refresh_params, _)), Some((stamp, day))) => {
                let mut merged: Vec<Param> = table
                    .params
                    .iter()
                    .filter(|p| !refresh_params.iter().any(|r| r.names == p.names))
                    .cloned()
                    .collect();
                for p in refresh_params {
                    merged.push(fill_timestamp(p, stamp, day));
                }
                merged
            }
            _ => table.params.clone(),
        };

        // Expand params; sql@ queries run against this connection's schema.
        let sets = {
            let (wh, s, conn2) = (wh.clone(), schema.clone(), conn.clone());
            let params_used = params_used.clone();
            let parents = table.depends_on.clone();
            blocking(move || {
                let db = wh.connect()?;
                let source = SchemaSql {
                    conn: &db,
                    schema: &s,
                    parents: &parents,
                };
                let lookup = |k: &str| crate::adapters::rest::option_value(&conn2, k);
                Ok(params::expand(&params_used, &source, &lookup))
            })
            .await?
            .map_err(|source| LoadError::Params {
                table: name.clone(),
                source,
            })
        };
        let sets: Vec<ParamSet> = match sets {
            Ok(s) => s,
            Err(e) => {
                self.record_failure(job_id, "failed", 0, 0, 0, &e.to_string())
                    .await;
                return Err(e);
            }
        };
        if sets.is_empty() {
            progress.log(
                "warning",
                &format!("{name}: a parameter has no values (an empty list, or a sql@ query with no rows); nothing to fetch"),
            );
        }

        // The writer runs on a blocking thread, fed through a bounded channel.
        let (tx, mut rx) = mpsc::channel::<FetchedPage>(PAGE_BUFFER);
        let shape = Shape {
            select: table.select.clone(),
            strip_prefixes: table.strip_prefixes.clone(),
        };
        // A merge starts from the table's own columns, so fields get the names and (at
        // least) the types they already have: the staging table lines up name for name.
        let existing_columns = if incremental.is_some() {
            let (wh, s, t) = (wh.clone(), schema.clone(), table.name.clone());
            match blocking(move || Ok(warehouse::table_columns(&wh.connect()?, &s, &t)?)).await {
                Ok(columns) => columns,
                Err(e) => {
                    self.record_failure(job_id, "failed", 0, 0, 0, &e.to_string())
                        .await;
                    return Err(e);
                }
            }
        } else {
            Vec::new()
        };
        // Set once every page was fetched: only then does the writer commit its staging
        // table. A failed or cancelled fetch makes it roll back instead.
        let fetch_complete = Arc::new(AtomicBool::new(false));
        let writer = {
            let (wh, s, t, j) = (
                wh.clone(),
                schema.clone(),
                table.name.clone(),
                job_id.to_string(),
            );
            let progress = progress.clone();
            let pages_counter = std::sync::atomic::AtomicU64::new(0);
            let fetch_complete = fetch_complete.clone();
            tokio::task::spawn_blocking(
                move || -> Result<crate::loading::writer::Staged, LoadError> {
                    let db = wh.connect()?;
                    let flattener = Flattener::with_columns(shape, existing_columns);
                    let mut w = StagingWriter::new(&db, &s, &t, &j, flattener);
                    while let Some(page) = rx.blocking_recv() {
                        if let Err(e) = w.write_page(page) {
                            w.abandon();
                            return Err(e.into());
                        }
                        // Not on `db`: its transaction is the staging table's.
                        let warnings = w.take_warnings();
                        if !warnings.is_empty() {
                            let log = wh.connect()?;
                            for warning in warnings {
                                progress.log("warning", &warning);
                                warehouse::log_line(&log, &j, "warning", &warning);
                            }
                        }
                        let pages = pages_counter.fetch_add(1, Ordering::Relaxed) + 1;
                        progress.update(&s, &t, pages, w.rows());
                    }
                    if !fetch_complete.load(Ordering::SeqCst) {
                        w.abandon();
                        return Err(LoadError::Cancelled);
                    }
                    Ok(w.finish()?)
                },
            )
        };
        let (client, table_limit) = self.client(conn, table);
        let stats = FetchStats::default();
        let fetch = Fetch {
            client: &client,
            table,
            cancel: &cancel,
            stats: &stats,
            table_limit: table_limit.as_deref(),
        };
        let fetched = fetch.run(sets, &tx).await;
        let warnings = stats.take_warnings();
        if !warnings.is_empty() {
            for warning in &warnings {
                progress.log("warning", warning);
            }
            let (wh, j) = (wh.clone(), job_id.to_string());
            let _ = blocking(move || {
                let c = wh.connect()?;
                for warning in warnings {
                    warehouse::log_line(&c, &j, "warning", &warning);
                }
                Ok(())
            })
            .await;
        }
        fetch_complete.store(fetched.is_ok(), Ordering::SeqCst);
        drop(tx);
        let staged = writer
            .await
            .map_err(|e| LoadError::Internal(format!("writer thread: {e}")));
        let pages = stats.pages.load(Ordering::Relaxed);
        let requests = stats.requests.load(Ordering::Relaxed);
        let staged = match (fetched, staged) {
            (Ok(()), Ok(Ok(staged))) => staged,
            (fetch_result, staged) => {
                // Drop whatever was staged; the previous table stays as it was.
                let rows = match &staged {
                    Ok(Ok(s)) => s.rows,
                    _ => 0,
                };
                match &staged {
                    Ok(Ok(s)) => drop_staging(&wh, s).await,
                    // The writer died: its staging table has a known name.
                    Err(_) => {
                        drop_staging_named(&wh, &schema, &staging_name(&table.name, job_id)).await
                    }
                    Ok(Err(_)) => {}
                }
                let writer_outcome = match staged {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) | Err(e) => Err(e),
                };
                let err = failure_cause(&name, fetch_result, writer_outcome);
                let state = if err.is_cancelled() && cancel.is_cancelled() {
                    "cancelled"
                } else {
                    "failed"
                };
                self.record_failure(job_id, state, rows, pages, requests, &err.to_string())
                    .await;
                return Err(err);
            }
        };
        if cancel.is_cancelled() {
            drop_staging(&wh, &staged).await;
            self.record_failure(
                job_id,
                "cancelled",
                staged.rows,
                pages,
                requests,
                "cancelled",
            )
            .await;
            return Err(LoadError::Cancelled);
        }
        let record = TableRecord {
            schema: schema.clone(),
            table: table.name.clone(),
            kind: "connector".into(),
            connector: Some(spec.name.clone()),
            description: table.description.clone(),
            source: Some(format!(
                "{} {}",
                match table.method {
                    Method::Post => "POST",
                    Method::Get => "GET",
                },
                table.path
            )),
            started_us,
            ended_us: chrono::Utc::now().timestamp_micros(),
            is_refresh: incremental.is_some(),
        };
        let job = JobRecord {
            job_id: job_id.to_string(),
            pages,
            requests,
        };
        let keys = table.key_columns.clone();
        let is_merge = incremental.is_some();
        let rows = {
            let wh = wh.clone();
            let staged2 = staged.clone();
            blocking(move || {
                let db = wh.connect()?;
                Ok(if is_merge {
                    warehouse::merge_in(&db, &staged2, &keys, &record, &job)?
                } else {
                    warehouse::swap_in(&db, &staged2, &record, &job)?
                })
            })
            .await
        };
        let rows = match rows {
            Ok(r) => r,
            Err(e) => {
                drop_staging(&wh, &staged).await;
                self.record_failure(
                    job_id,
                    "failed",
                    staged.rows,
                    pages,
                    requests,
                    &e.to_string(),
                )
                .await;
                return Err(e);
            }
        };
        progress.update(&schema, &table.name, pages, rows);
        Ok(LoadSummary {
            rows,
            pages,
            requests,
            elapsed_ms: started.elapsed().as_millis() as u64,
        })
    }

    async fn record_failure(
        &self,
        job_id: &str,
        state: &str,
        rows: u64,
        pages: u64,
        requests: u64,
        error: &str,
    ) {
        let (wh, j, s, e) = (
            self.warehouse.clone(),
            job_id.to_string(),
            state.to_string(),
            crate::secret::redact(error),
        );
        let result = blocking(move || {
            let c = wh.connect()?;
            warehouse::job_failed(&c, &j, &s, rows, pages, requests, &e)?;
            warehouse::log_line(&c, &j, "error", &e);
            Ok(())
        })
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not record job failure");
        }
    }

    /// (Re)create the spec views that read `table` (all views when `table` is empty)
    /// whose source tables all exist.
    async fn create_views(
        &self,
        conn: &Arc<Connection>,
        spec: &Arc<Spec>,
        table: &str,
    ) -> Result<(), LoadError> {
        let views: Vec<ViewSpec> = spec
            .views
            .iter()
            .filter(|v| table.is_empty() || v.from.iter().any(|f| f == table))
            .cloned()
            .collect();
        if views.is_empty() {
            return Ok(());
        }
        let (wh, schema) = (self.warehouse.clone(), conn.schema.clone());
        let table_names: Vec<String> = spec.tables.iter().map(|t| t.name.clone()).collect();
        blocking(move || {
            let db = wh.connect()?;
            for view in views {
                let mut ready = true;
                for f in &view.from {
                    ready &= warehouse::relation_exists(&db, &schema, f)?;
                }
                if !ready {
                    continue;
                }
                let query = crate::sqltext::qualify_tables(&view.query, &schema, &table_names);
                let sql = format!(
                    "CREATE OR REPLACE VIEW {}.{} AS {}",
                    quote_ident(&schema),
                    quote_ident(&view.name),
                    query.trim().trim_end_matches(';')
                );
                if let Err(e) = db.execute_batch(&sql) {
                    tracing::warn!(view = %view.name, error = %e, "could not create view");
                    return Err(LoadError::Warehouse(WarehouseError {
                        context: format!("creating view {schema}.{}", view.name),
                        source: e,
                    }));
                }
            }
            Ok(())
        })
        .await
    }
}

fn error_names(err: &ConnectionError, schema: &str) -> bool {
    err.schema().is_none_or(|s| s == schema)
}

/// True when two configurations of a connection would build the same client: the same
/// spec (every key: fetches read headers, error paths… from the client's connection),
/// the same base URL and the same option values.
fn same_connection(a: &Connection, b: &Connection) -> bool {
    let options = |c: &Connection| -> Vec<(String, String)> {
        c.options
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_string()))
            .collect()
    };
    a.base_url == b.base_url
        && options(a) == options(b)
        && (Arc::ptr_eq(&a.spec, &b.spec) || format!("{:?}", a.spec) == format!("{:?}", b.spec))
}

/// Options whose values are secrets (typed without echo by `connect`).
pub fn is_secret_option(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    (l.contains("pass") || l.contains("secret") || l.contains("token") || l.ends_with("key"))
        && l != "access_key_id"
}

/// `${name}` placeholders in a template.
fn placeholders(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        out.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    out
}

/// Runs `sql@(…)` queries that read no table (computed values such as dates) in a
/// scratch in-memory database: for testing a connection and `spec check --live`,
/// where no warehouse is involved.
pub struct ScratchSql {
    conn: duckdb::Connection,
}

impl ScratchSql {
    /// A fresh in-memory database.
    pub fn new() -> Result<ScratchSql, String> {
        duckdb::Connection::open_in_memory()
            .map(|conn| ScratchSql { conn })
            .map_err(|e| e.to_string())
    }
}

impl SqlSource for ScratchSql {
    fn rows(&self, sql: &str) -> Result<Vec<Vec<serde_json::Value>>, String> {
        warehouse::query(&self.conn, sql)
            .map(|t| t.map(|t| t.rows).unwrap_or_default())
            .map_err(|e| e.to_string())
    }
}

/// `${timestamp}` / `${timestamp_day}` in a refresh param.
fn fill_timestamp(p: &Param, stamp: &str, day: &str) -> Param {
    let fill = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => serde_json::Value::String(
            s.replace("${timestamp_day}", day)
                .replace("${timestamp}", stamp),
        ),
        other => other.clone(),
    };
    let value = match &p.value {
        ParamValue::Scalar(v) => ParamValue::Scalar(fill(v)),
        ParamValue::List(rows) => {
            ParamValue::List(rows.iter().map(|r| r.iter().map(fill).collect()).collect())
        }
        ParamValue::Sql(q) => ParamValue::Sql(
            q.replace("${timestamp_day}", day)
                .replace("${timestamp}", stamp),
        ),
    };
    Param {
        names: p.names.clone(),
        value,
    }
}

/// `${timestamp}` / `${timestamp_day}` in the string leaves of a refresh body.
fn fill_timestamp_json(v: &serde_json::Value, stamp: &str, day: &str) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(
            s.replace("${timestamp_day}", day)
                .replace("${timestamp}", stamp),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| fill_timestamp_json(i, stamp, day))
                .collect(),
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), fill_timestamp_json(v, stamp, day)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Why a load failed, given what the fetch and the writer each reported (at least one
/// of them failed). A fetch that stopped because the writer stopped taking pages is
/// explained by the writer's own error, never reported as a cancel.
fn failure_cause(
    name: &str,
    fetched: Result<(), FetchError>,
    written: Result<(), LoadError>,
) -> LoadError {
    match (fetched, written) {
        (Err(FetchError::WriterStopped), Err(e)) | (Ok(()), Err(e)) => e,
        (Err(e), _) => LoadError::Fetch {
            table: name.to_string(),
            source: Box::new(e),
        },
        (Ok(()), Ok(())) => LoadError::Internal("inconsistent load outcome".into()),
    }
}

async fn drop_staging_named(wh: &Arc<Warehouse>, schema: &str, staging: &str) {
    let (wh, s, t) = (wh.clone(), schema.to_string(), staging.to_string());
    let _ = blocking(move || {
        let c = wh.connect()?;
        c.execute_batch(&format!(
            "DROP TABLE IF EXISTS {}",
            warehouse::qualified(&s, &t)
        ))
        .map_err(|e| WarehouseError {
            context: "dropping staging table".into(),
            source: e,
        })?;
        Ok(())
    })
    .await;
}

async fn drop_staging(wh: &Arc<Warehouse>, staged: &crate::loading::writer::Staged) {
    if let Some(staging) = &staged.staging {
        drop_staging_named(wh, &staged.schema, staging).await;
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

/// Runs `sql@(…)` queries with the connection's schema first on the search path.
struct SchemaSql<'a> {
    conn: &'a duckdb::Connection,
    schema: &'a str,
    parents: &'a [String],
}

impl SchemaSql<'_> {
    /// True for a table that loaded no rows (created with only `_unify_empty`).
    fn is_placeholder(&self, table: &str) -> bool {
        warehouse::table_columns(self.conn, self.schema, table)
            .map(|cols| cols.len() == 1 && cols[0].name == EMPTY_MARKER)
            .unwrap_or(false)
    }
}

impl SqlSource for SchemaSql<'_> {
    fn rows(&self, sql: &str) -> Result<Vec<Vec<serde_json::Value>>, String> {
        // This connection serves only this load's params, so the search path is set
        // and left as is (RESET would point it at the in-memory default catalog). The
        // schema may not exist yet when the first table of a connection loads.
        self.conn
            .execute_batch(&format!(
                "CREATE SCHEMA IF NOT EXISTS {}; SET search_path = {}",
                quote_ident(self.schema),
                warehouse::quote_literal(&format!("{},main", self.schema))
            ))
            .map_err(|e| e.to_string())?;
        match warehouse::query(self.conn, sql) {
            Ok(t) => Ok(t.map(|t| t.rows).unwrap_or_default()),
            // A parent that loaded no rows has no real columns (only `_unify_empty`):
            // the query cannot bind, and its children get no parameter values.
            Err(e)
                if e.to_string().contains("Binder Error")
                    && self.parents.iter().any(|p| self.is_placeholder(p)) =>
            {
                tracing::info!(error = %e, "sql@ over an empty parent table: no values");
                Ok(Vec::new())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_the_same_only_when_its_whole_spec_is() {
        let conn = |spec: &str| {
            let mut catalog = crate::adapters::catalog::Catalog::default();
            catalog.add("<test>", spec, true);
            let entry = connections::ConnectionEntry {
                schema: "api".into(),
                connector: "api".into(),
                options: vec![("token".into(), "t0ken".into())],
            };
            connections::resolve(&entry, &catalog, &|_| None).unwrap()
        };
        let base = "name: api\nbase_url: http://127.0.0.1:1\ntables:\n  - name: t\n    resource_path: /t\n";
        assert!(same_connection(&conn(base), &conn(base)));
        let with_header = base.replace("tables:", "headers: {X-Api-Version: '2'}\ntables:");
        assert!(!same_connection(&conn(base), &conn(&with_header)));
    }

    #[test]
    fn a_writer_failure_is_the_cause_and_not_a_cancel() {
        let write_error = || {
            Err(LoadError::Write(WriteError {
                table: "api.t".into(),
                message: "Out of Memory Error".into(),
            }))
        };
        let err = failure_cause("api.t", Err(FetchError::WriterStopped), write_error());
        assert_eq!(err.to_string(), "writing api.t: Out of Memory Error");
        assert!(!err.is_cancelled());
        // The writer failing after the fetch finished is reported the same way.
        let err = failure_cause("api.t", Ok(()), write_error());
        assert_eq!(err.to_string(), "writing api.t: Out of Memory Error");
        // A real cancel stays a cancel, and a fetch error is named with its table.
        assert!(failure_cause("api.t", Err(FetchError::Cancelled), Ok(())).is_cancelled());
        let err = failure_cause("api.t", Err(FetchError::WriterStopped), Ok(()));
        assert!(err.to_string().starts_with("loading api.t: "), "{err}");
    }
}
