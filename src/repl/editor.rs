//! The rustyline helper: completion that knows where the cursor is (commands at the start
//! of a statement, tables and schemas after `from`/`join`/…, the columns of the
//! statement's tables after `select`/`where`/…, `alias.` → that table's columns), SQL
//! highlighting, and hints from history. Colours only when allowed (`NO_COLOR` unset).
//!
//! Multi-line input is not this module's business: the REPL reads one line at a time
//! and asks the parser whether the statement is complete; [`UnifyHelper::pending`] holds
//! the lines typed so far so completion sees the whole statement.

use crate::parser;
use crate::sqltext::{self, Kind};
use rustyline::completion::Completer;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::{Hinter, HistoryHinter};
use rustyline::validate::Validator;
use rustyline::{Context, Helper};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Names offered by tab completion, refreshed after each statement.
#[derive(Debug, Default, Clone)]
pub struct Completions {
    /// Schema names.
    pub schemas: Vec<String>,
    /// `schema.table` names.
    pub tables: Vec<String>,
    /// Column names of every loaded table.
    pub columns: Vec<String>,
    /// Columns of each loaded table, by `schema.table`.
    pub table_columns: BTreeMap<String, Vec<String>>,
}

/// The editor helper.
pub struct UnifyHelper {
    completions: Arc<Mutex<Completions>>,
    /// Lines of the statement typed before the current one (multi-line input).
    pub pending: Arc<Mutex<String>>,
    hinter: HistoryHinter,
    color: bool,
}

impl UnifyHelper {
    /// A helper reading names from `completions`; `color` enables highlighting.
    pub fn new(completions: Arc<Mutex<Completions>>, color: bool) -> Self {
        UnifyHelper {
            completions,
            pending: Arc::default(),
            hinter: HistoryHinter::new(),
            color,
        }
    }
}

const SQL_STARTS: &[&str] = &[
    "select",
    "with",
    "from",
    "create",
    "insert",
    "delete",
    "update",
    "drop",
    "alter",
    "copy",
    "attach",
    "summarize",
    "explain",
    "pragma",
    "set",
    "values",
];

/// SQL words offered after a word has begun (completion) and coloured (highlighting).
const SQL_KEYWORDS: &[&str] = &[
    "select",
    "from",
    "where",
    "group",
    "by",
    "order",
    "having",
    "limit",
    "offset",
    "join",
    "left",
    "right",
    "inner",
    "outer",
    "full",
    "cross",
    "on",
    "using",
    "as",
    "and",
    "or",
    "not",
    "null",
    "is",
    "in",
    "like",
    "ilike",
    "between",
    "case",
    "when",
    "then",
    "else",
    "end",
    "distinct",
    "union",
    "all",
    "with",
    "insert",
    "into",
    "values",
    "update",
    "set",
    "delete",
    "create",
    "table",
    "view",
    "schema",
    "drop",
    "alter",
    "rename",
    "to",
    "if",
    "exists",
    "replace",
    "true",
    "false",
    "asc",
    "desc",
    "summarize",
];

/// Phrases completion offers as one.
const SQL_PHRASES: &[&str] = &[
    "group by",
    "order by",
    "left join",
    "inner join",
    "count(*)",
];

/// unify's own words, coloured like SQL keywords.
const UNIFY_KEYWORDS: &[&str] = &[
    "show",
    "describe",
    "peek",
    "count",
    "import",
    "export",
    "refresh",
    "reload",
    "clear",
    "system",
    "help",
    "format",
    "timing",
    "tables",
    "columns",
    "schemas",
    "connections",
    "variables",
    "files",
];

/// Words after which a table name comes.
const TABLE_CONTEXT: &[&str] = &[
    "from",
    "join",
    "into",
    "update",
    "table",
    "describe",
    "peek",
    "at",
    "count",
    "export",
    "refresh",
    "reload",
    "clear",
    "summarize",
];

/// Words after which a column (or an expression) comes.
const COLUMN_CONTEXT: &[&str] = &[
    "select", "where", "and", "or", "by", "on", "having", "set", "distinct", "not", "when", "then",
    "else", "case", ",", "(", "=", "<", ">", "<=", ">=", "<>", "!=", "+", "-", "*", "/", "||",
];

