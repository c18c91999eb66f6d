//! Every message exchanged between `unify` and `unifyd` (ARCHITECTURE §6), used by
//! both binaries and by the in-process transport, so they cannot drift apart.
//!
//! Frames are JSON. Requests go over a DEALER→ROUTER socket and each carries an id the
//! reply repeats; [`LoaderStatus`] events go out on a PUB socket with the topic
//! `job.<id>` (clients subscribe to `job.` for all jobs).

use serde::{Deserialize, Serialize};

/// The version of both binaries (and so of this protocol).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Identifies one build of an executable: its size and modification time. A client
/// compares the running daemon's (taken when it started) with the `unifyd` file it would
/// start now, so a rebuilt or upgraded daemon binary is noticed.
pub fn build_id(exe: &std::path::Path) -> String {
    match std::fs::metadata(exe) {
        Ok(m) => {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{VERSION}-{}-{mtime}", m.len())
        }
        Err(_) => VERSION.to_string(),
    }
}

/// The build of the running process, taken the first time it is asked (the daemon asks
/// at start, before its binary could be replaced).
pub fn running_build() -> &'static str {
    static BUILD: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILD.get_or_init(|| match std::env::current_exe() {
        Ok(exe) => build_id(&exe),
        Err(_) => VERSION.to_string(),
    })
}

/// What a loader job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// First load of a table (a full download).
    Load,
    /// Run the table's refresh strategy (reload or updates).
    Refresh,
    /// Full re-download, replacing the table.
    Reload,
    /// Cancel another job.
    Cancel,
}

impl Action {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Load => "load",
            Action::Refresh => "refresh",
            Action::Reload => "reload",
            Action::Cancel => "cancel",
        }
    }

    /// Parse the lower-case name.
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "load" => Action::Load,
            "refresh" => Action::Refresh,
            "reload" => Action::Reload,
            "cancel" => Action::Cancel,
            _ => return None,
        })
    }
}

/// Who asked for a job; interactive requests run before scheduled refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Requester {
    /// A user statement.
    User,
    /// The scheduler.
    Scheduler,
}

/// A unit of loading work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoaderJob {
    /// Unique id.
    pub id: String,
    /// The unify home / tenant this job belongs to.
    pub tenant: String,
    /// What to do.
    pub action: Action,
    /// Schema (connection) of the table.
    pub schema: String,
    /// Table name.
    pub table: String,
    /// Who asked.
    pub requested_by: Requester,
    /// When it was queued (RFC 3339).
    pub enqueued_at: String,
}

/// Life-cycle of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting in the queue.
    Queued,
    /// A worker is running it.
    Running,
    /// Finished; the table holds the new data.
    Done,
    /// Finished with an error; the previous data is untouched.
    Failed,
    /// Cancelled; the previous data is untouched.
    Cancelled,
}

impl JobState {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Parse the lower-case name.
    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }

    /// True for done, failed and cancelled.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled
        )
    }
}

/// Progress and outcome of a job: feeds both the log and the PUB stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoaderStatus {
    /// The job.
    pub job_id: String,
    /// Its schema.
    pub schema: String,
    /// Its table.
    pub table: String,
    /// Its state.
    pub state: JobState,
    /// Pages fetched so far.
    pub pages: u64,
    /// Rows written so far.
    pub rows: u64,
    /// Milliseconds since the job started running.
    pub elapsed_ms: u64,
    /// The error, for failed jobs (secrets redacted).
    pub error: Option<String>,
}

impl LoaderStatus {
    /// `schema.table`.
    pub fn table_name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

/// A result table, with cells as JSON values (numbers stay numbers).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResultTable {
    /// Column names.
    pub columns: Vec<String>,
    /// DuckDB type names of the columns (for alignment and formatting).
    pub types: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// One piece of a statement's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "lowercase")]
pub enum Output {
    /// A result table (stdout).
    Table(ResultTable),
    /// Text for a person, e.g. help or the value a variable was set to (stdout in the
    /// human formats, stderr in csv/json/jsonl).
    Text(String),
    /// One named value, e.g. a variable's (its text in the human formats, a one-row
    /// result in csv/json/jsonl).
    Value {
        /// The name (the column of the one-row result).
        name: String,
        /// The value.
        value: serde_json::Value,
    },
    /// Information for the user (stderr).
    Message(String),
}

/// A job a statement waits for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRef {
    /// Job id.
    pub id: String,
    /// `schema.table`.
    pub table: String,
    /// What the job does.
    pub action: Action,
}

/// What the client does after the jobs of a [`Reply`] finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AfterJobs {
    /// Run the same statement again (its tables are now loaded).
    Rerun,
    /// Report the outcome of the jobs; the statement is complete.
    Report,
}

/// The answer to one statement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Output in order.
    pub outputs: Vec<Output>,
    /// The statement failed with this message (one clear line first).
    pub error: Option<String>,
    /// Jobs to wait for before the statement is complete.
    pub wait: Vec<JobRef>,
    /// What to do once they finish.
    pub after: Option<AfterJobs>,
    /// The statement asks the client to exit.
    pub exit: bool,
    /// The last table of `outputs` holds only the first rows of its result: ask for the
    /// rest with [`Request::Fetch`] and this cursor, until [`Response::Rows`] says no
    /// more follow. Large results travel in bounded chunks, read as they are sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more: Option<String>,
}

