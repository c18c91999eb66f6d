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

    /// Resolve the home from an explicit flag, then `$UNIFY_HOME`, then `~/.unify`, as a
    /// canonical absolute path: `/x`, `/x/`, a relative path and a symlink to it all name
    /// the same home, so they reach the same daemon.
    pub fn resolve(flag: Option<&Path>) -> Self {
        let raw = match flag {
            Some(dir) => dir.to_path_buf(),
            None => match std::env::var_os("UNIFY_HOME").filter(|v| !v.is_empty()) {
                Some(dir) => PathBuf::from(dir),
                None => std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("."))
                    .join(".unify"),
            },
        };
        Home::new(canonical(&raw))
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

/// `path` made absolute and canonical: symlinks resolved for the part that exists, `.`
/// and `..` removed from the part that does not exist yet (a home may be created later).
pub fn canonical(path: &Path) -> PathBuf {
    use std::path::Component;
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        match std::env::current_dir() {
            Ok(cwd) => cwd.join(path),
            Err(_) => path.to_path_buf(),
        }
    };
    // Left to right, keeping `out` canonical: an existing prefix has its symlinks
    // resolved, so a `..` after it goes where the file system would go.
    let mut out = PathBuf::from("/");
    for component in absolute.components() {
        match component {
            Component::Normal(name) => {
                out.push(name);
                if let Ok(real) = out.canonicalize() {
                    out = real;
                }
            }
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_home_are_the_same_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let home = root.join("home");
        std::fs::create_dir(&home).unwrap();
        std::os::unix::fs::symlink(&home, root.join("link")).unwrap();
        assert_eq!(canonical(&home), home);
        assert_eq!(canonical(&root.join("home/")), home);
        assert_eq!(canonical(&root.join("link")), home);
        assert_eq!(canonical(&root.join("link/../home/./")), home);
        // Not created yet: the missing part is kept, normalised.
        assert_eq!(
            canonical(&root.join("link/new/../new2/")),
            home.join("new2")
        );
    }

    #[test]
    fn a_missing_home_is_created_private_with_its_parents() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("a/b/home"));
        home.ensure_dirs().unwrap();
        for p in [home.root().to_path_buf(), home.run_dir(), home.logs_dir()] {
            assert!(p.is_dir(), "{}", p.display());
        }
        let mode = std::fs::metadata(home.root()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
