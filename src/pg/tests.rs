//! Unit tests of the pg endpoint's pure parts: type mapping and encodings, parameter
//! binding, statement planning and catalog rewriting (against a real DuckDB).

use super::catalog::{self, Plan, Transaction};
use super::types::{self, Kind};
use pgwire::api::Type;
use serde_json::json;

fn kind(t: &str) -> Kind {
    Kind::of(t, std::iter::empty())
}

#[test]
fn duckdb_types_map_to_postgres_oids() {
    let cases: &[(&str, Type)] = &[
        ("BOOLEAN", Type::BOOL),
        ("SMALLINT", Type::INT2),
        ("INTEGER", Type::INT4),
        ("BIGINT", Type::INT8),
        ("HUGEINT", Type::NUMERIC),
        ("DECIMAL(10,2)", Type::NUMERIC),
        ("DECIMAL", Type::NUMERIC),
        ("FLOAT", Type::FLOAT4),
        ("DOUBLE", Type::FLOAT8),
        ("VARCHAR", Type::VARCHAR),
        ("JSON", Type::JSON),
        ("DATE", Type::DATE),
        ("TIME", Type::TIME),
        ("TIMESTAMP", Type::TIMESTAMP),
        ("TIMESTAMP WITH TIME ZONE", Type::TIMESTAMPTZ),
        ("BLOB", Type::BYTEA),
        ("UUID", Type::UUID),
        ("VARCHAR[]", Type::VARCHAR_ARRAY),
        ("BIGINT[]", Type::INT8_ARRAY),
        ("INTEGER[3]", Type::INT4_ARRAY),
        ("VARCHAR[][]", Type::JSON),
        ("STRUCT(a INTEGER)", Type::JSON),
        ("MAP(VARCHAR, INTEGER)", Type::VARCHAR),
        ("INTERVAL", Type::VARCHAR),
    ];
    for (t, ty) in cases {
        assert_eq!(kind(t).pg_type(), *ty, "{t}");
    }
    assert_eq!(kind("DECIMAL(10,2)").typmod(), (10 << 16 | 2) + 4);
    assert_eq!(kind("BIGINT").typmod(), -1);
}

#[test]
fn coarse_varchar_columns_are_typed_from_their_cells() {
    let of = |cells: Vec<serde_json::Value>| Kind::of("VARCHAR", cells.iter());
    assert_eq!(of(vec![json!(null), json!("a")]), Kind::Text);
    assert_eq!(
        of(vec![json!(["a", "b"]), json!(null)]),
        Kind::Array(Box::new(Kind::Text))
    );
    assert_eq!(
        of(vec![json!([1, 2]), json!([3])]),
        Kind::Array(Box::new(Kind::Int8))
    );
    assert_eq!(
        of(vec![json!([1, 2.5])]),
        Kind::Array(Box::new(Kind::Float8))
    );
    assert_eq!(of(vec![json!([[1]])]), Kind::Json);
    assert_eq!(of(vec![json!(["a", 1])]), Kind::Json);
    assert_eq!(of(vec![json!({"a": 1})]), Kind::Json);
    assert_eq!(of(vec![]), Kind::Text);
}

