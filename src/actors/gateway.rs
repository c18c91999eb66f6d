//! Gateway: the door for client requests, whichever transport carried them (ZeroMQ in
//! the daemon, a direct call in `--no-daemon`). It keeps one interpreter [`Session`] per
//! client session id and runs each statement on a blocking thread, so statements of
//! different clients — and loads — run concurrently. [`HostJobs`] is how the interpreter
//! reaches the queue and the daemon's controls: enqueueing wakes the poller, cancelling
//! goes through the [`Ledger`] (a queued job) and the pool ([`CancelJob`], a running one).

use super::adapter_registry::{AdapterRegistry, Reload};
use super::loader_worker::{CancelJob, CountRunning, LoaderPool};
use super::queue_poller::{QueuePoller, Wake};
use super::status_publisher::{Notice, Publish, StatusPublisher};
use super::{ControlError, HostContext, Ledger};
use crate::interpreter::{FetchRows, Interpreter, JobControl, Outlet, Session};
use crate::parser::{CancelTarget, SystemCommand};
use crate::protocol::{
    Action, JobRef, JobState, Output, Reply, Request, Requester, Response, ResultTable,
};
use crate::queue::{now_ms, CancelOutcome, Enqueued, JobRecord};
use actix::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The actors [`HostJobs`] talks to.
pub struct JobActors {
    /// Runs claimed jobs; told of cancels.
    pub pool: Addr<LoaderPool>,
    /// Woken when a job is enqueued.
    pub poller: Addr<QueuePoller>,
    /// Publishes job status and notices.
    pub publisher: Addr<StatusPublisher>,
    /// Reloads the configuration.
    pub registry: Addr<AdapterRegistry>,
}

/// How the interpreter enqueues jobs and runs `system` commands on this host.
pub struct HostJobs {
    ctx: Arc<HostContext>,
    ledger: Ledger,
    actors: JobActors,
    /// Set by `system restart daemon`: the daemon starts a successor when it exits.
    pub restart: AtomicBool,
}

impl HostJobs {
    /// Job control over the given actors.
    pub fn new(ctx: Arc<HostContext>, ledger: Ledger, actors: JobActors) -> Self {
        HostJobs {
            ctx,
            ledger,
            actors,
            restart: AtomicBool::new(false),
        }
    }

    async fn status(&self) -> Result<Vec<Output>, ControlError> {
        let s = &self.ctx;
        let mut out = Vec::new();
        let up = s.started.elapsed().as_secs();
        out.push(Output::Message(if s.is_daemon {
            format!(
                "Task daemon is running (pid {}, up {}, {} workers, home {})",
                std::process::id(),
                human_secs(up),
                s.workers,
                s.engine.home().root().display()
            )
        } else {
            format!(
                "Running in-process (--no-daemon): {} workers, home {}",
                s.workers,
                s.engine.home().root().display()
            )
        }));
        let active = s.queue.active().await?;
        if active.is_empty() {
            out.push(Output::Message("No queued or running jobs.".into()));
        } else {
            out.push(Output::Table(active_table(&active)));
        }
        let failures = s.queue.recent_failures(5).await?;
        if !failures.is_empty() {
            out.push(Output::Message("Recent failures:".into()));
            out.push(Output::Table(failures_table(&failures)));
        }
        let config = s.engine.config();
        for e in &config.errors {
            out.push(Output::Message(format!("connection problem: {e}")));
        }
        for w in &config.catalog.warnings {
            out.push(Output::Message(format!("spec problem: {w}")));
        }
        Ok(out)
    }

