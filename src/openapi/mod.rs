//! `unify spec from-openapi`: a connector spec generated from an API's OpenAPI
//! description (3.0 or 3.1, JSON or YAML, local `$ref`s; Swagger 2.0 too).
//!
//! This module owns the generator and nothing else: it reads a description (a file or a
//! URL), decides which operations become tables and how they page, and writes spec YAML
//! that the ordinary spec loader accepts — checked with [`crate::speccheck`] before it
//! is returned. It never touches a home, a warehouse or a connection: the CLI writes the
//! text where it is told, and the `connect` wizard saves it as a user spec.
//!
//! * [`load`]   — JSON/YAML → a tree, `$ref`s followed on demand, operations of every
//!   dialect in one shape.
//! * [`schema`] — properties and kinds of JSON Schemas (`allOf`, `oneOf`, 3.1 type lists).
//! * [`tables`] — GET list operations → tables: record path, key column, parent tables
//!   for path parameters, required parameters; the others with the reason.
//! * [`paging`] — the pager of each table.
//! * [`auth`]   — `securitySchemes` → the spec's `auth` block.
//! * [`names`]  — stable, unique snake_case names.
//! * [`emit`]   — the YAML text, each heuristic marked by a `# guess:` comment.
//!
//! The heuristics are documented in docs/SPEC_REFERENCE.md §17.

pub mod auth;
pub mod emit;
pub mod load;
pub mod names;
pub mod paging;
pub mod schema;
pub mod tables;

#[cfg(test)]
mod tests;

use load::Doc;
use std::path::Path;

/// Why a spec could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum OpenApiError {
    /// The file could not be read.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        message: String,
    },
    /// The URL could not be fetched.
    #[error("cannot fetch {url}: {message}")]
    Fetch {
        /// The URL (without its query string, which may hold a key).
        url: String,
        /// What went wrong.
        message: String,
    },
    /// Not JSON or YAML.
    #[error("{0}")]
    Parse(String),
    /// JSON or YAML, but not an OpenAPI description.
    #[error("not an OpenAPI description: {0}")]
    NotOpenApi(String),
    /// No usable server URL.
    #[error("{0}; give the API's address with --base-url URL")]
    NoBaseUrl(String),
    /// A name given that is not an identifier.
    #[error(
        "'{0}' is not a valid connector name (letters, digits and _, not starting with a digit)"
    )]
    BadName(String),
    /// Nothing to make a table of.
    #[error("no table can be made: {0}")]
    NoTables(String),
    /// The output did not validate: a bug of the generator.
    #[error("the generated spec does not validate (please report this): {0}")]
    Invalid(String),
    /// The output file could not be written.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file.
        path: String,
        /// The OS error.
        message: String,
    },
    /// An error about a named source.
    #[error("{source_label}: {error}")]
    In {
        /// The file or URL.
        source_label: String,
        /// The error.
        error: Box<OpenApiError>,
    },
}

/// What the caller decides.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The connector name (default: from the API's host or title).
    pub name: Option<String>,
    /// The base URL (default: the description's first server).
    pub base_url: Option<String>,
    /// The description's file name or URL, for the provenance comment.
    pub source_label: String,
    /// Where the description was fetched from (relative server URLs resolve against it).
    pub source_url: Option<url::Url>,
}

/// A generated spec.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The spec's YAML text.
    pub yaml: String,
    /// The connector name.
    pub name: String,
    /// Table names.
    pub tables: Vec<String>,
    /// GET operations that gave no table.
    pub skipped: usize,
    /// Operations that are not GETs.
    pub not_get: usize,
    /// Number of `# guess:` lines.
    pub guesses: usize,
}

impl Generated {
    /// One line for stderr.
    pub fn summary(&self) -> String {
        format!(
            "spec '{}': {} tables, {} GET operations skipped (listed at the end), {} other operations; {} guesses marked `# guess:` to check",
            self.name,
            self.tables.len(),
            self.skipped,
            self.not_get,
            self.guesses
        )
    }
}

