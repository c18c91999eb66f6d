//! The interactive REPL (client side only): a rustyline editor with history in
//! `$UNIFY_HOME/history`, multi-line input with a continuation prompt (the parser says
//! when a statement is complete), several statements on one line (each result shown),
//! completion that knows the context, SQL highlighting and history hints, confirmation of
//! destructive commands, Ctrl-C to interrupt a statement (not the REPL) or to drop the
//! lines typed so far, Ctrl-D to exit, and announcements of background loads as they
//! finish.

pub mod connect;
mod editor;
pub mod progress;

use crate::client::{Client, Outcome};
use crate::home::Home;
use crate::parser::{self, Completeness, Statement};
use crate::protocol::{JobState, Request, Response};
use editor::{Completions, UnifyHelper};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{Config, Editor, ExternalPrinter};
use std::sync::{Arc, Mutex};

type Ed = Editor<UnifyHelper, FileHistory>;

/// The prompt of a new statement.
pub const PROMPT: &str = "unify> ";
/// The prompt of the following lines of an unfinished statement.
pub const CONTINUATION: &str = "   ...> ";

/// Run the REPL until `exit` or Ctrl-D. Returns the exit status.
pub async fn run(client: Client, home: &Home) -> i32 {
    let Some((mut repl, editor)) = Repl::start(client, home).await else {
        return 1;
    };
    if repl.read_eval(editor).await.is_err() {
        return 1;
    }
    repl.client.close().await;
    repl.status
}

/// The line editor's task failed (it was reported): the REPL ends with status 1.
struct EditorLost;

/// The REPL's state from one line to the next.
struct Repl<'h> {
    /// The connection to the host.
    client: Client,
    /// Where the history file is.
    home: &'h Home,
    /// What the completer knows (refreshed after each statement).
    completions: Arc<Mutex<Completions>>,
    /// The lines of an unfinished statement, for the highlighter.
    pending: Arc<Mutex<String>>,
    /// Ctrl-C while a statement runs (None when it cannot be caught).
    sigint: Option<tokio::signal::unix::Signal>,
    /// The exit status so far.
    status: i32,
}

impl<'h> Repl<'h> {
    /// Set up the line editor (history, completion, announcements) and greet; None when
    /// there is no line editor (the error is printed).
    async fn start(mut client: Client, home: &'h Home) -> Option<(Repl<'h>, Ed)> {
        let config = Config::builder()
            .auto_add_history(false)
            .max_history_size(10_000)
            .map(|b| b.build())
            .unwrap_or_default();
        let mut editor: Ed = match Editor::with_config(config) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("Error: cannot start the line editor: {e}");
                return None;
            }
        };
        client.set_interactive(true);
        let completions = Arc::new(Mutex::new(Completions::default()));
        let helper = UnifyHelper::new(completions.clone(), crate::telemetry::color());
        let pending = helper.pending.clone();
        editor.set_helper(Some(helper));
        let _ = editor.load_history(&home.history_file());
        refresh_completions(&client, &completions).await;
        announce_background(&mut editor, &client);
        greet(&client).await;
        let sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
        let repl = Repl {
            client,
            home,
            completions,
            pending,
            sigint,
            status: 0,
        };
        Some((repl, editor))
    }

    /// Read lines until a statement is complete, then run it; until `exit`, Ctrl-D or
    /// an editor error.
    async fn read_eval(&mut self, mut editor: Ed) -> Result<(), EditorLost> {
        // The lines of the statement being typed.
        let mut buffer = String::new();
        loop {
            let prompt = if buffer.is_empty() {
                PROMPT
            } else {
                CONTINUATION
            };
            let (editor_back, line) = read_line(editor, prompt).await?;
            editor = editor_back;
            let line = match line {
                Ok(line) => line,
                Err(ReadlineError::Interrupted) => {
                    // Ctrl-C at the prompt drops what was typed, like psql.
                    buffer.clear();
                    set(&self.pending, "");
                    continue;
                }
                Err(ReadlineError::Eof) => break,
                Err(e) => {
                    eprintln!("Error: {e}");
                    self.status = 1;
                    break;
                }
            };
            if buffer.is_empty() && line.trim().is_empty() {
                continue;
            }
            buffer.push_str(&line);
            buffer.push('\n');
            if parser::completeness(&buffer) == Completeness::Incomplete {
                set(&self.pending, &buffer);
                continue;
            }
            let text = std::mem::take(&mut buffer);
            set(&self.pending, "");
            let _ = editor.add_history_entry(text.trim());
            let _ = editor.append_history(&self.home.history_file());
            let (editor_back, exit) = self.run_text(editor, &text).await;
            editor = editor_back;
            if exit {
                break;
            }
            refresh_completions(&self.client, &self.completions).await;
        }
        Ok(())
    }

    /// Run each statement of `text` (after confirmation where asked); true on `exit`.
    async fn run_text(&mut self, mut editor: Ed, text: &str) -> (Ed, bool) {
        for statement in parser::split_statements(text) {
            let (editor_back, confirmed) = confirm(editor, &statement).await;
            editor = editor_back;
            if !confirmed || self.run_flow(&statement).await {
                continue;
            }
            match self.run_statement(&statement).await {
                Outcome::Exit => return (editor, true),
                // The daemon went away mid-statement: the next statement reaches a new
                // one (the transport restarts it), so keep the prompt.
                Outcome::Failed | Outcome::Interrupted | Outcome::Disconnected => self.status = 1,
                Outcome::Ok => {}
            }
            for s in self.client.finished_background().await {
                eprintln!("{}", finished_text(&s));
            }
        }
        (editor, false)
    }

    /// Run `connect` or `delete connection` (the flows that ask questions); false for
    /// any other statement.
    async fn run_flow(&mut self, statement: &str) -> bool {
        let result = match parser::parse(statement).map(|p| p.statement) {
            Ok(Statement::Connect) => {
                let mut ask = connect::StdinAsk::new();
                connect::connect(&mut self.client, &mut ask, connect::Preset::default()).await
            }
            Ok(Statement::DeleteConnection { schema }) => {
                let mut ask = connect::StdinAsk::new();
                connect::delete(&mut self.client, &mut ask, schema).await
            }
            _ => return false,
        };
        if let Err(e) = result {
            eprintln!("Error: {e:#}");
            self.status = 1;
        }
        refresh_completions(&self.client, &self.completions).await;
        true
    }

    /// Run one statement with a progress display; Ctrl-C asks the host to interrupt it.
    async fn run_statement(&mut self, statement: &str) -> Outcome {
        let transport = self.client.transport().clone();
        let session = self.client.session().to_string();
        let mut ui = progress::TtyProgress::new();
        let run = self.client.run_statement(statement, &mut ui);
        tokio::pin!(run);
        loop {
            tokio::select! {
                o = &mut run => break o,
                _ = recv(&mut self.sigint) => {
                    let _ = transport.request(Request::Interrupt { session: session.clone() }).await;
                }
            }
        }
    }
}

