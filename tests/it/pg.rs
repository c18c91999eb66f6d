//! The PostgreSQL endpoint with real clients: `psql` (Debian's postgresql-client; `.ci/run`
//! installs it) and `tokio-postgres` (the extended protocol, with parameters). Each test
//! starts `unifyd --pg-listen 127.0.0.1:0` in a fresh home, reads the bound port from
//! `run/pg.json`, and waits on conditions with generous deadlines.

use crate::support::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use unify::home::Home;
use unify::pg::PgStatus;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request as WmRequest, Respond, ResponseTemplate};

const PASSWORD: &str = "s3cret-pg-pass";

/// `unifyd --pg-listen 127.0.0.1:0` in the foreground.
pub struct PgDaemon {
    pub home: Home,
    pub port: u16,
    child: Option<Child>,
}

impl PgDaemon {
    /// Start it with `UNIFY_PG_PASSWORD` = [`PASSWORD`] (unless `env` sets it) and wait for
    /// the endpoint.
    pub async fn start(home: &Home, env: &[(&str, &str)]) -> PgDaemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_unifyd"));
        cmd.arg("--home")
            .arg(home.root())
            .arg("--pg-listen")
            .arg("127.0.0.1:0")
            .env("UNIFY_PG_PASSWORD", PASSWORD)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("unifyd starts");
        let mut d = PgDaemon {
            home: home.clone(),
            port: 0,
            child: Some(child),
        };
        let start = Instant::now();
        loop {
            if let Some(s) = PgStatus::read(home) {
                d.port = s.listen.rsplit(':').next().unwrap().parse().unwrap();
                if std::net::TcpStream::connect(("127.0.0.1", d.port)).is_ok() {
                    return d;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the pg endpoint did not come up; log:\n{}",
                std::fs::read_to_string(home.daemon_log()).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `psql` connected to this endpoint, with `password`.
    pub fn psql_with(&self, password: &str) -> Command {
        let psql = which("psql");
        let mut cmd = Command::new(psql);
        cmd.args([
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "unify",
            "-d",
            "unify",
        ])
        .arg("-p")
        .arg(self.port.to_string())
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PGSSLMODE", "disable")
        .env_remove("PGSERVICE");
        cmd
    }

    pub fn psql(&self) -> Command {
        self.psql_with(PASSWORD)
    }

    /// Run `psql -c sql` (several `-c` allowed) and return (exit code, stdout, stderr).
    pub fn run_psql(&self, extra: &[&str]) -> (i32, String, String) {
        let out = self.psql().args(extra).output().expect("psql runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A tokio-postgres client.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user("unify")
            .password(PASSWORD)
            .dbname("unify")
            .connect(tokio_postgres::NoTls)
            .await
            .expect("tokio-postgres connects");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.home.daemon_log()).unwrap_or_default()
    }
}

impl Drop for PgDaemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signalling our own child.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let _ = c.wait();
        }
    }
}

/// A program on PATH, or a clear failure saying how to install it.
fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(program))
                .find(|f| f.is_file())
        })
        .unwrap_or_else(|| {
            panic!("{program} is required by the pg tests: apt-get install -y postgresql-client")
        })
}

