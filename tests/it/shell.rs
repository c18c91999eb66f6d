//! The CLI as a shell: errors that name the fix, output formats, flags, the REPL at a
//! terminal. Every test runs the real binaries from a home that does not exist yet, in
//! both modes where the behaviour could differ.

use crate::newuser::{run_in, Fresh, Out};
use crate::pty::Pty;
use crate::support::*;
use serde_json::json;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const MODES: [Option<&str>; 2] = [None, Some("--no-daemon")];

fn args<'a>(mode: Option<&'a str>, rest: &[&'a str]) -> Vec<&'a str> {
    let mut all: Vec<&str> = mode.into_iter().collect();
    all.extend_from_slice(rest);
    all
}

fn assert_ok(out: &Out) {
    assert_eq!(
        out.code, 0,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
}

/// A fresh home holding only a user spec and a connections file.
fn home_with(spec_name: &str, spec: &str, connections: &str) -> Fresh {
    let f = Fresh::new();
    std::fs::create_dir_all(f.home.join("rest_specs")).unwrap();
    std::fs::write(
        f.home.join(format!("rest_specs/{spec_name}_spec.yaml")),
        spec,
    )
    .unwrap();
    std::fs::write(f.home.join("connections.yaml"), connections).unwrap();
    f
}

fn simple_spec(name: &str, base: &str, tables: &str) -> String {
    format!("name: {name}\nbase_url: {base}\ntables:\n{tables}")
}

async fn server_with(paths: &[(&str, serde_json::Value)]) -> MockServer {
    let server = MockServer::start().await;
    for (p, body) in paths {
        Mock::given(method("GET"))
            .and(path(*p))
            .respond_with(ResponseTemplate::new(200).set_body_json(body.clone()))
            .mount(&server)
            .await;
    }
    server
}

// ---------------------------------------------------------------------------------------
// Errors that name the fix

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_spec_is_named_with_its_file_and_key_in_both_modes() {
    for mode in MODES {
        let f = home_with(
            "mock",
            "name: mock\nbase_url: http://127.0.0.1:9\ntables: 3\n",
            "- mock:\n    connector: mock\n",
        );
        let out = f
            .unify(&args(mode, &["-c", "select * from mock.things"]), None)
            .await;
        assert_eq!(out.code, 1, "{out:?}");
        let err = out.stderr.trim();
        assert_eq!(err.lines().count(), 1, "{mode:?}: one line: {err}");
        assert!(err.contains("connection 'mock'"), "{mode:?}: {err}");
        assert!(
            err.contains("mock_spec.yaml: tables:"),
            "{mode:?}: file and key: {err}"
        );
        assert!(!err.contains("does not exist"), "{mode:?}: {err}");
        // show connections and system status list it with its reason.
        let out = f
            .unify(
                &args(mode, &["--format", "json", "-c", "show connections"]),
                None,
            )
            .await;
        assert_ok(&out);
        let rows: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let text = rows.to_string();
        assert!(text.contains("mock_spec.yaml: tables:"), "{mode:?}: {text}");
        let out = f.unify(&args(mode, &["-c", "system status"]), None).await;
        assert!(
            out.stderr.contains("mock_spec.yaml: tables:"),
            "{mode:?}: {}",
            out.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_variable_is_named_and_one_exported_later_is_used() {
    let server = server_with(&[("/things", json!([{"id": 1}, {"id": 2}]))]).await;
    for mode in MODES {
        let f = home_with(
            "mock",
            &format!(
                "{}auth:\n  type: BEARER\n  params:\n    token: the API token\n",
                simple_spec(
                    "mock",
                    &server.uri(),
                    "  - name: things\n    resource_path: /things\n"
                )
            ),
            "- mock:\n    connector: mock\n    options:\n      token: $UNIFY_TEST_TOKEN_XYZ\n",
        );
        let q = args(
            mode,
            &[
                "--format",
                "csv",
                "-c",
                "select count(*) as n from mock.things",
            ],
        );
        let out = f.unify(&q, None).await;
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            out.stderr.contains("UNIFY_TEST_TOKEN_XYZ"),
            "{mode:?}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("mock"), "{mode:?}: {}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        // Exported now: the daemon started without it still uses it.
        let out = f
            .unify_env(&q, None, &[("UNIFY_TEST_TOKEN_XYZ", "tok-123")])
            .await;
        assert_ok(&out);
        assert_eq!(out.stdout, "n\n2\n", "{mode:?}");
    }
    let sent = server.received_requests().await.unwrap();
    assert!(sent
        .iter()
        .all(|r| r.headers.get("authorization").unwrap() == "Bearer tok-123"));
}

#[tokio::test(flavor = "multi_thread")]
async fn one_bad_table_disables_that_table_only() {
    let server = server_with(&[("/good", json!([{"id": 1}]))]).await;
    let spec = simple_spec(
        "mock",
        &server.uri(),
        "  - name: good\n    resource_path: /good\n  - name: bad\n    resource_path: /bad\n    no_such_key: 1\n",
    );
    for mode in MODES {
        let f = home_with("mock", &spec, "- mock:\n    connector: mock\n");
        let out = f
            .unify(
                &args(mode, &["--format", "csv", "-c", "select id from mock.good"]),
                None,
            )
            .await;
        assert_ok(&out);
        assert_eq!(out.stdout, "id\n1\n");
        let out = f
            .unify(&args(mode, &["-c", "select * from mock.bad"]), None)
            .await;
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.contains("mock.bad is disabled") && out.stderr.contains("no_such_key"),
            "{mode:?}: {}",
            out.stderr
        );
        let out = f
            .unify(
                &args(mode, &["--format", "json", "-c", "show connections"]),
                None,
            )
            .await;
        assert!(out.stdout.contains("'bad' disabled"), "{}", out.stdout);
    }
    // `spec check` still calls it a problem.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mock_spec.yaml");
    std::fs::write(&file, &spec).unwrap();
    let out = run_in(
        env!("CARGO_BIN_EXE_unify"),
        None,
        &["spec", "check", file.to_str().unwrap()],
        None,
        &[],
    )
    .await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no_such_key"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_load_is_one_line_without_colour_in_both_modes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no such thing"))
        .mount(&server)
        .await;
    for mode in MODES {
        let f = home_with(
            "mock",
            &simple_spec(
                "mock",
                &server.uri(),
                "  - name: things\n    resource_path: /things\n",
            ),
            "- mock:\n    connector: mock\n",
        );
        let out = f
            .unify(&args(mode, &["-c", "select * from mock.things"]), None)
            .await;
        assert_eq!(out.code, 1);
        let lines: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| !l.starts_with("Loading table"))
            .collect();
        assert_eq!(lines.len(), 1, "{mode:?}: {}", out.stderr);
        assert!(
            lines[0].starts_with("Error: loading mock.things failed: "),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains("404"), "{}", lines[0]);
        assert!(
            !lines[0].contains("failed: loading mock.things"),
            "{}",
            lines[0]
        );
        assert!(
            !out.stderr.contains('\x1b'),
            "no colour codes: {:?}",
            out.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------
// Output

#[tokio::test(flavor = "multi_thread")]
async fn formats_switch_in_a_session_and_stdout_carries_results_only() {
    for mode in MODES {
        let f = Fresh::new();
        let out = f
            .unify(
                &args(
                    mode,
                    &["-c", "select 1 as a; format csv; select 2 as b; format jsonl; select 3 as c, 'x' as d; format markdown; select 4 as e; format line; select 5 as f, 6 as g"],
                ),
                None,
            )
            .await;
        assert_ok(&out);
        assert!(
            out.stdout
                .starts_with("┌───┐\n│ a │\n├───┤\n│ 1 │\n└───┘\n1 row\n"),
            "{}",
            out.stdout
        );
        assert!(out.stdout.contains("\nb\n2\n"), "{}", out.stdout);
        assert!(
            out.stdout.contains("{\"c\":3,\"d\":\"x\"}\n"),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout.contains("| e |\n|---:|\n| 4 |\n"),
            "{}",
            out.stdout
        );
        assert!(out.stdout.ends_with("f = 5\ng = 6\n"), "{}", out.stdout);
        assert!(out.stderr.contains("Result format: csv"), "{}", out.stderr);

        // In csv, json and jsonl, stdout is results only: no echo of `$x = 5`, no help.
        let out = f
            .unify(
                &args(
                    mode,
                    &[
                        "--format",
                        "csv",
                        "-c",
                        "$x = 5; help; peek file 'nope.txt'; select $x as v",
                    ],
                ),
                None,
            )
            .await;
        assert_eq!(out.stdout, "v\n5\n", "{mode:?}: {}", out.stderr);
        assert!(out.stderr.contains("show schemas"), "help went to stderr");
        // DDL: one line on stderr, no empty `Count` table; DML shows its count.
        let out = f
            .unify(
                &args(mode, &["-c", "create table t (a int); insert into t values (1), (2); select sum(a) as s from t; drop table t"]),
                Some("y\n"),
            )
            .await;
        assert_ok(&out);
        assert_eq!(out.stdout.matches("Count").count(), 1, "{}", out.stdout);
        assert!(out.stdout.contains("│     2 │"), "{}", out.stdout);
        assert!(out.stdout.contains("│ 3 │"), "{}", out.stdout);
        assert!(out.stderr.contains("CREATE TABLE"), "{}", out.stderr);
        assert!(
            out.stderr.contains("DROP TABLE") || out.stderr.contains("Dropped table"),
            "{}",
            out.stderr
        );
        // timing on: a time per statement on stderr.
        let out = f
            .unify(
                &args(mode, &["--format", "csv", "-c", "timing on; select 1 as n"]),
                None,
            )
            .await;
        assert_eq!(out.stdout, "n\n1\n");
        assert!(out.stderr.contains("Time: "), "{}", out.stderr);
        let out = f.unify(&args(mode, &["-c", "format xml"]), None).await;
        assert_eq!(out.code, 1);
        assert!(out.stderr.contains("unknown format 'xml'") && out.stderr.contains("jsonl"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scripts_print_every_row_of_large_results_in_every_format() {
    let f = Fresh::new();
    // Around the chunk boundary (1,000 rows) and well past it.
    for n in [999u64, 1000, 1001, 5000] {
        let sql = format!("select range as n from range({n})");
        let out = f.unify(&["--format", "csv", "-c", &sql], None).await;
        assert_ok(&out);
        assert_eq!(out.stdout.lines().count() as u64, n + 1, "csv, {n} rows");
        assert_eq!(out.stdout.lines().last().unwrap(), (n - 1).to_string());
        let out = f.unify(&["--format", "json", "-c", &sql], None).await;
        assert_ok(&out);
        let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(rows.len() as u64, n, "json");
        assert_eq!(rows[n as usize - 1], json!({"n": n - 1}));
        let out = f.unify(&["--format", "jsonl", "-c", &sql], None).await;
        assert_ok(&out);
        let sum: u64 = out
            .stdout
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["n"]
                    .as_u64()
                    .unwrap()
            })
            .sum();
        assert_eq!(sum, n * (n - 1) / 2, "jsonl");
    }
    let out = f
        .unify(&["-c", "select range as n from range(1000)"], None)
        .await;
    assert!(
        out.stdout.ends_with("1000 rows\n"),
        "no cut outside the REPL"
    );
    assert!(out.stdout.contains("│ 500 │"));
    // Raw SQL streams too.
    let out = f
        .unify(
            &[
                "--format",
                "csv",
                "-c",
                "!select range as n from range(2500)",
            ],
            None,
        )
        .await;
    assert_eq!(out.stdout.lines().count(), 2501);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_in_the_middle_of_a_streamed_result_is_one_line_after_the_rows_read() {
    for mode in MODES {
        let f = Fresh::new();
        let sql = "select case when range = 4500 then error('row 4500 is bad') else range end as n from range(10000)";
        let out = f
            .unify(
                &args(
                    mode,
                    &["--format", "csv", "-c", sql, "-c", "select 1 as after"],
                ),
                None,
            )
            .await;
        assert_eq!(out.code, 1, "{mode:?}: {out:?}");
        assert!(
            out.stdout.lines().count() > 1,
            "the first rows were written"
        );
        assert!(!out.stdout.contains("\n4500\n"), "{mode:?}");
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("Error"))
            .collect();
        assert_eq!(errors.len(), 1, "{}", out.stderr);
        assert!(errors[0].contains("row 4500 is bad"), "{}", errors[0]);
        assert!(
            out.stdout.ends_with("after\n1\n"),
            "the next statement ran: {}",
            out.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_gone_in_the_middle_of_a_result_does_not_hold_the_daemon_up() {
    let f = Fresh::new();
    assert_ok(&f.unify(&["-c", "select 1"], None).await);
    // A client that reads the first chunk, then stops reading (its stdout is a pipe
    // nobody reads) and is killed.
    let home = f.home_str();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_unify"))
        .args(["--home", &home, "--format", "csv", "-c"])
        .arg("select range as n, repeat('x', 200) as s from range(10000000)")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1024];
    use std::io::Read;
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    // The daemon still holds that result open; stopping it must not wait for it.
    let started = Instant::now();
    let out = f.unifyd(&["stop"]).await;
    assert_ok(&out);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "unifyd stop took {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// Flags

#[tokio::test(flavor = "multi_thread")]
async fn flags_work_after_subcommands_and_scripts_come_from_files_in_order() {
    let f = Fresh::new();
    std::fs::create_dir_all(&f.home).unwrap();
    let a = f.home.join("a.sql");
    let b = f.home.join("b.sql");
    std::fs::write(&a, "select 1 as n;\nselect 2 as n\n").unwrap();
    std::fs::write(&b, "select 4 as n").unwrap();
    let (a, b) = (a.display().to_string(), b.display().to_string());
    let out = f
        .unify(
            &[
                "-f",
                &a,
                "-c",
                "select 3 as n",
                "-f",
                &b,
                "--format",
                "csv",
                "--no-daemon",
            ],
            None,
        )
        .await;
    assert_ok(&out);
    assert_eq!(out.stdout, "n\n1\nn\n2\nn\n3\nn\n4\n");
    // --bail stops at the first failure; without it the rest runs.
    let out = f
        .unify(
            &[
                "--no-daemon",
                "--format",
                "csv",
                "-c",
                "select 1 as n; select nope; select 2 as n",
            ],
            None,
        )
        .await;
    assert_eq!((out.code, out.stdout.as_str()), (1, "n\n1\nn\n2\n"));
    let out = f
        .unify(
            &[
                "--no-daemon",
                "--bail",
                "--format",
                "csv",
                "-c",
                "select 1 as n; select nope; select 2 as n",
            ],
            None,
        )
        .await;
    assert_eq!((out.code, out.stdout.as_str()), (1, "n\n1\n"));
    // Global flags after a subcommand.
    let spec = f.home.join("x_spec.yaml");
    std::fs::write(
        &spec,
        "name: x\nbase_url: http://127.0.0.1:9\ntables:\n  - name: t\n    resource_path: /t\n",
    )
    .unwrap();
    let out = run_in(
        env!("CARGO_BIN_EXE_unify"),
        None,
        &[
            "spec",
            "check",
            spec.to_str().unwrap(),
            "--format",
            "csv",
            "--home",
            &f.home_str(),
        ],
        None,
        &[],
    )
    .await;
    assert_ok(&out);
    let out = f
        .unify(
            &["connect", "nosuch", "--schema", "s", "--no-daemon"],
            Some(""),
        )
        .await;
    assert_eq!(out.code, 1);
    assert!(
        !out.stderr.contains("unexpected argument"),
        "{}",
        out.stderr
    );
    // --help lists the formats and UNIFY_HOME; completions for the shells.
    let out = run_in(env!("CARGO_BIN_EXE_unify"), None, &["--help"], None, &[]).await;
    assert_ok(&out);
    for word in [
        "jsonl",
        "markdown",
        "line",
        "UNIFY_HOME",
        "--bail",
        "-f, --file",
    ] {
        assert!(
            out.stdout.contains(word),
            "--help lacks {word}: {}",
            out.stdout
        );
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = run_in(
            env!("CARGO_BIN_EXE_unify"),
            None,
            &["completions", shell],
            None,
            &[],
        )
        .await;
        assert_ok(&out);
        assert!(
            out.stdout.contains("unify") && out.stdout.contains("format"),
            "{shell}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Import by content type

#[tokio::test(flavor = "multi_thread")]
async fn a_url_without_an_extension_is_imported_by_its_content_type() {
    let server = MockServer::start().await;
    Mock::given(path("/export"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("a,b\n1,x\n2,y\n", "text/csv; charset=utf-8"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/api/items"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "[{\"id\": 1}, {\"id\": 2}, {\"id\": 3}]",
            "application/json",
        ))
        .mount(&server)
        .await;
    Mock::given(path("/page"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("<html></html>", "text/html"))
        .mount(&server)
        .await;
    for mode in MODES {
        let f = Fresh::new();
        let script = format!(
            "import '{0}/export' into files.from_csv\nimport '{0}/api/items' into files.from_json\nselect count(*) as n from files.from_csv;\nselect sum(id) as s from files.from_json;",
            server.uri()
        );
        let out = f
            .unify(&args(mode, &["--format", "csv", "-c", &script]), None)
            .await;
        assert_ok(&out);
        assert_eq!(out.stdout, "n\n2\ns\n6\n", "{mode:?}");
        let out = f
            .unify(
                &args(
                    mode,
                    &[
                        "-c",
                        &format!("import '{}/page' into files.p", server.uri()),
                    ],
                ),
                None,
            )
            .await;
        assert_eq!(out.code, 1);
        assert!(out.stderr.contains("Content-Type"), "{}", out.stderr);
    }
}

// ---------------------------------------------------------------------------------------
// The REPL at a terminal

#[tokio::test(flavor = "multi_thread")]
async fn the_repl_shows_every_result_of_a_line_continues_lines_and_confirms_drops() {
    let f = Fresh::new();
    let home = f.home_str();
    let (out, code) = tokio::task::spawn_blocking(move || {
        let mut p = Pty::spawn(
            env!("CARGO_BIN_EXE_unify"),
            &["--home", &home],
            &[("NO_COLOR", "1")],
        );
        p.expect("unify> ", Duration::from_secs(60));
        p.send("select 11 as first; select 22 as second;\r");
        p.expect("│     22 │", Duration::from_secs(30));
        // A statement over two lines: the continuation prompt.
        p.send("select 33\r");
        p.expect("   ...> ", Duration::from_secs(10));
        p.send("  as third;\r");
        p.expect("│    33 │", Duration::from_secs(30));
        // A large result is cut to its first and last rows.
        p.send("select range as n from range(1000);\r");
        p.expect("1000 rows (40 shown)", Duration::from_secs(30));
        // drop table asks, and `y` is an answer.
        p.send("create table t as select 1 as a;\r");
        p.expect("CREATE TABLE", Duration::from_secs(30));
        p.send("drop table t;\r");
        p.expect("(y/n)? ", Duration::from_secs(10));
        p.send("y\r");
        p.expect("Dropped table main.t", Duration::from_secs(10));
        p.send("exit\r");
        let code = p.wait(Duration::from_secs(20));
        (p.output(), code)
    })
    .await
    .unwrap();
    assert!(out.contains("│    11 │"), "the first result too: {out}");
    assert!(out.contains("│ 999 │") && !out.contains("│ 500 │"), "{out}");
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_waiting_on_a_load_follows_the_daemon_through_a_crash() {
    // A slow API: five pages of two rows, 300 ms each, long enough to kill the daemon.
    struct Slow;
    impl wiremock::Respond for Slow {
        fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
            let page = page_param(request);
            let body = if page <= 5 {
                json!([{"id": page * 2 - 1}, {"id": page * 2}])
            } else {
                json!([])
            };
            ResponseTemplate::new(200)
                .set_delay(Duration::from_millis(300))
                .set_body_json(body)
        }
    }
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/slow"))
        .respond_with(Slow)
        .mount(&server)
        .await;
    let f = home_with(
        "mock",
        &format!(
            "{}paging:\n  strategy: pageAndCount\n  page_param: page\n  count_param: per_page\n  page_size: 2\n",
            simple_spec("mock", &server.uri(), "  - name: slow\n    resource_path: /slow\n    supports_paging: true\n")
        ),
        "- mock:\n    connector: mock\n",
    );
    let home = f.home_str();
    let client = Running::spawn(
        std::process::Command::new(env!("CARGO_BIN_EXE_unify")).args([
            "--home",
            &home,
            "--format",
            "csv",
            "-c",
            "select count(*) as n from mock.slow",
        ]),
    );
    // Wait until the load has fetched a page, then kill the daemon.
    let start = Instant::now();
    while server.received_requests().await.unwrap_or_default().len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the load never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid: i32 = std::fs::read_to_string(f.home.join("run/unifyd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: killing the test's own daemon.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let out = client.wait(Duration::from_secs(120)).await;
    assert_eq!(
        out.code,
        Some(0),
        "stdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    assert_eq!(out.stdout, "n\n10\n");
    assert!(
        out.stderr.contains(&format!("unifyd (pid {pid}) stopped")),
        "{}",
        out.stderr
    );
    let new_pid = f.daemon_pid().await.expect("a new daemon");
    assert_ne!(new_pid as i32, pid);
}

/// Peak resident memory of process `pid` in MB (VmHWM).
fn peak_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024
}

#[tokio::test(flavor = "multi_thread")]
async fn a_result_of_millions_of_rows_streams_without_ballooning_the_daemon() {
    let f = Fresh::new();
    assert_ok(&f.unify(&["-c", "select 1"], None).await);
    let pid = f.daemon_pid().await.unwrap();
    let before = peak_mb(pid);
    // 3M rows, ~200 MB of CSV: held whole, the rows alone would take over 500 MB.
    let home = f.home_str();
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_unify"))
            .args(["--home", &home, "--format", "csv", "-c"])
            .arg("select range as id, repeat('x', 50) as s from range(3000000)")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(status.success());
    let after = peak_mb(pid);
    assert!(
        after < before + 150,
        "the daemon's peak memory went from {before} MB to {after} MB"
    );
}
