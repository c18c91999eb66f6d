use super::staging::{Staged, StagingWriter};
use super::*;
use crate::adapters::rest::{FetchedPage, Records};
use crate::loading::flatten::{Flattener, Shape};
use serde_json::json;

fn stage(conn: &Connection, tag: &str, records: Vec<serde_json::Value>) -> Staged {
    let mut w = StagingWriter::new(conn, "s", "t", tag, Flattener::new(Shape::default()));
    w.write_page(FetchedPage {
        records: Records::Values(records),
        flatten: true,
    })
    .unwrap();
    w.finish().unwrap()
}

#[test]
fn a_schema_created_by_two_connections_at_once_is_not_an_error() {
    let wh = Warehouse::open_in_memory().unwrap();
    let first = wh.connect().unwrap();
    let second = wh.connect().unwrap();
    first
        .execute_batch("BEGIN TRANSACTION; CREATE SCHEMA racing")
        .unwrap();
    // The plain statement conflicts while the first transaction is open.
    let plain = second.execute_batch("CREATE SCHEMA IF NOT EXISTS racing");
    assert!(
        plain.is_err_and(|e| e.to_string().contains("write-write conflict")),
        "DuckDB no longer reports the conflict: this helper may be unneeded"
    );
    let waiter = std::thread::spawn(move || ensure_schema(&second, "racing"));
    std::thread::sleep(std::time::Duration::from_millis(50));
    first.execute_batch("COMMIT").unwrap();
    waiter.join().unwrap().unwrap();
}

#[test]
fn statements_raise_the_memory_limit_and_the_last_one_lowers_it() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
    let conn = wh.connect().unwrap();
    let limit = || -> String {
        conn.query_row("select current_setting('memory_limit')", [], |r| r.get(0))
            .unwrap()
    };
    let idle = limit();
    let first = wh.statement_memory();
    let busy = limit();
    assert_ne!(idle, busy, "a statement runs with the larger limit");
    let second = wh.statement_memory();
    drop(first);
    assert_eq!(limit(), busy, "still one statement running");
    drop(second);
    assert_eq!(limit(), idle, "back to the loads' limit");
}

#[test]
fn a_rerun_replaces_the_job_record_and_reopening_marks_running_jobs_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.duckdb");
    let jobs = |conn: &Connection| -> Vec<(String, String)> {
        let mut stmt = conn
            .prepare("select job_id, state from unify.loading_jobs order by job_id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    {
        let wh = Warehouse::open(&path).unwrap();
        let conn = wh.connect().unwrap();
        job_started(&conn, "j1", "s", "t", "load").unwrap();
        job_started(&conn, "j2", "s", "u", "load").unwrap();
        job_failed(&conn, "j2", "failed", 0, 1, 1, "HTTP 500").unwrap();
        job_started(&conn, "j1", "s", "t", "load").unwrap();
        assert_eq!(
            jobs(&conn),
            [
                ("j1".into(), "running".into()),
                ("j2".into(), "failed".into())
            ]
        );
    }
    // The process died with j1 running.
    let wh = Warehouse::open(&path).unwrap();
    let conn = wh.connect().unwrap();
    assert_eq!(
        jobs(&conn),
        [
            ("j1".into(), "interrupted".into()),
            ("j2".into(), "failed".into())
        ]
    );
    job_started(&conn, "j1", "s", "t", "load").unwrap();
    assert_eq!(jobs(&conn)[0], ("j1".into(), "running".into()));
}

fn record(is_refresh: bool) -> TableRecord {
    TableRecord {
        schema: "s".into(),
        table: "t".into(),
        kind: "connector".into(),
        connector: Some("c".into()),
        description: None,
        source: None,
        started_us: 1_000_000,
        ended_us: 2_000_000,
        is_refresh,
    }
}

fn job(id: &str) -> JobRecord {
    JobRecord {
        job_id: id.into(),
        pages: 1,
        requests: 1,
    }
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn swap_then_merge_by_key() {
    let wh = Warehouse::open_in_memory().unwrap();
    let conn = wh.connect().unwrap();
    let staged = stage(
        &conn,
        "j1",
        vec![json!({"id": 1, "v": "a"}), json!({"id": 2, "v": "b"})],
    );
    swap_in(&conn, &staged, &record(false), &job("j1")).unwrap();
    assert_eq!(count(&conn, "select count(*) from s.t"), 2);
    assert_eq!(last_scan_start(&conn, "s", "t").unwrap(), Some(1_000_000));
    let staged = stage(
        &conn,
        "j2",
        vec![
            json!({"id": 2, "v": "B", "new": 1.5}),
            json!({"id": 3, "v": "c"}),
            json!({"id": 3, "v": "c2"}),
        ],
    );
    let mut rec = record(true);
    rec.started_us = 5_000_000;
    merge_in(&conn, &staged, &["id".to_string()], &rec, &job("j2")).unwrap();
    assert_eq!(count(&conn, "select count(*) from s.t"), 3);
    let v: String = conn
        .query_row("select v from s.t where id = 3", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, "c2");
    let v: String = conn
        .query_row("select v from s.t where id = 2", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, "B");
    assert_eq!(last_scan_start(&conn, "s", "t").unwrap(), Some(5_000_000));
    assert_eq!(
        count(
            &conn,
            "select rows from unify.tables where table_name = 't'"
        ),
        3
    );
    assert_eq!(
        count(&conn, "select count(*) from information_schema.tables where table_name like '_unify_staging%'"),
        0
    );

    // A refresh staged as the engine does it: seeded with the table's columns.
    let refresh = |tag: &str, records: Vec<serde_json::Value>| -> String {
        let seeded =
            Flattener::with_columns(Shape::default(), table_columns(&conn, "s", "t").unwrap());
        let mut w = StagingWriter::new(&conn, "s", "t", tag, seeded);
        w.write_page(FetchedPage {
            records: Records::Values(records),
            flatten: true,
        })
        .unwrap();
        let staged = w.finish().unwrap();
        merge_in(&conn, &staged, &["id".to_string()], &rec, &job(tag))
            .unwrap_err()
            .to_string()
    };
    // Rows without the key (the staging table still has the column) are refused…
    let err = refresh("j3", vec![json!({"v": "lost"})]);
    assert!(
        err.contains("the key column 'id' is not in the fetched rows"),
        "{err}"
    );
    // …and so are some rows without it (they would be added on every refresh).
    let err = refresh("j4", vec![json!({"id": 9, "v": "x"}), json!({"v": "lost"})]);
    assert!(
        err.contains("the key column 'id' has no value in 1 of the 2 fetched rows"),
        "{err}"
    );
    assert_eq!(count(&conn, "select count(*) from s.t"), 3);
}
