//! The pgwire handlers: startup (SCRAM-SHA-256, TLS policy), simple and extended
//! queries, cancel requests. Each connection gets a [`Conn`]: its unify session id,
//! its Postgres settings, its cancel token; it is dropped — and its unify session
//! closed — when the connection ends.
//!
//! A statement runs like the REPL runs it ([`crate::client::Client::run_statement`]):
//! `Request::Execute`; when the reply waits for loads, follow them (NOTICE progress)
//! until they are final, then re-run. A cancel request interrupts the running
//! statement and cancels the loads it waits for; the client gets SQLSTATE 57014.

use super::catalog::{self, Plan, Transaction};
use super::types::{self, Kind, PgColumn};
use super::{sqlstate, PasswordSource, PgConfig, PgError, PgStatus, USER};
use crate::host::Host;
use crate::protocol::{
    AfterJobs, Event, JobRef, JobState, LoaderStatus, Output, Reply, Request,
    Response as HostResponse, ResultTable,
};
use async_trait::async_trait;
use bytes::Bytes;
use futures::{stream, Sink, SinkExt};
use pgwire::api::auth::sasl::scram::{gen_salted_password, ScramAuth};
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DescribePortalResponse, DescribeResponse, DescribeStatementResponse, FieldInfo, QueryResponse,
    Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ErrorHandler, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::response::NoticeResponse;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// SCRAM iterations (the RFC's minimum, as Postgres uses).
const ITERATIONS: usize = 4096;

/// The longest a statement is re-run waiting for its tables to appear (as the REPL).
const MAX_RERUNS: usize = 5;

/// A running endpoint.
pub struct PgServer {
    /// The bound address.
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl PgServer {
    /// Stop accepting connections (open ones end with the process).
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// Bind and serve `config` on the current tokio runtime; writes `run/pg.json`.
pub async fn start(host: Arc<Host>, config: PgConfig) -> Result<PgServer, PgError> {
    let tls = match &config.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|source| PgError::Bind {
            addr: config.addr.to_string(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| PgError::Bind {
        addr: config.addr.to_string(),
        source,
    })?;
    let home = host.shared.engine.home().clone();
    let status = PgStatus {
        listen: addr.to_string(),
        password: match &config.password_source {
            PasswordSource::Env => format!("from {}", super::PASSWORD_ENV),
            PasswordSource::File(p) => format!("in {}", p.display()),
        },
        tls: tls.is_some(),
    };
    if let Err(e) = status.write(&home) {
        tracing::warn!(error = %e, "writing run/pg.json failed");
    }
    let handlers = Arc::new(Handlers::new(host, &config)?);
    tracing::info!(listen = %addr, tls = tls.is_some(), "serving PostgreSQL");
    let task = tokio::spawn(async move {
        loop {
            let (socket, peer) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a PostgreSQL connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let handlers = handlers.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                if let Err(e) = pgwire::tokio::process_socket(socket, tls, handlers).await {
                    tracing::debug!(peer = %peer, error = %e, "PostgreSQL connection ended with an error");
                }
            });
        }
    });
    Ok(PgServer { addr, task })
}

fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<pgwire::tokio::TlsAcceptor, PgError> {
    use pgwire::tokio::tokio_rustls::rustls;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let fail = |message: String| PgError::Tls {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
        message,
    };
    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| fail(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if certs.is_empty() {
        return Err(fail("no certificate found in the PEM file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| fail(e.to_string()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| fail(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| fail(e.to_string()))?;
    Ok(pgwire::tokio::TlsAcceptor::from(Arc::new(config)))
}

/// The password of user `unify`, salted once per daemon run.
#[derive(Debug)]
struct Passwords {
    salt: Vec<u8>,
    salted: Vec<u8>,
}

#[async_trait]
impl AuthSource for Passwords {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        if login.user() != Some(USER) {
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28P01".into(),
                format!(
                    "password authentication failed for user \"{}\" (the only user is \"{USER}\")",
                    login.user().unwrap_or_default()
                ),
            ))));
        }
        Ok(Password::new(Some(self.salt.clone()), self.salted.clone()))
    }
}

/// Connections by (pid, secret key), for cancel requests.
#[derive(Default)]
struct Registry(Mutex<HashMap<(i32, Bytes), Weak<Conn>>>);

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(i32, Bytes), Weak<Conn>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn by_pid(&self, pid: i32) -> Option<Arc<Conn>> {
        self.lock()
            .iter()
            .find(|((p, _), _)| *p == pid)
            .and_then(|(_, c)| c.upgrade())
    }
}

/// One connection's state.
struct Conn {
    host: Arc<Host>,
    registry: Arc<Registry>,
    key: (i32, Bytes),
    /// The unify session.
    session: String,
    /// Postgres settings set with `SET`.
    settings: Mutex<HashMap<String, String>>,
    /// The catalog views and macros are installed in the session.
    catalog: std::sync::atomic::AtomicBool,
    /// The running statement's cancel token.
    current: Mutex<Option<CancellationToken>>,
    /// Columns of described statements, by text, for their executions.
    described: Mutex<HashMap<String, Arc<Vec<PgColumn>>>>,
    /// A unify command's result computed at describe time, for the next execute.
    pending: Mutex<Option<(String, Outcome)>>,
    /// The client's transaction: not begun, begun (not yet in DuckDB), or begun in
    /// DuckDB (at its first write).
    tx: Mutex<TxState>,
    /// Parameter types told to the client at describe time, by statement text: its
    /// executions read the parameters as those types.
    param_types: Mutex<HashMap<String, Vec<Type>>>,
}

