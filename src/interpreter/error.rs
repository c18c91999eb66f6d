//! Why a statement failed. The shell shows the message (one line first, naming the fix);
//! the kind tells what failed: the statement as written, DuckDB, or job control.

use crate::actors::ControlError;
use crate::warehouse::WarehouseError;

/// Why a statement failed.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// The statement names something that is not there, or asks for what is not
    /// allowed (unknown table or variable, a file that exists, a bad option).
    #[error("{0}")]
    Usage(String),
    /// DuckDB refused or failed the statement; worded by [`super::sql::db_error`]
    /// (an out-of-memory error names the setting to raise).
    #[error("{0}")]
    Sql(String),
    /// unify's own bookkeeping in the warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    /// Loading or the daemon's job control failed.
    #[error(transparent)]
    Control(#[from] ControlError),
}

impl From<String> for ShellError {
    fn from(message: String) -> Self {
        ShellError::Usage(message)
    }
}

impl From<&str> for ShellError {
    fn from(message: &str) -> Self {
        ShellError::Usage(message.to_string())
    }
}

impl From<duckdb::Error> for ShellError {
    fn from(e: duckdb::Error) -> Self {
        ShellError::Sql(super::sql::db_error(&e))
    }
}
