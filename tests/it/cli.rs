//! End-to-end tests of the real `unify` binary (`--no-daemon`, a temporary home, a
//! local mock API), following the CLI contract.

use crate::support::*;
use std::io::Write;
use std::process::{Command, Stdio};

/// Output of one `unify` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run `unify --no-daemon --home <home> <args>` with `stdin`, off the async executor.
pub async fn unify(home: &std::path::Path, args: &[&str], stdin: &str) -> Run {
    let home = home.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.to_string();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_unify"))
            .arg("--no-daemon")
            .arg("--home")
            .arg(&home)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("unify runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

async fn c(t: &TestHome, args: &[&str]) -> Run {
    unify(t.dir.path(), args, "").await
}

fn json(run: &Run) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_str(&run.stdout)
        .into_iter::<serde_json::Value>()
        .map(|v| {
            v.unwrap_or_else(|e| {
                panic!(
                    "stdout is not JSON ({e}): {}\nstderr: {}",
                    run.stdout, run.stderr
                )
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn show_schemas_tables_columns_and_describe() {
    let server = mocksvc().await;
    let t = TestHome::new();
    t.with_mocksvc(&server);
    let r = c(
        &t,
        &[
            "--format",
            "csv",
            "-c",
            "show schemas; show tables from mocksvc",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("schema_name\n"), "{}", r.stdout);
    for s in ["files", "mocksvc"] {
        assert!(r.stdout.lines().any(|l| l == s), "{s} in {}", r.stdout);
    }
    assert!(r.stdout.contains("table_name,table_schema,comment,materialized\nrepos100,mocksvc,,☐\nrepos1100,mocksvc,,☐\n"), "{}", r.stdout);
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        0,
        "listing loads nothing"
    );

    let r = c(
        &t,
        &[
            "--format",
            "csv",
            "-c",
            "show columns from mocksvc.repos27 like 'owner_%'; describe mocksvc",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("Loading table mocksvc.repos27"),
        "{}",
        r.stderr
    );
    let owner_cols = r.stdout.lines().filter(|l| l.starts_with("owner_")).count();
    assert_eq!(owner_cols, 18, "{}", r.stdout);
    assert!(r.stdout.contains("repos27,mocksvc,,✓"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("repos_view,mocksvc,A simple view on the repos27 table,✓"),
        "{}",
        r.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_load_through_a_join_and_a_cte_then_cached() {
    let server = mocksvc().await;
    let t = TestHome::new();
    t.with_mocksvc(&server);
    let r = c(
        &t,
        &[
            "--format",
            "json",
            "-c",
            "with small as (select id, name from mocksvc.repos27) select count(*) as n from small join mocksvc.repos100 big on big.name = small.name; select count(*) as n from mocksvc.repos27 a, mocksvc.repos100 b where a.id = b.id",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        json(&r),
        vec![serde_json::json!([{"n": 0}]), serde_json::json!([{"n": 0}])]
    );
    assert_eq!(requests_to(&server, "/api/repos_27").await.len(), 1);
    assert_eq!(requests_to(&server, "/api/repos_100").await.len(), 1);
    // Cached: another run makes no request.
    let r = c(
        &t,
        &[
            "--format",
            "csv",
            "-c",
            "select count(*) from mocksvc.repos27",
        ],
    )
    .await;
    assert_eq!(r.stdout, "count\n27\n");
    assert_eq!(requests_to(&server, "/api/repos_27").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn variables_session_global_and_query_valued() {
    let t = TestHome::new();
    let r = c(
        &t,
        &[
            "--format",
            "csv",
            "-c",
            "$user = 'joe'; $limit = 100; $PORT = 8080; $HOST = 'api.stripe.com'; $recs = select 1 as a, 2 as b union all select 3, 4; select * from $recs order by a; select $PORT + 1 as p, $user as u",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // In csv, stdout carries results only: the values set are echoed on stderr.
    assert_eq!(r.stdout, "a,b\n1,2\n3,4\na,b\n1,2\n3,4\np,u\n8081,joe\n");
    assert!(
        r.stderr.contains("joe\n100\n8080\napi.stripe.com\n"),
        "{}",
        r.stderr
    );
    // A second run: globals survive, session variables do not.
    let r = c(
        &t,
        &[
            "--format",
            "csv",
            "-c",
            "$PORT; $HOST; show variables; $user",
        ],
    )
    .await;
    assert_eq!(r.code, 1, "the unknown $user fails");
    // A variable's value is a one-row result in csv.
    assert_eq!(
        r.stdout,
        "PORT\n8080\nHOST\napi.stripe.com\nvariable,value\nHOST,api.stripe.com\nPORT,8080\n"
    );
    assert!(
        r.stderr.contains("Error: unknown variable $user"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn import_from_a_url_downloads_the_file_and_keeps_signatures_out_of_errors() {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path("/exports/project_list.csv"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_bytes(std::fs::read(fixture("project_list.csv")).unwrap()),
        )
        .mount(&server)
        .await;
    let t = TestHome::new();
    let url = format!("{}/exports/project_list.csv?sig=s3cret", server.uri());
    let missing = format!("{}/exports/gone.csv?sig=s3cret", server.uri());
    let r = c(
        &t,
        &[
            "--format",
            "csv",
            "-c",
            &format!("import '{url}'; select count(*) from files.project_list; import '{missing}'; import '{url}'; select source from unify.tables where table_name = 'project_list'"),
        ],
    )
    .await;
    assert_eq!(r.code, 1, "the missing file fails: {}", r.stderr);
    assert_eq!(
        r.stdout,
        format!(
            "count\n121\nsource\n{}/exports/project_list.csv\n",
            server.uri()
        )
    );
    assert!(
        r.stderr.contains("table files.project_list already exists"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "cannot download {}/exports/gone.csv: HTTP 404",
            server.uri()
        )),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("s3cret"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn import_csv_and_parquet_export_and_reimport() {
    let t = TestHome::new();
    let csv = fixture("project_list.csv");
    let parquet = fixture("gh_repos.parquet");
    let r = c(
        &t,
        &[
            "--format",
            "csv",
            "-c",
            &format!(
                "import '{}'; import '{}'; select count(*) from files.project_list; select count(*) from information_schema.columns where table_name = 'project_list'; select count(*) from files.gh_repos; select name from files.gh_repos limit 1",
                csv.display(),
                parquet.display()
            ),
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Imported file to table: files.project_list (121 rows, 11 columns)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("Imported file to table: files.gh_repos (147 rows"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "count\n121\ncount\n11\ncount\n147\nname\nphilo\n");

    // Multi-line cells are kept: the first project's contributors are on six lines.
    let r = c(
        &t,
        &[
            "--format",
            "json",
            "-c",
            "select \"Contributors\" as c from files.project_list limit 1",
        ],
    )
    .await;
    let first = json(&r)[0][0]["c"].as_str().unwrap().to_string();
    assert_eq!(first.lines().count(), 6, "{first:?}");

    let r = c(
        &t,
        &[
            "--format",
            "csv",
            "-c",
            "export files.project_list to 'p.csv'; export files.gh_repos to 'out/g.parquet'; import 'p.csv' into files.p2; import 'out/g.parquet' into files.g2; select count(*) from files.p2; select count(*) from files.g2; select count(*) from (select * from files.p2 except select * from files.project_list)",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "count\n121\ncount\n147\ncount\n0\n");
    assert!(t.home.files_dir().join("p.csv").is_file());

    // `>>` writes a query result; an existing file needs overwrite or append.
    let r = c(
        &t,
        &[
            "-c",
            "select 1 as x >> 'q.csv'; select 2 as x >> 'q.csv'; select 3 as x >> 'q.csv' append",
        ],
    )
    .await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(
            "q.csv already exists: add `overwrite` to replace it or `append` to add to it"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(t.home.files_dir().join("q.csv")).unwrap(),
        "x\n1\n3\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn formats_and_exit_status_follow_the_contract() {
    let t = TestHome::new();
    let r = c(
        &t,
        &[
            "--format",
            "csv",
            "-c",
            "select 1 as a, NULL as b, true as c, 'x,y' as d",
        ],
    )
    .await;
    assert_eq!(r.stdout, "a,b,c,d\n1,,true,\"x,y\"\n");
    let r = c(
        &t,
        &[
            "--format",
            "json",
            "-c",
            "select 1 as a, 2.5 as b, NULL as c, 'x' as d; select 2 as a",
        ],
    )
    .await;
    assert_eq!(
        r.stdout,
        "[{\"a\":1,\"b\":2.5,\"c\":null,\"d\":\"x\"}]\n[{\"a\":2}]\n"
    );
    let r = c(&t, &["-c", "select 7 as n"]).await;
    assert_eq!(r.stdout, "┌───┐\n│ n │\n├───┤\n│ 7 │\n└───┘\n1 row\n");
    // A failing statement: one clear line on stderr, exit 1, the rest still runs.
    let r = c(
        &t,
        &[
            "--format",
            "csv",
            "-c",
            "select * from nosuch; select 2 as ok",
        ],
    )
    .await;
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "ok\n2\n");
    assert!(
        r.stderr
            .starts_with("Error: Catalog Error: Table with name nosuch does not exist!"),
        "{}",
        r.stderr
    );
    // Scripts on stdin, meta-commands without `;`, multi-line SQL.
    let r = unify(
        t.dir.path(),
        &["--format", "csv"],
        "show files\nselect\n  40 + 2 as answer;\n",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "answer\n42\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn peek_count_clear_rename_drop_and_last_table() {
    let server = mocksvc().await;
    let t = TestHome::new();
    t.with_mocksvc(&server);
    // `count` loads the table when needed; `peek` picks telling columns in 100 chars.
    let r = c(
        &t,
        &[
            "--format",
            "json",
            "-c",
            "count mocksvc.repos1100; peek at mocksvc.repos1100 38; peek mocksvc.repos1100",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let results = json(&r);
    assert_eq!(results[0], serde_json::json!([{"count": 1027}]));
    let peek = results[1].as_array().unwrap();
    assert_eq!(peek.len(), 38);
    let cols: Vec<String> = peek[0].as_object().unwrap().keys().cloned().collect();
    assert!(cols.len() > 2, "{cols:?}");
    for row in peek {
        let width: usize = row
            .as_object()
            .unwrap()
            .values()
            .map(|v| {
                v.as_str()
                    .map(|s| s.chars().count())
                    .unwrap_or(v.to_string().len())
            })
            .sum();
        assert!(width <= 100 + cols.len(), "row wider than 100: {row}");
        assert!(
            row.as_object().unwrap().values().all(|v| !v.is_boolean()),
            "no booleans: {row}"
        );
    }
    let dates = peek[0]
        .as_object()
        .unwrap()
        .values()
        .filter(|v| {
            v.as_str()
                .is_some_and(|s| s.len() == 14 && s.as_bytes()[2] == b'/')
        })
        .count();
    assert!(dates <= 1, "at most one date column: {}", peek[0]);
    assert_eq!(results[2].as_array().unwrap().len(), 20, "default 20 rows");

    let r = c(
        &t,
        &[
            "--format",
            "csv",
            "-c",
            "select count(*) from mocksvc.repos27; select count(*) from ??; clear table mocksvc.repos27; count mocksvc.repos27; alter table mocksvc.repos27 rename to repos27b; count mocksvc.repos27b; drop table mocksvc.repos27b",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "count\n27\ncount\n27\ncount\n0\ncount\n0\n");
    assert!(
        r.stderr.contains("select count(*) from mocksvc.repos27\n"),
        "?? is echoed: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("Table cleared: mocksvc.repos27"),
        "{}",
        r.stderr
    );
    // Dropped: the next select downloads it again.
    let before = requests_to(&server, "/api/repos_27").await.len();
    let r = c(
        &t,
        &[
            "--format",
            "csv",
            "-c",
            "select count(*) from mocksvc.repos27",
        ],
    )
    .await;
    assert_eq!(r.stdout, "count\n27\n");
    assert_eq!(
        requests_to(&server, "/api/repos_27").await.len(),
        before + 1
    );

    // Headings of `??` and `system status` are messages: json stdout stays parseable.
    let r = c(
        &t,
        &[
            "--format",
            "json",
            "-c",
            "select count(*) from mocksvc.repos27; ??; system status",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let results = json(&r);
    assert_eq!(results.len(), 2, "{}", r.stdout);
    assert!(
        results[1]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["column_name"] == "owner_login"),
        "{}",
        results[1]
    );
    assert!(r.stderr.contains("Table mocksvc.repos27:"), "{}", r.stderr);
    assert!(r.stderr.contains("Running in-process"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_interrupts_a_script_and_exits_130() {
    let t = TestHome::new();
    let running = Running::spawn(
        Command::new(env!("CARGO_BIN_EXE_unify"))
            .arg("--no-daemon")
            .arg("--home")
            .arg(t.dir.path())
            .args([
                "--format",
                "csv",
                "-c",
                // The second statement would run for minutes.
                "select 'ready' as r; select sum(range % 7) from range(100000000000); select 'after'",
            ]),
    );
    running
        .wait_for_stdout("ready", std::time::Duration::from_secs(60))
        .await;
    let out = running
        .interrupt_and_wait(std::time::Duration::from_secs(30))
        .await;
    assert_eq!(out.code, Some(130), "{}", out.stderr);
    assert!(
        !out.stdout.contains("after"),
        "the script stopped: {}",
        out.stdout
    );
    assert!(out.stderr.contains("Interrupted."), "{}", out.stderr);
}
