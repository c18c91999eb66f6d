//! `connect` and `delete connection`: the interactive flows that add and remove
//! connections. They run in the client (they ask questions), and send the answers to
//! the host, which tests the connection with one cheap request before writing
//! `connections.yaml` (comments kept, mode 0600).
//!
//! Answers come from the terminal (secrets typed without echo) or, when stdin is not a
//! terminal, one per line from stdin — so `connect` is scriptable. Any answer may be a
//! `$NAME` reference to an environment variable instead of the value itself.

use crate::client::{Client, Outcome, Quiet};
use crate::protocol::{ConnectorInfo, NewConnection, Request, Response};
use anyhow::{anyhow, bail, Context as _};
use std::io::{BufRead, IsTerminal, Write};

/// Where answers come from.
pub trait Ask: Send {
    /// Ask `prompt`; `None` at end of input.
    fn ask(&mut self, prompt: &str, secret: bool) -> anyhow::Result<Option<String>>;
    /// True when a person answers (so a wrong answer can be asked again).
    fn interactive(&self) -> bool;
}

/// Answers from the terminal, or from stdin lines.
pub struct StdinAsk {
    terminal: bool,
}

impl StdinAsk {
    /// Ask on the terminal when stdin is one, else read lines.
    pub fn new() -> Self {
        StdinAsk {
            terminal: std::io::stdin().is_terminal(),
        }
    }
}

impl Default for StdinAsk {
    fn default() -> Self {
        Self::new()
    }
}

impl Ask for StdinAsk {
    fn ask(&mut self, prompt: &str, secret: bool) -> anyhow::Result<Option<String>> {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let echo_off = secret && self.terminal;
        let saved = if echo_off { set_echo(false) } else { None };
        let mut line = String::new();
        let n = std::io::stdin().lock().read_line(&mut line);
        if let Some(t) = saved {
            restore(&t);
            eprintln!();
        } else if !self.terminal {
            eprintln!();
        }
        if n? == 0 {
            return Ok(None);
        }
        Ok(Some(line.trim_end_matches(['\n', '\r']).to_string()))
    }

    fn interactive(&self) -> bool {
        self.terminal
    }
}

fn set_echo(on: bool) -> Option<rustix::termios::Termios> {
    use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).ok()?;
    let mut t = saved.clone();
    t.local_modes.set(LocalModes::ECHO, on);
    tcsetattr(&stdin, OptionalActions::Now, &t).ok()?;
    Some(saved)
}

fn restore(t: &rustix::termios::Termios) {
    let _ = rustix::termios::tcsetattr(std::io::stdin(), rustix::termios::OptionalActions::Now, t);
}

/// What the user already said on the command line.
#[derive(Debug, Clone, Default)]
pub struct Preset {
    /// Connector name.
    pub connector: Option<String>,
    /// Schema name.
    pub schema: Option<String>,
    /// Option values.
    pub options: Vec<(String, String)>,
}

async fn connectors(
    client: &Client,
) -> anyhow::Result<(Vec<ConnectorInfo>, Vec<(String, String)>)> {
    match client.transport().request(Request::Connectors).await? {
        Response::Connectors {
            connectors,
            connections,
        } => Ok((connectors, connections)),
        Response::Error { message } => Err(anyhow!(message)),
        other => Err(anyhow!("unexpected answer: {other:?}")),
    }
}

/// Run the `connect` flow: answers come from `ask` (the terminal, or stdin lines), the
/// connection is tested and saved by the host.
pub async fn connect(client: &mut Client, ask: &mut dyn Ask, preset: Preset) -> anyhow::Result<()> {
    let (connectors, connections) = connectors(client).await?;
    if connectors.is_empty() {
        bail!("no connectors are available");
    }
    let info = match &preset.connector {
        Some(name) if name == OPENAPI_CHOICE && !connectors.iter().any(|c| c.name == *name) => {
            from_openapi(client, ask, &connectors).await?
        }
        Some(name) => connectors
            .iter()
            .find(|c| c.name == *name)
            .ok_or_else(|| {
                anyhow!(
                    "unknown connector '{name}' (available: {})",
                    names(&connectors)
                )
            })?
            .clone(),
        None => pick_connector(client, ask, &connectors).await?,
    };
    eprintln!("Ok! Let's set up a new {} connection.", info.name);
    let schema = match &preset.schema {
        Some(s) => {
            check_schema(s, &connections)?;
            s.clone()
        }
        None => ask_schema(ask, &info, &connections)?,
    };
    test_and_add(client, ask, &info, &schema, &preset.options).await?;
    eprintln!("The following tables are available, use peek or select to load data:");
    match client
        .run_statement(&format!("show tables from {schema}"), &mut Quiet)
        .await
    {
        Outcome::Ok => Ok(()),
        _ => Err(anyhow!("listing the tables of {schema} failed")),
    }
}

