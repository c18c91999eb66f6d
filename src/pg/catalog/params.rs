//! Where untyped `$n` parameters take their types from ([`param_sources`]): the table
//! columns they are inserted into or compared with, found in the statement's tokens.

use super::{lex, unquote, Tok, TokKind};

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
    let mut columns = inserted_columns(&toks);
    columns.extend(compared_columns(&toks));
    ParamSources {
        tables: named_tables(&toks),
        columns,
    }
}

/// True for a name token (a word or a quoted identifier).
fn is_name(t: Option<&Tok>) -> bool {
    t.is_some_and(|t| matches!(t.kind, TokKind::Word | TokKind::Quoted))
}

/// The 0-based index of a `$n` token.
fn param_index(t: Option<&Tok>) -> Option<usize> {
    t.filter(|t| t.kind == TokKind::Param)
        .and_then(|t| t.text[1..].parse::<usize>().ok())
        .and_then(|n| n.checked_sub(1))
}

/// Tables after FROM / JOIN / INTO / UPDATE (not table functions): (schema, table).
fn named_tables(toks: &[Tok]) -> Vec<(Option<String>, String)> {
    let mut tables = Vec::new();
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
        tables.push((schema, table));
    }
    tables
}

/// `INSERT INTO t [(cols)] VALUES (…), (…)`: the parameters that are a whole value,
/// with the column they go into (by name, else `#k`).
fn inserted_columns(toks: &[Tok]) -> Vec<(usize, String)> {
    if !toks
        .first()
        .is_some_and(|t| t.text.eq_ignore_ascii_case("insert"))
    {
        return Vec::new();
    }
    let Some(into) = toks
        .iter()
        .position(|t| t.text.eq_ignore_ascii_case("into"))
    else {
        return Vec::new();
    };
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
    if !toks
        .get(i)
        .is_some_and(|t| t.text.eq_ignore_ascii_case("values"))
    {
        return Vec::new();
    }
    values_params(toks, i + 1)
        .into_iter()
        .map(|(p, position)| {
            let column = names
                .get(position)
                .cloned()
                .unwrap_or_else(|| format!("#{}", position + 1));
            (p, column)
        })
        .collect()
}

/// The parameters that are a whole value of the `VALUES` rows starting at token
/// `from`: (0-based parameter, 0-based position in its row).
fn values_params(toks: &[Tok], from: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut position = 0;
    let mut start = from;
    for j in from..toks.len() {
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
                    if let Some(p) = param_index(toks.get(start)) {
                        out.push((p, position));
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
    out
}

/// `column <op> $n`, `$n <op> column`, `column [NOT] IN ($n, …)`, `column LIKE $n`:
/// each parameter with the column it is compared with.
fn compared_columns(toks: &[Tok]) -> Vec<(usize, String)> {
    toks.iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let p = param_index(Some(t))?;
            let column = column_before_operator(toks, i)
                .or_else(|| column_after_operator(toks, i))
                .or_else(|| column_of_in_list(toks, i))?;
            Some((p, column))
        })
        .collect()
}

/// The name at token `i` (the last name of an `a.b.c` chain ending there).
fn name_at(toks: &[Tok], i: usize) -> Option<String> {
    is_name(toks.get(i)).then(|| unquote(toks[i].text))
}

/// `column <op> $n` or `column LIKE $n`, for the parameter at `i`: one or two of
/// `= < > !`, or LIKE/ILIKE, after a column that is not a keyword.
fn column_before_operator(toks: &[Tok], i: usize) -> Option<String> {
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
    if op == 0 || j == 0 {
        return None;
    }
    name_at(toks, j - 1).filter(|c| !is_keyword(c))
}

/// `$n <op> column`, for the parameter at `i` (a column, not a function or a
/// qualifier, and not a keyword).
fn column_after_operator(toks: &[Tok], i: usize) -> Option<String> {
    let mut k = i + 1;
    let mut op = 0;
    while k < toks.len() && matches!(toks[k].text, "=" | "<" | ">" | "!") && op < 2 {
        k += 1;
        op += 1;
    }
    if op == 0
        || !is_name(toks.get(k))
        || toks
            .get(k + 1)
            .is_some_and(|t| t.text == "." || t.text == "(")
    {
        return None;
    }
    Some(unquote(toks[k].text)).filter(|c| !is_keyword(c))
}

/// `column [NOT] IN ( … $n … )`, for the parameter at `i`: walk back to the opening
/// paren and the word IN.
fn column_of_in_list(toks: &[Tok], i: usize) -> Option<String> {
    let mut b = i;
    while b > 0 && (toks[b - 1].text == "," || param_index(toks.get(b - 1)).is_some()) {
        b -= 1;
    }
    if b < 3 || toks[b - 1].text != "(" || !toks[b - 2].text.eq_ignore_ascii_case("in") {
        return None;
    }
    let mut c = b - 3;
    if c > 0 && toks[c].text.eq_ignore_ascii_case("not") {
        c -= 1;
    }
    name_at(toks, c)
}

/// Words that end an expression rather than name a column.
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
