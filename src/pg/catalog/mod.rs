//! What Postgres clients ask that DuckDB cannot answer as such: session settings
//! (`SET`, `SHOW`, `current_setting`), `version()`, and the system catalog.
//!
//! DuckDB has a `pg_catalog`, but its type OIDs are DuckDB's own (a BIGINT column says
//! `atttypid = 14`, `format_type` names the wrong types), and it lacks `regclass`,
//! `OPERATOR(pg_catalog.~)`, `pg_get_userbyid` and many tables. So each pg session
//! installs, once and lazily, temporary views `unify_pg_*` over `duckdb_tables()`,
//! `duckdb_columns()`… with Postgres OIDs, and temporary macros for the missing
//! functions ([`install_script`]); [`plan`] then rewrites a client's statement token by
//! token (catalog tables → those views, unsupported casts and operators → DuckDB's) and
//! answers locally what needs no engine: settings, and catalog queries that can only
//! be empty here (policies, triggers, inheritance, publications…).
//!
//! * `mod.rs` — the lexer, settings, parameters (`$n`), command tags;
//! * `plan.rs` — what to do with a statement, and the always-empty answers;
//! * `rewrite.rs` — a statement's text for DuckDB;
//! * `views.rs` — the catalog views and macros a session installs;
//! * `params.rs` — the columns untyped parameters take their types from.

mod params;
mod plan;
mod rewrite;
mod views;

pub use params::{param_sources, ParamSources};
pub use plan::plan;
pub(crate) use rewrite::rewrite;
pub use views::install_script;

use super::types::Kind;

/// What to do with one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nothing but whitespace and comments.
    Empty,
    /// `SET name = value` (tried on DuckDB first unless it is a Postgres setting).
    Set {
        /// Lower-case name.
        name: String,
        /// Value as written, quotes removed.
        value: String,
        /// The statement, for DuckDB.
        sql: String,
        /// True for a Postgres session setting kept by the pg session.
        local: bool,
    },
    /// `RESET name` / `RESET ALL`.
    Reset {
        /// Lower-case name; `None` for all.
        name: Option<String>,
    },
    /// `SHOW name` for a Postgres setting.
    Show {
        /// Lower-case name.
        name: String,
    },
    /// Accepted and ignored (`DISCARD ALL`, `DEALLOCATE`, `LISTEN`…), with its tag.
    Ignore {
        /// Command tag.
        tag: String,
    },
    /// `SELECT pg_cancel_backend(pid)`.
    CancelBackend {
        /// The backend to cancel.
        pid: i32,
    },
    /// A catalog query whose answer is empty here; its column names.
    EmptyResult {
        /// Column names of the select list.
        columns: Vec<String>,
    },
    /// Run on the engine.
    Engine {
        /// The (rewritten) text.
        text: String,
        /// It uses the session's catalog views/macros.
        catalog: bool,
        /// `BEGIN`, `COMMIT`/`ROLLBACK` or neither.
        transaction: Transaction,
    },
}

/// A statement's effect on the transaction state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transaction {
    /// None.
    None,
    /// Starts one.
    Begin,
    /// Ends one.
    End,
}

/// The Postgres version clients are told.
pub const SERVER_VERSION: &str = "15.0";

/// `version()`.
pub fn version_string() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} (unify {}, DuckDB engine) on x86_64-pc-linux-gnu, 64-bit",
        env!("CARGO_PKG_VERSION")
    )
}

/// Default values of the Postgres settings a session answers itself.
pub fn default_setting(name: &str) -> Option<String> {
    Some(
        match name {
            "server_version" => SERVER_VERSION,
            "server_version_num" => "150000",
            "server_encoding" | "client_encoding" => "UTF8",
            "transaction_isolation" | "default_transaction_isolation" => "read committed",
            "transaction_read_only" | "default_transaction_read_only" | "in_hot_standby" => "off",
            "standard_conforming_strings" | "integer_datetimes" | "is_superuser" => "on",
            "datestyle" => "ISO, MDY",
            "intervalstyle" => "postgres",
            "timezone" | "log_timezone" => "UTC",
            "search_path" => "main",
            "max_identifier_length" => "63",
            "max_index_keys" => "32",
            "lc_collate" | "lc_ctype" | "lc_messages" | "lc_monetary" | "lc_numeric"
            | "lc_time" => "C",
            "extra_float_digits" => "1",
            "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => "0",
            "client_min_messages" => "notice",
            "bytea_output" => "hex",
            "application_name" => "",
            "session_authorization" => "unify",
            "block_size" => "8192",
            "max_connections" => "100",
            "jit" => "off",
            "row_security" => "on",
            "synchronous_commit" => "on",
            _ => return None,
        }
        .to_string(),
    )
}