impl Conn {
    fn cancel(&self) {
        if let Some(t) = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            t.cancel();
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.key);
        let host = self.host.clone();
        let session = std::mem::take(&mut self.session);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                host.request(Request::CloseSession { session }).await;
            });
        }
    }
}

/// Where a client's transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxState {
    /// No transaction.
    None,
    /// `BEGIN` received; DuckDB runs statements in autocommit until the first write.
    Pending,
    /// A DuckDB transaction is open.
    Active,
}

/// A running statement's token, cleared when it ends.
struct Running<'a> {
    conn: &'a Conn,
    token: CancellationToken,
}

impl<'a> Running<'a> {
    fn new(conn: &'a Conn) -> Self {
        let token = CancellationToken::new();
        *conn.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
        Running { conn, token }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        *self.conn.current.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// The result of one statement.
#[derive(Debug, Clone)]
enum Outcome {
    /// Rows.
    Rows(ResultTable),
    /// A command without rows, with its tag.
    Command(Tag),
    /// Transaction start or end, with its tag.
    Transaction(Transaction, Tag),
}

fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message.into(),
    )))
}

fn engine_error(message: &str) -> PgWireError {
    let first = message.lines().next().unwrap_or(message);
    user_error(sqlstate(first), message)
}

fn canceled(detail: &str) -> PgWireError {
    let mut info = ErrorInfo::new(
        "ERROR".into(),
        "57014".into(),
        "canceling statement due to user request".into(),
    );
    if !detail.is_empty() {
        info.detail = Some(detail.to_string());
    }
    PgWireError::UserError(Box::new(info))
}

async fn notice<C>(client: &mut C, message: &str)
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
{
    let info = ErrorInfo::new("NOTICE".into(), "00000".into(), message.to_string());
    let _ = client
        .send(PgWireBackendMessage::NoticeResponse(NoticeResponse::from(
            info,
        )))
        .await;
}

/// The handlers shared by every connection.
pub struct Handlers {
    host: Arc<Host>,
    registry: Arc<Registry>,
    startup: Arc<Startup>,
}

impl Handlers {
    fn new(host: Arc<Host>, config: &PgConfig) -> Result<Self, PgError> {
        let salt: Vec<u8> = rand::random::<[u8; 16]>().to_vec();
        let salted = gen_salted_password(config.password.expose(), &salt, ITERATIONS);
        let mut scram = ScramAuth::new(Arc::new(Passwords { salt, salted }));
        scram.set_iterations(ITERATIONS);
        if let Some((cert, key)) = &config.tls {
            let pem = std::fs::read(cert).map_err(|e| PgError::Tls {
                cert: cert.display().to_string(),
                key: key.display().to_string(),
                message: e.to_string(),
            })?;
            // Channel binding (SCRAM-SHA-256-PLUS) needs the certificate.
            if let Err(e) = scram.configure_certificate(&pem) {
                tracing::warn!(error = %e, "SCRAM channel binding unavailable");
            }
        }
        let mut params = DefaultServerParameterProvider::default();
        params.server_version = catalog::SERVER_VERSION.to_string();
        params.search_path = "main".into();
        let sasl = SASLAuthStartupHandler::new(Arc::new(params)).with_scram(scram);
        Ok(Handlers {
            host,
            registry: Arc::default(),
            startup: Arc::new(Startup {
                inner: sasl,
                require_tls: config.tls.is_some() && !config.addr.ip().is_loopback(),
            }),
        })
    }

    /// The connection's state, created on its first statement.
    fn conn<C: ClientInfo>(&self, client: &C) -> Arc<Conn> {
        client.session_extensions().get_or_insert_with(|| {
            let (pid, secret) = client.pid_and_secret_key();
            let key = (pid, secret.to_bytes());
            Conn {
                host: self.host.clone(),
                registry: self.registry.clone(),
                key: key.clone(),
                session: format!("pg-{}", uuid::Uuid::new_v4().simple()),
                settings: Mutex::default(),
                catalog: Default::default(),
                current: Mutex::default(),
                described: Mutex::default(),
                pending: Mutex::default(),
                param_types: Mutex::default(),
                tx: Mutex::new(TxState::None),
            }
        })
    }

    fn register(&self, conn: &Arc<Conn>) {
        self.registry
            .lock()
            .entry(conn.key.clone())
            .or_insert_with(|| Arc::downgrade(conn));
    }