/// List the connectors (and the OpenAPI entry) and ask for one by number or name; a
/// person is asked again after a wrong answer.
async fn pick_connector(
    client: &mut Client,
    ask: &mut dyn Ask,
    connectors: &[ConnectorInfo],
) -> anyhow::Result<ConnectorInfo> {
    for (i, c) in connectors.iter().enumerate() {
        if c.summary.is_empty() {
            eprintln!("{}: {}", i + 1, c.name);
        } else {
            eprintln!("{}: {} — {}", i + 1, c.name, c.summary);
        }
    }
    eprintln!(
        "{}: {OPENAPI_CHOICE} — {OPENAPI_LABEL}",
        connectors.len() + 1
    );
    loop {
        let Some(answer) = ask.ask("Pick a connector: ", false)? else {
            bail!("connect cancelled");
        };
        let answer = answer.trim();
        if answer.is_empty() {
            bail!("connect cancelled");
        }
        if answer == OPENAPI_CHOICE || answer == (connectors.len() + 1).to_string() {
            return from_openapi(client, ask, connectors).await;
        }
        let found = answer
            .parse::<usize>()
            .ok()
            .and_then(|n| connectors.get(n.wrapping_sub(1)))
            .or_else(|| connectors.iter().find(|c| c.name == answer));
        match found {
            Some(c) => return Ok(c.clone()),
            None if ask.interactive() => {
                eprintln!("No connector '{answer}'; type its number or name.")
            }
            None => bail!(
                "unknown connector '{answer}' (available: {})",
                names(connectors)
            ),
        }
    }
}

/// Ask for the new connection's schema name (the connector's name by default) until it
/// is valid and free.
fn ask_schema(
    ask: &mut dyn Ask,
    info: &ConnectorInfo,
    connections: &[(String, String)],
) -> anyhow::Result<String> {
    loop {
        let answer = ask
            .ask(&format!("Specify the schema name ({}): ", info.name), false)?
            .ok_or_else(|| anyhow!("connect cancelled"))?;
        let s = if answer.trim().is_empty() {
            info.name.clone()
        } else {
            answer.trim().to_string()
        };
        match check_schema(&s, connections) {
            Ok(()) => return Ok(s),
            Err(e) if ask.interactive() => eprintln!("{e}"),
            Err(e) => return Err(e),
        }
    }
}

/// Ask for the options not given on the command line, have the host test the
/// connection (a person gets three tries when nothing was preset), then add it.
async fn test_and_add(
    client: &mut Client,
    ask: &mut dyn Ask,
    info: &ConnectorInfo,
    schema: &str,
    preset: &[(String, String)],
) -> anyhow::Result<()> {
    let mut attempts = 0;
    let entry = loop {
        attempts += 1;
        let entry = NewConnection {
            schema: schema.to_string(),
            connector: info.name.clone(),
            options: ask_options(ask, info, preset)?,
        };
        send_env_references(client, &entry).await?;
        eprintln!("Testing connection...");
        match client
            .transport()
            .request(Request::TestConnection {
                entry: entry.clone(),
            })
            .await?
        {
            Response::Done { message } => {
                eprintln!("{message}");
                break entry;
            }
            Response::Error { message } => {
                eprintln!("Connection failed: {message}");
                if ask.interactive() && attempts < 3 && preset.is_empty() {
                    continue;
                }
                bail!("connection failed: {message}");
            }
            other => bail!("unexpected answer: {other:?}"),
        }
    };
    if entry
        .options
        .iter()
        .any(|(k, v)| crate::engine::is_secret_option(k) && !v.starts_with('$'))
    {
        eprintln!(
            "Note: secrets are stored in connections.yaml (readable only by you); use $NAME to read one from the environment instead."
        );
    }
    match client
        .transport()
        .request(Request::AddConnection { entry })
        .await?
    {
        Response::Done { message } => eprintln!("{message}"),
        Response::Error { message } => bail!(message),
        other => bail!("unexpected answer: {other:?}"),
    }
    Ok(())
}

