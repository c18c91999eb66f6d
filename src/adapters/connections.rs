//! Connections: `connections.yaml` → [`Connection`]s.
//!
//! The file is the original tool's format — a list of single-key maps whose key is the
//! connection (= schema) name, with `connector:` (or the older `adapter:`) and
//! `options:` — and a plain mapping of the same entries is accepted too. An option value
//! `$NAME` is read from the environment; a missing variable fails that connection only,
//! naming the variable. Auth values end up in [`Credentials`] as [`Secret`]s.

use super::catalog::Catalog;
use super::rest::auth::{ClientAuth, Credentials, OAuth2Config};
use super::spec::{AuthKind, AuthSpec, Spec};
use super::yaml::{self, Problems};
use crate::secret::{self, Secret};
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// One entry of `connections.yaml`, before resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionEntry {
    /// Connection name = schema name.
    pub schema: String,
    /// The spec it uses.
    pub connector: String,
    /// Raw option values (`$NAME` not yet resolved).
    pub options: Vec<(String, String)>,
}

/// A usable connection: a schema bound to a spec with resolved credentials.
#[derive(Debug)]
pub struct Connection {
    /// Schema name in the warehouse.
    pub schema: String,
    /// The connector spec.
    pub spec: Arc<Spec>,
    /// `base_url` with `${option}` placeholders filled.
    pub base_url: String,
    /// How requests authenticate.
    pub credentials: Credentials,
    /// Resolved option values, for `${name}` in params, paths and headers.
    pub options: BTreeMap<String, Secret>,
}

/// Why a connection could not be used. Each names the connection.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ConnectionError {
    /// The file is not a list/mapping of connections.
    #[error("{file}: {message}")]
    File {
        /// The connections file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The connector named by the entry does not exist.
    #[error("connection '{schema}': unknown connector '{connector}' (available: {available})")]
    UnknownConnector {
        /// Connection name.
        schema: String,
        /// The missing connector.
        connector: String,
        /// Known connector names.
        available: String,
    },
    /// The connector exists as a spec file that does not load.
    #[error("connection '{schema}': its connector spec '{connector}' does not load: {problems} (fix the spec; `unify spec check FILE` lists every problem)")]
    BrokenConnector {
        /// Connection name.
        schema: String,
        /// The broken connector.
        connector: String,
        /// The spec's problems: file, key and what is wrong.
        problems: String,
    },
    /// An option refers to an unset environment variable.
    #[error("Authentication for {schema} failed, missing env var '{var}'")]
    MissingEnv {
        /// Connection name.
        schema: String,
        /// The variable.
        var: String,
    },
    /// A required auth parameter has no value.
    #[error("Cannot validate auth for connection '{schema}' ({connector}): missing required auth parameter: {param}")]
    MissingParam {
        /// Connection name.
        schema: String,
        /// Connector name.
        connector: String,
        /// The parameter.
        param: String,
    },
    /// Anything else wrong with an entry.
    #[error("connection '{schema}': {message}")]
    Invalid {
        /// Connection name.
        schema: String,
        /// What is wrong.
        message: String,
    },
}

impl ConnectionError {
    /// The connection this error is about (`None` for the whole file).
    pub fn schema(&self) -> Option<&str> {
        match self {
            ConnectionError::UnknownConnector { schema, .. }
            | ConnectionError::BrokenConnector { schema, .. }
            | ConnectionError::MissingEnv { schema, .. }
            | ConnectionError::MissingParam { schema, .. }
            | ConnectionError::Invalid { schema, .. } => Some(schema),
            ConnectionError::File { .. } => None,
        }
    }
}

/// Values given for `$NAME` options by the clients (`unify` sends the variables its
/// connections use): a variable exported after the daemon started is still seen.
static ENV_OVERRIDES: std::sync::RwLock<BTreeMap<String, String>> =
    std::sync::RwLock::new(BTreeMap::new());

/// The value of environment variable `name` for `$NAME` options: as a client last gave
/// it, else this process's environment.
pub fn env_var(name: &str) -> Option<String> {
    let overrides = ENV_OVERRIDES.read().unwrap_or_else(|e| e.into_inner());
    overrides
        .get(name)
        .cloned()
        .or_else(|| std::env::var(name).ok())
}

/// Record variables a client gave; true when any value is new or changed.
pub fn set_env(vars: &[(String, String)]) -> bool {
    let mut changed = false;
    for (k, v) in vars {
        changed |= env_var(k).as_deref() != Some(v.as_str());
        ENV_OVERRIDES
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(k.clone(), v.clone());
    }
    changed
}

