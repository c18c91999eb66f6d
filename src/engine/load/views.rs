//! The spec's views over loaded tables: (re)created whenever a table they read loads.

use crate::adapters::connections::Connection;
use crate::engine::{Engine, LoadError};
use crate::warehouse::{quote_ident, ViewDef};
use std::sync::Arc;

impl Engine {
    /// (Re)create the spec views that read `table` (all views when `table` is empty)
    /// whose source tables all exist.
    pub(in crate::engine) async fn create_views(
        &self,
        conn: &Arc<Connection>,
        table: &str,
    ) -> Result<(), LoadError> {
        let spec = &conn.spec;
        let table_names: Vec<String> = spec.tables.iter().map(|t| t.name.clone()).collect();
        let views: Vec<ViewDef> = spec
            .views
            .iter()
            .filter(|v| table.is_empty() || v.from.iter().any(|f| f == table))
            .map(|v| ViewDef {
                name: v.name.clone(),
                from: v.from.clone(),
                query: qualify_tables(&v.query, &conn.schema, &table_names),
            })
            .collect();
        if views.is_empty() {
            return Ok(());
        }
        self.warehouse
            .create_views(&conn.schema, views)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "could not create a view");
                e.into()
            })
    }
}

/// Qualify occurrences of the spec's table names that follow FROM/JOIN (or a comma in a
/// FROM list) with `schema.`; strings and already-qualified names are left alone.
pub fn qualify_tables(sql: &str, schema: &str, tables: &[String]) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    let mut last_word = String::new();
    let mut in_from = false;
    let mut prev_sig: char = ' ';
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            let q = c;
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != q {
                i += 1;
            }
            i = (i + 1).min(chars.len());
            out.extend(&chars[start..i]);
            prev_sig = q;
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let lower = word.to_ascii_lowercase();
            let after_dot = prev_sig == '.';
            let next_is_dot = chars.get(i) == Some(&'.');
            let follows =
                matches!(last_word.as_str(), "from" | "join") || (in_from && prev_sig == ',');
            if follows && !after_dot && !next_is_dot && tables.contains(&word) {
                out.push_str(&format!("{}.{}", quote_ident(schema), quote_ident(&word)));
            } else {
                out.push_str(&word);
            }
            match lower.as_str() {
                "from" | "join" => in_from = true,
                "where" | "group" | "order" | "having" | "limit" | "on" | "union" | "select" => {
                    in_from = false
                }
                _ => {}
            }
            last_word = lower;
            prev_sig = 'a';
            continue;
        }
        if !c.is_whitespace() {
            prev_sig = c;
            if c != ',' {
                last_word.clear();
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_tables_are_qualified() {
        let tables = vec!["repos27".to_string(), "repos1100".to_string()];
        assert_eq!(
            qualify_tables(
                "SELECT id as idkey, full_name as bigname from repos27",
                "mocksvc",
                &tables
            ),
            "SELECT id as idkey, full_name as bigname from \"mocksvc\".\"repos27\""
        );
        assert_eq!(
            qualify_tables("SELECT count(id) as count, name from repos1100 where id != '5' group by name", "m", &tables),
            "SELECT count(id) as count, name from \"m\".\"repos1100\" where id != '5' group by name"
        );
        assert_eq!(
            qualify_tables("select a.repos27 from repos27 a, repos1100 b join repos27 c on c.x = a.x", "m", &tables),
            "select a.repos27 from \"m\".\"repos27\" a, \"m\".\"repos1100\" b join \"m\".\"repos27\" c on c.x = a.x"
        );
    }
}
