//! The configuration an engine works from — specs and resolved connections, re-read
//! on demand — and what is built from it and kept across re-reads: one REST client (and
//! so one rate limiter and one OAuth token) per connection, one limiter per table that
//! sets its own `rate_limit`, one lock per table so two loads of it never overlap.

use super::{ConnectorObject, Engine};
use crate::adapters::catalog::Catalog;
use crate::adapters::connections::{self, Connection, ConnectionError};
use crate::adapters::rest::client::{Limiter, RestClient};
use crate::adapters::spec::TableSpec;
use crate::home::Home;
use std::sync::Arc;

/// Specs and connections, as read from disk at one moment.
#[derive(Debug, Default)]
pub struct Config {
    /// All usable specs.
    pub catalog: Catalog,
    /// Usable connections.
    pub connections: Vec<Arc<Connection>>,
    /// Connections that could not be used, each with its reason.
    pub errors: Vec<ConnectionError>,
}

impl Config {
    /// Read specs from `home/rest_specs` (over the bundled ones) and `connections.yaml`.
    pub fn load(home: &Home) -> Config {
        let catalog = Catalog::load(&home.specs_dir());
        Self::with_catalog(home, catalog)
    }

    /// Read `connections.yaml` against a given catalog.
    pub fn with_catalog(home: &Home, catalog: Catalog) -> Config {
        let env = |k: &str| connections::env_var(k);
        match connections::read_entries(&home.connections_file()) {
            Ok(read) => {
                let (connections, mut errors) =
                    connections::resolve_all(&read.entries, &catalog, &env);
                errors.extend(read.errors);
                Config {
                    catalog,
                    connections,
                    errors,
                }
            }
            Err(e) => Config {
                catalog,
                connections: Vec::new(),
                errors: vec![e],
            },
        }
    }

    /// The connection named `schema`.
    pub fn connection(&self, schema: &str) -> Option<&Arc<Connection>> {
        self.connections.iter().find(|c| c.schema == schema)
    }

    /// Why the connection named `schema` is configured but unusable, if it is.
    pub fn connection_error(&self, schema: &str) -> Option<&ConnectionError> {
        if self.connection(schema).is_some() {
            return None;
        }
        self.errors.iter().find(|e| e.schema() == Some(schema))
    }
}

impl Engine {
    /// The current configuration.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-read specs and connections from disk. Clients of changed connections are
    /// rebuilt on next use; unchanged ones keep their limiter and auth state (a cached
    /// or rotated OAuth token). Returns the new configuration.
    pub fn reload_config(&self) -> Arc<Config> {
        let fresh = Arc::new(Config::load(&self.home));
        self.install(fresh.clone());
        fresh
    }

    /// Replace the configuration (tests, `connect`).
    pub fn set_config(&self, config: Config) {
        self.install(Arc::new(config));
    }

    fn install(&self, fresh: Arc<Config>) {
        let old = std::mem::replace(
            &mut *self.config.write().unwrap_or_else(|e| e.into_inner()),
            fresh.clone(),
        );
        let unchanged = |schema: &str| match (old.connection(schema), fresh.connection(schema)) {
            (Some(a), Some(b)) => same_connection(a, b),
            _ => false,
        };
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|schema, _| unchanged(schema));
        self.table_limiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(schema, _), _| unchanged(schema));
    }

    /// What `schema.name` is in its connector, if anything.
    pub fn connector_object(&self, schema: &str, name: &str) -> Option<ConnectorObject> {
        let config = self.config();
        let conn = config.connection(schema)?;
        if let Some(t) = conn.spec.table(name) {
            return Some(ConnectorObject::Table(Box::new(t.clone())));
        }
        conn.spec
            .view(name)
            .map(|v| ConnectorObject::View(v.clone()))
    }

    /// The client of a connection (one per connection: its rate limit is shared by
    /// every job), and the table's own limiter when the table sets a `rate_limit`.
    pub(super) fn client(
        &self,
        conn: &Arc<Connection>,
        table: &TableSpec,
    ) -> (Arc<RestClient>, Option<Arc<Limiter>>) {
        let client = self
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(conn.schema.clone())
            .or_insert_with(|| Arc::new(RestClient::new(conn.clone())))
            .clone();
        let table_limit = table.rate_limit.map(|rl| {
            self.table_limiters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry((conn.schema.clone(), table.name.clone()))
                .or_insert_with(|| Arc::new(Limiter::new(Some(rl), None)))
                .clone()
        });
        (client, table_limit)
    }

    pub(super) fn table_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.table_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_string())
            .or_default()
            .clone()
    }
}

pub(super) fn error_names(err: &ConnectionError, schema: &str) -> bool {
    err.schema().is_none_or(|s| s == schema)
}

/// True when two configurations of a connection would build the same client: the same
/// spec (every key: fetches read headers, error paths… from the client's connection),
/// the same base URL and the same option values.
fn same_connection(a: &Connection, b: &Connection) -> bool {
    let options = |c: &Connection| -> Vec<(String, String)> {
        c.options
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_string()))
            .collect()
    };
    a.base_url == b.base_url
        && options(a) == options(b)
        && (Arc::ptr_eq(&a.spec, &b.spec) || format!("{:?}", a.spec) == format!("{:?}", b.spec))
}

/// Options whose values are secrets (typed without echo by `connect`).
pub fn is_secret_option(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    (l.contains("pass") || l.contains("secret") || l.contains("token") || l.ends_with("key"))
        && l != "access_key_id"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_the_same_only_when_its_whole_spec_is() {
        let conn = |spec: &str| {
            let mut catalog = crate::adapters::catalog::Catalog::default();
            catalog.add("<test>", spec, true);
            let entry = connections::ConnectionEntry {
                schema: "api".into(),
                connector: "api".into(),
                options: vec![("token".into(), "t0ken".into())],
            };
            connections::resolve(&entry, &catalog, &|_| None).unwrap()
        };
        let base = "name: api\nbase_url: http://127.0.0.1:1\ntables:\n  - name: t\n    resource_path: /t\n";
        assert!(same_connection(&conn(base), &conn(base)));
        let with_header = base.replace("tables:", "headers: {X-Api-Version: '2'}\ntables:");
        assert!(!same_connection(&conn(base), &conn(&with_header)));
    }
}