/// Generate a spec from a description's bytes.
pub fn generate(bytes: &[u8], opts: &Options) -> Result<Generated, OpenApiError> {
    let doc = Doc::parse(bytes)?;
    let servers = doc.servers();
    let (base_url, base_guess, server_defaults) = base_url(&servers, opts)?;
    // The API's own host names it, even when --base-url points elsewhere (a proxy, a mock).
    let host = servers
        .iter()
        .map(|s| s.url.as_str())
        .chain([base_url.as_str()])
        .find_map(|u| {
            url::Url::parse(&fill_for_parse(u))
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
        });
    let title = doc.info().get("title").and_then(|v| v.as_str());
    let name = match &opts.name {
        Some(n) if crate::adapters::spec::is_identifier(n) => n.clone(),
        Some(n) => return Err(OpenApiError::BadName(n.clone())),
        None => names::connector_name(host.as_deref(), title),
    };

    let plan = tables::plan(&doc);
    if plan.tables.is_empty() {
        let mut why = format!(
            "none of its {} GET operations returns a list",
            plan.skipped.len()
        );
        if let Some(s) = plan.skipped.first() {
            why.push_str(&format!(" (e.g. {}: {})", s.origin, s.reason));
        }
        return Err(OpenApiError::NoTables(why));
    }
    let first_security = doc
        .operations()
        .into_iter()
        .find_map(|op| op.security.cloned());
    let auth = auth::plan(&doc, &base_url, first_security.as_ref());

    let provenance = provenance(&doc, opts);
    let help = help_text(&doc, &name, &auth, &server_defaults, &plan);
    let header = emit::Header {
        provenance,
        name: &name,
        base_url: &base_url,
        base_url_guess: base_guess,
        help,
        auth: &auth,
        server_defaults: &server_defaults,
    };
    let yaml = emit::render(&header, &plan);
    let label = format!("{name}_spec.yaml");
    match crate::speccheck::check(&label, &yaml) {
        crate::speccheck::Checked::Spec(_) => {}
        crate::speccheck::Checked::Problems(p) => return Err(OpenApiError::Invalid(p.join("; "))),
        crate::speccheck::Checked::Skipped(why) => return Err(OpenApiError::Invalid(why)),
    }
    Ok(Generated {
        guesses: yaml.matches("# guess:").count(),
        name,
        tables: plan.tables.iter().map(|t| t.name.clone()).collect(),
        skipped: plan.skipped.len(),
        not_get: plan.not_get,
        yaml,
    })
}

/// The comment lines that open a generated spec: where it came from, and what to check.
fn provenance(doc: &Doc, opts: &Options) -> Vec<String> {
    let mut lines = vec![format!(
        "Generated by `unify spec from-openapi` from {} ({}{}).",
        title_version(doc),
        doc.dialect.label(),
        if opts.source_label.is_empty() {
            String::new()
        } else {
            format!(", {}", opts.source_label)
        }
    )];
    lines.push(
        "Lines marked `# guess:` are heuristics: check them against the API's documentation."
            .to_string(),
    );
    let ext = doc.external_refs.borrow();
    if !ext.is_empty() {
        lines.push(format!(
            "References to other files were not followed: {}",
            ext.join(", ")
        ));
    }
    lines
}

/// Read a description from a file, or fetch it from an `http(s)://` URL.
pub async fn read_source(source: &str) -> Result<(Vec<u8>, Option<url::Url>), OpenApiError> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let url = url::Url::parse(source).map_err(|e| OpenApiError::Fetch {
            url: shown_url(source),
            message: e.to_string(),
        })?;
        let fail = |message: String| OpenApiError::Fetch {
            url: shown_url(source),
            message,
        };
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(120))
            .connect_timeout(std::time::Duration::from_secs(15))
            .user_agent(concat!("unify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let resp = client
            .get(url.clone())
            .header(
                "Accept",
                "application/json, application/yaml;q=0.9, */*;q=0.5",
            )
            .send()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(fail(format!("HTTP {}", status.as_u16())));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?;
        Ok((bytes.to_vec(), Some(url)))
    } else {
        let bytes = std::fs::read(source).map_err(|e| OpenApiError::Read {
            path: source.to_string(),
            message: e.to_string(),
        })?;
        Ok((bytes, None))
    }
}

