//! SQL as text: the one tokenizer of the crate, and everything that reads or rewrites
//! SQL without running it.
//!
//! * [`tokenize`] — every byte of a text in exactly one [`Token`]: blanks, newlines,
//!   `--` and (nested) `/* */` comments, `'…'` and `E'…'` strings, `"…"` identifiers, `$$…$$` and
//!   `$tag$…$tag$` strings, an opened quote or comment that never closes, words,
//!   numbers, `$name` variables, `$1` parameters, and single punctuation characters.
//!   DuckDB's lexical rules (those of PostgreSQL) as far as unify needs them.
//! * `refs.rs` — what a statement mentions: the `schema.table` pairs it reads
//!   ([`table_refs`]), its words ([`words`]), and the qualification of a spec view's table
//!   names ([`qualify_tables`]).
//! * `rewrite.rs` — what unify substitutes before DuckDB sees a statement: `$name`
//!   variables ([`substitute_vars`]) and ` ??`, the previous statement's table
//!   ([`replace_last_table`]).
//!
//! Users: the interpreter (`$var`, `??`, auto-loading, command messages), the parser's
//! statement splitter, spec validation (`sql@` dependencies), the engine (spec views),
//! the pg endpoint (`pg::catalog::lex`: parameters, rewriting, command tags) and the REPL
//! editor (completion, highlighting). Nothing here talks
//! to DuckDB or knows about sessions: callers pass what they know (variables, recent
//! tables) in.
//!
//! DuckDB's own parser (`json_serialize_sql`) was measured as an alternative for
//! [`table_refs`]: 0.2–0.5 ms per statement against 3 µs here, a third of a one-row
//! query's whole run time, and it serialises only plain `SELECT`s (not `CREATE TABLE …
//! AS`, `INSERT … SELECT`), so the lexical scan stays the one way.

mod refs;
mod rewrite;

pub use refs::{qualify_tables, table_refs, words};
pub use rewrite::{replace_last_table, substitute_vars, NoPreviousTable};

/// What a [`Token`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Whitespace other than line breaks.
    Blank,
    /// `\n`, `\r\n` or `\r`.
    Newline,
    /// `-- …` up to (not including) the end of the line.
    LineComment,
    /// `/* … */`, nested comments included.
    BlockComment,
    /// `'…'`, with `''` for a quote inside; or `E'…'`, where `\` escapes too.
    String,
    /// `"…"`, with `""` for a quote inside.
    QuotedIdent,
    /// `$$…$$` or `$tag$…$tag$`.
    DollarString,
    /// A quote, block comment or dollar string that never closes: the rest of the text.
    Unterminated,
    /// An unquoted identifier or keyword: a letter or `_`, then letters, digits, `_`.
    Word,
    /// A number: a digit, then letters, digits, `_`, and `.` before a digit.
    Number,
    /// `$name`: a unify variable (`$` then an ASCII letter or `_`, then ASCII letters,
    /// digits, `_`).
    Variable,
    /// `$1`: a prepared statement's parameter.
    Parameter,
    /// `.`
    Dot,
    /// `,`
    Comma,
    /// `;`
    Semicolon,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// Any other single character (operators, `?`, `!`, …).
    Other,
}

impl Kind {
    /// True for tokens that are not code: blanks, line breaks and comments.
    pub fn is_trivia(self) -> bool {
        matches!(
            self,
            Kind::Blank | Kind::Newline | Kind::LineComment | Kind::BlockComment
        )
    }

    /// True for text that unify must leave alone: quotes, comments and whatever follows
    /// an opened quote that never closes.
    pub fn is_opaque(self) -> bool {
        matches!(
            self,
            Kind::LineComment
                | Kind::BlockComment
                | Kind::String
                | Kind::QuotedIdent
                | Kind::DollarString
                | Kind::Unterminated
        )
    }
}

/// One token: its kind and where it is in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// What it is.
    pub kind: Kind,
    /// Its byte offset in the text.
    pub start: usize,
    /// Its text (quotes and comment markers included).
    pub text: &'a str,
}

impl Token<'_> {
    /// The byte offset just after it.
    pub fn end(&self) -> usize {
        self.start + self.text.len()
    }

    /// The identifier it names: a word as written, or a quoted identifier unquoted.
    pub fn ident(&self) -> Option<String> {
        match self.kind {
            Kind::Word => Some(self.text.to_string()),
            Kind::QuotedIdent => {
                let inner = &self.text[1..self.text.len() - 1];
                Some(inner.replace("\"\"", "\""))
            }
            _ => None,
        }
    }
}

/// The tokens of `sql`, in order; every byte belongs to exactly one token.
pub fn tokenize(sql: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < sql.len() {
        let (kind, len) = next_token(&sql[start..]);
        out.push(Token {
            kind,
            start,
            text: &sql[start..start + len],
        });
        start += len;
    }
    out
}

