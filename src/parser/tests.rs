//! Table-driven parser tests: one line per case.

use super::*;

// ---- helper constructors ----------------------------------------------------------------

fn t(name: &str) -> TableRef {
    match name.split_once('.') {
        Some((schema, table)) => TableRef {
            schema: Some(schema.to_string()),
            table: table.to_string(),
        },
        None => TableRef {
            schema: None,
            table: name.to_string(),
        },
    }
}
fn s(text: &str) -> String {
    text.to_string()
}
fn sql(text: &str) -> Statement {
    Statement::Sql { sql: s(text) }
}
fn raw(text: &str) -> Statement {
    Statement::RawSql { sql: s(text) }
}
fn help(topic: Option<&str>) -> Statement {
    Statement::Help {
        topic: topic.map(s),
    }
}
fn tables(schema: Option<&str>, like: Option<&str>) -> Statement {
    Statement::ShowTables {
        schema: schema.map(s),
        like: like.map(s),
    }
}
fn columns(table: Option<&str>, like: Option<&str>) -> Statement {
    Statement::ShowColumns {
        table: table.map(t),
        like: like.map(s),
    }
}
fn files(schema: Option<&str>, like: Option<&str>) -> Statement {
    Statement::ShowFiles {
        schema: schema.map(s),
        like: like.map(s),
    }
}
fn describe(target: Option<&str>) -> Statement {
    Statement::Describe {
        target: target.map(t),
    }
}
fn peek(table: &str, rows: Option<u64>) -> Statement {
    Statement::Peek {
        table: t(table),
        rows,
    }
}
fn peek_file(path: &str, rows: Option<u64>) -> Statement {
    Statement::PeekFile {
        path: s(path),
        rows,
    }
}
fn count(table: &str) -> Statement {
    Statement::Count { table: t(table) }
}
fn set(name: &str, expr: &str) -> Statement {
    Statement::SetVariable {
        name: s(name),
        expr: s(expr),
    }
}
fn var(name: &str) -> Statement {
    Statement::ShowVariable { name: s(name) }
}
fn unset(name: &str) -> Statement {
    Statement::UnsetVariable { name: s(name) }
}
fn import(source: &str) -> Statement {
    import_full(source, None, None, None, None)
}
fn import_full(
    source: &str,
    target: Option<&str>,
    mode: Option<WriteMode>,
    skip: Option<u64>,
    header: Option<u64>,
) -> Statement {
    Statement::Import {
        source: s(source),
        target: target.map(t),
        mode,
        options: ImportOptions { skip, header },
    }
}
fn path(connector: Option<&str>, file: &str) -> FileTarget {
    FileTarget {
        connector: connector.map(s),
        file: FileRef::Path(s(file)),
    }
}
fn expr(connector: Option<&str>, file: &str) -> FileTarget {
    FileTarget {
        connector: connector.map(s),
        file: FileRef::Expr(s(file)),
    }
}
fn export(source: &str, target: FileTarget, mode: Option<WriteMode>) -> Statement {
    Statement::Export {
        source: t(source),
        target,
        mode,
    }
}
fn select_into(query: &str, target: FileTarget, mode: Option<WriteMode>) -> Statement {
    Statement::SelectInto {
        query: s(query),
        target,
        mode,
    }
}
fn refresh(table: &str) -> Statement {
    Statement::RefreshTable { table: t(table) }
}
fn reload(table: &str) -> Statement {
    Statement::ReloadTable { table: t(table) }
}
fn clear(table: &str) -> Statement {
    Statement::ClearTable { table: t(table) }
}
fn drop_table(table: &str, if_exists: bool) -> Statement {
    Statement::DropTable {
        table: t(table),
        if_exists,
    }
}
fn drop_schema(schema: &str, if_exists: bool, cascade: bool) -> Statement {
    Statement::DropSchema {
        schema: s(schema),
        if_exists,
        cascade,
    }
}
fn rename(table: &str, new_name: &str) -> Statement {
    Statement::RenameTable {
        table: t(table),
        new_name: s(new_name),
    }
}
fn connector_help(schema: &str) -> Statement {
    Statement::ConnectorCommand {
        schema: s(schema),
        command: s("help"),
    }
}
fn system(command: SystemCommand) -> Statement {
    Statement::System(command)
}
fn cancel_job(job: &str) -> Statement {
    Statement::System(SystemCommand::Cancel(CancelTarget::Job(s(job))))
}
fn delete_connection(schema: Option<&str>) -> Statement {
    Statement::DeleteConnection {
        schema: schema.map(s),
    }
}

