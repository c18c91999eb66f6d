//! The `unify` client: runs statements through a [`Transport`] (daemon or in-process),
//! waits for the loads they need while showing progress, and renders results. The REPL
//! (editor, completion, key handling) lives in [`crate::repl`]; this module is the part
//! scripts and the REPL share.

pub mod transport;

pub use transport::{connect_or_start, spawn_daemon, Daemon, InProcess, Transport, Zmq};

use crate::parser::{self, Statement};
use crate::protocol::{
    AfterJobs, Event, JobRef, JobState, LoaderStatus, Output, Reply, Request, Response, ResultTable,
};
use crate::render::{self, Format, Layout};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a statement ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It worked.
    Ok,
    /// It failed (the message was printed).
    Failed,
    /// The host is unreachable: stop running statements.
    Disconnected,
    /// `exit`/`quit`.
    Exit,
    /// The user pressed Ctrl-C: the statement (and the loads it waited for) stopped.
    Interrupted,
}

/// What to do while waiting for loads.
pub trait WaitUi: Send {
    /// Called about ten times a second with the jobs' latest status.
    fn progress(&mut self, jobs: &[LoaderStatus]);
    /// Clear the progress display.
    fn clear(&mut self);
    /// True when the user asked to move the wait to the background.
    fn backgrounded(&mut self) -> bool {
        false
    }
    /// True when the user pressed Ctrl-C.
    fn interrupted(&mut self) -> bool {
        false
    }
}

/// No progress display (stderr is not a terminal).
pub struct Quiet;

impl WaitUi for Quiet {
    fn progress(&mut self, _: &[LoaderStatus]) {}
    fn clear(&mut self) {}
}

/// A statement runner bound to one session.
pub struct Client {
    transport: Arc<dyn Transport>,
    session: String,
    format: Format,
    /// A person reads the results (the REPL): large results are cut to their first and
    /// last rows and tables fit the terminal's width.
    interactive: bool,
    /// Print how long each statement took (`timing on`).
    timing: bool,
    /// Jobs moved to the background, announced when they finish.
    pub background: Arc<std::sync::Mutex<Vec<JobRef>>>,
    /// The jobs the running statement waits for (cancelled when a script is interrupted).
    waiting: Arc<std::sync::Mutex<Vec<String>>>,
}

/// The longest a statement is re-run waiting for its tables to appear.
const MAX_RERUNS: usize = 5;

impl Client {
    /// A client with a fresh session.
    pub fn new(transport: Arc<dyn Transport>, format: Format) -> Self {
        Client {
            transport,
            session: uuid::Uuid::new_v4().simple().to_string(),
            format,
            interactive: false,
            timing: false,
            background: Arc::default(),
            waiting: Arc::default(),
        }
    }

    /// The ids of the jobs the running statement waits for, readable while it runs.
    pub fn waiting(&self) -> Arc<std::sync::Mutex<Vec<String>>> {
        self.waiting.clone()
    }

    /// The transport.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// The session id.
    pub fn session(&self) -> &str {
        &self.session
    }

    /// Results are for a person at a terminal (the REPL): cut large results to their
    /// first and last rows and fit tables to the terminal's width.
    pub fn set_interactive(&mut self, interactive: bool) {
        self.interactive = interactive;
    }

    /// The current result format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Run one statement: client settings (`format`, `timing`) here, everything else
    /// on the host: execute, wait for loads (re-running when asked), print.
    pub async fn run_statement(&mut self, text: &str, ui: &mut dyn WaitUi) -> Outcome {
        let parsed = parser::parse(text);
        match parsed.as_ref().map(|p| &p.statement) {
            Ok(Statement::SetFormat { format }) => {
                return match format.parse::<Format>() {
                    Ok(f) => {
                        self.format = f;
                        eprintln!("Result format: {}", f.name());
                        Outcome::Ok
                    }
                    Err(e) => {
                        eprintln!("Error: {e}");
                        Outcome::Failed
                    }
                };
            }
            Ok(Statement::Timing { on }) => {
                self.timing = *on;
                eprintln!("Timing is {}", if *on { "on" } else { "off" });
                return Outcome::Ok;
            }
            _ => {}
        }
        let wide = parsed.map(|p| p.wide).unwrap_or(false);
        let started = Instant::now();
        let outcome = self.execute(text, wide, ui).await;
        if self.timing && matches!(outcome, Outcome::Ok | Outcome::Failed) {
            eprintln!("Time: {:.3} s", started.elapsed().as_secs_f64());
        }
        outcome
    }

