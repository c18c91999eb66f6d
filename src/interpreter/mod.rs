//! The interpreter: executes [`Statement`]s against the engine. It does not care which
//! transport carries them — the daemon's gateway and the in-process `--no-daemon` host
//! both call [`Interpreter::execute`] on a blocking thread with a [`Session`].
//!
//! Pipeline of one statement (the original's order, §1.1): parse (trailing `!` = wide,
//! leading `!` = raw SQL) → `$var` substitution → ` ??` substitution → auto-load of any
//! unloaded connector table the statement references (the reply asks the client to wait
//! for the load jobs and re-run) → execution.
//!
//! Loads never run here: they are jobs, enqueued through [`JobControl`], so a statement
//! never blocks the session while a table downloads and the client can show progress,
//! background the wait, or cancel.

mod error;
mod files;
mod show;
mod sql;
mod vars;

use crate::actors::ControlError;
pub use error::ShellError;

use crate::engine::{ConnectorObject, Engine};
use crate::parser::{self, FileTarget, Statement, SystemCommand, TableRef, WriteMode};
use crate::protocol::{Action, AfterJobs, JobRef, Output, Reply, Requester, ResultTable};
use crate::warehouse::{self, admin, qualified};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use crate::sqltext::table_refs as find_table_refs;
pub use sql::query_table;

/// How the interpreter reaches the job queue and the daemon's controls.
#[async_trait::async_trait]
pub trait JobControl: Send + Sync {
    /// Enqueue a job (or return the queued/running job for the same table and action).
    async fn enqueue(
        &self,
        schema: &str,
        table: &str,
        action: Action,
        by: Requester,
    ) -> Result<JobRef, ControlError>;
    /// Handle a `system …` command.
    async fn system(&self, command: &SystemCommand) -> Result<Vec<Output>, ControlError>;
}

/// A variable's value: a scalar, or a query result stored as a table.
pub use crate::warehouse::variables::Stored as Var;

/// Rows sent per chunk of a large result ([`Outlet`]).
pub const CHUNK_ROWS: usize = 1000;

/// A client that read none of an open result for this long has gone: the result is
/// closed (its session can run statements again). Shutdown closes results at once.
pub const CURSOR_IDLE: std::time::Duration = std::time::Duration::from_secs(120);

/// How a large result leaves while DuckDB reads it: the reply goes out at once with the
/// first [`CHUNK_ROWS`] rows and a cursor, and each further chunk is read only when the
/// client asks for it ([`Request::Fetch`](crate::protocol::Request::Fetch)). Set on a
/// session by whoever runs the statement; without one, results are returned whole.
pub struct Outlet {
    /// The cursor id the reply names.
    pub cursor: String,
    /// Where the reply goes, once: early (with the first rows) or at the end.
    pub reply: tokio::sync::oneshot::Sender<Reply>,
    /// Requests for the next chunk. Closed (the sender dropped) when the client moves on.
    pub fetches: std::sync::mpsc::Receiver<FetchRows>,
}

/// The next rows of an open result and whether more follow, or why it failed.
pub type Rows = Result<(Vec<Vec<serde_json::Value>>, bool), String>;

/// A request for the next chunk of an open result.
pub struct FetchRows(pub tokio::sync::oneshot::Sender<Rows>);

/// One client's state: its DuckDB connection, variables, recent tables.
pub struct Session {
    /// Session id.
    pub id: String,
    /// Where the next statement's large result streams to.
    pub outlet: Option<Outlet>,
    conn: duckdb::Connection,
    vars: BTreeMap<String, Var>,
    recent: Vec<(String, String)>,
    /// Relations this session has seen exist: spares a catalog query per reference on
    /// every statement. Only a hint — a relation dropped elsewhere surfaces as DuckDB's
    /// "does not exist" error, which loads a connector table again.
    known: std::collections::HashSet<(String, String)>,
}

impl Session {
    /// True when `schema.name` exists (cached once seen).
    fn exists(&mut self, schema: &str, name: &str) -> Fallible<bool> {
        let key = (schema.to_string(), name.to_string());
        if self.known.contains(&key) {
            return Ok(true);
        }
        let exists = warehouse::relation_exists(&self.conn, schema, name)?;
        if exists {
            self.known.insert(key);
        }
        Ok(exists)
    }