    /// A reply whose last table continues ([`Reply::more`]): fetch the remaining
    /// chunks into it. The rows are then held here until they are sent.
    async fn rest_of(
        &self,
        conn: &Conn,
        running: &Running<'_>,
        mut reply: Reply,
    ) -> PgWireResult<Reply> {
        let Some(cursor) = reply.more.take() else {
            return Ok(reply);
        };
        let mut rows = Vec::new();
        loop {
            if running.token.is_cancelled() {
                self.host
                    .request(Request::Interrupt {
                        session: conn.session.clone(),
                    })
                    .await;
                return Err(canceled(""));
            }
            let fetched = self
                .host
                .request(Request::Fetch {
                    session: conn.session.clone(),
                    cursor: cursor.clone(),
                })
                .await;
            match fetched {
                HostResponse::Rows { rows: chunk, more } => {
                    rows.extend(chunk);
                    if !more {
                        break;
                    }
                }
                HostResponse::Error { message } => return Err(engine_error(&message)),
                other => {
                    return Err(user_error(
                        "XX000",
                        format!("unexpected answer from the engine: {other:?}"),
                    ))
                }
            }
        }
        if let Some(Output::Table(t)) = reply
            .outputs
            .iter_mut()
            .rev()
            .find(|o| matches!(o, Output::Table(_)))
        {
            t.rows.extend(rows);
        }
        Ok(reply)
    }

    /// Run `text` on the engine: wait for the loads it needs (NOTICE progress) and
    /// re-run it; cancellable through `running`.
    async fn execute<C>(
        &self,
        client: &mut C,
        conn: &Conn,
        running: &Running<'_>,
        text: &str,
    ) -> PgWireResult<Reply>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
    {
        for _ in 0..MAX_RERUNS {
            let request = self.host.request(Request::Execute {
                session: conn.session.clone(),
                text: text.to_string(),
            });
            tokio::pin!(request);
            let response = tokio::select! {
                r = &mut request => r,
                _ = running.token.cancelled() => {
                    // Interrupt until the statement returns: one sent before it reached
                    // DuckDB would be lost.
                    loop {
                        self.host.request(Request::Interrupt { session: conn.session.clone() }).await;
                        if tokio::time::timeout(Duration::from_millis(200), &mut request).await.is_ok() {
                            break;
                        }
                    }
                    return Err(canceled(""));
                }
            };
            let reply = match response {
                HostResponse::Reply(r) => r,
                HostResponse::Error { message } => return Err(engine_error(&message)),
                other => {
                    return Err(user_error(
                        "XX000",
                        format!("unexpected answer from the engine: {other:?}"),
                    ))
                }
            };
            if let Some(error) = &reply.error {
                if running.token.is_cancelled() {
                    return Err(canceled(""));
                }
                return Err(engine_error(error));
            }
            if reply.wait.is_empty() {
                return self.rest_of(conn, running, reply).await;
            }
            for o in &reply.outputs {
                if let Output::Message(m) = o {
                    notice(client, m).await;
                }
            }
            let statuses = self.wait(client, conn, running, &reply.wait).await?;
            let failed: Vec<String> = statuses
                .iter()
                .filter(|s| s.state != JobState::Done)
                .map(|s| match s.state {
                    JobState::Cancelled => format!(
                        "loading {} was cancelled; its previous data is unchanged",
                        s.table_name()
                    ),
                    _ => format!(
                        "loading {} failed: {}",
                        s.table_name(),
                        s.error.as_deref().unwrap_or("unknown error")
                    ),
                })
                .collect();
            if !failed.is_empty() {
                return Err(user_error("58000", failed.join("; ")));
            }
            match reply.after {
                Some(AfterJobs::Rerun) => continue,
                _ => {
                    let mut done = reply.clone();
                    done.wait.clear();
                    // Its messages were sent already.
                    done.outputs.retain(|o| !matches!(o, Output::Message(_)));
                    for s in &statuses {
                        done.outputs.push(Output::Message(format!(
                            "{} {}: {} rows, {} pages in {:.1}s",
                            verb(&reply.wait, &s.job_id),
                            s.table_name(),
                            s.rows,
                            s.pages,
                            s.elapsed_ms as f64 / 1000.0
                        )));
                    }
                    return Ok(done);
                }
            }
        }
        Err(user_error(
            "55000",
            "the tables this statement needs are still missing after loading them; see `system status`",
        ))
    }

    /// Follow jobs until they are final, sending progress as NOTICE about once a second.
    async fn wait<C>(
        &self,
        client: &mut C,
        conn: &Conn,
        running: &Running<'_>,
        jobs: &[JobRef],
    ) -> PgWireResult<Vec<LoaderStatus>>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
    {
        let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
        let mut events = self.host.events.subscribe();
        let mut latest: HashMap<String, LoaderStatus> = HashMap::new();
        let mut poll = tokio::time::interval(Duration::from_millis(250));
        let mut last_notice = Instant::now();
        let mut shown: HashMap<String, (u64, u64)> = HashMap::new();
        loop {
            tokio::select! {
                _ = running.token.cancelled() => {
                    for id in &ids {
                        self.host.request(Request::Execute {
                            session: conn.session.clone(),
                            text: format!("system cancel {id}"),
                        }).await;
                    }
                    let tables: Vec<&str> = jobs.iter().map(|j| j.table.as_str()).collect();
                    return Err(canceled(&format!(
                        "the load of {} was cancelled; the table keeps its previous data",
                        tables.join(", ")
                    )));
                }
                event = events.recv() => {
                    if let Ok(Event::Status(s)) = event {
                        if ids.contains(&s.job_id) && !s.state.is_final() {
                            latest.insert(s.job_id.clone(), s);
                        }
                    }
                }
                _ = poll.tick() => {
                    match self.host.request(Request::JobStatus { ids: ids.clone() }).await {
                        HostResponse::Jobs { jobs } => {
                            for s in jobs {
                                latest.insert(s.job_id.clone(), s);
                            }
                        }
                        HostResponse::Error { message } => return Err(engine_error(&message)),
                        _ => {}
                    }
                    if ids.iter().all(|id| latest.get(id).is_some_and(|s| s.state.is_final())) {
                        return Ok(ids.iter().filter_map(|id| latest.remove(id)).collect());
                    }
                }
            }
            if last_notice.elapsed() >= Duration::from_secs(1) {
                last_notice = Instant::now();
                for id in &ids {
                    if let Some(s) = latest.get(id) {
                        let now = (s.pages, s.rows);
                        if shown.get(id) != Some(&now) && s.state == JobState::Running {
                            shown.insert(id.clone(), now);
                            notice(
                                client,
                                &format!(
                                    "loading {}: {} pages, {} rows, {:.1}s",
                                    s.table_name(),
                                    s.pages,
                                    s.rows,
                                    s.elapsed_ms as f64 / 1000.0
                                ),
                            )
                            .await;
                        }
                    }
                }
            }
        }
    }