    /// Send the statement to the host, print its reply, and wait for the loads it
    /// started; a statement that needed those loads is run again (at most
    /// [`MAX_RERUNS`] times).
    async fn execute(&mut self, text: &str, wide: bool, ui: &mut dyn WaitUi) -> Outcome {
        for _ in 0..MAX_RERUNS {
            let reply = match self.request_reply(text).await {
                Ok(r) => r,
                Err(outcome) => return outcome,
            };
            if let Err(e) = self.print(&reply, wide).await {
                return self.print_failed(e).await;
            }
            if let Some(error) = &reply.error {
                eprintln!("Error: {error}");
                return Outcome::Failed;
            }
            if reply.exit {
                return Outcome::Exit;
            }
            if reply.wait.is_empty() {
                return Outcome::Ok;
            }
            let statuses = match self.wait_for_loads(&reply.wait, ui).await {
                Ok(s) => s,
                Err(outcome) => return outcome,
            };
            if matches!(reply.after, Some(AfterJobs::Rerun)) {
                continue;
            }
            for s in &statuses {
                eprintln!(
                    "{} {}: {} rows, {} pages in {:.1}s",
                    done_verb(&reply.wait, &s.job_id),
                    s.table_name(),
                    s.rows,
                    s.pages,
                    s.elapsed_ms as f64 / 1000.0
                );
            }
            return Outcome::Ok;
        }
        eprintln!("Error: the tables this statement needs are still missing after loading them; see `system status`");
        Outcome::Failed
    }

    /// Ask the host to execute `text`; an error answer is printed and becomes the
    /// outcome.
    async fn request_reply(&self, text: &str) -> Result<Reply, Outcome> {
        let response = self
            .transport
            .request(Request::Execute {
                session: self.session.clone(),
                text: text.to_string(),
            })
            .await;
        match response {
            Ok(Response::Reply(r)) => Ok(r),
            Ok(Response::Error { message }) => {
                eprintln!("Error: {message}");
                Err(Outcome::Failed)
            }
            Ok(other) => {
                eprintln!("Error: unexpected answer from the engine: {other:?}");
                Err(Outcome::Failed)
            }
            Err(e) => {
                eprintln!("Error: {e:#}");
                Err(Outcome::Disconnected)
            }
        }
    }