    async fn cancel(&self, target: &CancelTarget) -> Result<Vec<Output>, ControlError> {
        match target {
            CancelTarget::All => {
                let affected = self.ledger.cancel_all().await?;
                for (id, outcome) in &affected {
                    self.cancelled(id, *outcome).await?;
                }
                let ids: Vec<&str> = affected.iter().map(|(id, _)| id.as_str()).collect();
                Ok(vec![Output::Message(if ids.is_empty() {
                    "No jobs to cancel.".into()
                } else {
                    format!("Cancelling {} jobs: {}", ids.len(), ids.join(", "))
                })])
            }
            CancelTarget::Job(id) => {
                let outcome = self.ledger.cancel(id).await?;
                self.cancelled(id, outcome).await?;
                let message = match outcome {
                    CancelOutcome::Cancelled => format!("Cancelled job {id} (it had not started)."),
                    CancelOutcome::Requested => format!(
                        "Cancelling job {id}: it stops at the next page; the table keeps its previous data."
                    ),
                    CancelOutcome::AlreadyFinished(state) => {
                        format!("Job {id} already finished ({}).", state.as_str())
                    }
                    CancelOutcome::NotFound => return Err(ControlError::NoSuchJob(id.clone())),
                };
                Ok(vec![Output::Message(message)])
            }
        }
    }

    /// After the ledger cancelled job `id`: publish its end (it had not started), or
    /// stop its run if it runs here (it stops at its next page either way: its keeper
    /// reads the flag the ledger set).
    async fn cancelled(&self, id: &str, outcome: CancelOutcome) -> Result<(), ControlError> {
        match outcome {
            CancelOutcome::Cancelled => {
                if let Ok(Some(record)) = self.ctx.queue.get(id).await {
                    if record.state == JobState::Cancelled {
                        let status = record.status(now_ms());
                        self.actors.publisher.do_send(Publish(status));
                    }
                }
            }
            CancelOutcome::Requested => {
                let id = id.to_string();
                let pool = &self.actors.pool;
                pool.send(CancelJob { id })
                    .await
                    .map_err(|source| ControlError::Stopped {
                        actor: "loader pool",
                        source,
                    })?;
            }
            CancelOutcome::AlreadyFinished(_) | CancelOutcome::NotFound => {}
        }
        Ok(())
    }

    fn stop_daemon(&self, restart: bool) -> Result<Vec<Output>, ControlError> {
        if !self.ctx.is_daemon {
            return Err(ControlError::NoDaemon);
        }
        self.restart.store(restart, Ordering::SeqCst);
        self.actors.publisher.do_send(Notice(if restart {
            "task daemon restarting".into()
        } else {
            "task daemon stopping".into()
        }));
        // The reply leaves first; then the one stop signal fires.
        let shutdown = self.ctx.shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            shutdown.cancel();
        });
        Ok(vec![Output::Message(if restart {
            "Restarting task daemon...".into()
        } else {
            "Stopping task daemon...".into()
        })])
    }
}