impl Reply {
    /// A failed statement.
    pub fn error(message: impl Into<String>) -> Reply {
        Reply {
            error: Some(message.into()),
            ..Default::default()
        }
    }
}

/// A request from a client to the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Run one statement in a session.
    Execute {
        /// Session id (sessions hold variables and recent tables).
        session: String,
        /// The statement text.
        text: String,
    },
    /// The next rows of a result whose reply named `cursor` in [`Reply::more`].
    Fetch {
        /// Session id.
        session: String,
        /// The cursor.
        cursor: String,
    },
    /// Interrupt the statement running in a session.
    Interrupt {
        /// Session id.
        session: String,
    },
    /// End a session (its temporary state is dropped).
    CloseSession {
        /// Session id.
        session: String,
    },
    /// Current state of jobs.
    JobStatus {
        /// Job ids.
        ids: Vec<String>,
    },
    /// Names for tab completion.
    Completions {
        /// Session id.
        session: String,
    },
    /// Is the daemon there? Answers with its pid.
    Ping,
    /// Values of the environment variables the connections read (`$NAME` options), as
    /// the client sees them: a variable exported after the daemon started is used.
    SetEnv {
        /// (name, value) pairs.
        vars: Vec<(String, EnvValue)>,
    },
    /// The connectors available and the connections configured (for `connect`).
    Connectors,
    /// Try a connection without saving it: one request to one of its tables.
    TestConnection {
        /// The would-be connection.
        entry: NewConnection,
    },
    /// Save a connection to `connections.yaml` and start using it.
    AddConnection {
        /// The connection.
        entry: NewConnection,
    },
    /// Remove a connection from `connections.yaml` and drop its schema.
    RemoveConnection {
        /// The connection's schema.
        schema: String,
    },
}

/// An environment variable's value on its way to the daemon: it may be a secret, so its
/// `Debug` prints `***`. It travels only over the daemon's private socket.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EnvValue(pub String);

impl std::fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A connection being created by `connect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewConnection {
    /// Schema name.
    pub schema: String,
    /// Connector (spec) name.
    pub connector: String,
    /// Option values as typed (`$NAME` allowed).
    pub options: Vec<(String, String)>,
}

/// What `connect` needs to know about a connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorInfo {
    /// Connector name.
    pub name: String,
    /// First line of its help.
    pub summary: String,
    /// Options to ask for: (name, description, secret?).
    pub options: Vec<(String, String, bool)>,
}

/// An answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// The reply to `Execute`.
    Reply(Reply),
    /// The reply to `Fetch`.
    Rows {
        /// The next rows.
        rows: Vec<Vec<serde_json::Value>>,
        /// More rows follow.
        more: bool,
    },
    /// The reply to `JobStatus`.
    Jobs {
        /// One status per known id.
        jobs: Vec<LoaderStatus>,
    },
    /// The reply to `Completions`.
    Completions {
        /// Schema names.
        schemas: Vec<String>,
        /// `schema.table` names (loaded or not).
        tables: Vec<String>,
        /// Column names of loaded tables.
        columns: Vec<String>,
        /// The columns of each loaded table, by `schema.table`.
        #[serde(default)]
        table_columns: std::collections::BTreeMap<String, Vec<String>>,
    },
    /// The reply to `Ping`.
    Pong {
        /// The daemon's pid.
        pid: u32,
        /// The daemon's home.
        home: String,
        /// The daemon's version ([`VERSION`]); empty from daemons older than the field.
        #[serde(default)]
        version: String,
        /// The daemon's build ([`running_build`]).
        #[serde(default)]
        build: String,
        /// Jobs running in the daemon now.
        #[serde(default)]
        running: usize,
        /// Client sessions busy now or used recently.
        #[serde(default)]
        sessions: usize,
    },
    /// The reply to `Connectors`.
    Connectors {
        /// Available connectors, sorted by name.
        connectors: Vec<ConnectorInfo>,
        /// Configured connections: (schema, connector).
        connections: Vec<(String, String)>,
    },
    /// Success, with a message for the user.
    Done {
        /// What happened.
        message: String,
    },
    /// Done, nothing to report.
    Ok,
    /// The request could not be handled.
    Error {
        /// Why.
        message: String,
    },
}

/// What the daemon publishes on its PUB socket (and the in-process host on its
/// broadcast channel). Best-effort: a late or slow subscriber misses events, so the
/// state of a job is always asked for by request too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A job changed state or made progress.
    Status(LoaderStatus),
    /// Something every client should hear (configuration reloaded, daemon stopping).
    Notice {
        /// The message.
        message: String,
    },
}

impl Event {
    /// The PUB topic: `job.<id>` for job status, `notice` otherwise.
    pub fn topic(&self) -> String {
        match self {
            Event::Status(s) => format!("job.{}", s.job_id),
            Event::Notice { .. } => "notice".into(),
        }
    }
}