/// A home that does not exist yet.
fn fresh_home(dir: &Path) -> Home {
    Home::new(dir.join("home"))
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_runs_queries_lists_tables_and_describes_one() {
    let dir = tempfile::tempdir().unwrap();
    let home = fresh_home(dir.path());
    let d = PgDaemon::start(&home, &[]).await;

    let (code, out, err) = d.run_psql(&[
        "-c",
        "create table main.people(id integer, name varchar, born date, score decimal(10,2), tags varchar[], seen timestamp, ok boolean)",
        "-c",
        "insert into main.people values (1, 'Ada', '1815-12-10', 12.50, ['math','code'], '2024-01-02 03:04:05', true), (2, NULL, NULL, NULL, NULL, NULL, NULL)",
        "-c",
        "select id, name, born, score, tags, seen, ok from main.people order by id",
    ]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("INSERT 0 2"), "{out}");
    let row = out
        .lines()
        .find(|l| l.contains("Ada"))
        .unwrap_or_else(|| panic!("no Ada row: {out}"));
    // (The simple protocol sends a decimal as the engine gives it: 12.5; a described
    // statement knows its scale and sends 12.50.)
    for cell in [
        "1815-12-10",
        "12.5",
        "{math,code}",
        "2024-01-02 03:04:05",
        " t",
    ] {
        assert!(row.contains(cell), "{cell} missing in {row:?}");
    }
    assert!(out.contains("(2 rows)"), "{out}");

    // \dt lists it, \dn lists the schemas, \d describes its columns with Postgres types.
    let (code, out, err) = d.run_psql(&["-c", "\\dt"]);
    assert_eq!(code, 0, "{err}");
    let line = out
        .lines()
        .find(|l| l.contains("people"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("main") && line.contains("table") && line.contains("unify"),
        "{line}"
    );
    let (code, out, err) = d.run_psql(&["-c", "\\dn"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines().any(|l| l.trim_start().starts_with("main")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.trim_start().starts_with("unify")),
        "{out}"
    );
    let (code, out, err) = d.run_psql(&["-c", "\\d main.people"]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    for (col, ty) in [
        ("id", "integer"),
        ("name", "character varying"),
        ("born", "date"),
        ("score", "numeric(10,2)"),
        ("tags", "character varying[]"),
        ("seen", "timestamp without time zone"),
        ("ok", "boolean"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.split('|').next().is_some_and(|c| c.trim() == col) && l.contains(ty)),
            "column {col} of type {ty} missing:\n{out}"
        );
    }
    // Settings, version() and current_setting() as clients ask them.
    let (code, out, err) = d.run_psql(&[
        "-A",
        "-t",
        "-c",
        "set application_name = 'metabase'",
        "-c",
        "show application_name",
        "-c",
        "select version()",
        "-c",
        "select current_setting('server_version_num')",
        "-c",
        "show transaction isolation level",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "SET");
    assert_eq!(lines[1], "metabase");
    assert!(
        lines[2].starts_with("PostgreSQL 15.0 (unify"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], "150000");
    assert_eq!(lines[4], "read committed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_result_larger_than_one_chunk_arrives_whole_in_both_protocols() {
    let dir = tempfile::tempdir().unwrap();
    let d = PgDaemon::start(&fresh_home(dir.path()), &[]).await;
    let client = d.client().await;
    let sql = "select range::bigint as n from range(2500)";
    let rows = client.query(sql, &[]).await.unwrap();
    assert_eq!(rows.len(), 2500);
    let sum: i64 = rows.iter().map(|r| r.get::<_, i64>(0)).sum();
    assert_eq!(sum, 2499 * 2500 / 2);
    let simple = client.simple_query(sql).await.unwrap();
    let data = simple
        .iter()
        .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
        .count();
    assert_eq!(data, 2500);
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_carry_sqlstate_codes_and_the_session_survives() {
    let dir = tempfile::tempdir().unwrap();
    let d = PgDaemon::start(&fresh_home(dir.path()), &[]).await;
    let client = d.client().await;
    let cases = [
        ("selec 1", "42601"),
        ("select * from main.nowhere", "42P01"),
        ("select nope from (select 1 as a)", "42703"),
        ("select 1/0::integer + 'x'::integer", "22P02"),
    ];
    for (sql, code) in cases {
        let err = client.simple_query(sql).await.unwrap_err();
        let db = err.as_db_error().unwrap_or_else(|| panic!("{sql}: {err}"));
        assert_eq!(db.code().code(), code, "{sql}: {}", db.message());
    }
    // Still usable.
    let rows = client.query("select 1::bigint as one", &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_psql_query_auto_loads_a_connector_table_with_progress_notices() {
    let mock = mocksvc().await;
    let t = TestHome::new();
    t.with_mocksvc(&mock);
    let d = PgDaemon::start(&t.home, &[]).await;
    let (code, out, err) = d.run_psql(&[
        "-A",
        "-t",
        "-c",
        "select count(*), count(distinct id) from mocksvc.repos27",
    ]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}\nlog: {}", d.log());
    assert_eq!(out.trim(), "27|27", "{out}");
    assert!(
        err.contains("NOTICE:  Loading table mocksvc.repos27"),
        "no loading notice: {err}"
    );
    // Loaded once: a second query does not fetch again.
    let (code, out, _) = d.run_psql(&["-A", "-t", "-c", "select count(*) from mocksvc.repos27"]);
    assert_eq!((code, out.trim()), (0, "27"));
    assert_eq!(requests_to(&mock, "/api/repos_27").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_or_user_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = PgDaemon::start(&fresh_home(dir.path()), &[]).await;
    let out = d
        .psql_with("not-the-password")
        .args(["-c", "select 1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains(PASSWORD));
    let out = d
        .psql()
        .args(["-U", "postgres", "-c", "select 1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("password authentication failed for user \"postgres\""),
        "{err}"
    );
    // The right one works.
    let (code, out, err) = d.run_psql(&["-A", "-t", "-c", "select 42"]);
    assert_eq!((code, out.trim()), (0, "42"), "{err}");
}

/// `pages` pages of 10 records, each answered after `delay`.
struct SlowPages {
    pages: u64,
    delay: Duration,
}

impl Respond for SlowPages {
    fn respond(&self, request: &WmRequest) -> ResponseTemplate {
        let page = page_param(request);
        let body = if page <= self.pages {
            json!((0..10)
                .map(|i| json!({"id": page * 100 + i}))
                .collect::<Vec<_>>())
        } else {
            json!([])
        };
        ResponseTemplate::new(200)
            .set_body_json(body)
            .set_delay(self.delay)
    }
}

async fn slow_home(pages: u64, delay: Duration) -> (TestHome, MockServer) {
    let slow = MockServer::start().await;
    Mock::given(path("/t"))
        .respond_with(SlowPages { pages, delay })
        .mount(&slow)
        .await;
    let t = TestHome::new();
    t.spec(
        "slow",
        &format!(
            "name: slow\nbase_url: {}\ntables:\n  - name: t\n    resource_path: /t\n    supports_paging: true\n    paging: {{strategy: pageAndCount, page_param: page, count_param: n, page_size: 10}}\n",
            slow.uri()
        ),
    );
    t.connections("- slow:\n    connector: slow\n");
    (t, slow)
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_in_psql_cancels_the_statement_and_the_load_it_waits_for() {
    let (t, _slow) = slow_home(1000, Duration::from_millis(100)).await;
    let d = PgDaemon::start(&t.home, &[]).await;
    let mut cmd = d.psql();
    cmd.args(["-c", "select count(*) from slow.t"]);
    let running = Running::spawn(&mut cmd);
    // Wait until the load is running (its progress notice reached psql), then Ctrl-C.
    let started = Instant::now();
    while !running.stderr().contains("NOTICE:  loading slow.t:") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no loading notice; stderr: {}",
            running.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let exited = running.interrupt_and_wait(Duration::from_secs(60)).await;
    assert!(
        exited
            .stderr
            .contains("canceling statement due to user request"),
        "{}",
        exited.stderr
    );
    assert_ne!(exited.code, Some(0));
    // The load was cancelled, not left running: the job ends cancelled.
    let started = Instant::now();
    loop {
        let (code, out, err) = d.run_psql(&[
            "-A",
            "-t",
            "-c",
            "select state from unify.loading_jobs where schema_name = 'slow' and table_name = 't'",
        ]);
        assert_eq!(code, 0, "{err}");
        if out.trim() == "cancelled" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the load was not cancelled: {out:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And the session still answers.
    let (code, out, _) = d.run_psql(&["-A", "-t", "-c", "select 7"]);
    assert_eq!((code, out.trim()), (0, "7"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_request_interrupts_a_long_duckdb_statement() {
    let dir = tempfile::tempdir().unwrap();
    let d = PgDaemon::start(&fresh_home(dir.path()), &[]).await;
    let client = d.client().await;
    let token = client.cancel_token();
    let query = tokio::spawn(async move {
        let r = client
            .simple_query("select count(*) from range(100000000000) a where a.range % 7 = 3")
            .await;
        (r.map(|_| ()), client)
    });
    // Cancel until it takes (the statement may not have reached DuckDB yet).
    let started = Instant::now();
    while !query.is_finished() {
        token.cancel_query(tokio_postgres::NoTls).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(60), "not cancelled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (result, client) = query.await.unwrap();
    let err = result.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err}");
    let rows = client.query("select 2::bigint", &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 2);

    // The same from another connection, with pg_cancel_backend(pg_backend_pid()).
    let pid: i64 = client
        .query_one("select pg_backend_pid()::bigint", &[])
        .await
        .unwrap()
        .get(0);
    let other = d.client().await;
    let query = tokio::spawn(async move {
        client
            .simple_query("select count(*) from range(100000000000) a where a.range % 7 = 3")
            .await
            .map(|_| ())
    });
    let started = Instant::now();
    while !query.is_finished() {
        let rows = other
            .simple_query(&format!("select pg_cancel_backend({pid})"))
            .await
            .unwrap();
        assert!(rows
            .iter()
            .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_))));
        assert!(started.elapsed() < Duration::from_secs(60), "not cancelled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let err = query.await.unwrap().unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tokio_postgres_uses_the_extended_protocol_with_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let d = PgDaemon::start(&fresh_home(dir.path()), &[]).await;
    let client = d.client().await;
    client
        .batch_execute(
            "create table main.items(id bigint, name varchar, price double, qty integer, day date, seen_at timestamp, tags varchar[], doc json, ok boolean)",
        )
        .await
        .unwrap();
    let n = client
        .execute(
            "insert into main.items values ($1, $2, $3, $4, $5, $6, ['a','b'], '{\"k\": 1}', $7)",
            &[
                &1i64,
                &"first",
                &2.5f64,
                &3i32,
                &chrono::NaiveDate::from_ymd_opt(2024, 5, 6).unwrap(),
                &chrono::NaiveDate::from_ymd_opt(2024, 5, 6)
                    .unwrap()
                    .and_hms_micro_opt(7, 8, 9, 123456)
                    .unwrap(),
                &true,
            ],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    client
        .execute(
            "insert into main.items(id, name) values ($1, $2)",
            &[&2i64, &Option::<String>::None],
        )
        .await
        .unwrap();
    // Typed results in the binary format, NULLs, a text parameter compared to a column.
    let rows = client
        .query(
            "select id, name, price, qty, day, seen_at, tags, doc, ok from main.items where name = $1",
            &[&"first"],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.get::<_, i64>("id"), 1);
    assert_eq!(r.get::<_, String>("name"), "first");
    assert_eq!(r.get::<_, f64>("price"), 2.5);
    assert_eq!(r.get::<_, i32>("qty"), 3);
    assert_eq!(
        r.get::<_, chrono::NaiveDate>("day"),
        chrono::NaiveDate::from_ymd_opt(2024, 5, 6).unwrap()
    );
    assert_eq!(
        r.get::<_, chrono::NaiveDateTime>("seen_at").to_string(),
        "2024-05-06 07:08:09.123456"
    );
    assert_eq!(r.get::<_, Vec<String>>("tags"), vec!["a", "b"]);
    assert_eq!(r.get::<_, serde_json::Value>("doc"), json!({"k": 1}));
    assert!(r.get::<_, bool>("ok"));
    // A typed parameter from a cast, and a NULL cell.
    let rows = client
        .query(
            "select id, name from main.items where id > $1::bigint order by id",
            &[&1i64],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i64>(0), 2);
    assert_eq!(rows[0].get::<_, Option<String>>(1), None);
    // A prepared statement with declared types, run twice with different values.
    let stmt = client
        .prepare_typed(
            "select count(*) as n from main.items where id >= $1 and coalesce(name, '') <> $2",
            &[
                tokio_postgres::types::Type::INT8,
                tokio_postgres::types::Type::TEXT,
            ],
        )
        .await
        .unwrap();
    let n: i64 = client
        .query_one(&stmt, &[&1i64, &"x"])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    let n: i64 = client.query_one(&stmt, &[&2i64, &""]).await.unwrap().get(0);
    assert_eq!(n, 0);
    // A quote in a text parameter stays data.
    let rows = client
        .query("select $1::text as s", &[&"it's; drop table main.items"])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, String>(0), "it's; drop table main.items");
    let n: i64 = client
        .query_one("select count(*) from main.items", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn unifyd_status_shows_the_pg_address_and_the_generated_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let home = fresh_home(dir.path());
    // No UNIFY_PG_PASSWORD: one is generated into the home, readable by the owner only.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_unifyd"));
    let out = cmd
        .arg("--home")
        .arg(home.root())
        .args(["start", "--pg-listen", "127.0.0.1:0"])
        .env_remove("UNIFY_PG_PASSWORD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = home.root().join("pg/password");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let password = std::fs::read_to_string(&file).unwrap().trim().to_string();
    assert!(password.len() >= 20);
    let status = Command::new(env!("CARGO_BIN_EXE_unifyd"))
        .arg("--home")
        .arg(home.root())
        .arg("status")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(text.contains("PostgreSQL on 127.0.0.1:"), "{text}");
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(
        !text.contains(&password),
        "the password itself is never printed"
    );
    let s = PgStatus::read(&home).unwrap();
    let port = s.listen.rsplit(':').next().unwrap();
    let out = Command::new(which("psql"))
        .args([
            "-X",
            "-A",
            "-t",
            "-h",
            "127.0.0.1",
            "-U",
            "unify",
            "-d",
            "unify",
            "-p",
            port,
        ])
        .args(["-c", "select 5"])
        .env("PGPASSWORD", &password)
        .env("PGSSLMODE", "disable")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "5");
    // The generated password survives a restart.
    Command::new(env!("CARGO_BIN_EXE_unifyd"))
        .arg("--home")
        .arg(home.root())
        .arg("stop")
        .output()
        .unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), password);
    assert!(
        PgStatus::read(&home).is_none(),
        "run/pg.json is removed on stop"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn listening_beyond_loopback_needs_an_explicit_password_and_tls() {
    let dir = tempfile::tempdir().unwrap();
    let home = fresh_home(dir.path());
    let run = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_unifyd"));
        cmd.arg("--home")
            .arg(home.root())
            .args(["start", "--pg-listen", "0.0.0.0:0"])
            .env_remove("UNIFY_PG_PASSWORD")
            .env_remove("UNIFY_PG_TLS_CERT")
            .env_remove("UNIFY_PG_TLS_KEY");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("refusing to serve PostgreSQL on 0.0.0.0:0"),
        "{err}"
    );
    assert!(
        err.contains("UNIFY_PG_PASSWORD") && err.contains("TLS"),
        "{err}"
    );
    let (code, err) = run(&[("UNIFY_PG_PASSWORD", "x-long-password")]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("without TLS") && !err.contains("without a password"),
        "{err}"
    );
    // Nothing was started.
    assert!(PgStatus::read(&home).is_none());
    assert!(!home.pid_file().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_is_served_when_a_certificate_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let home = fresh_home(dir.path());
    let pg_dir = home.root().join("pg");
    std::fs::create_dir_all(&pg_dir).unwrap();
    let status = Command::new(which("openssl"))
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(pg_dir.join("server.key"))
        .arg("-out")
        .arg(pg_dir.join("server.crt"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let d = PgDaemon::start(&home, &[]).await;
    assert!(PgStatus::read(&home).unwrap().tls);
    let out = d
        .psql()
        .env("PGSSLMODE", "require")
        .args(["-c", "\\conninfo", "-A", "-t", "-c", "select 3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("SSL connection"), "{stdout}");
    assert!(stdout.lines().any(|l| l.trim() == "3"), "{stdout}");
}

/// One-row query round trips over the Postgres protocol (for BENCHMARKS.md):
/// `cargo test --test it pg::one_row_round_trip -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, not a test: run by hand for BENCHMARKS.md"]
async fn one_row_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = PgDaemon::start(&fresh_home(dir.path()), &[]).await;
    let client = d.client().await;
    client.simple_query("select 1").await.unwrap();
    let stmt = client.prepare("select 42::bigint as answer").await.unwrap();
    for (name, prepared) in [("simple protocol", false), ("extended, prepared", true)] {
        let mut times = Vec::new();
        for _ in 0..2000 {
            let t = Instant::now();
            if prepared {
                client.query_one(&stmt, &[]).await.unwrap();
            } else {
                client.simple_query("select 42").await.unwrap();
            }
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "{name}: median {:?}, p99 {:?} over {} round trips",
            times[times.len() / 2],
            times[times.len() * 99 / 100],
            times.len()
        );
    }
}