/// The queued and running jobs, as `system status` shows them.
fn active_table(active: &[JobRecord]) -> ResultTable {
    let now = now_ms();
    let rows = active
        .iter()
        .map(|j| {
            let st = j.status(now);
            vec![
                st.job_id.clone().into(),
                j.job.action.as_str().into(),
                st.table_name().into(),
                st.state.as_str().into(),
                st.pages.into(),
                st.rows.into(),
                format!("{:.1}s", st.elapsed_ms as f64 / 1000.0).into(),
                match j.job.requested_by {
                    Requester::User => "user",
                    Requester::Scheduler => "scheduler",
                }
                .into(),
            ]
        })
        .collect();
    ResultTable {
        columns: [
            "job", "action", "table", "state", "pages", "rows", "elapsed", "by",
        ]
        .map(String::from)
        .to_vec(),
        types: [
            "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "BIGINT", "BIGINT", "VARCHAR", "VARCHAR",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    }
}

/// The recent failures, as `system status` shows them.
fn failures_table(failures: &[JobRecord]) -> ResultTable {
    ResultTable {
        columns: ["job", "table", "finished", "error"]
            .map(String::from)
            .to_vec(),
        types: ["VARCHAR"; 4].map(String::from).to_vec(),
        rows: failures
            .iter()
            .map(|j| {
                let finished = j
                    .finished_at_ms
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default();
                vec![
                    j.job.id.clone().into(),
                    format!("{}.{}", j.job.schema, j.job.table).into(),
                    finished.into(),
                    j.error.clone().unwrap_or_default().into(),
                ]
            })
            .collect(),
    }
}

fn human_secs(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}

#[async_trait::async_trait]
impl JobControl for HostJobs {
    async fn enqueue(
        &self,
        schema: &str,
        table: &str,
        action: Action,
        by: Requester,
    ) -> Result<JobRef, ControlError> {
        let enqueued = self
            .ctx
            .queue
            .enqueue(&self.ctx.tenant, schema, table, action, by)
            .await?;
        if let Enqueued::New(record) = &enqueued {
            self.actors
                .publisher
                .do_send(Publish(record.status(now_ms())));
        }
        self.actors.poller.do_send(Wake);
        let record = enqueued.record();
        Ok(JobRef {
            id: record.job.id.clone(),
            table: format!("{}.{}", record.job.schema, record.job.table),
            action: record.job.action,
        })
    }

    async fn system(&self, command: &SystemCommand) -> Result<Vec<Output>, ControlError> {
        match command {
            SystemCommand::Status => self.status().await,
            SystemCommand::Cancel(target) => self.cancel(target).await,
            SystemCommand::Reload => {
                let summary = self.actors.registry.send(Reload).await.map_err(|source| {
                    ControlError::Stopped {
                        actor: "adapter registry",
                        source,
                    }
                })?;
                Ok(vec![Output::Message(summary)])
            }
            SystemCommand::StopDaemon => self.stop_daemon(false),
            SystemCommand::RestartDaemon => self.stop_daemon(true),
        }
    }
}

/// Why a client request could not be served.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The client closed the session while a statement of it was on its way.
    #[error("the session was closed by its client")]
    SessionClosed,
    /// The session could not be opened.
    #[error(transparent)]
    OpenSession(#[from] crate::interpreter::ShellError),
}

/// A session used this recently counts as a client at work (a daemon of another build is
/// not restarted under it).
pub const ACTIVE_SESSION: std::time::Duration = std::time::Duration::from_secs(600);

/// A session unused this long is closed (a client killed without saying goodbye must
/// not hold a DuckDB connection forever). Its next statement opens a fresh session.
pub const SESSION_IDLE_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

struct SessionSlot {
    session: Arc<Mutex<Session>>,
    interrupt: Arc<duckdb::InterruptHandle>,
    last_used: std::time::Instant,
}

/// The open sessions by id. Shared with the blocking threads that open them, so the
/// actor's thread never waits on DuckDB.
#[derive(Clone, Default)]
struct Sessions(Arc<Mutex<SessionMap>>);

#[derive(Default)]
struct SessionMap {
    open: HashMap<String, SessionSlot>,
    /// The result each session streams (its cursor id and the way to ask for rows): at
    /// most one; replacing or removing it ends the stream and frees the session.
    cursors: HashMap<String, (String, std::sync::mpsc::SyncSender<FetchRows>)>,
    /// Sessions their client closed (kept ten minutes): a statement of theirs still on
    /// its way must neither run nor open them again.
    closed: HashMap<String, std::time::Instant>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, SessionMap> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session `id`, opened on first use. Blocking: opening runs DuckDB DDL.
    fn get_or_open(
        &self,
        interpreter: &Interpreter,
        id: &str,
    ) -> Result<Arc<Mutex<Session>>, GatewayError> {
        if let Some(slot) = self.lock().open.get_mut(id) {
            slot.last_used = std::time::Instant::now();
            return Ok(slot.session.clone());
        }
        let session = interpreter
            .open_session(id)
            .map_err(GatewayError::OpenSession)?;
        let interrupt = session.interrupt_handle();
        let session = Arc::new(Mutex::new(session));
        let mut map = self.lock();
        if map.closed.contains_key(id) {
            return Err(GatewayError::SessionClosed);
        }
        // Two first statements of one session racing: the first one in wins.
        let slot = map
            .open
            .entry(id.to_string())
            .or_insert_with(|| SessionSlot {
                session,
                interrupt,
                last_used: std::time::Instant::now(),
            })
            .session
            .clone();
        Ok(slot)
    }

    /// A cursor for the next statement of session `id`. It replaces the session's
    /// open result, whose stream then ends (and frees the session for that statement).
    fn open_cursor(&self, id: &str) -> (String, std::sync::mpsc::Receiver<FetchRows>) {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let cursor = uuid::Uuid::new_v4().simple().to_string();
        self.lock()
            .cursors
            .insert(id.to_string(), (cursor.clone(), tx));
        (cursor, rx)
    }

    /// The way to ask session `id` for the next rows of result `cursor`.
    fn cursor(&self, id: &str, cursor: &str) -> Option<std::sync::mpsc::SyncSender<FetchRows>> {
        self.lock()
            .cursors
            .get(id)
            .filter(|(c, _)| c == cursor)
            .map(|(_, tx)| tx.clone())
    }

    /// End the result session `id` streams, if any.
    fn close_cursor(&self, id: &str) {
        self.lock().cursors.remove(id);
    }

    /// End every open result and interrupt every running statement (shutdown): no
    /// blocking thread may keep waiting on a client.
    fn close_all(&self) {
        let mut map = self.lock();
        map.cursors.clear();
        for slot in map.open.values() {
            slot.interrupt.interrupt();
        }
    }

    /// Sessions busy now or used within `recent`: a client is (or was just) working.
    fn active(&self, recent: std::time::Duration) -> usize {
        let map = self.lock();
        map.open
            .values()
            .filter(|slot| {
                let busy = matches!(
                    slot.session.try_lock(),
                    Err(std::sync::TryLockError::WouldBlock)
                );
                busy || slot.last_used.elapsed() < recent
            })
            .count()
    }

    /// Close session `id`, and remember it closed: a statement of it still on its way
    /// (being opened, or waiting for the session's lock) must not run.
    fn close(&self, id: &str) {
        let mut map = self.lock();
        map.open.remove(id);
        map.cursors.remove(id);
        map.closed.insert(id.to_string(), std::time::Instant::now());
    }

    fn is_closed(&self, id: &str) -> bool {
        self.lock().closed.contains_key(id)
    }

    /// Note that session `id` just finished a statement.
    fn touch(&self, id: &str) {
        if let Some(slot) = self.lock().open.get_mut(id) {
            slot.last_used = std::time::Instant::now();
        }
    }

    /// Close sessions idle for `ttl` that are not running a statement.
    fn expire(&self, ttl: std::time::Duration) -> usize {
        let mut map = self.lock();
        // A close that raced a statement matters for seconds, not longer.
        map.closed
            .retain(|_, at| at.elapsed() < std::time::Duration::from_secs(600));
        let before = map.open.len();
        map.open.retain(|_, slot| {
            let busy = matches!(
                slot.session.try_lock(),
                Err(std::sync::TryLockError::WouldBlock)
            );
            busy || slot.last_used.elapsed() < ttl
        });
        let SessionMap { open, cursors, .. } = &mut *map;
        cursors.retain(|id, _| open.contains_key(id));
        before - map.open.len()
    }
}

/// Handles client requests.
pub struct Gateway {
    ctx: Arc<HostContext>,
    interpreter: Arc<Interpreter>,
    registry: Addr<AdapterRegistry>,
    pool: Addr<LoaderPool>,
    sessions: Sessions,
}

impl Gateway {
    /// A gateway running statements with `interpreter`; configuration changes a client
    /// brings (its environment) are reloaded through `registry`; `pool` says how many
    /// loads run.
    pub fn new(
        ctx: Arc<HostContext>,
        interpreter: Arc<Interpreter>,
        registry: Addr<AdapterRegistry>,
        pool: Addr<LoaderPool>,
    ) -> Self {
        Gateway {
            ctx,
            interpreter,
            registry,
            pool,
            sessions: Sessions::default(),
        }
    }
}

impl Actor for Gateway {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(std::time::Duration::from_secs(600), |gateway, _| {
            let closed = gateway.sessions.expire(SESSION_IDLE_TTL);
            if closed > 0 {
                tracing::info!(sessions = closed, "closed idle client sessions");
            }
        });
    }
}

/// Shutdown: end every open result and interrupt every running statement.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseAll;

impl Handler<CloseAll> for Gateway {
    type Result = ();
    fn handle(&mut self, _: CloseAll, _: &mut Context<Self>) {
        self.sessions.close_all();
    }
}

/// A request from a client; answered with a [`Response`].
#[derive(Message)]
#[rtype(result = "Response")]
pub struct ClientRequest(pub Request);

impl Handler<ClientRequest> for Gateway {
    type Result = ResponseFuture<Response>;

    fn handle(&mut self, msg: ClientRequest, _: &mut Context<Self>) -> Self::Result {
        match msg.0 {
            Request::Execute { session, text } => self.execute(session, text),
            Request::Fetch { session, cursor } => self.fetch(&session, &cursor),
            Request::Interrupt { session } => {
                self.sessions.close_cursor(&session);
                if let Some(slot) = self.sessions.lock().open.get(&session) {
                    slot.interrupt.interrupt();
                }
                Box::pin(async { Response::Ok })
            }
            Request::CloseSession { session } => {
                self.sessions.close(&session);
                Box::pin(async { Response::Ok })
            }
            Request::SetEnv { vars } => self.set_env(vars),
            Request::JobStatus { ids } => self.job_status(ids),
            Request::Completions { .. } => {
                let engine = self.ctx.engine.clone();
                Box::pin(async move {
                    let result = tokio::task::spawn_blocking(move || completions(&engine)).await;
                    match result {
                        Ok(Ok(r)) => r,
                        Ok(Err(e)) => Response::Error { message: e },
                        Err(e) => Response::Error {
                            message: e.to_string(),
                        },
                    }
                })
            }
            Request::Connectors => self.connectors(),
            Request::TestConnection { entry } => {
                let engine = self.ctx.engine.clone();
                Box::pin(async move {
                    match engine.test_connection(&entry).await {
                        Ok(message) => Response::Done { message },
                        Err(e) => Response::Error {
                            message: e.to_string(),
                        },
                    }
                })
            }
            Request::AddConnection { entry } => {
                let engine = self.ctx.engine.clone();
                blocking_done(move || engine.add_connection(&entry))
            }
            Request::RemoveConnection { schema } => {
                let engine = self.ctx.engine.clone();
                blocking_done(move || engine.remove_connection(&schema))
            }
            Request::Ping => self.ping(),
        }
    }
}

/// Run a blocking engine call that answers with a message or an error.
fn blocking_done<E: std::fmt::Display + Send + 'static>(
    f: impl FnOnce() -> Result<String, E> + Send + 'static,
) -> ResponseFuture<Response> {
    Box::pin(async move {
        match tokio::task::spawn_blocking(f).await {
            Ok(Ok(message)) => Response::Done { message },
            Ok(Err(e)) => Response::Error {
                message: e.to_string(),
            },
            Err(e) => Response::Error {
                message: e.to_string(),
            },
        }
    })
}