use Statement as St;
use WriteMode::{Append, Overwrite};

const GSHEET: &str = "https://docs.google.com/spreadsheets/d/1gxYDt/edit#gid=2075213546";

/// `(input, expected statement)`; none of these is wide.
fn statement_cases() -> Vec<(&'static str, Statement)> {
    vec![
        // help (test_help_commands)
        ("help", help(None)),
        ("help schemas", help(Some("schemas"))),
        ("help charts", help(Some("charts"))),
        ("help import", help(Some("import"))),
        ("HELP  Export", help(Some("Export"))),
        ("help;", help(None)),
        // show (test_show_commands)
        ("show columns from sch1.table1 like '%user%'", columns(Some("sch1.table1"), Some("%user%"))),
        ("show columns from sch1.table1", columns(Some("sch1.table1"), None)),
        ("show tables", tables(None, None)),
        ("show tables from github", tables(Some("github"), None)),
        ("show tables  from github_data", tables(Some("github_data"), None)),
        ("show tables FROM github", tables(Some("github"), None)),
        ("show schemas", St::ShowSchemas),
        ("show columns", columns(None, None)),
        ("show columns from table1", columns(Some("table1"), None)),
        ("describe github", describe(Some("github"))),
        ("describe github.orgs", describe(Some("github.orgs"))),
        ("describe", describe(None)),
        ("show variables", St::ShowVariables),
        ("show files", files(None, None)),
        ("show files from gsheets", files(Some("gsheets"), None)),
        ("show files from gsheets like '%Money'", files(Some("gsheets"), Some("%Money"))),
        ("show files like '*.csv'", files(None, Some("*.csv"))),
        ("show connections", St::ShowConnections),
        // show: case, whitespace, newlines, quoting, like
        ("SHOW TABLES", tables(None, None)),
        ("Show Tables From GitHub", tables(Some("GitHub"), None)),
        ("show  tables", tables(None, None)),
        ("show\ttables\n  from\n github", tables(Some("github"), None)),
        ("  show schemas ;  ", St::ShowSchemas),
        ("show tables from github like 'pull%'", tables(Some("github"), Some("pull%"))),
        ("show tables like 'it''s'", tables(None, Some("it's"))),
        ("show tables from \"my schema\"", tables(Some("my schema"), None)),
        ("show tables from \"a\"\"b\"", tables(Some("a\"b"), None)),
        ("show columns like 'id%'", columns(None, Some("id%"))),
        ("show columns from \"s x\".\"t y\"", columns(Some("s x.t y"), None)),
        // test_autocomplete_parser: `from` with nothing after it
        ("show tables  from ", tables(None, None)),
        // peek (test_peek_command)
        ("peek github.pulls", peek("github.pulls", None)),
        ("peek at jira.issues", peek("jira.issues", None)),
        ("peek pulls", peek("pulls", None)),
        ("peek github.my_pulls 10", peek("github.my_pulls", Some(10))),
        ("PEEK AT github.pulls 5;", peek("github.pulls", Some(5))),
        ("peek file 'projects.csv'", peek_file("projects.csv", None)),
        ("peek file 'my projects.csv' 3", peek_file("my projects.csv", Some(3))),
        ("peek file https://x.io/a.csv?x=1", peek_file("https://x.io/a.csv?x=1", None)),
        (
            "peek file https://docs.google.com/spreadsheets/d/1gxYDt/edit#gid=2075213546",
            peek_file(GSHEET, None),
        ),
        ("peek at file", peek("file", None)),
        ("peek \"file\" 2", peek("file", Some(2))),
        ("peek file.x", peek("file.x", None)),
        // count
        ("count github.repos", count("github.repos")),
        ("COUNT  repos", count("repos")),
        // ??
        ("??", St::HelpLast),
        ("  ?? ; ", St::HelpLast),
        ("select * from ??", sql("select * from ??")),
        // variables (test_variables)
        ("$foo = 100", set("foo", "100")),
        ("$foo", var("foo")),
        ("$foo='hello world'", set("foo", "'hello world'")),
        ("  $foo  ", var("foo")),
        ("  $USER = 'john ' || 'adams'", set("USER", "'john ' || 'adams'")),
        (
            "$orders = select id, name, date from hubspot.orders limit 10",
            set("orders", "select id, name, date from hubspot.orders limit 10"),
        ),
        ("$x = select 1\n  from t;", set("x", "select 1\n  from t")),
        ("$x=a != b", set("x", "a != b")),
        ("unset $foo", unset("foo")),
        ("UNSET  $FOO;", unset("FOO")),
        // import (test_import_command)
        ("import 'projects.csv'", import("projects.csv")),
        (
            "import https://docs.google.com/spreadsheets/d/1gxYDt/edit#gid=2075213546",
            import(GSHEET),
        ),
        ("import 'projects.csv' skip 10", import_full("projects.csv", None, None, Some(10), None)),
        ("import /tmp/x.json", import("/tmp/x.json")),
        ("import https://host/x?a=b", import("https://host/x?a=b")),
        ("import 'it''s.csv'", import("it's.csv")),
        ("import \"my file.csv\"", import("my file.csv")),
        ("import 'p.csv' skip 10 header 2", import_full("p.csv", None, None, Some(10), Some(2))),
        (
            "import 'p.csv' into files.projects overwrite",
            import_full("p.csv", Some("files.projects"), Some(Overwrite), None, None),
        ),
        (
            "IMPORT x.csv INTO t APPEND HEADER 1",
            import_full("x.csv", Some("t"), Some(Append), None, Some(1)),
        ),
        // export (test_export_commands)
        (
            "export github.coders to gsheets 'Coders'",
            export("github.coders", path(Some("gsheets"), "Coders"), None),
        ),
        (
            "export github.coders to gsheets 'Coders' overwrite",
            export("github.coders", path(Some("gsheets"), "Coders"), Some(Overwrite)),
        ),
        (
            "export github.coders to gsheets 'Coders' append",
            export("github.coders", path(Some("gsheets"), "Coders"), Some(Append)),
        ),
        (
            "export coders to gsheets ('Coders' || current_date || '.txt') append",
            export("coders", expr(Some("gsheets"), "'Coders' || current_date || '.txt'"), Some(Append)),
        ),
        ("export coders to coders.csv", export("coders", path(None, "coders.csv"), None)),
        (
            "export coders to 'subdir/coders.csv'",
            export("coders", path(None, "subdir/coders.csv"), None),
        ),
        ("export coders to coders append", export("coders", path(None, "coders"), Some(Append))),
        ("export t to (upper('a)') || 'b')", export("t", expr(None, "upper('a)') || 'b'"), None)),
        ("EXPORT t TO files 'x.parquet' OVERWRITE", export("t", path(Some("files"), "x.parquet"), Some(Overwrite))),
        // select >> (test_export_commands)
        (
            "select col1, col2 from users where name ='bar' limit 5 >> gsheets 'foo'",
            select_into(
                "select col1, col2 from users where name ='bar' limit 5",
                path(Some("gsheets"), "foo"),
                None,
            ),
        ),
        ("select 1 >> 'one.csv' overwrite", select_into("select 1", path(None, "one.csv"), Some(Overwrite))),
        (
            "with a as (select 1 >> 2) select '>>' from a >> ('x' || 1)",
            select_into("with a as (select 1 >> 2) select '>>' from a", expr(None, "'x' || 1"), None),
        ),
        ("select 8 >> 1", sql("select 8 >> 1")),
        ("select a >> b from t", sql("select a >> b from t")),
        // loading control and DDL (test_other_statements)
        ("clear table github.orgs", clear("github.orgs")),
        ("refresh table github.orgs", refresh("github.orgs")),
        ("reload table github.orgs", reload("github.orgs")),
        ("REFRESH TABLE github.orgs;", refresh("github.orgs")),
        ("clear github.orgs", clear("github.orgs")),
        ("drop table gsheets.users", drop_table("gsheets.users", false)),
        ("drop table if exists gsheets.users", drop_table("gsheets.users", true)),
        ("DROP TABLE IF EXISTS t", drop_table("t", true)),
        ("drop schema myscheme1", drop_schema("myscheme1", false, false)),
        ("drop schema github cascade", drop_schema("github", false, true)),
        ("drop schema if exists github CASCADE", drop_schema("github", true, true)),
        ("alter table github.orgs rename to organizations", rename("github.orgs", "organizations")),
        ("ALTER TABLE t\n  RENAME TO u", rename("t", "u")),
        // plain SQL that must fall through untouched (test_other_statements and more)
        ("create table foo1 (id INT)", sql("create table foo1 (id INT)")),
        ("create view foo1 as select 5", sql("create view foo1 as select 5")),
        ("insert into foo1 (id) values (5)", sql("insert into foo1 (id) values (5)")),
        ("delete from foo1 where id = 5", sql("delete from foo1 where id = 5")),
        ("drop table a, b", sql("drop table a, b")),
        ("drop table t cascade", sql("drop table t cascade")),
        ("drop view v", sql("drop view v")),
        ("drop schema s restrict", sql("drop schema s restrict")),
        ("alter table github.orgs", sql("alter table github.orgs")),
        ("alter table t rename column a to b", sql("alter table t rename column a to b")),
        ("alter table t add column c int", sql("alter table t add column c int")),
        ("select * from table", sql("select * from table")),
        ("select count(*) from sch1.table2", sql("select count(*) from sch1.table2")),
        ("select name, count(*) as count from sch1.table2", sql("select name, count(*) as count from sch1.table2")),
        ("select * \nfrom table\nlimit 10", sql("select * \nfrom table\nlimit 10")),
        (
            "select sch1.users.name, sch1.orgs.name from sch1.users, sch1.orgs where sch1.users.org_id = sch1.orgs.id and x != 5 and d is today order by sch1.users.date",
            sql("select sch1.users.name, sch1.orgs.name from sch1.users, sch1.orgs where sch1.users.org_id = sch1.orgs.id and x != 5 and d is today order by sch1.users.date"),
        ),
        (
            "select id, name, created_at from table1, new_table2 where name <> 'scooter' and id < 5 order by id desc limit 50",
            sql("select id, name, created_at from table1, new_table2 where name <> 'scooter' and id < 5 order by id desc limit 50"),
        ),
        ("select cast(now() as date)", sql("select cast(now() as date)")),
        ("with x as (select 1 as a) select a from x;", sql("with x as (select 1 as a) select a from x")),
        ("select a, row_number() over (partition by b order by c) from t", sql("select a, row_number() over (partition by b order by c) from t")),
        ("create table x as select * from github.pulls", sql("create table x as select * from github.pulls")),
        ("copy t to 'out.csv' (header)", sql("copy t to 'out.csv' (header)")),
        ("pragma table_info('t')", sql("pragma table_info('t')")),
        ("SHOW ALL TABLES", sql("SHOW ALL TABLES")),
        ("show t", sql("show t")),
        ("describe select 1", sql("describe select 1")),
        ("describe github pulls", sql("describe github pulls")),
        ("summarize t", sql("summarize t")),
        ("import database 'dir'", sql("import database 'dir'")),
        ("export database 'dir' (format parquet)", sql("export database 'dir' (format parquet)")),
        ("select 1;\n", sql("select 1")),
        ("  select\n  1  ", sql("select\n  1")),
        ("select 'a;' ;;", sql("select 'a;'")),
        ("select help", sql("select help")),
        ("table help", sql("table help")),
        ("github helpme", sql("github helpme")),
        ("", sql("")),
        // connector commands
        ("github help", connector_help("github")),
        ("GitHub HELP;", connector_help("GitHub")),
        ("\"my conn\" help", connector_help("my conn")),
        // system (test_system)
        ("system status", system(SystemCommand::Status)),
        ("system stop daemon", system(SystemCommand::StopDaemon)),
        ("system restart daemon", system(SystemCommand::RestartDaemon)),
        ("SYSTEM  STOP\nDAEMON", system(SystemCommand::StopDaemon)),
        ("system reload", system(SystemCommand::Reload)),
        ("system cancel all", system(SystemCommand::Cancel(CancelTarget::All))),
        ("system cancel 'all'", system(SystemCommand::Cancel(CancelTarget::All))),
        ("system cancel 42", cancel_job("42")),
        ("system cancel 7c9e-66a1_b", cancel_job("7c9e-66a1_b")),
        ("system cancel 'job 1'", cancel_job("job 1")),
        ("system cancel allison", cancel_job("allison")),
        // connections and exit
        ("connect", St::Connect),
        ("delete connection", delete_connection(None)),
        ("delete connection github", delete_connection(Some("github"))),
        ("exit", St::Exit),
        ("QUIT;", St::Exit),
    ]
}

