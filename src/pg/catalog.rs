//! What Postgres clients ask that DuckDB cannot answer as such: session settings
//! (`SET`, `SHOW`, `current_setting`), `version()`, and the system catalog.
//!
//! DuckDB has a `pg_catalog`, but its type OIDs are DuckDB's own (a BIGINT column says
//! `atttypid = 14`, `format_type` names the wrong types), and it lacks `regclass`,
//! `OPERATOR(pg_catalog.~)`, `pg_get_userbyid` and many tables. So each pg session
//! installs, once and lazily, temporary views `unify_pg_*` over `duckdb_tables()`,
//! `duckdb_columns()`… with Postgres OIDs, and temporary macros for the missing
//! functions ([`INSTALL`]); [`plan`] then rewrites a client's statement token by token
//! (catalog tables → those views, unsupported casts and operators → DuckDB's) and
//! answers locally what needs no engine: settings, and catalog queries that can only
//! be empty here (policies, triggers, inheritance, publications…).

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
// Planning and rewriting
// ----------------------------------------------------------------------------------

/// Catalog relations with a `unify_pg_*` view.
const CATALOG_VIEWS: &[&str] = &[
    "pg_namespace",
    "pg_class",
    "pg_attribute",
    "pg_type",
    "pg_am",
    "pg_attrdef",
    "pg_collation",
    "pg_description",
    "pg_index",
    "pg_constraint",
    "pg_inherits",
    "pg_roles",
    "pg_user",
    "pg_database",
    "pg_settings",
    "pg_tables",
    "pg_views",
    "pg_proc",
    "pg_enum",
    "pg_range",
    "pg_extension",
    "pg_tablespace",
    "pg_trigger",
    "pg_sequence",
    "pg_matviews",
    "pg_indexes",
    "pg_policy",
    "pg_rewrite",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_rel",
    "pg_publication_namespace",
    "pg_partitioned_table",
    "pg_foreign_table",
    "pg_foreign_server",
    "pg_foreign_data_wrapper",
    "pg_event_trigger",
    "pg_depend",
    "pg_shdescription",
    "pg_auth_members",
    "pg_stat_activity",
    "pg_locks",
    "pg_operator",
    "pg_opclass",
    "pg_aggregate",
    "pg_cast",
    "pg_language",
    "pg_conversion",
    "pg_ts_config",
    "pg_ts_dict",
    "pg_ts_parser",
    "pg_ts_template",
];

/// Catalog relations that are always empty here: a query that inner-joins one of them
/// is answered at once with no rows.
const EMPTY_RELATIONS: &[&str] = &[
    "pg_index",
    "pg_constraint",
    "pg_inherits",
    "pg_trigger",
    "pg_policy",
    "pg_rewrite",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_rel",
    "pg_publication_namespace",
    "pg_partitioned_table",
    "pg_foreign_table",
    "pg_foreign_server",
    "pg_foreign_data_wrapper",
    "pg_event_trigger",
    "pg_depend",
    "pg_sequence",
    "pg_proc",
    "pg_enum",
    "pg_range",
    "pg_extension",
    "pg_matviews",
    "pg_indexes",
    "pg_attrdef",
    "pg_description",
    "pg_shdescription",
    "pg_auth_members",
    "pg_operator",
    "pg_opclass",
    "pg_aggregate",
    "pg_cast",
    "pg_conversion",
    "pg_ts_config",
    "pg_ts_dict",
    "pg_ts_parser",
    "pg_ts_template",
    "pg_collation",
];

/// Functions replaced by the session's `unify_*` macros.
const MACROS: &[&str] = &[
    "format_type",
    "pg_get_userbyid",
    "pg_get_expr",
    "obj_description",
    "col_description",
    "shobj_description",
    "pg_get_indexdef",
    "pg_get_constraintdef",
    "pg_get_statisticsobjdef_columns",
    "pg_relation_is_publishable",
    "pg_encoding_to_char",
    "array_upper",
    "array_lower",
    "pg_get_function_identity_arguments",
    "pg_get_function_arguments",
    "pg_get_function_result",
    "quote_ident",
    "pg_is_in_recovery",
    "has_table_privilege",
    "has_database_privilege",
    "has_column_privilege",
    "pg_total_relation_size",
    "pg_relation_size",
    "pg_table_size",
    "pg_indexes_size",
    "txid_current",
    "pg_tablespace_location",
    "to_regclass",
    "pg_get_partkeydef",
    "pg_get_serial_sequence",
    "pg_my_temp_schema",
    "pg_is_other_temp_schema",
    "pg_get_viewdef",
    "pg_get_triggerdef",
    "pg_get_ruledef",
    "pg_postmaster_start_time",
    "inet_server_addr",
    "inet_server_port",
    "pg_type_is_visible",
    "pg_function_is_visible",
    "pg_table_is_visible",
    "pg_collation_is_visible",
    "pg_opclass_is_visible",
];

/// Postgres functions DuckDB has under another name.
const RENAMES: &[(&str, &str)] = &[
    ("json_build_object", "json_object"),
    ("jsonb_build_object", "json_object"),
    ("json_agg", "json_group_array"),
    ("jsonb_agg", "json_group_array"),
];

fn is_one_of(word: &str, list: &[&str]) -> bool {
    list.iter().any(|w| w.eq_ignore_ascii_case(word))
}

/// Plan one statement (no trailing `;` needed).
pub fn plan(sql: &str) -> Plan {
    let toks = lex(sql);
    let mut code: Vec<&Tok> = toks.iter().filter(|t| t.kind != TokKind::Space).collect();
    while code.last().is_some_and(|t| t.text == ";") {
        code.pop();
    }
    let Some(first) = code.first() else {
        return Plan::Empty;
    };
    let word = |i: usize| -> String {
        code.get(i)
            .map(|t| t.text.to_ascii_lowercase())
            .unwrap_or_default()
    };
    let engine = |transaction| Plan::Engine {
        text: sql.to_string(),
        catalog: false,
        transaction,
    };
    match first.text.to_ascii_lowercase().as_str() {
        "set" => return plan_set(sql, &code),
        "reset" => {
            let name = word(1);
            return Plan::Reset {
                name: (name != "all" && !name.is_empty()).then_some(name),
            };
        }
        "show" => {
            let rest: Vec<String> = (1..code.len()).map(word).collect();
            let name = rest.join(" ");
            // unify's own `show tables|columns|…` commands.
            if matches!(
                rest.first().map(String::as_str),
                Some("tables" | "columns" | "schemas" | "connections" | "variables" | "files")
            ) {
                return engine(Transaction::None);
            }
            let name = match name.as_str() {
                "transaction isolation level" => "transaction_isolation".to_string(),
                "time zone" => "timezone".to_string(),
                _ => name.trim_matches('"').to_string(),
            };
            return Plan::Show { name };
        }
        "begin" | "start" => return engine(Transaction::Begin),
        "commit" | "end" | "rollback" | "abort" => {
            if word(1) == "prepared" || word(1) == "to" {
                return engine(Transaction::None);
            }
            return engine(Transaction::End);
        }
        "discard" | "deallocate" | "listen" | "unlisten" | "notify" | "savepoint" | "release"
        | "checkpoint" => {
            let tag = match first.text.to_ascii_uppercase().as_str() {
                "DISCARD" => format!("DISCARD {}", word(1).to_ascii_uppercase()),
                other => other.to_string(),
            };
            if first.text.eq_ignore_ascii_case("checkpoint") {
                return engine(Transaction::None);
            }
            return Plan::Ignore { tag };
        }
        // `select pg_cancel_backend(123)`.
        "select"
            if code.len() == 5
                && word(1).trim_start_matches("pg_catalog.") == "pg_cancel_backend"
                && code[2].text == "("
                && code[4].text == ")" =>
        {
            if let Ok(pid) = code[3].text.parse() {
                return Plan::CancelBackend { pid };
            }
        }
        _ => {}
    }
    if let Some(columns) = empty_answer(&code) {
        return Plan::EmptyResult { columns };
    }
    let (text, catalog) = rewrite(&toks);
    Plan::Engine {
        text,
        catalog,
        transaction: Transaction::None,
    }
}

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