/// A token of the text before the cursor ([`sqltext::tokenize`]'s, blanks and comments
/// left out): a lower-cased word, a quoted identifier unquoted, `'…'` for a string, `.`,
/// or punctuation (`<=`, `>=`, `<>`, `!=` and `||` as one).
fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut previous = Kind::Blank;
    for t in sqltext::tokenize(text) {
        let token = match t.kind {
            k if k.is_trivia() => {
                previous = k;
                continue;
            }
            Kind::String | Kind::DollarString => "'…'".to_string(),
            Kind::Unterminated if t.text.starts_with('"') => t.text[1..].to_string(),
            Kind::Unterminated if t.text.starts_with("/*") => continue,
            Kind::Unterminated => "'…'".to_string(),
            Kind::QuotedIdent => t.ident().unwrap_or_default(),
            Kind::Word | Kind::Variable | Kind::Number => t.text.to_ascii_lowercase(),
            _ => t.text.to_string(),
        };
        let joined = out.last().map(|last| format!("{last}{token}"));
        match joined {
            Some(op)
                if previous == Kind::Other
                    && t.kind == Kind::Other
                    && matches!(op.as_str(), "<=" | ">=" | "<>" | "!=" | "||") =>
            {
                out.pop();
                out.push(op);
            }
            _ => out.push(token),
        }
        previous = t.kind;
    }
    out
}

/// Byte offset where the last statement of `text` starts: after its last `;` outside
/// quotes and comments.
fn last_statement_start(text: &str) -> usize {
    sqltext::tokenize(text)
        .iter()
        .rev()
        .find(|t| t.kind == Kind::Semicolon)
        .map_or(0, |t| t.end())
}

/// `alias → schema.table` and the tables a statement reads (`schema.table`, or a bare
/// name resolved against the known tables).
fn statement_tables(c: &Completions, statement: &str) -> (Vec<String>, BTreeMap<String, String>) {
    let toks = tokens(statement);
    let mut tables = Vec::new();
    let mut aliases = BTreeMap::new();
    let mut i = 0;
    while i < toks.len() {
        let after_from = i > 0 && matches!(toks[i - 1].as_str(), "from" | "join" | ",");
        if after_from
            && !toks[i].is_empty()
            && toks[i].chars().all(|c| c.is_alphanumeric() || c == '_')
        {
            let (name, next) =
                if toks.get(i + 1).map(String::as_str) == Some(".") && i + 2 < toks.len() {
                    (format!("{}.{}", toks[i], toks[i + 2]), i + 3)
                } else {
                    (toks[i].clone(), i + 1)
                };
            let full = if name.contains('.') {
                Some(name.clone())
            } else {
                c.table_columns
                    .keys()
                    .chain(c.tables.iter())
                    .find(|t| t.rsplit('.').next() == Some(name.as_str()))
                    .cloned()
            };
            if let Some(full) = full {
                let mut j = next;
                if toks.get(j).map(String::as_str) == Some("as") {
                    j += 1;
                }
                if let Some(alias) = toks.get(j) {
                    let keyword =
                        SQL_KEYWORDS.contains(&alias.as_str()) || alias.as_str() == "natural";
                    if !keyword && alias.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        aliases.insert(alias.clone(), full.clone());
                    }
                }
                aliases.insert(
                    full.rsplit('.').next().unwrap_or(&full).to_string(),
                    full.clone(),
                );
                if !tables.contains(&full) {
                    tables.push(full);
                }
            }
            i = next;
        } else {
            i += 1;
        }
    }
    (tables, aliases)
}

fn push_unique(out: &mut Vec<String>, s: String) {
    if !out.contains(&s) {
        out.push(s);
    }
}

