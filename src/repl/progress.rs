//! Progress of the loads a statement waits for: an animated line on stderr (pages,
//! rows, rate), and the keys that move the wait to the background (`b` or Enter) or
//! cancel it (Ctrl-C). Only used when stdin and stderr are terminals.

use crate::client::WaitUi;
use crate::protocol::LoaderStatus;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

const SPINNER: &[&str] = &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// The terminal progress display.
pub struct TtyProgress {
    enabled: bool,
    frame: usize,
    drawn: bool,
    started: Instant,
    keys: Option<KeyWatcher>,
}

impl TtyProgress {
    /// A display that is active only when stdin and stderr are terminals.
    pub fn new() -> Self {
        TtyProgress {
            enabled: std::io::stderr().is_terminal() && std::io::stdin().is_terminal(),
            frame: 0,
            drawn: false,
            started: Instant::now(),
            keys: None,
        }
    }
}

impl Default for TtyProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitUi for TtyProgress {
    fn progress(&mut self, jobs: &[LoaderStatus]) {
        if !self.enabled {
            return;
        }
        if self.keys.is_none() {
            self.keys = KeyWatcher::start();
        }
        self.frame = (self.frame + 1) % SPINNER.len();
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let parts: Vec<String> = if jobs.is_empty() {
            vec!["waiting for the loader".into()]
        } else {
            jobs.iter()
                .map(|j| {
                    let state = match j.state {
                        crate::protocol::JobState::Queued => "queued".to_string(),
                        _ => format!(
                            "{} pages, {} rows ({:.0} rows/s)",
                            j.pages,
                            j.rows,
                            j.rows as f64 / secs
                        ),
                    };
                    format!("{}: {state}", j.table_name())
                })
                .collect()
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{} Loading {}  [b: background, Ctrl-C: cancel]",
            SPINNER[self.frame],
            parts.join("; ")
        );
        let _ = err.flush();
        self.drawn = true;
    }

    fn clear(&mut self) {
        self.keys = None;
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn = false;
        }
    }

    fn backgrounded(&mut self) -> bool {
        self.keys
            .as_ref()
            .map(|k| matches!(k.take(), Some(b'b' | b'B' | b'\n' | b'\r')))
            .unwrap_or(false)
    }

    fn interrupted(&mut self) -> bool {
        self.keys
            .as_ref()
            .is_some_and(|k| k.interrupted.load(Ordering::SeqCst))
    }
}

/// Reads single keys from the terminal while a load runs (canonical mode and echo
/// off; restored on drop). Ctrl-C arrives as a key.
struct KeyWatcher {
    saved: libc::termios,
    stop: Arc<AtomicBool>,
    key: Arc<AtomicU8>,
    interrupted: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl KeyWatcher {
    fn start() -> Option<KeyWatcher> {
        // SAFETY: tcgetattr/tcsetattr on stdin with termios structs we own.
        let saved = unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut t) != 0 {
                return None;
            }
            let saved = t;
            t.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
            t.c_cc[libc::VMIN] = 1;
            t.c_cc[libc::VTIME] = 0;
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t) != 0 {
                return None;
            }
            saved
        };
        let stop = Arc::new(AtomicBool::new(false));
        let key = Arc::new(AtomicU8::new(0));
        let interrupted = Arc::new(AtomicBool::new(false));
        let (s, k, i) = (stop.clone(), key.clone(), interrupted.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let mut fds = libc::pollfd {
                    fd: libc::STDIN_FILENO,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: poll on one pollfd we own, then read one byte into a local.
                let ready = unsafe { libc::poll(&mut fds, 1, 100) };
                if ready > 0 {
                    let mut b = 0u8;
                    let n =
                        unsafe { libc::read(libc::STDIN_FILENO, (&mut b as *mut u8).cast(), 1) };
                    if n == 1 {
                        if b == 3 {
                            i.store(true, Ordering::SeqCst);
                        } else {
                            k.store(b, Ordering::SeqCst);
                        }
                    }
                }
            }
        });
        Some(KeyWatcher {
            saved,
            stop,
            key,
            interrupted,
            thread: Some(thread),
        })
    }

    fn take(&self) -> Option<u8> {
        match self.key.swap(0, Ordering::SeqCst) {
            0 => None,
            b => Some(b),
        }
    }
}

impl Drop for KeyWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // SAFETY: restore the terminal settings saved in `start`.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved);
        }
    }
}