/// Byte offsets of the non-overlapping occurrences of `needle` in the code of `sql`:
/// not inside strings, quoted identifiers, dollar strings or comments.
pub fn find_in_code(sql: &str, needle: &str) -> Vec<usize> {
    let mut found = Vec::new();
    let tokens = tokenize(sql);
    // Maximal runs of code tokens, searched as one text (a needle may span tokens).
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i].kind.is_opaque() {
            i += 1;
            continue;
        }
        let start = tokens[i].start;
        while i < tokens.len() && !tokens[i].kind.is_opaque() {
            i += 1;
        }
        let end = tokens[i - 1].end();
        found.extend(
            sql[start..end]
                .match_indices(needle)
                .map(|(at, _)| start + at),
        );
    }
    found
}

/// `sql` after the blanks, line breaks and comments that start it (empty when a comment
/// that starts it never closes).
pub fn without_leading_comments(sql: &str) -> &str {
    match tokenize(sql).into_iter().find(|t| !t.kind.is_trivia()) {
        Some(t) if t.kind == Kind::Unterminated && t.text.starts_with("/*") => "",
        Some(t) => &sql[t.start..],
        None => "",
    }
}

/// The kind and byte length of the token at the start of `rest` (not empty).
fn next_token(rest: &str) -> (Kind, usize) {
    let mut chars = rest.chars();
    let c = chars
        .next()
        .expect("next_token is called on a non-empty text");
    let next = chars.next();
    match c {
        '\n' => (Kind::Newline, 1),
        '\r' => (Kind::Newline, if next == Some('\n') { 2 } else { 1 }),
        c if c.is_whitespace() => (Kind::Blank, run(rest, is_blank)),
        '-' if next == Some('-') => (Kind::LineComment, run(rest, |c| c != '\n' && c != '\r')),
        '/' if next == Some('*') => block_comment(rest),
        '\'' => quoted(rest, '\'', Kind::String),
        'E' | 'e' if next == Some('\'') => escape_string(rest),
        '"' => quoted(rest, '"', Kind::QuotedIdent),
        '$' => dollar(rest),
        ';' => (Kind::Semicolon, 1),
        '(' => (Kind::LParen, 1),
        ')' => (Kind::RParen, 1),
        '.' => (Kind::Dot, 1),
        ',' => (Kind::Comma, 1),
        c if c.is_alphabetic() || c == '_' => (Kind::Word, run(rest, is_word_char)),
        c if c.is_ascii_digit() => (Kind::Number, number(rest)),
        c => (Kind::Other, c.len_utf8()),
    }
}

fn is_blank(c: char) -> bool {
    c.is_whitespace() && c != '\n' && c != '\r'
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The byte length of the run of characters of `text` that satisfy `keep`.
fn run(text: &str, keep: impl Fn(char) -> bool) -> usize {
    text.find(|c: char| !keep(c)).unwrap_or(text.len())
}

fn number(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut len = 0;
    for (i, c) in text.char_indices() {
        let decimal_point = c == '.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if !(is_word_char(c) || decimal_point) {
            break;
        }
        len = i + c.len_utf8();
    }
    len
}

/// `/* … */` with nesting; unterminated when it never closes.
fn block_comment(text: &str) -> (Kind, usize) {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return (Kind::BlockComment, i);
                }
            }
            _ => i += 1,
        }
    }
    (Kind::Unterminated, text.len())
}

/// A text quoted with `quote` (a doubled quote stands for itself); unterminated when it
/// never closes.
fn quoted(text: &str, quote: char, kind: Kind) -> (Kind, usize) {
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            if chars.peek().is_some_and(|&(_, d)| d == quote) {
                chars.next();
                continue;
            }
            return (kind, i + 1);
        }
    }
    (Kind::Unterminated, text.len())
}

/// `E'…'`: a string in which a backslash escapes the next character (and `''` still
/// stands for a quote); unterminated when it never closes.
fn escape_string(text: &str) -> (Kind, usize) {
    let bytes = text.as_bytes();
    let mut i = 2;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\'' if bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return (Kind::String, i + 1),
            _ => i += 1,
        }
    }
    (Kind::Unterminated, text.len())
}

/// What starts with `$`: a dollar string (or an unterminated one), a variable, a
/// parameter, or a lone `$`.
fn dollar(text: &str) -> (Kind, usize) {
    let after = &text[1..];
    let tag_len = dollar_tag(after);
    if after[tag_len..].starts_with('$') {
        let opener = &text[..tag_len + 2];
        return match text[opener.len()..].find(opener) {
            Some(at) => (Kind::DollarString, opener.len() + at + opener.len()),
            None => (Kind::Unterminated, text.len()),
        };
    }
    if tag_len > 0 {
        return (Kind::Variable, 1 + tag_len);
    }
    let digits = run(after, |c| c.is_ascii_digit());
    if digits > 0 {
        return (Kind::Parameter, 1 + digits);
    }
    (Kind::Other, 1)
}

/// The length of a dollar-quote tag (or variable name) at the start of `text`: an ASCII
/// letter or `_`, then ASCII letters, digits and `_`; 0 when there is none.
fn dollar_tag(text: &str) -> usize {
    match text.chars().next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            run(text, |c| c.is_ascii_alphanumeric() || c == '_')
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests;