impl Gateway {
    /// Run a statement in its session, on a blocking thread. The reply comes back early
    /// (a large result streams on afterwards) or when the statement ends.
    fn execute(&self, session: String, text: String) -> ResponseFuture<Response> {
        let sessions = self.sessions.clone();
        let interpreter = self.interpreter.clone();
        // A new statement ends the session's open result, if any.
        let (cursor, fetches) = sessions.open_cursor(&session);
        Box::pin(async move {
            let (reply_tx, mut reply_rx) = tokio::sync::oneshot::channel();
            let task = tokio::task::spawn_blocking(move || {
                let slot = match sessions.get_or_open(&interpreter, &session) {
                    Ok(slot) => slot,
                    Err(e) => {
                        let _ = reply_tx.send(Reply::error(e.to_string()));
                        return;
                    }
                };
                {
                    let mut s = slot.lock().unwrap_or_else(|e| e.into_inner());
                    if sessions.is_closed(&session) {
                        let closed = GatewayError::SessionClosed.to_string();
                        let _ = reply_tx.send(Reply::error(closed));
                        return;
                    }
                    s.outlet = Some(Outlet {
                        cursor,
                        reply: reply_tx,
                        fetches,
                    });
                    let reply = interpreter.execute(&mut s, &text);
                    if let Some(outlet) = s.outlet.take() {
                        let _ = outlet.reply.send(reply);
                    }
                }
                sessions.touch(&session);
            });
            let no_answer = "internal error: the statement ended without an answer";
            tokio::select! {
                biased;
                reply = &mut reply_rx => match reply {
                    Ok(reply) => Response::Reply(reply),
                    Err(_) => Response::Reply(Reply::error(no_answer)),
                },
                ended = task => match (reply_rx.try_recv(), ended) {
                    (Ok(reply), _) => Response::Reply(reply),
                    (Err(_), Err(e)) => Response::Reply(Reply::error(format!("internal error: {e}"))),
                    (Err(_), Ok(())) => Response::Reply(Reply::error(no_answer)),
                },
            }
        })
    }

