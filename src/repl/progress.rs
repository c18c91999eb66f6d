//! Progress of the loads a statement waits for: one line per job on stderr (indicatif:
//! a spinner, pages, rows, rate; cut to the terminal's width), a hint line with the keys
//! that move the wait to the background (`b` or Enter) or cancel it (Ctrl-C). Nothing is
//! drawn unless stdin and stderr are terminals.

use crate::client::WaitUi;
use crate::protocol::{JobState, LoaderStatus};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

/// The terminal progress display.
pub struct TtyProgress {
    enabled: bool,
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
    hint: Option<ProgressBar>,
    keys: Option<KeyWatcher>,
}

impl TtyProgress {
    /// A display that is active only when stdin and stderr are terminals.
    pub fn new() -> Self {
        let enabled = std::io::stderr().is_terminal() && std::io::stdin().is_terminal();
        let target = if enabled {
            ProgressDrawTarget::stderr_with_hz(10)
        } else {
            ProgressDrawTarget::hidden()
        };
        TtyProgress {
            enabled,
            multi: MultiProgress::with_draw_target(target),
            bars: HashMap::new(),
            hint: None,
            keys: None,
        }
    }
}

impl Default for TtyProgress {
    fn default() -> Self {
        Self::new()
    }
}

/// One job's line (without the spinner).
pub fn job_line(j: &LoaderStatus) -> String {
    match j.state {
        JobState::Queued => format!("{}  queued", j.table_name()),
        _ => {
            let secs = (j.elapsed_ms as f64 / 1000.0).max(0.001);
            format!(
                "{}  {} pages · {} rows · {:.0} rows/s · {:.1}s",
                j.table_name(),
                j.pages,
                j.rows,
                j.rows as f64 / secs,
                secs
            )
        }
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
        let style = ProgressStyle::with_template("{spinner} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        for j in jobs {
            let bar = self.bars.entry(j.job_id.clone()).or_insert_with(|| {
                let bar = ProgressBar::new_spinner().with_style(style.clone());
                match &self.hint {
                    Some(hint) => self.multi.insert_before(hint, bar),
                    None => self.multi.add(bar),
                }
            });
            bar.set_message(job_line(j));
            bar.tick();
        }
        let hint = self.hint.get_or_insert_with(|| {
            let hint = ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("  {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            self.multi.add(hint)
        });
        hint.set_message(if jobs.is_empty() {
            "waiting for the loader…  b: continue in the background · Ctrl-C: cancel"
        } else {
            "b: continue in the background · Ctrl-C: cancel"
        });
    }

    fn clear(&mut self) {
        self.keys = None;
        for (_, bar) in self.bars.drain() {
            bar.finish_and_clear();
        }
        if let Some(hint) = self.hint.take() {
            hint.finish_and_clear();
        }
        let _ = self.multi.clear();
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

impl Drop for TtyProgress {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Reads single keys from the terminal while a load runs (canonical mode and echo
/// off; restored on drop). Ctrl-C arrives as a key.
struct KeyWatcher {
    saved: rustix::termios::Termios,
    stop: Arc<AtomicBool>,
    key: Arc<AtomicU8>,
    interrupted: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl KeyWatcher {
    fn start() -> Option<KeyWatcher> {
        use rustix::termios::{
            tcgetattr, tcsetattr, LocalModes, OptionalActions, SpecialCodeIndex,
        };
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        raw.local_modes
            .remove(LocalModes::ICANON | LocalModes::ECHO | LocalModes::ISIG);
        raw.special_codes[SpecialCodeIndex::VMIN] = 1;
        raw.special_codes[SpecialCodeIndex::VTIME] = 0;
        tcsetattr(&stdin, OptionalActions::Now, &raw).ok()?;
        let stop = Arc::new(AtomicBool::new(false));
        let key = Arc::new(AtomicU8::new(0));
        let interrupted = Arc::new(AtomicBool::new(false));
        let (s, k, i) = (stop.clone(), key.clone(), interrupted.clone());
        let thread = std::thread::spawn(move || {
            use rustix::event::{poll, PollFd, PollFlags, Timespec};
            let stdin = std::io::stdin();
            let tick = Timespec {
                tv_sec: 0,
                tv_nsec: 100_000_000,
            };
            while !s.load(Ordering::SeqCst) {
                let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
                if !matches!(poll(&mut fds, Some(&tick)), Ok(n) if n > 0) {
                    continue;
                }
                let mut b = [0u8; 1];
                if let Ok(1) = rustix::io::read(&stdin, &mut b) {
                    if b[0] == 3 {
                        i.store(true, Ordering::SeqCst);
                    } else {
                        k.store(b[0], Ordering::SeqCst);
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
        let _ = rustix::termios::tcsetattr(
            std::io::stdin(),
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_line_says_table_pages_rows_and_rate() {
        let mut s = LoaderStatus {
            job_id: "j".into(),
            schema: "demo".into(),
            table: "users".into(),
            state: JobState::Queued,
            pages: 0,
            rows: 0,
            elapsed_ms: 0,
            error: None,
        };
        assert_eq!(job_line(&s), "demo.users  queued");
        s.state = JobState::Running;
        s.pages = 3;
        s.rows = 300;
        s.elapsed_ms = 2000;
        assert_eq!(
            job_line(&s),
            "demo.users  3 pages · 300 rows · 150 rows/s · 2.0s"
        );
    }
}
