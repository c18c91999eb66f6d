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

    /// Create the directories unify writes into (idempotent), and make the home
    /// private even when it already existed: the home and its `run/`, `logs/` and
    /// `tmp/` directories 0700, the files unify writes in them 0600 (see
    /// [`Home::secure_files`]).
    pub fn ensure_dirs(&self) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        // A new home is private from the start: it holds API data and, maybe, secrets.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)?;
        for dir in [
            self.specs_dir(),
            self.files_dir(),
            self.run_dir(),
            self.logs_dir(),
            self.tmp_dir(),
        ] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)?;
        }
        self.secure_files();
        Ok(())
    }

    /// Tighten permissions (best effort: a home owned by someone else is left as it
    /// is, with a warning): the home and `run/`, `logs/`, `tmp/` to 0700, and every
    /// file directly in the home (warehouse, queue and their journals, connections,
    /// history), in `run/` and in `logs/` to 0600. Called when the home is prepared and
    /// again once the engine has created its files.
    pub fn secure_files(&self) {
        use std::os::unix::fs::PermissionsExt;
        let set = |path: &Path, mode: u32| {
            let Ok(meta) = std::fs::symlink_metadata(path) else {
                return;
            };
            if meta.file_type().is_symlink() || meta.permissions().mode() & 0o777 == mode {
                return;
            }
            if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
                tracing::warn!(path = %path.display(), error = %e, "cannot make this private (mode {mode:o})");
            }
        };
        for dir in [
            self.root.clone(),
            self.run_dir(),
            self.logs_dir(),
            self.tmp_dir(),
        ] {
            set(&dir, 0o700);
        }
        for dir in [self.root.clone(), self.run_dir(), self.logs_dir()] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if !kind.is_dir() && !kind.is_symlink() {
                    set(&entry.path(), 0o600);
                }
            }
        }
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
    /// `tmp/` — DuckDB's spill files.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    /// `history` — the REPL's line history.
    pub fn history_file(&self) -> PathBuf {
        self.root.join("history")
    }
}
