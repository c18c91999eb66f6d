//! Running SQL and reading it: results as [`ResultTable`]s, DuckDB errors as one clear
//! line, and a small lexer that finds `schema.table` references anywhere in a
//! statement (joins, sub-queries, CTEs) for auto-loading and for `??`.

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

/// Every `schema.table` (identifiers optionally double-quoted) in `sql`, outside
/// strings and comments, in order of appearance, without duplicates.
pub fn find_table_refs(sql: &str) -> Vec<(String, String)> {
    let tokens = lex(sql);
    let mut refs: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i + 2 < tokens.len() {
        if let (Tok::Ident(a), Tok::Dot, Tok::Ident(b)) =
            (&tokens[i], &tokens[i + 1], &tokens[i + 2])
        {
            let preceded_by_dot = i > 0 && tokens[i - 1] == Tok::Dot;
            let followed_by_dot = tokens.get(i + 3) == Some(&Tok::Dot);
            let is_call = tokens.get(i + 3) == Some(&Tok::Open);
            if !preceded_by_dot && !followed_by_dot && !is_call {
                let pair = (a.clone(), b.clone());
                if !refs.contains(&pair) {
                    refs.push(pair);
                }
                i += 3;
                continue;
            }
        }
        i += 1;
    }
    refs
}

/// Replace ` ??` outside string literals with the first table of the previous statement.
pub fn replace_last_table(sql: &str, recent: &[(String, String)]) -> Result<String, String> {
    const NEEDLE: &str = " ??";
    let at = outside_quotes(sql, NEEDLE);
    if at.is_empty() {
        return Ok(sql.to_string());
    }
    let (schema, table) = recent
        .first()
        .ok_or_else(|| "Can't find previous table to replace '??'".to_string())?;
    let mut out = String::with_capacity(sql.len() + 32);
    let mut from = 0;
    for i in at {
        out.push_str(&sql[from..i]);
        out.push_str(&format!(" {schema}.{table}"));
        from = i + NEEDLE.len();
    }
    out.push_str(&sql[from..]);
    Ok(out)
}

/// A one-line message for DDL, which DuckDB answers with a `Count` column (empty, or the
/// rows a `CREATE TABLE … AS` wrote): `CREATE TABLE`, `CREATE TABLE (12 rows)`. Queries
/// stay tables, and so does DML's count of rows changed (as in the duckdb shell).
pub fn command_message(sql: &str, t: &ResultTable) -> Option<String> {
    let words: Vec<String> = without_leading_comments(sql)
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

/// `sql` after the comments and blanks that start it.
fn without_leading_comments(sql: &str) -> &str {
    let mut rest = sql.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else {
            return rest;
        }
    }
}

/// Byte offsets of the non-overlapping occurrences of `needle` in SQL code: not inside
/// '…' strings, "…" identifiers, `--` line comments or `/* */` comments.
fn outside_quotes(sql: &str, needle: &str) -> Vec<usize> {
    let bytes = sql.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &sql[i..];
        let skip_to = |end: &str, from: usize| -> usize {
            sql[from..]
                .find(end)
                .map_or(sql.len(), |p| from + p + end.len())
        };
        i = match bytes[i] {
            b'\'' => skip_to("'", i + 1),
            b'"' => skip_to("\"", i + 1),
            b'-' if rest.starts_with("--") => skip_to("\n", i + 2),
            b'/' if rest.starts_with("/*") => skip_to("*/", i + 2),
            _ if rest.starts_with(needle) => {
                found.push(i);
                i + needle.len()
            }
            _ => i + rest.chars().next().map_or(1, char::len_utf8),
        };
    }
    found
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Dot,
    Open,
    Other,
}

fn lex(sql: &str) -> Vec<Tok> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' => {
                i += 1;
                while i < chars.len() {
                    if chars[i] == '\'' {
                        if chars.get(i + 1) == Some(&'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
                out.push(Tok::Other);
            }
            '"' => {
                let mut name = String::new();
                i += 1;
                while i < chars.len() {
                    if chars[i] == '"' {
                        if chars.get(i + 1) == Some(&'"') {
                            name.push('"');
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    name.push(chars[i]);
                    i += 1;
                }
                i += 1;
                out.push(Tok::Ident(name));
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
            }
            '.' => {
                out.push(Tok::Dot);
                i += 1;
            }
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
                {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            c if c.is_whitespace() => i += 1,
            _ => {
                out.push(Tok::Other);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(sql: &str) -> Vec<(String, String)> {
        find_table_refs(sql)
    }

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.into(), b.into())
    }

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
    fn refs_in_joins_ctes_and_subqueries() {
        assert_eq!(
            refs("with x as (select * from m.a) select * from x join m.b on x.id = m.b.id where y in (select id from \"m\".\"c\")"),
            vec![pair("m", "a"), pair("m", "b"), pair("x", "id"), pair("m", "c")]
        );
        assert_eq!(
            refs("select 'm.a', m.b -- m.c\n from /* m.d */ t"),
            vec![pair("m", "b")]
        );
        assert_eq!(refs("select m.fn(1) from cat.s.t"), vec![]);
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

    #[test]
    fn last_table_substitution() {
        let recent = vec![pair("mocksvc", "repos27")];
        assert_eq!(
            replace_last_table("select count(*) from ??", &recent).unwrap(),
            "select count(*) from mocksvc.repos27"
        );
        assert_eq!(
            replace_last_table("select ' ??'", &[]).unwrap(),
            "select ' ??'"
        );
        assert_eq!(
            replace_last_table("select ' ??', x from ?? where y = 'a ??'", &recent).unwrap(),
            "select ' ??', x from mocksvc.repos27 where y = 'a ??'"
        );
        assert!(replace_last_table("select * from ??", &[]).is_err());
        // Comments and quoted identifiers are not code.
        assert_eq!(
            replace_last_table("select 1 -- like ??\n, \" ??\" /* ?? */", &[]).unwrap(),
            "select 1 -- like ??\n, \" ??\" /* ?? */"
        );
        // '' inside a string does not end it early.
        assert_eq!(
            replace_last_table("select 'it''s ??' from ??", &recent).unwrap(),
            "select 'it''s ??' from mocksvc.repos27"
        );
    }
}