    /// Install the catalog views and macros in the session, once.
    async fn ensure_catalog<C>(
        &self,
        client: &mut C,
        conn: &Conn,
        running: &Running<'_>,
        force: bool,
    ) -> PgWireResult<()>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
    {
        use std::sync::atomic::Ordering;
        if !force && conn.catalog.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.execute(client, conn, running, &catalog::install_script())
            .await?;
        conn.catalog.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Run one statement (already bound): plan it, answer it locally or on the engine.
    async fn run<C>(&self, client: &mut C, conn: &Conn, text: &str) -> PgWireResult<Vec<Outcome>>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
    {
        let running = Running::new(conn);
        let text = &catalog::replace_calls(text, &[("pg_backend_pid", conn.key.0.to_string())]);
        match catalog::plan(text) {
            Plan::Empty => Ok(vec![]),
            Plan::Set {
                name,
                value,
                sql,
                local,
            } => {
                if !local {
                    match self.execute(client, conn, &running, &sql).await {
                        Ok(_) => return Ok(vec![Outcome::Command(Tag::new("SET"))]),
                        Err(PgWireError::UserError(e))
                            if !e.message.contains("unrecognized configuration parameter") =>
                        {
                            return Err(PgWireError::UserError(e))
                        }
                        Err(_) => {}
                    }
                }
                conn.settings
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name, value);
                Ok(vec![Outcome::Command(Tag::new("SET"))])
            }
            Plan::Reset { name } => {
                let mut settings = conn.settings.lock().unwrap_or_else(|e| e.into_inner());
                match name {
                    Some(n) => {
                        settings.remove(&n);
                    }
                    None => settings.clear(),
                }
                Ok(vec![Outcome::Command(Tag::new("RESET"))])
            }
            Plan::Show { name } => {
                let local = conn
                    .settings
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&name)
                    .cloned()
                    .or_else(|| catalog::default_setting(&name));
                let value = match local {
                    Some(v) => v,
                    None if name == "all" => {
                        let reply = self
                            .execute(client, conn, &running, "SELECT name, value AS setting, description FROM duckdb_settings() ORDER BY name")
                            .await?;
                        return Ok(tables(&reply));
                    }
                    None => {
                        let sql = format!(
                            "SELECT current_setting({}) AS {}",
                            types::quote(&name),
                            crate::warehouse::quote_ident(&name)
                        );
                        match self.execute(client, conn, &running, &sql).await {
                            Ok(reply) => return Ok(tables(&reply)),
                            Err(_) => {
                                return Err(user_error(
                                    "42704",
                                    format!("unrecognized configuration parameter \"{name}\""),
                                ))
                            }
                        }
                    }
                };
                Ok(vec![Outcome::Rows(ResultTable {
                    columns: vec![name],
                    types: vec!["VARCHAR".into()],
                    rows: vec![vec![value.into()]],
                })])
            }
            Plan::Ignore { tag } => Ok(vec![Outcome::Command(Tag::new(&tag))]),
            Plan::CancelBackend { pid } => {
                let found = match self.registry.by_pid(pid) {
                    Some(other) => {
                        other.cancel();
                        true
                    }
                    None => false,
                };
                Ok(vec![Outcome::Rows(ResultTable {
                    columns: vec!["pg_cancel_backend".into()],
                    types: vec!["BOOLEAN".into()],
                    rows: vec![vec![found.into()]],
                })])
            }
            Plan::EmptyResult { columns } => Ok(vec![Outcome::Rows(ResultTable {
                types: vec!["VARCHAR".into(); columns.len()],
                columns,
                rows: vec![],
            })]),
            Plan::Engine {
                text: sql,
                catalog,
                transaction,
            } => {
                // Transactions begin in DuckDB only at their first write: a load a
                // read needs commits on another connection, which a transaction begun
                // earlier would not see (drivers such as psycopg2 open one for every
                // read).
                let tx = *conn.tx.lock().unwrap_or_else(|e| e.into_inner());
                match (transaction, tx) {
                    (Transaction::Begin, _) => {
                        if tx == TxState::Active {
                            return Err(user_error(
                                "25001",
                                "there is already a transaction in progress",
                            ));
                        }
                        *conn.tx.lock().unwrap_or_else(|e| e.into_inner()) = TxState::Pending;
                        let tag = Tag::new("BEGIN");
                        return Ok(vec![Outcome::Transaction(transaction, tag)]);
                    }
                    (Transaction::End, TxState::None | TxState::Pending) => {
                        *conn.tx.lock().unwrap_or_else(|e| e.into_inner()) = TxState::None;
                        let tag = Tag::new(&catalog::command_tag(&sql));
                        return Ok(vec![Outcome::Transaction(transaction, tag)]);
                    }
                    (Transaction::End, TxState::Active) => {
                        *conn.tx.lock().unwrap_or_else(|e| e.into_inner()) = TxState::None;
                    }
                    (Transaction::None, TxState::Pending) if catalog::is_write(&sql) => {
                        self.execute(client, conn, &running, "BEGIN TRANSACTION")
                            .await?;
                        *conn.tx.lock().unwrap_or_else(|e| e.into_inner()) = TxState::Active;
                    }
                    _ => {}
                }
                if catalog {
                    self.ensure_catalog(client, conn, &running, false).await?;
                }
                let reply = match self.execute(client, conn, &running, &sql).await {
                    Err(PgWireError::UserError(e))
                        if catalog
                            && e.message.contains("unify_")
                            && e.message.contains("does not exist") =>
                    {
                        // The session was reopened (idle expiry): install again, once.
                        self.ensure_catalog(client, conn, &running, true).await?;
                        self.execute(client, conn, &running, &sql).await?
                    }
                    other => other?,
                };
                for o in &reply.outputs {
                    if let Output::Message(m) = o {
                        notice(client, m).await;
                    }
                }
                if transaction != Transaction::None {
                    let tag = Tag::new(&catalog::command_tag(&sql));
                    return Ok(vec![Outcome::Transaction(transaction, tag)]);
                }
                let mut out = tables(&reply);
                if out.is_empty() {
                    return Ok(vec![Outcome::Command(Tag::new(&catalog::command_tag(
                        &sql,
                    )))]);
                }
                // INSERT/UPDATE/DELETE answer one `Count` column in DuckDB.
                if let [Outcome::Rows(t)] = out.as_slice() {
                    if let Some(tag) = dml_tag(&sql, t) {
                        out = vec![Outcome::Command(tag)];
                    }
                }
                Ok(out)
            }
        }
    }
}

