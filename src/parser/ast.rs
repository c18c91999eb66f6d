//! The statements of the unify command language.
//!
//! [`Statement`] is the one list of commands: the parser produces it, the interpreter
//! executes it, and `help` is generated from [`Statement::help_lines`]. Every type here is
//! serde-serializable because statements may travel from the client to the daemon.

use serde::{Deserialize, Serialize};

/// The result of parsing one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parsed {
    /// What to run.
    pub statement: Statement,
    /// The text ended with `!`: print results at full width instead of truncating cells.
    pub wide: bool,
}

/// A table name, optionally qualified by its schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TableRef {
    /// The schema, when written `schema.table`.
    pub schema: Option<String>,
    /// The table name.
    pub table: String,
}

/// How a write treats an existing target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WriteMode {
    /// Replace the existing target.
    Overwrite,
    /// Add rows to the existing target.
    Append,
}

/// Options of `import`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportOptions {
    /// `skip N`: rows to skip before the data.
    pub skip: Option<u64>,
    /// `header N`: index of the header row.
    pub header: Option<u64>,
}

/// Where `export` and `>>` write to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileTarget {
    /// The connector that writes (e.g. `gsheets`); `None` means the local `files` connector.
    pub connector: Option<String>,
    /// The file name.
    pub file: FileRef,
}

/// A file name: literal or computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileRef {
    /// A literal name or path (quotes removed).
    Path(String),
    /// A SQL expression evaluated to get the name: the text between the outer parens.
    Expr(String),
}

/// Which jobs `system cancel` cancels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CancelTarget {
    /// `system cancel all`.
    All,
    /// `system cancel <job-id>`.
    Job(String),
}

/// A `system …` command (the loader daemon).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SystemCommand {
    /// `system status`: the daemon's state and its queued/running jobs.
    Status,
    /// `system stop daemon`.
    StopDaemon,
    /// `system restart daemon`.
    RestartDaemon,
    /// `system cancel <job-id>|all`.
    Cancel(CancelTarget),
    /// `system reload`: re-read connector specs and connections.
    Reload,
}

/// One statement of the unify command language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Statement {
    /// Plain SQL for DuckDB, text untouched apart from surrounding whitespace and `;`.
    Sql {
        /// The SQL text.
        sql: String,
    },
    /// `!<sql>`: SQL sent to DuckDB verbatim, bypassing unify.
    RawSql {
        /// The SQL text after the `!`.
        sql: String,
    },
    /// `help [<topic>]`.
    Help {
        /// The topic word, as typed.
        topic: Option<String>,
    },
    /// `show schemas`.
    ShowSchemas,
    /// `show tables [from <schema>] [like '<pattern>']`.
    ShowTables {
        /// Only the tables of this schema.
        schema: Option<String>,
        /// Only the tables matching this pattern.
        like: Option<String>,
    },
    /// `show columns [from <table>] [like '<pattern>']`.
    ShowColumns {
        /// Only the columns of this table.
        table: Option<TableRef>,
        /// Only the columns matching this pattern.
        like: Option<String>,
    },
    /// `show connections`.
    ShowConnections,
    /// `show variables`.
    ShowVariables,
    /// `show files [from <connection>] [like '<pattern>']`.
    ShowFiles {
        /// The connection listing files (default `files`).
        schema: Option<String>,
        /// Only the files matching this pattern.
        like: Option<String>,
    },
    /// `describe [<schema>|<schema>.<table>]`; an unqualified name may be a schema.
    Describe {
        /// What to describe; `None` lists schemas.
        target: Option<TableRef>,
    },
    /// `peek [at] <table> [N]`.
    Peek {
        /// The table to peek at.
        table: TableRef,
        /// How many rows.
        rows: Option<u64>,
    },
    /// `peek file '<path>'|<url> [N]`.
    PeekFile {
        /// The file path or URL, quotes removed.
        path: String,
        /// How many rows.
        rows: Option<u64>,
    },
    /// `count <table>`.
    Count {
        /// The table to count.
        table: TableRef,
    },
    /// `??`: column info of the tables referenced by the previous statement.
    HelpLast,
    /// `$name = <expr>`.
    SetVariable {
        /// The variable name without `$`.
        name: String,
        /// The expression or query, trimmed and untouched.
        expr: String,
    },
    /// `$name`.
    ShowVariable {
        /// The variable name without `$`.
        name: String,
    },
    /// `unset $name`.
    UnsetVariable {
        /// The variable name without `$`.
        name: String,
    },
    /// `import '<path>'|<url> [into <table>] [overwrite|append] [skip N] [header N]`.
    Import {
        /// The file path or URL, quotes removed.
        source: String,
        /// The table to import into (default: derived from the file name).
        target: Option<TableRef>,
        /// What to do with an existing target table.
        mode: Option<WriteMode>,
        /// Reader options.
        options: ImportOptions,
    },
    /// `export <table> to [<connector>] '<file>'|<name>|(<expr>) [overwrite|append]`.
    Export {
        /// The table to export.
        source: TableRef,
        /// Where to write.
        target: FileTarget,
        /// What to do with an existing target.
        mode: Option<WriteMode>,
    },
    /// `<select> >> [<connector>] '<file>'|(<expr>) [overwrite|append]`.
    SelectInto {
        /// The query before `>>`, trimmed.
        query: String,
        /// Where to write.
        target: FileTarget,
        /// What to do with an existing target.
        mode: Option<WriteMode>,
    },
    /// `refresh table <table>`: fetch new and changed rows from the source.
    RefreshTable {
        /// The table to refresh.
        table: TableRef,
    },
    /// `reload table <table>`: reload the whole table from the source.
    ReloadTable {
        /// The table to reload.
        table: TableRef,
    },
    /// `clear table <table>`: remove all rows.
    ClearTable {
        /// The table to clear.
        table: TableRef,
    },
    /// `drop table [if exists] <table>`.
    DropTable {
        /// The table to drop.
        table: TableRef,
        /// `if exists` was given.
        if_exists: bool,
    },
    /// `drop schema [if exists] <schema> [cascade]`.
    DropSchema {
        /// The schema to drop.
        schema: String,
        /// `if exists` was given.
        if_exists: bool,
        /// `cascade` was given.
        cascade: bool,
    },
    /// `alter table <table> rename to <name>`.
    RenameTable {
        /// The table to rename.
        table: TableRef,
        /// The new, unqualified name.
        new_name: String,
    },
    /// `<schema> help`: a command handled by the connection's connector.
    ConnectorCommand {
        /// The schema (connection) name.
        schema: String,
        /// The command word(s) after the schema.
        command: String,
    },
    /// `system …`.
    System(SystemCommand),
    /// `connect`: the new-connection wizard.
    Connect,
    /// `delete connection [<name>]`.
    DeleteConnection {
        /// The connection's schema; `None` asks interactively.
        schema: Option<String>,
    },
    /// `exit` or `quit`.
    Exit,
    /// `format <name>`: the result format of this session (handled by the client).
    SetFormat {
        /// The format's name, as typed.
        format: String,
    },
    /// `timing on|off`: print how long each statement took (handled by the client).
    Timing {
        /// On or off.
        on: bool,
    },
}