fn plan_set(sql: &str, code: &[&Tok]) -> Plan {
    // SET [SESSION | LOCAL] name { = | TO } value
    let mut i = 1;
    if code.get(i).is_some_and(|t| {
        t.text.eq_ignore_ascii_case("session") || t.text.eq_ignore_ascii_case("local")
    }) && code.get(i + 1).is_some_and(|t| {
        !(t.text == "="
            || t.text.eq_ignore_ascii_case("to")
            || t.text.eq_ignore_ascii_case("characteristics"))
    }) {
        i += 1;
    }
    let name_tok = code
        .get(i)
        .map(|t| unquote(t.text).to_ascii_lowercase())
        .unwrap_or_default();
    // `SET TIME ZONE 'UTC'`, `SET SESSION CHARACTERISTICS …`, `SET TRANSACTION …`.
    let (name, value_from) = match name_tok.as_str() {
        "time"
            if code
                .get(i + 1)
                .is_some_and(|t| t.text.eq_ignore_ascii_case("zone")) =>
        {
            ("timezone".to_string(), i + 2)
        }
        _ => {
            let mut j = i + 1;
            // Dotted names: `SET a.b = 1`.
            let mut name = name_tok.clone();
            while code.get(j).is_some_and(|t| t.text == ".") {
                name.push('.');
                name.push_str(
                    &code
                        .get(j + 1)
                        .map_or(String::new(), |t| t.text.to_ascii_lowercase()),
                );
                j += 2;
            }
            if code
                .get(j)
                .is_some_and(|t| t.text == "=" || t.text.eq_ignore_ascii_case("to"))
            {
                j += 1;
            }
            (name, j)
        }
    };
    let value = code
        .get(value_from..)
        .unwrap_or_default()
        .iter()
        .map(|t| unquote(t.text))
        .collect::<Vec<_>>()
        .join(" ");
    let local = is_pg_setting(&name);
    Plan::Set {
        name,
        value,
        sql: sql.to_string(),
        local,
    }
}

/// Column names of a select list (top level), for an empty answer.
fn select_columns(code: &[&Tok]) -> Vec<String> {
    let mut cols = Vec::new();
    let mut depth = 0i32;
    let mut current: Vec<&Tok> = Vec::new();
    let start = code
        .iter()
        .position(|t| t.text.eq_ignore_ascii_case("select"))
        .map_or(0, |p| p + 1);
    let name_of = |expr: &[&Tok]| -> String {
        let n = expr.len();
        if n >= 2 && expr[n - 2].text.eq_ignore_ascii_case("as") {
            return unquote(expr[n - 1].text);
        }
        match expr.last() {
            Some(t) if matches!(t.kind, TokKind::Word | TokKind::Quoted) => unquote(t.text),
            _ => "?column?".to_string(),
        }
    };
    for t in &code[start..] {
        match t.text {
            "(" => depth += 1,
            ")" => depth -= 1,
            _ => {}
        }
        if depth == 0 && t.kind == TokKind::Word && t.text.eq_ignore_ascii_case("from") {
            break;
        }
        if depth == 0 && t.text == "," {
            cols.push(name_of(&current));
            current.clear();
            continue;
        }
        current.push(t);
    }
    if !current.is_empty() {
        cols.push(name_of(&current));
    }
    cols
}

/// When every top-level branch of a SELECT inner-joins an always-empty catalog
/// relation (and aggregates nothing), its answer: no rows, these columns.
fn empty_answer(code: &[&Tok]) -> Option<Vec<String>> {
    if !code.first()?.text.eq_ignore_ascii_case("select") {
        return None;
    }
    // Split into top-level UNION branches.
    let mut branches: Vec<Vec<&Tok>> = vec![Vec::new()];
    let mut depth = 0i32;
    for t in code {
        match t.text {
            "(" => depth += 1,
            ")" => depth -= 1,
            _ => {}
        }
        if depth == 0 && t.kind == TokKind::Word && t.text.eq_ignore_ascii_case("union") {
            branches.push(Vec::new());
            continue;
        }
        if let Some(b) = branches.last_mut() {
            b.push(t);
        }
    }
    for branch in &branches {
        if !branch_is_empty(branch) {
            return None;
        }
    }
    Some(select_columns(code))
}

fn branch_is_empty(code: &[&Tok]) -> bool {
    let mut depth = 0i32;
    let mut in_from = false;
    // After FROM, JOIN or a comma of the FROM list: the next name is a relation.
    let mut expect_relation = false;
    let mut outer_join = false;
    let mut i = 0;
    while i < code.len() {
        let t = code[i];
        match t.text {
            "(" => depth += 1,
            ")" => depth -= 1,
            _ => {}
        }
        if depth != 0 || t.text == ")" {
            i += 1;
            continue;
        }
        let w = t.text.to_ascii_lowercase();
        if !in_from {
            // An aggregate in the select list always returns a row.
            if matches!(
                w.as_str(),
                "count"
                    | "sum"
                    | "max"
                    | "min"
                    | "avg"
                    | "string_agg"
                    | "array_agg"
                    | "bool_or"
                    | "bool_and"
            ) && code.get(i + 1).is_some_and(|n| n.text == "(")
            {
                return false;
            }
            if w == "from" {
                in_from = true;
                expect_relation = true;
            }
            i += 1;
            continue;
        }
        match w.as_str() {
            "where" | "group" | "order" | "limit" | "having" | "offset" => break,
            "left" | "right" | "full" => outer_join = true,
            "join" | "," => expect_relation = true,
            _ if expect_relation && t.kind == TokKind::Word => {
                let name = if w == "pg_catalog" && code.get(i + 1).is_some_and(|d| d.text == ".") {
                    i += 2;
                    code.get(i).map_or("", |n| n.text)
                } else {
                    t.text
                };
                if !outer_join && is_one_of(name, EMPTY_RELATIONS) {
                    return true;
                }
                expect_relation = false;
                outer_join = false;
            }
            _ => expect_relation = false,
        }
        i += 1;
    }
    false
}

