use super::*;
use crate::engine::Config;
use crate::home::Home;
use crate::protocol::{JobRef, Output};
use crate::warehouse::Warehouse;
use std::sync::Mutex;

/// Records enqueued jobs instead of running them.
#[derive(Default)]
struct FakeJobs {
    enqueued: Mutex<Vec<(String, String, Action)>>,
}

#[async_trait::async_trait]
impl JobControl for FakeJobs {
    async fn enqueue(
        &self,
        schema: &str,
        table: &str,
        action: Action,
        _by: Requester,
    ) -> Result<JobRef, ControlError> {
        let mut q = self.enqueued.lock().unwrap();
        q.push((schema.into(), table.into(), action));
        Ok(JobRef {
            id: format!("job{}", q.len()),
            table: format!("{schema}.{table}"),
            action,
        })
    }
    async fn system(&self, _command: &SystemCommand) -> Result<Vec<Output>, ControlError> {
        Ok(vec![Output::Text("Task daemon is not running".into())])
    }
}

struct Fixture {
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    interp: Interpreter,
    jobs: Arc<FakeJobs>,
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path());
    home.ensure_dirs().unwrap();
    std::fs::write(
        home.connections_file(),
        "- mocksvc:\n    connector: mocksvc\n    options: {username: scott@example.com, password: abc123}\n",
    )
    .unwrap();
    std::fs::write(
        home.specs_dir().join("mocksvc_spec.yaml"),
        include_str!("../../tests/fixtures/mocksvc_spec.yaml"),
    )
    .unwrap();
    let config = Config::load(&home);
    assert!(config.errors.is_empty(), "{:?}", config.errors);
    let engine = Arc::new(Engine::with_parts(
        home,
        Warehouse::open_in_memory().unwrap(),
        config,
    ));
    let jobs = Arc::new(FakeJobs::default());
    let interp = Interpreter::new(engine, jobs.clone(), rt.handle().clone());
    Fixture {
        _rt: rt,
        _dir: dir,
        interp,
        jobs,
    }
}

fn run(f: &Fixture, s: &mut Session, text: &str) -> Reply {
    f.interp.execute(s, text)
}

fn ok(f: &Fixture, s: &mut Session, text: &str) -> Vec<Output> {
    let r = run(f, s, text);
    assert!(r.error.is_none(), "{text}: {:?}", r.error);
    r.outputs
}

fn only_table(outputs: &[Output]) -> &ResultTable {
    outputs
        .iter()
        .find_map(|o| match o {
            Output::Table(t) => Some(t),
            _ => None,
        })
        .expect("a table")
}

fn texts(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Text(t) | Output::Message(t) => Some(t.clone()),
            Output::Value { value, .. } => Some(match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            _ => None,
        })
        .collect()
}

#[test]
fn plain_sql_runs_and_dml_counts() {
    let f = fixture();
    let mut s = f.interp.open_session("s1").unwrap();
    ok(&f, &mut s, "create table foo1 (id INT, name VARCHAR)");
    let out = ok(
        &f,
        &mut s,
        "insert into foo1 (id, name) values (5,'a'),(6,'b')",
    );
    assert_eq!(only_table(&out).rows, vec![vec![serde_json::json!(2)]]);
    let out = ok(&f, &mut s, "select count(*) from foo1");
    assert_eq!(only_table(&out).columns, ["count"]);
    let r = run(&f, &mut s, "bogus command here");
    assert!(r
        .error
        .unwrap()
        .starts_with("Parser Error: syntax error at or near \"bogus\""));
}

