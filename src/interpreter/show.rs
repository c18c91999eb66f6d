//! Information commands: `help`, `show …`, `describe`, `peek`, `??`.

use super::{tables, Fallible, Interpreter, Session};
use crate::parser::{Statement, TableRef};
use crate::protocol::{Output, Reply, ResultTable};
use crate::warehouse::{self, introspect};
use serde_json::Value;

const HELP_SCHEMAS: &str =
    "Every connected system is represented in the Unify database as a schema.
The tables of a connection are listed by `show tables from <schema>`; a table marked ☐ has
not been loaded yet: selecting from it (anywhere in a query — joins, sub-queries, CTEs)
downloads it first. Loaded tables (✓) are refreshed by `refresh table <schema>.<table>` and,
while the daemon runs, on the schedule of their connector.
Connector-specific help: `<schema> help`. Imported files live in the schema `files`.";

const HELP_IMPORT: &str =
    "import '<path or URL>' [into <schema>.<table>] [overwrite|append] [skip N] [header N]
  Loads a CSV, Parquet, JSON (array) or NDJSON file into a table. The format comes from the
  extension. Relative paths are read from $UNIFY_HOME/files. The table defaults to
  files.<file stem> (lower-case, spaces → _, 'table_' prefix for names under 7 letters).
  When the table exists, say overwrite or append.
peek file '<path>' [N] — the first N raw lines of a file.";

const HELP_EXPORT: &str = "export <table> to [files] '<path>'|(<sql expression>) [overwrite|append]
<select …> >> '<path>' [overwrite|append]
  Writes a table or a query result to a file: .csv (header row), .parquet, .json (an array)
  or .ndjson/.jsonl. Relative paths go to $UNIFY_HOME/files. An existing file needs
  overwrite or append.";

const HELP_VARIABLES: &str =
    "$name = <expression or select …> — set a variable; ALL-CAPS names are global and kept
across runs. `$name` anywhere in a statement is replaced by its value (strings quoted,
numbers inline; a query result can be used as a table: select * from $name).
show variables — list them; unset $name — remove one.";

/// The `help` text.
pub fn help(topic: Option<&str>) -> Fallible<String> {
    match topic.map(|t| t.to_ascii_lowercase()) {
        None => {
            let lines = Statement::help_lines();
            let width = lines
                .iter()
                .map(|(s, _)| s.len())
                .max()
                .unwrap_or(0)
                .min(48);
            let mut out = String::from("help - show this message\nhelp schemas - overview of schemas\nhelp import - help on importing data\nhelp export - help on exporting data\nhelp variables - help on variables\n\n");
            for (syntax, desc) in lines {
                out.push_str(&format!("{syntax:width$}  {desc}\n"));
            }
            out.push_str("\nAnything else is SQL, run by DuckDB.");
            Ok(out)
        }
        Some(t) if t == "schemas" => Ok(HELP_SCHEMAS.into()),
        Some(t) if t == "import" => Ok(HELP_IMPORT.into()),
        Some(t) if t == "export" => Ok(HELP_EXPORT.into()),
        Some(t) if t == "variables" || t == "vars" => Ok(HELP_VARIABLES.into()),
        Some(t) => {
            Err(format!("no help on '{t}' (topics: schemas, import, export, variables)").into())
        }
    }
}