impl Statement {
    /// One `(syntax, description)` line per command, in the order `help` shows them.
    pub fn help_lines() -> Vec<(&'static str, &'static str)> {
        HELP_LINES.to_vec()
    }

    /// Whether this statement is plain SQL (with or without the raw `!` prefix).
    pub fn is_sql(&self) -> bool {
        matches!(self, Statement::Sql { .. } | Statement::RawSql { .. })
    }
}

/// The help table; `parser::mod` also uses it for the usage hint of error messages.
pub(crate) const HELP_LINES: &[(&str, &str)] = &[
    (
        "help [<topic>]",
        "show this list, or help on a topic: schemas, import, export, variables",
    ),
    ("show schemas", "list the schemas in the database"),
    (
        "show tables [from <schema>] [like '<pattern>']",
        "list all tables, or those of a schema",
    ),
    (
        "show columns [from <table>] [like '<pattern>']",
        "list all columns, or those of a table",
    ),
    (
        "show connections",
        "list all connections; use 'connect' to create one",
    ),
    ("show variables", "list all defined variables"),
    (
        "show files [from <connection>] [like '<pattern>']",
        "list files on the file system or of a connection",
    ),
    (
        "describe [<schema>|<schema>.<table>]",
        "list schemas, the tables of a schema, or the columns of a table",
    ),
    (
        "peek [at] <table> [<rows>]",
        "show the most interesting columns of a table",
    ),
    (
        "peek file '<path>'|<url> [<rows>]",
        "show the first rows of a file",
    ),
    ("count <table>", "returns count of rows in a table"),
    (
        "??",
        "show column info for the tables referenced in the most recent query",
    ),
    (
        "$<var> = <expr>",
        "set a variable; upper-case names are global and persist",
    ),
    ("$<var>", "show the value of a variable"),
    ("unset $<var>", "remove a variable"),
    (
        "import '<path>'|<url> [into <table>] [overwrite|append] [skip <n>] [header <n>]",
        "import a CSV, Parquet, JSON or NDJSON file as a table",
    ),
    (
        "export <table> to [<connector>] '<file>'|(<expr>) [overwrite|append]",
        "export a table to a CSV, Parquet, JSON or NDJSON file",
    ),
    (
        "<select> >> [<connector>] '<file>'|(<expr>) [overwrite|append]",
        "export the result of a query to a file",
    ),
    (
        "refresh table <table>",
        "update the rows of a table from its source",
    ),
    (
        "reload table <table>",
        "reload the entire table from its source",
    ),
    ("clear table <table>", "remove all rows from a table"),
    (
        "drop table [if exists] <table>",
        "remove a table from the database",
    ),
    (
        "drop schema [if exists] <schema> [cascade]",
        "remove an entire schema from the database",
    ),
    ("alter table <table> rename to <name>", "rename a table"),
    (
        "<connection> help",
        "show the help of the connection's connector",
    ),
    (
        "system status",
        "show the loader daemon's state and its queued and running jobs",
    ),
    ("system stop daemon", "stop the loader daemon"),
    ("system restart daemon", "restart the loader daemon"),
    (
        "system cancel <job>|all",
        "cancel a loading job, or all of them",
    ),
    ("system reload", "reload connector specs and connections"),
    ("connect", "connect to a new system"),
    (
        "delete connection [<name>]",
        "delete a connection and all its data",
    ),
    (
        "<sql>",
        "run SQL; connector tables it references are loaded first",
    ),
    ("!<sql>", "send SQL to the database unchanged"),
    ("<statement>!", "print the results at full width"),
    (
        "format table|csv|json|jsonl|markdown|line",
        "switch the result format of this session",
    ),
    ("timing on|off", "show how long each statement takes"),
    ("exit | quit", "exit the application"),
];