    /// The next rows of a session's open result.
    fn fetch(&self, session: &str, cursor: &str) -> ResponseFuture<Response> {
        let rows = self.sessions.cursor(session, cursor);
        Box::pin(async move {
            let closed = || Response::Error {
                message: "Interrupted: the rest of the result was not read".into(),
            };
            let Some(rows) = rows else {
                return closed();
            };
            let (answer, answered) = tokio::sync::oneshot::channel();
            if rows.try_send(FetchRows(answer)).is_err() {
                return closed();
            }
            match answered.await {
                Ok(Ok((rows, more))) => Response::Rows { rows, more },
                Ok(Err(message)) => Response::Error { message },
                Err(_) => closed(),
            }
        })
    }

    /// Take the client's environment variables; connections that missed one may work now.
    fn set_env(&self, vars: Vec<(String, crate::protocol::EnvValue)>) -> ResponseFuture<Response> {
        // Values are registered as secrets where they are used as credentials (resolving
        // a connection does it), not all of them: a base URL or an organisation name
        // must stay readable in messages.
        let vars: Vec<(String, String)> = vars.into_iter().map(|(k, v)| (k, v.0)).collect();
        let registry = self.registry.clone();
        Box::pin(async move {
            if crate::adapters::connections::set_env(&vars) {
                // Connections that missed a variable may work now.
                if let Err(e) = registry.send(Reload).await {
                    return Response::Error {
                        message: e.to_string(),
                    };
                }
            }
            Response::Ok
        })
    }