fn verb(jobs: &[JobRef], id: &str) -> &'static str {
    match jobs.iter().find(|j| j.id == id).map(|j| j.action) {
        Some(crate::protocol::Action::Refresh) => "Refreshed",
        Some(crate::protocol::Action::Reload) => "Reloaded",
        _ => "Loaded",
    }
}

/// The tables and texts of a reply, as row results.
fn tables(reply: &Reply) -> Vec<Outcome> {
    reply
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Table(t) => Some(Outcome::Rows(t.clone())),
            Output::Text(s) => Some(Outcome::Rows(ResultTable {
                columns: vec!["result".into()],
                types: vec!["VARCHAR".into()],
                rows: s.lines().map(|l| vec![l.into()]).collect(),
            })),
            Output::Value { name, value } => Some(Outcome::Rows(ResultTable {
                columns: vec![name.clone()],
                types: vec![String::new()],
                rows: vec![vec![value.clone()]],
            })),
            Output::Message(_) => None,
        })
        .collect()
}

/// `INSERT 0 n`, `UPDATE n`, `DELETE n` (and `SELECT n` for CREATE TABLE AS) from
/// DuckDB's `Count` answer; other commands' `Count` answers become their tag.
fn dml_tag(sql: &str, t: &ResultTable) -> Option<Tag> {
    if t.columns != ["Count"] || !catalog::is_write(sql) {
        return None;
    }
    let tag = catalog::command_tag(sql);
    let first = tag.split(' ').next().unwrap_or_default();
    let n = t
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(|v| v.as_u64())
        .map(|n| n as usize);
    Some(match (first, n) {
        ("INSERT", Some(n)) => Tag::new("INSERT").with_oid(0).with_rows(n),
        ("UPDATE" | "DELETE" | "MERGE" | "COPY", Some(n)) => Tag::new(first).with_rows(n),
        ("CREATE", Some(n)) if sql.to_ascii_lowercase().contains(" as ") => {
            Tag::new("SELECT").with_rows(n)
        }
        _ => Tag::new(&tag),
    })
}

/// A row result for the client: its columns fixed from `columns` (a describe) or the
/// table itself, rows encoded in the client's formats.
fn query_response(
    table: ResultTable,
    columns: Option<Arc<Vec<PgColumn>>>,
    formats: &Format,
) -> PgWireResult<QueryResponse> {
    let columns = match columns {
        Some(c) if c.len() == table.columns.len() => c,
        _ => Arc::new(types::columns_of(&table)),
    };
    let fields = types::field_infos(&columns, formats);
    let rows = types::encode_rows(&columns, &fields, &table.rows)
        .map_err(|e| user_error("XX000", e.to_string()))?;
    Ok(QueryResponse::new(
        fields,
        stream::iter(rows.into_iter().map(Ok)),
    ))
}