#[test]
fn selecting_an_unloaded_connector_table_asks_to_load_it_through_joins_and_ctes() {
    let f = fixture();
    let mut s = f.interp.open_session("s1").unwrap();
    let r = run(
        &f,
        &mut s,
        "with x as (select id from mocksvc.repos27) select * from x join mocksvc.repos100 r on r.id = x.id",
    );
    assert_eq!(r.after, Some(AfterJobs::Rerun));
    assert_eq!(r.wait.len(), 2);
    let q = f.jobs.enqueued.lock().unwrap().clone();
    assert_eq!(
        q,
        vec![
            ("mocksvc".to_string(), "repos27".to_string(), Action::Load),
            ("mocksvc".to_string(), "repos100".to_string(), Action::Load)
        ]
    );
    let r = run(&f, &mut s, "select * from mocksvc.nosuch");
    assert!(
        r.error.unwrap().contains("nosuch"),
        "no job for unknown tables"
    );
    assert_eq!(f.jobs.enqueued.lock().unwrap().len(), 2);
}

#[test]
fn show_tables_from_a_connection_marks_unloaded_tables() {
    let f = fixture();
    let mut s = f.interp.open_session("s1").unwrap();
    let out = ok(&f, &mut s, "show tables from mocksvc");
    let t = only_table(&out);
    assert_eq!(
        t.columns,
        ["table_name", "table_schema", "comment", "materialized"]
    );
    let names: Vec<&str> = t.rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "repos100",
            "repos1100",
            "repos11_short",
            "repos27",
            "repos_view"
        ]
    );
    assert!(t.rows.iter().all(|r| r[3] == "☐"));
    let out = ok(&f, &mut s, "show schemas");
    let schemas: Vec<&str> = only_table(&out)
        .rows
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    assert!(
        schemas.contains(&"mocksvc") && schemas.contains(&"files"),
        "{schemas:?}"
    );
}

#[test]
fn session_and_global_variables() {
    let f = fixture();
    let mut s = f.interp.open_session("s1").unwrap();
    assert_eq!(texts(&ok(&f, &mut s, "$user = 'joe'")), ["joe"]);
    assert_eq!(texts(&ok(&f, &mut s, "$limit = 100")), ["100"]);
    assert_eq!(
        texts(&ok(&f, &mut s, "$greeting = 'hello ' || 'world'")),
        ["hello world"]
    );
    assert_eq!(texts(&ok(&f, &mut s, "$PORT = 8080")), ["8080"]);
    ok(
        &f,
        &mut s,
        "$recs = select 1 as a, 2 as b union all select 3, 4",
    );
    let out = ok(&f, &mut s, "select * from $recs order by a");
    assert_eq!(only_table(&out).rows.len(), 2);
    let out = ok(&f, &mut s, "select $PORT + 1 as p, $user as u");
    assert_eq!(
        only_table(&out).rows[0],
        vec![serde_json::json!(8081), serde_json::json!("joe")]
    );
    ok(&f, &mut s, "$quote = 'it''s'");
    let out = ok(&f, &mut s, "select $quote as q");
    assert_eq!(only_table(&out).rows[0][0], serde_json::json!("it's"));
    let r = run(&f, &mut s, "select $nope");
    assert_eq!(
        r.error.unwrap(),
        "unknown variable $nope (set it with `$nope = …`; see `show variables`)"
    );
    let out = ok(&f, &mut s, "show variables");
    let t = only_table(&out);
    let vars: Vec<&str> = t.rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert!(vars.contains(&"user") && vars.contains(&"PORT") && vars.contains(&"recs"));
    // A new session sees globals only.
    let mut s2 = f.interp.open_session("s2").unwrap();
    assert_eq!(texts(&ok(&f, &mut s2, "$PORT")), ["8080"]);
    assert!(run(&f, &mut s2, "$user").error.is_some());
    ok(&f, &mut s2, "unset $PORT");
    assert!(run(&f, &mut s2, "$PORT").error.is_some());
}