    /// Wait for the loads a reply started and return their final states. `Err` is the
    /// statement's outcome when they do not all succeed here: moved to the background
    /// (`Ok`, remembered for [`Client::finished_background`]), failed (each failure
    /// printed), interrupted or disconnected.
    async fn wait_for_loads(
        &mut self,
        jobs: &[JobRef],
        ui: &mut dyn WaitUi,
    ) -> Result<Vec<LoaderStatus>, Outcome> {
        *self.waiting.lock().unwrap_or_else(|e| e.into_inner()) =
            jobs.iter().map(|j| j.id.clone()).collect();
        let waited = self.wait(jobs, ui).await;
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let statuses = match waited? {
            Some(s) => s,
            None => {
                eprintln!(
                    "Continuing in the background ({}); you will be told when it finishes.",
                    jobs.iter()
                        .map(|j| j.table.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                self.background
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(jobs.iter().cloned());
                return Err(Outcome::Ok);
            }
        };
        let failed: Vec<&LoaderStatus> = statuses
            .iter()
            .filter(|s| s.state != JobState::Done)
            .collect();
        if !failed.is_empty() {
            for s in failed {
                eprintln!("Error: {}", failure_text(s));
            }
            return Err(Outcome::Failed);
        }
        Ok(statuses)
    }

    /// Wait for jobs to finish. `Ok(None)` when the user moved them to the background;
    /// `Err` on a connection failure or Ctrl-C.
    async fn wait(
        &mut self,
        jobs: &[JobRef],
        ui: &mut dyn WaitUi,
    ) -> Result<Option<Vec<LoaderStatus>>, Outcome> {
        let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
        let mut events = self.transport.subscribe();
        let mut latest: HashMap<String, LoaderStatus> = HashMap::new();
        let mut last_poll = Instant::now() - Duration::from_secs(1);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            // Events are progress only; the final state is always asked for.
            while let Ok(event) = events.try_recv() {
                if let Event::Status(s) = event {
                    if ids.contains(&s.job_id) && !s.state.is_final() {
                        latest.insert(s.job_id.clone(), s);
                    }
                }
            }
            if last_poll.elapsed() >= Duration::from_millis(300) {
                last_poll = Instant::now();
                match self
                    .transport
                    .request(Request::JobStatus { ids: ids.clone() })
                    .await
                {
                    Ok(Response::Jobs { jobs }) => {
                        for s in jobs {
                            let keep = latest
                                .get(&s.job_id)
                                .is_none_or(|old| s.state.is_final() || s.rows >= old.rows);
                            if keep {
                                latest.insert(s.job_id.clone(), s);
                            }
                        }
                    }
                    Ok(Response::Error { message }) => {
                        ui.clear();
                        eprintln!("Error: {message}");
                        return Err(Outcome::Failed);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        ui.clear();
                        eprintln!("Error: {e:#}");
                        return Err(Outcome::Disconnected);
                    }
                }
                if ids
                    .iter()
                    .all(|id| latest.get(id).is_some_and(|s| s.state.is_final()))
                {
                    ui.clear();
                    return Ok(Some(
                        ids.iter().filter_map(|id| latest.remove(id)).collect(),
                    ));
                }
            }
            let shown: Vec<LoaderStatus> = ids
                .iter()
                .filter_map(|id| latest.get(id).cloned())
                .collect();
            ui.progress(&shown);
            if ui.interrupted() {
                ui.clear();
                cancel_waiting(&self.transport, &self.session, &ids).await;
                eprintln!(
                    "Interrupted: the load was cancelled; the table keeps its previous data."
                );
                return Err(Outcome::Interrupted);
            }
            if ui.backgrounded() {
                ui.clear();
                return Ok(None);
            }
            tick.tick().await;
        }
    }

    /// Background jobs that have finished since the last call, with their status.
    pub async fn finished_background(&mut self) -> Vec<LoaderStatus> {
        let ids: Vec<String> = {
            let bg = self.background.lock().unwrap_or_else(|e| e.into_inner());
            bg.iter().map(|j| j.id.clone()).collect()
        };
        if ids.is_empty() {
            return Vec::new();
        }
        let Ok(Response::Jobs { jobs }) = self.transport.request(Request::JobStatus { ids }).await
        else {
            return Vec::new();
        };
        let mut bg = self.background.lock().unwrap_or_else(|e| e.into_inner());
        let done: Vec<LoaderStatus> = jobs
            .into_iter()
            .filter(|s| s.state.is_final() && bg.iter().any(|j| j.id == s.job_id))
            .collect();
        bg.retain(|j| !done.iter().any(|s| s.job_id == j.id));
        done
    }

    /// How results are laid out for this client.
    fn layout(&self, wide: bool) -> Layout {
        if !self.interactive {
            return Layout {
                wide,
                ..Layout::default()
            };
        }
        Layout {
            wide,
            max_width: (!wide && std::io::stdout().is_terminal()).then(terminal_columns),
            max_rows: Some(MAX_SHOWN_ROWS),
        }
    }

    /// Print a reply's outputs: results to stdout, messages to stderr. Text that is not
    /// a result table (help, a variable's value) goes to stderr in the machine formats,
    /// whose stdout carries results only. A large result ([`Reply::more`]) is fetched
    /// and written chunk by chunk as it arrives.
    pub async fn print(&self, reply: &Reply, wide: bool) -> anyhow::Result<()> {
        let layout = self.layout(wide);
        let last_table = reply
            .outputs
            .iter()
            .rposition(|o| matches!(o, Output::Table(_)));
        for (i, output) in reply.outputs.iter().enumerate() {
            match output {
                Output::Table(t) => match (&reply.more, Some(i) == last_table) {
                    (Some(cursor), true) => self.stream(t, cursor, layout).await?,
                    _ => {
                        let mut buf = Vec::new();
                        render::render(&mut buf, t, self.format, layout)?;
                        page_or_print(&buf, !self.format.is_machine());
                    }
                },
                Output::Value { name, value } if self.format.is_machine() => {
                    let table = ResultTable {
                        columns: vec![name.clone()],
                        types: vec![String::new()],
                        rows: vec![vec![value.clone()]],
                    };
                    let mut buf = Vec::new();
                    render::render(&mut buf, &table, self.format, layout)?;
                    std::io::stdout().lock().write_all(&buf)?;
                }
                Output::Value { value, .. } => {
                    let text = match value {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Null => "NULL".into(),
                        other => other.to_string(),
                    };
                    writeln!(std::io::stdout().lock(), "{text}")?;
                }
                Output::Text(text) if self.format.is_machine() => eprintln!("{text}"),
                Output::Text(text) => {
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{text}")?;
                }
                Output::Message(m) => eprintln!("{m}"),
            }
        }
        std::io::stdout().lock().flush()?;
        Ok(())
    }

    /// Write a result whose first rows are `first`, fetching the rest from `cursor`.
    async fn stream(
        &self,
        first: &ResultTable,
        cursor: &str,
        layout: Layout,
    ) -> anyhow::Result<()> {
        let mut out = std::io::BufWriter::new(std::io::stdout());
        let mut writer =
            render::ResultWriter::new(&mut out, self.format, layout, &first.columns, &first.types)?;
        writer.rows(first.rows.clone())?;
        loop {
            let response = self
                .transport
                .request(Request::Fetch {
                    session: self.session.clone(),
                    cursor: cursor.to_string(),
                })
                .await?;
            match response {
                Response::Rows { rows, more } => {
                    writer.rows(rows)?;
                    if !more {
                        break;
                    }
                }
                Response::Error { message } if message.starts_with("Interrupted") => {
                    return Err(Interrupted(message).into())
                }
                Response::Error { message } => anyhow::bail!(message),
                other => anyhow::bail!("unexpected answer from the engine: {other:?}"),
            }
        }
        writer.finish()?;
        out.flush()?;
        Ok(())
    }

    /// Printing a reply failed: a reader that went away (`| head`) ends the script
    /// quietly, an interrupted result says so, anything else is an error.
    async fn print_failed(&self, e: anyhow::Error) -> Outcome {
        let closed_pipe = e
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe);
        if closed_pipe {
            // Stop the daemon reading a result nobody will see.
            let _ = self
                .transport
                .request(Request::Interrupt {
                    session: self.session.clone(),
                })
                .await;
            return Outcome::Exit;
        }
        if let Some(Interrupted(message)) = e.downcast_ref::<Interrupted>() {
            eprintln!("{message}");
            return Outcome::Interrupted;
        }
        eprintln!("Error: {e:#}");
        Outcome::Failed
    }

