//! Running SQL: results as [`ResultTable`]s, DuckDB errors as one clear line, and the
//! one-line message of a statement that is not a query. Reading SQL text (table
//! references, `??`, `$var`) is [`crate::sqltext`]'s.

use crate::protocol::ResultTable;
pub use crate::warehouse::query as query_table;

/// A DuckDB error as one clear line (its first line), secrets redacted.
pub fn db_error(e: &duckdb::Error) -> String {
    let text = e.to_string();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or("database error").trim().to_string();
    // Keep DuckDB's "LINE 1: …" pointer when it is the only position information.
    let rest: Vec<&str> = lines.collect();
    let mut out = first;
    if let Some(line) = rest.iter().find(|l| l.trim_start().starts_with("LINE ")) {
        out.push_str(&format!(" ({})", line.trim()));
    }
    if out.starts_with("Out of Memory Error") {
        out.push_str(
            "; statements may use UNIFY_QUERY_MEMORY_LIMIT (default: DuckDB's, 80% of the memory available): set it higher, then restart unifyd if one runs",
        );
    }
    crate::secret::redact(&out)
}

/// The table a "does not exist" catalog error names, if that is the error.
pub fn missing_table(e: &duckdb::Error) -> Option<String> {
    let text = e.to_string();
    let start = text.find("Table with name ")? + "Table with name ".len();
    let rest = &text[start..];
    let end = rest.find(" does not exist")?;
    Some(rest[..end].trim_matches('"').to_string())
}

/// A one-line message for DDL, which DuckDB answers with a `Count` column (empty, or the
/// rows a `CREATE TABLE … AS` wrote): `CREATE TABLE`, `CREATE TABLE (12 rows)`. Queries
/// stay tables, and so does DML's count of rows changed (as in the duckdb shell).
pub fn command_message(sql: &str, t: &ResultTable) -> Option<String> {
    let words: Vec<String> = crate::sqltext::without_leading_comments(sql)
        .split(|c: char| c.is_whitespace() || c == '(' || c == ';')
        .filter(|w| !w.is_empty())
        .take(8)
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let first = words.first()?.as_str();
    let is_query = matches!(
        first,
        "insert"
            | "update"
            | "delete"
            | "select"
            | "with"
            | "from"
            | "values"
            | "table"
            | "show"
            | "describe"
            | "desc"
            | "summarize"
            | "pragma"
            | "call"
            | "explain"
            | "pivot"
            | "unpivot"
    );
    let counted = t.columns.len() == 1 && t.columns[0] == "Count";
    if is_query || !(counted || t.columns.is_empty()) {
        return None;
    }
    let count = t
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(|v| v.as_u64());
    let rows = |n: u64| format!("{n} row{}", if n == 1 { "" } else { "s" });
    const SKIP: &[&str] = &[
        "or",
        "replace",
        "temp",
        "temporary",
        "unique",
        "persistent",
        "if",
        "not",
        "exists",
    ];
    let mut tag = first.to_ascii_uppercase();
    let object = words[1..].iter().find(|w| !SKIP.contains(&w.as_str()));
    if let Some(object) = object.filter(|o| {
        matches!(
            o.as_str(),
            "table"
                | "view"
                | "schema"
                | "index"
                | "sequence"
                | "macro"
                | "function"
                | "type"
                | "secret"
                | "database"
        )
    }) {
        tag.push(' ');
        tag.push_str(&object.to_ascii_uppercase());
    }
    Some(match count {
        Some(n) if n > 0 => format!("{tag} ({})", rows(n)),
        _ => tag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_memory_names_the_setting_to_raise() {
        // DuckDB's JSON reader wants buffers of 32 MiB: more than this limit allows.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("big.json");
        std::fs::write(&file, format!("[{{\"a\": \"{}\"}}]", "x".repeat(1 << 20))).unwrap();
        let conn = duckdb::Connection::open_in_memory().unwrap();
        conn.execute_batch("SET memory_limit = '8MB'").unwrap();
        let e = conn
            .query_row(
                &format!("SELECT count(*) FROM read_json('{}')", file.display()),
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_err();
        let message = db_error(&e);
        assert!(message.starts_with("Out of Memory Error"), "{message}");
        assert!(message.contains("UNIFY_QUERY_MEMORY_LIMIT"), "{message}");
    }

    #[test]
    fn statements_that_are_not_queries_get_a_one_line_message() {
        let count = |n: Option<u64>| ResultTable {
            columns: vec!["Count".into()],
            types: vec!["BIGINT".into()],
            rows: n.map(|n| vec![serde_json::json!(n)]).into_iter().collect(),
        };
        let m = |sql: &str, t: &ResultTable| command_message(sql, t);
        // DML keeps its count table, as in the duckdb shell.
        assert_eq!(m("insert into t values (1), (2)", &count(Some(2))), None);
        assert_eq!(m("UPDATE t SET a = 1", &count(Some(1))), None);
        assert_eq!(
            m("create table t (a int)", &count(None)).unwrap(),
            "CREATE TABLE"
        );
        assert_eq!(
            m(
                "create or replace temp table t as select 1",
                &count(Some(12))
            )
            .unwrap(),
            "CREATE TABLE (12 rows)"
        );
        assert_eq!(
            m("drop view if exists v", &count(None)).unwrap(),
            "DROP VIEW"
        );
        assert_eq!(
            m(
                "-- a note\n/* and */ create view v as select 1",
                &count(None)
            )
            .unwrap(),
            "CREATE VIEW"
        );
        // Queries stay tables, even with a column named Count.
        assert_eq!(
            m("select count(*) as \"Count\" from t", &count(Some(3))),
            None
        );
        assert_eq!(
            m("with x as (select 1) select * from x", &count(Some(3))),
            None
        );
        // DML with RETURNING returns rows: a table.
        let returning = ResultTable {
            columns: vec!["id".into()],
            types: vec!["BIGINT".into()],
            rows: vec![vec![serde_json::json!(1)]],
        };
        assert_eq!(m("insert into t values (1) returning id", &returning), None);
    }
}
