//! `$variables`: session variables live in the [`Session`]; ALL-CAPS names are global
//! and persisted in `unify.variables` (query results in tables `unify."var_<NAME>"`),
//! so they survive across runs. A query result is stored as a table and substituted by
//! its name, so `select * from $recs` works; strings are substituted as safely quoted
//! literals, numbers inline.

use super::sql::query_table;
use super::{Fallible, Interpreter, Session, Var};
use crate::protocol::{Output, Reply, ResultTable};
use crate::warehouse::quote_literal;
use crate::warehouse::variables::{self as stored, Stored};
use serde_json::Value;

/// True for global (persisted) variable names: all letters upper-case.
pub fn is_global(name: &str) -> bool {
    name.chars().any(|c| c.is_ascii_alphabetic()) && name == name.to_uppercase()
}

/// Look up a variable: the session's, then (for ALL-CAPS names) the persisted globals.
pub fn lookup(s: &Session, name: &str) -> Fallible<Option<Var>> {
    if let Some(v) = s.vars.get(name) {
        return Ok(Some(v.clone()));
    }
    if !is_global(name) {
        return Ok(None);
    }
    Ok(stored::global(&s.conn, name)?)
}

/// Replace every `$name` outside quotes and comments with its value.
pub fn substitute(s: &Session, sql: &str) -> Fallible<String> {
    crate::sqltext::substitute_vars(sql, |name| match lookup(s, name)? {
        Some(Var::Scalar(v)) => Ok(literal(&v)),
        Some(Var::Table(t)) => Ok(t),
        None => Err(format!(
            "unknown variable ${name} (set it with `${name} = …`; see `show variables`)"
        )
        .into()),
    })
}

/// A scalar as a SQL literal.
fn literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote_literal(s),
        other => quote_literal(&other.to_string()),
    }
}

/// A scalar as display text.
fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "NULL".into(),
        other => other.to_string(),
    }
}

fn is_query(expr: &str) -> bool {
    let lower = expr.trim_start().to_ascii_lowercase();
    [
        "select", "with", "from", "values", "table ", "show ", "describe", "pivot", "unpivot",
    ]
    .iter()
    .any(|k| lower.starts_with(k))
}

impl Interpreter {
    pub(super) fn set_variable(&self, s: &mut Session, name: &str, expr: &str) -> Fallible<Reply> {
        let expr = self.prepare_sql(s, expr)?;
        let query = if is_query(&expr) {
            expr.clone()
        } else {
            format!("select {expr}")
        };
        let refs = super::find_table_refs(&query);
        if let Some(wait) = self.autoload(s, &refs)? {
            return Ok(wait);
        }
        let result = query_table(&s.conn, &query)?.unwrap_or_default();
        let scalar = result.rows.len() == 1 && result.columns.len() == 1;
        let global = is_global(name);
        if scalar {
            let value = result.rows[0][0].clone();
            if global {
                stored::set_global_scalar(&s.conn, name, &value)?;
                s.vars.remove(name);
            } else {
                s.vars.insert(name.to_string(), Var::Scalar(value.clone()));
            }
            return Ok(Reply {
                outputs: vec![Output::Text(display(&value))],
                ..Default::default()
            });
        }
        let table = stored::set_table(&s.conn, name, &query, global)?;
        if global {
            s.vars.remove(name);
        } else {
            s.vars.insert(name.to_string(), Var::Table(table));
        }
        Ok(Reply {
            outputs: vec![Output::Table(result)],
            ..Default::default()
        })
    }

    pub(super) fn show_variable(&self, s: &mut Session, name: &str) -> Fallible<Reply> {
        match lookup(s, name)? {
            Some(Var::Scalar(v)) => Ok(Reply {
                outputs: vec![Output::Value {
                    name: name.to_string(),
                    value: v,
                }],
                ..Default::default()
            }),
            Some(Var::Table(t)) => {
                let result =
                    query_table(&s.conn, &format!("select * from {t}"))?.unwrap_or_default();
                Ok(Reply {
                    outputs: vec![Output::Table(result)],
                    ..Default::default()
                })
            }
            None => Err(format!("unknown variable ${name}").into()),
        }
    }

    pub(super) fn unset_variable(&self, s: &mut Session, name: &str) -> Fallible<Reply> {
        let existed = lookup(s, name)?.is_some();
        if !existed {
            return Err(format!("unknown variable ${name}").into());
        }
        if let Some(Var::Table(_)) = s.vars.remove(name) {
            let _ = stored::drop_session_table(&s.conn, name);
        }
        if is_global(name) {
            stored::unset_global(&s.conn, name)?;
        }
        Ok(Reply {
            outputs: vec![Output::Message(format!("Unset ${name}"))],
            ..Default::default()
        })
    }

    pub(super) fn show_variables(&self, s: &mut Session) -> Fallible<Reply> {
        let mut rows: Vec<Vec<Value>> = Vec::new();
        for (name, v) in &s.vars {
            let shown = match v {
                Var::Scalar(x) => display(x),
                Var::Table(_) => "[query result]".into(),
            };
            rows.push(vec![Value::String(name.clone()), Value::String(shown)]);
        }
        for (name, v) in stored::globals(&s.conn)? {
            let shown = match v {
                Stored::Scalar(x) => display(&x),
                Stored::Table(_) => "[query result]".into(),
            };
            rows.push(vec![Value::String(name), Value::String(shown)]);
        }
        Ok(Reply {
            outputs: vec![Output::Table(ResultTable {
                columns: vec!["variable".into(), "value".into()],
                types: vec!["VARCHAR".into(), "VARCHAR".into()],
                rows,
            })],
            ..Default::default()
        })
    }
}