/// Rewrite a statement for DuckDB: catalog relations → `unify_pg_*` views, missing
/// functions → `unify_*` macros, `OPERATOR(pg_catalog.x)` → `x`, `COLLATE
/// pg_catalog.default` dropped, `reg*` casts → BIGINT, `pg_catalog.` type and function
/// prefixes dropped, `version()` and Postgres `current_setting`s → literals. Returns
/// the text and whether it uses the session's catalog objects.
pub(crate) fn rewrite(toks: &[Tok]) -> (String, bool) {
    let mut out = String::new();
    let mut catalog = false;
    // Indices of non-space tokens, to look around.
    let code: Vec<usize> = (0..toks.len())
        .filter(|&i| toks[i].kind != TokKind::Space)
        .collect();
    let text = |k: usize| -> &str { code.get(k).map_or("", |&i| toks[i].text) };
    let mut k = 0;
    let mut last_emitted_tok = 0;
    // Emit the spaces between the previous emitted token and token index `i`.
    let emit_gap = |out: &mut String, upto: usize, last: &mut usize| {
        for t in &toks[*last..upto] {
            if t.kind == TokKind::Space {
                out.push_str(t.text);
            }
        }
        *last = upto;
    };
    // Postgres' `~` searches; DuckDB's matches the whole string: the pattern after a
    // `~` is wrapped as `.*(?:pattern).*` (case-insensitive for `~*`).
    let mut regex_next: Option<bool> = None;
    while k < code.len() {
        let i = code[k];
        let t = toks[i];
        emit_gap(&mut out, i, &mut last_emitted_tok);
        let lower = t.text.to_ascii_lowercase();
        if let Some(insensitive) = regex_next.take() {
            if t.kind == TokKind::Str && t.text.ends_with('\'') {
                let (prefix, body) = match t.text.find('\'') {
                    Some(q) => (&t.text[..q], &t.text[q + 1..t.text.len() - 1]),
                    None => ("", t.text),
                };
                let flags = if insensitive { "(?is)" } else { "(?s)" };
                out.push_str(&format!("{prefix}'{flags}.*(?:{body}).*'"));
                k += 1;
                last_emitted_tok = i + 1;
                continue;
            }
        }
        if t.text == "~" && text(k + 1) == "~" {
            // `~~` is LIKE.
            out.push_str("~~");
            k += 2;
            last_emitted_tok = code.get(k - 1).map_or(toks.len(), |&x| x + 1);
            continue;
        }
        if t.text == "~" {
            let insensitive = text(k + 1) == "*";
            out.push('~');
            k += if insensitive { 2 } else { 1 };
            last_emitted_tok = code.get(k - 1).map_or(toks.len(), |&x| x + 1);
            regex_next = Some(insensitive);
            continue;
        }
        // OPERATOR(pg_catalog.~) → ~
        if lower == "operator" && text(k + 1) == "(" {
            let mut j = k + 2;
            if text(j).eq_ignore_ascii_case("pg_catalog") && text(j + 1) == "." {
                j += 2;
            }
            let mut op = String::new();
            while j < code.len() && text(j) != ")" {
                op.push_str(text(j));
                j += 1;
            }
            if let Some(rest) = op.strip_suffix("~*") {
                out.push_str(rest);
                out.push('~');
                regex_next = Some(true);
            } else {
                out.push_str(&op);
                if op.ends_with('~') {
                    regex_next = Some(false);
                }
            }
            k = j + 1;
            last_emitted_tok = code.get(k - 1).map_or(toks.len(), |&x| x + 1);
            continue;
        }
        // COLLATE pg_catalog.default / COLLATE "C" → nothing.
        if lower == "collate" {
            let mut j = k + 1;
            if text(j).eq_ignore_ascii_case("pg_catalog") && text(j + 1) == "." {
                j += 2;
            }
            k = j + 1;
            last_emitted_tok = code.get(k - 1).map_or(toks.len(), |&x| x + 1);
            continue;
        }
        // CAST('name' AS regclass) → the lookup; CAST(x AS regclass) → BIGINT.
        if lower == "cast" && text(k + 1) == "(" {
            let lit = code
                .get(k + 2)
                .map(|&x| toks[x])
                .filter(|t| t.kind == TokKind::Str);
            let mut j = k + 4;
            if text(j).eq_ignore_ascii_case("pg_catalog") && text(j + 1) == "." {
                j += 2;
            }
            let lookup = match text(j).trim_matches('"').to_ascii_lowercase().as_str() {
                "regclass" => Some("unify_to_regclass"),
                "regtype" => Some("unify_to_regtype"),
                "regnamespace" => Some("unify_to_regnamespace"),
                _ => None,
            };
            if let (Some(lit), Some(lookup), true, true) = (
                lit,
                lookup,
                text(k + 3).eq_ignore_ascii_case("as"),
                text(j + 1) == ")",
            ) {
                out.push_str(&format!("{lookup}({})", lit.text));
                catalog = true;
                k = j + 2;
                last_emitted_tok = code.get(k - 1).map_or(toks.len(), |&x| x + 1);
                continue;
            }
        }
        if lower == "as" {
            let mut j = k + 1;
            if text(j).eq_ignore_ascii_case("pg_catalog") && text(j + 1) == "." {
                j += 2;
            }
            let ty = text(j).trim_matches('"').to_ascii_lowercase();
            if matches!(
                ty.as_str(),
                "regclass"
                    | "regtype"
                    | "regproc"
                    | "regprocedure"
                    | "regnamespace"
                    | "regrole"
                    | "regoper"
                    | "regoperator"
                    | "regconfig"
            ) && text(j + 1) == ")"
            {
                out.push_str("AS BIGINT");
                k = j + 1;
                last_emitted_tok = code.get(k - 1).map_or(toks.len(), |&x| x + 1);
                continue;
            }
        }
        // Casts: ::pg_catalog.regclass, ::regtype, ::"char", ::name …
        if t.text == "::" {
            let mut j = k + 1;
            if text(j).eq_ignore_ascii_case("pg_catalog") && text(j + 1) == "." {
                j += 2;
            }
            let ty = text(j).trim_matches('"').to_ascii_lowercase();
            // 'name'::regclass and 'int4'::regtype: look the name up.
            let literal = k
                .checked_sub(1)
                .map(|p| toks[code[p]])
                .filter(|p| p.kind == TokKind::Str && out.ends_with(p.text));
            if let (Some(lit), Some(lookup)) = (
                literal,
                match ty.as_str() {
                    "regclass" => Some("unify_to_regclass"),
                    "regtype" => Some("unify_to_regtype"),
                    "regnamespace" => Some("unify_to_regnamespace"),
                    _ => None,
                },
            ) {
                out.truncate(out.len() - lit.text.len());
                out.push_str(&format!("{lookup}({})", lit.text));
                catalog = true;
                k = j + 1;
                last_emitted_tok = code.get(k - 1).map_or(toks.len(), |&x| x + 1);
                continue;
            }
            let mapped = match ty.as_str() {
                "regclass" | "regtype" | "regproc" | "regprocedure" | "regnamespace"
                | "regrole" | "regoper" | "regoperator" | "regconfig" | "oid" | "xid" | "cid"
                | "tid" => "BIGINT".to_string(),
                "char" | "name" | "bpchar" | "character" => "VARCHAR".to_string(),
                "int2vector" | "oidvector" => "VARCHAR".to_string(),
                _ => text(j).to_string(),
            };
            out.push_str("::");
            out.push_str(&mapped);
            k = j + 1;
            last_emitted_tok = code.get(k - 1).map_or(toks.len(), |&x| x + 1);
            continue;
        }
        if t.kind == TokKind::Word {
            // pg_catalog.<x> → <x> (for relations and functions); unqualified too.
            let (name_k, qualified) =
                if lower == "pg_catalog" && text(k + 1) == "." && k + 2 < code.len() {
                    (k + 2, true)
                } else {
                    (k, false)
                };
            let preceded_by_dot = !qualified && k > 0 && text(k - 1) == ".";
            let name = text(name_k);
            let name_lower = name.to_ascii_lowercase();
            let is_call = text(name_k + 1) == "(";
            if !preceded_by_dot {
                if is_call && name_lower == "version" && text(name_k + 2) == ")" {
                    out.push_str(&super::types::quote(&version_string()));
                    k = name_k + 3;
                    last_emitted_tok = code.get(k - 1).map_or(toks.len(), |&x| x + 1);
                    continue;
                }
                if is_call
                    && name_lower == "current_setting"
                    && code
                        .get(name_k + 2)
                        .is_some_and(|&x| toks[x].kind == TokKind::Str)
                    && text(name_k + 3) == ")"
                {
                    let setting = unquote(text(name_k + 2)).to_ascii_lowercase();
                    if let Some(v) = default_setting(&setting) {
                        out.push_str(&super::types::quote(&v));
                        k = name_k + 4;
                        last_emitted_tok = code.get(k - 1).map_or(toks.len(), |&x| x + 1);
                        continue;
                    }
                }
                if let Some((_, to)) = RENAMES
                    .iter()
                    .find(|(from, _)| is_call && from.eq_ignore_ascii_case(name))
                {
                    out.push_str(to);
                    k = name_k + 1;
                    last_emitted_tok = code.get(k - 1).map_or(toks.len(), |&x| x + 1);
                    continue;
                }
                if is_call && is_one_of(name, MACROS) {
                    out.push_str("unify_");
                    out.push_str(&name_lower);
                    catalog = true;
                    k = name_k + 1;
                    last_emitted_tok = code.get(k - 1).map_or(toks.len(), |&x| x + 1);
                    continue;
                }
                if !is_call && is_one_of(name, CATALOG_VIEWS) {
                    out.push_str("unify_");
                    out.push_str(&name_lower);
                    catalog = true;
                    k = name_k + 1;
                    last_emitted_tok = code.get(k - 1).map_or(toks.len(), |&x| x + 1);
                    continue;
                }
                if qualified && is_call {
                    out.push_str(name);
                    k = name_k + 1;
                    last_emitted_tok = code.get(k - 1).map_or(toks.len(), |&x| x + 1);
                    continue;
                }
            }
        }
        out.push_str(t.text);
        k += 1;
        last_emitted_tok = i + 1;
    }
    emit_gap(&mut out, toks.len(), &mut last_emitted_tok);
    (out, catalog)
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

/// The SQL that creates a session's catalog views and macros (one batch, idempotent).
pub fn install_script() -> String {
    let scalar_oid = "CASE WHEN t = 'BOOLEAN' THEN 16 \
        WHEN t IN ('TINYINT','SMALLINT','UTINYINT') THEN 21 \
        WHEN t IN ('INTEGER','USMALLINT') THEN 23 \
        WHEN t IN ('BIGINT','UINTEGER') THEN 20 \
        WHEN t IN ('UBIGINT','HUGEINT','UHUGEINT','VARINT') OR t LIKE 'DECIMAL%' THEN 1700 \
        WHEN t = 'FLOAT' THEN 700 WHEN t = 'DOUBLE' THEN 701 \
        WHEN t = 'JSON' OR t LIKE 'STRUCT%' THEN 114 \
        WHEN t = 'DATE' THEN 1082 WHEN t = 'TIME' THEN 1083 \
        WHEN t = 'TIMESTAMP WITH TIME ZONE' THEN 1184 \
        WHEN t IN ('TIMESTAMP','TIMESTAMP_S','TIMESTAMP_MS','TIMESTAMP_NS') THEN 1114 \
        WHEN t = 'BLOB' THEN 17 WHEN t = 'UUID' THEN 2950 \
        WHEN t LIKE '%]' THEN 114 \
        ELSE 1043 END";
    let array_oid = "CASE unify_pg_scalar_oid(left(t, length(t) - 2)) WHEN 16 THEN 1000 WHEN 21 THEN 1005 WHEN 23 THEN 1007 \
        WHEN 20 THEN 1016 WHEN 1700 THEN 1231 WHEN 700 THEN 1021 WHEN 701 THEN 1022 \
        WHEN 1082 THEN 1182 WHEN 1083 THEN 1183 WHEN 1114 THEN 1115 WHEN 1184 THEN 1185 \
        WHEN 17 THEN 1001 WHEN 2950 THEN 2951 WHEN 1043 THEN 1015 ELSE 114 END";
    let types: Vec<(u32, &str, i16, &str)> = vec![
        (16, "bool", 1, "B"),
        (17, "bytea", -1, "U"),
        (18, "char", 1, "S"),
        (19, "name", 64, "S"),
        (20, "int8", 8, "N"),
        (21, "int2", 2, "N"),
        (23, "int4", 4, "N"),
        (25, "text", -1, "S"),
        (26, "oid", 4, "N"),
        (114, "json", -1, "U"),
        (700, "float4", 4, "N"),
        (701, "float8", 8, "N"),
        (705, "unknown", -2, "X"),
        (1042, "bpchar", -1, "S"),
        (1043, "varchar", -1, "S"),
        (1082, "date", 4, "D"),
        (1083, "time", 8, "D"),
        (1114, "timestamp", 8, "D"),
        (1184, "timestamptz", 8, "D"),
        (1186, "interval", 16, "T"),
        (1700, "numeric", -1, "N"),
        (2950, "uuid", 16, "U"),
        (3802, "jsonb", -1, "U"),
    ];
    let arrays: Vec<(u32, &str, u32)> = vec![
        (1000, "_bool", 16),
        (1001, "_bytea", 17),
        (1005, "_int2", 21),
        (1007, "_int4", 23),
        (1009, "_text", 25),
        (1015, "_varchar", 1043),
        (1016, "_int8", 20),
        (1021, "_float4", 700),
        (1022, "_float8", 701),
        (1182, "_date", 1082),
        (1183, "_time", 1083),
        (1115, "_timestamp", 1114),
        (1185, "_timestamptz", 1184),
        (1231, "_numeric", 1700),
        (2951, "_uuid", 2950),
        (199, "_json", 114),
    ];
    let array_of = |oid: u32| arrays.iter().find(|a| a.2 == oid).map_or(0, |a| a.0);
    let mut type_rows: Vec<String> = types
        .iter()
        .map(|(oid, name, len, cat)| {
            format!(
                "({oid}, '{name}', {len}, 'b', '{cat}', 0, {}, '{name}in', '{name}out')",
                array_of(*oid)
            )
        })
        .collect();
    type_rows.extend(arrays.iter().map(|(oid, name, elem)| {
        format!("({oid}, '{name}', -1, 'b', 'A', {elem}, 0, 'array_in', 'array_out')")
    }));
    let format_cases: String = types
        .iter()
        .map(|(oid, name, _, _)| (*oid, pretty_type(name)))
        .chain(arrays.iter().map(|(oid, _, elem)| {
            let base = types.iter().find(|t| t.0 == *elem).map_or("text", |t| t.1);
            (*oid, format!("{}[]", pretty_type(base)))
        }))
        .map(|(oid, name)| format!(" WHEN {oid} THEN '{name}'"))
        .collect();
    let empty = |cols: &str| format!("SELECT {cols} WHERE false");
    let mut s = String::new();
    let mut view = |name: &str, body: String| {
        s.push_str(&format!(
            "CREATE OR REPLACE TEMP VIEW unify_{name} AS {body};\n"
        ));
    };
    view(
        "pg_namespace",
        "SELECT oid::BIGINT AS oid, schema_name AS nspname, 10::BIGINT AS nspowner, NULL::VARCHAR AS nspacl \
         FROM duckdb_schemas() WHERE (database_name = current_database() OR (database_name = 'system' AND schema_name IN ('pg_catalog', 'information_schema')))"
            .into(),
    );
    let class_cols = |oid: &str, name: &str, ns: &str, kind: &str, natts: &str, tuples: &str| {
        format!(
            "SELECT {oid}::BIGINT AS oid, {name} AS relname, {ns}::BIGINT AS relnamespace, 0::BIGINT AS reltype, 0::BIGINT AS reloftype, \
             10::BIGINT AS relowner, 2::BIGINT AS relam, 0::BIGINT AS relfilenode, 0::BIGINT AS reltablespace, 0 AS relpages, \
             {tuples}::FLOAT AS reltuples, 0 AS relallvisible, 0::BIGINT AS reltoastrelid, false AS relhasindex, false AS relisshared, \
             'p' AS relpersistence, '{kind}' AS relkind, {natts}::SMALLINT AS relnatts, 0::SMALLINT AS relchecks, false AS relhasrules, \
             false AS relhastriggers, false AS relhassubclass, false AS relrowsecurity, false AS relforcerowsecurity, true AS relispopulated, \
             'd' AS relreplident, false AS relispartition, 0::BIGINT AS relrewrite, 0 AS relfrozenxid, 0 AS relminmxid, \
             NULL::VARCHAR[] AS relacl, NULL::VARCHAR[] AS reloptions, NULL::VARCHAR AS relpartbound, false AS relhasoids"
        )
    };
    view(
        "pg_class",
        format!(
            "{} FROM duckdb_tables() WHERE database_name = current_database() AND NOT starts_with(table_name, '{staging}') \
             UNION ALL {} FROM duckdb_views() WHERE database_name = current_database() AND NOT internal",
            class_cols("table_oid", "table_name", "schema_oid", "r", "column_count", "estimated_size"),
            class_cols("view_oid", "view_name", "schema_oid", "v", "column_count", "0"),
            staging = crate::warehouse::staging::STAGING_PREFIX,
        ),
    );
    view(
        "pg_type",
        format!(
            "SELECT v.oid::BIGINT AS oid, v.typname, (SELECT oid FROM duckdb_schemas() WHERE database_name = 'system' AND schema_name = 'pg_catalog')::BIGINT AS typnamespace, \
             10::BIGINT AS typowner, v.typlen::SMALLINT AS typlen, v.typlen > 0 AND v.typlen <= 8 AS typbyval, v.typtype, v.typcategory, \
             false AS typispreferred, true AS typisdefined, ',' AS typdelim, 0::BIGINT AS typrelid, 0::BIGINT AS typsubscript, \
             v.typelem::BIGINT AS typelem, v.typarray::BIGINT AS typarray, v.typinput, v.typoutput, v.typinput AS typreceive, \
             v.typoutput AS typsend, '-' AS typmodin, '-' AS typmodout, '-' AS typanalyze, 'i' AS typalign, 'p' AS typstorage, \
             false AS typnotnull, 0::BIGINT AS typbasetype, -1 AS typtypmod, 0 AS typndims, 0::BIGINT AS typcollation, \
             NULL::VARCHAR AS typdefaultbin, NULL::VARCHAR AS typdefault, NULL::VARCHAR[] AS typacl \
             FROM (VALUES {}) v(oid, typname, typlen, typtype, typcategory, typelem, typarray, typinput, typoutput)",
            type_rows.join(", ")
        ),
    );
    view(
        "pg_attribute",
        format!(
            "SELECT c.table_oid::BIGINT AS attrelid, c.column_name AS attname, unify_pg_oid(c.data_type)::BIGINT AS atttypid, \
             -1 AS attstattarget, (SELECT typlen FROM unify_pg_type WHERE oid = unify_pg_oid(c.data_type)) AS attlen, \
             c.column_index::SMALLINT AS attnum, 0 AS attndims, -1 AS attcacheoff, \
             CASE WHEN c.data_type LIKE 'DECIMAL(%' THEN ((c.numeric_precision << 16) | c.numeric_scale) + 4 ELSE -1 END AS atttypmod, \
             false AS attbyval, 'p' AS attstorage, 'i' AS attalign, NOT c.is_nullable AS attnotnull, \
             c.column_default IS NOT NULL AS atthasdef, false AS atthasmissing, '' AS attidentity, '' AS attgenerated, \
             false AS attisdropped, true AS attislocal, 0 AS attinhcount, 0::BIGINT AS attcollation, \
             NULL::VARCHAR[] AS attacl, NULL::VARCHAR[] AS attoptions, NULL::VARCHAR[] AS attfdwoptions, NULL AS attmissingval \
             FROM duckdb_columns() c WHERE c.database_name = current_database() AND NOT starts_with(c.table_name, '{}')",
            crate::warehouse::staging::STAGING_PREFIX
        ),
    );
    view(
        "pg_am",
        "SELECT * FROM (VALUES (2::BIGINT, 'heap', 'heap_tableam_handler', 't'), (403::BIGINT, 'btree', 'bthandler', 'i')) v(oid, amname, amhandler, amtype)".into(),
    );
    view(
        "pg_attrdef",
        empty(
            "0::BIGINT AS oid, 0::BIGINT AS adrelid, 0::SMALLINT AS adnum, NULL::VARCHAR AS adbin",
        ),
    );
    view("pg_collation", empty("0::BIGINT AS oid, ''::VARCHAR AS collname, 0::BIGINT AS collnamespace, 0::BIGINT AS collowner, ''::VARCHAR AS collprovider, true AS collisdeterministic, 0 AS collencoding, ''::VARCHAR AS collcollate, ''::VARCHAR AS collctype"));
    view(
        "pg_description",
        empty(
            "0::BIGINT AS objoid, 0::BIGINT AS classoid, 0 AS objsubid, ''::VARCHAR AS description",
        ),
    );
    view(
        "pg_shdescription",
        empty("0::BIGINT AS objoid, 0::BIGINT AS classoid, ''::VARCHAR AS description"),
    );
    view("pg_index", empty("0::BIGINT AS indexrelid, 0::BIGINT AS indrelid, 0::SMALLINT AS indnatts, 0::SMALLINT AS indnkeyatts, false AS indisunique, false AS indnullsnotdistinct, false AS indisprimary, false AS indisexclusion, false AS indimmediate, false AS indisclustered, false AS indisvalid, false AS indcheckxmin, false AS indisready, false AS indislive, false AS indisreplident, []::SMALLINT[] AS indkey, []::BIGINT[] AS indcollation, []::BIGINT[] AS indclass, []::SMALLINT[] AS indoption, NULL::VARCHAR AS indexprs, NULL::VARCHAR AS indpred"));
    view("pg_constraint", empty("0::BIGINT AS oid, ''::VARCHAR AS conname, 0::BIGINT AS connamespace, ''::VARCHAR AS contype, false AS condeferrable, false AS condeferred, true AS convalidated, 0::BIGINT AS conrelid, 0::BIGINT AS contypid, 0::BIGINT AS conindid, 0::BIGINT AS conparentid, 0::BIGINT AS confrelid, ''::VARCHAR AS confupdtype, ''::VARCHAR AS confdeltype, ''::VARCHAR AS confmatchtype, true AS conislocal, 0 AS coninhcount, false AS connoinherit, []::SMALLINT[] AS conkey, []::SMALLINT[] AS confkey, NULL::VARCHAR AS conbin"));
    view("pg_inherits", empty("0::BIGINT AS inhrelid, 0::BIGINT AS inhparent, 0 AS inhseqno, false AS inhdetachpending"));
    let role = "10::BIGINT AS oid, 'unify' AS rolname, true AS rolsuper, true AS rolinherit, true AS rolcreaterole, true AS rolcreatedb, true AS rolcanlogin, false AS rolreplication, true AS rolbypassrls, -1 AS rolconnlimit, '********' AS rolpassword, NULL::TIMESTAMP AS rolvaliduntil, NULL::VARCHAR[] AS rolconfig";
    view("pg_roles", format!("SELECT {role}"));
    view("pg_user", "SELECT 'unify' AS usename, 10::BIGINT AS usesysid, true AS usecreatedb, true AS usesuper, false AS userepl, true AS usebypassrls, '********' AS passwd, NULL::TIMESTAMP AS valuntil, NULL::VARCHAR[] AS useconfig".into());
    view(
        "pg_auth_members",
        empty(
            "0::BIGINT AS roleid, 0::BIGINT AS member, 0::BIGINT AS grantor, false AS admin_option",
        ),
    );
    view("pg_database", "SELECT 1::BIGINT AS oid, current_database() AS datname, 10::BIGINT AS datdba, 6 AS encoding, 'c' AS datlocprovider, false AS datistemplate, true AS datallowconn, -1 AS datconnlimit, 0::BIGINT AS dattablespace, 'C' AS datcollate, 'C' AS datctype, NULL::VARCHAR AS daticulocale, NULL::VARCHAR[] AS datacl".into());
    view(
        "pg_tablespace",
        "SELECT * FROM (VALUES (1663::BIGINT, 'pg_default', 10::BIGINT)) v(oid, spcname, spcowner)"
            .into(),
    );
    view("pg_settings", "SELECT name, value AS setting, NULL::VARCHAR AS unit, 'Ungrouped' AS category, description AS short_desc, NULL::VARCHAR AS extra_desc, 'user' AS context, input_type AS vartype, 'default' AS source FROM duckdb_settings()".into());
    view("pg_tables", format!("SELECT schema_name AS schemaname, table_name AS tablename, 'unify' AS tableowner, NULL::VARCHAR AS tablespace, false AS hasindexes, false AS hasrules, false AS hastriggers, false AS rowsecurity FROM duckdb_tables() WHERE database_name = current_database() AND NOT starts_with(table_name, '{}')", crate::warehouse::staging::STAGING_PREFIX));
    view("pg_views", "SELECT schema_name AS schemaname, view_name AS viewname, 'unify' AS viewowner, sql AS definition FROM duckdb_views() WHERE database_name = current_database() AND NOT internal".into());
    view("pg_matviews", empty("''::VARCHAR AS schemaname, ''::VARCHAR AS matviewname, ''::VARCHAR AS matviewowner, NULL::VARCHAR AS tablespace, false AS hasindexes, false AS ispopulated, ''::VARCHAR AS definition"));
    view("pg_indexes", empty("''::VARCHAR AS schemaname, ''::VARCHAR AS tablename, ''::VARCHAR AS indexname, NULL::VARCHAR AS tablespace, ''::VARCHAR AS indexdef"));
    view("pg_proc", empty("0::BIGINT AS oid, ''::VARCHAR AS proname, 0::BIGINT AS pronamespace, 0::BIGINT AS proowner, 0::BIGINT AS prolang, 0::FLOAT AS procost, 0::FLOAT AS prorows, 0::BIGINT AS provariadic, ''::VARCHAR AS prokind, false AS prosecdef, false AS proleakproof, false AS proisstrict, false AS proretset, ''::VARCHAR AS provolatile, 0::SMALLINT AS pronargs, 0::BIGINT AS prorettype, ''::VARCHAR AS proargtypes, NULL::VARCHAR[] AS proargnames, ''::VARCHAR AS prosrc"));
    view("pg_enum", empty("0::BIGINT AS oid, 0::BIGINT AS enumtypid, 0::FLOAT AS enumsortorder, ''::VARCHAR AS enumlabel"));
    view(
        "pg_range",
        empty("0::BIGINT AS rngtypid, 0::BIGINT AS rngsubtype, 0::BIGINT AS rngmultitypid"),
    );
    view("pg_extension", empty("0::BIGINT AS oid, ''::VARCHAR AS extname, 0::BIGINT AS extowner, 0::BIGINT AS extnamespace, false AS extrelocatable, ''::VARCHAR AS extversion"));
    view("pg_trigger", empty("0::BIGINT AS oid, 0::BIGINT AS tgrelid, 0::BIGINT AS tgparentid, ''::VARCHAR AS tgname, 0::BIGINT AS tgfoid, 0 AS tgtype, ''::VARCHAR AS tgenabled, false AS tgisinternal, 0::BIGINT AS tgconstrrelid, 0::BIGINT AS tgconstrindid, 0::BIGINT AS tgconstraint, false AS tgdeferrable, false AS tginitdeferred, 0 AS tgnargs"));
    view("pg_sequence", empty("0::BIGINT AS seqrelid, 0::BIGINT AS seqtypid, 0::BIGINT AS seqstart, 0::BIGINT AS seqincrement, 0::BIGINT AS seqmax, 0::BIGINT AS seqmin, 0::BIGINT AS seqcache, false AS seqcycle"));
    view("pg_policy", empty("0::BIGINT AS oid, ''::VARCHAR AS polname, 0::BIGINT AS polrelid, ''::VARCHAR AS polcmd, true AS polpermissive, ''::VARCHAR AS polroles, NULL::VARCHAR AS polqual, NULL::VARCHAR AS polwithcheck"));
    view("pg_rewrite", empty("0::BIGINT AS oid, ''::VARCHAR AS rulename, 0::BIGINT AS ev_class, ''::VARCHAR AS ev_type, ''::VARCHAR AS ev_enabled, false AS is_instead"));
    view("pg_statistic_ext", empty("0::BIGINT AS oid, 0::BIGINT AS stxrelid, ''::VARCHAR AS stxname, 0::BIGINT AS stxnamespace, 0::BIGINT AS stxowner, 0 AS stxstattarget, []::SMALLINT[] AS stxkeys, []::VARCHAR[] AS stxkind"));
    view("pg_publication", empty("0::BIGINT AS oid, ''::VARCHAR AS pubname, 0::BIGINT AS pubowner, false AS puballtables, false AS pubinsert, false AS pubupdate, false AS pubdelete, false AS pubtruncate, false AS pubviaroot"));
    view("pg_publication_rel", empty("0::BIGINT AS oid, 0::BIGINT AS prpubid, 0::BIGINT AS prrelid, NULL::VARCHAR AS prqual, NULL::SMALLINT[] AS prattrs"));
    view(
        "pg_publication_namespace",
        empty("0::BIGINT AS oid, 0::BIGINT AS pnpubid, 0::BIGINT AS pnnspid"),
    );
    view("pg_partitioned_table", empty("0::BIGINT AS partrelid, ''::VARCHAR AS partstrat, 0::SMALLINT AS partnatts, 0::BIGINT AS partdefid"));
    view(
        "pg_foreign_table",
        empty("0::BIGINT AS ftrelid, 0::BIGINT AS ftserver, NULL::VARCHAR[] AS ftoptions"),
    );
    view(
        "pg_foreign_server",
        empty(
            "0::BIGINT AS oid, ''::VARCHAR AS srvname, 0::BIGINT AS srvowner, 0::BIGINT AS srvfdw",
        ),
    );
    view(
        "pg_foreign_data_wrapper",
        empty("0::BIGINT AS oid, ''::VARCHAR AS fdwname, 0::BIGINT AS fdwowner"),
    );
    view("pg_event_trigger", empty("0::BIGINT AS oid, ''::VARCHAR AS evtname, ''::VARCHAR AS evtevent, 0::BIGINT AS evtowner, 0::BIGINT AS evtfoid, ''::VARCHAR AS evtenabled"));
    view("pg_depend", empty("0::BIGINT AS classid, 0::BIGINT AS objid, 0 AS objsubid, 0::BIGINT AS refclassid, 0::BIGINT AS refobjid, 0 AS refobjsubid, ''::VARCHAR AS deptype"));
    view("pg_stat_activity", "SELECT 1::BIGINT AS datid, current_database() AS datname, 0 AS pid, 'unify' AS usename, ''::VARCHAR AS application_name, NULL::VARCHAR AS client_addr, 'active' AS state, ''::VARCHAR AS query".into());
    view("pg_locks", empty("''::VARCHAR AS locktype, 0::BIGINT AS database, 0::BIGINT AS relation, 0 AS pid, ''::VARCHAR AS mode, false AS granted"));
    for name in [
        "pg_operator",
        "pg_opclass",
        "pg_aggregate",
        "pg_cast",
        "pg_conversion",
        "pg_ts_config",
        "pg_ts_dict",
        "pg_ts_parser",
        "pg_ts_template",
    ] {
        view(name, empty("0::BIGINT AS oid, ''::VARCHAR AS name"));
    }
    view(
        "pg_language",
        "SELECT * FROM (VALUES (13::BIGINT, 'sql')) v(oid, lanname)".into(),
    );
    let mut macros = String::new();
    let mut m = |def: String| macros.push_str(&format!("CREATE OR REPLACE TEMP MACRO {def};\n"));
    m(format!("unify_pg_scalar_oid(t) AS {scalar_oid}"));
    m(format!(
        "unify_pg_oid(t) AS CASE WHEN t LIKE '%[]' THEN {array_oid} ELSE unify_pg_scalar_oid(t) END"
    ));
    m(format!(
        "unify_format_type(oid, typmod) AS CASE WHEN oid = 1700 AND typmod IS NOT NULL AND typmod > 4 THEN printf('numeric(%d,%d)', (typmod - 4) >> 16, (typmod - 4) & 65535) ELSE CASE oid{format_cases} ELSE '???' END END"
    ));
    m("unify_pg_get_userbyid(oid) AS 'unify'".into());
    m("unify_pg_get_expr(a, b) AS NULL::VARCHAR, (a, b, c) AS NULL::VARCHAR".into());
    m("unify_obj_description(a) AS NULL::VARCHAR, (a, b) AS NULL::VARCHAR".into());
    m("unify_col_description(a, b) AS NULL::VARCHAR".into());
    m("unify_shobj_description(a, b) AS NULL::VARCHAR".into());
    m("unify_pg_get_indexdef(a) AS NULL::VARCHAR, (a, b, c) AS NULL::VARCHAR".into());
    m("unify_pg_get_constraintdef(a) AS NULL::VARCHAR, (a, b) AS NULL::VARCHAR".into());
    m("unify_pg_get_statisticsobjdef_columns(a) AS NULL::VARCHAR".into());
    m("unify_pg_relation_is_publishable(a) AS false".into());
    m("unify_pg_encoding_to_char(a) AS 'UTF8'".into());
    m(
        "unify_array_upper(a, d) AS CASE WHEN a IS NULL OR len(a) = 0 THEN NULL ELSE len(a) END"
            .into(),
    );
    m("unify_array_lower(a, d) AS CASE WHEN a IS NULL OR len(a) = 0 THEN NULL ELSE 1 END".into());
    m("unify_pg_get_function_identity_arguments(a) AS ''".into());
    m("unify_pg_get_function_arguments(a) AS ''".into());
    m("unify_pg_get_function_result(a) AS NULL::VARCHAR".into());
    m("unify_quote_ident(a) AS CASE WHEN regexp_matches(a, '^[a-z_][a-z0-9_]*$') THEN a ELSE '\"' || replace(a, '\"', '\"\"') || '\"' END".into());
    m("unify_pg_is_in_recovery() AS false".into());
    m("unify_has_table_privilege(a, b) AS true, (a, b, c) AS true".into());
    m("unify_has_database_privilege(a, b) AS true, (a, b, c) AS true".into());
    m("unify_has_column_privilege(a, b, c) AS true, (a, b, c, d) AS true".into());
    m("unify_pg_total_relation_size(a) AS 0::BIGINT".into());
    m("unify_pg_relation_size(a) AS 0::BIGINT, (a, b) AS 0::BIGINT".into());
    m("unify_pg_table_size(a) AS 0::BIGINT".into());
    m("unify_pg_indexes_size(a) AS 0::BIGINT".into());
    m("unify_txid_current() AS 1::BIGINT".into());
    m("unify_pg_tablespace_location(a) AS ''".into());
    m("unify_pg_get_partkeydef(a) AS NULL::VARCHAR".into());
    m("unify_pg_get_serial_sequence(a, b) AS NULL::VARCHAR".into());
    m("unify_pg_my_temp_schema() AS 0::BIGINT".into());
    m("unify_pg_is_other_temp_schema(a) AS false".into());
    m("unify_pg_get_viewdef(a) AS (SELECT sql FROM duckdb_views() WHERE view_oid = a), (a, b) AS (SELECT sql FROM duckdb_views() WHERE view_oid = a)".into());
    m("unify_pg_get_triggerdef(a) AS NULL::VARCHAR, (a, b) AS NULL::VARCHAR".into());
    m("unify_pg_get_ruledef(a) AS NULL::VARCHAR, (a, b) AS NULL::VARCHAR".into());
    m("unify_pg_postmaster_start_time() AS now()".into());
    m("unify_inet_server_addr() AS NULL::VARCHAR".into());
    m("unify_inet_server_port() AS NULL::INTEGER".into());
    m("unify_pg_type_is_visible(a) AS true".into());
    m("unify_pg_function_is_visible(a) AS true".into());
    m("unify_pg_table_is_visible(a) AS true".into());
    m("unify_pg_collation_is_visible(a) AS true".into());
    m("unify_pg_opclass_is_visible(a) AS true".into());
    // Macros first: views use them (DuckDB binds views when they are created), and
    // macros over the views last.
    let late = "CREATE OR REPLACE TEMP MACRO unify_to_regclass(a) AS (SELECT min(oid) FROM unify_pg_class WHERE relname = a OR (SELECT nspname FROM unify_pg_namespace n WHERE n.oid = relnamespace) || '.' || relname = a);\n\
        CREATE OR REPLACE TEMP MACRO unify_to_regtype(a) AS (SELECT min(oid) FROM unify_pg_type WHERE typname = a OR 'pg_catalog.' || typname = a);\n\
        CREATE OR REPLACE TEMP MACRO unify_to_regnamespace(a) AS (SELECT min(oid) FROM unify_pg_namespace WHERE nspname = a);\n";
    format!("{macros}{s}{late}")
}

/// A Postgres type name as `format_type` writes it.
fn pretty_type(name: &str) -> String {
    match name {
        "bool" => "boolean",
        "int2" => "smallint",
        "int4" => "integer",
        "int8" => "bigint",
        "float4" => "real",
        "float8" => "double precision",
        "varchar" => "character varying",
        "bpchar" => "character",
        "char" => "\"char\"",
        "time" => "time without time zone",
        "timestamp" => "timestamp without time zone",
        "timestamptz" => "timestamp with time zone",
        other => other,
    }
    .to_string()
}

/// The Postgres OID the catalog gives a DuckDB type (the same as result columns get).
pub fn oid_of_duckdb_type(t: &str) -> u32 {
    Kind::of(t, std::iter::empty()).pg_type().oid()
}

/// Where untyped `$n` parameters can take their type from: table columns they are
/// inserted into or compared with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParamSources {
    /// Tables the statement names: (schema, table).
    pub tables: Vec<(Option<String>, String)>,
    /// (0-based parameter, column): a column name, or `#k` for the k-th column
    /// (1-based) of the first table (`INSERT INTO t VALUES ($1, …)`).
    pub columns: Vec<(usize, String)>,
}