#[test]
fn statements_parse() {
    for (input, expected) in statement_cases() {
        match parse(input) {
            Ok(parsed) => {
                assert_eq!(parsed.statement, expected, "input: {input:?}");
                assert!(!parsed.wide, "input: {input:?} should not be wide");
            }
            Err(error) => panic!("input {input:?} failed: {error}"),
        }
    }
}

/// `(input, expected statement, wide)`: the `!` prefix and suffix.
#[test]
fn raw_sql_and_wide() {
    let cases = [
        ("select * from t!", sql("select * from t"), true),
        ("select * from t !;", sql("select * from t"), true),
        (
            "select * from t where a != b",
            sql("select * from t where a != b"),
            false,
        ),
        (
            "select * from t where a != b!",
            sql("select * from t where a != b"),
            true,
        ),
        ("select 'wow!'", sql("select 'wow!'"), false),
        ("select 1 -- wow!", sql("select 1 -- wow!"), false),
        ("select 1 /* wow! */", sql("select 1 /* wow! */"), false),
        ("show tables!", tables(None, None), true),
        (
            "peek github.pulls 10!",
            peek("github.pulls", Some(10)),
            true,
        ),
        ("$foo!", var("foo"), true),
        ("!select 1", raw("select 1"), false),
        ("! show tables ;", raw("show tables"), false),
        ("!select 1!", raw("select 1"), true),
        ("!select 'a!'", raw("select 'a!'"), false),
        ("!select a != b", raw("select a != b"), false),
        ("!= 1", raw("= 1"), false),
    ];
    for (input, expected, wide) in cases {
        let parsed = parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(parsed.statement, expected, "input: {input:?}");
        assert_eq!(parsed.wide, wide, "wide of {input:?}");
    }
}

