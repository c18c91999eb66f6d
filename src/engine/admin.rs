//! Connecting APIs: the connectors on offer, trying a would-be connection, saving one
//! to `connections.yaml` and removing one with its tables.

use super::config::{error_names, is_secret_option};
use super::{AdminError, Engine};
use crate::adapters::connections::{self, ConnectionError};
use crate::adapters::rest::client::RestClient;
use crate::adapters::rest::params;
use crate::adapters::rest::{Fetch, FetchStats};
use crate::warehouse::{self, ScratchSql};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

impl Engine {
    /// The connectors `connect` offers, with the options each asks for.
    pub fn connector_infos(&self) -> Vec<crate::protocol::ConnectorInfo> {
        let config = self.config();
        config
            .catalog
            .specs()
            .map(|spec| {
                let mut options: Vec<(String, String, bool)> = spec
                    .auth
                    .params
                    .iter()
                    .map(|(k, d)| (k.clone(), d.clone(), is_secret_option(k)))
                    .collect();
                for name in placeholders(&spec.base_url) {
                    if !options.iter().any(|(k, _, _)| *k == name)
                        && !spec.auth.defaults.contains_key(&name)
                    {
                        options.push((name.clone(), format!("{name} in {}", spec.base_url), false));
                    }
                }
                crate::protocol::ConnectorInfo {
                    name: spec.name.clone(),
                    summary: spec
                        .help
                        .as_deref()
                        .and_then(|h| h.lines().map(str::trim).find(|l| !l.is_empty()))
                        .unwrap_or("")
                        .to_string(),
                    options,
                }
            })
            .collect()
    }

    /// Try a would-be connection: resolve it and fetch one page of its first table that
    /// needs no parent table. Returns a one-line summary.
    pub async fn test_connection(
        &self,
        entry: &crate::protocol::NewConnection,
    ) -> Result<String, AdminError> {
        let config = self.config();
        let raw = connections::ConnectionEntry {
            schema: entry.schema.clone(),
            connector: entry.connector.clone(),
            options: entry.options.clone(),
        };
        let env = |k: &str| connections::env_var(k);
        let conn = Arc::new(connections::resolve(&raw, &config.catalog, &env)?);
        let table = conn
            .spec
            .tables
            .iter()
            .find(|t| t.depends_on.is_empty() && !t.path.contains('{'))
            .or_else(|| conn.spec.tables.iter().find(|t| t.depends_on.is_empty()))
            .cloned()
            .ok_or_else(|| AdminError::NothingToFetch(conn.spec.name.clone()))?;
        // Expanding params may run DuckDB (a scratch database): off the async threads.
        let set = {
            let (conn, params) = (conn.clone(), table.params.clone());
            tokio::task::spawn_blocking(move || {
                let lookup = |k: &str| crate::adapters::rest::option_value(&conn, k);
                let scratch = ScratchSql::new().map_err(AdminError::Scratch)?;
                Ok::<_, AdminError>(params::expand(&params, &scratch, &lookup)?)
            })
            .await
            .map_err(|e| AdminError::Interrupted(e.to_string()))??
            .into_iter()
            .next()
            .unwrap_or_default()
        };
        let client = RestClient::new(conn.clone());
        let stats = FetchStats::default();
        let cancel = CancellationToken::new();
        let fetch = Fetch {
            client: &client,
            table: &table,
            cancel: &cancel,
            stats: &stats,
            table_limit: None,
        };
        let records = fetch.first_page(&set).await?;
        Ok(format!(
            "{}.{} answered with {} records",
            entry.schema,
            table.name,
            records.len()
        ))
    }

    /// Save a new connection (after checking it resolves) and start using it.
    pub fn add_connection(
        &self,
        entry: &crate::protocol::NewConnection,
    ) -> Result<String, AdminError> {
        let config = self.config();
        if config.connection(&entry.schema).is_some()
            || config.errors.iter().any(|e| {
                error_names(e, &entry.schema) && !matches!(e, ConnectionError::File { .. })
            })
        {
            return Err(AdminError::Taken(entry.schema.clone()));
        }
        let raw = connections::ConnectionEntry {
            schema: entry.schema.clone(),
            connector: entry.connector.clone(),
            options: entry.options.clone(),
        };
        let env = |k: &str| connections::env_var(k);
        connections::resolve(&raw, &config.catalog, &env)?;
        let file = self.home.connections_file();
        connections::append_entry(&file, &raw).map_err(|source| AdminError::File {
            doing: "writing",
            file: file.clone(),
            source,
        })?;
        let fresh = self.reload_config();
        let conn = self.warehouse.connect()?;
        warehouse::ensure_schema(&conn, &entry.schema)?;
        let tables = fresh
            .connection(&entry.schema)
            .map(|c| c.spec.tables.len())
            .unwrap_or(0);
        Ok(format!(
            "New {} connection created in schema {} ({tables} tables)",
            entry.connector, entry.schema
        ))
    }

    /// Remove a connection from the file and drop its schema with all its tables.
    pub fn remove_connection(&self, schema: &str) -> Result<String, AdminError> {
        let file = self.home.connections_file();
        let removed =
            connections::remove_entry(&file, schema).map_err(|source| AdminError::File {
                doing: "editing",
                file: file.clone(),
                source,
            })?;
        if !removed {
            return Err(AdminError::NoSuchConnection {
                schema: schema.to_string(),
                file,
            });
        }
        let conn = self.warehouse.connect()?;
        warehouse::drop_schema(&conn, schema)?;
        self.reload_config();
        Ok(format!("Removed connection '{schema}' and its tables"))
    }
}

/// `${name}` placeholders in a template.
fn placeholders(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        out.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    out
}