/// Find the columns untyped parameters are inserted into or compared with.
pub fn param_sources(sql: &str) -> ParamSources {
    let toks: Vec<Tok> = lex(sql)
        .into_iter()
        .filter(|t| t.kind != TokKind::Space)
        .collect();
    let is_name =
        |t: Option<&Tok>| t.is_some_and(|t| matches!(t.kind, TokKind::Word | TokKind::Quoted));
    let param = |t: Option<&Tok>| -> Option<usize> {
        t.filter(|t| t.kind == TokKind::Param)
            .and_then(|t| t.text[1..].parse::<usize>().ok())
            .and_then(|n| n.checked_sub(1))
    };
    let mut out = ParamSources::default();
    // Tables after FROM / JOIN / INTO / UPDATE.
    for (i, t) in toks.iter().enumerate() {
        if !matches!(
            t.text.to_ascii_lowercase().as_str(),
            "from" | "join" | "into" | "update"
        ) || !is_name(toks.get(i + 1))
        {
            continue;
        }
        let a = unquote(toks[i + 1].text);
        let (schema, table, after) =
            if toks.get(i + 2).is_some_and(|t| t.text == ".") && is_name(toks.get(i + 3)) {
                (Some(a), unquote(toks[i + 3].text), i + 4)
            } else {
                (None, a, i + 2)
            };
        if toks.get(after).is_some_and(|t| t.text == "(") && !t.text.eq_ignore_ascii_case("into") {
            continue; // a table function
        }
        out.tables.push((schema, table));
    }
    // INSERT INTO t [(cols)] VALUES (…), (…)
    if toks
        .first()
        .is_some_and(|t| t.text.eq_ignore_ascii_case("insert"))
    {
        if let Some(into) = toks
            .iter()
            .position(|t| t.text.eq_ignore_ascii_case("into"))
        {
            let mut i = into + 2;
            if toks.get(i).is_some_and(|t| t.text == ".") {
                i += 2;
            }
            let mut names: Vec<String> = Vec::new();
            if toks.get(i).is_some_and(|t| t.text == "(") {
                i += 1;
                while i < toks.len() && toks[i].text != ")" {
                    if is_name(toks.get(i)) {
                        names.push(unquote(toks[i].text));
                    }
                    i += 1;
                }
                i += 1;
            }
            if toks
                .get(i)
                .is_some_and(|t| t.text.eq_ignore_ascii_case("values"))
            {
                let mut depth = 0;
                let mut position = 0;
                let mut start = i + 1;
                for j in i + 1..toks.len() {
                    match toks[j].text {
                        "(" => {
                            depth += 1;
                            if depth == 1 {
                                position = 0;
                                start = j + 1;
                            }
                        }
                        "[" | "{" => depth += 1,
                        "]" | "}" => depth -= 1,
                        ")" | "," if depth == 1 => {
                            if j == start + 1 {
                                if let Some(p) = param(toks.get(start)) {
                                    let column = names
                                        .get(position)
                                        .cloned()
                                        .unwrap_or_else(|| format!("#{}", position + 1));
                                    out.columns.push((p, column));
                                }
                            }
                            position += 1;
                            start = j + 1;
                            if toks[j].text == ")" {
                                depth -= 1;
                            }
                        }
                        ")" => depth -= 1,
                        _ => {}
                    }
                }
            }
        }
    }
    // column <op> $n, $n <op> column, column [NOT] IN ($n, …), column LIKE $n
    let column_before = |i: usize| -> Option<String> {
        // The last name of a `a.b.c` chain ending at i.
        is_name(toks.get(i)).then(|| unquote(toks[i].text))
    };
    for (i, t) in toks.iter().enumerate() {
        let Some(p) = param(Some(t)) else { continue };
        // Operator before: one or two of = < > !, or LIKE/ILIKE.
        let mut j = i;
        let mut op = 0;
        while j > 0 && matches!(toks[j - 1].text, "=" | "<" | ">" | "!") && op < 2 {
            j -= 1;
            op += 1;
        }
        if op == 0
            && j > 0
            && matches!(
                toks[j - 1].text.to_ascii_lowercase().as_str(),
                "like" | "ilike"
            )
        {
            j -= 1;
            op = 1;
        }
        if op > 0 && j > 0 {
            if let Some(c) = column_before(j - 1) {
                if !is_keyword(&c) {
                    out.columns.push((p, c));
                    continue;
                }
            }
        }
        // Operator after.
        let mut k = i + 1;
        let mut op = 0;
        while k < toks.len() && matches!(toks[k].text, "=" | "<" | ">" | "!") && op < 2 {
            k += 1;
            op += 1;
        }
        if op > 0
            && is_name(toks.get(k))
            && !toks
                .get(k + 1)
                .is_some_and(|t| t.text == "." || t.text == "(")
        {
            let c = unquote(toks[k].text);
            if !is_keyword(&c) {
                out.columns.push((p, c));
                continue;
            }
        }
        // IN ( … $n … ): walk back to the opening paren and the word IN.
        let mut b = i;
        while b > 0 && (toks[b - 1].text == "," || param(toks.get(b - 1)).is_some()) {
            b -= 1;
        }
        if b >= 3 && toks[b - 1].text == "(" && toks[b - 2].text.eq_ignore_ascii_case("in") {
            let mut c = b - 3;
            if c > 0 && toks[c].text.eq_ignore_ascii_case("not") {
                c -= 1;
            }
            if let Some(name) = column_before(c) {
                out.columns.push((p, name));
            }
        }
    }
    out
}

fn is_keyword(w: &str) -> bool {
    matches!(
        w.to_ascii_lowercase().as_str(),
        "select"
            | "where"
            | "and"
            | "or"
            | "not"
            | "on"
            | "set"
            | "values"
            | "limit"
            | "offset"
            | "then"
            | "else"
            | "when"
            | "case"
            | "by"
            | "having"
            | "return"
            | "returning"
    )
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
