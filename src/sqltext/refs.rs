//! What a statement mentions: its `schema.table` references, its words, and spec views'
//! table names qualified with their connection's schema.

use super::{tokenize, Kind, Token};
use crate::warehouse::quote_ident;

/// Every `schema.table` (identifiers optionally double-quoted) in `sql`, outside
/// strings and comments, in order of appearance, without duplicates.
///
/// A lexical scan: it finds references in joins, sub-queries and CTEs, and leaves out
/// function calls (`m.fn(1)`) and three-part names (`cat.s.t`), but also reports
/// `alias.column` pairs; callers keep the pairs that name tables they know.
pub fn table_refs(sql: &str) -> Vec<(String, String)> {
    let tokens: Vec<Token<'_>> = tokenize(sql)
        .into_iter()
        .filter(|t| !t.kind.is_trivia())
        .collect();
    let is_dot = |i: usize| tokens.get(i).is_some_and(|t| t.kind == Kind::Dot);
    let mut refs: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i + 2 < tokens.len() {
        if let (Some(a), true, Some(b)) = (tokens[i].ident(), is_dot(i + 1), tokens[i + 2].ident())
        {
            let preceded_by_dot = i > 0 && is_dot(i - 1);
            let followed_by_dot = is_dot(i + 3);
            let is_call = tokens.get(i + 3).is_some_and(|t| t.kind == Kind::LParen);
            if !preceded_by_dot && !followed_by_dot && !is_call {
                let pair = (a, b);
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

/// The identifiers of `sql` outside strings and comments, in order: unquoted words as
/// written, quoted identifiers unquoted. Keywords are words too.
pub fn words(sql: &str) -> Vec<String> {
    tokenize(sql).iter().filter_map(Token::ident).collect()
}

/// Qualify occurrences of the spec's table names that follow FROM/JOIN (or a comma in a
/// FROM list) with `schema.`; strings, comments and already-qualified names are left
/// alone.
pub fn qualify_tables(sql: &str, schema: &str, tables: &[String]) -> String {
    let tokens = tokenize(sql);
    let mut out = String::with_capacity(sql.len() + 16);
    // The last keyword-or-name word, lower-cased; cleared by punctuation other than ','.
    let mut last_word = String::new();
    let mut in_from = false;
    // The kind of the last token that is not trivia.
    let mut previous = Kind::Blank;
    for (i, token) in tokens.iter().enumerate() {
        if token.kind.is_trivia() {
            out.push_str(token.text);
            continue;
        }
        if !matches!(token.kind, Kind::Word | Kind::Number) {
            out.push_str(token.text);
            previous = token.kind;
            if token.kind != Kind::Comma {
                last_word.clear();
            }
            continue;
        }
        let word = token.text;
        let after_dot = previous == Kind::Dot;
        let next_is_dot = tokens.get(i + 1).is_some_and(|t| t.kind == Kind::Dot);
        let follows =
            matches!(last_word.as_str(), "from" | "join") || (in_from && previous == Kind::Comma);
        if follows && !after_dot && !next_is_dot && tables.iter().any(|t| t == word) {
            out.push_str(&format!("{}.{}", quote_ident(schema), quote_ident(word)));
        } else {
            out.push_str(word);
        }
        let lower = word.to_ascii_lowercase();
        match lower.as_str() {
            "from" | "join" => in_from = true,
            "where" | "group" | "order" | "having" | "limit" | "on" | "union" | "select" => {
                in_from = false
            }
            _ => {}
        }
        last_word = lower;
        previous = Kind::Word;
    }
    out
}
