//! Test support: temporary homes, a mock of the original tool's `mocksvc` API, and an
//! engine to load tables with.

#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use unify::engine::{Config, Engine, LoadError, LoadSummary, NoProgress};
use unify::home::Home;
use unify::protocol::Action;
use unify::warehouse::Warehouse;
use wiremock::matchers::{basic_auth, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The checkout being tested. Read at run time: cargo sets it for test binaries, and a
/// compile-time `env!` could be stale when sccache serves a build made in another clone.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The original tool's fixtures.
pub fn fixture(name: &str) -> PathBuf {
    manifest_dir().join("tests/fixtures").join(name)
}

/// A fixture parsed as JSON.
pub fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

/// The original mocksvc spec with only `base_url` changed.
pub fn mocksvc_spec(base_url: &str) -> String {
    let text = std::fs::read_to_string(fixture("mocksvc_spec.yaml")).unwrap();
    text.replace("https://mocksvc.com", base_url)
}

/// The 100 records of page1-100.json with ids `page * 1_000_000 + i`.
pub fn page_with_ids(page: u64) -> Value {
    let mut v = fixture_json("page1-100.json");
    for (i, r) in v.as_array_mut().unwrap().iter_mut().enumerate() {
        r["id"] = Value::from(page * 1_000_000 + i as u64);
    }
    v
}

/// The `page` query parameter of a mock request (1 when absent).
pub fn page_param(request: &Request) -> u64 {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(1)
}

/// Serves `/api/repos_1100?page=N&count=100`: 10 pages of 100 with deterministic ids,
/// page 11 = the 27 records, later pages empty.
struct Repos1100;

impl Respond for Repos1100 {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let page = page_param(request);
        let body = match page {
            1..=10 => page_with_ids(page),
            11 => fixture_json("page2-27.json"),
            _ => Value::Array(vec![]),
        };
        ResponseTemplate::new(200).set_body_json(body)
    }
}

/// The mocksvc API of the original tests, with basic auth scott@example.com:abc123.
pub async fn mocksvc() -> MockServer {
    let server = MockServer::start().await;
    let auth = || basic_auth("scott@example.com", "abc123");
    Mock::given(method("GET"))
        .and(path("/api/ping"))
        .respond_with(ResponseTemplate::new(200).set_body_string("pong"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/repos_27"))
        .and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture_json("page2-27.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/repos_100"))
        .and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture_json("page1-100.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/repos_1100"))
        .and(auth())
        .respond_with(Repos1100)
        .mount(&server)
        .await;
    // Anything else (wrong or missing credentials): 401.
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"message": "Bad credentials"})),
        )
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

/// A temporary home with specs and a connections file.
pub struct TestHome {
    pub dir: tempfile::TempDir,
    pub home: Home,
}

impl TestHome {
    pub fn new() -> TestHome {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.ensure_dirs().unwrap();
        TestHome { dir, home }
    }

    /// Write a user spec file.
    pub fn spec(&self, name: &str, text: &str) -> &Self {
        std::fs::write(
            self.home.specs_dir().join(format!("{name}_spec.yaml")),
            text,
        )
        .unwrap();
        self
    }

    /// Write connections.yaml.
    pub fn connections(&self, text: &str) -> &Self {
        std::fs::write(self.home.connections_file(), text).unwrap();
        self
    }

    /// The mocksvc spec and a mocksvc connection pointing at `server`.
    pub fn with_mocksvc(&self, server: &MockServer) -> &Self {
        self.spec("mocksvc", &mocksvc_spec(&server.uri()));
        self.connections(
            "- mocksvc:\n    connector: mocksvc\n    options:\n      username: scott@example.com\n      password: abc123\n",
        );
        self
    }

    /// An engine over this home (its warehouse file, the current config).
    pub fn engine(&self) -> Arc<Engine> {
        let config = Config::load(&self.home);
        assert!(
            config.errors.is_empty(),
            "connection errors: {:?}",
            config.errors
        );
        assert!(
            config.catalog.warnings.is_empty(),
            "spec problems: {:?}",
            config.catalog.warnings
        );
        let wh = Warehouse::open(&self.home.warehouse_file()).unwrap();
        Arc::new(Engine::with_parts(self.home.clone(), wh, config))
    }
}

/// Load (or refresh…) a table with no progress reporting.
pub async fn load(
    engine: &Engine,
    schema: &str,
    table: &str,
    action: Action,
) -> Result<LoadSummary, LoadError> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    engine
        .load(
            &id,
            schema,
            table,
            action,
            Arc::new(NoProgress),
            tokio_util::sync::CancellationToken::new(),
        )
        .await
}

/// Run a scalar query.
pub fn scalar<T: duckdb::types::FromSql>(engine: &Engine, sql: &str) -> T {
    let conn = engine.warehouse().connect().unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Column names of a table.
pub fn columns(engine: &Engine, schema: &str, table: &str) -> Vec<String> {
    let conn = engine.warehouse().connect().unwrap();
    unify::warehouse::table_columns(&conn, schema, table)
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect()
}

/// Requests the mock received for a path.
pub async fn requests_to(server: &MockServer, p: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == p)
        .collect()
}

/// A child process whose stdout and stderr are read as they come (so a chatty child
/// never blocks on a full pipe).
pub struct Running {
    child: std::process::Child,
    stdout: Arc<std::sync::Mutex<String>>,
    stderr: Arc<std::sync::Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// Finished: exit code (`None` when killed by a signal) and everything it printed.
pub struct Exited {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Running {
    /// Spawn `cmd` with piped stdout and stderr and no stdin.
    pub fn spawn(cmd: &mut std::process::Command) -> Running {
        use std::io::Read;
        use std::process::Stdio;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the process starts");
        let stdout: Arc<std::sync::Mutex<String>> = Arc::default();
        let stderr: Arc<std::sync::Mutex<String>> = Arc::default();
        let mut readers = Vec::new();
        let pipes: [(Box<dyn Read + Send>, _); 2] = [
            (Box::new(child.stdout.take().unwrap()), stdout.clone()),
            (Box::new(child.stderr.take().unwrap()), stderr.clone()),
        ];
        for (mut pipe, into) in pipes {
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    into.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }));
        }
        Running {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Wait until stdout contains `needle`.
    pub async fn wait_for_stdout(&self, needle: &str, within: std::time::Duration) {
        let started = std::time::Instant::now();
        while !self.stdout.lock().unwrap().contains(needle) {
            assert!(
                started.elapsed() < within,
                "no {needle:?} on stdout; stderr: {}",
                self.stderr.lock().unwrap()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Wait for the exit; panics (after killing it) past `within`.
    pub async fn wait(mut self, within: std::time::Duration) -> Exited {
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let status = loop {
                if let Some(status) = self.child.try_wait().unwrap() {
                    break status;
                }
                if started.elapsed() > within {
                    let _ = self.child.kill();
                    panic!(
                        "the process did not exit; stderr: {}",
                        self.stderr.lock().unwrap()
                    );
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            };
            for r in self.readers {
                let _ = r.join();
            }
            let take = |s: &Arc<std::sync::Mutex<String>>| std::mem::take(&mut *s.lock().unwrap());
            Exited {
                code: status.code(),
                stdout: take(&self.stdout),
                stderr: take(&self.stderr),
            }
        })
        .await
        .unwrap()
    }

    /// Send SIGINT and wait for the exit; panics (after killing it) past `within`.
    pub async fn interrupt_and_wait(self, within: std::time::Duration) -> Exited {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        self.wait(within).await
    }
}
