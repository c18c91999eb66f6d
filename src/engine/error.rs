//! Why a load failed.

use crate::adapters::rest::client::FetchError;
use crate::adapters::rest::params::ParamError;
use crate::warehouse::staging::WriteError;
use crate::warehouse::WarehouseError;

/// Why connecting an API (`connect`) or removing one failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The would-be connection does not resolve (connector, options, variables).
    #[error(transparent)]
    Connection(#[from] crate::adapters::connections::ConnectionError),
    /// Every table of the connector needs a parent table's rows.
    #[error("connector {0} has no table that can be fetched on its own")]
    NothingToFetch(String),
    /// The test table's params could not be expanded.
    #[error(transparent)]
    Params(#[from] ParamError),
    /// The test request failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The scratch database for `sql@` params could not be opened.
    #[error("{0}")]
    Scratch(String),
    /// The warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    /// The schema name is taken.
    #[error("Schema name must be unique: '{0}' is already a connection")]
    Taken(String),
    /// `delete connection` of a name the file does not have.
    #[error("no connection named '{schema}' in {}", file.display())]
    NoSuchConnection {
        /// The name asked for.
        schema: String,
        /// The connections file.
        file: std::path::PathBuf,
    },
    /// The connections file could not be written.
    #[error("{doing} {}: {source}", file.display())]
    File {
        /// `writing` or `editing`.
        doing: &'static str,
        /// The connections file.
        file: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The blocking task running the test was lost (a panic, or shutdown).
    #[error("testing the connection was interrupted: {0}")]
    Interrupted(String),
}

/// Why the engine could not open its home.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The home's directories could not be created.
    #[error("creating the unify home {}: {source}", path.display())]
    Home {
        /// The home.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The warehouse could not be opened.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
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

/// Why a load failed, given what the fetch and the writer each reported (at least one
/// of them failed). A fetch that stopped because the writer stopped taking pages is
/// explained by the writer's own error, never reported as a cancel.
pub(super) fn failure_cause(
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

#[cfg(test)]
mod tests {
    use super::*;

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