#[test]
fn text_encodings_follow_postgres() {
    let t = |k: &str, v: serde_json::Value| types::text_of(&kind(k), &v);
    assert_eq!(t("BOOLEAN", json!(true)), "t");
    assert_eq!(t("BOOLEAN", json!(false)), "f");
    assert_eq!(t("DECIMAL(10,2)", json!(12.5)), "12.50");
    assert_eq!(t("DECIMAL(10,2)", json!(3)), "3.00");
    assert_eq!(t("DECIMAL", json!(1.25)), "1.25");
    assert_eq!(t("DOUBLE", json!(1e21)), "1000000000000000000000");
    assert_eq!(
        t("TIMESTAMP WITH TIME ZONE", json!("2024-01-02 03:04:05")),
        "2024-01-02 03:04:05+00"
    );
    assert_eq!(
        t("VARCHAR[]", json!(["a", "b c", null, "", "x\"y", "null"])),
        r#"{a,"b c",NULL,"","x\"y","null"}"#
    );
    assert_eq!(t("BIGINT[]", json!([1, 2])), "{1,2}");
    assert_eq!(t("JSON", json!({"a": [1]})), r#"{"a":[1]}"#);
    assert_eq!(t("VARCHAR", json!("plain")), "plain");
}

fn binary_cell(k: &str, v: serde_json::Value) -> Vec<u8> {
    let cols = vec![types::PgColumn {
        name: "c".into(),
        kind: kind(k),
    }];
    let fields = types::field_infos(&cols, &pgwire::api::portal::Format::UnifiedBinary);
    let rows = types::encode_rows(&cols, &fields, &[vec![v]]).unwrap();
    let data = rows[0].data.to_vec();
    let len = i32::from_be_bytes(data[..4].try_into().unwrap());
    assert_eq!(len as usize, data.len() - 4);
    data[4..].to_vec()
}

#[test]
fn binary_encodings_follow_postgres() {
    assert_eq!(binary_cell("BIGINT", json!(-2)), (-2i64).to_be_bytes());
    assert_eq!(binary_cell("INTEGER", json!(7)), 7i32.to_be_bytes());
    assert_eq!(binary_cell("DOUBLE", json!(2.5)), 2.5f64.to_be_bytes());
    assert_eq!(binary_cell("BOOLEAN", json!(true)), [1]);
    assert_eq!(binary_cell("DATE", json!("2000-01-02")), 1i32.to_be_bytes());
    assert_eq!(
        binary_cell("TIMESTAMP", json!("2000-01-01 00:00:01.5")),
        1_500_000i64.to_be_bytes()
    );
    assert_eq!(binary_cell("BLOB", json!("\\x0aff")), [0x0a, 0xff]);
    // int8[] {5, NULL}: ndim 1, has nulls, elem oid 20, len 2, lbound 1, elements.
    let mut want = Vec::new();
    for v in [1i32, 1, 20, 2, 1, 8] {
        want.extend_from_slice(&v.to_be_bytes());
    }
    want.extend_from_slice(&5i64.to_be_bytes());
    want.extend_from_slice(&(-1i32).to_be_bytes());
    assert_eq!(binary_cell("BIGINT[]", json!([5, null])), want);
    // A value that does not fit the column is an error, not garbage.
    let cols = vec![types::PgColumn {
        name: "c".into(),
        kind: Kind::Int4,
    }];
    let fields = types::field_infos(&cols, &pgwire::api::portal::Format::UnifiedBinary);
    let err = types::encode_rows(&cols, &fields, &[vec![json!(1i64 << 40)]]).unwrap_err();
    assert!(err.to_string().contains("column \"c\""), "{err}");
}

#[test]
fn numeric_binary_round_trips() {
    for s in [
        "0",
        "1",
        "-1",
        "12.50",
        "10000",
        "123456789.0001",
        "0.00012",
        "-0.5",
        "99999999999999999999.99",
    ] {
        let bin = types::numeric_binary(s).unwrap();
        assert_eq!(types::numeric_from_binary(&bin).unwrap(), s, "{s}");
    }
    // 12.50: 2 digits (12, 5000), weight 0, positive, dscale 2.
    assert_eq!(
        types::numeric_binary("12.50").unwrap(),
        [0, 2, 0, 0, 0, 0, 0, 2, 0, 12, 0x13, 0x88]
    );
    assert!(types::numeric_binary("1e5").is_none());
}

#[test]
fn parameters_become_safe_literals() {
    let text = |ty: Option<&Type>, v: &str| types::param_literal(1, ty, false, Some(v.as_bytes()));
    assert_eq!(text(None, "it's").unwrap(), "'it''s'");
    assert_eq!(
        text(Some(&Type::TEXT), "a'); drop table x; --").unwrap(),
        "'a''); drop table x; --'"
    );
    assert_eq!(text(Some(&Type::INT8), "-42").unwrap(), "(-42)");
    assert!(text(Some(&Type::INT8), "1; drop table x").is_err());
    assert!(text(Some(&Type::INT4), "1.5").is_err());
    assert_eq!(text(Some(&Type::NUMERIC), "1.50").unwrap(), "1.50");
    assert_eq!(text(Some(&Type::BOOL), "t").unwrap(), "TRUE");
    assert_eq!(
        text(Some(&Type::DATE), "2024-01-02").unwrap(),
        "DATE '2024-01-02'"
    );
    assert_eq!(
        types::param_literal(1, Some(&Type::INT8), false, None).unwrap(),
        "NULL"
    );
    let bin = |ty: &Type, v: &[u8]| types::param_literal(2, Some(ty), true, Some(v));
    assert_eq!(bin(&Type::INT8, &7i64.to_be_bytes()).unwrap(), "7");
    assert_eq!(bin(&Type::INT4, &(-7i32).to_be_bytes()).unwrap(), "-7");
    assert_eq!(bin(&Type::FLOAT8, &2.5f64.to_be_bytes()).unwrap(), "2.5");
    assert_eq!(bin(&Type::BOOL, &[1]).unwrap(), "TRUE");
    assert_eq!(bin(&Type::TEXT, b"o'k").unwrap(), "'o''k'");
    assert_eq!(
        bin(&Type::DATE, &1i32.to_be_bytes()).unwrap(),
        "DATE '2000-01-02'"
    );
    assert_eq!(bin(&Type::BYTEA, &[0, 255]).unwrap(), "'\\x00\\xFF'::BLOB");
    assert_eq!(
        bin(&Type::NUMERIC, &types::numeric_binary("-12.50").unwrap()).unwrap(),
        "(-12.50)"
    );
    let e = bin(&Type::INT8, &[1, 2]).unwrap_err();
    assert!(e.to_string().starts_with("parameter $2"), "{e}");
}

#[test]
fn extreme_binary_dates_and_timestamps_are_infinity_or_an_error_never_a_panic() {
    let bin = |ty: &Type, v: &[u8]| types::param_literal(1, Some(ty), true, Some(v));
    assert_eq!(
        bin(&Type::DATE, &i32::MAX.to_be_bytes()).unwrap(),
        "DATE 'infinity'"
    );
    assert_eq!(
        bin(&Type::DATE, &i32::MIN.to_be_bytes()).unwrap(),
        "DATE '-infinity'"
    );
    let e = bin(&Type::DATE, &(i32::MAX - 1).to_be_bytes()).unwrap_err();
    assert!(e.to_string().contains("out of range"), "{e}");
    assert_eq!(
        bin(&Type::TIMESTAMP, &i64::MAX.to_be_bytes()).unwrap(),
        "TIMESTAMP 'infinity'"
    );
    let e = bin(&Type::TIMESTAMPTZ, &(i64::MIN + 1).to_be_bytes()).unwrap_err();
    assert!(e.to_string().contains("out of range"), "{e}");
}

#[test]
fn a_regex_operator_before_an_unterminated_string_does_not_panic() {
    for sql in [
        "select 1 where x ~ '",
        "select 1 where x ~* '",
        "x operator(pg_catalog.~) '",
    ] {
        let (text, _) = catalog::rewrite(&catalog::lex(sql));
        assert!(text.ends_with('\''), "{sql} → {text}");
    }
}

#[test]
fn parameters_are_found_and_bound_outside_strings_and_comments() {
    let sql = "select $1, '$2', \"$3\", $$ $4 $$, $2 -- $5\n/* $6 */";
    assert_eq!(catalog::param_count(sql), 2);
    assert_eq!(
        catalog::bind_params(sql, &["'a'".into(), "7".into()]).unwrap(),
        "select 'a', '$2', \"$3\", $$ $4 $$, 7 -- $5\n/* $6 */"
    );
    assert!(catalog::bind_params("select $3", &["1".into()]).is_err());
    let casts = catalog::param_casts("select * from t where a = $1::bigint and b = $2 limit $3");
    assert_eq!(casts, vec![Some(Type::INT8), None, Some(Type::INT8)]);
    // unify `$variables` are not parameters.
    assert_eq!(catalog::param_count("select $name"), 0);
}

#[test]
fn statements_are_planned() {
    use Plan as P;
    assert_eq!(catalog::plan("  -- nothing\n ; "), P::Empty);
    match catalog::plan("SET extra_float_digits = 3") {
        P::Set {
            name, value, local, ..
        } => {
            assert_eq!(
                (name.as_str(), value.as_str(), local),
                ("extra_float_digits", "3", true)
            )
        }
        other => panic!("{other:?}"),
    }
    match catalog::plan("set application_name to 'DBeaver 23'") {
        P::Set { name, value, .. } => assert_eq!(
            (name.as_str(), value.as_str()),
            ("application_name", "DBeaver 23")
        ),
        other => panic!("{other:?}"),
    }
    match catalog::plan("SET memory_limit = '1GB'") {
        P::Set { local, .. } => assert!(!local, "DuckDB settings go to DuckDB"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        catalog::plan("SHOW TRANSACTION ISOLATION LEVEL"),
        P::Show {
            name: "transaction_isolation".into()
        }
    );
    assert_eq!(
        catalog::plan("show search_path;"),
        P::Show {
            name: "search_path".into()
        }
    );
    assert!(
        matches!(catalog::plan("show tables"), P::Engine { .. }),
        "unify's own show"
    );
    assert!(matches!(
        catalog::plan("BEGIN"),
        P::Engine {
            transaction: Transaction::Begin,
            ..
        }
    ));
    assert!(matches!(
        catalog::plan("commit"),
        P::Engine {
            transaction: Transaction::End,
            ..
        }
    ));
    assert_eq!(
        catalog::plan("DISCARD ALL"),
        P::Ignore {
            tag: "DISCARD ALL".into()
        }
    );
    assert_eq!(
        catalog::plan("select pg_cancel_backend(100001)"),
        P::CancelBackend { pid: 100001 }
    );
    assert_eq!(
        catalog::command_tag("create or replace table x as select 1"),
        "CREATE TABLE"
    );
    assert_eq!(catalog::command_tag("drop view v"), "DROP VIEW");
}

/// psql 15's policy query of `\d`: pg_policy is always empty here.
const PSQL_POLICIES: &str = "SELECT pol.polname, pol.polpermissive,\n  CASE WHEN pol.polroles = '{0}' THEN NULL ELSE pg_catalog.array_to_string(array(select rolname from pg_catalog.pg_roles where oid = any (pol.polroles) order by 1),',') END,\n  pg_catalog.pg_get_expr(pol.polqual, pol.polrelid),\n  pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid),\n  CASE pol.polcmd\n    WHEN 'r' THEN 'SELECT'\n    WHEN 'a' THEN 'INSERT'\n    WHEN 'w' THEN 'UPDATE'\n    WHEN 'd' THEN 'DELETE'\n    END AS cmd\nFROM pg_catalog.pg_policy pol\nWHERE pol.polrelid = '16385' ORDER BY 1;";

#[test]
fn catalog_queries_on_always_empty_relations_are_answered_empty() {
    match catalog::plan(PSQL_POLICIES) {
        Plan::EmptyResult { columns } => {
            assert_eq!(columns.len(), 6);
            assert_eq!(columns[0], "polname");
            assert_eq!(columns[5], "cmd");
        }
        other => panic!("{other:?}"),
    }
    // A LEFT JOIN to an empty relation does not empty the result; an aggregate neither.
    assert!(matches!(
        catalog::plan("select c.relname from pg_catalog.pg_class c left join pg_catalog.pg_index i on i.indrelid = c.oid"),
        Plan::Engine { catalog: true, .. }
    ));
    assert!(matches!(
        catalog::plan("select count(*) from pg_catalog.pg_inherits"),
        Plan::Engine { .. }
    ));
}

/// psql 15's `\dt`, `\dn` and `\d t` queries.
const PSQL_DT: &str = "SELECT n.nspname as \"Schema\",\n  c.relname as \"Name\",\n  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as \"Type\",\n  pg_catalog.pg_get_userbyid(c.relowner) as \"Owner\"\nFROM pg_catalog.pg_class c\n     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam\nWHERE c.relkind IN ('r','p','')\n      AND n.nspname <> 'pg_catalog'\n      AND n.nspname !~ '^pg_toast'\n      AND n.nspname <> 'information_schema'\n  AND pg_catalog.pg_table_is_visible(c.oid)\nORDER BY 1,2;";
const PSQL_DN: &str = "SELECT n.nspname AS \"Name\",\n  pg_catalog.pg_get_userbyid(n.nspowner) AS \"Owner\"\nFROM pg_catalog.pg_namespace n\nWHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'\nORDER BY 1;";
const PSQL_D_LOOKUP: &str = "SELECT c.oid,\n  n.nspname,\n  c.relname\nFROM pg_catalog.pg_class c\n     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\nWHERE c.relname OPERATOR(pg_catalog.~) '^(t)$' COLLATE pg_catalog.default\n  AND n.nspname OPERATOR(pg_catalog.~) '^(s)$' COLLATE pg_catalog.default\nORDER BY 2, 3;";
const PSQL_D_TABLE: &str = "SELECT c.relchecks, c.relkind, c.relhasindex, c.relhasrules, c.relhastriggers, c.relrowsecurity, c.relforcerowsecurity, false AS relhasoids, c.relispartition, pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x), ', ')\n, c.reltablespace, CASE WHEN c.reloftype = 0 THEN '' ELSE c.reloftype::pg_catalog.regtype::pg_catalog.text END, c.relpersistence, c.relreplident, am.amname\nFROM pg_catalog.pg_class c\n LEFT JOIN pg_catalog.pg_class tc ON (c.reltoastrelid = tc.oid)\nLEFT JOIN pg_catalog.pg_am am ON (c.relam = am.oid)\nWHERE c.oid = 'OID';";
const PSQL_D_COLUMNS: &str = "SELECT a.attname,\n  pg_catalog.format_type(a.atttypid, a.atttypmod),\n  (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true)\n   FROM pg_catalog.pg_attrdef d\n   WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef),\n  a.attnotnull,\n  (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t\n   WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) AS attcollation,\n  a.attidentity,\n  a.attgenerated\nFROM pg_catalog.pg_attribute a\nWHERE a.attrelid = 'OID' AND a.attnum > 0 AND NOT a.attisdropped\nORDER BY a.attnum;";

fn engine_text(sql: &str) -> String {
    match catalog::plan(sql) {
        Plan::Engine {
            text,
            catalog: true,
            ..
        } => text,
        other => panic!("not a catalog query for the engine: {other:?}"),
    }
}

fn strings(conn: &duckdb::Connection, sql: &str) -> Vec<Vec<String>> {
    let t = crate::warehouse::query(conn, sql)
        .unwrap_or_else(|e| panic!("{e}\n{sql}"))
        .unwrap_or_default();
    t.rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

#[test]
fn psql_describe_queries_run_on_duckdb_with_postgres_types() {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "create schema s; create table s.t(id integer, name varchar, amount decimal(10,2), tags varchar[], seen timestamp, big bigint); create view s.v as select 1 as one;",
    )
    .unwrap();
    conn.execute_batch(&catalog::install_script()).unwrap();
    let dt = strings(&conn, &engine_text(PSQL_DT));
    assert!(
        dt.contains(&vec![
            "s".into(),
            "t".into(),
            "table".into(),
            "unify".into()
        ]),
        "{dt:?}"
    );
    assert!(
        !dt.iter().any(|r| r[1] == "v"),
        "views are not tables: {dt:?}"
    );
    let dn = strings(&conn, &engine_text(PSQL_DN));
    assert!(
        dn.iter().any(|r| r[0] == "s") && dn.iter().any(|r| r[0] == "main"),
        "{dn:?}"
    );
    assert!(
        !dn.iter()
            .any(|r| r[0] == "pg_catalog" || r[0] == "information_schema"),
        "{dn:?}"
    );
    let found = strings(&conn, &engine_text(PSQL_D_LOOKUP));
    assert_eq!(found.len(), 1, "{found:?}");
    let oid = found[0][0].clone();
    let table = strings(&conn, &engine_text(&PSQL_D_TABLE.replace("OID", &oid)));
    assert_eq!(table.len(), 1);
    assert_eq!(table[0][1], "r");
    let cols = strings(&conn, &engine_text(&PSQL_D_COLUMNS.replace("OID", &oid)));
    let typed: Vec<(String, String)> = cols.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    assert_eq!(
        typed,
        [
            ("id", "integer"),
            ("name", "character varying"),
            ("amount", "numeric(10,2)"),
            ("tags", "character varying[]"),
            ("seen", "timestamp without time zone"),
            ("big", "bigint"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
}

#[test]
fn the_catalog_gives_columns_the_oids_results_are_sent_with() {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    conn.execute_batch(&catalog::install_script()).unwrap();
    for t in [
        "BOOLEAN",
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "UBIGINT",
        "HUGEINT",
        "FLOAT",
        "DOUBLE",
        "DECIMAL(10,2)",
        "VARCHAR",
        "JSON",
        "DATE",
        "TIME",
        "TIMESTAMP",
        "TIMESTAMP WITH TIME ZONE",
        "BLOB",
        "UUID",
        "VARCHAR[]",
        "BIGINT[]",
        "DOUBLE[]",
        "VARCHAR[][]",
        "STRUCT(a INTEGER)",
        "MAP(VARCHAR, INTEGER)",
        "INTERVAL",
    ] {
        let sql_oid: i64 = conn
            .query_row("select unify_pg_oid(?)", [t], |r| r.get(0))
            .unwrap();
        assert_eq!(sql_oid as u32, catalog::oid_of_duckdb_type(t), "{t}");
        // And pg_type knows every one of them.
        let known: i64 = conn
            .query_row(
                "select count(*) from unify_pg_type where oid = ?",
                [sql_oid],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(known, 1, "{t} → {sql_oid} missing from pg_type");
    }
}

#[test]
fn rewrites_keep_strings_and_quoted_names() {
    let (text, catalog) = catalog::rewrite(&catalog::lex(
        "select 'pg_class', \"pg_class\".x, version(), c.oid::regclass from pg_catalog.pg_class c where c.relname operator(pg_catalog.~) 'x' collate pg_catalog.default",
    ));
    assert!(catalog);
    assert!(
        text.contains("'pg_class'") && text.contains("\"pg_class\".x"),
        "{text}"
    );
    assert!(text.contains("'PostgreSQL 15.0 (unify"), "{text}");
    assert!(text.contains("c.oid::BIGINT"), "{text}");
    assert!(text.contains("from unify_pg_class c"), "{text}");
    assert!(text.contains("c.relname ~ '(?s).*(?:x).*'"), "{text}");
    assert!(!text.contains("collate"), "{text}");
}

#[test]
fn untyped_parameters_find_the_columns_they_meet() {
    let s = catalog::param_sources("insert into main.items values ($1, $2, 'x', $3)");
    assert_eq!(
        s.tables,
        vec![(Some("main".to_string()), "items".to_string())]
    );
    assert_eq!(
        s.columns,
        vec![
            (0, "#1".to_string()),
            (1, "#2".to_string()),
            (2, "#4".to_string())
        ]
    );
    let s = catalog::param_sources("INSERT INTO t (b, a) VALUES ($1, $2), ($3, now())");
    assert_eq!(
        s.columns,
        vec![
            (0, "b".to_string()),
            (1, "a".to_string()),
            (2, "b".to_string())
        ]
    );
    let s = catalog::param_sources(
        "select * from s.t x join u on u.id = x.id where x.name = $1 and $2 <= age and kind in ($3, $4) and title like $5 limit $6",
    );
    assert_eq!(
        s.tables,
        vec![
            (Some("s".to_string()), "t".to_string()),
            (None, "u".to_string())
        ]
    );
    assert_eq!(
        s.columns,
        vec![
            (0, "name".to_string()),
            (1, "age".to_string()),
            (2, "kind".to_string()),
            (3, "kind".to_string()),
            (4, "title".to_string()),
        ]
    );
    let s = catalog::param_sources("update t set n = $1 where id = $2");
    assert_eq!(s.columns, vec![(0, "n".to_string()), (1, "id".to_string())]);
}

#[test]
fn insert_values_positions_skip_nested_lists() {
    let s = catalog::param_sources(
        "insert into t values ($1, ['a','b'], '{\"k\": 1}', $2, f(1, 2), $3)",
    );
    assert_eq!(
        s.columns,
        vec![
            (0, "#1".to_string()),
            (1, "#4".to_string()),
            (2, "#6".to_string())
        ]
    );
}

#[test]
fn backend_pid_calls_become_the_connections_pid() {
    let calls = [("pg_backend_pid", "100007".to_string())];
    assert_eq!(
        catalog::replace_calls(
            "select pg_catalog.pg_backend_pid(), 'pg_backend_pid()', x.pg_backend_pid()",
            &calls
        ),
        "select 100007, 'pg_backend_pid()', x.pg_backend_pid()"
    );
    assert_eq!(catalog::replace_calls("select 1", &calls), "select 1");
}

#[test]
fn regex_and_regclass_follow_postgres_semantics() {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    conn.execute_batch("create schema s; create table s.t(a integer);")
        .unwrap();
    conn.execute_batch(&catalog::install_script()).unwrap();
    // `~` searches in Postgres (DuckDB's matches whole strings); `~*` ignores case.
    let q = engine_text(
        "select 'pg_catalog' ~ '^pg_', 'xpg_' ~ '^pg_', 'ABC' ~* 'b', 'abc' !~ 'z' from pg_catalog.pg_am limit 1",
    );
    assert_eq!(
        strings(&conn, &q),
        vec![vec!["true", "false", "true", "true"]]
    );
    // 'name'::regclass is the relation's oid; 'int4'::regtype the type's.
    let oid = strings(
        &conn,
        "select table_oid from duckdb_tables() where table_name = 't'",
    )[0][0]
        .clone();
    let q = engine_text("select 's.t'::regclass, 't'::pg_catalog.regclass, 'int4'::regtype from pg_catalog.pg_am limit 1");
    assert_eq!(
        strings(&conn, &q),
        vec![vec![oid.clone(), oid, "23".to_string()]]
    );
}

#[test]
fn the_lexer_is_the_shared_tokenizer_seen_as_pg_tokens() {
    use catalog::TokKind::*;
    let cases: &[(&str, &[(catalog::TokKind, &str)])] = &[
        (
            "select $1::int8",
            &[
                (Word, "select"),
                (Space, " "),
                (Param, "$1"),
                (Punct, "::"),
                (Word, "int8"),
            ],
        ),
        (
            "a \n\t-- c\n/* d */b",
            &[
                (Word, "a"),
                (Space, " \n\t"),
                (Space, "-- c"),
                (Space, "\n"),
                (Space, "/* d */"),
                (Word, "b"),
            ],
        ),
        (
            "E'it\\'s' $$x$$",
            &[(Str, "E'it\\'s'"), (Space, " "), (Str, "$$x$$")],
        ),
        (
            "\"q\" $v 'open",
            &[
                (Quoted, "\"q\""),
                (Space, " "),
                (Word, "$v"),
                (Space, " "),
                (Str, "'open"),
            ],
        ),
        (
            "x:::y",
            &[(Word, "x"), (Punct, "::"), (Punct, ":"), (Word, "y")],
        ),
    ];
    for (sql, want) in cases {
        let got: Vec<(catalog::TokKind, &str)> =
            catalog::lex(sql).iter().map(|t| (t.kind, t.text)).collect();
        assert_eq!(got, *want, "{sql:?}");
    }
}