/// Settings a client may `SET` that only the pg session keeps (DuckDB has no such
/// setting, or a different meaning for it).
fn is_pg_setting(name: &str) -> bool {
    default_setting(name).is_some()
        || matches!(
            name,
            "names" | "session" | "transaction" | "time" | "role" | "local"
        )
}

// ----------------------------------------------------------------------------------
// Lexer
// ----------------------------------------------------------------------------------

/// A token of SQL text; `text` is the exact source slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tok<'a> {
    pub kind: TokKind,
    pub text: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokKind {
    /// A bare word (identifier or keyword).
    Word,
    /// `"quoted identifier"`.
    Quoted,
    /// A string literal (`'…'`, `E'…'`, `$$…$$`).
    Str,
    /// A number.
    Num,
    /// `$n`.
    Param,
    /// Punctuation and operators, one character (or `::`).
    Punct,
    /// Whitespace and comments.
    Space,
}

/// Split SQL into tokens; the concatenation of their texts is the input. The tokens are
/// [`crate::sqltext::tokenize`]'s, seen the way this module reads them: comments and
/// whitespace are [`TokKind::Space`] (a run of blanks and line breaks is one token),
/// `::` is one [`TokKind::Punct`], a `$name` is a word.
pub(crate) fn lex(sql: &str) -> Vec<Tok<'_>> {
    use crate::sqltext::Kind as K;
    let mut out: Vec<Tok<'_>> = Vec::new();
    let mut last: Option<(K, usize)> = None;
    for t in crate::sqltext::tokenize(sql) {
        let blanks = |k: K| matches!(k, K::Blank | K::Newline);
        if let (Some((prev, start)), Some(tok)) = (last, out.last_mut()) {
            let merge = (blanks(prev) && blanks(t.kind)) || (tok.text == ":" && t.text == ":");
            if merge {
                tok.text = &sql[start..t.end()];
                last = Some((t.kind, start));
                continue;
            }
        }
        let kind = match t.kind {
            K::Blank | K::Newline | K::LineComment | K::BlockComment => TokKind::Space,
            K::Unterminated if t.text.starts_with("/*") => TokKind::Space,
            K::Unterminated if t.text.starts_with('"') => TokKind::Quoted,
            K::String | K::DollarString | K::Unterminated => TokKind::Str,
            K::QuotedIdent => TokKind::Quoted,
            K::Word | K::Variable => TokKind::Word,
            K::Number => TokKind::Num,
            K::Parameter => TokKind::Param,
            K::Dot | K::Comma | K::Semicolon | K::LParen | K::RParen | K::Other => TokKind::Punct,
        };
        out.push(Tok { kind, text: t.text });
        last = Some((t.kind, t.start));
    }
    out
}

/// The highest `$n` in `sql` (0 when none).
pub fn param_count(sql: &str) -> usize {
    lex(sql)
        .iter()
        .filter(|t| t.kind == TokKind::Param)
        .filter_map(|t| t.text[1..].parse::<usize>().ok())
        .max()
        .unwrap_or(0)
}

/// Replace `$n` with `values[n-1]`. Errors when a parameter has no value.
pub fn bind_params(sql: &str, values: &[String]) -> Result<String, String> {
    let mut out = String::with_capacity(sql.len() + values.iter().map(String::len).sum::<usize>());
    for t in lex(sql) {
        if t.kind == TokKind::Param {
            let n: usize = t.text[1..].parse().unwrap_or(0);
            match n.checked_sub(1).and_then(|i| values.get(i)) {
                Some(v) => out.push_str(v),
                None => {
                    return Err(format!(
                        "there is no parameter {} ({} given)",
                        t.text,
                        values.len()
                    ))
                }
            }
        } else {
            out.push_str(t.text);
        }
    }
    Ok(out)
}

/// Types of `$n` parameters written with a cast (`$1::bigint`), by position.
pub fn param_casts(sql: &str) -> Vec<Option<pgwire::api::Type>> {
    let toks: Vec<Tok> = lex(sql)
        .into_iter()
        .filter(|t| t.kind != TokKind::Space)
        .collect();
    let n = param_count(sql);
    let mut out = vec![None; n];
    for (i, t) in toks.iter().enumerate() {
        if t.kind != TokKind::Param {
            continue;
        }
        let idx: usize = t.text[1..].parse().unwrap_or(0);
        let ty = match (toks.get(i + 1), toks.get(i + 2)) {
            (Some(c), Some(name)) if c.text == "::" => {
                let name = if name.text.eq_ignore_ascii_case("pg_catalog") {
                    toks.get(i + 4).map_or("", |t| t.text)
                } else {
                    name.text
                };
                super::types::type_from_cast(name.trim_matches('"'))
            }
            _ => {
                // `LIMIT $1` / `OFFSET $1`.
                let prev = i.checked_sub(1).map(|p| toks[p].text.to_ascii_lowercase());
                matches!(prev.as_deref(), Some("limit" | "offset"))
                    .then_some(pgwire::api::Type::INT8)
            }
        };
        if let (Some(slot), Some(ty)) = (idx.checked_sub(1).and_then(|k| out.get_mut(k)), ty) {
            slot.get_or_insert(ty);
        }
    }
    out
}