#[test]
fn import_export_round_trip_and_modes() {
    let f = fixture();
    let mut s = f.interp.open_session("s1").unwrap();
    let csv =
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"))
            .join("tests/fixtures/project_list.csv");
    let out = ok(&f, &mut s, &format!("import '{}'", csv.display()));
    assert_eq!(
        texts(&out),
        ["Imported file to table: files.project_list (121 rows, 11 columns)"]
    );
    let r = run(&f, &mut s, &format!("import '{}'", csv.display()));
    assert!(r.error.unwrap().contains("already exists"));
    ok(&f, &mut s, &format!("import '{}' append", csv.display()));
    let out = ok(&f, &mut s, "select count(*) from files.project_list");
    assert_eq!(only_table(&out).rows[0][0], serde_json::json!(242));
    ok(&f, &mut s, "export files.project_list to 'out/p.parquet'");
    assert!(
        run(&f, &mut s, "export files.project_list to 'out/p.parquet'")
            .error
            .is_some()
    );
    ok(&f, &mut s, "import 'out/p.parquet' into files.again");
    let out = ok(&f, &mut s, "select count(*) from files.again");
    assert_eq!(only_table(&out).rows[0][0], serde_json::json!(242));
    ok(&f, &mut s, "select 1 as x >> 'one.csv'");
    ok(&f, &mut s, "select 2 as x >> 'one.csv' append");
    let text =
        std::fs::read_to_string(f.interp.engine().home().files_dir().join("one.csv")).unwrap();
    assert_eq!(text, "x\n1\n2\n");
    let r = run(&f, &mut s, "import '/no/such.csv'");
    assert_eq!(r.error.unwrap(), "File not found: /no/such.csv");
}

#[test]
fn last_table_help_and_substitution() {
    let f = fixture();
    let mut s = f.interp.open_session("s1").unwrap();
    ok(&f, &mut s, "select * from information_schema.schemata");
    let out = ok(&f, &mut s, "??");
    assert_eq!(texts(&out)[0], "Table information_schema.schemata:");
    let out = ok(&f, &mut s, "select count(*) > 0 as yes from ??");
    assert_eq!(
        texts(&out)[0],
        "select count(*) > 0 as yes from information_schema.schemata"
    );
}

#[test]
fn connector_help_and_unknowns() {
    let f = fixture();
    let mut s = f.interp.open_session("s1").unwrap();
    assert_eq!(
        texts(&ok(&f, &mut s, "mocksvc help")),
        ["No help available for connector mocksvc"]
    );
    assert!(run(&f, &mut s, "nosuch help")
        .error
        .unwrap()
        .contains("unknown schema 'nosuch'"));
    let out = ok(&f, &mut s, "help");
    assert!(texts(&out)[0].starts_with("help - show this message"));
    assert!(texts(&out)[0].contains("count <table>"));
}

#[test]
fn errors_say_what_failed_the_statement_duckdb_or_the_statement_as_written() {
    let f = fixture();
    let mut s = f.interp.open_session("kinds").unwrap();
    let kind = |s: &mut Session, text: &str| {
        let parsed = crate::parser::parse(text).unwrap();
        f.interp.run(s, parsed.statement).unwrap_err()
    };
    match kind(&mut s, "select nonsense(1)") {
        ShellError::Sql(m) => assert!(m.contains("nonsense"), "{m}"),
        other => panic!("expected a DuckDB error, got {other:?}"),
    }
    match kind(&mut s, "show variable $nope") {
        ShellError::Usage(m) => assert!(m.starts_with("unknown variable $nope"), "{m}"),
        other => panic!("expected a usage error, got {other:?}"),
    }
    match kind(&mut s, "drop table main.nothing_here") {
        ShellError::Usage(m) => assert!(m.contains("does not exist"), "{m}"),
        other => panic!("expected a usage error, got {other:?}"),
    }
    // The shell shows the same one line whatever the kind.
    let reply = run(&f, &mut s, "select nonsense(1)");
    let shown = reply.error.unwrap_or_default();
    assert!(
        shown.starts_with("Catalog Error: Scalar Function with name nonsense"),
        "{shown}"
    );
}