/// Candidates for `word`, the text before the cursor back to a separator; `before` is
/// the statement's text before `word` and `statement` all of it (for its tables).
pub fn candidates(c: &Completions, before: &str, word: &str, statement: &str) -> Vec<String> {
    let lower = word.to_lowercase();
    let toks = tokens(before);
    let first = toks.first().map(String::as_str).unwrap_or("");
    let prev = toks.last().map(String::as_str).unwrap_or("");

    // The start of a statement: commands.
    if toks.is_empty() {
        return statement_starts(&lower);
    }
    if let Some((prefix, rest)) = lower.rsplit_once('.') {
        return dotted(c, word, &lower, prefix, rest, statement);
    }
    let mut out: Vec<String> = Vec::new();
    // Meta-commands: their next word, then tables.
    if parser::is_meta_command(first) {
        meta_next_words(before, &lower, &mut out);
    }
    if TABLE_CONTEXT.contains(&prev) || parser::is_meta_command(first) {
        tables_and_schemas(c, &lower, &mut out);
        return out;
    }
    if COLUMN_CONTEXT.contains(&prev) || SQL_STARTS.contains(&first) {
        columns_and_keywords(c, &lower, statement, &mut out);
        return out;
    }
    tables_and_schemas(c, &lower, &mut out);
    out
}

/// The first words of commands and SQL statements that start with `lower`.
fn statement_starts(lower: &str) -> Vec<String> {
    let mut out = Vec::new();
    for k in parser::command_keywords() {
        let first = k.split_whitespace().next().unwrap_or(k);
        if first.starts_with(lower) {
            push_unique(&mut out, first.to_string());
        }
    }
    for k in SQL_STARTS {
        if k.starts_with(lower) {
            push_unique(&mut out, k.to_string());
        }
    }
    out
}

/// A word with a dot (`lower` is `prefix.rest`): `alias.` or `table.` → that table's
/// columns; `schema.` (or an unknown prefix) → the tables.
fn dotted(
    c: &Completions,
    word: &str,
    lower: &str,
    prefix: &str,
    rest: &str,
    statement: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    let (_, aliases) = statement_tables(c, statement);
    let table = aliases.get(prefix).cloned().or_else(|| {
        c.table_columns
            .contains_key(prefix)
            .then(|| prefix.to_string())
    });
    if let Some(table) = table.filter(|_| !c.schemas.iter().any(|s| s == prefix)) {
        // The prefix as typed (lower-casing may change a text's length).
        let written = word.rsplit_once('.').map_or(word, |(w, _)| w);
        for col in c.table_columns.get(&table).into_iter().flatten() {
            if col.to_lowercase().starts_with(rest) {
                push_unique(&mut out, format!("{written}.{col}"));
            }
        }
        return out;
    }
    for t in &c.tables {
        if t.to_lowercase().starts_with(lower) {
            push_unique(&mut out, t.clone());
        }
    }
    out
}

/// The next word of the meta-commands that continue what is typed (`before`).
fn meta_next_words(before: &str, lower: &str, out: &mut Vec<String>) {
    let typed = before.trim().to_lowercase();
    let prefix = format!("{typed} {lower}");
    for k in parser::command_keywords() {
        if k.starts_with(&prefix) && k.len() > typed.len() {
            let next = k[typed.len()..].split_whitespace().next().unwrap_or("");
            if !next.is_empty() {
                push_unique(out, next.to_string());
            }
        }
    }
}

/// Schemas (as `schema.`) and tables (by full or bare name) that start with `lower`.
fn tables_and_schemas(c: &Completions, lower: &str, out: &mut Vec<String>) {
    for s in &c.schemas {
        if s.to_lowercase().starts_with(lower) {
            push_unique(out, format!("{s}."));
        }
    }
    for t in &c.tables {
        if t.to_lowercase().starts_with(lower)
            || t.rsplit('.')
                .next()
                .is_some_and(|n| n.to_lowercase().starts_with(lower) && !lower.is_empty())
        {
            push_unique(out, t.clone());
        }
    }
}

/// The columns of the tables the statement reads (of every table when it names none),
/// then SQL keywords, that start with `lower`.
fn columns_and_keywords(c: &Completions, lower: &str, statement: &str, out: &mut Vec<String>) {
    let (tables, _) = statement_tables(c, statement);
    let columns: Vec<&String> = if tables.is_empty() {
        c.columns.iter().collect()
    } else {
        tables
            .iter()
            .filter_map(|t| c.table_columns.get(t))
            .flatten()
            .collect()
    };
    for col in columns {
        if col.to_lowercase().starts_with(lower) {
            push_unique(out, col.clone());
        }
    }
    if !lower.is_empty() {
        for w in SQL_PHRASES.iter().chain(SQL_KEYWORDS) {
            if w.starts_with(lower) {
                push_unique(out, w.to_string());
            }
        }
    }
}