/// `(input, byte position of the error)`: clearly unify commands, malformed.
#[test]
fn errors_have_positions() {
    let cases = [
        ("peek", 4),
        ("peek  ", 4),
        ("peek github.pulls ten", 18),
        ("peek github.pulls 10 20", 21),
        ("peek file", 9),
        ("  peek", 6),
        ("export t", 8),
        ("export t to", 11),
        ("export t into 'x.csv'", 9),
        ("export t to gsheets 'x' sideways", 24),
        ("import", 6),
        ("import 'x.csv' skip", 19),
        ("import 'x.csv' skip ten", 20),
        ("import 'x.csv' skip 1 skip 2", 22),
        ("show tables from a b", 19),
        ("show tables like", 16),
        ("show tables like pull%", 17),
        ("show schemas x", 13),
        ("system frobnicate", 7),
        ("system", 6),
        ("system cancel", 13),
        ("system stop", 11),
        ("$x =", 4),
        ("$x = ;", 4),
        ("$x y", 3),
        ("unset x", 6),
        ("unset", 5),
        ("alter table t rename to a.b", 24),
        ("alter table t rename to", 23),
        ("count", 5),
        ("count a b", 8),
        ("refresh table", 13),
        ("reload", 6),
        ("clear table a.b.c", 15),
        ("help a b", 7),
        ("?? x", 3),
        ("connect github", 8),
        ("exit now", 5),
        ("delete connection a b", 20),
        ("peek 99999999999999999999999", 5),
        ("peek t 99999999999999999999999", 7),
        ("!", 1),
        ("!  ;", 1),
    ];
    for (input, position) in cases {
        match parse(input) {
            Ok(parsed) => panic!("{input:?} should fail, got {parsed:?}"),
            Err(error) => {
                assert_eq!(error.position, Some(position), "{input:?}: {error}");
                assert!(!error.message.contains('\n'), "one line: {error}");
            }
        }
    }
}