fn to_response(
    outcome: Outcome,
    columns: Option<Arc<Vec<PgColumn>>>,
    formats: &Format,
) -> PgWireResult<Response> {
    Ok(match outcome {
        Outcome::Rows(t) => Response::Query(query_response(t, columns, formats)?),
        Outcome::Command(tag) => Response::Execution(tag),
        Outcome::Transaction(Transaction::Begin, tag) => Response::TransactionStart(tag),
        Outcome::Transaction(_, tag) => Response::TransactionEnd(tag),
    })
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::new(QueryHandler(self.clone_parts()))
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::new(QueryHandler(self.clone_parts()))
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::new(Canceller(self.registry.clone()))
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(Errors)
    }
}

/// Errors as Postgres words them: a failed login names the user it was for.
struct Errors;

impl ErrorHandler for Errors {
    fn on_error<C>(&self, client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        if let PgWireError::InvalidPassword(_) = error {
            let user = client
                .metadata()
                .get(pgwire::api::METADATA_USER)
                .cloned()
                .unwrap_or_default();
            *error = PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28P01".into(),
                format!("password authentication failed for user \"{user}\""),
            )));
        }
    }
}

impl Handlers {
    fn clone_parts(&self) -> Arc<Handlers> {
        Arc::new(Handlers {
            host: self.host.clone(),
            registry: self.registry.clone(),
            startup: self.startup.clone(),
        })
    }
}

/// Startup: SCRAM via pgwire, after refusing plain connections from other machines
/// when TLS is required.
pub struct Startup {
    inner: SASLAuthStartupHandler<DefaultServerParameterProvider>,
    require_tls: bool,
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if self.require_tls
            && matches!(message, PgWireFrontendMessage::Startup(_))
            && !client.is_secure()
            && !client.socket_addr().ip().is_loopback()
        {
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28000".into(),
                "this server requires TLS for connections from other machines (sslmode=require)"
                    .into(),
            ))));
        }
        self.inner.on_startup(client, message).await
    }
}

/// Cancel requests: find the connection by (pid, secret key) and cancel its statement.
struct Canceller(Arc<Registry>);

#[async_trait]
impl CancelHandler for Canceller {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let key = (request.pid, request.secret_key.to_bytes());
        let conn = self.0.lock().get(&key).and_then(Weak::upgrade);
        if let Some(conn) = conn {
            conn.cancel();
        }
    }
}

/// The statement type of the extended protocol.
#[derive(Debug, Clone)]
pub struct PgStatement {
    /// As the client wrote it.
    sql: String,
    /// Parameter types inferred from the text (`$1::int8`, `LIMIT $1`).
    casts: Vec<Option<Type>>,
}

/// Stores statements as text; they are planned when executed.
pub struct Parser;

#[async_trait]
impl QueryParser for Parser {
    type Statement = PgStatement;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<PgStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        Ok(Some(PgStatement {
            sql: sql.to_string(),
            casts: catalog::param_casts(sql),
        }))
    }

    fn get_parameter_types(&self, stmt: &PgStatement) -> PgWireResult<Vec<Type>> {
        Ok(stmt
            .casts
            .iter()
            .map(|t| t.clone().unwrap_or(Type::TEXT))
            .collect())
    }

    fn get_result_schema(
        &self,
        _stmt: &PgStatement,
        _format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(vec![])
    }
}

/// Both query protocols.
pub struct QueryHandler(Arc<Handlers>);

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let h = &self.0;
        let conn = h.conn(client);
        h.register(&conn);
        let mut responses = Vec::new();
        for statement in crate::parser::split_statements(query) {
            match h.run(client, &conn, &statement).await {
                Ok(outcomes) => {
                    for o in outcomes {
                        match to_response(o, None, &Format::UnifiedText) {
                            Ok(r) => responses.push(r),
                            Err(e) => {
                                responses.push(Response::Error(Box::new(e.into())));
                                return Ok(responses);
                            }
                        }
                    }
                }
                Err(e) => {
                    responses.push(Response::Error(Box::new(e.into())));
                    return Ok(responses);
                }
            }
        }
        if responses.is_empty() {
            responses.push(Response::EmptyQuery);
        }
        Ok(responses)
    }
}

impl QueryHandler {
    /// Parameter types as declared: by the client, else by a cast in the text.
    fn declared_types(stmt: &StoredStatement<PgStatement>) -> Vec<Option<Type>> {
        let n = catalog::param_count(&stmt.statement.sql).max(stmt.parameter_types.len());
        (0..n)
            .map(|i| {
                stmt.parameter_types
                    .get(i)
                    .cloned()
                    .flatten()
                    .filter(|t| t.oid() != 0)
                    .or_else(|| stmt.statement.casts.get(i).cloned().flatten())
            })
            .collect()
    }