impl Completer for UnifyHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let current = &line[..pos];
        // The word starts after the last separator (which may be several bytes long).
        let start = current
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace() || matches!(c, '(' | ',' | '=' | '<' | '>' | ';'))
            .map(|(i, c)| i + c.len_utf8())
            .unwrap_or(0);
        let word = &current[start..];
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // Only the statement the cursor is in counts: the text after the last `;`.
        let typed = format!("{pending}{}", &current[..start]);
        let from = last_statement_start(&typed);
        let before = &typed[from..];
        let statement = format!("{pending}{line}");
        let statement = &statement[from.min(statement.len())..];
        let c = self.completions.lock().unwrap_or_else(|e| e.into_inner());
        Ok((start, candidates(&c, before, word, statement)))
    }
}

impl Hinter for UnifyHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, ctx: &Context<'_>) -> Option<String> {
        self.hinter.hint(line, pos, ctx)
    }
}

/// `line` with ANSI colours: keywords, strings, numbers, comments
/// ([`sqltext::tokenize`]'s tokens).
pub fn highlight_sql(line: &str) -> String {
    const KEYWORD: &str = "\x1b[1;34m";
    const STRING: &str = "\x1b[32m";
    const NUMBER: &str = "\x1b[36m";
    const COMMENT: &str = "\x1b[90m";
    const RESET: &str = "\x1b[0m";
    let mut out = String::with_capacity(line.len() + 16);
    for t in sqltext::tokenize(line) {
        let color = match t.kind {
            Kind::String | Kind::DollarString => Some(STRING),
            Kind::LineComment | Kind::BlockComment => Some(COMMENT),
            Kind::Unterminated if t.text.starts_with("/*") => Some(COMMENT),
            Kind::Unterminated if !t.text.starts_with('"') => Some(STRING),
            Kind::Number => Some(NUMBER),
            Kind::Word => {
                let word = t.text.to_ascii_lowercase();
                (SQL_KEYWORDS.contains(&word.as_str()) || UNIFY_KEYWORDS.contains(&word.as_str()))
                    .then_some(KEYWORD)
            }
            _ => None,
        };
        match color {
            Some(color) => {
                out.push_str(color);
                out.push_str(t.text);
                out.push_str(RESET);
            }
            None => out.push_str(t.text),
        }
    }
    out
}

impl Highlighter for UnifyHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if self.color {
            Cow::Owned(highlight_sql(line))
        } else {
            Cow::Borrowed(line)
        }
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(format!("\x1b[90m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.color
    }
}

impl Validator for UnifyHelper {}