#[test]
fn error_messages_are_clear() {
    let cases = [
        ("peek", "invalid `peek` command: incomplete command, found end of input at byte 4 (usage: peek [at] <table> [<rows>] | peek file '<path>'|<url> [<rows>])"),
        ("peek t x", "invalid `peek` command: expected a number, found `x` at byte 7 (usage: peek [at] <table> [<rows>] | peek file '<path>'|<url> [<rows>])"),
        ("show tables from a b", "invalid `show` command: expected `like`, found `b` at byte 19 (usage: show tables [from <schema>] [like '<pattern>'])"),
        ("$x =", "invalid `$variable` command: expected an expression, found end of input at byte 4 (usage: $<var> = <expr>)"),
        ("unset x", "invalid `unset` command: expected a $variable, found `x` at byte 6 (usage: unset $<var>)"),
        ("alter table t rename to a.b", "invalid `alter` command: the new name must be unqualified, found `a.b` at byte 24 (usage: alter table <table> rename to <name>)"),
        ("export t to", "invalid `export` command: incomplete command, found end of input at byte 11 (usage: export <table> to [<connector>] '<file>'|(<expr>) [overwrite|append])"),
    ];
    for (input, message) in cases {
        let error = parse(input).expect_err(input);
        assert_eq!(error.to_string(), message, "input: {input:?}");
    }
    let error = parse("system frobnicate").expect_err("system");
    assert!(error.message.contains("`status`"), "{error}");
    assert!(error.message.contains("`stop daemon`"), "{error}");
}

