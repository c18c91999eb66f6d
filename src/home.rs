//! The on-disk layout of `UNIFY_HOME` (ARCHITECTURE §2). Paths only: creating and
//! locking files is the job of the module that owns each one.

use std::path::{Path, PathBuf};

/// A unify home directory (default `~/.unify`, or `--home DIR`, or `$UNIFY_HOME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// Use `root` as the home directory.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Home { root: root.into() }
    }

    /// Resolve the home from an explicit flag, then `$UNIFY_HOME`, then `~/.unify`.
    pub fn resolve(flag: Option<&Path>) -> Self {
        if let Some(dir) = flag {
            return Home::new(dir);
        }
        if let Some(dir) = std::env::var_os("UNIFY_HOME").filter(|v| !v.is_empty()) {
            return Home::new(PathBuf::from(dir));
        }
        let base = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        Home::new(base.join(".unify"))
    }

    /// Create the directories unify writes into (idempotent).
    pub fn ensure_dirs(&self) -> std::io::Result<()> {
        // A new home is private: it holds API data and, maybe, secrets.
        if !self.root.exists() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.root)?;
        }
        for dir in [
            self.root.clone(),
            self.specs_dir(),
            self.files_dir(),
            self.run_dir(),
            self.logs_dir(),
        ] {
            std::fs::create_dir_all(&dir)?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(self.run_dir(), std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }

    /// The home directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `connections.yaml`.
    pub fn connections_file(&self) -> PathBuf {
        self.root.join("connections.yaml")
    }
    /// `rest_specs/` — user specs, overriding bundled specs by name.
    pub fn specs_dir(&self) -> PathBuf {
        self.root.join("rest_specs")
    }
    /// `unify.duckdb` — the warehouse.
    pub fn warehouse_file(&self) -> PathBuf {
        self.root.join("unify.duckdb")
    }
    /// `queue.db` — the SQLite job queue.
    pub fn queue_file(&self) -> PathBuf {
        self.root.join("queue.db")
    }
    /// `files/` — default directory for relative import/export paths.
    pub fn files_dir(&self) -> PathBuf {
        self.root.join("files")
    }
    /// `run/` — daemon pid and ZeroMQ endpoints.
    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }
    /// `run/unifyd.pid`.
    pub fn pid_file(&self) -> PathBuf {
        self.run_dir().join("unifyd.pid")
    }
    /// `logs/`.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// `logs/unifyd.log`.
    pub fn daemon_log(&self) -> PathBuf {
        self.logs_dir().join("unifyd.log")
    }
    /// `history` — the REPL's line history.
    pub fn history_file(&self) -> PathBuf {
        self.root.join("history")
    }
}