    /// The state of jobs, from the queue.
    fn job_status(&self, ids: Vec<String>) -> ResponseFuture<Response> {
        let queue = self.ctx.queue.clone();
        Box::pin(async move {
            match queue.get_many(&ids).await {
                Ok(records) => Response::Jobs {
                    jobs: records.iter().map(|r| r.status(now_ms())).collect(),
                },
                Err(e) => Response::Error {
                    message: e.to_string(),
                },
            }
        })
    }

    /// The connectors and the configured connections.
    fn connectors(&self) -> ResponseFuture<Response> {
        let engine = &self.ctx.engine;
        let connections = engine
            .config()
            .connections
            .iter()
            .map(|c| (c.schema.clone(), c.spec.name.clone()))
            .collect();
        let connectors = engine.connector_infos();
        Box::pin(async move {
            Response::Connectors {
                connectors,
                connections,
            }
        })
    }

    /// Who is serving, how many loads run and how many client sessions are at work.
    fn ping(&self) -> ResponseFuture<Response> {
        let home = self.ctx.engine.home().root().display().to_string();
        let pool = self.pool.clone();
        let sessions = self.sessions.active(ACTIVE_SESSION);
        Box::pin(async move {
            Response::Pong {
                pid: std::process::id(),
                home,
                version: crate::protocol::VERSION.to_string(),
                build: crate::protocol::running_build().to_string(),
                running: pool.send(CountRunning).await.unwrap_or(0),
                sessions,
            }
        })
    }
}