/// The connector's options: the preset ones, then an answer for each other one.
fn ask_options(
    ask: &mut dyn Ask,
    info: &ConnectorInfo,
    preset: &[(String, String)],
) -> anyhow::Result<Vec<(String, String)>> {
    let mut options = preset.to_vec();
    if !info.options.is_empty() && options.len() < info.options.len() {
        eprintln!("Please provide the configuration parameters (a value may be $NAME to read it from the environment):");
    }
    for (key, desc, secret) in &info.options {
        if options.iter().any(|(k, _)| k == key) {
            continue;
        }
        let answer = ask
            .ask(&format!("{key} ({desc}): "), *secret)?
            .ok_or_else(|| anyhow!("connect cancelled: no value for {key}"))?;
        options.push((key.clone(), answer.trim().to_string()));
    }
    Ok(options)
}

/// `$NAME` answers are read from this client's environment by the host: send it the
/// variables the entry refers to.
async fn send_env_references(client: &Client, entry: &NewConnection) -> anyhow::Result<()> {
    let vars: Vec<(String, crate::protocol::EnvValue)> = entry
        .options
        .iter()
        .filter_map(|(_, v)| crate::adapters::connections::env_reference(v))
        .filter_map(|name| {
            std::env::var(name)
                .ok()
                .map(|v| (name.to_string(), crate::protocol::EnvValue(v)))
        })
        .collect();
    if !vars.is_empty() {
        client.transport().request(Request::SetEnv { vars }).await?;
    }
    Ok(())
}

// ---- `connect` from an OpenAPI description (issue 13) --------------------------------

/// The menu entry that generates a connector from an OpenAPI description.
const OPENAPI_CHOICE: &str = "openapi";
const OPENAPI_LABEL: &str = "from an OpenAPI description (a file or an http(s) URL)";

/// Generate a spec from a description the user names, save it as
/// `$UNIFY_HOME/rest_specs/<name>_spec.yaml`, reload, and return the new connector.
async fn from_openapi(
    client: &mut Client,
    ask: &mut dyn Ask,
    known: &[ConnectorInfo],
) -> anyhow::Result<ConnectorInfo> {
    use crate::openapi::{self, Options};
    let source = ask
        .ask("OpenAPI description (a file or an http(s) URL): ", false)?
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| anyhow!("connect cancelled"))?;
    let (bytes, url) = openapi::read_source(&source).await?;
    let mut opts = Options {
        source_label: openapi::source_label(&source),
        source_url: url,
        ..Default::default()
    };
    let mut generated = generate_asking_base_url(ask, &source, &bytes, &mut opts)?;
    let name = ask_connector_name(ask, &generated.name, known)?;
    if name != generated.name {
        opts.name = Some(name.clone());
        generated = openapi::generate(&bytes, &opts)?;
    }
    let path = save_spec(client, &name, &generated.yaml).await?;
    eprintln!("Saved {}: {}", path.display(), generated.summary());
    let _ = client.run_statement("system reload", &mut Quiet).await;
    let (connectors, _) = connectors(client).await?;
    connectors
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| {
            anyhow!(
                "the generated connector '{name}' did not load; see {}",
                path.display()
            )
        })
}

/// Generate the spec; when the description names no base URL, ask for one (kept in
/// `opts`) and generate again.
fn generate_asking_base_url(
    ask: &mut dyn Ask,
    source: &str,
    bytes: &[u8],
    opts: &mut crate::openapi::Options,
) -> anyhow::Result<crate::openapi::Generated> {
    use crate::openapi::{self, OpenApiError};
    let generated = match openapi::generate(bytes, opts) {
        Err(OpenApiError::NoBaseUrl(why)) => {
            eprintln!("{why}.");
            let base = ask
                .ask("The API's base URL: ", false)?
                .ok_or_else(|| anyhow!("connect cancelled: no base URL"))?;
            opts.base_url = Some(base.trim().to_string());
            openapi::generate(bytes, opts)
        }
        other => other,
    }
    .with_context(|| format!("generating a spec from {source}"))?;
    Ok(generated)
}