/// The environment variables the connections of `path` read (`$NAME` option values),
/// with their values in this process's environment (unset ones are left out).
pub fn referenced_env(path: &Path) -> Vec<(String, String)> {
    let Ok(read) = read_entries(path) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for entry in &read.entries {
        for (_, raw) in &entry.options {
            if let Some(var) = env_reference(raw) {
                if let Ok(value) = std::env::var(var) {
                    if !out.iter().any(|(k, _)| k == var) {
                        out.push((var.to_string(), value));
                    }
                }
            }
        }
    }
    out
}

/// `NAME` when an option value is `$NAME` (an environment variable reference).
pub fn env_reference(raw: &str) -> Option<&str> {
    raw.strip_prefix('$')
        .filter(|var| !var.is_empty() && !var.starts_with('{'))
}

/// Entries read from a connections file, and the entries that are malformed (each
/// reported against its own connection; the others still work).
#[derive(Debug, Default)]
pub struct Entries {
    /// Well-formed entries.
    pub entries: Vec<ConnectionEntry>,
    /// One error per malformed entry.
    pub errors: Vec<ConnectionError>,
}

/// Read `connections.yaml` entries. A missing file means no connections; a file that
/// is not YAML (or not a list/mapping of connections) is one error for all.
pub fn read_entries(path: &Path) -> Result<Entries, ConnectionError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Entries::default()),
        Err(e) => {
            return Err(ConnectionError::File {
                file: path.display().to_string(),
                message: format!("cannot read: {e}"),
            })
        }
    };
    parse_entries(&path.display().to_string(), &text)
}