    /// The parameter types of a statement: those told at its describe, else declared,
    /// else text.
    fn param_types(conn: &Conn, stmt: &StoredStatement<PgStatement>) -> Vec<Type> {
        if let Some(t) = conn
            .param_types
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&stmt.statement.sql)
        {
            return t.clone();
        }
        Self::declared_types(stmt)
            .into_iter()
            .map(|t| t.unwrap_or(Type::TEXT))
            .collect()
    }

    /// Types for the untyped parameters from the columns they are inserted into or
    /// compared with (as Postgres infers them); the rest are text. Remembered for the
    /// statement's executions.
    async fn infer_types<C>(
        &self,
        client: &mut C,
        conn: &Conn,
        stmt: &StoredStatement<PgStatement>,
    ) -> PgWireResult<Vec<Type>>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
    {
        let sql = &stmt.statement.sql;
        if let Some(t) = conn
            .param_types
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sql)
        {
            return Ok(t.clone());
        }
        let mut types = Self::declared_types(stmt);
        let sources = catalog::param_sources(sql);
        let wanted: Vec<&(usize, String)> = sources
            .columns
            .iter()
            .filter(|(p, _)| types.get(*p).is_some_and(Option::is_none))
            .collect();
        if !wanted.is_empty() && !sources.tables.is_empty() {
            let names: Vec<String> = sources
                .tables
                .iter()
                .map(|(_, t)| types::quote(t))
                .collect();
            let lookup = format!(
                "SELECT table_schema, table_name, column_name, data_type, ordinal_position FROM information_schema.columns WHERE table_name IN ({}) ORDER BY ordinal_position",
                names.join(", ")
            );
            let running = Running::new(conn);
            let reply = self.0.execute(client, conn, &running, &lookup).await?;
            let rows: Vec<Vec<serde_json::Value>> = reply
                .outputs
                .into_iter()
                .find_map(|o| match o {
                    Output::Table(t) => Some(t.rows),
                    _ => None,
                })
                .unwrap_or_default();
            let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            let in_tables = |r: &Vec<serde_json::Value>, only_first: bool| {
                sources
                    .tables
                    .iter()
                    .take(if only_first { 1 } else { usize::MAX })
                    .any(|(schema, table)| {
                        s(&r[1]).eq_ignore_ascii_case(table)
                            && schema
                                .as_ref()
                                .is_none_or(|sc| s(&r[0]).eq_ignore_ascii_case(sc))
                    })
            };
            for (p, column) in wanted {
                let candidates: Vec<String> = match column.strip_prefix('#') {
                    Some(k) => rows
                        .iter()
                        .filter(|r| r.len() == 5 && in_tables(r, true))
                        .filter(|r| r[4].as_i64().map(|o| o.to_string()).as_deref() == Some(k))
                        .map(|r| s(&r[3]))
                        .collect(),
                    None => rows
                        .iter()
                        .filter(|r| r.len() == 5 && in_tables(r, false))
                        .filter(|r| s(&r[2]).eq_ignore_ascii_case(column))
                        .map(|r| s(&r[3]))
                        .collect(),
                };
                let kinds: Vec<Kind> = candidates
                    .iter()
                    .map(|t| Kind::of(t, std::iter::empty()))
                    .collect();
                if let Some(first) = kinds.first() {
                    // Arrays and JSON stay text (DuckDB casts them); others take the
                    // column's type when every candidate agrees.
                    let scalar = !matches!(first, Kind::Array(_) | Kind::Json);
                    if scalar && kinds.iter().all(|k| k == first) {
                        types[*p] = Some(first.pg_type());
                    }
                }
            }
        }
        let types: Vec<Type> = types.into_iter().map(|t| t.unwrap_or(Type::TEXT)).collect();
        conn.param_types
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sql.clone(), types.clone());
        Ok(types)
    }

    /// The columns of a statement, without running it when it is SQL (`DESCRIBE` with
    /// typed NULL parameters); a read-only unify command runs now and its result is
    /// kept for the execute that follows. `None`: it returns no rows.
    async fn describe<C>(
        &self,
        client: &mut C,
        sql: &str,
        params: &[Type],
    ) -> PgWireResult<Option<Arc<Vec<PgColumn>>>>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    {
        let h = &self.0;
        let conn = h.conn(client);
        h.register(&conn);
        if let Some(c) = conn
            .described
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sql)
        {
            return Ok(Some(c.clone()));
        }
        let with_pid = catalog::replace_calls(sql, &[("pg_backend_pid", conn.key.0.to_string())]);
        let columns: Option<Vec<PgColumn>> = match catalog::plan(&with_pid) {
            Plan::Show { name } => Some(vec![PgColumn {
                name,
                kind: Kind::Text,
            }]),
            Plan::EmptyResult { columns } => Some(
                columns
                    .into_iter()
                    .map(|name| PgColumn {
                        name,
                        kind: Kind::Text,
                    })
                    .collect(),
            ),
            Plan::CancelBackend { .. } => Some(vec![PgColumn {
                name: "pg_cancel_backend".into(),
                kind: Kind::Bool,
            }]),
            Plan::Engine {
                text,
                catalog,
                transaction: Transaction::None,
            } => {
                let parsed = crate::parser::parse(&text).map(|p| p.statement);
                match parsed {
                    Ok(crate::parser::Statement::Sql { .. }) if is_query(&text) => {
                        let nulls: Vec<String> = params
                            .iter()
                            .map(|t| match types::duckdb_cast_name(t) {
                                Some(name) => format!("CAST(NULL AS {name})"),
                                None => "NULL".into(),
                            })
                            .collect();
                        let bound = catalog::bind_params(&text, &nulls)
                            .map_err(|e| user_error("08P01", e))?;
                        let running = Running::new(&conn);
                        if catalog {
                            h.ensure_catalog(client, &conn, &running, false).await?;
                        }
                        let reply = h
                            .execute(client, &conn, &running, &format!("DESCRIBE {bound}"))
                            .await?;
                        let t = reply.outputs.iter().find_map(|o| match o {
                            Output::Table(t) => Some(t),
                            _ => None,
                        });
                        t.map(|t| {
                            t.rows
                                .iter()
                                .map(|r| PgColumn {
                                    name: r
                                        .first()
                                        .and_then(|v| v.as_str())
                                        .unwrap_or("?column?")
                                        .to_string(),
                                    kind: Kind::of(
                                        r.get(1).and_then(|v| v.as_str()).unwrap_or("VARCHAR"),
                                        std::iter::empty(),
                                    ),
                                })
                                .collect()
                        })
                    }
                    Ok(s) if read_only(&s) => {
                        let outcomes = h.run(client, &conn, sql).await?;
                        let first = outcomes.into_iter().next();
                        match first {
                            Some(Outcome::Rows(t)) => {
                                let cols = types::columns_of(&t);
                                *conn.pending.lock().unwrap_or_else(|e| e.into_inner()) =
                                    Some((sql.to_string(), Outcome::Rows(t)));
                                Some(cols)
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        Ok(columns.map(|c| {
            let c = Arc::new(c);
            conn.described
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(sql.to_string(), c.clone());
            c
        }))
    }
}

/// SQL that returns rows and can be `DESCRIBE`d.
fn is_query(text: &str) -> bool {
    let first = catalog::lex(text)
        .into_iter()
        .find(|t| t.kind != catalog::TokKind::Space)
        .map(|t| t.text.to_ascii_lowercase());
    matches!(
        first.as_deref(),
        Some(
            "select"
                | "with"
                | "values"
                | "from"
                | "table"
                | "("
                | "pivot"
                | "unpivot"
                | "summarize"
        )
    )
}

/// unify commands that change nothing (safe to run when described).
fn read_only(s: &crate::parser::Statement) -> bool {
    use crate::parser::Statement as S;
    matches!(
        s,
        S::ShowSchemas
            | S::ShowTables { .. }
            | S::ShowColumns { .. }
            | S::ShowConnections
            | S::ShowVariables
            | S::ShowFiles { .. }
            | S::Describe { .. }
            | S::Peek { .. }
            | S::PeekFile { .. }
            | S::Count { .. }
            | S::Help { .. }
            | S::ShowVariable { .. }
    )
}

#[async_trait]
impl ExtendedQueryHandler for QueryHandler {
    type Statement = PgStatement;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        Arc::new(Parser)
    }

    async fn do_describe_statement<C>(
        &self,
        client: &mut C,
        target: &StoredStatement<PgStatement>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PgStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let declared: Vec<Type> = Self::declared_types(target)
            .into_iter()
            .map(|t| t.unwrap_or(Type::TEXT))
            .collect();
        let columns = self
            .describe(client, &target.statement.sql, &declared)
            .await?;
        let conn = self.0.conn(client);
        let params = self.infer_types(client, &conn, target).await?;
        Ok(match columns {
            Some(c) => DescribeStatementResponse::new(
                params,
                types::field_infos(&c, &Format::UnifiedText).to_vec(),
            ),
            None => DescribeStatementResponse::new(params, vec![]),
        })
    }

    async fn do_describe_portal<C>(
        &self,
        client: &mut C,
        portal: &Portal<PgStatement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PgStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let conn = self.0.conn(client);
        let params = Self::param_types(&conn, &portal.statement);
        let columns = self
            .describe(client, &portal.statement.statement.sql, &params)
            .await?;
        Ok(match columns {
            Some(c) => DescribePortalResponse::new(
                types::field_infos(&c, &portal.result_column_format).to_vec(),
            ),
            None => DescribePortalResponse::no_data(),
        })
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<PgStatement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PgStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let h = &self.0;
        let conn = h.conn(client);
        h.register(&conn);
        let sql = &portal.statement.statement.sql;
        let described = conn
            .described
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sql)
            .cloned();
        let pending = {
            let mut p = conn.pending.lock().unwrap_or_else(|e| e.into_inner());
            match p.take() {
                Some((text, outcome)) if text == *sql => Some(outcome),
                other => {
                    *p = other;
                    None
                }
            }
        };
        if let Some(outcome) = pending {
            return to_response(outcome, described, &portal.result_column_format);
        }
        let types = Self::param_types(&conn, &portal.statement);
        let mut literals = Vec::with_capacity(portal.parameters.len());
        for (i, value) in portal.parameters.iter().enumerate() {
            let lit = types::param_literal(
                i + 1,
                types.get(i),
                portal.parameter_format.is_binary(i),
                value.as_deref(),
            )
            .map_err(|e| user_error("22P02", e.to_string()))?;
            literals.push(lit);
        }
        let bound = if literals.is_empty() && catalog::param_count(sql) == 0 {
            sql.clone()
        } else {
            catalog::bind_params(sql, &literals).map_err(|e| user_error("08P01", e))?
        };
        let mut outcomes = h.run(client, &conn, &bound).await?;
        if outcomes.is_empty() {
            return Ok(Response::EmptyQuery);
        }
        to_response(outcomes.remove(0), described, &portal.result_column_format)
    }
}