/// Read `source` and generate; errors name the source.
pub async fn generate_from(source: &str, opts: &Options) -> Result<Generated, OpenApiError> {
    let within = |e: OpenApiError| match e {
        e @ (OpenApiError::Read { .. } | OpenApiError::Fetch { .. }) => e,
        e => OpenApiError::In {
            source_label: shown_url(source),
            error: Box::new(e),
        },
    };
    let (bytes, url) = read_source(source).await.map_err(within)?;
    let opts = Options {
        source_label: source_label(source),
        source_url: url,
        ..opts.clone()
    };
    generate(&bytes, &opts).map_err(within)
}

/// `unify spec from-openapi FILE|URL [--name N] [--base-url U] [-o FILE]`: the spec goes
/// to `out` (or stdout), the one-line summary is returned for stderr.
pub fn generate_cli(
    source: &str,
    name: Option<String>,
    base_url: Option<String>,
    out: Option<&Path>,
) -> Result<String, OpenApiError> {
    let opts = Options {
        name,
        base_url,
        ..Default::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| OpenApiError::Fetch {
            url: shown_url(source),
            message: e.to_string(),
        })?;
    let generated = rt.block_on(generate_from(source, &opts))?;
    match out {
        Some(path) => std::fs::write(path, &generated.yaml).map_err(|e| OpenApiError::Write {
            path: path.display().to_string(),
            message: e.to_string(),
        })?,
        None => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(generated.yaml.as_bytes())
                .and_then(|_| stdout.flush())
                .map_err(|e| OpenApiError::Write {
                    path: "stdout".to_string(),
                    message: e.to_string(),
                })?;
        }
    }
    Ok(generated.summary())
}

/// A URL without its query string and credentials (they may hold a key); a path as is.
fn shown_url(source: &str) -> String {
    match url::Url::parse(source) {
        Ok(mut u) if u.scheme().starts_with("http") => {
            u.set_query(None);
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.to_string()
        }
        _ => source.to_string(),
    }
}

/// How a source is named in the spec's first comment: a file's name, or a URL without
/// its query string.
pub fn source_label(source: &str) -> String {
    if source.starts_with("http://") || source.starts_with("https://") {
        shown_url(source)
    } else {
        Path::new(source)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| source.to_string())
    }
}

/// (base URL with `${var}`s, why when guessed, defaults of the server's variables).
type BaseUrl = (String, Option<String>, Vec<(String, String)>);

