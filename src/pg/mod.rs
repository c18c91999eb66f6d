//! The PostgreSQL endpoint of `unifyd` (`--pg-listen ADDR`): any Postgres client —
//! psql, BI tools, drivers — queries unify over the Postgres wire protocol.
//!
//! It owns the listening socket and one pg session per connection, and talks to the
//! engine ONLY through the host's request API ([`crate::host::Host::request`]), exactly
//! as the ZeroMQ clients do: each connection is a unify session (`Request::Execute`),
//! a statement that needs unloaded tables is waited for (progress sent as NOTICE
//! messages, from `Host::events` and `Request::JobStatus`) and re-run, and a cancel
//! request interrupts the statement (`Request::Interrupt`) and cancels the loads it
//! waits for. It never touches DuckDB, the queue or the actors directly.
//!
//! * [`server`]  — the pgwire handlers: SCRAM-SHA-256 authentication, TLS, simple and
//!   extended query protocols, cancel requests, NOTICE progress.
//! * [`types`]   — DuckDB types → Postgres OIDs, text and binary encodings, parameters.
//! * [`catalog`] — `SET`/`SHOW`, `version()`, and the system catalog clients introspect.
//!
//! Security: user `unify`, password from `UNIFY_PG_PASSWORD` or generated once into
//! `<home>/pg/password` (mode 0600). Listening on a non-loopback address is refused
//! unless the password was set explicitly AND TLS is configured (a certificate in
//! `UNIFY_PG_TLS_CERT`/`UNIFY_PG_TLS_KEY` or `<home>/pg/server.crt`/`server.key`);
//! then clients that are not on loopback must use TLS.

pub mod catalog;
pub mod server;
pub mod types;

#[cfg(test)]
mod tests;

use crate::home::Home;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

pub use server::{start, PgServer};

/// The one user name.
pub const USER: &str = "unify";

/// Environment variable holding the password.
pub const PASSWORD_ENV: &str = "UNIFY_PG_PASSWORD";

/// Environment variables naming the TLS certificate chain and key (PEM).
pub const TLS_CERT_ENV: &str = "UNIFY_PG_TLS_CERT";
/// See [`TLS_CERT_ENV`].
pub const TLS_KEY_ENV: &str = "UNIFY_PG_TLS_KEY";

/// Why the endpoint cannot start.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// `--pg-listen` is not `HOST:PORT`.
    #[error("--pg-listen {0:?} is not an address: write HOST:PORT, e.g. 127.0.0.1:5433")]
    BadAddress(String),
    /// A non-loopback address without the safeguards.
    #[error("refusing to serve PostgreSQL on {addr}, beyond this machine, {why}; or listen on 127.0.0.1")]
    Refused {
        /// The address.
        addr: String,
        /// What is missing and how to provide it.
        why: String,
    },
    /// The password file could not be read or written.
    #[error("the PostgreSQL password file {path}: {source}")]
    PasswordFile {
        /// The file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The certificate or key could not be used.
    #[error("TLS certificate {cert} / key {key}: {message}")]
    Tls {
        /// Certificate file.
        cert: String,
        /// Key file.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// Binding the socket failed.
    #[error("cannot listen on {addr} for PostgreSQL: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// Where the password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// `UNIFY_PG_PASSWORD`.
    Env,
    /// Generated into this file.
    File(PathBuf),
}

/// A validated endpoint configuration.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The password of user `unify`.
    pub password: Secret,
    /// Where it comes from.
    pub password_source: PasswordSource,
    /// Certificate chain and key files, when TLS is on.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl PgConfig {
    /// Resolve `--pg-listen ADDR` for `home`: the address, the password (generating and
    /// saving one when `UNIFY_PG_PASSWORD` is unset), TLS files; refuses a non-loopback
    /// address without an explicit password and TLS.
    pub fn resolve(listen: &str, home: &Home) -> Result<PgConfig, PgError> {
        let addrs: Vec<SocketAddr> = listen
            .to_socket_addrs()
            .map_err(|_| PgError::BadAddress(listen.to_string()))?
            .collect();
        let addr = *addrs
            .first()
            .ok_or_else(|| PgError::BadAddress(listen.to_string()))?;
        let env_password = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty());
        let tls = tls_files(home);
        if !addrs.iter().all(|a| a.ip().is_loopback()) {
            let mut missing = Vec::new();
            if env_password.is_none() {
                missing.push(format!(
                    "without a password set explicitly (set {PASSWORD_ENV})"
                ));
            }
            if tls.is_none() {
                missing.push(format!(
                    "without TLS (set {TLS_CERT_ENV} and {TLS_KEY_ENV} to PEM files, or put server.crt and server.key in {})",
                    home.root().join("pg").display()
                ));
            }
            if !missing.is_empty() {
                return Err(PgError::Refused {
                    addr: listen.to_string(),
                    why: missing.join(" and "),
                });
            }
        }
        let (password, password_source) = match env_password {
            Some(p) => (Secret::new(p), PasswordSource::Env),
            None => {
                let path = password_file(home);
                (read_or_generate(&path)?, PasswordSource::File(path))
            }
        };
        crate::secret::register(password.expose());
        Ok(PgConfig {
            addr,
            password,
            password_source,
            tls,
        })
    }
}

