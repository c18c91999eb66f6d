//! The rustyline helper: completion of commands, schemas, tables and columns, and
//! multi-line input driven by the parser's idea of a complete statement.

use crate::parser::{self, Completeness};
use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};
use std::sync::{Arc, Mutex};

/// Names offered by tab completion, refreshed after each statement.
#[derive(Debug, Default, Clone)]
pub struct Completions {
    /// Schema names.
    pub schemas: Vec<String>,
    /// `schema.table` names.
    pub tables: Vec<String>,
    /// Column names.
    pub columns: Vec<String>,
}

/// The editor helper.
pub struct UnifyHelper {
    completions: Arc<Mutex<Completions>>,
}

impl UnifyHelper {
    /// A helper reading names from `completions`.
    pub fn new(completions: Arc<Mutex<Completions>>) -> Self {
        UnifyHelper { completions }
    }
}

const SQL_WORDS: &[&str] = &[
    "select",
    "from",
    "where",
    "group by",
    "order by",
    "limit",
    "join",
    "left join",
    "with",
    "insert into",
    "create table",
    "create view",
    "delete from",
    "update",
    "distinct",
    "count(*)",
];

/// Candidates for the word `word` (the text before the cursor back to a separator).
pub fn candidates(c: &Completions, line_start: &str, word: &str) -> Vec<String> {
    let lower = word.to_lowercase();
    let mut out: Vec<String> = Vec::new();
    let at_start = line_start.trim().is_empty();
    if at_start {
        for k in parser::command_keywords() {
            let first = k.split_whitespace().next().unwrap_or(k);
            if first.starts_with(&lower) && !out.iter().any(|o| o == first) {
                out.push(first.to_string());
            }
        }
        for k in [
            "select", "with", "create", "insert", "delete", "update", "drop", "alter",
        ] {
            if k.starts_with(&lower) && !out.iter().any(|o| o == k) {
                out.push(k.to_string());
            }
        }
    } else {
        // Sub-commands: `show t` → tables, …
        let prefix = format!("{} {}", line_start.trim().to_lowercase(), lower);
        for k in parser::command_keywords() {
            if k.starts_with(&prefix) && k.len() > line_start.trim().len() {
                let rest = &k[line_start.trim().len()..].trim_start();
                let next = rest.split_whitespace().next().unwrap_or("");
                if !next.is_empty() && !out.iter().any(|o| o == next) {
                    out.push(next.to_string());
                }
            }
        }
        for w in SQL_WORDS {
            if !lower.is_empty() && w.starts_with(&lower) && !out.iter().any(|o| o == w) {
                out.push(w.to_string());
            }
        }
    }
    for t in &c.tables {
        if t.to_lowercase().starts_with(&lower) {
            out.push(t.clone());
        }
    }
    if !lower.contains('.') {
        for s in &c.schemas {
            if s.to_lowercase().starts_with(&lower) {
                out.push(format!("{s}."));
            }
        }
        if !at_start && !lower.is_empty() {
            for col in &c.columns {
                if col.to_lowercase().starts_with(&lower) && !out.contains(col) {
                    out.push(col.clone());
                }
            }
        }
    }
    out.dedup();
    out
}

impl Completer for UnifyHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| c.is_whitespace() || matches!(c, '(' | ',' | '='))
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &before[start..];
        let c = self.completions.lock().unwrap_or_else(|e| e.into_inner());
        Ok((start, candidates(&c, &before[..start], word)))
    }
}

impl Hinter for UnifyHelper {
    type Hint = String;
}

impl Highlighter for UnifyHelper {}

impl Validator for UnifyHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(match parser::completeness(ctx.input()) {
            Completeness::Complete => ValidationResult::Valid(None),
            Completeness::Incomplete => ValidationResult::Incomplete,
        })
    }
}

impl Helper for UnifyHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Completions {
        Completions {
            schemas: vec!["mocksvc".into(), "files".into()],
            tables: vec!["mocksvc.repos27".into(), "mocksvc.repos100".into()],
            columns: vec!["owner_login".into()],
        }
    }

    #[test]
    fn completes_commands_schemas_tables_and_columns() {
        let c = names();
        assert!(candidates(&c, "", "sh").contains(&"show".to_string()));
        assert!(candidates(&c, "show ", "ta").contains(&"tables".to_string()));
        assert_eq!(
            candidates(&c, "select * from ", "mocksvc.repos1"),
            ["mocksvc.repos100"]
        );
        assert!(candidates(&c, "select * from ", "moc").contains(&"mocksvc.".to_string()));
        assert!(candidates(&c, "select ", "owner").contains(&"owner_login".to_string()));
    }
}