fn base_url(servers: &[load::Server], opts: &Options) -> Result<BaseUrl, OpenApiError> {
    if let Some(given) = &opts.base_url {
        let probe = fill_for_parse(given);
        match url::Url::parse(&probe) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
            _ => {
                return Err(OpenApiError::NoBaseUrl(format!(
                    "--base-url '{given}' is not an http(s) URL"
                )))
            }
        }
        return Ok((given.trim_end_matches('/').to_string(), None, Vec::new()));
    }
    let Some(server) = servers.first() else {
        return match &opts.source_url {
            Some(src) => Ok((
                origin(src),
                Some("the description names no server: the host it was fetched from".to_string()),
                Vec::new(),
            )),
            None => Err(OpenApiError::NoBaseUrl(
                "the description names no server".to_string(),
            )),
        };
    };
    // `{var}` → `${var}`, filled per connection (default from the variable's default).
    let mut url = String::new();
    let mut rest = server.url.as_str();
    while let Some(start) = rest.find('{') {
        url.push_str(&rest[..start]);
        url.push('$');
        let Some(end) = rest[start..].find('}') else {
            url.push_str(&rest[start..]);
            rest = "";
            break;
        };
        url.push_str(&rest[start..start + end + 1]);
        rest = &rest[start + end + 1..];
    }
    url.push_str(rest);
    let defaults: Vec<(String, String)> = server
        .variables
        .iter()
        .filter_map(|v| v.default.clone().map(|d| (v.name.clone(), d)))
        .collect();
    let mut guess = (servers.len() > 1).then(|| {
        format!(
            "the first of {} servers ({})",
            servers.len(),
            servers
                .iter()
                .skip(1)
                .map(|s| s.url.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    let probe = fill_for_parse(&url);
    let absolute = url::Url::parse(&probe)
        .map(|u| u.scheme() == "http" || u.scheme() == "https")
        .unwrap_or(false);
    if !absolute {
        let Some(src) = &opts.source_url else {
            return Err(OpenApiError::NoBaseUrl(format!(
                "the server URL '{}' is relative",
                server.url
            )));
        };
        let joined = src.join(&url).map_err(|e| {
            OpenApiError::NoBaseUrl(format!("the server URL '{}' is not a URL: {e}", server.url))
        })?;
        url = joined.to_string();
        guess = Some(format!(
            "the server URL '{}' is relative to where the description was fetched",
            server.url
        ));
    }
    Ok((url.trim_end_matches('/').to_string(), guess, defaults))
}

fn origin(u: &url::Url) -> String {
    let mut o = format!("{}://{}", u.scheme(), u.host_str().unwrap_or("localhost"));
    if let Some(p) = u.port() {
        o.push_str(&format!(":{p}"));
    }
    o
}

fn fill_for_parse(url: &str) -> String {
    let re = regex::Regex::new(r"\$\{[^}]*\}").expect("static regex");
    re.replace_all(url, "placeholder").into_owned()
}

fn title_version(doc: &Doc) -> String {
    let info = doc.info();
    let title = info
        .get("title")
        .and_then(|v| v.as_str())
        .unwrap_or("an untitled API");
    match info.get("version").and_then(load::scalar_text) {
        Some(v) => format!("\"{title}\" {v}"),
        None => format!("\"{title}\""),
    }
}

/// The spec's help: the API's title and description, how to connect, what is in it.
fn help_text(
    doc: &Doc,
    name: &str,
    auth: &auth::AuthPlan,
    server_defaults: &[(String, String)],
    plan: &tables::Plan,
) -> String {
    let info = doc.info();
    let mut h = String::new();
    h.push_str(&title_version(doc).replace('"', ""));
    h.push('\n');
    if let Some(d) = info.get("description").and_then(|v| v.as_str()) {
        // The first paragraphs, up to a dozen lines.
        let mut paragraphs = 0;
        for (lines, line) in d.trim().lines().enumerate() {
            if line.trim().is_empty() {
                paragraphs += 1;
                if paragraphs >= 2 {
                    break;
                }
            }
            if lines >= 12 {
                h.push_str("…\n");
                break;
            }
            let l: String = line.chars().take(160).collect();
            h.push_str(&l);
            h.push('\n');
        }
    }
    h.push_str(&format!("\nGenerated from its OpenAPI description. In connections.yaml:\n\n  - {name}:\n      connector: {name}\n"));
    let options: Vec<String> = auth
        .params
        .iter()
        .map(|(k, _)| {
            let env = format!("{}_{}", name, names::snake(k)).to_ascii_uppercase();
            format!("        {k}: ${env}")
        })
        .chain(
            server_defaults
                .iter()
                .map(|(k, v)| format!("        {k}: {v}   # optional")),
        )
        .collect();
    if !options.is_empty() {
        h.push_str("      options:\n");
        for o in options {
            h.push_str(&o);
            h.push('\n');
        }
    }
    let children = plan
        .tables
        .iter()
        .filter(|t| t.from_parent.is_some())
        .count();
    h.push_str(&format!(
        "\n{} tables ({} read their parameters from another table).",
        plan.tables.len(),
        children
    ));
    h
}