/// `<home>/pg/password`.
pub fn password_file(home: &Home) -> PathBuf {
    home.root().join("pg").join("password")
}

/// TLS files from the environment, else `<home>/pg/server.crt` and `server.key` when
/// both exist.
fn tls_files(home: &Home) -> Option<(PathBuf, PathBuf)> {
    match (
        std::env::var_os(TLS_CERT_ENV),
        std::env::var_os(TLS_KEY_ENV),
    ) {
        (Some(c), Some(k)) if !c.is_empty() && !k.is_empty() => {
            return Some((PathBuf::from(c), PathBuf::from(k)))
        }
        _ => {}
    }
    let dir = home.root().join("pg");
    let (c, k) = (dir.join("server.crt"), dir.join("server.key"));
    (c.is_file() && k.is_file()).then_some((c, k))
}

/// The saved password, or a new random one written with mode 0600.
fn read_or_generate(path: &Path) -> Result<Secret, PgError> {
    let err = |source| PgError::PasswordFile {
        path: path.display().to_string(),
        source,
    };
    if let Ok(text) = std::fs::read_to_string(path) {
        let p = text.trim().to_string();
        if !p.is_empty() {
            return Ok(Secret::new(p));
        }
    }
    use rand::distr::{Alphanumeric, SampleString};
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let password = Alphanumeric.sample_string(&mut rand::rng(), 24);
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(err)?;
    }
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(format!("{password}\n").as_bytes())
        .map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)?;
    Ok(Secret::new(password))
}

/// What `unifyd status` shows: written to `run/pg.json` while the endpoint runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgStatus {
    /// The bound address.
    pub listen: String,
    /// `UNIFY_PG_PASSWORD`, or the password file.
    pub password: String,
    /// TLS on.
    pub tls: bool,
}

impl PgStatus {
    /// `run/pg.json`.
    pub fn file(home: &Home) -> PathBuf {
        home.run_dir().join("pg.json")
    }

    /// Read the running endpoint's status.
    pub fn read(home: &Home) -> Option<PgStatus> {
        serde_json::from_str(&std::fs::read_to_string(Self::file(home)).ok()?).ok()
    }

    /// Write it (atomically).
    pub fn write(&self, home: &Home) -> std::io::Result<()> {
        let tmp = home.run_dir().join("pg.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(self)?)?;
        std::fs::rename(tmp, Self::file(home))
    }

    /// One line for `unifyd status`.
    pub fn describe(&self) -> String {
        format!(
            "PostgreSQL on {} (user {USER}, password {}{})",
            self.listen,
            self.password,
            if self.tls { ", TLS" } else { "" }
        )
    }
}

/// The SQLSTATE of an engine error message (DuckDB's error classes and unify's own).
pub fn sqlstate(message: &str) -> &'static str {
    let m = message;
    let has = |s: &str| m.contains(s);
    if has("INTERRUPT") || has("Interrupted") || has("was cancelled") {
        "57014"
    } else if m.starts_with("Parser Error") || has("syntax error") {
        "42601"
    } else if (has("Table with name") || has("Table ") || has("View with name"))
        && has("does not exist")
    {
        "42P01"
    } else if has("Schema with name") && has("does not exist") {
        "3F000"
    } else if has("Referenced column")
        || (m.starts_with("Binder Error") && has("column") && has("not found"))
    {
        "42703"
    } else if has("Function with name") && has("does not exist") {
        "42883"
    } else if m.starts_with("Catalog Error") && has("already exists") {
        "42P07"
    } else if m.starts_with("Catalog Error") {
        "42704"
    } else if m.starts_with("Conversion Error") || has("Could not convert") {
        "22P02"
    } else if m.starts_with("Out of Range Error") || has("out of range") {
        "22003"
    } else if has("Division by zero") {
        "22012"
    } else if m.starts_with("Constraint Error") && has("Duplicate key") {
        "23505"
    } else if m.starts_with("Constraint Error") {
        "23000"
    } else if m.starts_with("Out of Memory Error") {
        "53200"
    } else if m.starts_with("Permission Error") {
        "42501"
    } else if m.starts_with("Not implemented Error") {
        "0A000"
    } else if m.starts_with("TransactionContext Error") || m.starts_with("Transaction Error") {
        "25000"
    } else if m.starts_with("Invalid Input Error") {
        "22023"
    } else if m.starts_with("Binder Error") {
        "42000"
    } else if m.starts_with("IO Error") {
        "58030"
    } else if has("unknown variable") {
        "42704"
    } else if m.starts_with("loading ") && has("failed") {
        "58000"
    } else {
        "XX000"
    }
}