impl Helper for UnifyHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Completions {
        let mut table_columns = BTreeMap::new();
        table_columns.insert(
            "mocksvc.repos27".to_string(),
            vec!["owner_login".to_string(), "name".to_string()],
        );
        table_columns.insert(
            "gh.pulls".to_string(),
            vec!["number".to_string(), "title".to_string()],
        );
        Completions {
            schemas: vec!["mocksvc".into(), "files".into(), "gh".into()],
            tables: vec![
                "mocksvc.repos27".into(),
                "mocksvc.repos100".into(),
                "gh.pulls".into(),
            ],
            columns: vec![
                "name".into(),
                "number".into(),
                "owner_login".into(),
                "title".into(),
            ],
            table_columns,
        }
    }

    fn complete(before: &str, word: &str, statement: &str) -> Vec<String> {
        candidates(&names(), before, word, statement)
    }

    #[test]
    fn commands_at_the_start_of_a_statement() {
        let c = complete("", "sh", "sh");
        assert!(c.contains(&"show".to_string()), "{c:?}");
        assert!(complete("", "sel", "sel").contains(&"select".to_string()));
        assert!(complete("show ", "ta", "show ta").contains(&"tables".to_string()));
        assert!(complete("", "form", "form").contains(&"format".to_string()));
    }

    #[test]
    fn schemas_and_tables_after_from_and_join() {
        let c = complete("select * from ", "moc", "select * from moc");
        assert!(c.contains(&"mocksvc.".to_string()), "{c:?}");
        assert!(
            !c.contains(&"owner_login".to_string()),
            "no columns after from: {c:?}"
        );
        assert_eq!(
            complete(
                "select * from ",
                "mocksvc.repos1",
                "select * from mocksvc.repos1"
            ),
            ["mocksvc.repos100"]
        );
        let c = complete("select * from mocksvc.repos27 r join ", "gh", "");
        assert!(c.contains(&"gh.".to_string()), "{c:?}");
        assert!(complete("peek ", "gh.p", "peek gh.p").contains(&"gh.pulls".to_string()));
    }

    #[test]
    fn columns_of_the_statements_tables_after_select_and_where() {
        let stmt = "select  from gh.pulls";
        let c = complete("select ", "", stmt);
        assert!(
            c.contains(&"number".to_string()) && c.contains(&"title".to_string()),
            "{c:?}"
        );
        assert!(
            !c.contains(&"owner_login".to_string()),
            "only gh.pulls' columns: {c:?}"
        );
        let stmt = "select * from mocksvc.repos27 where own";
        assert_eq!(
            complete("select * from mocksvc.repos27 where ", "own", stmt),
            ["owner_login"]
        );
        // An alias, and a bare table name.
        let stmt = "select p.ti from gh.pulls as p";
        assert_eq!(complete("select ", "p.ti", stmt), ["p.title"]);
        let stmt = "select pulls.nu from pulls";
        assert_eq!(complete("select ", "pulls.nu", stmt), ["pulls.number"]);
        // No table yet: every known column.
        assert!(complete("select ", "own", "select own").contains(&"owner_login".to_string()));
    }

    #[test]
    fn multibyte_text_never_breaks_completion_and_each_statement_of_a_line_counts() {
        // A no-break space (two bytes) before the word; a Kelvin sign lower-cases to a
        // one-byte `k`.
        assert_eq!(last_statement_start("select 1; sel"), 9);
        assert_eq!(last_statement_start("select ';' ; sel"), 12);
        assert_eq!(last_statement_start("select 1 -- a;b\n"), 0);
        let c = complete("", "sel", "sel");
        assert!(c.contains(&"select".to_string()));
        let c = complete("select \u{212A}.", "\u{212A}.", "select \u{212A}. from x");
        assert!(c.is_empty(), "{c:?}");
        let stmt = "select P.ti from gh.pulls as p";
        assert_eq!(complete("select ", "P.ti", stmt), ["P.title"]);
        // Comments are not tables.
        let before = "select * from gh.pulls -- from mocksvc.repos27\nwhere ";
        let c = complete(before, "", before);
        assert!(c.contains(&"title".to_string()), "{c:?}");
        assert!(!c.contains(&"owner_login".to_string()), "{c:?}");
        // Through the editor: a no-break space before the word.
        let helper = UnifyHelper::new(Arc::new(Mutex::new(names())), false);
        let history = rustyline::history::DefaultHistory::new();
        let ctx = Context::new(&history);
        let line = "select 1; select *\u{a0}fr";
        let (start, got) = helper.complete(line, line.len(), &ctx).unwrap();
        assert_eq!(&line[start..], "fr");
        assert!(got.contains(&"from".to_string()), "{got:?}");
    }

    #[test]
    fn highlighting_colours_keywords_strings_and_numbers_only() {
        let h = highlight_sql("select 'from' as x, 42 from t -- note");
        assert!(h.starts_with("\x1b[1;34mselect\x1b[0m"), "{h:?}");
        assert!(h.contains("\x1b[32m'from'\x1b[0m"), "{h:?}");
        assert!(h.contains("\x1b[36m42\x1b[0m"), "{h:?}");
        assert!(h.contains("\x1b[90m-- note\x1b[0m"), "{h:?}");
        assert!(h.contains(" x, "), "identifiers are plain: {h:?}");
        // Removing the colours gives the line back.
        let plain = regex::Regex::new("\x1b\\[[0-9;]*m")
            .unwrap()
            .replace_all(&h, "");
        assert_eq!(plain, "select 'from' as x, 42 from t -- note");
    }
}