    /// Close the session on the host.
    pub async fn close(&self) {
        let _ = self
            .transport
            .request(Request::CloseSession {
                session: self.session.clone(),
            })
            .await;
    }
}

/// A result whose reading was interrupted (Ctrl-C, or the daemon stopping).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Interrupted(String);

/// Rows the REPL shows of a large result: the first and the last half (as the duckdb
/// shell does); scripts and the machine formats get every row.
pub const MAX_SHOWN_ROWS: usize = 40;

/// One line for a job that did not finish: `loading X failed: <cause>`, the cause
/// without a repeated `loading X:` prefix.
pub fn failure_text(s: &LoaderStatus) -> String {
    let table = s.table_name();
    match s.state {
        JobState::Cancelled => {
            format!("loading {table} was cancelled; its previous data is unchanged")
        }
        _ => {
            let error = s.error.as_deref().unwrap_or("unknown error");
            let cause = error
                .strip_prefix(&format!("loading {table}: "))
                .unwrap_or(error);
            format!("loading {table} failed: {cause}")
        }
    }
}

fn done_verb(jobs: &[JobRef], id: &str) -> &'static str {
    match jobs.iter().find(|j| j.id == id).map(|j| j.action) {
        Some(crate::protocol::Action::Refresh) => "Refreshed",
        Some(crate::protocol::Action::Reload) => "Reloaded",
        _ => "Loaded",
    }
}