/// The welcome line, and a hint when there are no connections yet.
async fn greet(client: &Client) {
    eprintln!(
        "Welcome to unify. Type `help` for commands; anything else is SQL (end it with `;`)."
    );
    if let Ok(Response::Connectors { connections, .. }) =
        client.transport().request(Request::Connectors).await
    {
        if connections.is_empty() {
            eprintln!(
                "You have no connections yet: type `connect` to add one (`jsonplaceholder` needs no account)."
            );
        }
    }
}

/// Read one line on a blocking thread (the editor goes there and comes back).
async fn read_line(
    mut editor: Ed,
    prompt: &'static str,
) -> Result<(Ed, rustyline::Result<String>), EditorLost> {
    tokio::task::spawn_blocking(move || {
        let line = editor.readline(prompt);
        (editor, line)
    })
    .await
    .map_err(|e| {
        eprintln!("Error: the line editor stopped: {e}");
        EditorLost
    })
}

fn set(pending: &Arc<Mutex<String>>, text: &str) {
    let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
    p.clear();
    p.push_str(text);
}

async fn recv(sig: &mut Option<tokio::signal::unix::Signal>) {
    match sig {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Ask before dropping a table or a schema (at a terminal).
async fn confirm(editor: Ed, text: &str) -> (Ed, bool) {
    let question = match parser::parse(text).map(|p| p.statement) {
        Ok(Statement::DropTable {
            table,
            if_exists: false,
        }) => format!(
            "Are you sure you want to drop the table '{}' (y/n)? ",
            match &table.schema {
                Some(s) => format!("{s}.{}", table.table),
                None => table.table.clone(),
            }
        ),
        Ok(Statement::DropSchema { schema, .. }) => {
            format!("Are you sure you want to drop the schema '{schema}' (y/n)? ")
        }
        _ => return (editor, true),
    };
    let mut editor = editor;
    let result = tokio::task::spawn_blocking(move || {
        let answer = editor.readline(&question);
        (editor, answer)
    })
    .await;
    match result {
        Ok((editor, Ok(answer))) => {
            let yes = matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
            (editor, yes)
        }
        Ok((editor, Err(_))) => (editor, false),
        Err(_) => {
            // The editor is lost with the task; start a fresh one.
            let fresh = Editor::new().expect("a line editor");
            (fresh, false)
        }
    }
}

async fn refresh_completions(client: &Client, completions: &Arc<Mutex<Completions>>) {
    let request = Request::Completions {
        session: client.session().to_string(),
    };
    if let Ok(Response::Completions {
        schemas,
        tables,
        columns,
        table_columns,
    }) = client.transport().request(request).await
    {
        let mut c = completions.lock().unwrap_or_else(|e| e.into_inner());
        c.schemas = schemas;
        c.tables = tables;
        c.columns = columns;
        c.table_columns = table_columns;
    }
}

fn finished_text(s: &crate::protocol::LoaderStatus) -> String {
    match s.state {
        JobState::Done => format!(
            "Background load of {} finished: {} rows.",
            s.table_name(),
            s.rows
        ),
        _ => format!("Background {}", crate::client::failure_text(s)),
    }
}

/// While the user sits at the prompt, announce the background loads of this client as
/// they finish, and the daemon's notices.
fn announce_background(editor: &mut Ed, client: &Client) {
    let Ok(mut printer) = editor.create_external_printer() else {
        return;
    };
    let mut events = client.transport().subscribe();
    let background = client.background.clone();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(crate::protocol::Event::Status(s)) if s.state.is_final() => {
                    let mine = {
                        let mut bg = background.lock().unwrap_or_else(|e| e.into_inner());
                        let before = bg.len();
                        bg.retain(|j| j.id != s.job_id);
                        bg.len() != before
                    };
                    if mine {
                        let _ = printer.print(finished_text(&s));
                    }
                }
                Ok(crate::protocol::Event::Notice { message }) => {
                    let _ = printer.print(format!("[unifyd] {message}"));
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    });
}
