//! What to do with one statement ([`plan`]): settings and transaction commands the pg
//! session keeps itself, catalog queries whose answer can only be empty here, and the
//! rest rewritten for the engine.

use super::{is_one_of, is_pg_setting, lex, rewrite, unquote, Plan, Tok, TokKind, Transaction};

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

/// Plan one statement (no trailing `;` needed).
pub fn plan(sql: &str) -> Plan {
    let toks = lex(sql);
    let mut code: Vec<&Tok> = toks.iter().filter(|t| t.kind != TokKind::Space).collect();
    while code.last().is_some_and(|t| t.text == ";") {
        code.pop();
    }
    if code.is_empty() {
        return Plan::Empty;
    }
    if let Some(plan) = plan_command(sql, &code) {
        return plan;
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

/// The lower-case text of the `i`-th code token (empty past the end).
fn word(code: &[&Tok], i: usize) -> String {
    code.get(i)
        .map(|t| t.text.to_ascii_lowercase())
        .unwrap_or_default()
}

/// The statement run on the engine as written.
fn engine(sql: &str, transaction: Transaction) -> Plan {
    Plan::Engine {
        text: sql.to_string(),
        catalog: false,
        transaction,
    }
}

/// The plan of a statement recognised by its first word (`SET`, `SHOW`, `BEGIN`,
/// `DISCARD`, `SELECT pg_cancel_backend(n)`…); `None` for the others. `code` is not
/// empty.
fn plan_command(sql: &str, code: &[&Tok]) -> Option<Plan> {
    let first = code[0];
    Some(match first.text.to_ascii_lowercase().as_str() {
        "set" => plan_set(sql, code),
        "reset" => {
            let name = word(code, 1);
            Plan::Reset {
                name: (name != "all" && !name.is_empty()).then_some(name),
            }
        }
        "show" => plan_show(sql, code),
        "begin" | "start" => engine(sql, Transaction::Begin),
        "commit" | "end" | "rollback" | "abort" => {
            if word(code, 1) == "prepared" || word(code, 1) == "to" {
                engine(sql, Transaction::None)
            } else {
                engine(sql, Transaction::End)
            }
        }
        "discard" | "deallocate" | "listen" | "unlisten" | "notify" | "savepoint" | "release"
        | "checkpoint" => {
            if first.text.eq_ignore_ascii_case("checkpoint") {
                return Some(engine(sql, Transaction::None));
            }
            let tag = match first.text.to_ascii_uppercase().as_str() {
                "DISCARD" => format!("DISCARD {}", word(code, 1).to_ascii_uppercase()),
                other => other.to_string(),
            };
            Plan::Ignore { tag }
        }
        // `select pg_cancel_backend(123)`.
        "select"
            if code.len() == 5
                && word(code, 1).trim_start_matches("pg_catalog.") == "pg_cancel_backend"
                && code[2].text == "("
                && code[4].text == ")" =>
        {
            Plan::CancelBackend {
                pid: code[3].text.parse().ok()?,
            }
        }
        _ => return None,
    })
}

/// `SHOW name`: a Postgres setting, or unify's own `show tables|columns|…`.
fn plan_show(sql: &str, code: &[&Tok]) -> Plan {
    let rest: Vec<String> = (1..code.len()).map(|i| word(code, i)).collect();
    if matches!(
        rest.first().map(String::as_str),
        Some("tables" | "columns" | "schemas" | "connections" | "variables" | "files")
    ) {
        return engine(sql, Transaction::None);
    }
    let name = match rest.join(" ").as_str() {
        "transaction isolation level" => "transaction_isolation".to_string(),
        "time zone" => "timezone".to_string(),
        name => name.trim_matches('"').to_string(),
    };
    Plan::Show { name }
}

/// `SET [SESSION | LOCAL] name { = | TO } value`.
fn plan_set(sql: &str, code: &[&Tok]) -> Plan {
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

/// True when a UNION branch inner-joins an always-empty relation and has no aggregate
/// in its select list.
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
