//! The pgwire handlers: startup (SCRAM-SHA-256, TLS policy), simple and extended
//! queries, cancel requests. Each connection gets a [`Conn`]: its unify session id,
//! its Postgres settings, its cancel token; it is dropped — and its unify session
//! closed — when the connection ends.
//!
//! A statement runs like the REPL runs it ([`crate::client::Client::run_statement`]):
//! `Request::Execute`; when the reply waits for loads, follow them (NOTICE progress)
//! until they are final, then re-run. A cancel request interrupts the running
//! statement and cancels the loads it waits for; the client gets SQLSTATE 57014.

//!
//! * `mod.rs` — the listener, a connection's state, the shared [`Handlers`];
//! * `auth.rs` — TLS, SCRAM, the TLS requirement, login errors, cancel requests;
//! * `engine.rs` — running text on the engine and following the loads it waits for;
//! * `statement.rs` — one statement: planned, answered locally or on the engine;
//! * `extended.rs` — the simple and extended query protocols.

mod auth;
mod engine;
mod extended;
mod statement;

pub use auth::Startup;
pub use extended::{Parser, PgStatement, QueryHandler};

use self::auth::{tls_acceptor, Canceller, Errors, Passwords};
use super::catalog::{self, Transaction};
use super::types::{self, PgColumn};
use super::{sqlstate, PasswordSource, PgConfig, PgError, PgStatus, USER};
use crate::host::Host;
use crate::protocol::{Request, ResultTable};
use bytes::Bytes;
use futures::{stream, Sink, SinkExt};
use pgwire::api::auth::sasl::scram::{gen_salted_password, ScramAuth};
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::{DefaultServerParameterProvider, StartupHandler};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::portal::Format;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{QueryResponse, Response, Tag};
use pgwire::api::{ClientInfo, ErrorHandler, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::response::NoticeResponse;
use pgwire::messages::PgWireBackendMessage;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
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
    let home = host.home().clone();
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

/// An ERROR with this SQLSTATE.
fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message.into(),
    )))
}

/// An engine error, with the SQLSTATE its first line maps to.
fn engine_error(message: &str) -> PgWireError {
    let first = message.lines().next().unwrap_or(message);
    user_error(sqlstate(first), message)
}

/// SQLSTATE 57014, with what was cancelled as the detail.
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

/// Send `message` as a NOTICE (best effort).
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

    /// Make the connection findable by cancel requests and `pg_cancel_backend`.
    fn register(&self, conn: &Arc<Conn>) {
        self.registry
            .lock()
            .entry(conn.key.clone())
            .or_insert_with(|| Arc::downgrade(conn));
    }

    /// A handle on the same shared parts, for a query handler.
    fn clone_parts(&self) -> Arc<Handlers> {
        Arc::new(Handlers {
            host: self.host.clone(),
            registry: self.registry.clone(),
            startup: self.startup.clone(),
        })
    }
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

/// An outcome as the pgwire response.
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