/// Ask for the generated connector's name (`generated`, or `<generated>_openapi` when
/// that is taken by a `known` one) until it is a free identifier.
fn ask_connector_name(
    ask: &mut dyn Ask,
    generated: &str,
    known: &[ConnectorInfo],
) -> anyhow::Result<String> {
    let taken = |n: &str| known.iter().any(|c| c.name == n);
    let suggested = if taken(generated) {
        format!("{generated}_openapi")
    } else {
        generated.to_string()
    };
    loop {
        let answer = ask
            .ask(&format!("Connector name ({suggested}): "), false)?
            .ok_or_else(|| anyhow!("connect cancelled"))?;
        let name = match answer.trim() {
            "" => suggested.clone(),
            n => n.to_string(),
        };
        let problem = if !crate::adapters::spec::is_identifier(&name) {
            Some(format!(
                "'{name}' is not a valid connector name (letters, digits and _)"
            ))
        } else if taken(&name) {
            Some(format!(
                "a connector named '{name}' exists already; choose another name"
            ))
        } else {
            None
        };
        match problem {
            None => return Ok(name),
            Some(p) if ask.interactive() => eprintln!("{p}"),
            Some(p) => bail!(p),
        }
    }
}

/// Write `yaml` as the host's `rest_specs/<name>_spec.yaml` (never over an existing
/// file) and return its path.
async fn save_spec(client: &Client, name: &str, yaml: &str) -> anyhow::Result<std::path::PathBuf> {
    let home = match client.transport().request(Request::Ping).await? {
        Response::Pong { home, .. } => crate::home::Home::new(home),
        other => bail!("unexpected answer: {other:?}"),
    };
    let path = home.specs_dir().join(format!("{name}_spec.yaml"));
    if path.exists() {
        bail!(
            "{} exists already; remove it or choose another name",
            path.display()
        );
    }
    std::fs::create_dir_all(home.specs_dir())
        .and_then(|_| std::fs::write(&path, yaml))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Run the `delete connection` flow.
pub async fn delete(
    client: &mut Client,
    ask: &mut dyn Ask,
    schema: Option<String>,
) -> anyhow::Result<()> {
    let (_, connections) = connectors(client).await?;
    if connections.is_empty() {
        bail!("there are no connections to delete");
    }
    let schema = match schema {
        Some(s) => s,
        None => {
            for (i, (s, c)) in connections.iter().enumerate() {
                eprintln!("{}: Connector {c} - schema: {s}", i + 1);
            }
            let answer = ask
                .ask("Choose which connection to delete: ", false)?
                .ok_or_else(|| anyhow!("delete cancelled"))?;
            let answer = answer.trim();
            answer
                .parse::<usize>()
                .ok()
                .and_then(|n| connections.get(n.wrapping_sub(1)))
                .map(|(s, _)| s.clone())
                .or_else(|| {
                    connections
                        .iter()
                        .find(|(s, _)| s == answer)
                        .map(|(s, _)| s.clone())
                })
                .ok_or_else(|| anyhow!("no connection '{answer}'"))?
        }
    };
    if !connections.iter().any(|(s, _)| *s == schema) {
        bail!("no connection named '{schema}'");
    }
    eprintln!("!! WARNING: THIS WILL DELETE ALL TABLES SYNCHRONIZED FROM THIS CONNECTION !!");
    let confirm = ask
        .ask(
            &format!("Type the name of the schema ({schema}) to confirm: "),
            false,
        )?
        .unwrap_or_default();
    if confirm.trim() != schema {
        bail!("not confirmed; nothing was deleted");
    }
    eprintln!("Removing connection '{schema}'");
    match client
        .transport()
        .request(Request::RemoveConnection {
            schema: schema.clone(),
        })
        .await
        .context("removing the connection")?
    {
        Response::Done { message } => {
            eprintln!("{message}");
            Ok(())
        }
        Response::Error { message } => bail!(message),
        other => bail!("unexpected answer: {other:?}"),
    }
}

fn names(connectors: &[ConnectorInfo]) -> String {
    connectors
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_schema(schema: &str, connections: &[(String, String)]) -> anyhow::Result<()> {
    if !crate::adapters::spec::is_identifier(schema) {
        bail!("'{schema}' is not a valid schema name (letters, digits and _; not starting with a digit)");
    }
    if crate::adapters::connections::is_reserved_schema(schema) {
        bail!("'{schema}' is reserved by unify; choose another name");
    }
    if connections.iter().any(|(s, _)| s == schema) {
        bail!("Schema name must be unique: '{schema}' is already a connection");
    }
    Ok(())
}
