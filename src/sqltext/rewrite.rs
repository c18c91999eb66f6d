//! What unify substitutes in a statement before DuckDB sees it: `$name` variables and
//! ` ??` (the first table of the previous statement). Both only in code: never inside
//! strings, quoted identifiers, dollar strings or comments.

use super::{find_in_code, tokenize, Kind};

/// ` ??` was used but no previous statement read a table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Can't find previous table to replace '??'")]
pub struct NoPreviousTable;

/// Replace every `$name` in the code of `sql` with `value(name)`: a literal, or the SQL
/// name of the table holding a query result. The first error of `value` (an unknown
/// variable) is the result.
pub fn substitute_vars<E>(
    sql: &str,
    mut value: impl FnMut(&str) -> Result<String, E>,
) -> Result<String, E> {
    if !sql.contains('$') {
        return Ok(sql.to_string());
    }
    let mut out = String::with_capacity(sql.len());
    for token in tokenize(sql) {
        match token.kind {
            Kind::Variable => out.push_str(&value(&token.text[1..])?),
            _ => out.push_str(token.text),
        }
    }
    Ok(out)
}

/// Replace ` ??` in the code of `sql` with ` schema.table`, the first table `recent`
/// holds (the tables the previous statement read).
pub fn replace_last_table(
    sql: &str,
    recent: &[(String, String)],
) -> Result<String, NoPreviousTable> {
    const NEEDLE: &str = " ??";
    let at = find_in_code(sql, NEEDLE);
    if at.is_empty() {
        return Ok(sql.to_string());
    }
    let (schema, table) = recent.first().ok_or(NoPreviousTable)?;
    let mut out = String::with_capacity(sql.len() + 32);
    let mut from = 0;
    for i in at {
        out.push_str(&sql[from..i]);
        out.push_str(&format!(" {schema}.{table}"));
        from = i + NEEDLE.len();
    }
    out.push_str(&sql[from..]);
    Ok(out)
}