#[test]
fn statements_round_trip_through_serde() {
    for (input, _) in statement_cases() {
        let parsed = parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        let json = serde_json::to_string(&parsed).expect("serializable");
        let back: Parsed = serde_json::from_str(&json).expect("deserializable");
        assert_eq!(back, parsed, "{json}");
    }
}

/// `(script, statements)`.
#[test]
fn split_statements_cases() {
    let cases: &[(&str, &[&str])] = &[
        ("", &[]),
        (" ;; ; \n", &[]),
        ("select 1", &["select 1"]),
        ("select 1; select 2;", &["select 1", "select 2"]),
        (
            "select ';' as a; select 2",
            &["select ';' as a", "select 2"],
        ),
        (
            "select \"a;b\" from t; select 2",
            &["select \"a;b\" from t", "select 2"],
        ),
        (
            "select 1 -- no; split\n, 2; select 3",
            &["select 1 -- no; split\n, 2", "select 3"],
        ),
        (
            "select /* ; */ 1; select 2",
            &["select /* ; */ 1", "select 2"],
        ),
        (
            "select /* a /* nested; */ b; */ 1;",
            &["select /* a /* nested; */ b; */ 1"],
        ),
        (
            "select $$a;b$$; select $x$ ; $$ $x$;",
            &["select $$a;b$$", "select $x$ ; $$ $x$"],
        ),
        ("select 'it''s;';", &["select 'it''s;'"]),
        (
            "show tables\nshow schemas\n",
            &["show tables", "show schemas"],
        ),
        (
            "show tables\nselect *\nfrom t\nwhere a = 1;\npeek t 5\n$x = 1\n$x\n??",
            &[
                "show tables",
                "select *\nfrom t\nwhere a = 1",
                "peek t 5",
                "$x = 1",
                "$x",
                "??",
            ],
        ),
        ("-- a comment\nshow tables", &["show tables"]),
        (
            "show tables -- all of them\ncount t",
            &["show tables", "count t"],
        ),
        ("/* header */ select 1;", &["select 1"]),
        ("SHOW TABLES; select 1", &["SHOW TABLES", "select 1"]),
        (
            "export t to files ('a' ||\n 'b')\nshow files",
            &["export t to files ('a' ||\n 'b')", "show files"],
        ),
        (
            "import 'a\nb.csv'\nshow tables",
            &["import 'a\nb.csv'", "show tables"],
        ),
        ("github help\nselect 1;", &["github help", "select 1"]),
        ("delete connection\nexit", &["delete connection", "exit"]),
        (
            "delete from t\nwhere a = 1;",
            &["delete from t\nwhere a = 1"],
        ),
        ("drop table t\n;", &["drop table t"]),
        ("!select 1\n, 2;", &["!select 1\n, 2"]),
        ("select 'unterminated; x", &["select 'unterminated; x"]),
        (
            "select 1;\r\nshow tables\r\nexit\r\n",
            &["select 1", "show tables", "exit"],
        ),
    ];
    for (script, expected) in cases {
        assert_eq!(split_statements(script), *expected, "script: {script:?}");
    }
}

