//! Logging: `tracing`, initialised once per binary from `RUST_LOG`. Every line written
//! goes through [`crate::secret::redact`], so a secret that slipped into a message is
//! still scrubbed before it reaches a terminal or `logs/unifyd.log`.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// A writer that redacts secrets from each line.
#[derive(Clone)]
pub struct Redacting {
    inner: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl Redacting {
    /// Wrap `w`.
    pub fn new(w: Box<dyn Write + Send>) -> Self {
        Redacting {
            inner: Arc::new(Mutex::new(w)),
        }
    }
}

impl Write for Redacting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let clean = crate::secret::redact(&text);
        let mut w = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        w.write_all(clean.as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

impl<'a> MakeWriter<'a> for Redacting {
    type Writer = Redacting;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// True when colours may be written to stderr: it is a terminal and `NO_COLOR` is not
/// set (<https://no-color.org>).
pub fn color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Log to stderr at `default` level (e.g. "warn") unless `RUST_LOG` says otherwise;
/// colours only when [`color`] allows them.
pub fn init_stderr(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Redacting::new(Box::new(std::io::stderr())))
        .with_ansi(color())
        .with_target(false)
        .try_init();
}

/// Log to a file (appending), at `default` level unless `RUST_LOG` says otherwise.
pub fn init_file(path: &Path, default: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Redacting::new(Box::new(file)))
        .with_ansi(false)
        .with_target(false)
        .try_init();
    Ok(())
}