/// Print, through a pager when the output is taller than the terminal.
fn page_or_print(bytes: &[u8], may_page: bool) {
    let stdout = std::io::stdout();
    if may_page && stdout.is_terminal() && std::io::stdin().is_terminal() {
        let lines = bytes.iter().filter(|b| **b == b'\n').count();
        if lines > terminal_rows().saturating_sub(2) {
            let pager = std::env::var("PAGER").unwrap_or_else(|_| "less".into());
            let mut parts = pager.split_whitespace();
            if let Some(prog) = parts.next() {
                let mut cmd = std::process::Command::new(prog);
                cmd.args(parts);
                if prog == "less" {
                    cmd.arg("-FRSX");
                }
                if let Ok(mut child) = cmd.stdin(std::process::Stdio::piped()).spawn() {
                    if let Some(mut stdin) = child.stdin.take() {
                        let _ = stdin.write_all(bytes);
                    }
                    let _ = child.wait();
                    return;
                }
            }
        }
    }
    let mut out = stdout.lock();
    let _ = out.write_all(bytes);
}

/// Rows of the terminal (24 when unknown).
pub fn terminal_rows() -> usize {
    terminal_size().map_or(24, |(rows, _)| rows)
}

/// Columns of the terminal (80 when unknown).
pub fn terminal_columns() -> usize {
    terminal_size().map_or(80, |(_, cols)| cols)
}

/// The terminal's (rows, columns), from stdout or else stderr.
fn terminal_size() -> Option<(usize, usize)> {
    let size = |ws: rustix::termios::Winsize| {
        (ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row as usize, ws.ws_col as usize))
    };
    rustix::termios::tcgetwinsize(std::io::stdout())
        .ok()
        .and_then(size)
        .or_else(|| {
            rustix::termios::tcgetwinsize(std::io::stderr())
                .ok()
                .and_then(size)
        })
}

/// Exit status of a script stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const INTERRUPTED: i32 = 130;

/// Cancel the loads a statement waits for (a script interrupted by SIGINT).
pub async fn cancel_waiting(transport: &Arc<dyn Transport>, session: &str, ids: &[String]) {
    for id in ids {
        let _ = transport
            .request(Request::Execute {
                session: session.to_string(),
                text: format!("system cancel {id}"),
            })
            .await;
    }
}

/// How a script runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScriptOptions {
    /// Stop at the first statement that fails (`--bail`).
    pub bail: bool,
}

/// Run a script (statements from `-c`, `-f` or stdin), in order; exit status 1 when any
/// failed. A connection failure stops the script, and so does any failure with `bail`.
pub async fn run_script(
    client: &mut Client,
    script: &str,
    ui: &mut dyn WaitUi,
    options: ScriptOptions,
) -> i32 {
    let mut status = 0;
    for statement in parser::split_statements(script) {
        if let Ok(p) = parser::parse(&statement) {
            if matches!(
                p.statement,
                parser::Statement::Connect | parser::Statement::DeleteConnection { .. }
            ) {
                eprintln!(
                    "Error: `{}` asks questions: run it in the REPL, or use `unify connect <connector> --schema <name> --option key=value …` in scripts",
                    statement.trim()
                );
                status = 1;
                if options.bail {
                    return status;
                }
                continue;
            }
        }
        match client.run_statement(&statement, ui).await {
            Outcome::Ok => {}
            Outcome::Failed if options.bail => return 1,
            Outcome::Failed => status = 1,
            Outcome::Disconnected => return 1,
            Outcome::Interrupted => return INTERRUPTED,
            Outcome::Exit => break,
        }
    }
    status
}