/// `(buffer, complete?)`.
#[test]
fn completeness_cases() {
    let cases = [
        ("", true),
        ("   \n  ", true),
        ("select 1", false),
        ("select 1;", true),
        ("select 1;  ", true),
        ("select 1; -- done", true),
        ("select 1\nfrom t", false),
        ("select 1\nfrom t;", true),
        ("select ';'", false),
        ("select 'a", false),
        ("select 1 /* ; */", false),
        ("select 1 /* ;", false),
        ("select $$;", false),
        ("show tables", true),
        ("SHOW TABLES", true),
        ("peek github.pulls", true),
        ("??", true),
        ("$x = 1", true),
        ("$x", true),
        ("describe", true),
        ("help", true),
        ("exit", true),
        ("quit", true),
        ("unset $x", true),
        ("system status", true),
        ("connect", true),
        ("delete connection", true),
        ("github help", true),
        ("github", false),
        ("import 'x", false),
        ("export t to files ('a' ||", false),
        ("export t to files ('a' || 'b')", true),
        ("!select 1", false),
        ("!select 1;", true),
        ("drop table t", false),
        ("drop table t;", true),
        ("select * from t >> 'x.csv'", false),
        ("select 1; show tables", true),
        ("show tables\nselect 1", false),
        ("-- just a comment", true),
    ];
    for (buffer, complete) in cases {
        let expected = if complete {
            Completeness::Complete
        } else {
            Completeness::Incomplete
        };
        assert_eq!(completeness(buffer), expected, "buffer: {buffer:?}");
    }
}

#[test]
fn meta_command_words() {
    for word in [
        "show", "SHOW", "Describe", "peek", "??", "$x", "$USER_1", "exit", "unset",
    ] {
        assert!(is_meta_command(word), "{word}");
    }
    for word in [
        "select", "with", "delete", "drop", "$", "$$", "!select", "github", "",
    ] {
        assert!(!is_meta_command(word), "{word}");
    }
}

#[test]
fn help_lines_cover_every_command() {
    let lines = Statement::help_lines();
    for syntax in [
        "count <table>",
        "??",
        "show tables [from <schema>] [like '<pattern>']",
        "system cancel <job>|all",
        "exit | quit",
    ] {
        assert!(lines.iter().any(|(s, _)| *s == syntax), "{syntax}");
    }
    assert!(lines.contains(&("count <table>", "returns count of rows in a table")));
    assert!(lines.iter().all(|(s, d)| !s.is_empty() && !d.is_empty()));
}

#[test]
fn command_keywords_parse_or_complete() {
    let keywords = command_keywords();
    assert!(keywords.contains(&"show tables from"));
    assert!(keywords.contains(&"peek at"));
    // Every keyword is typed in lower case and has no stray blanks.
    for keyword in keywords {
        assert_eq!(keyword.trim(), *keyword);
        assert_eq!(keyword.to_lowercase(), *keyword);
    }
}