    /// Forget what this session knows about relations (after it drops or renames one).
    fn forget(&mut self) {
        self.known.clear();
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.id).finish()
    }
}

impl Session {
    /// A handle that interrupts the statement this session is running.
    pub fn interrupt_handle(&self) -> Arc<duckdb::InterruptHandle> {
        self.conn.interrupt_handle()
    }
}

/// Executes statements.
pub struct Interpreter {
    engine: Arc<Engine>,
    jobs: Arc<dyn JobControl>,
    runtime: tokio::runtime::Handle,
}

/// A statement's result, or why it failed.
type Fallible<T> = Result<T, ShellError>;

impl Interpreter {
    /// An interpreter over `engine`, enqueueing through `jobs`; `runtime` runs the async
    /// job calls from the blocking thread `execute` runs on.
    pub fn new(
        engine: Arc<Engine>,
        jobs: Arc<dyn JobControl>,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Interpreter {
            engine,
            jobs,
            runtime,
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Open a session with its own DuckDB connection, and make sure every connection's
    /// schema exists.
    pub fn open_session(&self, id: &str) -> Fallible<Session> {
        let conn = self.engine.warehouse().connect()?;
        let config = self.engine.config();
        // Sessions open concurrently (one blocking thread each).
        for c in &config.connections {
            crate::warehouse::ensure_schema(&conn, &c.schema)?;
        }
        Ok(Session {
            id: id.to_string(),
            outlet: None,
            conn,
            vars: BTreeMap::new(),
            recent: Vec::new(),
            known: Default::default(),
        })
    }

    /// Execute one statement. Blocking: call it from a blocking thread.
    pub fn execute(&self, session: &mut Session, text: &str) -> Reply {
        let parsed = match parser::parse(text) {
            Ok(p) => p,
            Err(e) => return Reply::error(e.message),
        };
        let _memory = self.engine.warehouse().statement_memory();
        match self.run(session, parsed.statement) {
            Ok(reply) => reply,
            Err(e) => Reply::error(crate::secret::redact(&e.to_string())),
        }
    }

    fn run(&self, s: &mut Session, statement: Statement) -> Fallible<Reply> {
        use Statement as S;
        let invalidates = invalidates_cache(&statement);
        if invalidates {
            s.forget();
        }
        match statement {
            S::Sql { sql } => self.run_sql(s, &sql),
            S::RawSql { sql } => self.run_raw_sql(s, &sql),
            S::Help { topic } => Ok(text(show::help(topic.as_deref())?)),
            S::ShowSchemas => self.show_schemas(s),
            S::ShowTables { schema, like } => self.show_tables(s, schema.as_deref(), like.as_deref()),
            S::ShowColumns { table, like } => match table {
                Some(t) => self.show_columns(s, &t, like.as_deref()),
                None => self.show_all_columns(s, like.as_deref()),
            },
            S::ShowConnections => self.show_connections(),
            S::ShowVariables => self.show_variables(s),
            S::ShowFiles { schema, like } => self.show_files(schema.as_deref(), like.as_deref()),
            S::Describe { target } => self.describe(s, target),
            S::Peek { table, rows } => self.peek(s, &table, rows.unwrap_or(20)),
            S::PeekFile { path, rows } => self.peek_file(s, &path, rows.unwrap_or(20)),
            S::Count { table } => self.count(s, &table),
            S::HelpLast => self.help_last(s),
            S::SetVariable { name, expr } => self.set_variable(s, &name, &expr),
            S::ShowVariable { name } => self.show_variable(s, &name),
            S::UnsetVariable { name } => self.unset_variable(s, &name),
            S::Import {
                source,
                target,
                mode,
                options,
            } => self.import(s, &source, target, mode, options),
            S::Export {
                source,
                target,
                mode,
            } => self.export_table(s, &source, &target, mode),
            S::SelectInto {
                query,
                target,
                mode,
            } => self.select_into(s, &query, &target, mode),
            S::RefreshTable { table } => self.enqueue_job(s, &table, Action::Refresh),
            S::ReloadTable { table } => self.enqueue_job(s, &table, Action::Reload),
            S::ClearTable { table } => self.clear_table(s, &table),
            S::DropTable { table, if_exists } => self.drop_table(s, &table, if_exists),
            S::DropSchema {
                schema,
                if_exists,
                cascade,
            } => self.drop_schema(s, &schema, if_exists, cascade),
            S::RenameTable { table, new_name } => self.rename_table(s, &table, &new_name),
            S::ConnectorCommand { schema, command } => self.connector_command(&schema, &command),
            S::System(cmd) => {
                let outputs = self.runtime.block_on(self.jobs.system(&cmd))?;
                Ok(Reply {
                    outputs,
                    ..Default::default()
                })
            }
            S::Connect | S::DeleteConnection { .. } => Err(
                "connect and delete connection are interactive: run them in the unify REPL (or pipe answers to `unify connect`)".into(),
            ),
            S::SetFormat { .. } | S::Timing { .. } => Err(
                "format and timing are settings of the client: they take effect in the unify REPL or script that runs them".into(),
            ),
            S::Exit => Ok(Reply {
                exit: true,
                ..Default::default()
            }),
        }
    }

    /// Substitute `$vars` and ` ??` in SQL text.
    fn prepare_sql(&self, s: &mut Session, sql: &str) -> Fallible<String> {
        let substituted = vars::substitute(s, sql)?;
        Ok(crate::sqltext::replace_last_table(&substituted, &s.recent)
            .map_err(|e| e.to_string())?)
    }

    /// `!<sql>`: the SQL as written, with no `$vars`, no `??` and no autoload.
    fn run_raw_sql(&self, s: &mut Session, sql: &str) -> Fallible<Reply> {
        let mut outputs = Vec::new();
        match self.query_streaming(s, sql, &mut outputs) {
            Ok(Some(table)) => Ok(tables(table)),
            Ok(None) => Ok(Reply::default()), // streamed
            Err(e) => Err(e.into()),
        }
    }

    fn run_sql(&self, s: &mut Session, raw: &str) -> Fallible<Reply> {
        let sql = self.prepare_sql(s, raw)?;
        let mut outputs = Vec::new();
        if sql != raw && raw.contains("??") {
            outputs.push(Output::Message(sql.clone()));
        }
        let refs = find_table_refs(&sql);
        if let Some(wait) = self.autoload(s, &refs)? {
            return Ok(wait);
        }
        match self.query_streaming(s, &sql, &mut outputs) {
            Ok(streamed) => {
                let mut seen = Vec::new();
                for (schema, name) in refs {
                    let system = matches!(schema.as_str(), "information_schema" | "pg_catalog");
                    if system || s.exists(&schema, &name)? {
                        seen.push((schema, name));
                    }
                }
                if !seen.is_empty() {
                    s.recent = seen;
                }
                let Some(table) = streamed else {
                    // The reply already left with the result.
                    return Ok(Reply::default());
                };
                match table {
                    Some(t) => match sql::command_message(&sql, &t) {
                        Some(m) => outputs.push(Output::Message(m)),
                        None => outputs.push(Output::Table(t)),
                    },
                    None => outputs.push(Output::Message("OK".into())),
                }
                Ok(Reply {
                    outputs,
                    ..Default::default()
                })
            }
            Err(e) => {
                // A table the scan could not see (e.g. inside a view): load it if it is
                // an unloaded connector table.
                if let Some(missing) = sql::missing_table(&e) {
                    let candidates = self.unloaded_named(s, &missing);
                    if candidates.len() == 1 {
                        if let Some(wait) = self.autoload(s, &candidates)? {
                            return Ok(wait);
                        }
                    }
                }
                Err(e.into())
            }
        }
    }

    /// Run a query: `Some(table)` with the whole result, or `None` when the result was
    /// large and has gone to the session's [`Outlet`] (the reply with `outputs` and the
    /// first rows left early; the rest went chunk by chunk as the client asked).
    fn query_streaming(
        &self,
        s: &mut Session,
        sql: &str,
        outputs: &mut Vec<Output>,
    ) -> Result<Option<Option<ResultTable>>, duckdb::Error> {
        let mut outlet = s.outlet.take();
        // Set once the reply has left: the client's requests for the next chunks.
        let mut fetches: Option<std::sync::mpsc::Receiver<FetchRows>> = None;
        let mut pending: Option<FetchRows> = None;
        let mut table: Option<ResultTable> = None;
        let result = crate::warehouse::query_chunks(&s.conn, sql, CHUNK_ROWS, |chunk| {
            if let Some(rx) = &fetches {
                if let Some(FetchRows(answer)) = pending.take() {
                    let _ = answer.send(Ok((chunk.rows, !chunk.last)));
                }
                return !chunk.last && next_fetch(rx, &mut pending);
            }
            let t = table.get_or_insert_with(|| ResultTable {
                columns: chunk.columns.to_vec(),
                types: chunk.types.to_vec(),
                rows: Vec::new(),
            });
            t.rows.extend(chunk.rows);
            if chunk.last {
                return true;
            }
            let Some(o) = outlet.take() else {
                return true; // nowhere to stream to: read the whole result
            };
            // A large result: the reply leaves with the first rows, the rest on request.
            let mut first = std::mem::take(outputs);
            first.extend(table.take().map(Output::Table));
            let _ = o.reply.send(Reply {
                outputs: first,
                more: Some(o.cursor),
                ..Default::default()
            });
            let more = next_fetch(&o.fetches, &mut pending);
            fetches = Some(o.fetches);
            more
        });
        if fetches.is_some() {
            // An error after the reply left goes to the client's pending request.
            if let (Err(e), Some(FetchRows(answer))) = (&result, pending.take()) {
                let _ = answer.send(Err(sql::db_error(e)));
            }
            return Ok(None);
        }
        // Not streamed: the outlet stays for whoever runs the statement.
        s.outlet = outlet;
        result.map(|()| Some(table))
    }

    /// Connector tables named `name` (in any connection) that are not loaded.
    fn unloaded_named(&self, s: &Session, name: &str) -> Vec<(String, String)> {
        let config = self.engine.config();
        config
            .connections
            .iter()
            .filter(|c| c.spec.table(name).is_some() || c.spec.view(name).is_some())
            .filter(|c| !warehouse::relation_exists(&s.conn, &c.schema, name).unwrap_or(true))
            .map(|c| (c.schema.clone(), name.to_string()))
            .collect()
    }

    /// Why `schema.table` cannot be loaded when its connection or its definition is
    /// broken: the connection's error (the variable, the spec file and key), or the
    /// table's problems in its spec.
    fn unusable(&self, schema: &str, table: &str) -> Option<String> {
        let config = self.engine.config();
        if let Some(e) = config.connection_error(schema) {
            return Some(e.to_string());
        }
        let conn = config.connection(schema)?;
        let d = conn.spec.disabled(table)?;
        Some(format!(
            "{schema}.{table} is disabled: its definition in connector '{}' does not load: {}",
            conn.spec.name,
            d.reason()
        ))
    }

    /// Enqueue loads for the referenced connector tables that are not loaded yet.
    /// `Some(reply)` asks the client to wait and re-run.
    fn autoload(&self, s: &mut Session, refs: &[(String, String)]) -> Fallible<Option<Reply>> {
        let mut wait = Vec::new();
        for (schema, table) in refs {
            if self.engine.connector_object(schema, table).is_none() {
                // A table of a connection that does not work: say why, unless its data
                // is here from before.
                if let Some(why) = self.unusable(schema, table) {
                    if !s.exists(schema, table)? {
                        return Err(why.into());
                    }
                }
                continue;
            }
            if s.exists(schema, table)? {
                continue;
            }
            let job = self.runtime.block_on(self.jobs.enqueue(
                schema,
                table,
                Action::Load,
                Requester::User,
            ))?;
            if !wait.iter().any(|j: &JobRef| j.id == job.id) {
                wait.push(job);
            }
        }
        if wait.is_empty() {
            return Ok(None);
        }
        let names: Vec<String> = wait.iter().map(|j| j.table.clone()).collect();
        Ok(Some(Reply {
            outputs: vec![Output::Message(format!(
                "Loading table {}...",
                names.join(", ")
            ))],
            wait,
            after: Some(AfterJobs::Rerun),
            ..Default::default()
        }))
    }

    fn enqueue_job(&self, s: &mut Session, table: &TableRef, action: Action) -> Fallible<Reply> {
        let (schema, name) = self.qualify(s, table)?;
        if schema == "files" {
            return self.reload_file_table(s, &name);
        }
        match self.engine.connector_object(&schema, &name) {
            Some(ConnectorObject::Table(_)) | Some(ConnectorObject::View(_)) => {}
            None => {
                return Err(if self.engine.config().connection(&schema).is_some() {
                    format!("Table {schema}.{name} does not exist in connector {schema}")
                } else {
                    format!("{schema}.{name} is not a connector table: only tables loaded from an API (or imported files) can be refreshed")
                }
                .into())
            }
        }
        let job =
            self.runtime
                .block_on(self.jobs.enqueue(&schema, &name, action, Requester::User))?;
        Ok(Reply {
            outputs: vec![Output::Message(format!(
                "{} table {schema}.{name} (job {})...",
                if action == Action::Refresh {
                    "Refreshing"
                } else {
                    "Reloading"
                },
                job.id
            ))],
            wait: vec![job],
            after: Some(AfterJobs::Report),
            ..Default::default()
        })
    }

    fn count(&self, s: &mut Session, table: &TableRef) -> Fallible<Reply> {
        let (schema, name) = self.qualify(s, table)?;
        if let Some(wait) = self.autoload(s, &[(schema.clone(), name.clone())])? {
            return Ok(wait);
        }
        let sql = format!(
            "select count(*) as count from {}",
            qualified(&schema, &name)
        );
        let result = query_table(&s.conn, &sql)?;
        s.recent = vec![(schema, name)];
        Ok(tables(result))
    }

    fn export_table(
        &self,
        s: &mut Session,
        source: &TableRef,
        target: &FileTarget,
        mode: Option<WriteMode>,
    ) -> Fallible<Reply> {
        let (schema, name) = self.qualify(s, source)?;
        if let Some(wait) = self.autoload(s, &[(schema.clone(), name.clone())])? {
            return Ok(wait);
        }
        let query = format!("select * from {}", qualified(&schema, &name));
        self.export(s, &query, target, mode)
    }

    fn select_into(
        &self,
        s: &mut Session,
        query: &str,
        target: &FileTarget,
        mode: Option<WriteMode>,
    ) -> Fallible<Reply> {
        let query = self.prepare_sql(s, query)?;
        let refs = find_table_refs(&query);
        if let Some(wait) = self.autoload(s, &refs)? {
            return Ok(wait);
        }
        self.export(s, &query, target, mode)
    }

    fn clear_table(&self, s: &mut Session, table: &TableRef) -> Fallible<Reply> {
        let (schema, name) = self.qualify(s, table)?;
        self.require_table(s, &schema, &name)?;
        admin::clear_table(&s.conn, &schema, &name)?;
        Ok(message(format!("Table cleared: {schema}.{name}")))
    }

    fn drop_table(&self, s: &mut Session, table: &TableRef, if_exists: bool) -> Fallible<Reply> {
        let (schema, name) = self.qualify(s, table)?;
        if !warehouse::relation_exists(&s.conn, &schema, &name)? {
            if if_exists {
                return Ok(message(format!(
                    "Table {schema}.{name} does not exist; nothing dropped"
                )));
            }
            return Err(format!("Table {schema}.{name} does not exist").into());
        }
        let kind = admin::relation_kind(&s.conn, &schema, &name)?;
        admin::drop_relation(&s.conn, &schema, &name, kind)?;
        Ok(message(format!("Dropped {} {schema}.{name}", kind.noun())))
    }

    fn drop_schema(
        &self,
        s: &mut Session,
        schema: &str,
        if_exists: bool,
        cascade: bool,
    ) -> Fallible<Reply> {
        let recreate = self.engine.config().connection(schema).is_some();
        admin::drop_schema_as_asked(&s.conn, schema, if_exists, cascade, recreate)?;
        Ok(message(format!("Dropped schema {schema}")))
    }

    fn rename_table(&self, s: &mut Session, table: &TableRef, new_name: &str) -> Fallible<Reply> {
        let (schema, name) = self.qualify(s, table)?;
        self.require_table(s, &schema, &name)?;
        let kind = admin::relation_kind(&s.conn, &schema, &name)?;
        admin::rename_relation(&s.conn, &schema, &name, kind, new_name)?;
        Ok(message(format!(
            "Renamed {schema}.{name} to {schema}.{new_name}"
        )))
    }

    fn connector_command(&self, schema: &str, command: &str) -> Fallible<Reply> {
        let config = self.engine.config();
        let conn = config.connection(schema).ok_or_else(|| {
            format!("unknown schema '{schema}': it is not a connection (see `show connections`)")
        })?;
        if command != "help" {
            return Err(format!(
                "unknown command '{command}' for connector {}",
                conn.spec.name
            )
            .into());
        }
        Ok(match &conn.spec.help {
            Some(h) => text(h.trim_end().to_string()),
            None => text(format!(
                "No help available for connector {}",
                conn.spec.name
            )),
        })
    }

    /// Resolve a table reference: qualified as written, or searched in `main`, then
    /// among connections (a unique table name).
    fn qualify(&self, s: &Session, t: &TableRef) -> Fallible<(String, String)> {
        if let Some(schema) = &t.schema {
            return Ok((schema.clone(), t.table.clone()));
        }
        if warehouse::relation_exists(&s.conn, "main", &t.table).unwrap_or(false) {
            return Ok(("main".into(), t.table.clone()));
        }
        let mut found: Vec<String> = Vec::new();
        let config = self.engine.config();
        for c in &config.connections {
            if c.spec.table(&t.table).is_some() || c.spec.view(&t.table).is_some() {
                found.push(c.schema.clone());
            }
        }
        match found.len() {
            1 => Ok((found.remove(0), t.table.clone())),
            0 => Ok(("main".into(), t.table.clone())),
            _ => Err(format!(
                "'{}' is ambiguous: it is a table of {}; write schema.{}",
                t.table,
                found.join(" and "),
                t.table
            )
            .into()),
        }
    }

    fn require_table(&self, s: &Session, schema: &str, name: &str) -> Fallible<()> {
        if warehouse::relation_exists(&s.conn, schema, name)? {
            Ok(())
        } else if self.engine.connector_object(schema, name).is_some() {
            Err(
                format!("Table {schema}.{name} is not loaded yet (select from it to load it)")
                    .into(),
            )
        } else {
            Err(format!("Table {schema}.{name} does not exist").into())
        }
    }
}

/// Statements that can remove or rename relations invalidate the session's cache.
fn invalidates_cache(statement: &Statement) -> bool {
    match statement {
        Statement::DropTable { .. }
        | Statement::DropSchema { .. }
        | Statement::RenameTable { .. } => true,
        Statement::Sql { sql } | Statement::RawSql { sql } => {
            let l = sql.trim_start().to_ascii_lowercase();
            l.starts_with("drop") || l.starts_with("alter")
        }
        _ => false,
    }
}

/// Wait for the client's next request for rows; false when it has moved on (closed the
/// result, ran another statement, went away).
fn next_fetch(rx: &std::sync::mpsc::Receiver<FetchRows>, pending: &mut Option<FetchRows>) -> bool {
    match rx.recv_timeout(CURSOR_IDLE) {
        Ok(next) => {
            *pending = Some(next);
            true
        }
        Err(_) => false,
    }
}

fn message(m: String) -> Reply {
    Reply {
        outputs: vec![Output::Message(m)],
        ..Default::default()
    }
}

fn text(t: String) -> Reply {
    Reply {
        outputs: vec![Output::Text(t)],
        ..Default::default()
    }
}

fn tables(t: Option<ResultTable>) -> Reply {
    Reply {
        outputs: t.into_iter().map(Output::Table).collect(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