// ----------------------------------------------------------------------------------
// Shared helpers
// ----------------------------------------------------------------------------------

/// True when `word` is one of `list`, ignoring ASCII case.
fn is_one_of(word: &str, list: &[&str]) -> bool {
    list.iter().any(|w| w.eq_ignore_ascii_case(word))
}

/// A quoted literal or identifier's content (`'it''s'` → `it's`); other text trimmed.
fn unquote(s: &str) -> String {
    let s = s.trim();
    if s.len() >= 2 && (s.starts_with('\'') && s.ends_with('\'')) {
        s[1..s.len() - 1].replace("''", "'")
    } else if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        s[1..s.len() - 1].replace("\"\"", "\"")
    } else {
        s.to_string()
    }
}

/// The command tag of a statement that returned no rows.
pub fn command_tag(sql: &str) -> String {
    let words: Vec<String> = lex(sql)
        .iter()
        .filter(|t| t.kind == TokKind::Word)
        .take(6)
        .map(|t| t.text.to_ascii_uppercase())
        .collect();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    match w(0) {
        "CREATE" | "DROP" | "ALTER" => {
            let mut i = 1;
            while matches!(
                w(i),
                "OR" | "REPLACE"
                    | "TEMP"
                    | "TEMPORARY"
                    | "UNIQUE"
                    | "IF"
                    | "NOT"
                    | "EXISTS"
                    | "PERSISTENT"
            ) {
                i += 1;
            }
            format!("{} {}", w(0), w(i))
        }
        "BEGIN" | "START" => "BEGIN".into(),
        "COMMIT" | "END" => "COMMIT".into(),
        "ROLLBACK" | "ABORT" => "ROLLBACK".into(),
        "" => "OK".into(),
        other => other.to_string(),
    }
}

/// The Postgres OID the catalog gives a DuckDB type (the same as result columns get).
pub fn oid_of_duckdb_type(t: &str) -> u32 {
    Kind::of(t, std::iter::empty()).pg_type().oid()
}

/// True for a statement that writes (it opens a pending transaction in DuckDB).
pub fn is_write(sql: &str) -> bool {
    let first = lex(sql)
        .into_iter()
        .find(|t| t.kind != TokKind::Space)
        .map(|t| t.text.to_ascii_lowercase());
    !matches!(
        first.as_deref(),
        None | Some(
            "select"
                | "with"
                | "values"
                | "from"
                | "table"
                | "show"
                | "describe"
                | "summarize"
                | "explain"
                | "pragma"
                | "("
                | "peek"
                | "count"
                | "help"
                | "system"
                | "set"
                | "reset"
        )
    )
}

/// Replace argument-less calls `name()` (optionally `pg_catalog.`-qualified) with a
/// literal, outside strings and comments: `pg_backend_pid()` is the connection's.
pub fn replace_calls(sql: &str, calls: &[(&str, String)]) -> String {
    if !calls
        .iter()
        .any(|(name, _)| sql.to_ascii_lowercase().contains(name))
    {
        return sql.to_string();
    }
    let toks = lex(sql);
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let next = |from: usize| (from..toks.len()).find(|&j| toks[j].kind != TokKind::Space);
        if t.kind == TokKind::Word {
            let (name_i, qualified) = match (next(i + 1), t.text.eq_ignore_ascii_case("pg_catalog"))
            {
                (Some(d), true) if toks[d].text == "." => match next(d + 1) {
                    Some(n) => (n, true),
                    None => (i, false),
                },
                _ => (i, false),
            };
            let name = toks[name_i].text;
            if let Some((_, lit)) = calls.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                if let Some(open) = next(name_i + 1).filter(|&o| toks[o].text == "(") {
                    if let Some(close) = next(open + 1).filter(|&c| toks[c].text == ")") {
                        let preceded_by_dot = !qualified
                            && (0..i)
                                .rev()
                                .find(|&j| toks[j].kind != TokKind::Space)
                                .is_some_and(|j| toks[j].text == ".");
                        if !preceded_by_dot {
                            out.push_str(lit);
                            i = close + 1;
                            continue;
                        }
                    }
                }
            }
        }
        out.push_str(t.text);
        i += 1;
    }
    out
}