fn txt(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

fn table(columns: &[&str], rows: Vec<Vec<Value>>) -> Reply {
    Reply {
        outputs: vec![Output::Table(ResultTable {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            types: columns.iter().map(|_| "VARCHAR".to_string()).collect(),
            rows,
        })],
        ..Default::default()
    }
}

/// `like` pattern matching as SQL ILIKE (`%`, `_`; `*` also accepted).
fn like(pattern: &str, text: &str) -> bool {
    fn rec(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('%') | Some('*') => (0..=t.len()).any(|i| rec(&p[1..], &t[i..])),
            Some('_') => !t.is_empty() && rec(&p[1..], &t[1..]),
            Some(c) => {
                t.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && rec(&p[1..], &t[1..])
            }
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    rec(&p, &t)
}

impl Interpreter {
    pub(super) fn show_schemas(&self, s: &mut Session) -> Fallible<Reply> {
        let result = introspect::schemas(&s.conn)?;
        Ok(tables(result))
    }

    /// Materialized relations of a schema: name → is view.
    fn relations(
        &self,
        s: &Session,
        schema: Option<&str>,
    ) -> Fallible<Vec<(String, String, bool)>> {
        Ok(introspect::relations(&s.conn, schema)?)
    }

    pub(super) fn show_tables(
        &self,
        s: &mut Session,
        schema: Option<&str>,
        pattern: Option<&str>,
    ) -> Fallible<Reply> {
        let keep = |name: &str| pattern.is_none_or(|p| like(p, name));
        let Some(schema) = schema else {
            return self.show_all_tables(s, &keep);
        };
        let config = self.engine.config();
        let materialized = self.relations(s, Some(schema))?;
        let mut rows: Vec<(String, Vec<Value>)> = Vec::new();
        if let Some(conn) = config.connection(schema) {
            for t in &conn.spec.tables {
                let done = materialized.iter().any(|(_, n, _)| *n == t.name);
                rows.push((
                    t.name.clone(),
                    vec![
                        s_(&t.name),
                        txt(schema),
                        t.description.clone().map(txt).unwrap_or(Value::Null),
                        txt(if done { "✓" } else { "☐" }),
                    ],
                ));
            }
            for v in &conn.spec.views {
                let done = materialized.iter().any(|(_, n, _)| *n == v.name);
                rows.push((
                    v.name.clone(),
                    vec![
                        s_(&v.name),
                        txt(schema),
                        v.help.clone().map(txt).unwrap_or(Value::Null),
                        txt(if done { "✓" } else { "☐" }),
                    ],
                ));
            }
        } else if !self.schema_exists(s, schema)? {
            return Err(format!("unknown schema '{schema}' (see `show schemas`)").into());
        }
        for (_, name, _) in &materialized {
            if !rows.iter().any(|(n, _)| n == name) {
                rows.push((
                    name.clone(),
                    vec![s_(name), txt(schema), Value::Null, txt("✓")],
                ));
            }
        }
        rows.retain(|(n, _)| keep(n));
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        if rows.is_empty() {
            return Ok(Reply {
                outputs: vec![Output::Message("No tables".into())],
                ..Default::default()
            });
        }
        Ok(table(
            &["table_name", "table_schema", "comment", "materialized"],
            rows.into_iter().map(|(_, r)| r).collect(),
        ))
    }

    /// `show tables` without a schema: every relation, with its rows and load time.
    fn show_all_tables(&self, s: &mut Session, keep: &dyn Fn(&str) -> bool) -> Fallible<Reply> {
        let info = self.table_info(s)?;
        let rows = self
            .relations(s, None)?
            .into_iter()
            .filter(|(_, t, _)| keep(t))
            .map(|(sc, t, is_view)| {
                let (rows, loaded) = info
                    .iter()
                    .find(|(a, b, _, _)| *a == sc && *b == t)
                    .map(|(_, _, r, l)| (r.clone(), l.clone()))
                    .unwrap_or((Value::Null, Value::Null));
                vec![
                    s_(&sc),
                    s_(&t),
                    txt(if is_view { "view" } else { "table" }),
                    rows,
                    loaded,
                ]
            })
            .collect();
        Ok(table(
            &["table_schema", "table_name", "type", "rows", "loaded_at"],
            rows,
        ))
    }

    fn table_info(&self, s: &Session) -> Fallible<Vec<(String, String, Value, Value)>> {
        let info = introspect::table_info(&s.conn)?;
        Ok(info
            .into_iter()
            .map(|t| {
                (
                    t.schema,
                    t.table,
                    t.rows.map(Value::from).unwrap_or(Value::Null),
                    t.last_loaded.map(txt).unwrap_or(Value::Null),
                )
            })
            .collect())
    }

    fn schema_exists(&self, s: &Session, schema: &str) -> Fallible<bool> {
        Ok(introspect::schema_exists(&s.conn, schema)?)
    }

    pub(super) fn show_columns(
        &self,
        s: &mut Session,
        t: &TableRef,
        pattern: Option<&str>,
    ) -> Fallible<Reply> {
        let (schema, name) = self.qualify(s, t)?;
        if let Some(wait) = self.autoload(s, &[(schema.clone(), name.clone())])? {
            return Ok(wait);
        }
        self.require_table(s, &schema, &name)?;
        let mut result = introspect::describe(&s.conn, &schema, &name)?;
        if let Some(p) = pattern {
            result.rows.retain(|r| {
                r.first()
                    .and_then(Value::as_str)
                    .is_some_and(|n| like(p, n))
            });
        }
        s.recent = vec![(schema, name)];
        Ok(Reply {
            outputs: vec![Output::Table(result)],
            ..Default::default()
        })
    }

    pub(super) fn show_all_columns(
        &self,
        s: &mut Session,
        pattern: Option<&str>,
    ) -> Fallible<Reply> {
        let result = introspect::all_columns(&s.conn, pattern)?;
        Ok(tables(result))
    }

    pub(super) fn show_connections(&self) -> Fallible<Reply> {
        let config = self.engine.config();
        let mut rows = Vec::new();
        for c in &config.connections {
            let mut status = "ok".to_string();
            for d in &c.spec.disabled {
                status.push_str(&format!("; '{}' disabled: {}", d.name, d.reason()));
            }
            rows.push(vec![
                txt(&c.schema),
                txt(&c.spec.name),
                txt(&c.base_url),
                Value::from(c.spec.tables.len() as u64),
                txt(status),
            ]);
        }
        for e in &config.errors {
            rows.push(vec![
                e.schema().map_or(Value::Null, txt),
                Value::Null,
                Value::Null,
                Value::Null,
                txt(format!("error: {e}")),
            ]);
        }
        for (name, problems) in config.catalog.broken_specs() {
            rows.push(vec![
                Value::Null,
                txt(name),
                Value::Null,
                Value::Null,
                txt(format!("spec does not load: {problems}")),
            ]);
        }
        if rows.is_empty() {
            return Ok(Reply {
                outputs: vec![Output::Message(format!(
                    "No connections. Use `connect` to add one, or edit {}",
                    self.engine.home().connections_file().display()
                ))],
                ..Default::default()
            });
        }
        Ok(table(
            &["schema", "connector", "base_url", "tables", "status"],
            rows,
        ))
    }

    pub(super) fn describe(&self, s: &mut Session, target: Option<TableRef>) -> Fallible<Reply> {
        match target {
            None => self.show_schemas(s),
            Some(TableRef {
                schema: None,
                table,
            }) => {
                let is_schema = self.engine.config().connection(&table).is_some()
                    || self.schema_exists(s, &table)?;
                if is_schema {
                    self.show_tables(s, Some(&table), None)
                } else {
                    self.show_columns(
                        s,
                        &TableRef {
                            schema: None,
                            table,
                        },
                        None,
                    )
                }
            }
            Some(t) => self.show_columns(s, &t, None),
        }
    }

    pub(super) fn help_last(&self, s: &mut Session) -> Fallible<Reply> {
        if s.recent.is_empty() {
            return Err("no table was referenced by the previous statement".into());
        }
        let mut outputs = Vec::new();
        for (schema, name) in s.recent.clone() {
            // A heading, not a result: stdout stays parseable in csv and json formats.
            outputs.push(Output::Message(format!("Table {schema}.{name}:")));
            let result = introspect::describe(&s.conn, &schema, &name)?;
            outputs.push(Output::Table(result));
        }
        Ok(Reply {
            outputs,
            ..Default::default()
        })
    }

    /// `peek`: a ≤100-character-wide selection of the most telling columns, chosen from
    /// statistics of a sample (the original's weights), booleans skipped, one date.
    pub(super) fn peek(&self, s: &mut Session, t: &TableRef, n: u64) -> Fallible<Reply> {
        let (schema, name) = self.qualify(s, t)?;
        if let Some(wait) = self.autoload(s, &[(schema.clone(), name.clone())])? {
            return Ok(wait);
        }
        self.require_table(s, &schema, &name)?;
        let columns = warehouse::table_columns(&s.conn, &schema, &name)?;
        let mut stats = Vec::new();
        for c in &columns {
            let sample = introspect::sample_column(&s.conn, &schema, &name, &c.name)?;
            let (width, max_width, distinct, total, urls) = (
                sample.width,
                sample.max_width,
                sample.distinct,
                sample.total,
                sample.urls,
            );
            stats.push(PeekStat {
                name: c.name.clone(),
                ty: c.ty,
                width: width.ceil() as i64,
                max_width,
                entropy: if total > 0 {
                    distinct as f64 / total as f64
                } else {
                    0.0
                },
                url: urls > 0,
            });
        }
        let exprs = choose_peek_columns(&stats);
        if exprs.is_empty() {
            return Err(format!("{schema}.{name} has no columns to peek at").into());
        }
        let result = introspect::head(&s.conn, &schema, &name, &exprs, n)?;
        s.recent = vec![(schema, name)];
        Ok(tables(result))
    }
}

fn s_(v: &str) -> Value {
    Value::String(v.to_string())
}

/// Column statistics for `peek`.
#[derive(Debug, Clone)]
pub struct PeekStat {
    /// Column name.
    pub name: String,
    /// Column type.
    pub ty: crate::loading::types::ColType,
    /// Mean text width of values (for weighting).
    pub width: i64,
    /// Widest value in the sample (for packing into 100 characters).
    pub max_width: i64,
    /// Distinct values / rows.
    pub entropy: f64,
    /// Some value looks like a URL.
    pub url: bool,
}

/// How much the original wanted a column in `peek`: short, key-like, dated or textual
/// columns first; booleans, near-constant columns and URLs last.
fn peek_weight(c: &PeekStat) -> i64 {
    use crate::loading::types::ColType;
    let is_key = |n: &str| {
        let l = n.to_ascii_lowercase();
        (l.contains("key") || l.contains("id")) && l.len() <= 6
            || ((l.contains("key_")
                || l.contains("_key")
                || l.contains("id_")
                || l.contains("_id"))
                && l.len() < 12)
    };
    let cw = c.width / 5;
    let mut w = 0i64;
    if cw <= 6 {
        w += 6 - cw;
    }
    if is_key(&c.name) && cw < 20 {
        w += 10;
    }
    match c.ty {
        ColType::Date | ColType::Timestamp | ColType::Varchar => w += 5,
        ColType::Boolean => w -= 20,
        ColType::BigInt if cw < 3 => w -= 10,
        _ => {}
    }
    let name_width = (c.name.len() + c.name.matches('_').count()) as i64;
    w += 15 - name_width;
    w -= c.width / 25;
    if c.entropy < 0.1 {
        w -= 15;
    }
    if c.url {
        w -= 5;
    }
    w
}

/// The original's weighting and greedy packing into 100 characters.
pub fn choose_peek_columns(stats: &[PeekStat]) -> Vec<String> {
    use crate::loading::types::ColType;
    let mut weighted: Vec<(i64, &PeekStat)> = stats.iter().map(|c| (peek_weight(c), c)).collect();
    weighted.sort_by_key(|w| std::cmp::Reverse(w.0));
    let mut used = 0i64;
    let mut have_date = false;
    let mut out = Vec::new();
    for (_, c) in weighted {
        if c.ty == ColType::Boolean {
            continue;
        }
        let col = warehouse::quote_ident(&c.name);
        let is_date = matches!(c.ty, ColType::Date | ColType::Timestamp);
        if is_date && have_date {
            continue;
        }
        let (expr, width) = if is_date {
            (
                format!("strftime(cast({col} as timestamp), '%m/%d/%y %H:%M')"),
                14,
            )
        } else if c.max_width > 50 {
            (format!("substring(cast({col} as varchar), 1, 50)"), 50)
        } else {
            (col.clone(), c.max_width.max(1))
        };
        let display = if c.name.len() > 15 && c.name.len() as i64 > width {
            let chars: Vec<char> = c.name.chars().collect();
            format!(
                "{}...{}",
                chars[..7].iter().collect::<String>(),
                chars[chars.len() - 7..].iter().collect::<String>()
            )
        } else {
            c.name.clone()
        };
        let shown = width.max(display.len() as i64);
        if used + shown > 100 {
            continue;
        }
        used += shown + 1;
        have_date |= is_date;
        out.push(format!("{expr} as {}", warehouse::quote_ident(&display)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(like("%user%", "owner_user_id"));
        assert!(like("*.csv", "a.csv"));
        assert!(!like("%.csv", "a.parquet"));
        assert!(like("Own_r", "owner"));
    }
}