fn completions(engine: &crate::engine::Engine) -> Result<Response, String> {
    use crate::warehouse::introspect;
    let config = engine.config();
    let mut schemas: Vec<String> = config
        .connections
        .iter()
        .map(|c| c.schema.clone())
        .collect();
    let mut tables: Vec<String> = Vec::new();
    for c in &config.connections {
        for t in &c.spec.tables {
            tables.push(format!("{}.{}", c.schema, t.name));
        }
        for v in &c.spec.views {
            tables.push(format!("{}.{}", c.schema, v.name));
        }
    }
    let conn = engine.warehouse().connect().map_err(|e| e.to_string())?;
    let relations = introspect::relations(&conn, None).map_err(|e| e.to_string())?;
    for (s, t, _) in relations {
        if !schemas.contains(&s) {
            schemas.push(s.clone());
        }
        let full = format!("{s}.{t}");
        if !tables.contains(&full) {
            tables.push(full);
        }
    }
    let mut table_columns: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (s, t, c) in introspect::column_names(&conn, 20_000).map_err(|e| e.to_string())? {
        table_columns.entry(format!("{s}.{t}")).or_default().push(c);
    }
    let mut columns: Vec<String> = table_columns.values().flatten().cloned().collect();
    columns.sort();
    columns.dedup();
    schemas.sort();
    tables.sort();
    Ok(Response::Completions {
        schemas,
        tables,
        columns,
        table_columns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Config, Engine};
    use crate::home::Home;
    use crate::warehouse::Warehouse;
    use std::time::Duration;

    struct NoJobs;

    #[async_trait::async_trait]
    impl JobControl for NoJobs {
        async fn enqueue(
            &self,
            _: &str,
            _: &str,
            _: Action,
            _: Requester,
        ) -> Result<JobRef, ControlError> {
            Err(ControlError::NoDaemon)
        }
        async fn system(&self, _: &SystemCommand) -> Result<Vec<Output>, ControlError> {
            Err(ControlError::NoDaemon)
        }
    }

    #[test]
    fn sessions_open_once_and_idle_ones_close_unless_busy() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.ensure_dirs().unwrap();
        let config = Config::load(&home);
        let engine = Arc::new(Engine::with_parts(
            home,
            Warehouse::open_in_memory().unwrap(),
            config,
        ));
        let interpreter = Interpreter::new(engine, Arc::new(NoJobs), rt.handle().clone());
        let sessions = Sessions::default();
        let a = sessions.get_or_open(&interpreter, "a").unwrap();
        assert!(Arc::ptr_eq(
            &a,
            &sessions.get_or_open(&interpreter, "a").unwrap()
        ));
        sessions.get_or_open(&interpreter, "b").unwrap();
        assert_eq!(
            sessions.expire(Duration::from_secs(3600)),
            0,
            "not idle yet"
        );
        // "a" is running a statement: only "b" goes.
        let busy = a.lock().unwrap();
        assert_eq!(sessions.expire(Duration::ZERO), 1);
        drop(busy);
        assert_eq!(sessions.expire(Duration::ZERO), 1);
        // The next statement of "a" gets a fresh session.
        let again = sessions.get_or_open(&interpreter, "a").unwrap();
        assert!(!Arc::ptr_eq(&a, &again));
        // A session closed before its first statement opened it stays closed.
        sessions.close("c");
        let err = sessions.get_or_open(&interpreter, "c").unwrap_err();
        assert!(err.to_string().contains("closed"), "{err}");
        assert!(!sessions.lock().open.contains_key("c"));
        // An open session that is closed refuses the statements still on their way.
        sessions.get_or_open(&interpreter, "d").unwrap();
        sessions.close("d");
        assert!(sessions.is_closed("d"));
        assert!(sessions.get_or_open(&interpreter, "d").is_err());
    }
}