/// Parse the text of a connections file.
pub fn parse_entries(file: &str, text: &str) -> Result<Entries, ConnectionError> {
    let root: Value = serde_yaml::from_str(text).map_err(|e| ConnectionError::File {
        file: file.to_string(),
        message: format!("not valid YAML: {e}"),
    })?;
    let mut p = Problems::new(file);
    let mut pairs: Vec<(String, Value)> = Vec::new();
    match &root {
        Value::Null => {}
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(m) = yaml::as_map(item, &format!("[{i}]"), &mut p) {
                    pairs.extend(m);
                }
            }
        }
        Value::Mapping(_) => {
            if let Some(m) = yaml::as_map(&root, "", &mut p) {
                pairs.extend(m);
            }
        }
        other => p.push(
            "",
            format!(
                "expected a list of connections, found {}",
                yaml::kind(other)
            ),
        ),
    }
    if !p.is_empty() {
        return Err(ConnectionError::File {
            file: file.to_string(),
            message: p
                .list
                .iter()
                .map(|x| format!("{}: {}", x.path, x.message))
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    let mut out = Entries::default();
    for (schema, body) in pairs {
        let mut p = Problems::new(file);
        if let Some(entry) = parse_entry(&schema, &body, &mut p) {
            if p.is_empty() {
                out.entries.push(entry);
                continue;
            }
        }
        out.errors.push(ConnectionError::Invalid {
            schema,
            message: p
                .list
                .iter()
                .map(|x| format!("{file}: {}: {}", x.path, x.message))
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    Ok(out)
}

fn parse_entry(schema: &str, body: &Value, p: &mut Problems) -> Option<ConnectionEntry> {
    let m = yaml::as_map(body, schema, p)?;
    let get = |k: &str| m.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let connector = match get("connector").or_else(|| get("adapter")) {
        Some(v) => yaml::get_string(v, &format!("{schema}.connector"), p),
        None => {
            p.push(schema, "missing 'connector:' (the spec name to use)");
            None
        }
    };
    let mut options = Vec::new();
    if let Some(ov) = get("options") {
        if let Some(om) = yaml::as_map(ov, &format!("{schema}.options"), p) {
            for (k, v) in om {
                match yaml::scalar_string(&v) {
                    Some(s) => options.push((k, s)),
                    None if v.is_null() => options.push((k, String::new())),
                    None => p.push(
                        &format!("{schema}.options.{k}"),
                        format!("expected a single value, found {}", yaml::kind(&v)),
                    ),
                }
            }
        }
    }
    Some(ConnectionEntry {
        schema: schema.to_string(),
        connector: connector?,
        options,
    })
}

/// Resolve every entry against the catalog: usable connections and per-entry errors.
pub fn resolve_all(
    entries: &[ConnectionEntry],
    catalog: &Catalog,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Vec<Arc<Connection>>, Vec<ConnectionError>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for entry in entries {
        if !seen.insert(entry.schema.clone()) {
            errors.push(ConnectionError::Invalid {
                schema: entry.schema.clone(),
                message: "defined more than once; the first definition is used".into(),
            });
            continue;
        }
        match resolve(entry, catalog, env) {
            Ok(c) => ok.push(Arc::new(c)),
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

/// Resolve one entry: env vars, required params, credentials, base URL.
pub fn resolve(
    entry: &ConnectionEntry,
    catalog: &Catalog,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Connection, ConnectionError> {
    let schema = entry.schema.clone();
    if !super::spec::is_identifier(&schema) || is_reserved_schema(&schema) {
        return Err(ConnectionError::Invalid {
            schema,
            message: "a connection name must be a plain identifier and not one of main, files, unify, information_schema, pg_catalog, temp, system".into(),
        });
    }
    let spec = connector_of(entry, catalog)?;
    let options = expand_env(entry, env)?;
    let values = Values {
        schema: &schema,
        connector: &spec.name,
        options: &options,
        auth: &spec.auth,
    };
    for (param, _) in &spec.auth.params {
        values.need(param)?;
    }
    let credentials = credentials(&values, env)?;
    let base_url = fill(&spec.base_url, &|k: &str| values.get(k)).map_err(|missing| {
        ConnectionError::Invalid {
            schema: schema.clone(),
            message: format!("base_url {} needs option '{missing}'", spec.base_url),
        }
    })?;
    Ok(Connection {
        schema,
        spec,
        base_url: base_url.trim_end_matches('/').to_string(),
        credentials,
        options: options
            .into_iter()
            .map(|(k, v)| (k, Secret::new(v)))
            .collect(),
    })
}

/// The spec an entry's `connector` names, or why it cannot be used.
fn connector_of(entry: &ConnectionEntry, catalog: &Catalog) -> Result<Arc<Spec>, ConnectionError> {
    catalog
        .get(&entry.connector)
        .ok_or_else(|| match catalog.broken(&entry.connector) {
            Some(problems) => ConnectionError::BrokenConnector {
                schema: entry.schema.clone(),
                connector: entry.connector.clone(),
                problems: problems.to_string(),
            },
            None => ConnectionError::UnknownConnector {
                schema: entry.schema.clone(),
                connector: entry.connector.clone(),
                available: catalog.names().join(", "),
            },
        })
}

/// The entry's options with every `$VAR` replaced by its value from `env`.
fn expand_env(
    entry: &ConnectionEntry,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, ConnectionError> {
    let mut options = BTreeMap::new();
    for (k, raw) in &entry.options {
        let value = match env_reference(raw) {
            Some(var) => env(var).ok_or_else(|| ConnectionError::MissingEnv {
                schema: entry.schema.clone(),
                var: var.to_string(),
            })?,
            None => raw.clone(),
        };
        options.insert(k.clone(), value);
    }
    Ok(options)
}

/// A connection's option values, with its connector's auth defaults behind them.
struct Values<'a> {
    schema: &'a str,
    connector: &'a str,
    options: &'a BTreeMap<String, String>,
    auth: &'a AuthSpec,
}

impl Values<'_> {
    fn get(&self, k: &str) -> Option<String> {
        self.options
            .get(k)
            .cloned()
            .or_else(|| self.auth.defaults.get(k).cloned())
            .or_else(|| self.auth.extra.get(k).cloned())
    }

    fn need(&self, k: &str) -> Result<String, ConnectionError> {
        self.get(k).ok_or_else(|| self.missing(k))
    }

    fn missing(&self, param: &str) -> ConnectionError {
        ConnectionError::MissingParam {
            schema: self.schema.to_string(),
            connector: self.connector.to_string(),
            param: param.to_string(),
        }
    }

    fn first_param(&self) -> Option<String> {
        self.auth.params.first().map(|(k, _)| k.clone())
    }
}

/// A credential value: registered for redaction, then kept as a [`Secret`].
fn secret(v: String) -> Secret {
    secret::register(&v);
    Secret::new(v)
}

/// The credentials the connector's auth kind asks for, from the connection's values.
fn credentials(
    values: &Values,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Credentials, ConnectionError> {
    Ok(match values.auth.kind {
        AuthKind::None => Credentials::None,
        AuthKind::Basic => {
            let user_key = if values.get("username").is_some() {
                "username".to_string()
            } else {
                values.first_param().unwrap_or_else(|| "username".into())
            };
            Credentials::Basic {
                username: secret(values.need(&user_key)?),
                password: secret(values.get("password").unwrap_or_default()),
            }
        }
        AuthKind::Bearer => {
            let key = ["bearer_token", "token", "access_token"]
                .into_iter()
                .find(|k| values.get(k).is_some())
                .map(str::to_string)
                .or_else(|| values.first_param())
                .unwrap_or_else(|| "bearer_token".into());
            let value = values.need(&key)?;
            // The original looked the value up as an env var name first.
            let token = env(&value).filter(|v| !v.is_empty()).unwrap_or(value);
            Credentials::Bearer {
                token: secret(token),
            }
        }
        AuthKind::Headers => Credentials::Headers(header_credentials(values)?),
        AuthKind::Params => {
            let mut params = Vec::new();
            for (k, _) in &values.auth.params {
                params.push((k.clone(), secret(values.need(k)?)));
            }
            Credentials::Params(params)
        }
        AuthKind::Aws4 => Credentials::Aws4 {
            access_key_id: secret(values.need("access_key_id")?),
            secret_key: secret(values.need("secret_key")?),
            session_token: values.get("session_token").map(secret),
            region: values.get("region").unwrap_or_else(|| "us-east-1".into()),
            service: values.need("service")?,
        },
        AuthKind::OAuth2 => Credentials::OAuth2(oauth2_config(values)?),
    })
}

/// Header credentials: the auth section's header templates filled from the values, or
/// (without templates) one header per auth parameter.
fn header_credentials(values: &Values) -> Result<Vec<(String, Secret)>, ConnectionError> {
    let mut headers = Vec::new();
    if values.auth.headers.is_empty() {
        for (k, _) in &values.auth.params {
            headers.push((k.clone(), secret(values.need(k)?)));
        }
    } else {
        for (name, template) in &values.auth.headers {
            let value = match values.options.get(name) {
                Some(v) => v.clone(),
                None => fill(template, &|k: &str| values.get(k)).map_err(|m| values.missing(&m))?,
            };
            headers.push((name.clone(), secret(value)));
        }
    }
    Ok(headers)
}

fn oauth2_config(values: &Values) -> Result<OAuth2Config, ConnectionError> {
    let token_url_text = values
        .get("token_url")
        .or_else(|| values.get("token_endpoint"))
        .ok_or_else(|| values.missing("token_url"))?;
    let invalid = |message: String| ConnectionError::Invalid {
        schema: values.schema.to_string(),
        message,
    };
    let token_url = url::Url::parse(&token_url_text)
        .map_err(|e| invalid(format!("token_url '{token_url_text}' is not a URL: {e}")))?;
    let client_auth = match values.get("client_auth").as_deref() {
        None | Some("basic") | Some("client_secret_basic") => ClientAuth::Basic,
        Some("post") | Some("client_secret_post") => ClientAuth::Post,
        Some(other) => {
            return Err(invalid(format!(
                "client_auth '{other}' must be basic or post"
            )))
        }
    };
    Ok(OAuth2Config {
        token_url,
        client_id: secret(values.need("client_id")?),
        client_secret: secret(values.need("client_secret")?),
        refresh_token: values
            .get("refresh_token")
            .filter(|s| !s.is_empty())
            .map(secret),
        scopes: values.get("scopes").or_else(|| values.get("oauth_scopes")),
        audience: values.get("audience"),
        client_auth,
    })
}

/// Append a connection to the connections file, keeping everything already in it
/// (comments included). The file is created if missing and left with mode 0600,
/// since it may hold secrets.
pub fn append_entry(path: &Path, entry: &ConnectionEntry) -> std::io::Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let mapping_form = existing
        .lines()
        .map(str::trim_end)
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .is_some_and(|l| !l.starts_with('-') && !l.starts_with("---"));
    let block = entry_yaml(entry, !mapping_form)?;
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&block);
    // Never write a file that would not read back with this entry in it.
    let check = parse_entries(&path.display().to_string(), &text)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    if !check.entries.iter().any(|e| e == entry) {
        return Err(std::io::Error::other(format!(
            "the new entry '{}' would not read back from {}",
            entry.schema,
            path.display()
        )));
    }
    write_private(path, &text)
}

/// Remove a connection's entry from the file, keeping every other line (comments
/// included). Returns false when no entry of that name exists.
pub fn remove_entry(path: &Path, schema: &str) -> std::io::Result<bool> {
    let text = std::fs::read_to_string(path)?;
    let lines: Vec<&str> = text.lines().collect();
    let is_start = |l: &str| {
        let t = l.trim_end();
        let name = t.strip_prefix("- ").unwrap_or(t);
        let key = name
            .strip_suffix(':')
            .map(|k| k.trim().trim_matches(|c| c == '"' || c == '\''));
        (t.starts_with("- ") || !t.starts_with(' ')) && key == Some(schema)
    };
    let Some(start) = lines.iter().position(|l| is_start(l)) else {
        return Ok(false);
    };
    // The entry ends before the next line at its own indentation or less.
    let end = lines[start + 1..]
        .iter()
        .position(|l| {
            let t = l.trim_start();
            !l.trim().is_empty()
                && !t.starts_with('#')
                && (l.starts_with("- ") || !l.starts_with(' '))
        })
        .map(|i| start + 1 + i)
        .unwrap_or(lines.len());
    let mut kept: Vec<&str> = lines[..start].to_vec();
    kept.extend_from_slice(&lines[end..]);
    let mut out = kept.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    write_private(path, &out)?;
    Ok(true)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("yaml.tmp");
    {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

/// One entry as YAML text, written by the YAML library so any value (`@abc`, `-`,
/// `yes`, `a: b`, quotes) reads back as the same string: an item of a list
/// (`- schema: …`) or a key of a mapping.
fn entry_yaml(entry: &ConnectionEntry, list_form: bool) -> std::io::Result<String> {
    use serde_yaml::Mapping;
    let mut options = Mapping::new();
    for (k, v) in &entry.options {
        options.insert(Value::String(k.clone()), Value::String(v.clone()));
    }
    let mut body = Mapping::new();
    body.insert(
        Value::String("connector".into()),
        Value::String(entry.connector.clone()),
    );
    if !options.is_empty() {
        body.insert(Value::String("options".into()), Value::Mapping(options));
    }
    let mut top = Mapping::new();
    top.insert(Value::String(entry.schema.clone()), Value::Mapping(body));
    let doc = if list_form {
        Value::Sequence(vec![Value::Mapping(top)])
    } else {
        Value::Mapping(top)
    };
    let text = serde_yaml::to_string(&doc).map_err(std::io::Error::other)?;
    Ok(text.trim_start_matches("---\n").to_string())
}

/// Schema names unify keeps for itself.
pub fn is_reserved_schema(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "main" | "files" | "unify" | "information_schema" | "pg_catalog" | "temp" | "system"
    )
}

/// Replace `${name}` in `template` using `lookup`; the error is the first missing name.
pub fn fill(template: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        match lookup(name) {
            Some(v) => out.push_str(&v),
            None => return Err(name.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        c.add(
            "mocksvc_spec.yaml",
            include_str!("../../tests/fixtures/mocksvc_spec.yaml"),
            true,
        );
        c.add(
            "hub_spec.yaml",
            "name: hub\nbase_url: https://${region}.hub.example.com/\nauth:\n  type: BEARER\n  params:\n    bearer_token: Hub private app token\ntables:\n  - name: t\n    resource_path: /t\n",
            true,
        );
        c
    }

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn original_test_connections_file_parses() {
        let entries = parse_entries(
            "connections.yaml",
            include_str!("../../tests/fixtures/tests_connections.yaml"),
        )
        .unwrap()
        .entries;
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].schema, "github");
        assert_eq!(entries[0].options[0], ("username".into(), "$GHUSER".into()));
        assert_eq!(entries[1].connector, "mocksvc");
    }

    #[test]
    fn adapter_key_and_mapping_form_are_accepted() {
        let entries = parse_entries(
            "c.yaml",
            "m1:\n  adapter: mocksvc\n  options: {username: u, password: p}\n",
        )
        .unwrap()
        .entries;
        assert_eq!(entries[0].connector, "mocksvc");
    }

    #[test]
    fn a_malformed_entry_fails_only_itself() {
        let read = parse_entries(
            "c.yaml",
            "- good:\n    connector: mocksvc\n- bad:\n    options: {x: 1}\n- worse:\n    connector: [a, b]\n",
        )
        .unwrap();
        assert_eq!(read.entries.len(), 1);
        assert_eq!(read.entries[0].schema, "good");
        let errors: Vec<String> = read.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errors,
            [
                "connection 'bad': c.yaml: bad: missing 'connector:' (the spec name to use)",
                "connection 'worse': c.yaml: worse.connector: expected a string, found a list"
            ]
        );
        assert!(
            parse_entries("c.yaml", "- good: [").is_err(),
            "broken YAML is one error"
        );
    }

    #[test]
    fn missing_env_var_fails_that_connection_only() {
        let entries = parse_entries(
            "c.yaml",
            "- a:\n    connector: mocksvc\n    options: {username: $NOPE_USER, password: x}\n- b:\n    connector: mocksvc\n    options: {username: $OK_USER, password: abc123}\n",
        )
        .unwrap()
        .entries;
        let (ok, errs) = resolve_all(
            &entries,
            &catalog(),
            &env(&[("OK_USER", "scott@example.com")]),
        );
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].schema, "b");
        assert_eq!(
            errs[0].to_string(),
            "Authentication for a failed, missing env var 'NOPE_USER'"
        );
        assert!(format!("{:?}", ok[0]).contains("***"));
        assert!(!format!("{:?}", ok[0]).contains("abc123"));
    }

    #[test]
    fn missing_required_param_is_named() {
        let entries = vec![ConnectionEntry {
            schema: "m".into(),
            connector: "mocksvc".into(),
            options: vec![("foo".into(), "bar".into())],
        }];
        let (_, errs) = resolve_all(&entries, &catalog(), &env(&[]));
        assert!(errs[0]
            .to_string()
            .ends_with("missing required auth parameter: username"));
    }

    #[test]
    fn bearer_value_may_name_an_env_var_and_base_url_placeholders_fill() {
        let entry = ConnectionEntry {
            schema: "hub".into(),
            connector: "hub".into(),
            options: vec![
                ("bearer_token".into(), "HUB_TOKEN".into()),
                ("region".into(), "eu".into()),
            ],
        };
        let c = resolve(&entry, &catalog(), &env(&[("HUB_TOKEN", "tok-from-env")])).unwrap();
        assert_eq!(c.base_url, "https://eu.hub.example.com");
        match &c.credentials {
            Credentials::Bearer { token } => assert_eq!(token.expose(), "tok-from-env"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn appending_and_removing_entries_keeps_comments_and_other_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connections.yaml");
        std::fs::write(
            &path,
            "# my connections\n- github:\n    connector: github\n    # the token comes from the env\n    options:\n      password: $GHTOKEN\n",
        )
        .unwrap();
        append_entry(
            &path,
            &ConnectionEntry {
                schema: "demo".into(),
                connector: "mocksvc".into(),
                options: vec![
                    ("username".into(), "scott@example.com".into()),
                    ("password".into(), "it's: 123".into()),
                ],
            },
        )
        .unwrap();
        let entries = read_entries(&path).unwrap().entries;
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[1].options[1],
            ("password".into(), "it's: 123".into())
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# my connections\n"));
        assert!(text.contains("# the token comes from the env"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(remove_entry(&path, "github").unwrap());
        let entries = read_entries(&path).unwrap().entries;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].schema, "demo");
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("# my connections\n"));
        assert!(!remove_entry(&path, "nosuch").unwrap());
    }

    #[test]
    fn values_yaml_treats_specially_are_written_so_they_read_back() {
        let dir = tempfile::tempdir().unwrap();
        for existing in [
            "",
            "# list form\n- a:\n    connector: x\n",
            "a:\n  connector: x\n",
        ] {
            let path = dir.path().join("connections.yaml");
            std::fs::write(&path, existing).unwrap();
            let tricky = [
                "@abc",
                "-",
                "yes",
                "123",
                "a: b",
                "'q",
                "\"dq",
                "#hash",
                "x # y",
                "*star",
                "&anchor",
                "!tag",
                "%pct",
                "`tick",
                "{brace",
                "[br",
                "|",
                ">",
                "~",
                "null",
                " lead",
                "trail ",
                "multi\nline",
                "",
            ];
            let entry = ConnectionEntry {
                schema: "demo".into(),
                connector: "mocksvc".into(),
                options: tricky
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (format!("k{i}"), v.to_string()))
                    .collect(),
            };
            append_entry(&path, &entry).unwrap();
            let entries = read_entries(&path).unwrap().entries;
            let got = entries.iter().find(|e| e.schema == "demo").unwrap();
            assert_eq!(got, &entry, "after {existing:?}");
        }
    }

    #[test]
    fn unknown_connector_lists_available() {
        let entry = ConnectionEntry {
            schema: "x".into(),
            connector: "nosuch".into(),
            options: vec![],
        };
        let err = resolve(&entry, &catalog(), &env(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "connection 'x': unknown connector 'nosuch' (available: hub, mocksvc)"
        );
    }
}
