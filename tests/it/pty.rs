//! The REPL at a real terminal: a pseudo-terminal drives `unify`, types a multi-line
//! query and reads the rendered table.

use crate::support::*;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A child process on a pseudo-terminal; everything it prints is collected.
pub struct Pty {
    master: std::fs::File,
    output: Arc<Mutex<String>>,
    child: std::process::Child,
}

impl Pty {
    /// Spawn `program args` on a new 40×120 pty.
    pub fn spawn(program: &str, args: &[&str], env: &[(&str, &str)]) -> Pty {
        let mut master: libc::c_int = 0;
        let mut slave: libc::c_int = 0;
        let ws = libc::winsize {
            ws_row: 40,
            ws_col: 120,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty fills two fds we then own.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &ws,
            )
        };
        assert_eq!(rc, 0, "openpty");
        // SAFETY: fcntl on the fd openpty returned: the child must not inherit the
        // master, or the terminal never closes when the test ends.
        unsafe {
            libc::fcntl(master, libc::F_SETFD, libc::FD_CLOEXEC);
        }
        let slave = unsafe { OwnedFd::from_raw_fd(slave) };
        let master = unsafe { std::fs::File::from_raw_fd(master) };
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::var("HOME").unwrap_or_default())
            .env("TERM", "xterm")
            .env("PAGER", "cat")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        for (k, v) in env {
            cmd.env(k, v);
        }
        // SAFETY: make the pty the child's controlling terminal.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY as _, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on pty");
        let output = Arc::new(Mutex::new(String::new()));
        let (out, mut reader, mut answer) = (
            output.clone(),
            master.try_clone().unwrap(),
            master.try_clone().unwrap(),
        );
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                // Answer cursor-position queries like a terminal would.
                if text.contains("\x1b[6n") {
                    let _ = answer.write_all(b"\x1b[1;1R");
                }
                out.lock().unwrap().push_str(&text);
            }
        });
        Pty {
            master,
            output,
            child,
        }
    }

    /// Type text.
    pub fn send(&mut self, text: &str) {
        self.master.write_all(text.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// Wait until the output contains `needle`; returns the output.
    pub fn expect(&self, needle: &str, within: Duration) -> String {
        let start = Instant::now();
        loop {
            let out = self.output.lock().unwrap().clone();
            if out.contains(needle) {
                return out;
            }
            if start.elapsed() > within {
                panic!("timed out waiting for {needle:?}; output so far:\n{out}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Wait for the process to exit.
    pub fn wait(&mut self, within: Duration) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            if start.elapsed() > within {
                let _ = self.child.kill();
                panic!(
                    "process did not exit; output:\n{}",
                    self.output.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // A failed test must not leave the REPL running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn repl_runs_a_multi_line_query_and_renders_the_table() {
    let server = mocksvc().await;
    let t = TestHome::new();
    t.with_mocksvc(&server);
    let home = t.dir.path().display().to_string();
    let result = tokio::task::spawn_blocking(move || {
        let mut p = Pty::spawn(
            env!("CARGO_BIN_EXE_unify"),
            &["--no-daemon", "--home", &home],
            &[],
        );
        p.expect("unify> ", Duration::from_secs(30));
        p.send("select name,\r");
        std::thread::sleep(Duration::from_millis(200));
        p.send("  open_issues_count as issues\r");
        std::thread::sleep(Duration::from_millis(200));
        p.send("from mocksvc.repos27 order by name limit 2;\r");
        let out = p.expect("2 rows", Duration::from_secs(60));
        p.send("show tables from mocksvc\r");
        let out2 = p.expect("repos_view", Duration::from_secs(10));
        p.send("exit\r");
        let code = p.wait(Duration::from_secs(20));
        (out, out2, code)
    })
    .await
    .unwrap();
    let (out, out2, code) = result;
    let clean = out.replace("\x1b[2K", "\n").replace('\r', "\n");
    assert!(
        clean
            .lines()
            .any(|l| l.starts_with("│ name ") && l.trim_end().ends_with("│ issues │")),
        "{out}"
    );
    assert!(clean.contains("├───────────────────┼────────┤"), "{out}");
    assert!(out.contains("application-infra"), "{out}");
    assert!(out2.contains("✓"), "{out2}");
    assert_eq!(code, 0);
    let history = std::fs::read_to_string(t.home.history_file()).unwrap();
    assert!(history.contains("open_issues_count as issues"), "{history}");
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_connection_asks_for_confirmation_then_removes_the_entry_and_its_tables() {
    let server = mocksvc().await;
    let t = TestHome::new();
    t.with_mocksvc(&server);
    let kept = "# my connections\n- other:\n    connector: mocksvc\n    options: {username: a, password: b}\n";
    let original = std::fs::read_to_string(t.home.connections_file()).unwrap();
    t.connections(&format!("{kept}{original}"));
    let home = t.dir.path().display().to_string();
    let (refused, removed, listed, code) = tokio::task::spawn_blocking(move || {
        let mut p = Pty::spawn(
            env!("CARGO_BIN_EXE_unify"),
            &["--no-daemon", "--home", &home],
            &[],
        );
        p.expect("unify> ", Duration::from_secs(30));
        p.send("select count(*) as n from mocksvc.repos27;\r");
        p.expect("1 row\r", Duration::from_secs(60));
        // A wrong confirmation deletes nothing.
        p.send("delete connection mocksvc\r");
        p.expect("to confirm: ", Duration::from_secs(10));
        p.send("nope\r");
        let refused = p.expect("nothing was deleted", Duration::from_secs(10));
        p.send("delete connection mocksvc\r");
        let start = Instant::now();
        while p.output.lock().unwrap().matches("to confirm: ").count() < 2 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no second prompt"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        p.send("mocksvc\r");
        let removed = p.expect("Removed connection 'mocksvc'", Duration::from_secs(10));
        p.send("show connections\r");
        let listed = p.expect("other", Duration::from_secs(10));
        p.send("exit\r");
        let code = p.wait(Duration::from_secs(20));
        (refused, removed, listed, code)
    })
    .await
    .unwrap();
    assert!(refused.contains("THIS WILL DELETE ALL TABLES"), "{refused}");
    assert!(removed.contains("and its tables"), "{removed}");
    let after_show = &listed[removed.len()..];
    assert!(
        !after_show
            .lines()
            .any(|l| l.trim_start_matches(['\r', '\n']).starts_with("│ mocksvc ")),
        "{after_show}"
    );
    assert!(after_show.contains("\n│ other "), "{after_show}");
    assert_eq!(code, 1, "the refused delete counts as a failed statement");
    assert_eq!(
        std::fs::read_to_string(t.home.connections_file()).unwrap(),
        kept,
        "the other connection and the comment are kept"
    );
    let engine = t.engine();
    assert!(!engine.exists("mocksvc", "repos27").await.unwrap());
}
